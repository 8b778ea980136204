"""The wizard: name checked as you type, roles per platform, errors next to fields, create, to YAML."""

from __future__ import annotations

import pytest

from dtrain_jupyter.model.spec import JobSpec
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.app import TABS, DTrainApp
from dtrain_jupyter.ui.wizard import LOCAL_IMAGE_NOTE, name_problem

from .conftest import finished, unique, until


@pytest.mark.parametrize("name, ok", [
    ("mnist-ddp", True), ("a", True), ("Mnist", False), ("1abc", False), ("ab-", False),
    ("a_b", False), ("a" * 63, True), ("a" * 64, False), ("", False),
], ids=lambda v: str(v)[:12])
def test_name_rule_is_a_dns_1035_label(name: str, ok: bool) -> None:
    assert (name_problem(name) == "") is ok


def test_name_is_checked_as_you_type(app: DTrainApp) -> None:
    w = app.pages.wizard
    w.name.value = "Bad_Name"
    assert w.name.error
    assert "dtrain-field-error" in w.name.error_line._dom_classes
    w.name.value = "good-name"
    assert w.name.error == ""


def test_a_taken_name_is_flagged(app: DTrainApp, client) -> None:
    from .conftest import python_job

    name = unique("taken")
    client.create(python_job(name, "print(1)"))
    until(app, lambda: any(j.name == name for j in app.jobs), what=name)
    w = app.pages.wizard
    w.platform.value = "PyTorchJob"
    w.name.value = name
    words = (f"Name taken: a job named {name!r} already exists in local/default. "
             "Choose another name, or delete the old job first.")
    assert w.name.error == words
    # Create anyway: the banner says the same, not "The job is not valid".
    w.step = 3
    w.create_button.click()
    assert app.error == words
    client.delete(name, kind="PyTorchJob")


@pytest.mark.parametrize("platform, roles", [
    ("PyTorchJob", ["Master", "Worker"]),
    ("TFJob", ["Chief", "Worker", "PS", "Evaluator"]),
    ("MPIJob", ["Launcher", "Worker"]),
], ids=["pytorch", "tensorflow", "mpi"])
def test_each_platform_offers_its_roles_and_extras(app: DTrainApp, platform: str, roles: list[str]) -> None:
    w = app.pages.wizard
    w.platform.value = platform
    assert list(w.role_editors) == roles
    assert (w.nproc.layout.display != "none") is (platform == "PyTorchJob")
    assert (w.slots.layout.display != "none") is (platform == "MPIJob")
    fixed = [r for r, e in w.role_editors.items() if e.count.disabled]
    assert fixed == {"PyTorchJob": ["Master"], "TFJob": [], "MPIJob": ["Launcher"]}[platform]


def test_the_local_backend_says_the_image_is_not_used(app: DTrainApp) -> None:
    until(app, lambda: app.pages.wizard.backends, what="backends")
    assert app.pages.wizard.backend.value == "local"
    assert app.pages.wizard.image_note.layout.display != "none"
    assert "not used" in LOCAL_IMAGE_NOTE


def test_errors_appear_next_to_their_fields(app: DTrainApp) -> None:
    w = app.pages.wizard
    w.platform.value = "PyTorchJob"
    w.name.value = "errs"
    w.role_editors["Worker"].cpu.value = "2x"
    w.backoff.value = "many"
    w.env.value = "NOVALUE"
    spec = w.build_spec()
    assert spec is None
    assert "whole number" in w.backoff.error
    assert "NAME=value" in w.env.error
    w.backoff.value = ""
    w.env.value = "A=1"
    spec, issues = w.check()
    assert spec is not None
    assert [i.path.split(".")[2] for i in issues] == ["Worker"]
    assert issues[0].path.endswith("cpu")
    assert "2x" in w.role_editors["Worker"].error
    assert w.review_errors.value == ""


def test_review_shows_the_yaml_and_edit_as_yaml_carries_it(app: DTrainApp) -> None:
    w = app.pages.wizard
    w.platform.value = "TFJob"
    w.name.value = "to-yaml"
    w.role_editors["PS"].count.value = 1
    w.role_editors["Worker"].count.value = 3
    w.step = 3
    assert "to-yaml" in w.review.value and "PS:" in w.review.value
    w.yaml_button.click()
    assert app.error == ""
    assert app.pages.mode.value == "YAML"
    spec = JobSpec.from_yaml(app.pages.yaml_editor.text)
    assert spec.name == "to-yaml" and spec.kind == "TFJob"
    assert spec.roles["Worker"].replicas == 3 and spec.roles["PS"].replicas == 1


def test_create_a_pytorch_job_with_two_workers(app: DTrainApp, client) -> None:
    w = app.pages.wizard
    app.new_button.click()
    assert app.tabs.selected_index == TABS.index("New")
    w.platform.value = "PyTorchJob"
    w.next_button.click()
    name = unique("wiz")
    w.name.value = name
    # A light program (no torch import) keeps the test quick; the browser test runs the DDP one.
    w.command.value = "python -c 'import os; print(\"rank\", os.environ[\"RANK\"], \"of\", os.environ[\"WORLD_SIZE\"])'"
    w.env.value = "GREETING=<img src=x onerror=alert(1)>"
    w.next_button.click()
    w.role_editors["Worker"].count.value = 2
    w.next_button.click()
    assert w.step == 3
    w.create_button.click()
    assert app.error == ""
    assert app.tabs.selected_index == TABS.index("Jobs")
    assert f"PyTorchJob/{name}" in app.info
    job = until(app, lambda: finished(app, name), what=name)
    assert job.phase == Phase.SUCCEEDED
    pods = client.pods(name, kind="PyTorchJob")
    assert sorted(p.replica_type for p in pods) == ["Master", "Worker", "Worker"]
    # The job succeeds when its Master does (the operators' rule for PyTorchJob), so a Worker
    # may print its line a moment after the phase turned.
    wanted = {"rank 0 of 3", "rank 1 of 3", "rank 2 of 3"}
    until(app, lambda: wanted <= {entry.line for entry in client.logs(name, kind="PyTorchJob")},
          what="every rank's line in the merged log")
    client.delete(name, kind="PyTorchJob")


def test_create_refused_shows_the_error_and_keeps_the_step(app: DTrainApp) -> None:
    w = app.pages.wizard
    w.platform.value = "PyTorchJob"
    w.name.value = "Not-A-Name"
    w.step = 3
    w.create_button.click()
    assert app.error
    assert w.name.error
    assert w.step == 3


class _NoCreate:
    """A client the wizard must never get as far as calling."""

    def create(self, *args, **kwargs):
        raise AssertionError("create() called with an invalid replica count")


def test_negative_workers_are_refused_not_changed() -> None:
    from dtrain_jupyter.errors import InvalidJob
    from dtrain_jupyter.ui.wizard import Wizard

    created: list = []
    w = Wizard(_NoCreate(), created.append, lambda text: None)
    w.platform.value = "PyTorchJob"
    w.name.value = "negative-workers"
    w.step = 2
    worker = w.role_editors["Worker"]
    worker.count.value = -3
    assert worker.count.value == -3
    assert worker.error and "-3" in worker.error
    # Next stays on Resources while the count is out of range.
    w.next_button.click()
    assert w.step == 2
    assert worker.error
    # Reached anyway (step set directly), the review shows no manifest and Create is refused.
    w.step = 3
    assert "dtrain-preview" not in w.review.value
    assert worker.count.value == -3 and worker.error
    w.create_button.click()
    assert isinstance(w.last_error, InvalidJob) and created == []
    # Fixed, the wizard moves on and the manifest carries the typed count.
    w.step = 2
    worker.count.value = 3
    assert worker.error == ""
    w.next_button.click()
    assert w.step == 3
    assert "replicas: 3" in w.review.value


def test_slots_below_one_are_refused_not_changed() -> None:
    from dtrain_jupyter.ui.wizard import Wizard

    w = Wizard(_NoCreate(), lambda job: None, lambda text: None)
    w.platform.value = "MPIJob"
    w.name.value = "no-slots"
    w.step = 2
    w.slots.value = 0
    w.next_button.click()
    assert w.step == 2 and w.slots.value == 0
    assert w.slots.error and "0" in w.slots.error
    w.slots.value = 2
    w.next_button.click()
    assert w.step == 3 and w.slots.error == ""
    assert "slotsPerWorker: 2" in w.review.value


# ---------------------------------------------------------------------------- words (issue 17)
KUBE = ({"backend": "kubernetes", "namespace": "team-a", "context": "lab-cluster"},)
LOCAL = ({"backend": "local", "namespace": "default", "context": "local"},)


def _values_at(doc, path: str) -> list:
    """Every value at a dotted YAML path; `*` is each key of a mapping, `[0]` a list item,
    `["nvidia.com/gpu"]` a key holding dots."""
    import re as _re

    nodes = [doc]
    for quoted, index, name in _re.findall(r'\["([^"]+)"\]|\[(\d+)\]|([^.\[\]]+)', path):
        found = []
        for node in nodes:
            if index and isinstance(node, list) and int(index) < len(node):
                found.append(node[int(index)])
            elif name == "*" and isinstance(node, dict):
                found.extend(node.values())
            elif isinstance(node, dict) and (quoted or name) in node:
                found.append(node[quoted or name])
        nodes = found
    return nodes


def _fill_everything(w) -> dict[str, object]:
    """Type a value into every field the kind shows; return what each should read in the YAML."""
    typed: dict[str, object] = {"name": "words-job", "namespace": "team-b", "image": "python:3.11",
                                "working_dir": "/work", "output": "results-pvc", "output_path": "/results",
                                "backoff": 3, "ttl": 600}
    w.name.value = typed["name"]
    w.namespace.value = typed["namespace"]
    w.image.value = typed["image"]
    w.env.value = "A=1"
    w.args.value = w.args.value or "--epochs 1"
    w.working_dir.value = typed["working_dir"]
    w.output_claim.value = typed["output"]
    w.output_path.value = typed["output_path"]
    w.backoff.value, w.ttl.value = "3", "600"
    w.clean.value = "Running"
    w.restart.value = w.restart.control.options[-1][1]
    if w.framework == "PyTorchJob":
        w.nproc.value = "2"
    if w.framework == "MPIJob":
        w.slots.value = 2
    for editor in w.role_editors.values():
        if editor.count.value == 0:
            editor.count.value = 1
        editor.cpu.value, editor.memory.value = "2", "4Gi"
        if not editor.gpu.disabled:
            editor.gpu.value = 1
    return typed


@pytest.mark.parametrize("platform", ["PyTorchJob", "TFJob", "MPIJob"], ids=["pytorch", "tensorflow", "mpi"])
def test_every_field_has_a_plain_label_and_a_yaml_path_the_manifest_holds(platform: str) -> None:
    import re

    from dtrain_jupyter.ui.wizard import Wizard

    w = Wizard(_NoCreate(), lambda job: None, lambda text: None)
    w.backends = KUBE
    w.platform.value = platform
    typed = _fill_everything(w)
    spec = w.build_spec()
    assert spec is not None, {k: f.error for k, f in w.fields.items() if f.error}
    manifest = spec.to_manifest()
    shown = {k: f for k, f in w.fields.items() if f.layout.display != "none"}
    assert {"nproc", "slots", "mpi_version"} - set(shown) == {
        "PyTorchJob": {"slots", "mpi_version"}, "TFJob": {"nproc", "slots", "mpi_version"},
        "MPIJob": {"nproc"}}[platform]
    for key, field in shown.items():
        # Plain words: no camelCase YAML key as the label.
        assert field.label_text and not re.search(r"[a-z][A-Z]", field.label_text), key
        if key == "backend":
            assert field.yaml_path == "" and "Not part of the YAML" in field.hint_text
            continue
        assert field.yaml_path and field.yaml_path in field.hint.value, key
        values = _values_at(manifest, field.yaml_path)
        assert values, f"{key}: {field.yaml_path} is not in the manifest"
        if "*" in field.yaml_path:
            assert len(values) == len(spec.roles), f"{key}: {field.yaml_path} is not on every role"
        if key in typed:
            assert typed[key] in values, (key, values)
    for role, editor in w.role_editors.items():
        assert editor.words and editor.yaml_paths["replicas"] in editor.hint.value
        for what, path in editor.yaml_paths.items():
            if what == "gpu" and editor.gpu.disabled:
                assert _values_at(manifest, path) == [], f"{role} has no GPUs"
                continue
            assert _values_at(manifest, path), f"{role} {what}: {path}"
    assert _values_at(manifest, "spec.runPolicy.cleanPodPolicy") == ["Running"]
    mpi_words = {"MPIJob": "Launcher's program", "PyTorchJob": "every replica", "TFJob": "every replica"}
    assert mpi_words[platform] in w.command.hint_text


def test_the_options_are_said_in_words() -> None:
    from dtrain_jupyter.ui.wizard import Wizard

    w = Wizard(_NoCreate(), lambda job: None, lambda text: None)
    clean = dict((v, label) for label, v in w.clean.control.options)
    assert clean == {"": "Operator default (None: let them finish)", "None": "None: let them finish",
                     "Running": "Running: stop the running ones", "All": "All: stop all of them"}
    restart = dict((v, label) for label, v in w.restart.control.options)
    assert restart["Never"] == "Never: a failed replica stays failed"
    assert set(restart) == {"Always", "OnFailure", "Never", "ExitCode"}
    w.platform.value = "MPIJob"  # v2beta1: the MPI Operator takes two policies only
    assert {v for _, v in w.restart.control.options} == {"OnFailure", "Never"}
    assert "removes the Launcher" in w.ttl.hint_text


def test_kubernetes_only_fields_are_hidden_and_left_out_for_the_local_backend() -> None:
    from dtrain_jupyter.ui.wizard import Wizard
    from dtrain_jupyter.ui.wizard_words import KUBERNETES_ONLY

    w = Wizard(_NoCreate(), lambda job: None, lambda text: None)
    w.backends = LOCAL + KUBE
    w.platform.value = "PyTorchJob"
    w.name.value = "hidden-values"
    w.namespace.value, w.output_claim.value, w.ttl.value = "team-b", "results-pvc", "600"
    assert w.backend.value == "local"
    assert all(w.fields[k].layout.display == "none" for k in KUBERNETES_ONLY)
    assert w.local_note.layout.display != "none" and w.image_note.layout.display != "none"
    manifest = w.build_spec().to_manifest()
    assert "namespace" not in manifest["metadata"]
    assert "ttlSecondsAfterFinished" not in manifest["spec"].get("runPolicy", {})
    assert "dtrain-output" not in w.build_spec().to_yaml()
    # A typed value that does not read is no error while its field is hidden.
    w.ttl.value = "soon"
    assert w.build_spec() is not None and w.ttl.error == ""

    w.backend.value = "kubernetes"
    assert all(w.fields[k].layout.display != "none" for k in KUBERNETES_ONLY)
    assert w.local_note.layout.display == "none" and w.image_note.layout.display == "none"
    assert w.build_spec() is None and "whole number" in w.ttl.error
    w.ttl.value = "600"
    manifest = w.build_spec().to_manifest()
    assert manifest["metadata"]["namespace"] == "team-b"
    assert manifest["spec"]["runPolicy"]["ttlSecondsAfterFinished"] == 600
    assert _values_at(manifest, "spec.pytorchReplicaSpecs.*.template.spec.volumes[0].persistentVolumeClaim.claimName") \
        == ["results-pvc", "results-pvc"]


def test_the_review_starts_with_a_summary_in_words() -> None:
    from dtrain_jupyter.ui.wizard import Wizard

    w = Wizard(_NoCreate(), lambda job: None, lambda text: None)
    w.backends = KUBE
    w.platform.value = "PyTorchJob"
    w.name.value = "summary-<b>job</b>"  # not a valid name: the summary still shows, escaped
    master, worker = w.role_editors["Master"], w.role_editors["Worker"]
    master.cpu.value, master.memory.value, master.gpu.value = "2", "4Gi", 1
    worker.count.value = 3
    worker.cpu.value, worker.memory.value, worker.gpu.value = "500m", "1Gi", 1
    w.namespace.value = "team-b"
    w.clean.value, w.backoff.value, w.ttl.value = "All", "2", "3600"
    w.step = 3
    summary = w.summary.value
    assert "<b>job</b>" not in summary and "summary-&lt;b&gt;job&lt;/b&gt;" in summary
    assert "PyTorch (PyTorchJob)" in summary
    assert "<b>kubernetes</b>: a Kubernetes cluster (context lab-cluster), namespace <b>team-b</b>" in summary
    # Totals: 1 × (2 CPU, 4Gi, 1 GPU) + 3 × (500m, 1Gi, 1 GPU).
    assert "<td>Total</td><td>4</td><td>3.5</td><td>7Gi</td><td>4</td>" in summary
    assert "stop all of them (cleanPodPolicy All)" in summary
    assert "2 restarts, then the job fails (backoffLimit)" in summary
    assert "deleted 3600 s (1h) after it ends" in summary
    assert "Every replica runs" in summary and "python -c" in summary
    # The YAML follows the summary, under its heading.
    assert "The YAML that will be sent" in w.review.value and "dtrain-preview" in w.review.value
    page = w.pages.children[3].children
    assert page.index(w.summary) < page.index(w.review)


def test_mpirun_np_follows_workers_times_slots_until_typed_by_hand() -> None:
    from dtrain_jupyter.model.mpi_command import process_count
    from dtrain_jupyter.ui.wizard import Wizard

    w = Wizard(_NoCreate(), lambda job: None, lambda text: None)
    w.platform.value = "MPIJob"
    workers = w.role_editors["Worker"].count
    assert (workers.value, w.slots.value, process_count(w.command.value, w.args.value)) == (2, 1, 2)
    assert w.processes.follows and w.processes.layout.display != "none"
    workers.value = 3
    assert process_count(w.command.value, w.args.value) == 3
    w.slots.value = 2
    assert process_count(w.command.value, w.args.value) == 6
    assert "follows Workers × slots per worker (3 × 2)" in w.processes.note.value
    # Everything else in the arguments (the python -c program) is as it was.
    before = w.args.value
    workers.value = 4
    assert w.args.value == before.replace("-np 6 ", "-np 8 ", 1)

    # The person types their own count: from then on it is theirs.
    w.args.value = w.args.value.replace("-np 8 ", "-np 3 ", 1)
    assert not w.processes.follows
    workers.value = 5
    w.slots.value = 1
    assert process_count(w.command.value, w.args.value) == 3
    assert "-np 3 is your own number; Workers × slots per worker is 5" in w.processes.note.value
    w.name.value = "mpi-own-count"
    w.step = 3
    assert "mpirun starts 3 processes on 5 slots (5 Workers × 1 slot per worker)" in w.summary.value
    # One click hands it back.
    assert w.processes.follow_button.layout.display != "none"
    w.processes.follow_button.click()
    assert process_count(w.command.value, w.args.value) == 5 and w.processes.follows
    w.step = 2
    w.step = 3
    assert "mpirun starts 5 processes, one per slot (5 Workers × 1 slot per worker)" in w.summary.value
    # Another platform and back: the starter's command, following again.
    w.platform.value = "PyTorchJob"
    assert w.processes.layout.display == "none"
    w.platform.value = "MPIJob"
    assert w.processes.follows and process_count(w.command.value, w.args.value) == 2


def test_np_in_a_one_line_command_and_in_bash_c_follows_too() -> None:
    from dtrain_jupyter.model.mpi_command import process_count
    from dtrain_jupyter.ui.wizard import Wizard

    w = Wizard(_NoCreate(), lambda job: None, lambda text: None)
    w.platform.value = "MPIJob"
    w.command.value, w.args.value = "bash -c 'cd /work && mpirun --np=2 python train.py'", ""
    assert w.processes.follows  # 2 is what 2 Workers × 1 slot give
    w.role_editors["Worker"].count.value = 4
    assert w.command.value == "bash -c 'cd /work && mpirun --np=4 python train.py'"
    assert process_count(w.command.value) == 4


class _Refuses:
    """A client whose create says the name is taken, as the server does when the list is behind
    (naming its backend, as the server's JobExists does)."""

    def __init__(self) -> None:
        self.calls = 0

    def create(self, spec, **kwargs):
        from dtrain_jupyter.errors import JobExists

        self.calls += 1
        raise JobExists(spec.kind, spec.name, "default", backend=kwargs["backend"])


TAKEN_WORDS = ("Name taken: a job named 'busy' already exists in local/default. "
               "Choose another name, or delete the old job first.")


def test_a_taken_name_is_said_as_such_by_the_wizard_and_at_create() -> None:
    from dtrain_jupyter.errors import JobExists
    from dtrain_jupyter.ui.callbacks import describe_error
    from dtrain_jupyter.ui.wizard import Wizard

    client = _Refuses()
    w = Wizard(client, lambda job: None, lambda text: None)
    w.backends = LOCAL
    w.taken = frozenset({("local", "default", "busy")})
    w.name.value = "busy"
    assert w.name.error == TAKEN_WORDS
    # Create with the name the list knows: refused before the server is asked, as a taken name.
    w.step = 3
    w.create_button.click()
    assert client.calls == 0
    assert isinstance(w.last_error, JobExists) and describe_error(w.last_error) == TAKEN_WORDS
    assert w.last_error.fields["backend"] == "local"
    assert w.name.error == TAKEN_WORDS
    # A name the list does not know yet, taken on the server: the same words, from its answer.
    w.taken = frozenset()
    w.name.value = "fresh"
    w.create_button.click()
    assert client.calls == 1
    assert describe_error(w.last_error) == TAKEN_WORDS.replace("'busy'", "'fresh'")
    assert w.name.error == TAKEN_WORDS.replace("'busy'", "'fresh'")


def test_an_mpijob_starts_at_the_preferred_version() -> None:
    from dtrain_jupyter.model.kinds import preferred_version
    from dtrain_jupyter.ui.wizard import Wizard

    w = Wizard(_Refuses(), lambda job: None, lambda text: None)
    w.platform.value = "MPIJob"
    preferred = preferred_version("MPIJob")
    assert w.mpi_version.value == preferred.version and w.mpi_version.control.index == 0
    assert w.api_version == preferred.api_version
