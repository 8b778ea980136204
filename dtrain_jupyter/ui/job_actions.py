"""The Jobs toolbar's buttons for the ticked jobs beyond New and Delete: Re-run, Edit and re-run,
Forget, Suspend and Resume.

Each shows only when it can act on what is ticked, so the toolbar offers what makes sense:
Re-run for any job, live or past; Edit and re-run for one job; Forget for past jobs (those only
the job history remembers; Delete is for jobs still on their cluster); Suspend and Resume for
live jobs whose backend lists the `suspend` capability (`Client.backends()`, capabilities.py);
Metrics for any ticked jobs (one job's charts, or several compared); TensorBoard for live ones
(tensorboard_action.py).
Their flows speak in the panel's message lines (`DTrainApp.say`), never with a traceback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Sequence

import ipywidgets as widgets

from ..model.job import Job
from ..model.status import Phase
from .callbacks import describe_error, guarded
from .capabilities import SUSPEND, offers
from .tensorboard_action import TensorBoardAction
from .words import esc, forget_words, job_ref

if TYPE_CHECKING:
    from .app import DTrainApp
    from .rerun_editor import RerunEditor

log = logging.getLogger(__name__)

FLOW_RERUN = "rerun"
FLOW_FORGET = "forget"
FLOW_SUSPEND = "suspend"
# Phases a job can be suspended from: it has not ended, is not already suspended or going away.
_SUSPENDABLE = (Phase.PENDING, Phase.RUNNING, Phase.RESTARTING)


def can_suspend(job: Job, backends: Sequence[dict[str, Any]]) -> bool:
    """A live job that is running or about to, on a backend that can suspend."""
    return not job.removed and job.phase in _SUSPENDABLE and offers(backends, job.backend, SUSPEND)


def can_resume(job: Job, backends: Sequence[dict[str, Any]]) -> bool:
    """A live, suspended job on a backend that can suspend (and so resume)."""
    return not job.removed and job.phase == Phase.SUSPENDED and offers(backends, job.backend, SUSPEND)


class JobActions:
    """The buttons, their visibility rules and their flows, for one panel.

    Args:
        panel: the `DTrainApp` whose ticked jobs they act on and whose lines they speak in.
        button_style: the panel's shared ButtonStyle.
    """

    def __init__(self, panel: "DTrainApp", button_style: Any) -> None:
        self.panel = panel

        def button(description: str, icon: str, tooltip: str, css: str, **extra: Any) -> widgets.Button:
            # A Layout each: each button shows and hides on its own.
            return widgets.Button(description=description, icon=icon, tooltip=tooltip, style=button_style,
                                  layout=widgets.Layout(width="auto", display="none"), _dom_classes=(css,), **extra)

        self.rerun_button = button("Re-run", "repeat", "Run the ticked jobs again, each under a new name",
                                   "dtrain-rerun")
        self.edit_button = button("Edit and re-run", "edit", "Open the ticked job's manifest to change it, then run "
                                  "it again", "dtrain-edit-rerun")
        self.forget_button = button("Forget", "eraser", "Remove the ticked past jobs from the job history: their "
                                    "records, archived logs and kept code", "dtrain-forget", button_style="warning")
        self.suspend_button = button("Suspend", "pause", "Stop the ticked jobs' replicas and keep the jobs, to "
                                     "resume later", "dtrain-suspend")
        self.resume_button = button("Resume", "play", "Start the ticked suspended jobs' replicas again",
                                    "dtrain-resume")
        # One ticked job: its charts; several: Compare overlays them (compare.py).
        self.metrics_button = button("Metrics", "line-chart", "Charts of the ticked job's metrics; with several "
                                     "ticked, their curves compared", "dtrain-metrics")
        self.tensorboard = TensorBoardAction(panel, button(
            "TensorBoard", "area-chart", "Open TensorBoard over the ticked jobs' event files (in a JupyterLab tab)",
            "dtrain-tensorboard"))
        self.buttons = (self.rerun_button, self.edit_button, self.forget_button, self.suspend_button,
                        self.resume_button, self.metrics_button, self.tensorboard.button)
        # The YAML way of Edit and re-run (rerun_editor.py); built on first use, shown above the list.
        self.editor_box = widgets.VBox(layout=widgets.Layout(display="none", width="100%"),
                                       _dom_classes=("dtrain-rerun-box",))
        self._editor: RerunEditor | None = None
        self.rerun_button.on_click(self._on_rerun)
        self.edit_button.on_click(self._on_edit)
        self.forget_button.on_click(self._on_forget)
        self.suspend_button.on_click(self._on_suspend)
        self.resume_button.on_click(self._on_resume)
        self.metrics_button.on_click(self._on_metrics)

    def report_error(self, exc: BaseException) -> None:
        self.panel.report_error(exc)

    # ------------------------------------------------------------------ visibility
    def update(self, jobs: Sequence[Job], backends: Sequence[dict[str, Any]]) -> None:
        """Show the buttons that can act on `jobs` (the ticked ones), hide the others."""
        shown = {
            self.rerun_button: bool(jobs),
            self.edit_button: len(jobs) == 1,
            self.forget_button: any(j.removed for j in jobs),
            self.suspend_button: any(can_suspend(j, backends) for j in jobs),
            self.resume_button: any(can_resume(j, backends) for j in jobs),
            self.metrics_button: bool(jobs),
            self.tensorboard.button: self.tensorboard.can_open(jobs),
        }
        for widget, visible in shown.items():
            display = "" if visible else "none"
            if widget.layout.display != display:
                widget.layout.display = display

    def set_busy(self, busy: bool) -> None:
        for widget in self.buttons:
            widget.disabled = busy

    @property
    def editor(self) -> RerunEditor:
        """The YAML re-run editor, built the first time it is asked for."""
        if self._editor is None:
            # Imported here: the editor brings YAML, validation and the code editor, about 35 ms
            # of the panel's imports on its first render (issue 18, the cold click).
            from .rerun_editor import RerunEditor

            self._editor = RerunEditor(self.panel.client, self._rerun_done, self._close_editor)
            self._editor.on_error = self.report_error
            self.editor_box.children = (self._editor,)
        return self._editor

    # ------------------------------------------------------------------ flows
    def rerun(self, jobs: Sequence[Job]) -> list[Job]:
        """Run each job again under "<name>-runN"; the new jobs are listed and ticked."""
        created: list[Job] = []
        said: list[str] = []
        failures: list[str] = []
        for job in jobs:
            try:
                new = self.panel.client.rerun(job.name, kind=job.kind, namespace=job.namespace, backend=job.backend)
            except Exception as exc:  # noqa: BLE001 - one failure must not stop the others
                failures.append(f"{job_ref(job)}: {describe_error(exc)}")
                continue
            self.panel.upsert(new)
            created.append(new)
            said.append(f"Re-run of {job_ref(job)} created as {new.name}")
        if created:
            self.panel.selected = tuple(j.uid for j in created)
        self.panel.say(FLOW_RERUN, info="; ".join(said),
                       error="Could not re-run:\n" + "\n".join(failures) if failures else "")
        return created

    def edit(self, job: Job) -> None:
        """Open `job` for editing before it runs again: the wizard filled from its manifest where the
        wizard offers that (`Wizard.edit_rerun`), else its YAML (rerun_editor.py), which takes any
        manifest."""
        wizard = self.panel.pages.wizard
        fill = getattr(wizard, "edit_rerun", None)
        note = ""
        if fill is not None:
            try:
                fill(job)
            except Exception as exc:  # noqa: BLE001 - the YAML below is the way that always works
                log.warning("the wizard cannot show %s: %s", job_ref(job), exc, exc_info=True)
                note = f"The wizard cannot show this manifest ({describe_error(exc)}); here is its YAML."
            else:
                self.panel.rerun_of = job
                self.panel.pages.mode.value = "Wizard"
                self.panel.show_tab("New")
                return
        taken = [j.name for j in self.panel.job_list.everything().values()
                 if (j.backend, j.namespace, j.kind) == (job.backend, job.namespace, job.kind)]
        self.editor.fill(job, taken, note)
        self.editor_box.layout.display = ""
        self.editor.reveal_name()

    def confirm_forget_html(self, jobs: Sequence[Job]) -> str:
        """The confirmation's words: each past job and what goes with it."""
        items = "".join(f"<li><b>{esc(job_ref(j))}</b>: {esc(forget_words(j))}</li>" for j in jobs)
        count = len(jobs)
        return (f"<b>Forget {count} past job{'s' if count != 1 else ''}?</b><ul>{items}</ul>"
                "This cannot be undone.")

    def forget(self, jobs: Sequence[Job]) -> None:
        """Remove past jobs from the job history; their rows go."""
        gone: list[str] = []
        failures: list[str] = []
        for job in jobs:
            try:
                self.panel.client.forget(job.name, kind=job.kind, namespace=job.namespace, backend=job.backend)
            except Exception as exc:  # noqa: BLE001 - one failure must not stop the others
                failures.append(f"{job_ref(job)}: {describe_error(exc)}")
                continue
            self.panel.job_list.drop_past(job.uid)
            gone.append(job_ref(job))
        self.panel.say(FLOW_FORGET, info=f"Forgot {', '.join(gone)}" if gone else "",
                       error="Could not forget:\n" + "\n".join(failures) if failures else "")

    def suspend(self, jobs: Sequence[Job], resume: bool = False) -> None:
        """Suspend (or resume) each job that can be; the others are named and left alone."""
        verb = "resume" if resume else "suspend"
        done: list[str] = []
        failures: list[str] = []
        backends = self.panel.job_list.backends
        for job in jobs:
            if not (can_resume if resume else can_suspend)(job, backends):
                failures.append(f"{job_ref(job)}: {self._why_not(job, resume)}")
                continue
            call: Callable[..., Job] = getattr(self.panel.client, verb)
            try:
                changed = call(job.name, kind=job.kind, namespace=job.namespace, backend=job.backend)
            except Exception as exc:  # noqa: BLE001 - one failure must not stop the others
                failures.append(f"{job_ref(job)}: {describe_error(exc)}")
                continue
            if isinstance(changed, Job) and changed.uid == job.uid:
                self.panel.upsert(changed)
            done.append(job_ref(job))
        self.panel.say(FLOW_SUSPEND, info=f"{'Resumed' if resume else 'Suspended'} {', '.join(done)}" if done else "",
                       error=f"Could not {verb}:\n" + "\n".join(failures) if failures else "")

    def _why_not(self, job: Job, resume: bool) -> str:
        if job.removed:
            return "it has left its cluster"
        if not offers(self.panel.job_list.backends, job.backend, SUSPEND):
            return f"the {job.backend} backend cannot suspend jobs"
        if resume:
            return f"it is {job.phase.value}, not Suspended"
        return f"it is {job.phase.value}: only a pending or running job can be suspended"

    # ------------------------------------------------------------------ handlers
    @guarded
    def _on_rerun(self, _button: widgets.Button) -> None:
        jobs = self.panel.ticked_jobs()
        self.panel.busy = True
        try:
            self.rerun(jobs)
        finally:
            self.panel.busy = False

    @guarded
    def _on_edit(self, _button: widgets.Button) -> None:
        jobs = self.panel.ticked_jobs()
        if len(jobs) != 1:
            self.panel.say(FLOW_RERUN, error="Tick one job to edit and re-run.")
            return
        self.edit(jobs[0])

    @guarded
    def _on_forget(self, _button: widgets.Button) -> None:
        past = [j for j in self.panel.ticked_jobs() if j.removed]
        if not past:
            self.panel.say(FLOW_FORGET, error="Tick past jobs to forget (live jobs are deleted with Delete).")
            return
        self.panel.ask("forget", self.confirm_forget_html(past), "Yes, forget")

    @guarded
    def _on_suspend(self, _button: widgets.Button) -> None:
        self._run_suspend(resume=False)

    @guarded
    def _on_resume(self, _button: widgets.Button) -> None:
        self._run_suspend(resume=True)

    @guarded
    def _on_metrics(self, _button: widgets.Button) -> None:
        self.panel.show_metrics(self.panel.ticked_jobs())

    def _run_suspend(self, resume: bool) -> None:
        jobs = self.panel.ticked_jobs()
        self.panel.busy = True
        try:
            self.suspend(jobs, resume=resume)
        finally:
            self.panel.busy = False

    def _rerun_done(self, old: Job, new: Job) -> None:
        self.panel.upsert(new)
        self.panel.selected = (new.uid,)
        self.panel.say(FLOW_RERUN, info=f"Re-run of {job_ref(old)} created as {new.name}")

    def _close_editor(self) -> None:
        self.editor_box.layout.display = "none"
