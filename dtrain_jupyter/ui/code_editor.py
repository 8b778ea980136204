"""A code editor for the panel: JupyterLab's CodeMirror editor, or a plain text box where it cannot load.

`CodeEditor` is the widget model; its view (`labextension/src/code_editor.ts`) is JupyterLab's
own editor, with line numbers, highlighting, the editor theme, problem markers in the gutter,
and Ctrl/Cmd-Enter. Only a front end that loaded the dtrain-jupyter labextension has that view:
the inline panel in VS Code or another notebook front end has none. `CodeEditorBox` therefore
waits a few seconds for a view to report that it rendered, and otherwise swaps in a plain
`Textarea` with a note saying why, so the text can be edited everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NamedTuple

import ipywidgets as widgets
from traitlets import Bool, Int, TraitError, Tuple, Unicode, observe, validate

from .assistive import name_only
from .callbacks import ErrorForwarder, guarded
from .own_widget import MODULE_NAME, MODULE_VERSION, OwnWidget

__all__ = ["MODULE_NAME", "MODULE_VERSION", "CodeEditor", "CodeEditorBox", "Marker"]

#: How long a view has to report that it rendered before the plain text box takes over. A view
#: reports within a second of being shown; the rest is room for a busy kernel or browser.
RENDER_WAIT_S = 6.0
FALLBACK_NOTE = ("The code editor needs the dtrain-jupyter JupyterLab extension, which this front end "
                 "has not loaded; editing as plain text.")


class Marker(NamedTuple):
    """A problem shown in the editor: 1-based line and column, and the message on hover."""

    line: int
    column: int
    message: str


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TraitError(f"{where} must be an integer of at least 1, got {value!r}")
    return value


@widgets.register
class CodeEditor(OwnWidget):
    """JupyterLab's CodeMirror editor as a widget (the view comes with the labextension).

    Edits in the browser update `value` and `cursor`; Ctrl/Cmd-Enter calls the `on_submit`
    callbacks; `reveal(line, column)` moves the cursor there and focuses the editor. `rendered`
    turns True once a view drew the editor.
    """

    _model_name = Unicode("CodeEditorModel").tag(sync=True)
    _view_name = Unicode("CodeEditorView").tag(sync=True)

    # The view sends edits as custom messages (see `_on_view_msg`), so there is nothing to echo.
    value = Unicode("", help="The text in the editor").tag(sync=True, echo_update=False)
    language = Unicode("yaml", help="Language name for highlighting, as JupyterLab's editor knows it "
                                    "('yaml', 'python', ...)").tag(sync=True)
    markers = Tuple(help="Problems to mark, each a dict with 1-based line and column and a message "
                         "(a Marker or a (line, column, message) tuple is accepted)").tag(sync=True)
    cursor = Tuple((1, 1), help="The cursor as a 1-based (line, column); set it to move the cursor, "
                                "the view reports where the person put it").tag(sync=True, echo_update=False)
    rendered = Bool(False, help="True once a view of this editor rendered in a front end").tag(sync=True)
    label = Unicode("", help="The editor's accessible name, what a screen reader calls its text box "
                             "('Job YAML'); the view puts it in aria-label").tag(sync=True)
    # Counts changes of `value` made here. The view sends the revision each edit was made on; an
    # edit made before the view saw a newer value from here is dropped, since the view shows the
    # newer value by then and the two sides would otherwise disagree.
    _revision = Int(0).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        self._from_view = False
        self._submit_handlers = widgets.CallbackDispatcher()
        super().__init__(**kwargs)
        self.add_class("dtrain-code-editor-widget")
        self.on_msg(self._on_view_msg)

    def on_submit(self, callback: Callable[[CodeEditor], Any], remove: bool = False) -> None:
        """Call `callback(editor)` when the person presses Ctrl/Cmd-Enter (after the text arrived)."""
        self._submit_handlers.register_callback(callback, remove=remove)

    def reveal(self, line: int, column: int = 1) -> None:
        """Move the cursor to 1-based (`line`, `column`), scroll it into view and focus the editor."""
        self.cursor = (line, column)
        self.send({"event": "reveal", "line": self.cursor[0], "column": self.cursor[1]})

    @validate("markers")
    def _valid_markers(self, proposal: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """Each marker becomes {line, column, message}; a line or column below 1 is refused."""
        markers = []
        for i, item in enumerate(proposal["value"]):
            if isinstance(item, Mapping):
                line, column, message = item.get("line"), item.get("column", 1), item.get("message", "")
            elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 3:
                line, column, message = item
            else:
                raise TraitError(f"markers[{i}] must be a Marker or a dict with line, column and message, "
                                 f"got {item!r}")
            markers.append({"line": _positive(line, f"markers[{i}].line"),
                            "column": _positive(column, f"markers[{i}].column"), "message": str(message)})
        return tuple(markers)

    @validate("cursor")
    def _valid_cursor(self, proposal: dict[str, Any]) -> tuple[int, int]:
        """The cursor is two integers of at least 1."""
        value = tuple(proposal["value"])
        if len(value) != 2:
            raise TraitError(f"cursor must be (line, column), got {proposal['value']!r}")
        return _positive(value[0], "cursor line"), _positive(value[1], "cursor column")

    @observe("value")
    def _count_revision(self, change: dict[str, Any]) -> None:
        if not self._from_view:
            self._revision += 1

    def _on_view_msg(self, _widget: widgets.Widget, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        event = content.get("event")
        if event == "edit":
            self._apply_edit(content)
        elif event == "submit":
            self._submit_handlers(self)

    def _apply_edit(self, content: dict[str, Any]) -> None:
        if content.get("revision") != self._revision:
            return  # made on text this side has replaced since; the view shows the newer text
        state: dict[str, Any] = {}
        if isinstance(content.get("value"), str):
            state["value"] = content["value"]
        cursor = content.get("cursor")
        if isinstance(cursor, list) and len(cursor) == 2 and all(isinstance(c, int) and c >= 1 for c in cursor):
            state["cursor"] = cursor
        self._from_view = True
        try:
            # As a state update from the front end would: observers run, nothing is sent back.
            self.set_state(state)
        finally:
            self._from_view = False


class CodeEditorBox(widgets.VBox, ErrorForwarder):
    """A `CodeEditor`, swapped for a plain `Textarea` and a note where no view of it renders.

    Read and set the text as `value`. The swap happens `render_wait` seconds after the box is
    built, when the kernel's event loop runs (in a kernel it does; a test without one calls
    `fall_back_unless_rendered()` itself). Should a view report later after all, the code
    editor comes back.

    Args:
        value: the text to start with.
        language: the code editor's language name ("yaml").
        rows: the plain text box's height in lines.
        render_wait: seconds a view has to report that it rendered.
        label: the accessible name of whichever editor shows ("Job YAML").
    """

    value = Unicode("", help="The text being edited, whichever editor shows it")
    plain = Bool(False, help="True while the plain text box stands in for the code editor")

    def __init__(self, value: str = "", language: str = "yaml", rows: int = 26,
                 render_wait: float = RENDER_WAIT_S, label: str = "", **kwargs: Any) -> None:
        self.code = CodeEditor(value=value, language=language, label=label, layout=widgets.Layout(width="100%"))
        self._rows = rows
        self._label = label
        # Built only on a fallback: each widget is one more model for the front end to build.
        self.textarea: widgets.Textarea | None = None
        self.note: widgets.Label | None = None
        kwargs.setdefault("layout", widgets.Layout(width="100%"))
        super().__init__(children=(self.code,), **kwargs)
        self.add_class("dtrain-code-editor-box")
        self.value = value
        self.code.observe(self._on_editor_value, "value")
        self.code.observe(self._on_rendered, "rendered")
        self._timer: asyncio.TimerHandle | None = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._timer = loop.call_later(render_wait, self.fall_back_unless_rendered)

    @property
    def markers(self) -> tuple[dict[str, Any], ...]:
        """The code editor's problem markers (the plain text box shows none)."""
        return self.code.markers

    @markers.setter
    def markers(self, markers: Sequence[Any]) -> None:
        self.code.markers = tuple(markers)

    def on_submit(self, callback: Callable[[CodeEditor], Any], remove: bool = False) -> None:
        """Call `callback` on Ctrl/Cmd-Enter in the code editor (the plain text box has no such key)."""
        self.code.on_submit(callback, remove=remove)

    def reveal(self, line: int, column: int = 1) -> None:
        """Put the cursor at (`line`, `column`) and focus; the plain text box can only be focused."""
        self.code.reveal(line, column)
        if self.plain and self.textarea is not None:
            self.textarea.focus()

    @guarded
    def fall_back_unless_rendered(self) -> None:
        """Swap in the plain text box and its note, unless a view of the code editor rendered."""
        self._timer = None
        if self.code.rendered or self.plain:
            return
        if self.textarea is None:
            self.textarea = widgets.Textarea(self.value, rows=self._rows, layout=widgets.Layout(width="100%"))
            if self._label:
                name_only(self.textarea, self._label)
            self.textarea.observe(self._on_editor_value, "value")
            self.note = widgets.Label(FALLBACK_NOTE, layout=widgets.Layout(width="100%"))
            self.note.add_class("dtrain-muted")
            self.note.add_class("dtrain-editor-note")
        self.textarea.value = self.value
        with self.hold_sync():
            self.plain = True
            self.children = (self.note, self.textarea)

    def close(self) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
            self._timer = None
        for part in (getattr(self, "code", None), getattr(self, "textarea", None), getattr(self, "note", None)):
            if part is not None:
                part.close()
        super().close()

    @observe("value")
    def _on_value(self, change: dict[str, Any]) -> None:
        # Both editors keep the text, so a swap either way loses nothing.
        if self.code.value != change["new"]:
            self.code.value = change["new"]
        if self.textarea is not None and self.textarea.value != change["new"]:
            self.textarea.value = change["new"]

    @guarded
    def _on_editor_value(self, change: dict[str, Any]) -> None:
        self.value = change["new"]

    @guarded
    def _on_rendered(self, change: dict[str, Any]) -> None:
        if change["new"] and self.plain:
            with self.hold_sync():
                self.plain = False
                self.children = (self.code,)
