"""A job's result: final status, duration, per-replica exit codes, and its output files.

Files are listed from the job's output location (`Client.outputs`) and previewed by type:
text and JSON in an escaped `<pre>`, CSV as an escaped table, PNG/JPEG/SVG in an Image widget
(an `<img>` cannot run script, so even a hostile SVG stays inert). While the job runs and has
written nothing, the view says "no output yet".
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import ipywidgets as widgets
from traitlets import Instance, Tuple, observe

from ..errors import NotFound
from ..model.job import Job
from .callbacks import ErrorForwarder, guarded
from .styles import phase_class
from .words import duration, esc

IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg+xml", ".gif": "gif"}
PREVIEW_BYTES = 256 * 1024   # text previews stop here; the file itself is not touched
CSV_ROWS = 200


def _suffix(path: str) -> str:
    dot = path.rfind(".")
    return path[dot:].lower() if dot > path.rfind("/") else ""


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def preview_html(path: str, data: bytes) -> str:
    """Escaped HTML preview of a non-image file: JSON pretty-printed, CSV as a table, text as is."""
    suffix = _suffix(path)
    clipped = len(data) > PREVIEW_BYTES
    text = data[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    if b"\x00" in data[:4096]:
        return f"<i>{esc(path)} is a binary file ({esc(_size(len(data)))}); no preview.</i>"
    note = f"<div class='dtrain-muted'>first {_size(PREVIEW_BYTES)} shown</div>" if clipped else ""
    if suffix == ".json" and not clipped:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            note += "<div class='dtrain-muted'>not valid JSON; shown as text</div>"
    elif suffix in (".csv", ".tsv"):
        rows = list(csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","))
        if rows:
            head, body = rows[0], rows[1:CSV_ROWS + 1]
            more = len(rows) - 1 - len(body)
            table = "<table class='dtrain-table'><tr>" + "".join(f"<th>{esc(c)}</th>" for c in head) + "</tr>"
            table += "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in body)
            table += "</table>"
            if more > 0:
                note += f"<div class='dtrain-muted'>{more} more rows not shown</div>"
            return table + note
    return f"<pre class='dtrain-preview'>{esc(text)}</pre>{note}"


class OutputView(widgets.VBox, ErrorForwarder):
    """The result and output files of `job`; `refresh()` reads them from the client."""

    job = Instance(Job, allow_none=True, help="The job whose result is shown")
    pods = Tuple(help="The job's pods as last fetched (for per-replica exit codes)")
    files = Tuple(help="OutputFile entries in the job's output location, as last listed")

    def __init__(self, client: Any, **kwargs: Any) -> None:
        self.client = client
        self._files_note = ""
        self.summary = widgets.HTML("<i>Choose a job's Output button in the Jobs tab.</i>")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", layout=widgets.Layout(width="auto"))
        self.file_list = widgets.Select(options=(), rows=6, layout=widgets.Layout(width="100%"))
        self.files_label = widgets.HTML("")
        self.preview = widgets.HTML("")
        self.image = widgets.Image(layout=widgets.Layout(display="none", max_width="100%"))
        super().__init__(children=(self.summary, widgets.HBox([self.refresh_button]), self.files_label, self.file_list,
                                   self.preview, self.image), layout=widgets.Layout(width="100%"), **kwargs)
        self.add_class("dtrain-output-view")
        self.file_list.add_class("dtrain-files")
        self.refresh_button.on_click(self._on_refresh)
        self.file_list.observe(self._on_pick, "value")

    def show(self, job: Job) -> None:
        """Show `job` and read its pods and files."""
        self.job = job
        self.refresh()

    def refresh(self) -> None:
        """Fetch the pods and the list of output files again."""
        job = self.job
        if job is None:
            return
        ref = dict(kind=job.kind, namespace=job.namespace, backend=job.backend)
        pods = self.client.pods(job.name, **ref)
        try:
            files = self.client.outputs(job.name, **ref)
            self._files_note = ""
        except NotFound as exc:
            files, self._files_note = [], exc.message
        with self.hold_sync():
            self.pods = tuple(pods)
            self.files = tuple(files)

    def show_file(self, path: str) -> None:
        """Read one output file and preview it."""
        job = self.job
        if job is None:
            return
        data = self.client.read_output(job.name, path, kind=job.kind, namespace=job.namespace,
                                       backend=job.backend)
        fmt = IMAGE_FORMATS.get(_suffix(path))
        with self.hold_sync():
            if fmt:
                self.image.format = fmt
                self.image.value = bytes(data)
                self.image.layout.display = ""
                self.preview.value = f"<div class='dtrain-muted'>{esc(path)} ({esc(_size(len(data)))})</div>"
            else:
                self.image.layout.display = "none"
                self.image.value = b""
                self.preview.value = preview_html(path, bytes(data))

    # ------------------------------------------------------------------ reactions
    @observe("job", "pods")
    @guarded
    def _render_summary(self, change: dict[str, Any]) -> None:
        job = self.job
        if job is None:
            return
        if change["name"] == "job" and isinstance(change["old"], Job):
            if change["old"].uid != job.uid:
                self.pods, self.files = (), ()
            elif change["old"].phase != job.phase and job.phase.finished:
                self.refresh()  # the result just arrived: pods' exit codes and final files
                return
        phase = job.phase.value
        lines = [f"<b>{esc(job.kind)}/{esc(job.name)}</b> "
                 f"<span class='{phase_class(phase)}'>{esc(phase)}</span>"]
        if job.status.reason or job.status.message:
            lines.append(f"{esc(job.status.reason)}: {esc(job.status.message)}")
        took = duration(job)
        if took:
            lines.append(f"Duration: {esc(took)}" + ("" if job.phase.finished else " (running)"))
        if self.pods:
            rows = "".join(
                f"<tr><td>{esc(p.name)}</td><td>{esc(p.replica_type)}</td>"
                f"<td>{esc('' if p.replica_index is None else p.replica_index)}</td>"
                f"<td>{esc(p.phase)}</td><td>{esc('' if p.exit_code is None else p.exit_code)}</td>"
                f"<td>{esc(p.reason)}</td></tr>" for p in self.pods)
            lines.append("<table class='dtrain-table'><tr><th>Replica</th><th>Role</th><th>#</th>"
                         f"<th>Status</th><th>Exit code</th><th>Reason</th></tr>{rows}</table>")
        self.summary.value = "<br>".join(lines)

    @observe("files")
    @guarded
    def _render_files(self, change: dict[str, Any]) -> None:
        job = self.job
        running = job is not None and not job.phase.finished
        if not self.files:
            if running:
                text = "No output yet — the job is still running."
            else:
                text = self._files_note or "The job wrote no output files."
            self.files_label.value = f"<i>{esc(text)}</i>"
        else:
            where = " (more may come while it runs)" if running else ""
            self.files_label.value = f"<b>Output files</b>{esc(where)}"
        with self.hold_sync():
            self.file_list.options = tuple((f"{f.path} ({_size(f.size)})", f.path) for f in self.files)
            self.file_list.layout.display = "" if self.files else "none"
            self.preview.value = ""
            self.image.layout.display = "none"

    # ------------------------------------------------------------------ handlers
    @guarded
    def _on_refresh(self, _button: widgets.Button) -> None:
        self.refresh()

    @guarded
    def _on_pick(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.show_file(change["new"])
