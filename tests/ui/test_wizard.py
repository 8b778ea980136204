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
    app.pages.wizard.name.value = name
    assert "already exists" in app.pages.wizard.name.error
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
