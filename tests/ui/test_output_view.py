"""The output view on a real job's output folder: result, exit codes, previews by file type."""

from __future__ import annotations

import base64

import pytest

from dtrain_jupyter.ui.output_view import OutputView, preview_html

from .conftest import python_job, unique

# A 1x1 PNG, written by the job so the preview goes through the real output route.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
WRITER = f"""
import base64, json, os, pathlib
out = pathlib.Path(os.environ['DTRAIN_OUTPUT_DIR'])
if os.environ['RANK'] == '0':
    (out / 'notes.txt').write_text('hello <b>world</b>')
    (out / 'metrics.json').write_text(json.dumps({{'loss': 0.25, 'tag': '<img src=x onerror=alert(1)>'}}))
    (out / 'table.csv').write_text('epoch,loss\\n1,0.5\\n2,<script>x</script>\\n')
    (out / 'dot.png').write_bytes(base64.b64decode({base64.b64encode(PNG).decode()!r}))
    (out / 'pic.svg').write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="4" height="4"/></svg>')
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
    assert sorted(paths) == ["dot.png", "metrics.json", "notes.txt", "pic.svg", "table.csv"]


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
