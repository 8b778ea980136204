"""The wizard filled from a manifest (issue 16 item 3): YAML -> form -> YAML gives the same object.

For the official examples (`shared/conformance/`) and for manifests the wizard itself makes,
`fill_wizard` then `build_spec` returns the manifest unchanged, and the "kept from YAML" list
names exactly what the wizard has no field for. A field changed in the form changes that value
and nothing else. "Edit and re-run" runs the edited job under "<name>-run2" on a real server;
"Open in wizard" from YAML that does not read says where.
"""

from __future__ import annotations

import copy
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtrain_jupyter.code.job import FolderJob
from dtrain_jupyter.code.origin import ANNOTATION
from dtrain_jupyter.errors import InvalidJob
from dtrain_jupyter.model.code_archive import CODE_VOLUME
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.app import DTrainApp
from dtrain_jupyter.ui.wizard import Wizard
from dtrain_jupyter.ui.yaml_editor import YamlEditor
from tests.ui.conftest import finished, python_job, unique, until

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
WIZARD_KINDS = {"PyTorchJob", "TFJob", "MPIJob"}
KUBE = ({"backend": "kubernetes", "namespace": "team-a", "context": "lab"},)


def _examples() -> list[Path]:
    # Every example beside the CRDs that define them (those are not jobs).
    return sorted(p for p in CONFORMANCE.glob("*/*.yaml") if p.parent.name != "crds")


def _wizard(backends: tuple[dict[str, Any], ...] = KUBE) -> Wizard:
    w = Wizard(None, lambda job: None, lambda text: None)
    w.backends = backends
    return w


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """The paths where two parsed manifests differ (for a readable failure, and for the edits)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in {*a, *b} for p in _differences(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def test_the_conformance_folder_is_there() -> None:
    # The corpus lives beside the checkout; without it every case below would vanish unseen.
    assert len(_examples()) >= 15


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_an_official_example_comes_back_unchanged(path: Path) -> None:
    manifest = yaml.safe_load(path.read_text())
    original = copy.deepcopy(manifest)
    w = _wizard()
    if manifest["kind"] not in WIZARD_KINDS:
        with pytest.raises(InvalidJob) as refused:
            w.open_manifest(manifest)
        assert refused.value.issues[0].path == "kind"
        assert f"edit this {manifest['kind']} as YAML" in refused.value.issues[0].message
        return
    kept = w.open_manifest(manifest)
    spec = w.build_spec()
    assert spec is not None, w.last_error
    assert _differences(spec.to_manifest(), original) == []
    assert manifest == original, "filling the wizard must not change the manifest it reads"
    # What the form shows is the manifest's: the kind, the name, every role's count.
    assert w.framework == manifest["kind"] and w.name.value == manifest["metadata"]["name"]
    replica_specs = manifest["spec"][spec.framework.replica_key]
    for role, editor in w.role_editors.items():
        if role in replica_specs and not editor.count.disabled:
            assert editor.count.value == replica_specs[role].get("replicas", 1)
    # Each kept path is in the original manifest, and the note lists every one.
    for entry in kept:
        assert entry.split(":")[0].split("[")[0].split(".")[0] in original
        assert entry.split(": ")[0].replace('"', "&quot;") in w.edit_note.value


@pytest.mark.parametrize("name, kept", [
    ("pi_pi.yaml", {"spec.sshAuthMountPath",
                    "spec.mpiReplicaSpecs.Launcher.template.spec.containers[0].securityContext",
                    "spec.mpiReplicaSpecs.Worker.template.spec.containers[0].command"}),
    ("tensorflow_distribution_strategy_multi_worker_tfjob.yaml",
     {"spec.tfReplicaSpecs.Worker.template.spec.volumes",
      "spec.tfReplicaSpecs.Worker.template.spec.containers[0].volumeMounts"}),
    ("pytorch_elastic_echo_echo.yaml", {"spec.elasticPolicy"}),
])
def test_the_kept_list_names_what_the_wizard_has_no_field_for(name: str, kept: set[str]) -> None:
    path = next(p for p in _examples() if p.name == name)
    listed = _wizard().open_manifest(yaml.safe_load(path.read_text()))
    assert kept <= set(listed)
    # What the wizard does have a field for is never listed as kept.
    assert not [p for p in listed if p.endswith((".replicas", ".image", "metadata.name", "restartPolicy"))]


def test_tensorflow_simple_is_all_in_the_fields() -> None:
    path = next(p for p in _examples() if p.name == "tensorflow_simple.yaml")
    manifest = yaml.safe_load(path.read_text())
    w = _wizard()
    assert w.open_manifest(manifest) == []
    container = manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert w.image.value == container["image"]
    assert shlex.split(w.command.value) == container["command"]
    assert "Nothing is kept aside" in w.edit_note.value
    # The form alone (no YAML laid under it) writes the same job.
    alone = w.read_form(kube=True)[0].to_manifest()
    assert _differences(alone, manifest) == []


def test_a_changed_field_changes_that_value_and_nothing_else() -> None:
    path = next(p for p in _examples() if p.name == "pi_pi.yaml")
    manifest = yaml.safe_load(path.read_text())
    w = _wizard()
    w.open_manifest(manifest)
    w.role_editors["Worker"].count.value = 4
    w.role_editors["Worker"].memory.value = "2Gi"
    out = w.build_spec().to_manifest()
    worker = "spec.mpiReplicaSpecs.Worker"
    launcher = f"{worker.replace('Worker', 'Launcher')}.template.spec.containers[0]"
    changed = set(_differences(out, manifest))
    # mpirun -np follows Workers x slots, as it did in the manifest (2 x 1 -> 4 x 1).
    assert changed == {f".{worker}.replicas", f".{worker}.template.spec.containers[0].resources.limits.memory",
                       f".{launcher}.args[1]"}
    assert out["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["args"][:2] == ["-n", "4"]
    # The Worker's own command (sshd) and the security context stay as the YAML has them.
    assert out["spec"]["sshAuthMountPath"] == manifest["spec"]["sshAuthMountPath"]


def test_an_mpirun_np_of_ones_own_stays_through_the_fill() -> None:
    path = next(p for p in _examples() if p.name == "pi_pi.yaml")
    manifest = yaml.safe_load(path.read_text())
    launcher = manifest["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    assert launcher["command"] == ["mpirun"] and launcher["args"][0] == "-n"
    launcher["args"][1] = "3"  # 3 processes on 2 Workers x 1 slot: the person's own number
    w = _wizard()
    w.open_manifest(manifest)
    assert not w.processes.follows
    assert "-n 3 is your own number" in w.processes.note.value
    # More Workers leave the person's -n as it is.
    w.role_editors["Worker"].count.value = 3
    out = w.build_spec().to_manifest()
    assert out["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["args"][1] == "3"
    assert _differences(out, manifest) == [".spec.mpiReplicaSpecs.Worker.replicas"]


def test_env_the_field_cannot_show_is_kept_entry_by_entry() -> None:
    manifest = yaml.safe_load(next(p for p in _examples() if p.name == "pytorch_simple.yaml").read_text())
    env = [{"name": "A", "value": "1"}, {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "MULTI", "value": "one\ntwo"}]
    for role in manifest["spec"]["pytorchReplicaSpecs"].values():
        role["template"]["spec"]["containers"][0]["env"] = copy.deepcopy(env)
    w = _wizard()
    kept = w.open_manifest(copy.deepcopy(manifest))
    assert "spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].env" in kept
    assert w.env.value == "A=1"
    assert w.build_spec().to_manifest() == manifest
    # Typing another value for A changes A only: POD and the value over two lines stay.
    w.env.value = "A=2\nB=3"
    written = w.build_spec().to_manifest()["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    assert written["containers"][0]["env"] == [{"name": "A", "value": "2"}, env[1], env[2], {"name": "B", "value": "3"}]


def test_more_workers_than_a_new_job_is_offered_still_come_back() -> None:
    manifest = yaml.safe_load(next(p for p in _examples() if p.name == "tensorflow_simple.yaml").read_text())
    manifest["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] = 100
    w = _wizard()
    w.open_manifest(copy.deepcopy(manifest))
    assert w.role_editors["Worker"].error == ""
    assert w.build_spec().to_manifest() == manifest


# ---------------------------------------------------------------------------- wizard-made manifests
def _type_everything(w: Wizard, kind: str, *, workers: int = 2, gpus: int = 1) -> None:
    """Type a value into every field the kind shows (env, resources, GPUs, MPI slots, run policy)."""
    w.platform.value = kind
    w.name.value = f"made-{kind.lower()}"
    w.namespace.value = "team-b"
    w.image.value = "python:3.11"
    w.env.value = "A=1\nGREETING=hello world"
    w.working_dir.value = "/work"
    w.output_claim.value, w.output_path.value = "results-pvc", "/results"
    w.backoff.value, w.ttl.value, w.clean.value = "3", "600", "Running"
    w.restart.value = w.restart.control.options[-1][1]
    if kind == "PyTorchJob":
        w.nproc.value = "2"
    if kind == "MPIJob":
        w.slots.value = 2
    for editor in w.role_editors.values():
        if not editor.count.disabled:
            editor.count.value = workers if editor.role == "Worker" else 1
        editor.cpu.value, editor.memory.value = "2", "4Gi"
        if not editor.gpu.disabled:
            editor.gpu.value = gpus


@pytest.mark.parametrize("kind", sorted(WIZARD_KINDS))
def test_a_manifest_the_wizard_made_is_all_in_its_fields(kind: str) -> None:
    maker = _wizard()
    _type_everything(maker, kind)
    manifest = maker.build_spec().to_manifest()
    w = _wizard()
    assert w.open_manifest(copy.deepcopy(manifest)) == []
    assert w.build_spec().to_manifest() == manifest
    # Not only through the YAML laid under the form: the fields alone write it.
    assert w.read_form(kube=True)[0].to_manifest() == manifest
    assert w.env.value == maker.env.value and w.slots.value == maker.slots.value
    assert {r: (e.count.value, e.cpu.value, e.memory.value, e.gpu.value) for r, e in w.role_editors.items()} == \
        {r: (e.count.value, e.cpu.value, e.memory.value, e.gpu.value) for r, e in maker.role_editors.items()}


def test_an_mpijob_at_the_other_version_opens_at_that_version() -> None:
    maker = _wizard()
    maker.mpi_version.value = "v1"
    _type_everything(maker, "MPIJob", workers=3)
    manifest = maker.build_spec().to_manifest()
    assert manifest["apiVersion"] == "kubeflow.org/v1"
    w = _wizard()
    w.open_manifest(manifest)
    assert w.mpi_version.value == "v1"
    assert w.build_spec().to_manifest() == manifest


_words = st.text(alphabet="abcxyz019 -_'\"$=/.", min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(WIZARD_KINDS)), workers=st.integers(1, 8), gpus=st.integers(0, 4),
       slots=st.integers(1, 4), command=st.lists(_words, min_size=1, max_size=4),
       env=st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True),
                           st.text(alphabet="ab =:1'\"", max_size=8), max_size=3),
       cpu=st.sampled_from(["", "1", "500m", "2.5"]), memory=st.sampled_from(["", "512Mi", "4Gi"]),
       backoff=st.sampled_from(["", "0", "7"]), ttl=st.sampled_from(["", "60"]),
       clean=st.sampled_from(["", "None", "Running", "All"]))
def test_any_manifest_from_the_wizards_field_space_round_trips(kind: str, workers: int, gpus: int, slots: int,
                                                               command: list[str], env: dict[str, str], cpu: str,
                                                               memory: str, backoff: str, ttl: str,
                                                               clean: str) -> None:
    maker = _wizard()
    maker.platform.value = kind
    maker.name.value = "generated"
    maker.command.value = shlex.join(command)
    maker.env.value = "\n".join(f"{k}={v}" for k, v in env.items())
    maker.backoff.value, maker.ttl.value, maker.clean.value = backoff, ttl, clean
    maker.slots.value = slots
    for editor in maker.role_editors.values():
        if not editor.count.disabled:
            editor.count.value = workers if editor.role == "Worker" else 0
        editor.cpu.value, editor.memory.value = cpu, memory
        if not editor.gpu.disabled:
            editor.gpu.value = gpus
    spec = maker.build_spec()
    assert spec is not None
    manifest = spec.to_manifest()
    w = _wizard()
    assert w.open_manifest(copy.deepcopy(manifest)) == []
    assert w.build_spec().to_manifest() == manifest
    assert w.read_form(kube=True)[0].to_manifest() == manifest


def test_a_code_job_opens_as_its_runners_command_and_keeps_its_code(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    manifest = FolderJob("train.py", tmp_path, args=["--lr", "0.1"], name="folder-job", workers=1).to_manifest()
    w = _wizard()
    kept = w.open_manifest(copy.deepcopy(manifest))
    assert w.code.source == "command"
    container = manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert shlex.split(w.command.value) == container["command"]
    # The annotation is kept, and the list says why the code itself cannot be edited here.
    code_entry = next(k for k in kept if k.startswith("metadata.annotations"))
    assert ANNOTATION in code_entry and "cannot reopen" in code_entry
    assert any(k.endswith("template.spec.volumes") for k in kept)
    w.role_editors["Worker"].count.value = 3
    out = w.build_spec().to_manifest()
    assert out["metadata"]["annotations"] == manifest["metadata"]["annotations"]
    volumes = out["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["volumes"]
    assert any(v["name"] == CODE_VOLUME for v in volumes)
    assert out["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3


def test_changing_the_framework_leaves_the_yaml_behind_and_says_so() -> None:
    path = next(p for p in _examples() if p.name == "pytorch_elastic_echo_echo.yaml")
    w = _wizard()
    w.open_manifest(yaml.safe_load(path.read_text()))
    w.platform.value = "TFJob"
    assert w.base is None and "framework changed" in w.edit_note.value
    w.name.value = "now-a-tfjob"
    assert "elasticPolicy" not in w.build_spec().to_manifest()["spec"]


def test_the_note_escapes_and_wraps_what_it_lists() -> None:
    manifest = yaml.safe_load(next(p for p in _examples() if p.name == "pytorch_simple.yaml").read_text())
    manifest["metadata"]["labels"] = {"<b>x</b>": "1"}
    manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    w = _wizard()
    kept = w.open_manifest(manifest)
    assert {"metadata.labels", "spec.pytorchReplicaSpecs.Worker.template.spec.tolerations"} <= set(kept)
    assert "<b>x</b>" not in w.edit_note.value
    # One list item per path, each whole (the note's class wraps long paths, styles.py).
    assert w.edit_note.value.count("<li>") == len(kept)
    assert "dtrain-wizard-note" in w.edit_note._dom_classes
    w.leave_button.click()
    assert w.base is None and w.edit_box.layout.display == "none" and w.step == 0


# ---------------------------------------------------------------------------- Open in wizard
def _editor_and_wizard() -> tuple[YamlEditor, Wizard, list[list[str]]]:
    w = _wizard()
    opened: list[list[str]] = []

    def open_in_wizard(manifest: dict[str, Any]) -> list[str]:
        kept = w.open_manifest(manifest)
        opened.append(kept)
        return kept

    return YamlEditor(None, lambda job: None, on_open_wizard=open_in_wizard), w, opened


def test_open_in_wizard_from_bad_yaml_shows_the_line() -> None:
    editor, w, opened = _editor_and_wizard()
    assert editor.wizard_button.layout.display == ""
    editor.text = "apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata:\n  name: x\n spec: [\n"
    editor.wizard_button.click()
    # Listed under the text with its line, and only there (not again on the panel's error line).
    assert opened == [] and editor.last_error is None
    assert editor.issues and editor.issues[0].line == 5
    assert editor.issue_buttons[0].description.startswith("line 5")
    assert "cannot be read" in editor.verdict


def test_open_in_wizard_of_a_kind_it_does_not_make_points_at_the_kind() -> None:
    editor, w, opened = _editor_and_wizard()
    editor.text = next(p for p in _examples() if p.name == "xgboost_xgboostjob.yaml").read_text()
    editor.wizard_button.click()
    assert opened == []
    line = next(n for n, text in enumerate(editor.text.splitlines(), start=1) if text.startswith("kind:"))
    assert [(i.path, i.line) for i in editor.issues] == [("kind", line)]


def test_open_in_wizard_fills_it() -> None:
    editor, w, opened = _editor_and_wizard()
    text = next(p for p in _examples() if p.name == "pi_pi.yaml").read_text()
    editor.text = text
    editor.wizard_button.click()
    assert editor.last_error is None and editor.issues == ()
    assert w.framework == "MPIJob" and w.name.value == "pi" and w.step == 1
    assert "Opened from YAML" in w.edit_note.value
    assert w.build_spec().to_manifest() == yaml.safe_load(text)


def test_without_a_way_to_the_wizard_there_is_no_button() -> None:
    assert YamlEditor(None, lambda job: None).wizard_button.layout.display == "none"


# ---------------------------------------------------------------------------- Edit and re-run (live server)
def test_edit_and_rerun_runs_the_edited_job_as_run2(app: DTrainApp, client) -> None:
    name = unique("edit")
    program = "import os; print('greeting', os.environ.get('GREETING'))"
    client.create(python_job(name, program, workers=1, env={"GREETING": "first"}, labels={"team": "ml"}))
    old = until(app, lambda: finished(app, name), what=name)
    assert old.phase == Phase.SUCCEEDED
    w = app.pages.wizard
    kept = w.edit_rerun(old)
    assert "metadata.labels" in kept
    assert w.name.value == f"{name}-run2" and w.rerun_of is old
    assert f"Editing a re-run of PyTorchJob {name}" in w.edit_note.value
    assert "GREETING=first" in w.env.value
    w.env.value = "GREETING=edited"
    w.step = 3
    w.create_button.click()
    assert app.error == "", app.error
    assert w.base is None and w.rerun_of is None  # Create leaves edit mode
    new = until(app, lambda: finished(app, f"{name}-run2"), what=f"{name}-run2")
    assert new.phase == Phase.SUCCEEDED
    assert new.manifest["metadata"]["labels"]["team"] == "ml"
    lines = {entry.line for entry in client.logs(new.name, kind="PyTorchJob")}
    assert "greeting edited" in lines
    client.delete(new.name, kind="PyTorchJob")
    client.delete(name, kind="PyTorchJob")
