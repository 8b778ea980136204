"""The New-job wizard: platform, creation info, resources per role, review, then Create.

The wizard fills a `model.spec.JobSpec` and shows the YAML that spec makes, so a wizard-made
job goes through the same JobSpec <-> manifest code as everything else and "Edit as YAML"
carries exactly that manifest into the YAML editor. Each platform starts from the project's
runnable starter template (a real DDP / TF_CONFIG / mpi4py program), so Create works as is on
the local backend. Validation issues are routed by field path to the field they concern.

Every field has a plain label and, quietly beside it, the YAML path it writes
(`wizard_words.py`). Fields only Kubernetes uses are hidden for the local backend and never
written for it. An MPIJob's `mpirun -np` follows Workers × slots per worker until the person
types their own (`wizard_mpi.py`). The review step opens with the job in words
(`wizard_summary.py`), the YAML under it.

The first choice is the job's code (`wizard_code.py`): a command line (the Command and Arguments
fields), a function of a notebook file, or a script folder shipped with the job. For the last
two the code part of the job is built as the library builds it (`code/notebook_file.py`,
`code/job.py`) and the wizard's other fields (roles, resources, image, run policy) are laid
over it, so every choice is reviewed, shown as YAML and created the same way.

The wizard can also start from a manifest (`wizard_from_manifest.py`): "Edit and re-run" fills it
from a job's manifest and Create runs the job again under the new name (`Client.rerun`); "Open in
wizard" does the same for a YAML text. What the wizard has no field for is listed at the top and
kept as it is, so a manifest comes back out unchanged unless a field was changed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from typing import Any, Callable, Iterator

import ipywidgets as widgets
from traitlets import Instance, Int, Tuple, Unicode, observe, validate

from ..code.job import CodeJobSpec, with_code_volume
from ..errors import InvalidJob, JobExists, ValidationIssue
from ..model.builders import DEFAULT_IMAGES
from ..model.job import Job
from ..model.kinds import lookup, versions_of
from ..model.mpi_command import find_launch, set_process_count
from ..model.rerun import next_run_name
from ..model.spec import JobSpec, OutputVolume, RoleSpec
from ..model.templates import starter_yaml
from ..model.validation import validate_manifest
from .assistive import FOCUS_HERE
from .callbacks import ErrorForwarder, describe_error, guarded, name_taken
from .wizard_code import CodeChoice
from .wizard_fields import Field, RoleEditor, optional_int
from .wizard_from_manifest import FormBase, fill_wizard, overlay
from .wizard_mpi import ProcessCount
from .wizard_summary import Where, summary_html
from .wizard_words import (FIELD_WORDS, FOLDER_YAML_NOTE, KUBERNETES_ONLY, ROLE_WORDS, backend_kind,
                           clean_pod_options, hint_for, restart_options, role_paths, yaml_path)
from .words import esc

STEPS = ("Platform", "Details", "Resources", "Review")
# The Details fields that say what a "Command" job runs; the other code choices have their own.
COMMAND_FIELDS = ("command", "args", "working_dir")
PLATFORMS = (("Horovod (MPIJob)", "MPIJob"), ("PyTorch (PyTorchJob)", "PyTorchJob"), ("TensorFlow (TFJob)", "TFJob"))
# Roles the wizard offers per kind: (role, fixed count or None, GPUs allowed).
ROLES = {
    "PyTorchJob": (("Master", 1, True), ("Worker", None, True)),
    "TFJob": (("Chief", None, True), ("Worker", None, True), ("PS", None, False), ("Evaluator", None, True)),
    "MPIJob": (("Launcher", 1, False), ("Worker", None, True)),
}
IMAGE_SUGGESTIONS = {
    "PyTorchJob": (DEFAULT_IMAGES["PyTorchJob"], "docker.io/kubeflow/pytorch-dist-mnist:latest"),
    "TFJob": (DEFAULT_IMAGES["TFJob"], "docker.io/kubeflow/tf-mnist-with-summaries:latest"),
    "MPIJob": (DEFAULT_IMAGES["MPIJob"], "docker.io/kubeflow/mpi-horovod-mnist", "mpioperator/mpi-pi:openmpi"),
}
# MPIJob's versions, each with the operator that serves it; the one a manifest is written at when
# none is asked for (Framework.preferred in model/kinds.py) first, and chosen.
_MPI_OPERATORS = {"v2beta1": "MPI Operator", "v1": "Training Operator"}
MPI_VERSIONS = tuple((f"{fw.version} ({_MPI_OPERATORS.get(fw.version, fw.operator_name)})", fw.version)
                     for fw in sorted(versions_of("MPIJob"), key=lambda fw: not fw.preferred))
PREFERRED_MPI = MPI_VERSIONS[0][1]
MAX_SLOTS = 1024
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# The namespace the server gives a job when neither it nor its backend names one.
FALLBACK_NAMESPACE = "default"
LOCAL_IMAGE_NOTE = ("The local backend runs the command on this machine with this Jupyter's Python: "
                    "the image is not used there (it is used on Kubernetes).")
LOCAL_HIDDEN_NOTE = ("Namespace and results volume are Kubernetes settings, hidden for the local backend: "
                     "a local job writes its results into its own folder, given to it as $DTRAIN_OUTPUT_DIR.")
LOCAL_RESOURCES_NOTE = ("On the local backend CPU and memory are not enforced (they apply on Kubernetes), "
                        "and a finished job stays until you delete it.")


def name_problem(name: str) -> str:
    """Why `name` cannot be a job name, or "" when it can (a DNS-1035 label, <= 63 chars)."""
    if not name:
        return "A name is required."
    if len(name) > 63:
        return f"At most 63 characters ({len(name)} now)."
    if not DNS_1035.match(name):
        return "Use lower-case letters, digits and '-', starting with a letter and not ending with '-'."
    return ""


class Wizard(widgets.VBox, ErrorForwarder):
    """Four steps to a job. `on_created(job)` gets the created Job; `on_edit_yaml(text)` the YAML.

    `root` is where a folder or notebook is looked for: the panel kernel's working folder
    (the Jupyter server's root when JupyterLab starts the panel) unless given.
    """

    step = Int(0, help="Index of the step shown (0 Platform, 1 Details, 2 Resources, 3 Review)")
    framework = Unicode("PyTorchJob", help="Kind of job being made: PyTorchJob, TFJob or MPIJob")
    backends = Tuple(help="describe() of each backend, for the backend picker")
    taken = Instance(frozenset, args=(), help="(backend, namespace, name) of jobs that exist, for the name check")

    def __init__(self, client: Any, on_created: Callable[[Any], None], on_edit_yaml: Callable[[str], None],
                 root: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        self.client = client
        self._on_created = on_created
        self._on_edit_yaml = on_edit_yaml
        # Set while the wizard is filled from a manifest (wizard_from_manifest.py).
        self.base: FormBase | None = None
        self.rerun_of: Job | None = None
        self._filling = False
        self.steps_line = widgets.HTML("")
        # Shown while the fields come from a manifest: whose, and what is kept from its YAML.
        self.edit_note = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.edit_note.add_class("dtrain-wizard-note")
        self.edit_note.add_class("dtrain-edit-note")
        self.leave_button = widgets.Button(description="Start a new job instead", icon="times",
                                           layout=widgets.Layout(width="auto"))
        self.leave_button.add_class("dtrain-leave-edit")
        self.edit_box = widgets.VBox([self.edit_note, self.leave_button],
                                     layout=widgets.Layout(width="100%", display="none"))

        def field(key: str, control: widgets.Widget) -> Field:
            # Labels and hints come from wizard_words; YAML paths are set per kind in _load_platform.
            return Field(FIELD_WORDS[key].label, control, hint=FIELD_WORDS[key].hint)

        # Step 1: code, then platform.
        self.code = CodeChoice(os.getcwd() if root is None else root)
        self.code.on_error = self.report_error
        self.platform = widgets.RadioButtons(options=PLATFORMS, value="PyTorchJob", layout=widgets.Layout(width="auto"))
        self.platform_field = field("platform", self.platform)
        self.platform_help = widgets.HTML("<ul>" + "".join(
            f"<li><b>{esc(title)}</b>: {esc(lookup('kubeflow.org/v1', kind).description)}</li>"  # type: ignore[union-attr]
            for title, kind in PLATFORMS) + "</ul>")
        self.mpi_version = field("mpi_version", widgets.Dropdown(options=MPI_VERSIONS, value=PREFERRED_MPI))
        page1 = widgets.VBox([self.code.choice_field, self.platform_field, self.platform_help, self.mpi_version])
        # Step 2: creation info.
        self.name = field("name", widgets.Text("", continuous_update=True, placeholder="e.g. mnist-ddp"))
        self.backend = field("backend", widgets.Dropdown(options=(("local", "local"),), value="local"))
        self.namespace = field("namespace", widgets.Text("", placeholder="default of the backend"))
        self.image = field("image", widgets.Combobox(options=IMAGE_SUGGESTIONS["PyTorchJob"], ensure_option=False))
        self.image_note = widgets.HTML(f"<span class='dtrain-muted'>Note: {esc(LOCAL_IMAGE_NOTE)}</span>")
        self.command = field("command", widgets.Textarea("", rows=4))
        self.args = field("args", widgets.Textarea("", rows=2))
        self.env = field("env", widgets.Textarea("", rows=3, placeholder="NAME=value, one per line"))
        self.working_dir = field("working_dir", widgets.Text("", placeholder="container default"))
        self.output_claim = field("output", widgets.Text("", placeholder="PersistentVolumeClaim name"))
        self.output_path = field("output_path", widgets.Text("/output"))
        self.local_note = widgets.HTML(f"<span class='dtrain-muted'>{esc(LOCAL_HIDDEN_NOTE)}</span>")
        page2 = widgets.VBox([self.name, self.backend, self.namespace, self.image, self.image_note,
                              self.code.folder_box, self.code.function_box, self.command,
                              self.args, self.env, self.working_dir, self.output_claim, self.output_path,
                              self.local_note])
        # Step 3: resources.
        self.roles_box = widgets.VBox()
        self.role_editors: dict[str, RoleEditor] = {}
        self.nproc = field("nproc", widgets.Text("", placeholder="auto, cpu, gpu or a number"))
        # IntText, not BoundedIntText: a bounded box silently clamps what is typed; the range is
        # checked in `_number_problems` and shown on the field instead.
        self.slots = field("slots", widgets.IntText(1))
        self.processes = ProcessCount(self.command, self.args, self.slots, MAX_SLOTS)
        self.processes.on_error = self.report_error
        self.restart = field("restart", widgets.Dropdown(options=(("Never", "Never"),), value="Never"))
        self.backoff = field("backoff", widgets.Text("", placeholder="operator default"))
        self.clean = field("clean", widgets.Dropdown(options=clean_pod_options(), value=""))
        self.ttl = field("ttl", widgets.Text("", placeholder="keep until deleted"))
        self.local_resources_note = widgets.HTML(f"<span class='dtrain-muted'>{esc(LOCAL_RESOURCES_NOTE)}</span>")
        page3 = widgets.VBox([self.roles_box, self.slots, self.processes, self.nproc, self.restart, self.backoff,
                              self.clean, self.ttl, self.local_resources_note])
        # Step 4: review: the job in words first, then the YAML.
        self.summary = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.review = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.review_errors = widgets.HTML("")
        self.review_errors.add_class("dtrain-error")
        self.create_button = widgets.Button(description="Create", button_style="success", icon="check")
        self.yaml_button = widgets.Button(description="Edit as YAML", icon="pencil")
        page4 = widgets.VBox([self.review_errors, self.summary, self.review,
                              widgets.HBox([self.create_button, self.yaml_button])])
        self.pages = widgets.Stack([page1, page2, page3, page4], selected_index=0)
        self.back_button = widgets.Button(description="Back", icon="arrow-left", layout=widgets.Layout(width="auto"))
        self.next_button = widgets.Button(description="Next", icon="arrow-right", layout=widgets.Layout(width="auto"))
        super().__init__(children=(self.edit_box, self.steps_line, self.pages,
                                   widgets.HBox([self.back_button, self.next_button])),
                         layout=widgets.Layout(width="100%"), **kwargs)
        self.add_class("dtrain-wizard")
        self.fields = {"platform": self.platform_field, "mpi_version": self.mpi_version, "name": self.name,
                       "backend": self.backend, "namespace": self.namespace, "image": self.image,
                       "command": self.command, "args": self.args, "env": self.env, "working_dir": self.working_dir,
                       "output": self.output_claim, "output_path": self.output_path, "nproc": self.nproc,
                       "slots": self.slots, "restart": self.restart, "backoff": self.backoff, "clean": self.clean,
                       "ttl": self.ttl}
        for key, one in self.fields.items():
            one.add_class(f"dtrain-field-{key.replace('_', '-')}")
        self.summary.add_class("dtrain-summary-box")
        for note in (self.image_note, self.local_note, self.local_resources_note):
            note.add_class("dtrain-wizard-note")
        self.platform.add_class("dtrain-platform")
        # One place per step for focus to land when a step is drawn under it (assistive.py):
        # Back disabled on step 1, Next on the review, the New page opened from the list.
        # Step 1's stays on the platform, what most jobs change; the Code choice is one Shift+Tab above.
        for first in (self.platform, self.name.control, self.roles_box, self.create_button):
            first.add_class(FOCUS_HERE)
        self.create_button.add_class("dtrain-create")
        self.yaml_button.add_class("dtrain-to-yaml")
        self.next_button.add_class("dtrain-next")
        self.back_button.add_class("dtrain-back")
        self.code.choice.observe(self._on_code, "value")
        self.platform.observe(self._on_platform, "value")
        self.mpi_version.control.observe(self._on_platform, "value")
        self.name.control.observe(self._on_name, "value")
        self.namespace.control.observe(self._on_namespace, "value")
        self.backend.control.observe(self._on_backend, "value")
        self.back_button.on_click(self._on_back)
        self.next_button.on_click(self._on_next)
        self.create_button.on_click(self._on_create)
        self.yaml_button.on_click(self._on_yaml)
        self.leave_button.on_click(self._on_leave)
        self._load_platform()
        self._show_for_backend()
        self._show_for_code()
        self._render_step()

    # ------------------------------------------------------------------ the spec
    @property
    def api_version(self) -> str:
        version = self.mpi_version.value if self.framework == "MPIJob" else "v1"
        return f"kubeflow.org/{version}"

    @property
    def on_kubernetes(self) -> bool:
        """Whether the chosen backend is a Kubernetes one (then the Kubernetes-only fields count)."""
        return backend_kind(self.backend.value) == "kubernetes"

    def target_namespace(self) -> str:
        """The namespace the job would go to: the typed one on Kubernetes, else the backend's own.

        A backend not started yet has not said its namespace; the server then uses "default"
        (its fallback in backends/namespaces.py), and so does this.
        """
        typed = self.namespace.value.strip() if self.on_kubernetes else ""
        return typed or str(self._backend_info().get("namespace") or FALLBACK_NAMESPACE)

    def build_spec(self) -> JobSpec | None:
        """The JobSpec the fields describe; None when a field cannot be read (its error is shown).

        Filled from a manifest, it is that manifest's JobSpec with the fields changed since
        (`wizard_from_manifest.overlay`), so what the wizard has no field for is kept.
        """
        self.clear_errors()
        numbers_bad = self._number_problems()
        spec, problems = self.read_form(kube=self.on_kubernetes)
        if problems or numbers_bad:
            for key, message in problems.items():
                self.fields[key].error = message
            return None
        if self.code.source != "command":
            return self._code_spec(spec)
        return overlay(self.base, spec) if self.base is not None else spec

    def read_form(self, kube: bool) -> tuple[JobSpec, dict[str, str]]:
        """The JobSpec the fields alone say, and {field key: why it cannot be read}.

        Nothing is shown. `kube` False leaves out the fields only Kubernetes uses (what is typed
        into one hidden for the local backend stays in its box, for a switch back, but never
        reaches the job). A field that cannot be read is left unset in the spec.
        """
        problems: dict[str, str] = {}

        def words(key: str, what: str) -> list[str] | None:
            try:
                return shlex.split(self.fields[key].value) or None
            except ValueError as e:
                problems[key] = f"{what} cannot be split into words: {e}"
                return None

        def number(key: str, what: str) -> int | None:
            try:
                return optional_int(self.fields[key].value, what)
            except ValueError as e:
                problems[key] = str(e)
                return None

        env: dict[str, str] = {}
        for n, line in enumerate(self.env.value.splitlines(), start=1):
            if line.strip():
                key, sep, value = line.partition("=")
                if not sep or not key.strip():
                    problems["env"] = f"Line {n}: write NAME=value."
                    break
                env[key.strip()] = value
        roles = {}
        for role, editor in self.role_editors.items():
            if editor.count.value or editor.count.disabled:
                roles[role] = RoleSpec(replicas=int(editor.count.value), **editor.resources())
        claim = self.output_claim.value.strip() if kube else ""
        spec = JobSpec(
            kind=self.framework, api_version=self.api_version, name=self.name.value.strip(),
            namespace=(self.namespace.value.strip() or None) if kube else None,
            image=self.image.value.strip() or None,
            # The command fields count for the Command choice only (hidden for the others).
            command=words("command", "The command") if self.code.source == "command" else None,
            args=words("args", "The arguments") if self.code.source == "command" else None, env=env or None,
            working_dir=(self.working_dir.value.strip() or None) if self.code.source == "command" else None,
            roles=roles, restart_policy=self.restart.value or None,
            backoff_limit=number("backoff", "Retries before the job fails"),
            clean_pod_policy=self.clean.value or None,
            ttl_seconds_after_finished=number("ttl", "The seconds before deleting the job") if kube else None,
            nproc_per_node=(self.nproc.value.strip() or None) if self.framework == "PyTorchJob" else None,
            slots_per_worker=int(self.slots.value) if self.framework == "MPIJob" else None,
            output_volume=OutputVolume(claim, self.output_path.value.strip() or "/output") if claim else None,
        )
        return spec, problems

    def _code_spec(self, wanted: JobSpec) -> JobSpec | None:
        """The job of a notebook function or folder, with the wizard's other fields laid over it.

        The code part (command, arguments, working folder, the code archive, the origin
        annotation) is the library's; roles, resources, image, environment and run policy are
        what the wizard's fields say, as for a command.
        """
        worker = wanted.roles.get("Worker")
        try:
            spec = self.code.build(kind=wanted.kind, name=wanted.name, workers=worker.replicas if worker else None,
                                   image=wanted.image, cpu=None, memory=None, gpu=None, env=wanted.env,
                                   namespace=wanted.namespace,
                                   mpi_version=self.mpi_version.value if wanted.kind == "MPIJob" else None)
        except InvalidJob as e:
            self.show_issues(list(e.issues))
            return None
        if spec is None:
            return None
        for role, asked in wanted.roles.items():
            made = spec.roles.get(role)
            if made is None:
                spec.roles[role] = asked
            else:
                made.replicas, made.cpu, made.memory, made.gpu = asked.replicas, asked.cpu, asked.memory, asked.gpu
        for role in set(spec.roles) - set(wanted.roles):
            del spec.roles[role]
        spec.env = {**(spec.env or {}), **(wanted.env or {})} or None
        spec.restart_policy = wanted.restart_policy or spec.restart_policy
        spec.backoff_limit = wanted.backoff_limit
        spec.clean_pod_policy = wanted.clean_pod_policy or spec.clean_pod_policy
        spec.ttl_seconds_after_finished = wanted.ttl_seconds_after_finished
        spec.nproc_per_node = wanted.nproc_per_node or spec.nproc_per_node
        spec.output_volume = wanted.output_volume or spec.output_volume
        if wanted.kind == "MPIJob":
            # The library starts one process per Worker; the wizard's slots per worker add more.
            spec.slots_per_worker = wanted.slots_per_worker
            workers = (spec.roles["Worker"].replicas or 0) if "Worker" in spec.roles else 0
            total = workers * (wanted.slots_per_worker or 1)
            if total >= 1 and spec.command:
                command, _args = set_process_count(shlex.join(spec.command), "", total)
                spec.command = shlex.split(command)
        if isinstance(spec, CodeJobSpec) and spec.code is not None:
            # Roles the wizard added (a TFJob's Chief, PS) mount the folder's archive too.
            spec = with_code_volume(spec, spec.code)
        return spec

    # ------------------------------------------------------------------ from a manifest
    def edit_rerun(self, job: Job) -> list[str]:
        """Fill the wizard from `job`'s manifest to run it again ("Edit and re-run").

        The name proposed is the next free "<name>-runN"; Create then re-runs `job` with the
        manifest the wizard builds, under the name typed (`Client.rerun`). Returns the paths kept
        from the YAML as they are (also listed at the top of the wizard).

        Raises:
            InvalidJob: the manifest is not one the wizard makes (another kind); the wizard is
                left as it was.
        """
        # The job's backend first: which fields count (the Kubernetes ones or not) depends on it.
        if job.backend in [value for _title, value in self.backend.control.options]:
            self.backend.value = job.backend
        kept = self._fill(job.manifest)
        self.rerun_of = job
        taken = {name for backend, namespace, name in self.taken
                 if backend == job.backend and namespace == job.namespace}
        self.name.value = next_run_name(job.name, taken | {job.name})
        self._show_edit_note(f"Editing a re-run of {job.kind} {job.name}", kept)
        self.step = 1
        return kept

    def open_manifest(self, manifest: Any) -> list[str]:
        """Fill the wizard from a manifest (the YAML editor's "Open in wizard"); Create creates it.

        Returns the paths kept from the YAML as they are. Raises InvalidJob as `edit_rerun`.
        """
        kept = self._fill(manifest)
        self.rerun_of = None
        self._show_edit_note(f"Opened from YAML: {self.framework} {self.name.value}", kept)
        self.step = 1
        return kept

    def leave_edit(self) -> None:
        """Back to a new job: the manifest is forgotten and the platform's starter is loaded."""
        self.base = None
        self.rerun_of = None
        self.edit_box.layout.display = "none"
        self.edit_note.value = ""
        self.name.value = ""
        self._load_platform()
        self.step = 0

    @contextlib.contextmanager
    def filling(self) -> Iterator[None]:
        """Field changes made inside fill the wizard from a manifest; they are not the person's."""
        before, self._filling = self._filling, True
        try:
            yield
        finally:
            self._filling = before

    def select_platform(self, kind: str, mpi_version: str | None = None) -> None:
        """Show `kind` (at `mpi_version` for an MPIJob) with its starter's values in every field."""
        before = (self.platform.value, self.mpi_version.value)
        if mpi_version is not None:
            self.mpi_version.value = mpi_version
        self.platform.value = kind
        if (self.platform.value, self.mpi_version.value) == before:
            self._load_platform()  # no change was seen: load it all the same, from the starter

    def _fill(self, manifest: Any) -> list[str]:
        self.clear_errors()
        previous = self.base
        self.base = None
        try:
            return fill_wizard(self, manifest)
        except InvalidJob:
            self.base = previous
            raise

    def _show_edit_note(self, title: str, kept: list[str]) -> None:
        # Each path whole, wrapping where the panel is narrow (styles.py: .dtrain-wizard-note).
        if kept:
            items = "".join(f"<li><code class='dtrain-yaml-path'>{esc(path)}</code></li>" for path in kept)
            detail = (f"Kept from YAML ({len(kept)}), as written there: the wizard has no field for them."
                      f"<ul class='dtrain-kept'>{items}</ul>")
        else:
            detail = "Nothing is kept aside: every part of the YAML is in the fields."
        self.edit_note.value = f"<b>{esc(title)}</b><br>{detail}"
        self.edit_box.layout.display = ""

    def check(self) -> tuple[JobSpec | None, list[ValidationIssue]]:
        """Build the spec and validate its manifest; every issue is shown next to its field."""
        spec = self.build_spec()
        if spec is None:
            return None, []
        try:
            issues = validate_manifest(spec.to_manifest())
        except InvalidJob as e:
            issues = list(e.issues)
        name_issue = name_problem(spec.name) or self._taken_problem(spec.name)
        if name_issue and not any(i.path == "metadata.name" for i in issues):
            issues.insert(0, ValidationIssue("metadata.name", name_issue))
        self.show_issues(issues)
        return spec, issues

    def show_issues(self, issues: list[ValidationIssue]) -> None:
        """Put each issue next to its field; the rest go to the review step's error list."""
        rest = []
        for issue in issues:
            target = self._route(issue.path)
            if target is None:
                rest.append(issue)
            else:
                target.error = (target.error + " " if target.error else "") + issue.message
        self.review_errors.value = "".join(f"<div>• {esc(i)}</div>" for i in rest)

    def clear_errors(self) -> None:
        for target in (*self.fields.values(), *self.role_editors.values()):
            target.error = ""
        self.code.clear_errors()
        self.review_errors.value = ""

    # ------------------------------------------------------------------ rules and reactions
    @validate("step")
    def _valid_step(self, proposal: dict[str, Any]) -> int:
        """Steps run from 0 to 3."""
        return max(0, min(len(STEPS) - 1, int(proposal["value"])))

    @observe("step")
    @guarded
    def _on_step(self, change: dict[str, Any]) -> None:
        if self.step == len(STEPS) - 1:
            self._render_review()
        self._render_step()

    @observe("backends")
    @guarded
    def _on_backends(self, change: dict[str, Any]) -> None:
        names = tuple(str(b.get("backend")) for b in self.backends if b.get("backend")) or ("local",)
        current = self.backend.value
        self.backend.control.options = tuple((n, n) for n in names)
        self.backend.value = current if current in names else names[0]
        self._on_backend({"new": self.backend.value})

    # ------------------------------------------------------------------ handlers
    @guarded
    def _on_code(self, change: dict[str, Any]) -> None:
        self._show_for_code()

    @guarded
    def _on_platform(self, change: dict[str, Any]) -> None:
        if self.base is not None and not self._filling:
            # Another kind or version is another job: what the manifest had no longer fits it.
            self.base = None
            self.edit_note.value += ("<br><i>The framework changed: the fields make a new job; what was kept "
                                     "from the YAML is left out.</i>")
        self.framework = self.platform.value
        self._load_platform()

    @guarded
    def _on_name(self, change: dict[str, Any]) -> None:
        # Checked as you type: the DNS rule and whether the name is taken where it would go.
        name = str(change["new"]).strip()
        self.name.error = name_problem(name) if name else ""
        if not self.name.error:
            self.name.error = self._taken_problem(name)

    @guarded
    def _on_namespace(self, change: dict[str, Any]) -> None:
        # Another namespace: the name may be free there, or taken.
        self._on_name({"new": self.name.value})

    @guarded
    def _on_backend(self, change: dict[str, Any]) -> None:
        self.namespace.control.placeholder = self._backend_info().get("namespace") or "default of the backend"
        self._show_for_backend()
        # Where the job would go changed: so may whether its name is taken.
        self._on_name({"new": self.name.value})

    @guarded
    def _on_back(self, _button: widgets.Button) -> None:
        self.step -= 1

    @guarded
    def _on_next(self, _button: widgets.Button) -> None:
        if self.step == 1 and name_problem(self.name.value.strip()):
            self.name.error = name_problem(self.name.value.strip())
            return
        if self.step == 2 and self._number_problems():
            return
        self.step += 1

    @guarded
    def _on_create(self, _button: widgets.Button) -> None:
        spec, issues = self.check()
        if spec is not None and self._taken_problem(spec.name):
            # The name is what to fix first; it is a taken name, not an invalid job.
            raise self._taken_error(spec)
        if spec is None or issues:
            raise InvalidJob(issues or [ValidationIssue("", "fix the fields marked in red first")])
        try:
            job = self._create_or_rerun(spec)
        except InvalidJob as e:
            self.show_issues(list(e.issues))
            raise
        except JobExists as e:
            # Taken since the list last said (another panel, the magic): the same words.
            taken = self._taken_error(spec, str(e.fields.get("namespace") or ""))
            self.name.error = describe_error(taken)
            raise taken from e
        self.name.value = ""
        self.clear_errors()
        if self.base is not None or self.rerun_of is not None:
            self.leave_edit()
        self.step = 0
        self._on_created(job)

    @guarded
    def _on_leave(self, _button: widgets.Button) -> None:
        self.leave_edit()

    def _create_or_rerun(self, spec: JobSpec) -> Any:
        """Create the job, or re-run the job being edited with this manifest under the typed name."""
        old = self.rerun_of
        if old is None:
            return self.client.create(spec, backend=self.backend.value or None, namespace=spec.namespace)
        return self.client.rerun(old.name, kind=old.kind, namespace=old.namespace, backend=old.backend,
                                 new_name=spec.name, manifest=spec.to_manifest())

    @guarded
    def _on_yaml(self, _button: widgets.Button) -> None:
        if self.code.source == "folder":
            raise InvalidJob([ValidationIssue("", FOLDER_YAML_NOTE)])
        spec = self.build_spec()
        if spec is None:
            raise InvalidJob([ValidationIssue("", "fix the fields marked in red first")])
        self._on_edit_yaml(spec.to_yaml())

    # ------------------------------------------------------------------ internals
    def _backend_info(self) -> dict[str, Any]:
        """describe() of the chosen backend; empty until the server has said."""
        return next((b for b in self.backends if b.get("backend") == self.backend.value), {})

    def _taken_problem(self, name: str) -> str:
        """The "Name taken" words when a listed job has this name where the job would go, else ""."""
        namespace = self.target_namespace()
        if (self.backend.value, namespace, name) in self.taken:
            return name_taken(name, f"{self.backend.value}/{namespace}")
        return ""

    def _taken_error(self, spec: JobSpec, namespace: str = "") -> JobExists:
        """The JobExists for `spec`'s name where the job would go (the banner names the backend)."""
        return JobExists(spec.kind, spec.name, namespace or self.target_namespace(), backend=self.backend.value)

    def _number_problems(self) -> bool:
        """Show every replica, GPU and slot count out of its range on its field; True if any."""
        bad = False
        for editor in self.role_editors.values():
            bad = editor.show_problem() or bad
        slots = self.slots.value
        wrong = self.framework == "MPIJob" and not 1 <= slots <= MAX_SLOTS
        self.slots.error = f"Slots per worker must be 1 to {MAX_SLOTS} (got {slots})." if wrong else ""
        return bad or wrong

    def _load_platform(self) -> None:
        """Fill the fields from the platform's starter template (a program that really runs)."""
        kind = self.framework
        self.processes.watch_workers(None)  # until the new roles are in place: nothing to follow
        self.mpi_version.layout.display = "" if kind == "MPIJob" else "none"
        template = JobSpec.from_yaml(starter_yaml(kind, self.mpi_version.value if kind == "MPIJob" else None))
        fw = template.framework
        self.image.control.options = IMAGE_SUGGESTIONS[kind]
        self.image.value = template.image or DEFAULT_IMAGES[kind]
        with self.processes.writing():
            self.command.value = shlex.join(template.command or [])
            self.args.value = shlex.join(template.args or [])
        self.env.value = "\n".join(f"{k}={v}" for k, v in (template.env or {}).items())
        editors = []
        for role, fixed, gpu_ok in ROLES[kind]:
            count = template.roles[role].replicas if role in template.roles else 0
            editors.append(RoleEditor(role, fixed if fixed is not None else int(count or 0),
                                      fixed=fixed is not None, gpu_allowed=gpu_ok,
                                      maximum=1 if role in ("Chief", "Evaluator") else 64,
                                      words=ROLE_WORDS.get((kind, role), ""), yaml_paths=role_paths(fw, role)))
        for editor in editors:
            editor.on_error = self.report_error
        for old in self.role_editors.values():
            old.close()
        self.role_editors = {e.role: e for e in editors}
        self.roles_box.children = tuple(editors)
        self.restart.control.options = restart_options(fw)
        self.restart.value = template.restart_policy or fw.default_restart_for("Worker")
        # The starter's run policy too (the MPI one stops leftover Workers: cleanPodPolicy Running).
        self.clean.value = template.clean_pod_policy or ""
        self.backoff.value = "" if template.backoff_limit is None else str(template.backoff_limit)
        self.ttl.value = "" if template.ttl_seconds_after_finished is None else str(template.ttl_seconds_after_finished)
        with self.processes.writing():
            self.slots.value = template.slots_per_worker or 1
        self.nproc.layout.display = "" if kind == "PyTorchJob" else "none"
        self.slots.layout.display = "" if kind == "MPIJob" else "none"
        worker = self.role_editors.get("Worker") if kind == "MPIJob" else None
        self.processes.watch_workers(worker.count if worker is not None else None)
        self.processes.start_over(active=kind == "MPIJob" and self.code.source == "command")
        for key, one in self.fields.items():
            one.yaml_path = yaml_path(key, fw)
            one.hint_text = hint_for(key, fw)
        self.clear_errors()

    def _show_for_code(self) -> None:
        """The command fields for "Command"; the chosen option's own fields for the others
        (CodeChoice shows those itself; the call here is for the first drawing)."""
        self.code.show()
        command = self.code.source == "command"
        for key in COMMAND_FIELDS:
            self.fields[key].layout.display = "" if command else "none"
        # mpirun -np follows the Command fields; the other choices write their own mpirun line.
        self.processes.active = self.framework == "MPIJob" and command
        folder = self.code.source == "folder"
        self.yaml_button.disabled = folder
        self.yaml_button.tooltip = FOLDER_YAML_NOTE if folder else "Open this job's YAML in the editor"

    def _show_for_backend(self) -> None:
        """Kubernetes-only fields for a Kubernetes backend; the local notes for the local one."""
        kube = self.on_kubernetes
        for key in KUBERNETES_ONLY:
            self.fields[key].layout.display = "" if kube else "none"
        for note in (self.image_note, self.local_note, self.local_resources_note):
            note.layout.display = "none" if kube else ""

    def _render_review(self) -> None:
        """The summary in words, then the YAML; only a note when a field cannot be read."""
        spec, _issues = self.check()
        if spec is None:
            self.summary.value = ""
            self.review.value = "<i>Fix the fields marked in red first.</i>"
            return
        where = Where(backend=self.backend.value, kind=backend_kind(self.backend.value),
                      namespace=self.target_namespace(), context=str(self._backend_info().get("context") or ""))
        launch = None
        if spec.kind == "MPIJob":
            launch = (self.processes.launch() if self.code.source == "command"
                      else find_launch(shlex.join(spec.command or [])))
        self.summary.value = summary_html(spec, where, launch, code=self.code.origin_words(spec))
        self.review.value = ("<b>The YAML that will be sent</b> <span class='dtrain-muted'>(Edit as YAML to "
                             "change it)</span><pre class='dtrain-preview' tabindex='0' role='region' "
                             f"aria-label='The YAML that will be sent'>{esc(spec.to_yaml())}</pre>")

    def _route(self, path: str) -> Field | RoleEditor | None:
        if path.startswith("metadata.name"):
            return self.name
        if path.startswith("metadata.namespace"):
            return self.namespace
        run = {"backoffLimit": "backoff", "cleanPodPolicy": "clean", "ttlSecondsAfterFinished": "ttl"}
        for key, field in run.items():
            if key in path:
                return self.fields[field]
        if "nprocPerNode" in path:
            return self.nproc
        if "slotsPerWorker" in path:
            return self.slots
        m = re.match(r"spec\.\w+ReplicaSpecs\.(\w+)(.*)$", path)
        if m:
            role, rest = m.group(1), m.group(2)
            for key, field in (("image", "image"), ("command", "command"), ("args", "args"), ("env", "env"),
                               ("workingDir", "working_dir"), ("restartPolicy", "restart"),
                               ("volumeMounts", "output_path"), ("volume", "output")):
                if key in rest:
                    return self.fields[field]
            editor = self.role_editors.get(role)
            if editor is not None:
                return editor
        return None

    def _render_step(self) -> None:
        self.pages.selected_index = self.step
        self.steps_line.value = " › ".join(
            f"<b>{i + 1} {esc(s)}</b>" if i == self.step else f"<span class='dtrain-muted'>{i + 1} {esc(s)}</span>"
            for i, s in enumerate(STEPS))
        self.back_button.disabled = self.step == 0
        self.next_button.disabled = self.step == len(STEPS) - 1
