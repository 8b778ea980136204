"""The review's summary: totals over roles, MPI's processes against slots, the end of a job in words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dtrain_jupyter.model.builders import MPIJob, PyTorchJob, TFJob
from dtrain_jupyter.model.mpi_command import find_launch
from dtrain_jupyter.ui.wizard_summary import (Where, command_words, end_words, kind_words, memory_words, mpi_words,
                                              summary_html, totals)

LOCAL = Where(backend="local", kind="local", namespace="default")
KUBE = Where(backend="kubernetes", kind="kubernetes", namespace="team-a", context="lab")


def test_totals_multiply_each_role_by_its_replicas() -> None:
    job = TFJob("t", command="python t.py", workers=4, ps=2, chief=True, cpu="1500m", memory="2Gi", gpu=2)
    t = totals(job)
    # Chief 1 + Workers 4 + PS 2; GPUs go to Chief and Workers only (PS never gets one).
    assert (t.replicas, t.cpu, t.memory, t.gpus) == (7, Decimal("10.5"), Decimal(14 * 2**30), 10)
    assert t.cpu_unset == () and t.memory_unset == ()


def test_totals_name_the_roles_that_set_nothing() -> None:
    job = PyTorchJob("p", command="python t.py", workers=2)
    job.roles["Worker"].cpu = "4"
    t = totals(job)
    assert t.cpu == Decimal(8) and t.cpu_unset == ("Master",)
    assert t.memory is None and t.memory_unset == ()
    html = summary_html(job, LOCAL)
    assert "<td>Total</td><td>3</td><td>8 + Master not set</td><td>not set</td><td>0</td>" in html


def test_an_unreadable_quantity_is_said_in_the_total() -> None:
    job = PyTorchJob("p", command="python t.py", workers=1)
    job.roles["Worker"].cpu = "2x"
    assert "is not a quantity" in summary_html(job, LOCAL)


@pytest.mark.parametrize("value, words", [
    (Decimal(4 * 2**30), "4Gi"), (Decimal(1536 * 2**20), "1.5Gi"), (Decimal(512 * 2**20), "512Mi"),
    (Decimal(4 * 10**9), "3.73Gi"), (Decimal(100), "100 bytes"),
], ids=["gi", "fraction", "mi", "decimal-units", "bytes"])
def test_memory_words(value: Decimal, words: str) -> None:
    assert memory_words(value) == words


@pytest.mark.parametrize("args, words", [
    ("-np 4 python t.py", "mpirun starts 4 processes, one per slot (2 Workers × 2 slots per worker)."),
    ("-np 3 python t.py", "mpirun starts 3 processes on 4 slots (2 Workers × 2 slots per worker)."),
    ("python t.py", "mpirun starts one process per slot: 4 (2 Workers × 2 slots per worker)."),
    ("-np $NP python t.py", "mpirun -np $NP: the process count is set in the command; the Workers offer 4 slots "
                            "(2 Workers × 2 slots per worker)."),
], ids=["matches", "differs", "absent", "not-a-number"])
def test_mpi_processes_against_slots(args: str, words: str) -> None:
    job = MPIJob("m", command="mpirun", args=args, workers=2, slots_per_worker=2)
    assert mpi_words(job, find_launch("mpirun", args)) == words


def test_mpi_without_mpirun() -> None:
    job = MPIJob("m", command="python t.py", workers=3)
    assert mpi_words(job, find_launch("python t.py")) == (
        "The Launcher's command runs no mpirun; the Workers offer 3 slots (3 Workers × 1 slot per worker).")


def test_what_happens_at_the_end() -> None:
    job = PyTorchJob("p", command="python t.py", restart_policy="ExitCode", backoff_limit=1,
                     clean_pod_policy="Running", ttl_seconds_after_finished=90)
    assert dict(end_words(job, KUBE)) == {
        "Restarts": "restarted when killed (exit code 128 and up); 1-127 fails the job (restartPolicy ExitCode)",
        "Retries": "1 restart, then the job fails (backoffLimit)",
        "When the job ends, other replicas": "stop the running ones (cleanPodPolicy Running)",
        "Afterwards": "the job and its pods are deleted 90 s (1m30s) after it ends (ttlSecondsAfterFinished)",
    }
    # The local backend applies no TTL (backends/local/replicas.py): the summary does not promise one.
    assert dict(end_words(job, LOCAL))["Afterwards"] == "the job stays until you delete it"
    plain = PyTorchJob("p", command="python t.py", restart_policy=None)
    assert dict(end_words(plain, KUBE)) == {
        "Restarts": "the operator's default for each role",
        "Retries": "the operator's default (backoffLimit not set)",
        "When the job ends, other replicas": "let them finish (cleanPodPolicy not set: the operator's default, None)",
        "Afterwards": "the job stays until you delete it",
    }


def test_the_mpi_operator_ttl_removes_the_launcher_only() -> None:
    job = MPIJob("m", command="mpirun python t.py", ttl_seconds_after_finished=60)
    assert dict(end_words(job, KUBE))["Afterwards"].startswith("the Launcher is removed 60 s (1m) after the job ends")
    v1 = MPIJob("m", command="mpirun python t.py", ttl_seconds_after_finished=60, version="v1")
    assert dict(end_words(v1, KUBE))["Afterwards"].startswith("the job and its pods are deleted")


def test_kind_and_where_in_words_and_user_text_escaped() -> None:
    assert kind_words(PyTorchJob("p", command="x")) == "PyTorch (PyTorchJob)"
    assert kind_words(MPIJob("m", command="mpirun x")) == "Horovod / MPI (MPIJob v2beta1)"
    job = PyTorchJob("p", command=["python", "-c", "print('<b>hi</b>')\nprint(2)\nprint(3)"])
    html = summary_html(job, Where(backend="kubernetes", kind="kubernetes", namespace="<ns>"))
    assert "<b>hi</b>" not in html and "&lt;b&gt;hi&lt;/b&gt;" in html
    assert "(+2 lines)" in html  # a multi-line program is shortened to its first line
    assert "namespace <b>&lt;ns&gt;</b>" in html
    assert "processes on this machine (local backend)" in summary_html(job, LOCAL)


@pytest.mark.parametrize("command, args, words", [
    (["python", "-c", "print('hi')\nprint(2)\nprint(3)\n"], None, "python -c print('hi') … (+2 lines)"),
    (["python", "-c", "\nimport os\nprint(os.getcwd())\n"], None, "python -c import os … (+1 line)"),
    (["bash", "-c", "cd /work && python t.py"], None, 'bash -c "cd /work && python t.py"'),
    (["python"], ["t.py", "--note", "it's", ""], "python t.py --note it's \"\""),
    (None, None, "the image's own command"),
], ids=["python-c", "leading-blank-line", "spaces", "quote-and-empty", "none"])
def test_the_command_reads_as_words_not_shell_quoting(command, args, words) -> None:
    job = PyTorchJob("p", command=command, args=args)
    assert command_words(job) == words
    html = summary_html(job, LOCAL)
    assert "&#x27;&quot;&#x27;&quot;&#x27;" not in html  # the shell's '"'"' is gone
