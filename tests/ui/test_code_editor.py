"""The code editor's model and its plain-text fallback, without a browser.

Messages from the view are delivered as the kernel delivers them (`_handle_custom_msg`, the
ipywidgets entry point for a custom comm message), and what the kernel sends is recorded by
swapping the `comm` package's factory for a recording one. The fallback runs on a real asyncio
loop, where no view ever reports that it rendered, as in a front end without the labextension.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any, Iterator

import comm
import pytest
from comm.base_comm import BaseComm
from traitlets import TraitError

from dtrain_jupyter.ui.assistive import NAME_ONLY
from dtrain_jupyter.ui.code_editor import (FALLBACK_NOTE, MODULE_NAME, MODULE_VERSION, CodeEditor, CodeEditorBox,
                                           Marker)

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
# Short, so a test waits a fraction of a second for the fallback; the mechanism is the same.
WAIT_S = 0.05


class RecordingComm(BaseComm):
    """A comm that keeps the messages it would publish, as (msg_type, data)."""

    log: list[tuple[str, dict[str, Any]]] = []

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        RecordingComm.log.append((msg_type, dict(data or {})))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    RecordingComm.log = []
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    yield RecordingComm.log


def edit(editor: CodeEditor, value: str, cursor: tuple[int, int] = (1, 1), revision: int | None = None) -> None:
    """What the view sends when the person typed: the text, the cursor, the revision it saw."""
    if revision is None:
        revision = editor.get_state()["_revision"]
    editor._handle_custom_msg({"event": "edit", "value": value, "cursor": list(cursor), "revision": revision}, [])


def updates(sent: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [data for kind, data in sent if kind == "comm_msg" and data.get("method") in ("update", "echo_update")]


def customs(sent: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    return [data["content"] for kind, data in sent if kind == "comm_msg" and data.get("method") == "custom"]


# ---------------------------------------------------------------------------------------------- CodeEditor
def test_the_model_asks_for_the_view_the_labextension_registers() -> None:
    package = json.loads((LABEXTENSION / "package.json").read_text())
    registered = re.search(r"export const MODULE_VERSION = '([^']+)'",
                           (LABEXTENSION / "src" / "widget_module.ts").read_text())
    assert registered is not None
    editor = CodeEditor()
    assert editor._model_module == editor._view_module == MODULE_NAME == package["name"]
    assert editor._model_name == "CodeEditorModel" and editor._view_name == "CodeEditorView"
    # The view registers the package's version; the model asks for a range that it satisfies.
    assert registered.group(1) == package["version"]
    assert editor._model_module_version == editor._view_module_version == MODULE_VERSION == f"^{package['version']}"


def test_an_edit_from_the_view_sets_value_and_cursor_and_is_not_sent_back(sent) -> None:
    editor = CodeEditor(value="kind: TFJob\n")
    seen: list[str] = []
    editor.observe(lambda change: seen.append(change["new"]), "value")
    sent.clear()
    edit(editor, "kind: PyTorchJob\n", cursor=(1, 7))
    assert editor.value == "kind: PyTorchJob\n" and editor.cursor == (1, 7)
    assert seen == ["kind: PyTorchJob\n"]
    assert updates(sent) == []


def test_a_value_set_here_goes_to_the_view_with_a_new_revision(sent) -> None:
    editor = CodeEditor(value="a: 1\n")
    before = editor.get_state()["_revision"]
    sent.clear()
    editor.value = "b: 2\n"
    states = [u["state"] for u in updates(sent)]
    assert {"value": "b: 2\n"} in states
    assert {"_revision": before + 1} in states


def test_an_edit_made_on_text_replaced_here_since_is_dropped() -> None:
    editor = CodeEditor(value="a: 1\n")
    stale = editor.get_state()["_revision"]
    editor.value = "template: new\n"  # e.g. "Load template", while the person was typing
    edit(editor, "a: 12\n", revision=stale)
    assert editor.value == "template: new\n"
    edit(editor, "template: newer\n")
    assert editor.value == "template: newer\n"


def test_ctrl_enter_reaches_the_handlers_after_the_text_it_was_pressed_on() -> None:
    editor = CodeEditor(value="old\n")
    seen: list[str] = []
    editor.on_submit(lambda e: seen.append(e.value))
    edit(editor, "typed just now\n")
    editor._handle_custom_msg({"event": "submit"}, [])
    assert seen == ["typed just now\n"]


def test_reveal_moves_the_cursor_and_asks_the_view_to_focus_there(sent) -> None:
    editor = CodeEditor(value="a: 1\nb: 2\n")
    sent.clear()
    editor.reveal(2, 3)
    assert editor.cursor == (2, 3)
    assert customs(sent) == [{"event": "reveal", "line": 2, "column": 3}]


def test_markers_in_any_accepted_shape_become_dicts() -> None:
    editor = CodeEditor()
    editor.markers = (Marker(4, 3, "bad name"), (5, 1, "bad spec"), {"line": 6, "column": 2, "message": "x"})
    assert editor.markers == ({"line": 4, "column": 3, "message": "bad name"},
                              {"line": 5, "column": 1, "message": "bad spec"},
                              {"line": 6, "column": 2, "message": "x"})


@pytest.mark.parametrize("markers, where", [
    ([(0, 1, "line zero")], "markers[0].line"),
    ([Marker(1, 1, "ok"), (2, "3", "column as text")], "markers[1].column"),
    ([{"column": 1, "message": "no line"}], "markers[0].line"),
    (["line 4: bad"], "markers[0]"),
], ids=["line-zero", "column-text", "no-line", "a-string"])
def test_a_bad_marker_is_refused_with_where_it_is(markers: list[Any], where: str) -> None:
    editor = CodeEditor()
    with pytest.raises(TraitError, match=re.escape(where)):
        editor.markers = markers
    assert editor.markers == ()


@pytest.mark.parametrize("cursor", [(0, 1), (1,), (1, 2, 3), (1, True)], ids=["zero", "short", "long", "bool"])
def test_a_bad_cursor_is_refused(cursor: tuple[Any, ...]) -> None:
    editor = CodeEditor()
    with pytest.raises(TraitError, match="cursor"):
        editor.cursor = cursor
    assert editor.cursor == (1, 1)


def test_a_malformed_message_from_a_view_changes_nothing() -> None:
    editor = CodeEditor(value="a: 1\n")
    revision = editor.get_state()["_revision"]
    for content in ("edit", {"event": "edit", "value": 42, "cursor": "2:3", "revision": revision},
                    {"event": "unknown"}):
        editor._handle_custom_msg(content, [])
    assert editor.value == "a: 1\n" and editor.cursor == (1, 1)


# ---------------------------------------------------------------------------------------------- CodeEditorBox
def run_on_a_loop(build: Any, wait: float = WAIT_S * 4) -> Any:
    """Build with a running asyncio loop (as in a kernel), let `wait` seconds pass, return the part."""

    async def main() -> Any:
        part = build()
        await asyncio.sleep(wait)
        return part

    return asyncio.run(main())


def test_with_no_view_rendering_the_box_falls_back_to_a_plain_text_box() -> None:
    box = run_on_a_loop(lambda: CodeEditorBox("kind: TFJob\n", render_wait=WAIT_S))
    assert box.plain
    assert box.children == (box.note, box.textarea)
    assert box.note.value == FALLBACK_NOTE
    assert box.textarea.value == "kind: TFJob\n"
    box.textarea.value = "kind: MPIJob\n"  # the person types into the plain box
    assert box.value == box.code.value == "kind: MPIJob\n"
    box.value = "kind: PyTorchJob\n"  # a template loaded
    assert box.textarea.value == "kind: PyTorchJob\n"
    box.close()


def test_both_editors_carry_the_accessible_name() -> None:
    box = run_on_a_loop(lambda: CodeEditorBox("a: 1\n", render_wait=WAIT_S, label="Job YAML"))
    assert box.code.label == "Job YAML"  # the view's aria-label
    assert box.plain and box.textarea.description == "Job YAML" and NAME_ONLY in box.textarea._dom_classes
    box.close()


def test_a_view_that_rendered_in_time_keeps_the_code_editor() -> None:
    def build() -> CodeEditorBox:
        box = CodeEditorBox("kind: TFJob\n", render_wait=WAIT_S)
        box.code.set_state({"rendered": True})  # as the view reports it
        return box

    box = run_on_a_loop(build)
    assert not box.plain and box.children == (box.code,)
    assert box.textarea is None
    box.close()


def test_a_view_that_reports_late_brings_the_code_editor_back_with_the_text() -> None:
    box = run_on_a_loop(lambda: CodeEditorBox("a: 1\n", render_wait=WAIT_S))
    assert box.plain
    box.textarea.value = "a: 2\n"
    box.code.set_state({"rendered": True})
    assert not box.plain and box.children == (box.code,)
    assert box.code.value == "a: 2\n"
    box.close()


def test_a_box_closed_before_the_wait_is_over_does_nothing_later() -> None:
    def build() -> CodeEditorBox:
        box = CodeEditorBox("a: 1\n", render_wait=WAIT_S)
        box.close()
        return box

    box = run_on_a_loop(build)
    assert not box.plain and box.textarea is None and box.last_error is None


def test_without_a_running_loop_the_caller_decides_when_to_fall_back() -> None:
    box = CodeEditorBox("a: 1\n", render_wait=0)
    assert not box.plain  # nothing is scheduled outside a loop
    box.fall_back_unless_rendered()
    assert box.plain and box.textarea.value == "a: 1\n"
    box.close()


def test_reveal_focuses_whichever_editor_is_shown(sent) -> None:
    box = CodeEditorBox("a: 1\nb: 2\n")
    sent.clear()
    box.reveal(2, 1)
    assert box.code.cursor == (2, 1)
    assert {"event": "reveal", "line": 2, "column": 1} in customs(sent)
    box.fall_back_unless_rendered()
    sent.clear()
    box.reveal(1, 1)
    assert {"do": "focus"} in customs(sent)  # the plain text box's focus message
    box.close()
