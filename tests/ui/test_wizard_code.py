"""The wizard's Code choice: a command, a notebook file's function or a script folder, each built,
reviewed and created through the panel's real client, and every view of the job saying where its
code came from."""

from __future__ import annotations

import io
import json
import os
import textwrap
from pathlib import Path

import nbformat
import pytest

from dtrain_jupyter.cli import Console, run as cli_run
from dtrain_jupyter.code.job import CODE_ANNOTATION, CodeJobSpec
from dtrain_jupyter.errors import InvalidJob
from dtrain_jupyter.model.code_archive import CODE_VOLUME
from dtrain_jupyter.model.spec import JobSpec
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.app import TABS, DTrainApp
from dtrain_jupyter.ui.wizard import Wizard
from dtrain_jupyter.ui.wizard_words import CODE_WORDS, FOLDER_YAML_NOTE

from .conftest import finished, job_named, unique, until

TRAIN = """\
import os
import sys
import helper
print("rank", os.environ["RANK"], "scale", helper.SCALE, "args", " ".join(sys.argv[1:]), flush=True)
"""

NOTEBOOK_CELLS = (
    "%matplotlib inline\nimport math",
    "BASE = 10",
    "def helper(x):\n    return math.isqrt(x) + BASE",
    "def fit(lr, epochs=2):\n    return helper(16) * epochs + lr",
)


class _NoCreate:
    def create(self, *args, **kwargs):
        raise AssertionError("create() must not be reached")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A working folder with a script folder and a notebook, as a person's project."""
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "train.py").write_text(TRAIN)
    (project / "helper.py").write_text("SCALE = 3\n")
    (project / "pkg" / "tool.py").write_text("")
    (project / ".dtrainignore").write_text("data/\n")
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS]
    nbformat.write(book, str(tmp_path / "analysis.ipynb"))
    (tmp_path / ".ipynb_checkpoints").mkdir()
    nbformat.write(book, str(tmp_path / ".ipynb_checkpoints" / "analysis-checkpoint.ipynb"))
    return tmp_path


def wizard(root: Path, client: object = None) -> Wizard:
    return Wizard(client or _NoCreate(), lambda job: None, lambda text: None, root=root)


def choose_folder(w: Wizard, folder: str = "project", args: str = "--epochs 3 'two words'") -> None:
    w.code.choice.value = "folder"
    w.code.folder.value = folder
    w.code.script_args.value = args


def test_the_choice_is_first_and_says_each_option_in_words(root: Path) -> None:
    w = wizard(root)
    page1 = w.pages.children[0]
    assert page1.children[0] is w.code.choice_field
    assert [label for label, _ in w.code.choice.options] == ["Command", "Notebook function", "Code from a folder"]
    assert w.code.choice.value == "command"
    for key, field in w.code.fields.items():
        assert field.label_text == CODE_WORDS[key].label and field.hint_text.startswith(CODE_WORDS[key].hint)
        # The control is named for screen readers by its label (the label itself is an HTML widget).
        assert field.control.description == field.label_text


def test_folder_builds_a_job_with_the_archive_the_entry_and_the_arguments(root: Path) -> None:
    w = wizard(root)
    w.name.value = "from-folder"
    choose_folder(w)
    # The script list is the folder's .py files; train.py is chosen first.
    assert [v for _, v in w.code.entry.control.options] == ["helper.py", "train.py", "pkg/tool.py"]
    assert w.code.entry.value == "train.py"
    w.code.folder_packages.value = "einops, numpy>=1.26,<2"
    w.role_editors["Worker"].count.value = 2
    spec = w.build_spec()
    assert isinstance(spec, CodeJobSpec) and spec.code is not None
    assert spec.code.entry == "train.py" and spec.code.files == 4  # train, helper, tool, .dtrainignore
    call = json.loads(spec.args[-1])
    assert call["script"] == "train.py" and call["argv"] == ["--epochs", "3", "two words"]
    assert call["packages"] == ["einops", "numpy<2,>=1.26"]
    manifest = spec.to_manifest()
    origin = json.loads(manifest["metadata"]["annotations"][CODE_ANNOTATION])
    assert origin["folder"] == str(root / "project") and origin["entry"] == "train.py"
    for role in ("Master", "Worker"):
        pod = manifest["spec"]["pytorchReplicaSpecs"][role]["template"]["spec"]
        assert [v["name"] for v in pod["volumes"]] == [CODE_VOLUME]
    assert manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 2
    # The review: the summary with the code line, then the YAML with the ConfigMap volume.
    w.step = 3
    assert f"<span class='dtrain-summary-key'>Code</span> train.py from {root / 'project'} (4 files," in w.summary.value
    assert "configMap:" in w.review.value and "from-folder-code" in w.review.value
    assert w.yaml_button.disabled and w.yaml_button.tooltip == FOLDER_YAML_NOTE


def test_folder_problems_are_said_at_their_fields(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = wizard(root)
    w.name.value = "folder-errors"
    choose_folder(w, folder="absent", args="--name 'unclosed")
    assert w.code.folder.error == f"There is no folder {root / 'absent'}."
    assert w.build_spec() is None
    assert w.code.folder.error and "No closing quotation" in w.code.script_args.error
    w.code.folder.value = str(root / "project")  # an absolute path works as well
    assert w.code.folder.error == ""
    w.code.script_args.value = "--lr 0.1"
    w.code.folder_packages.value = "good, --index-url=http://x"
    assert w.build_spec() is None
    assert "packages[1]" in w.code.folder_packages.error
    w.code.folder_packages.value = ""
    # A folder too big for a ConfigMap: the refusal's own words at the folder, no traceback.
    (root / "project" / "weights.bin").write_bytes(os.urandom(1_200_000))
    assert w.build_spec() is None
    assert "weights.bin" in w.code.folder.error and w.last_error is None
    w.step = 3
    assert "Fix the fields marked in red first" in w.review.value
    # An empty folder has nothing to run.
    (root / "empty").mkdir()
    w.code.folder.value = "empty"
    assert w.code.entry.value == "" and "holds no .py file" in w.code.entry.error


def test_function_builds_a_runner_call_of_the_notebook_function(root: Path) -> None:
    w = wizard(root)
    w.name.value = "from-function"
    w.code.choice.value = "function"
    # Checkpoints are not offered; the notebook's functions are, with their parameters.
    assert [v for _, v in w.code.notebook.control.options] == ["analysis.ipynb"]
    assert [label for label, _ in w.code.function.control.options] == ["helper(x)", "fit(lr, epochs=2)"]
    assert w.code.function.value == "fit"
    assert "fit takes: lr, epochs=2." in w.code.call_args.hint_text
    w.code.call_args.value = '{"lr": 0.5, "epochs": 3}'
    spec = w.build_spec()
    assert spec is not None and not isinstance(spec, CodeJobSpec)
    source, call = spec.args
    assert json.loads(call) == {"function": "fit", "args": {"lr": 0.5, "epochs": 3}, "every_rank": False}
    namespace: dict = {}
    exec(source, namespace)
    assert namespace["fit"](0.5, 3) == (4 + 10) * 3 + 0.5
    origin = json.loads(spec.to_manifest()["metadata"]["annotations"][CODE_ANNOTATION])
    assert origin == {"from": "function", "function": "fit", "notebook": "analysis.ipynb"}
    w.step = 3
    assert "<span class='dtrain-summary-key'>Code</span> function fit() from analysis.ipynb" in w.summary.value
    assert not w.yaml_button.disabled


@pytest.mark.parametrize("text, field, words", [
    ('{"lr": 0.5,\n "epochs": }', "call_args", "Line 2, column 12: Expecting value."),
    ("[1, 2]", "call_args", "Write a JSON object of keyword arguments"),
    ('{"epochs": 3}', "call_args", "args do not fit fit(lr, epochs=2): missing a required argument: 'lr'"),
    ('{"lr": 1, "momentum": 0.9}', "call_args", "unexpected keyword argument 'momentum'"),
], ids=["json-error", "not-an-object", "missing", "unknown"])
def test_function_argument_problems_are_said_at_the_field(root: Path, text: str, field: str, words: str) -> None:
    w = wizard(root)
    w.name.value = "args-errors"
    w.code.choice.value = "function"
    w.code.call_args.value = text
    assert w.build_spec() is None
    assert words in w.code.fields[field].error


def test_a_name_the_function_cannot_carry_is_named_at_the_function(root: Path) -> None:
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(c) for c in ("for step in range(3):\n    pass",
                                                         "def train():\n    return step + undefined_name")]
    nbformat.write(book, str(root / "loop.ipynb"))
    w = wizard(root)
    w.name.value = "refused"
    w.code.choice.value = "function"
    w.code.notebook.value = "loop.ipynb"
    assert w.code.function.value == "train"
    assert w.build_spec() is None
    assert "'step'" in w.code.function.error and "a for loop in cell 1" in w.code.function.error
    assert "'undefined_name'" in w.code.function.error


def test_switching_choices_keeps_each_ones_fields(root: Path) -> None:
    w = wizard(root)
    w.command.value = "python -c 'print(1)'"
    choose_folder(w, args="--keep me")
    assert w.command.layout.display == "none" and w.args.layout.display == "none"
    assert w.working_dir.layout.display == "none" and w.code.folder_box.layout.display == ""
    w.code.choice.value = "function"
    w.code.call_args.value = '{"lr": 2}'
    assert w.code.folder_box.layout.display == "none" and w.code.function_box.layout.display == ""
    w.code.choice.value = "command"
    assert w.command.layout.display == "" and w.code.function_box.layout.display == "none"
    assert w.command.value == "python -c 'print(1)'"
    w.code.choice.value = "folder"
    assert w.code.script_args.value == "--keep me" and w.code.folder.value == "project"
    w.code.choice.value = "function"
    assert w.code.call_args.value == '{"lr": 2}'


def test_mpi_and_tf_roles_and_slots_are_laid_over_the_code(root: Path) -> None:
    w = wizard(root)
    w.name.value = "mpi-fn"
    w.platform.value = "MPIJob"
    w.code.choice.value = "function"
    w.code.call_args.value = '{"lr": 1}'
    w.role_editors["Worker"].count.value = 3
    w.role_editors["Worker"].cpu.value = "2"
    w.slots.value = 2
    spec = w.build_spec()
    assert spec is not None
    assert spec.command[:3] == ["mpirun", "-np", "6"] and spec.slots_per_worker == 2
    assert spec.roles["Worker"].replicas == 3 and spec.roles["Worker"].cpu == "2"
    # The Command choice's mpirun note does not speak for another choice's command.
    assert w.processes.layout.display == "none"
    w.platform.value = "TFJob"
    choose_folder(w)
    w.role_editors["Chief"].count.value = 1
    spec = w.build_spec()
    assert spec is not None and set(spec.roles) >= {"Chief", "Worker"}
    pods = spec.to_manifest()["spec"]["tfReplicaSpecs"]
    assert all([v["name"] for v in pods[r]["template"]["spec"]["volumes"]] == [CODE_VOLUME] for r in pods)


def test_edit_as_yaml_carries_a_function_job_and_refuses_a_folder_in_words(root: Path) -> None:
    texts: list[str] = []
    w = Wizard(_NoCreate(), lambda job: None, texts.append, root=root)
    w.name.value = "to-yaml-fn"
    w.code.choice.value = "function"
    w.code.call_args.value = '{"lr": 1}'
    w.yaml_button.click()
    assert w.last_error is None and len(texts) == 1
    assert JobSpec.from_yaml(texts[0]).args[1] == json.dumps(
        {"function": "fit", "args": {"lr": 1}, "every_rank": False}, separators=(",", ":"))
    choose_folder(w)
    w.yaml_button.click()  # a click the disabled button would not send, made anyway
    assert isinstance(w.last_error, InvalidJob) and FOLDER_YAML_NOTE in str(w.last_error.issues[0])
    assert len(texts) == 1


def _cli_get(dtrain_server, name: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["get", name, "--url", dtrain_server.url, "--token", dtrain_server.token],
                   Console(out=out, err=err, stdin=io.StringIO())) == 0, err.getvalue()
    return out.getvalue()


def test_a_folder_job_is_created_runs_and_every_view_shows_its_code(app: DTrainApp, client, dtrain_server,
                                                                    root: Path) -> None:
    w = app.pages.wizard
    w.code.root = root
    app.new_button.click()
    choose_folder(w)
    name = unique("wiz-folder")
    w.name.value = name
    w.step = 3
    w.create_button.click()
    assert app.error == ""
    assert app.tabs.selected_index == TABS.index("Jobs")
    job = until(app, lambda: finished(app, name), what=name)
    assert job.phase == Phase.SUCCEEDED
    lines = {entry.line for entry in client.logs(name, kind="PyTorchJob")}
    assert "rank 0 scale 3 args --epochs 3 two words" in lines
    words = f"train.py from {root / 'project'} (4 files, "
    # The panel: the job's detail (its expanded row) starts with the code line.
    row = app.job_list.rows[job.uid]
    row.expanded = True
    assert row.pods is not None and words in row.pods.code_line.value
    assert row.pods.children[0] is row.pods.code_line
    # The notebook repr and `dtrain get`.
    rich = client.get(name, kind="PyTorchJob")
    assert f"  code:      {words}" in rich.text()
    assert f"<th style='text-align:left;padding-right:8px'>code</th><td>{words}" in rich._repr_html_()
    assert f"  code:      {words}" in _cli_get(dtrain_server, name)
    client.delete(name, kind="PyTorchJob")


def test_a_function_job_is_created_and_returns_the_notebook_functions_value(app: DTrainApp, client,
                                                                            root: Path) -> None:
    w = app.pages.wizard
    w.code.root = root
    w.code.choice.value = "function"
    w.code.refresh_notebooks()
    w.code.call_args.value = '{"lr": 0.25}'
    name = unique("wiz-fn")
    w.name.value = name
    w.step = 3
    w.create_button.click()
    assert app.error == ""
    assert client.result(name, kind="PyTorchJob", timeout=120) == (4 + 10) * 2 + 0.25
    until(app, lambda: job_named(app, name), what=name)
    assert "function fit() from analysis.ipynb" in client.get(name, kind="PyTorchJob").text()
    client.delete(name, kind="PyTorchJob")


def test_views_escape_an_origin_that_holds_markup(app: DTrainApp, client) -> None:
    from .conftest import python_job

    name = unique("origin-esc")
    origin = json.dumps({"from": "function", "function": "<img src=x onerror=alert(1)>", "notebook": "n.ipynb"})
    client.create(python_job(name, "print(1)", annotations={CODE_ANNOTATION: origin}))
    rich = client.get(name, kind="PyTorchJob")
    assert "<img" not in rich._repr_html_() and "&lt;img src=x" in rich._repr_html_()
    job = until(app, lambda: job_named(app, name), what=name)
    from dtrain_jupyter.ui.pods import PodsView

    view = PodsView(client, job, lambda job, pod: None)
    assert "<img" not in view.code_line.value and "&lt;img src=x onerror=alert(1)&gt;()" in view.code_line.value
    client.delete(name, kind="PyTorchJob")


def test_a_working_folder_without_notebooks_says_so_at_the_notebook(tmp_path: Path) -> None:
    w = wizard(tmp_path)
    w.name.value = "no-notebook"
    w.code.choice.value = "function"
    assert w.code.notebook.error == f"No notebook was found under {tmp_path}."
    assert w.build_spec() is None
    assert w.code.notebook.error == f"No notebook was found under {tmp_path}."
