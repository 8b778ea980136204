"""The output view on a real job's output folder: result, exit codes, previews by file type."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import httpx
import pytest

from dtrain_jupyter.model.job import Job, JobStatus
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.output_view import OutputView, claim_location, local_folder, preview_html

from .conftest import python_job, unique

# A 1x1 PNG, written by the job so the preview goes through the real output route.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
ODD = """it's "odd" & <b>#1?.txt"""  # every character HTML escapes or a URL quotes
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
"""


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
    paths = [value for _label, value in view.file_list.options]
    assert sorted(paths) == ["dot.png", "metrics.json", "notes.txt", "pic.svg", f"sub dir/{ODD}", "table.csv"]


def test_text_and_json_previews_are_escaped(client, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    view.file_list.value = "notes.txt"
    assert "hello &lt;b&gt;world&lt;/b&gt;" in view.preview.value
    view.file_list.value = "metrics.json"
    assert "&quot;loss&quot;: 0.25,\n" in view.preview.value  # pretty-printed
    assert "<img" not in view.preview.value


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
    client.delete(name, kind="PyTorchJob")


def test_binary_files_are_not_previewed() -> None:
    assert "binary file" in preview_html("model.bin", b"\x00\x01\x02")


# ---------------------------------------------------------------- links and location (issue 17)
def _anchors(table: str) -> list[dict[str, str]]:
    found = []
    for attrs, text in re.findall(r"<a ([^>]*)>([^<]*)</a>", table):
        found.append({**{k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', attrs)}, "text": text})
    return found


def test_every_file_has_a_download_link_that_serves_it(client, dtrain_server, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    downloads = [a for a in _anchors(view.file_table.value) if "dtrain-download" in a.get("class", "")]
    assert [a["download"] for a in downloads] == ["dot.png", "metrics.json", "notes.txt", "pic.svg", ODD, "table.csv"]
    # Every row's link reads "Download": its accessible name says which file.
    assert [a["aria-label"] for a in downloads][:3] == ["Download dot.png", "Download metrics.json",
                                                      "Download notes.txt"]
    odd = downloads[4]
    assert odd["href"] == client.job_link(output_job, "outputs", f"sub dir/{ODD}")
    assert "%20" in odd["href"] and "%23" in odd["href"] and "%3F" in odd["href"]  # quoted, not cut at # or ?
    answer = httpx.get(dtrain_server.url.rstrip("/") + odd["href"], headers=dtrain_server.headers, timeout=30)
    assert answer.status_code == 200 and answer.content == b"odd one"
    # User text is never markup: the name is escaped wherever it appears.
    assert "<b>#1" not in view.file_table.value and "&lt;b&gt;#1" in view.file_table.value


def test_every_file_has_an_open_in_jupyterlab_anchor(client, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    opens = [a for a in _anchors(view.file_table.value) if a.get("class") == "dtrain-open-in-lab"]
    assert len(opens) == 6
    notes = next(a for a in opens if a["href"].endswith("/outputs/notes.txt"))
    assert notes == {"class": "dtrain-open-in-lab", "href": client.job_link(output_job, "outputs", "notes.txt"),
                     "target": "_blank", "rel": "noopener", "data-dtrain-title": f"{output_job.name}/notes.txt",
                     "aria-label": "Open notes.txt", "text": "Open"}


def test_the_output_folder_is_named_above_the_files(client, output_job) -> None:
    view = OutputView(client)
    view.show(output_job)
    folder = re.search(r"folder (\S+) on the Jupyter server", view.location)
    assert folder, view.location
    assert sorted(p.name for p in Path(folder.group(1)).iterdir()) == sorted(
        ["dot.png", "metrics.json", "notes.txt", "pic.svg", "sub dir", "table.csv"])
    assert html.escape(folder.group(1)) in view.location_line.value


def test_a_folder_this_kernel_cannot_see_is_not_guessed(tmp_path) -> None:
    job = Job(backend="local", kind="TFJob", api_version="kubeflow.org/v1", name="x", namespace="default",
              uid="u", created="", manifest={})
    assert local_folder(job, str(tmp_path)) == ""  # e.g. c.DTrain.output_root keeps it elsewhere
    (tmp_path / "default" / "tfjobs" / "x" / "output").mkdir(parents=True)
    assert local_folder(job, str(tmp_path)) == str(tmp_path / "default" / "tfjobs" / "x" / "output")


def _cluster_job(env: dict[str, str], mounts: list[dict], volumes: list[dict]) -> Job:
    container = {"name": "pytorch", "env": [{"name": k, "value": v} for k, v in env.items()], "volumeMounts": mounts}
    spec = {"pytorchReplicaSpecs": {"Master": {"template": {"spec": {"containers": [container], "volumes": volumes}}}}}
    return Job(backend="kubernetes", kind="PyTorchJob", api_version="kubeflow.org/v1", name="c", namespace="team",
               uid="u", created="", manifest={"spec": spec}, status=JobStatus(phase=Phase.RUNNING))


@pytest.mark.parametrize("env, mounts, expected", [
    ({"DTRAIN_OUTPUT_DIR": "/out/run-1"}, [{"name": "o", "mountPath": "/out"}], "volume claim results, path /run-1"),
    ({"DTRAIN_OUTPUT_DIR": "/out/run-1"}, [{"name": "o", "mountPath": "/out", "subPath": "team/a"}],
     "volume claim results, path /team/a/run-1"),
    ({"DTRAIN_OUTPUT_DIR": "/out"}, [{"name": "o", "mountPath": "/out"}], "volume claim results, path /"),
    ({"DTRAIN_OUTPUT_DIR": "/tmp/x"}, [{"name": "o", "mountPath": "/out"}],
     "DTRAIN_OUTPUT_DIR=/tmp/x inside each replica, on no volume claim"),
    ({}, [{"name": "o", "mountPath": "/out"}], ""),
], ids=["under-mount", "sub-path", "mount-itself", "not-on-a-claim", "no-output-dir"])
def test_a_cluster_job_names_its_claim_and_path(env, mounts, expected) -> None:
    job = _cluster_job(env, mounts, [{"name": "o", "persistentVolumeClaim": {"claimName": "results"}}])
    assert claim_location(job) == expected



def test_links_keep_the_servers_base_url() -> None:
    # Behind JupyterHub the server lives under /user/<name>/: a link from the root would miss it.
    from dtrain_jupyter.client import Client
    from dtrain_jupyter.model.job import OutputFile

    hub = Client(url="http://10.0.0.5:8888/user/ada/", token="t")
    try:
        view = OutputView(hub)
        view.job = _cluster_job({}, [], [])
        view.files = (OutputFile(path="ckpt/step 1.pt", size=10, mtime="2026-11-26T00:00:00Z"),)
        hrefs = {a["href"] for a in _anchors(view.file_table.value)}
        assert hrefs == {"/user/ada/dtrain/api/kubernetes/namespaces/team/pytorchjobs/c/outputs/ckpt/step%201.pt"}
    finally:
        hub.close()
