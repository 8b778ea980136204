"""The output view on a real job's output folder: result, exit codes, previews by file type, links
that serve whole files, and what it says where the backend keeps no output files."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from dtrain_jupyter.client import Client, Outputs
from dtrain_jupyter.errors import NotFound
from dtrain_jupyter.model.job import Job, JobStatus, OutputFile
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.capabilities import NO_OUTPUT_FILES
from dtrain_jupyter.ui.output_view import OutputView, preview_html

from .conftest import OUTPUT_READ_LIMIT, python_job, unique

# A 1x1 PNG, written by the job so the preview goes through the real output route.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
ODD = """it's "odd" & <b>#1?.txt"""  # every character HTML escapes or a URL quotes
# Longer than one output read may be (OUTPUT_READ_LIMIT), so only a download gets all of it.
LONG_LINES = 12_000
LONG_TEXT = "".join(f"step {i} loss 0.{i:05d}\n" for i in range(LONG_LINES)).encode()
WRITER = f"""
import base64, json, os, pathlib
out = pathlib.Path(os.environ['DTRAIN_OUTPUT_DIR'])
if os.environ['RANK'] == '0':
    (out / 'notes.txt').write_text('hello <b>world</b>')
    (out / 'metrics.json').write_text(json.dumps({{'loss': 0.25, 'tag': '<img src=x onerror=alert(1)>'}}))
    (out / 'table.csv').write_text('epoch,loss\\n1,0.5\\n2,<script>x</script>\\n')
    (out / 'dot.png').write_bytes(base64.b64decode({base64.b64encode(PNG).decode()!r}))
    (out / 'pic.svg').write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="4" height="4"/></svg>')
    (out / 'sub dir').mkdir()
    (out / 'sub dir' / {ODD!r}).write_text('odd one')
    (out / 'train.log').write_text(''.join(f'step {{i}} loss 0.{{i:05d}}\\n' for i in range({LONG_LINES})))
"""
FILES = ["dot.png", "metrics.json", "notes.txt", "pic.svg", f"sub dir/{ODD}", "table.csv", "train.log"]


@pytest.fixture(scope="module")
def output_job(client):
    name = unique("out")
    client.create(python_job(name, WRITER))
    job = client.wait(name, kind="PyTorchJob", timeout=90, progress=False)
    yield job
    client.delete(name, kind="PyTorchJob")


def test_result_lists_status_duration_exit_codes_and_files(client, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    assert "Succeeded" in view.summary.value
    assert "Exit code" in view.summary.value
    assert f"{output_job.name}-master-0" in view.summary.value
    assert [value for _label, value in view.file_list.options] == FILES


def test_the_first_file_is_previewed_at_once(client, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    assert view.file_list.value == "dot.png"  # the Preview choice is never blank while there are files
    assert view.image.layout.display == "" and view.image.value == PNG


def test_text_and_json_previews_are_escaped(client, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    view.file_list.value = "notes.txt"
    assert "hello &lt;b&gt;world&lt;/b&gt;" in view.preview.value
    view.file_list.value = "metrics.json"
    assert "&quot;loss&quot;: 0.25,\n" in view.preview.value  # pretty-printed
    assert "<img" not in view.preview.value


def test_a_long_file_is_previewed_in_part_within_the_servers_read_cap(client, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    view.file_list.value = "train.log"
    assert view.last_error is None
    assert "step 0 loss 0.00000\n" in view.preview.value
    assert f"first 64.0 KB of {len(LONG_TEXT) / 1024:.1f} KB shown" in view.preview.value
    assert f"step {LONG_LINES - 1} " not in view.preview.value


def test_csv_becomes_an_escaped_table(client, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    view.file_list.value = "table.csv"
    assert "<th>epoch</th><th>loss</th>" in view.preview.value
    assert "<td>&lt;script&gt;x&lt;/script&gt;</td>" in view.preview.value


@pytest.mark.parametrize("path, fmt", [("dot.png", "png"), ("pic.svg", "svg+xml")], ids=["png", "svg"])
def test_images_go_to_an_image_widget(client, output_job, path: str, fmt: str) -> None:
    view = OutputView(client)
    view.show(output_job)
    view.file_list.value = "notes.txt"  # away from the first file, which is shown at once
    view.file_list.value = path
    assert view.image.layout.display == ""
    assert view.image.format == fmt
    if fmt == "png":
        assert view.image.value == PNG
    assert "onload" not in view.preview.value


def test_no_output_yet_while_it_runs(client) -> None:
    name = unique("busy")
    client.create(python_job(name, "import time; time.sleep(60)"))
    job = client.get(name, kind="PyTorchJob")
    view = OutputView(client)
    view.show(job)
    assert "No output yet" in view.files_label.value
    assert view.file_list.layout.display == "none" and view.preview.value == ""
    client.delete(name, kind="PyTorchJob")


@pytest.mark.parametrize("data, size, words", [
    (b"\x00\x01\x02", None, "model.bin is a binary file (3 B); no preview."),
    (b"\x00" * 10, 5 * 1024 * 1024, "model.bin is a binary file (5.0 MB); no preview."),
], ids=["whole", "listed-size"])
def test_binary_files_are_not_previewed(data: bytes, size: int | None, words: str) -> None:
    assert words in preview_html("model.bin", data, size)


# ---------------------------------------------------------------- links and location (issue 17)
def _anchors(table: str) -> list[dict[str, str]]:
    found = []
    for attrs, text in re.findall(r"<a ([^>]*)>([^<]*)</a>", table):
        found.append({**{k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', attrs)}, "text": text})
    return found


def _get(server: Any, href: str) -> httpx.Response:
    return httpx.get(server.url.rstrip("/") + href, headers=server.headers, timeout=30)


def test_every_file_has_a_download_link_that_serves_it_whole(client, dtrain_server, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    downloads = [a for a in _anchors(view.file_table.value) if "dtrain-download" in a.get("class", "")]
    assert [a["download"] for a in downloads] == [path.rpartition("/")[2] for path in FILES]
    # Every row's link reads "Download": its accessible name says which file.
    assert [a["aria-label"] for a in downloads][:3] == ["Download dot.png", "Download metrics.json",
                                                      "Download notes.txt"]
    odd = downloads[4]
    assert odd["href"] == client.job_link(output_job, "outputs", f"sub dir/{ODD}", download=True)
    assert "%20" in odd["href"] and "%23" in odd["href"] and "%3F" in odd["href"]  # quoted, not cut at # or ?
    answer = _get(dtrain_server, odd["href"])
    assert answer.status_code == 200 and answer.content == b"odd one"
    assert answer.headers["content-disposition"].startswith("attachment")
    # Longer than one read may be: the download has all of it, where a read stops at the cap.
    whole = _get(dtrain_server, downloads[6]["href"])
    assert whole.status_code == 200 and whole.content == LONG_TEXT and len(LONG_TEXT) > OUTPUT_READ_LIMIT
    assert len(client.read_output(output_job.name, "train.log", kind="PyTorchJob")) == OUTPUT_READ_LIMIT
    # User text is never markup: the name is escaped wherever it appears.
    assert "<b>#1" not in view.file_table.value and "&lt;b&gt;#1" in view.file_table.value


def test_every_file_has_an_open_link_that_shows_text_inline(client, dtrain_server, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    opens = [a for a in _anchors(view.file_table.value) if a.get("class") == "dtrain-open-in-lab"]
    assert len(opens) == len(FILES)
    notes = next(a for a in opens if "/outputs/notes.txt" in a["href"])
    assert notes == {"class": "dtrain-open-in-lab",
                     "href": client.job_link(output_job, "outputs", "notes.txt", view=True),
                     "target": "_blank", "rel": "noopener", "data-dtrain-title": f"{output_job.name}/notes.txt",
                     "aria-label": "Open notes.txt", "text": "Open"}
    shown = _get(dtrain_server, notes["href"])
    assert shown.status_code == 200 and shown.content == b"hello <b>world</b>"
    assert shown.headers["content-type"].startswith("text/plain")
    assert shown.headers["content-disposition"].startswith("inline")
    # A hostile SVG opens as its source, never as a picture that could run script.
    svg = next(a for a in opens if "/outputs/pic.svg" in a["href"])
    assert _get(dtrain_server, svg["href"]).headers["content-type"].startswith("text/plain")


def test_the_output_folder_is_named_above_the_files(client, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    folder = re.fullmatch(r"folder (\S+)", view.location)
    assert folder, view.location
    assert sorted(p.name for p in Path(folder.group(1)).iterdir()) == sorted(
        ["dot.png", "metrics.json", "notes.txt", "pic.svg", "sub dir", "table.csv", "train.log"])
    assert html.escape(folder.group(1)) in view.location_line.value


# ---------------------------------------------------------------- what the server says, stood in for
def _cluster_job(phase: Phase = Phase.SUCCEEDED) -> Job:
    return Job(backend="kubernetes", kind="PyTorchJob", api_version="kubeflow.org/v1", name="c", namespace="team",
               uid="u", created="", manifest={}, status=JobStatus(phase=phase))


class Answers(Client):
    """A client that answers pods and outputs as told, for what a test server cannot be made to say."""

    def __init__(self, outputs: Any) -> None:
        super().__init__(url="http://10.0.0.5:8888/user/ada/", token="t")
        self._outputs = outputs
        self.reads: list[str] = []

    def pods(self, name: str, **_ref: Any) -> list:  # type: ignore[override]
        return []

    def outputs(self, name: str, **_ref: Any) -> Outputs:  # type: ignore[override]
        if isinstance(self._outputs, Exception):
            raise self._outputs
        return self._outputs

    def read_output(self, name: str, path: str, limit: int | None = None,  # type: ignore[override]
                    **_ref: Any) -> bytes:
        self.reads.append(path)
        return b"x"


KUBE_WITHOUT_OUTPUTS = ({"backend": "kubernetes", "ready": True,
                         "capabilities": ["dry-run", "events", "line-times", "previous-logs", "suspend"]},)
KUBE_WITH_OUTPUTS = ({"backend": "kubernetes", "ready": True,
                      "capabilities": ["dry-run", "events", "line-times", "outputs", "previous-logs", "suspend"]},)


def test_files_that_cannot_be_listed_still_name_their_location() -> None:
    refusal = NotFound("no output mount for volume claim 'results'", location={"claim": "results", "path": "/run-1"})
    client = Answers(refusal)
    try:
        view = OutputView(client)
        view.backends = KUBE_WITH_OUTPUTS
        view.show(_cluster_job())
        assert view.location == "volume claim results, path /run-1"
        assert "volume claim results, path /run-1" in view.location_line.value
        assert "no output mount for volume claim &#x27;results&#x27;" in view.files_label.value
    finally:
        client.close()


@pytest.mark.parametrize("phase", [Phase.RUNNING, Phase.SUCCEEDED], ids=["running", "finished"])
def test_a_backend_without_outputs_says_why_there_are_no_files(phase: Phase) -> None:
    client = Answers(NotFound("not mounted here", location={"claim": "results", "path": "/"}))
    try:
        view = OutputView(client)
        view.backends = KUBE_WITHOUT_OUTPUTS
        view.show(_cluster_job(phase))
        assert html.escape(NO_OUTPUT_FILES) in view.files_label.value
        assert view.file_list.layout.display == "none" and view.file_table.value == ""
        assert "Succeeded" in view.summary.value or "Running" in view.summary.value  # the result still shows
        # A backend that has not said what it can do is taken at its word: the server's.
        view.backends = ({"backend": "kubernetes", "ready": False, "capabilities": []},)
        assert NO_OUTPUT_FILES not in html.unescape(view.files_label.value)
    finally:
        client.close()


def _file(path: str, size: int = 1) -> OutputFile:
    return OutputFile(path=path, size=size, mtime="2026-11-26T00:00:00Z")


def test_a_picked_file_stays_picked_when_the_list_changes() -> None:
    client = Answers(Outputs([_file("a.txt"), _file("b.txt")]))
    try:
        view = OutputView(client)
        view.show(_cluster_job(Phase.RUNNING))
        view.file_list.value = "b.txt"
        # The job wrote more: b.txt grew and c.txt is new.
        client._outputs = Outputs([_file("a.txt"), _file("b.txt", 2), _file("c.txt")])
        view.refresh_button.click()
        assert view.last_error is None
        assert [v for _label, v in view.file_list.options] == ["a.txt", "b.txt", "c.txt"]
        assert view.file_list.value == "b.txt"
        assert client.reads == ["a.txt", "b.txt", "b.txt"]  # the first at once, the pick, the pick re-read
        # Gone from the list: the first file is previewed instead.
        client._outputs = Outputs([_file("c.txt")])
        view.refresh_button.click()
        assert view.file_list.value == "c.txt" and client.reads[-1] == "c.txt"
    finally:
        client.close()


def test_links_keep_the_servers_base_url() -> None:
    # Behind JupyterHub the server lives under /user/<name>/: a link from the root would miss it.
    hub = Answers(Outputs([OutputFile(path="ckpt/step 1.pt", size=10, mtime="2026-11-26T00:00:00Z")]))
    try:
        view = OutputView(hub)
        view.show(_cluster_job())
        hrefs = {a["href"] for a in _anchors(view.file_table.value)}
        file = "/user/ada/dtrain/api/kubernetes/namespaces/team/pytorchjobs/c/outputs/ckpt/step%201.pt"
        assert hrefs == {f"{file}?download=true", f"{file}?view=true"}
        assert hub.reads == ["ckpt/step 1.pt"]  # the one file, previewed at once
    finally:
        hub.close()
