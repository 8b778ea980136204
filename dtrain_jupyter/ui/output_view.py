"""A job's result: final status, duration, per-replica exit codes, and its output files.

Files are listed from the job's output location (`Client.outputs`), which the server names and
the view shows above them (a folder on the Jupyter server, or a volume claim and a path in it).
Each file has a Download link (`<a download>` to the whole file, `?download=1`: one click, the
page's own login, however large the file) and an Open link (`?view=1`: the server shows the file
only as what cannot run script, text or an image, and saves anything else), which the labextension
opens in a sandboxed JupyterLab tab (a browser tab without it). The first file is previewed at
once, and a file picked under Preview stays picked across refreshes; a preview is shown by type:
text and JSON in an escaped `<pre>`, CSV as an escaped table, PNG/JPEG/SVG in an Image widget (an
`<img>` cannot run script, so even a hostile SVG stays inert). While the job runs and has written
nothing, the view says "no output yet"; where the job's backend keeps no output files
(capabilities.py) it says so instead, and still shows the result.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import PurePosixPath
from typing import Any

import ipywidgets as widgets
from traitlets import Instance, Tuple, Unicode, observe

from ..client import Outputs
from ..errors import InvalidRequest, NotFound
from ..model.job import Job
from .assistive import FOCUS_HERE
from .callbacks import ErrorForwarder, guarded
from .capabilities import NO_OUTPUT_FILES, OUTPUTS, lacks
from .styles import phase_class
from .words import age, duration, esc, reason_words

IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg+xml", ".gif": "gif"}
PREVIEW_BYTES = 256 * 1024   # text previews stop here, and no more of the file is read for one
CSV_ROWS = 200
FILE_ROWS = 500  # files listed with their links; a folder of checkpoints must not swamp the page


def _suffix(path: str) -> str:
    dot = path.rfind(".")
    return path[dot:].lower() if dot > path.rfind("/") else ""


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def preview_html(path: str, data: bytes, size: int | None = None) -> str:
    """Escaped HTML preview of a non-image file: JSON pretty-printed, CSV as a table, text as is.

    Args:
        path: the file's path (its suffix picks the form).
        data: the file's bytes, or its first PREVIEW_BYTES + 1 bytes when it is longer.
        size: the whole file's size when known (as listed); else `len(data)`.
    """
    suffix = _suffix(path)
    shown = data[:PREVIEW_BYTES]
    whole = len(data) if size is None else max(size, len(data))
    clipped = whole > len(shown)  # cut here, or by the server's cap on a read
    text = shown.decode("utf-8", errors="replace")
    if b"\x00" in data[:4096]:
        return f"<i>{esc(path)} is a binary file ({esc(_size(whole))}); no preview.</i>"
    note = f"<div class='dtrain-muted'>first {_size(len(shown))} of {_size(whole)} shown</div>" if clipped else ""
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
    # The box scrolls (styles.py caps its height): in the Tab order, named, so keyboards scroll it.
    return (f"<pre class='dtrain-preview' tabindex='0' role='region' aria-label='Preview of {esc(path)}'>"
            f"{esc(text)}</pre>{note}")


class OutputView(widgets.VBox, ErrorForwarder):
    """The result and output files of `job`; `refresh()` reads them from the client."""

    job = Instance(Job, allow_none=True, help="The job whose result is shown")
    pods = Tuple(help="The job's pods as last fetched (for per-replica exit codes)")
    files = Tuple(help="OutputFile entries in the job's output location, as last listed")
    location = Unicode("", help="Where the job's output files are, in the server's words (a folder, or a volume "
                                "claim and path); empty when it has not said")
    backends = Tuple(help="Client.backends() as last read: whether the job's backend keeps output files")

    def __init__(self, client: Any, **kwargs: Any) -> None:
        self.client = client
        self._files_note = ""
        self._listing = False  # set while the file list itself moves the Preview choice
        self.summary = widgets.HTML("<i>Choose a job's Output button in the Jobs tab.</i>",
                                    _dom_classes=("dtrain-output-summary",))
        # Where focus lands when a row's Output button brings this page up (assistive.py).
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", layout=widgets.Layout(width="auto"),
                                             _dom_classes=(FOCUS_HERE,))
        self.location_line = widgets.HTML("", _dom_classes=("dtrain-output-location",))
        self.files_label = widgets.HTML("")
        # One HTML table for the whole list: a link is markup, and a widget per file would cost
        # a model per file; the table is as wide as its box, so its right border always shows.
        self.file_table = widgets.HTML("", layout=widgets.Layout(width="100%"), _dom_classes=("dtrain-file-list",))
        self.file_list = widgets.Dropdown(options=(), value=None, description="Preview",
                                          layout=widgets.Layout(width="auto", max_width="100%"),
                                          style={"description_width": "initial"}, _dom_classes=("dtrain-files",))
        self.preview = widgets.HTML("")
        self.image = widgets.Image(layout=widgets.Layout(display="none", max_width="100%"))
        super().__init__(children=(self.summary, widgets.HBox([self.refresh_button]), self.location_line,
                                   self.files_label, self.file_table, self.file_list, self.preview, self.image),
                         layout=widgets.Layout(width="100%"), **kwargs)
        self.add_class("dtrain-output-view")
        self.refresh_button.on_click(self._on_refresh)
        self.file_list.observe(self._on_pick, "value")

    def show(self, job: Job) -> None:
        """Show `job` and read its pods and files."""
        self.job = job
        self.refresh()

    def refresh(self) -> None:
        """Fetch the pods and the list of output files again, and where the server says they are.

        Files that cannot be listed (NotFound: nothing written yet, a claim the server cannot
        read, a backend that keeps none) leave the list empty with the server's reason; where the
        job has an output location, the NotFound names it all the same.
        """
        job = self.job
        if job is None:
            return
        ref = dict(kind=job.kind, namespace=job.namespace, backend=job.backend)
        pods = self.client.pods(job.name, **ref)
        try:
            files = self.client.outputs(job.name, **ref)
            self._files_note = ""
        except NotFound as exc:
            files, self._files_note = Outputs([], exc.fields.get("location")), exc.message
        with self.hold_sync():
            self.location = files.where
            self.pods = tuple(pods)
            self.files = tuple(files)

    def show_file(self, path: str) -> None:
        """Read one output file (of a text file, no more than a preview shows) and preview it."""
        job = self.job
        if job is None:
            return
        fmt = IMAGE_FORMATS.get(_suffix(path))
        ref = dict(kind=job.kind, namespace=job.namespace, backend=job.backend)
        try:
            # An image whole (up to the server's cap); of anything else one byte more than a
            # preview shows, which tells whether the file goes on.
            data = self.client.read_output(job.name, path, limit=None if fmt else PREVIEW_BYTES + 1, **ref)
        except InvalidRequest as exc:
            if fmt or exc.fields.get("argument") != "limit":
                raise
            # The server caps a read below a preview (c.DTrain.output_read_limit): read what it allows.
            data = self.client.read_output(job.name, path, **ref)
        listed = next((f.size for f in self.files if f.path == path), None)
        with self.hold_sync():
            if fmt:
                self.image.format = fmt
                self.image.value = bytes(data)
                self.image.layout.display = ""
                self.preview.value = f"<div class='dtrain-muted'>{esc(path)} ({esc(_size(len(data)))})</div>"
            else:
                self.image.layout.display = "none"
                self.image.value = b""
                self.preview.value = preview_html(path, bytes(data), listed)

    # ------------------------------------------------------------------ reactions
    @observe("job", "pods")
    @guarded
    def _render_summary(self, change: dict[str, Any]) -> None:
        job = self.job
        if job is None:
            return
        if change["name"] == "job" and isinstance(change["old"], Job):
            if change["old"].uid != job.uid:
                self.pods, self.files, self.location = (), (), ""
            elif change["old"].phase != job.phase and job.phase.finished:
                self.refresh()  # the result just arrived: pods' exit codes and final files
                return
        phase = job.phase.value
        # The phase once, then what the reason adds and the operator's message (as in the list).
        reason = reason_words(job.status.reason, job.kind, phase)
        lines = [f"<b>{esc(job.kind)}/{esc(job.name)}</b> <span class='{phase_class(phase)}'>{esc(phase)}</span>"
                 + (f" <span class='dtrain-muted'>{esc(reason)}</span>" if reason else "")]
        if job.status.message:
            lines.append(esc(job.status.message))
        took = duration(job)
        if took:
            lines.append(f"Duration: {esc(took)}" + ("" if job.phase.finished else " (running)"))
        if self.pods:
            # Role and # repeat what the replica's name says; the sidebar leaves them out (styles.py).
            rows = "".join(
                f"<tr><td class='dtrain-col-replica'>{esc(p.name)}</td><td class='dtrain-col-role'>"
                f"{esc(p.replica_type)}</td><td class='dtrain-col-index'>"
                f"{esc('' if p.replica_index is None else p.replica_index)}</td>"
                f"<td>{esc(p.phase)}</td><td>{esc('' if p.exit_code is None else p.exit_code)}</td>"
                f"<td class='dtrain-col-reason'>{esc(p.reason)}</td></tr>" for p in self.pods)
            lines.append("<table class='dtrain-table dtrain-replica-table'><tr><th>Replica</th>"
                         "<th class='dtrain-col-role'>Role</th><th class='dtrain-col-index'>#</th><th>Status</th>"
                         f"<th>Exit code</th><th class='dtrain-col-reason'>Reason</th></tr>{rows}</table>")
        self.summary.value = "<br>".join(lines)

    @observe("location")
    @guarded
    def _render_location(self, change: dict[str, Any]) -> None:
        self.location_line.value = (f"<span class='dtrain-muted'>Output location:</span> {esc(self.location)}"
                                    if self.location else "")

    @observe("files", "backends")
    @guarded
    def _render_files(self, change: dict[str, Any]) -> None:
        job = self.job
        if job is None and change["name"] == "backends":
            return  # no job shown: nothing to say about its files
        running = job is not None and not job.phase.finished
        if not self.files:
            if job is not None and lacks(self.backends, job.backend, OUTPUTS):
                text = NO_OUTPUT_FILES
            elif running:
                text = "No output yet — the job is still running."
            else:
                text = self._files_note or "The job wrote no output files."
            self.files_label.value = f"<i>{esc(text)}</i>"
        else:
            more = " (more may come while it runs)" if running else ""
            self.files_label.value = f"<b>Output files</b> ({len(self.files)}){esc(more)}"
        if change["name"] != "files":
            return  # what the backend can do changes the words only; the list is as it was
        listed = self.files[:FILE_ROWS]
        paths = [f.path for f in listed]
        # The person's pick while it is still there, else the first file: the preview is never blank.
        choice = self.file_list.value if self.file_list.value in paths else (paths[0] if paths else None)
        self._listing = True
        try:
            with self.hold_sync():
                self.file_table.value = self.table_html() if self.files else ""
                self.file_list.options = tuple((f"{f.path} ({_size(f.size)})", f.path) for f in listed)
                self.file_list.value = choice
                self.file_list.layout.display = "" if self.files else "none"
        finally:
            self._listing = False
        if choice is None:
            self.preview.value = ""
            self.image.layout.display = "none"
        else:
            self.show_file(choice)  # read again: a running job may have rewritten it

    def table_html(self) -> str:
        """The files as a table: path, size, when written, a Download and an Open link each."""
        job = self.job
        if job is None:
            return ""
        rows = []
        for f in self.files[:FILE_ROWS]:
            download = esc(self.client.job_link(job, "outputs", f.path, download=True))
            view = esc(self.client.job_link(job, "outputs", f.path, view=True))
            name = PurePosixPath(f.path).name
            since = age(f.mtime)
            written = f"{since} ago" if since else ""
            rows.append(
                f'<tr><td class="dtrain-file-path">{esc(f.path)}</td>'
                f'<td class="dtrain-file-size">{esc(_size(f.size))}</td>'
                f'<td class="dtrain-file-modified" title="{esc(f.mtime)}">{esc(written)}</td>'
                f'<td class="dtrain-file-actions">'
                # Every row has a Download and an Open link: their names say which file.
                f'<a class="dtrain-link-button dtrain-download" download="{esc(name)}" href="{download}" '
                f'title="Download {esc(f.path)}" aria-label="Download {esc(f.path)}">Download</a> '
                f'<a class="dtrain-open-in-lab" href="{view}" target="_blank" rel="noopener" '
                f'aria-label="Open {esc(f.path)}" '
                f'data-dtrain-title="{esc(job.name + "/" + f.path)}">Open</a></td></tr>')
        more = len(self.files) - FILE_ROWS
        note = f"<div class='dtrain-muted'>{more} more files not listed here</div>" if more > 0 else ""
        return ("<table class='dtrain-table dtrain-file-table'><thead><tr><th>File</th>"
                "<th class='dtrain-file-size'>Size</th><th class='dtrain-file-modified'>Written</th>"
                "<th class='dtrain-file-actions'>Links</th>"
                f"</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}")

    # ------------------------------------------------------------------ handlers
    @guarded
    def _on_refresh(self, _button: widgets.Button) -> None:
        self.refresh()

    @guarded
    def _on_pick(self, change: dict[str, Any]) -> None:
        if change["new"] and not self._listing:
            self.show_file(change["new"])
