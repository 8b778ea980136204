"""What the panel's browser tests share: themes, waiting for the panel, rows and tabs, local jobs.

- `set_theme` / `each_theme`: JupyterLab's light or dark theme, from the Settings menu.
- `assert_no_horizontal_overflow`: nothing under a root shows a horizontal scrollbar.
- `open_main`, `open_sidebar`, `open_notebook_panel`, `panel_ready`, `tab`, `row`: the
  Distributed Training panel where a person meets it, and its parts.
- `replace_editor_text`: new text in a code editor, as a paste would put it.
- `wait_for_notebook_kernel`: a new notebook's kernel is up and the page knows it.
- `local_manifest`, `wait_phase`, `local_jobs`: real local jobs made through the REST API.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.browser_fixtures import LabServer, screenshot

MAIN = "#dtrain-main .dtrain-panel"
SIDEBAR = "#dtrain-sidebar .dtrain-panel"
NOTEBOOK_PANEL = ".jp-NotebookPanel .jp-OutputArea-output .dtrain-panel"
PANEL_TIMEOUT_MS = 120_000
JOB_TIMEOUT_S = 150
# A layout settles over a few frames after the last widget message; a real overflow stays.
SETTLE_MS = 10_000
THEMES = ("JupyterLab Light", "JupyterLab Dark")

# A finished job's program: 20 lines each, and rank 0 writes three output files (one with a path
# a link must quote, one of LONG_BYTES); a running job's program: a line every half second for
# ten minutes.
ODD_FILE = "sub dir/a b&c #1.txt"
LONG_FILE = "train.log"
LONG_LINES = 2000
LONG_BYTES = "".join(f"step {i} loss {i / 1000:.3f}\n" for i in range(LONG_LINES)).encode()
DONE_PROGRAM = f"""
import os, pathlib
rank = os.environ['RANK']
for i in range(20):
    print(f'rank {{rank}} line {{i}}', flush=True)
if rank == '0':
    out = pathlib.Path(os.environ['DTRAIN_OUTPUT_DIR'])
    (out / 'notes.txt').write_text('friction notes\\n')
    (out / 'sub dir').mkdir()
    (out / {ODD_FILE!r}).write_text('odd one\\n')
    (out / {LONG_FILE!r}).write_text(''.join(f'step {{i}} loss {{i / 1000:.3f}}\\n' for i in range({LONG_LINES})))
"""
RUN_PROGRAM = "import time\nfor i in range(1200):\n    print('tick', i, flush=True)\n    time.sleep(0.5)\n"

# Every element under `root` (root included) and every ancestor of root up to `top`, whose
# overflow-x shows a scrollbar when its content is wider than its box, and whose content is.
OVERFLOWING_JS = """
([root, top]) => {
  const start = document.querySelector(root);
  if (!start) return [`no element matches ${root}`];
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + [...el.classList].map((c) => '.' + c).join('');
  const path = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) parts.unshift(name(e));
    return parts.join(' > ');
  };
  const candidates = [start, ...start.querySelectorAll('*')];
  const stop = top ? start.closest(top) : null;
  for (let e = start.parentElement; stop && e && e !== stop.parentElement; e = e.parentElement) candidates.push(e);
  return candidates
    .filter((el) => el.clientWidth > 0 && scrolls(el) && el.scrollWidth > el.clientWidth)
    .map((el) => `${path(el)}: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`);
}
"""


def _overflowing(page: Any, root: str, top: str | None) -> list[str]:
    return page.evaluate(OVERFLOWING_JS, [root, top])


def assert_no_horizontal_overflow(page: Any, root: str, top: str | None = None) -> None:
    """Fail, naming each element, when anything under `root` (or above it, up to `top`) would
    show a horizontal scrollbar once the layout has settled."""
    try:
        page.wait_for_function(f"(args) => ({OVERFLOWING_JS})(args).length === 0", arg=[root, top],
                               timeout=SETTLE_MS)
    except Exception:  # noqa: BLE001 - a timeout here is the failure; report what overflows
        offenders = _overflowing(page, root, top)
        if offenders:
            pytest.fail(f"horizontal overflow in {root}:\n" + "\n".join(offenders))


def set_theme(page: Any, theme: str) -> None:
    """Pick `theme` from Settings > Theme unless it is already on."""
    dark = "Dark" in theme
    wanted = str(not dark).lower()
    if page.evaluate("document.body.dataset.jpThemeLight") == wanted:
        return
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Theme$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{theme}$")).click()
    page.wait_for_function(f"document.body.dataset.jpThemeLight === '{wanted}'")
    # JupyterLab covers the page with its splash while the theme's CSS loads; measure after.
    page.locator("#jupyterlab-splash").wait_for(state="detached")


def each_theme(page: Any) -> Iterator[str]:
    """Yield 'light' then 'dark' with that theme on. The theme is a server-wide setting, so each
    test starts by putting the light one on itself."""
    for theme in THEMES:
        set_theme(page, theme)
        yield "dark" if "Dark" in theme else "light"


def panel_ready(page: Any, panel: str, shot: str = "panel-not-ready") -> None:
    """Wait until the panel under `panel` shows its job list and has heard from the server; a
    screenshot `shot` is saved when it does not."""
    try:
        page.wait_for_selector(f"{panel} .dtrain-job-list", timeout=PANEL_TIMEOUT_MS)
        page.wait_for_selector(f"{panel} :text('Talking to')", timeout=PANEL_TIMEOUT_MS)
    except Exception:
        screenshot(page, shot)
        raise


def open_main(page: Any) -> str:
    """Open the panel in its main-area tab from the launcher card; its selector."""
    page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
    panel_ready(page, MAIN)
    return MAIN


def open_sidebar(page: Any) -> str:
    """Open the panel in the left sidebar; its selector."""
    page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="dtrain-sidebar"]').click()
    panel_ready(page, SIDEBAR)
    return SIDEBAR


def tab(page: Any, panel: str, title: str) -> None:
    """Click the panel's tab titled `title` (Jobs, New, Log, Output)."""
    page.locator(f"{panel} .lm-TabBar-tab", has_text=title).first.click()


def row(page: Any, panel: str, name: str) -> Any:
    """The list row of the job called `name`."""
    return page.locator(f"{panel} .dtrain-job", has=page.locator(".dtrain-name", has_text=name))


def replace_editor_text(page: Any, editor: str, text: str) -> None:
    """Select everything in the code editor under `editor` and put `text` in its place, as a paste would."""
    page.locator(f"{editor} .cm-content").click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.insert_text(text)


def wait_for_notebook_kernel(page: Any, lab_server: LabServer) -> None:
    """Until the new notebook's kernel is up on the server and the page says so: a cell run
    before the page is connected to it is dropped without a word."""
    deadline = time.monotonic() + PANEL_TIMEOUT_MS / 1000
    while not any(s["path"].endswith(".ipynb") and (s.get("kernel") or {}).get("execution_state") == "idle"
                  for s in lab_server.sessions()):
        assert time.monotonic() < deadline, f"no idle notebook kernel: {lab_server.sessions()}"
        time.sleep(0.25)
    # Not the toolbar's execution indicator: it says "Idle" before the kernel is even started.
    page.locator(".jp-StatusBar-Item", has_text=re.compile(r"^Python 3 \(ipykernel\) \| Idle$")).wait_for(
        timeout=PANEL_TIMEOUT_MS)


def open_notebook_panel(page: Any, lab_server: LabServer) -> str:
    """A new notebook running `%dtrain`; the selector of the panel it shows inline."""
    card = page.locator(".jp-LauncherCard[data-category='Notebook']").first
    if not card.is_visible():  # the launcher became a panel's tab: the dock's + opens another
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-addButton").first.click()
    card.click()
    editor = page.locator(".jp-NotebookPanel .jp-Cell").first.locator(".cm-content")
    editor.wait_for(timeout=PANEL_TIMEOUT_MS)
    wait_for_notebook_kernel(page, lab_server)
    editor.click()
    page.keyboard.type("%load_ext dtrain_jupyter")
    page.keyboard.press("Enter")
    page.keyboard.type("%dtrain")
    page.keyboard.press("Shift+Enter")
    panel_ready(page, NOTEBOOK_PANEL)
    return NOTEBOOK_PANEL


PLURALS = {"PyTorchJob": "pytorchjobs", "TFJob": "tfjobs", "MPIJob": "mpijobs"}


def local_manifest(kind: str, name: str, replicas: dict[str, tuple[int, str | None]]) -> dict[str, Any]:
    """A local job whose replicas run `python -c program` (None: an MPI worker that only stands for a host)."""
    key, container = {"PyTorchJob": ("pytorchReplicaSpecs", "pytorch"), "TFJob": ("tfReplicaSpecs", "tensorflow"),
                      "MPIJob": ("mpiReplicaSpecs", "mpi")}[kind]
    specs = {}
    for role, (count, program) in replicas.items():
        c: dict[str, Any] = {"name": container, "image": "python:3.11"}
        if program is not None:
            c["command"] = ["python", "-c", program]
        specs[role] = {"replicas": count, "restartPolicy": "Never", "template": {"spec": {"containers": [c]}}}
    spec: dict[str, Any] = {key: specs, **({"slotsPerWorker": 1} if kind == "MPIJob" else {})}
    return {"apiVersion": "kubeflow.org/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def job_json(lab_server: LabServer, plural: str, name: str) -> dict[str, Any]:
    """The job as the REST API returns it."""
    answer = lab_server.api("GET", f"dtrain/api/local/namespaces/default/{plural}/{name}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_phase(lab_server: LabServer, plural: str, name: str, phases: set[str]) -> dict[str, Any]:
    """Until the job is in one of `phases` (at most JOB_TIMEOUT_S); the job."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        job = job_json(lab_server, plural, name)
        if job["status"]["phase"] in phases:
            return job
        assert time.monotonic() < deadline, f"{name} stayed {job['status']}"
        time.sleep(0.5)


@contextmanager
def local_jobs(lab_server: LabServer, manifests: list[dict[str, Any]]) -> Iterator[None]:
    """Create the manifests' jobs on the local backend; delete them all on leaving."""
    try:
        for manifest in manifests:
            created = lab_server.api("POST", "dtrain/api/jobs", json={"manifest": manifest})
            assert created.status_code == 201, created.text
        yield
    finally:
        for manifest in manifests:
            plural = PLURALS[manifest["kind"]]
            lab_server.api("DELETE", f"dtrain/api/local/namespaces/default/{plural}/{manifest['metadata']['name']}")
