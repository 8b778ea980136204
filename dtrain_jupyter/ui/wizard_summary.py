"""The review step's summary: a job in plain words, before the YAML that will be sent.

What a person checks before pressing Create: which framework, where it runs, how many
replicas with how much CPU, memory and GPU (each and in total), what runs, and what happens
when it ends. Pure functions from a `JobSpec` to escaped HTML (every user value goes through
`esc`), so tests read the words without widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from decimal import Decimal

from ..model.mpi_command import MpiLaunch
from ..model.quantity import parse_quantity
from ..model.spec import JobSpec
from .wizard_words import CLEAN_POD_WORDS, RESTART_WORDS
from .words import esc, span

__all__ = ["Where", "Totals", "summary_html", "totals", "mpi_words", "kind_words", "memory_words", "end_words",
           "command_words"]

_BINARY_UNITS = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


@dataclass(frozen=True)
class Where:
    """Where the job goes: the backend's name and kind, and the namespace on Kubernetes."""

    backend: str
    kind: str               # "local" or "kubernetes"
    namespace: str = ""     # shown on Kubernetes only: a local job's namespace is a folder
    context: str = ""       # the kube context, when the backend says


@dataclass(frozen=True)
class Totals:
    """The job's replicas and resources added up over every role (replicas × each).

    `cpu` and `memory` are None when no role sets them; `unset` names the roles that set none
    while others do (their pods take what the cluster gives them).
    """

    replicas: int
    cpu: Decimal | None
    memory: Decimal | None
    gpus: int
    cpu_unset: tuple[str, ...] = ()
    memory_unset: tuple[str, ...] = ()


def kind_words(spec: JobSpec) -> str:
    """"PyTorch (PyTorchJob)", "Horovod / MPI (MPIJob v2beta1)"."""
    fw = spec.framework
    version = f" {fw.version}" if spec.kind == "MPIJob" else ""
    return f"{fw.title} ({spec.kind}{version})"


def totals(spec: JobSpec) -> Totals:
    """Replicas, CPU, memory and GPUs of the whole job. Raises ValueError for an unreadable quantity."""
    replicas = gpus = 0
    sums: dict[str, Decimal | None] = {"cpu": None, "memory": None}
    unset: dict[str, list[str]] = {"cpu": [], "memory": []}
    for role_name, role in spec.roles.items():
        count = role.replicas or 0
        replicas += count
        gpus += count * (role.gpu or 0)
        for key in ("cpu", "memory"):
            value = getattr(role, key)
            if value is None:
                unset[key].append(role_name)
            else:
                sums[key] = (sums[key] or Decimal(0)) + count * parse_quantity(value)
    return Totals(replicas=replicas, cpu=sums["cpu"], memory=sums["memory"], gpus=gpus,
                  cpu_unset=tuple(unset["cpu"]) if sums["cpu"] is not None else (),
                  memory_unset=tuple(unset["memory"]) if sums["memory"] is not None else ())


def memory_words(value: Decimal) -> str:
    """Bytes in the largest binary unit that keeps it above 1: 12884901888 -> "12Gi"."""
    for unit, size in _BINARY_UNITS:
        if value >= size:
            return f"{_number(value / size)}{unit}"
    return f"{_number(value)} bytes"


def mpi_words(spec: JobSpec, launch: MpiLaunch | None) -> str:
    """How many processes mpirun starts, against the slots the Workers offer.

    The operators write one hostfile line per Worker with `slotsPerWorker` slots (contract §4,
    §5), so Workers × slots is what a `-np` should match; a different count is the person's
    choice and is said plainly ("mpirun starts 3 processes on 4 slots").
    """
    workers = (spec.roles["Worker"].replicas or 0) if "Worker" in spec.roles else 0
    slots_each = spec.slots_per_worker or 1
    slots = workers * slots_each
    shape = f"{workers} Worker{_s(workers)} × {slots_each} slot{_s(slots_each)} per worker"
    if launch is None:
        return f"The Launcher's command runs no mpirun; the Workers offer {slots} slot{_s(slots)} ({shape})."
    if launch.option is None:
        return f"{launch.launcher} starts one process per slot: {slots} ({shape})."
    if launch.count is None:
        return (f"{launch.launcher} {launch.option} {launch.value}: the process count is set in the command; "
                f"the Workers offer {slots} slot{_s(slots)} ({shape}).")
    if launch.count == slots:
        return f"{launch.launcher} starts {slots} process{_es(slots)}, one per slot ({shape})."
    return (f"{launch.launcher} starts {launch.count} process{_es(launch.count)} on {slots} slot{_s(slots)} "
            f"({shape}).")


def summary_html(spec: JobSpec, where: Where, launch: MpiLaunch | None = None, code: str = "") -> str:
    """The summary block (escaped HTML) for `spec` going to `where`; `launch` is the MPI Launcher's
    mpirun; `code` says where the job's code comes from ("train.py from /p (3 files, 1.2 KiB)",
    `code/origin.py`), "" for a command the image runs."""
    rows = [_line("Job", f"<b>{esc(kind_words(spec))}</b> <code>{esc(spec.name)}</code>"),
            _line("Runs on", _where_html(where))]
    out = [f"<div class='dtrain-summary'>{''.join(rows)}", _roles_table(spec)]
    if spec.kind == "MPIJob":
        out.append(_line("Processes", esc(mpi_words(spec, launch))))
    elif spec.nproc_per_node:
        out.append(_line("Processes", esc(f"torchrun starts {spec.nproc_per_node} per replica (nprocPerNode)")))
    if code:
        # The command is then the runner program with the code as its arguments: the YAML shows it.
        out.append(_line("Code", esc(code)))
    else:
        runner = "The Launcher runs" if spec.kind == "MPIJob" else "Every replica runs"
        out.append(_line(runner, f"<code class='dtrain-summary-command'>{esc(command_words(spec))}</code>"))
    out.extend(_line(title, esc(words)) for title, words in end_words(spec, where))
    out.append("</div>")
    return "".join(out)


# ------------------------------------------------------------------------------------- parts
def _line(title: str, body_html: str) -> str:
    return f"<div class='dtrain-summary-line'><span class='dtrain-summary-key'>{esc(title)}</span> {body_html}</div>"


def _where_html(where: Where) -> str:
    if where.kind == "local":
        return f"<b>{esc(where.backend)}</b>: processes on this machine (local backend)"
    context = f" (context {esc(where.context)})" if where.context else ""
    namespace = esc(where.namespace) if where.namespace else "the backend's default"
    return f"<b>{esc(where.backend)}</b>: a Kubernetes cluster{context}, namespace <b>{namespace}</b>"


def _roles_table(spec: JobSpec) -> str:
    head = "<tr><th>Role</th><th>Replicas</th><th>CPU each</th><th>Memory each</th><th>GPUs each</th></tr>"
    body = []
    for name, role in spec.roles.items():
        cells = (name, role.replicas or 0, role.cpu or "not set", role.memory or "not set", role.gpu or 0)
        body.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    try:
        t = totals(spec)
        cpu = _total_words(t.cpu, t.cpu_unset, _number)
        memory = _total_words(t.memory, t.memory_unset, memory_words)
        total = (f"<tr class='dtrain-summary-total'><td>Total</td><td>{t.replicas}</td><td>{esc(cpu)}</td>"
                 f"<td>{esc(memory)}</td><td>{t.gpus}</td></tr>")
    except ValueError as e:  # a quantity that does not read; its field shows why
        total = f"<tr class='dtrain-summary-total'><td>Total</td><td colspan='4'>{esc(e)}</td></tr>"
    return f"<table class='dtrain-table dtrain-summary-roles'>{head}{''.join(body)}{total}</table>"


def _total_words(value: Decimal | None, unset: tuple[str, ...], words: Callable[[Decimal], str]) -> str:
    if value is None:
        return "not set"
    text = words(value)
    return f"{text} + {', '.join(unset)} not set" if unset else text


def command_words(spec: JobSpec) -> str:
    """The command line as a person reads it: the program, then its words, separated by spaces.

    Not shell syntax, so no shell escapes (`'"'"'`): a word with spaces in it is set in double
    quotes only to show where it begins and ends, and a multi-line program (`python -c`) is its
    first line and "… (+N lines)"; the YAML under the summary has every word exactly.
    """
    parts = []
    for word in [*(spec.command or []), *(spec.args or [])]:
        lines = word.strip().splitlines()
        if len(lines) > 1:
            more = len(lines) - 1
            parts.append(f"{lines[0]} … (+{more} line{_s(more)})")
        elif not word or any(c.isspace() for c in word):
            parts.append(f'"{word}"')
        else:
            parts.append(word)
    return " ".join(parts) or "the image's own command"


def end_words(spec: JobSpec, where: Where) -> list[tuple[str, str]]:
    """(title, words) for what happens when replicas stop and when the job ends (contract §1.5, §1.6)."""
    clean = spec.clean_pod_policy
    clean_words = (f"{CLEAN_POD_WORDS[clean]} (cleanPodPolicy {clean})" if clean in CLEAN_POD_WORDS
                   else f"{CLEAN_POD_WORDS['None']} (cleanPodPolicy not set: the operator's default, None)")
    restart = spec.restart_policy or ""
    restart_words = (f"{RESTART_WORDS[restart]} (restartPolicy {restart})" if restart in RESTART_WORDS
                     else "the operator's default for each role")
    limit = spec.backoff_limit
    retries = (f"{limit} restart{_s(limit)}, then the job fails (backoffLimit)" if limit is not None
               else "the operator's default (backoffLimit not set)")
    ttl = spec.ttl_seconds_after_finished
    if where.kind != "kubernetes" or ttl is None:
        kept = "the job stays until you delete it"
    elif spec.kind == "MPIJob" and spec.framework.version == "v2beta1":
        kept = (f"the Launcher is removed {ttl} s ({span(ttl) or '0s'}) after the job ends; the MPIJob stays "
                f"(ttlSecondsAfterFinished)")
    else:
        kept = f"the job and its pods are deleted {ttl} s ({span(ttl) or '0s'}) after it ends (ttlSecondsAfterFinished)"
    return [("Restarts", restart_words), ("Retries", retries), ("When the job ends, other replicas", clean_words),
            ("Afterwards", kept)]


def _number(value: Decimal) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _es(n: int) -> str:
    return "" if n == 1 else "es"
