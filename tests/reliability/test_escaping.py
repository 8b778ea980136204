"""HTML and script in names, pod names, reasons, log lines, file names and YAML show as text.

render.py's notebook HTML and every `widgets.HTML` value of the panel pieces are checked: a
hostile string must appear only escaped. Log lines and output files come from a real job on the
live server (a replica prints the markup and writes files named with it); names and reasons that
the local backend cannot produce (a cluster can: job names are only checked by its webhook)
are put into the model objects directly.
"""

from __future__ import annotations

import html
import time

import ipywidgets as widgets
import pytest

from dtrain_jupyter import render
from dtrain_jupyter.client import Client
from dtrain_jupyter.model.job import Event, Job, JobStatus, OutputFile, Pod
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.job_row import JobRow, RowLook
from dtrain_jupyter.ui.log_view import LogView
from dtrain_jupyter.ui.output_view import OutputView
from dtrain_jupyter.ui.pods import PodLine
from dtrain_jupyter.ui.row_line import DrawnLine
from tests.server.conftest import pytorch_manifest, unique

PAYLOADS = ("<img src=x onerror=alert(1)>", "<script>alert('x')</script>", "\"'><svg onload=alert(1)>")
RAW = ("<img", "<script", "<svg")


def hostile_job() -> Job:
    p = PAYLOADS
    return Job(backend="kubernetes", kind="PyTorchJob", api_version="kubeflow.org/v1", name=p[0], namespace=p[1],
               uid="u-1", created="2026-01-01T00:00:00Z", manifest={"metadata": {"name": p[0]}},
               status=JobStatus(phase=Phase.FAILED, reason=p[2], message=p[0]), context=p[1], notes=[p[2]], error=p[1])


def hostile_pod() -> Pod:
    p = PAYLOADS
    return Pod(name=p[0], namespace=p[1], job_name=p[0], replica_type=p[2], replica_index=0, phase="Failed",
               reason=p[1], node=p[2], containers=[p[0]])


def assert_escaped(markup: str, where: str) -> None:
    for raw in RAW:
        assert raw not in markup, f"{where} holds raw {raw!r}: {markup[:400]}"


def html_values(widget: widgets.Widget) -> list[tuple[str, str]]:
    """(class name, value) of every HTML widget under `widget`, and the facts of a drawn row line
    (its view sets them as HTML)."""
    out = []
    if isinstance(widget, (widgets.HTML, widgets.HTMLMath)):
        out.append((type(widget).__name__, widget.value))
    if isinstance(widget, DrawnLine):
        out.append((type(widget).__name__, widget.facts))
    for child in getattr(widget, "children", ()) or ():
        out.extend(html_values(child))
    return out


def test_render_html_reprs_escape_every_field() -> None:
    job, pod = render.RichJob.of(hostile_job()), hostile_pod()
    event = Event(type="Warning", reason=PAYLOADS[0], message=PAYLOADS[1], object_kind="Pod", object_name=PAYLOADS[2])
    shown = {
        "job": job._repr_html_(),
        "job list": render.jobs([job])._repr_html_(),
        "pods": render.pods([pod])._repr_html_(),
        "events": render.events([event])._repr_html_(),
        "outputs": render.outputs([OutputFile(path=PAYLOADS[0], size=1, mtime=PAYLOADS[1])])._repr_html_(),
    }
    for where, markup in shown.items():
        assert_escaped(markup, where)
    assert html.escape(PAYLOADS[0]) in shown["job"] and html.escape(PAYLOADS[1]) in shown["events"]


@pytest.mark.parametrize("labextension", [False, True], ids=["core-widgets", "drawn-line"])
def test_job_row_and_pod_line_show_markup_as_text(labextension: bool) -> None:
    row = JobRow(hostile_job(), None, lambda *a: None, look=RowLook(labextension=labextension))
    line = PodLine(hostile_pod(), lambda name: None)
    line.events = (Event(type="Warning", reason=PAYLOADS[2], message=PAYLOADS[0], object_kind="Pod",
                         object_name=PAYLOADS[0]),)
    values = html_values(row) + html_values(line)
    assert values
    for where, value in values:
        assert_escaped(value, where)
    assert any(html.escape(PAYLOADS[0], quote=False) in v or html.escape(PAYLOADS[0]) in v for _, v in html_values(line))


MARKUP_JOB = (
    "import os, pathlib; d = pathlib.Path(os.environ['DTRAIN_OUTPUT_DIR']); "
    "print('<script>alert(1)</script> and <img src=x onerror=alert(1)>', flush=True); "
    "(d / '<img src=x onerror=alert(1)>.txt').write_text('<script>alert(2)</script>'); "
    "(d / 'page.html').write_text('<svg onload=alert(3)>'); (d / 'table.csv').write_text('a,b\\n<img src=x>,<script>')"
)


@pytest.fixture(scope="module")
def markup_job(live):
    with Client(url=live.url, token=live.token) as client:
        manifest = pytorch_manifest(unique("markup"), script=MARKUP_JOB)
        del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]
        job = client.create(manifest)
        done = client.wait(job.name, kind="PyTorchJob", timeout=90, progress=False)
        assert done.phase == Phase.SUCCEEDED
        yield client, done
        client.delete(job.name, kind="PyTorchJob")


def test_log_view_shows_log_lines_as_text(markup_job) -> None:
    client, job = markup_job
    view = LogView(client)
    view.show(job)
    end = time.monotonic() + 30
    while not any("<script>" in line.line for line in view.lines()):
        assert time.monotonic() < end, view.lines()
        time.sleep(0.05)
    view.flush()
    view.stop()
    values = html_values(view)
    for where, value in values:
        assert_escaped(value, where)
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in v for _, v in values)


def test_output_view_shows_file_names_and_contents_as_text(markup_job) -> None:
    client, job = markup_job
    view = OutputView(client)
    view.show(job)
    names = {f.path for f in view.files}
    assert "<img src=x onerror=alert(1)>.txt" in names
    for path in sorted(names):
        view.show_file(path)
        for where, value in html_values(view):
            assert_escaped(value, f"{where} after {path}")


def test_yaml_with_markup_is_answered_as_json_text(live) -> None:
    import httpx

    text = "apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata:\n  name: \"<script>alert(1)</script>\"\n"
    r = httpx.post(live.url + "dtrain/api/validate", content=text, headers={**live.headers,
                   "Content-Type": "application/yaml"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    # The markup comes back as a JSON string value (never HTML), and the name is refused as a name.
    assert r.json()["manifests"][0]["metadata"]["name"] == "<script>alert(1)</script>"
    assert any(i["path"] == "metadata.name" for i in r.json()["issues"])
