"""mpirun's process count in a Launcher's command: found where a person writes it, rewritten in place."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtrain_jupyter.model.mpi_command import find_launch, process_count, set_process_count
from dtrain_jupyter.model.templates import starter_yaml
from dtrain_jupyter.model.spec import JobSpec


@pytest.mark.parametrize("command, args, count", [
    ("mpirun", "-np 2 --allow-run-as-root python train.py", 2),
    ("mpirun -np 4 python train.py", "", 4),
    ("mpirun -np=4 python train.py", "", 4),
    ("mpirun --np=12 python train.py", "", 12),
    ("mpirun --np 3 python train.py", "", 3),
    ("mpiexec -n 8 python train.py", "", 8),
    ("horovodrun -np 4 -H localhost:4 python train.py", "", 4),
    ("horovodrun --num-proc 6 python train.py", "", 6),
    ("/usr/local/bin/mpirun -np 5 python train.py", "", 5),
    ("mpirun -np '7' python train.py", "", 7),
    ('mpirun "-np" "9" python train.py', "", 9),
    ("env OMPI_ALLOW_RUN_AS_ROOT=1 mpirun -np 2 python t.py", "", 2),
    ("mpirun -x PATH -mca btl self,tcp -np 6 python t.py", "", 6),
    ("mpirun --bind-to none -np 6 python t.py", "", 6),
    ("bash -c 'mpirun -np 4 python train.py'", "", 4),
    ("bash", "-c 'cd /work && mpirun --allow-run-as-root -np 10 python train.py'", 10),
    ("/bin/sh -lc \"mpirun -np=3 python train.py\"", "", 3),
    ("mpiexec -genv OMP_NUM_THREADS 4 -n 8 python t.py", "", 8),
], ids=["template-split", "one-text", "np-equals", "double-dash-equals", "double-dash", "mpiexec-n",
        "horovodrun", "horovodrun-long", "full-path", "quoted-value", "quoted-option", "after-env",
        "after-valued-options", "after-bind-to", "bash-c", "bash-c-in-args", "sh-lc-double-quotes",
        "after-hydra-genv-name-and-value"])
def test_the_process_count_is_read_where_it_is_written(command: str, args: str, count: int) -> None:
    assert process_count(command, args) == count


@pytest.mark.parametrize("command", [
    "mpirun python train.py",                    # no -np: one process per hostfile slot
    "mpirun python train.py -np 5",              # the program's own -np, not mpirun's
    "mpirun --allow-run-as-root -- python train.py -n 3",
], ids=["absent", "program-option", "after-double-dash"])
def test_no_count_option_before_the_program(command: str) -> None:
    launch = find_launch(command)
    assert launch is not None and launch.launcher == "mpirun"
    assert launch.option is None and launch.count is None
    assert set_process_count(command, "", 4) == (command, "")


@pytest.mark.parametrize("command", [
    "python train.py", "", "bash -c 'python train.py'", "mpirun 'unclosed", "bash run_mpirun.sh -np 2",
], ids=["plain-python", "empty", "shell-without-mpirun", "unclosed-quote", "script-file"])
def test_no_launcher(command: str) -> None:
    assert find_launch(command) is None
    assert process_count(command) is None
    assert set_process_count(command, "", 4) == (command, "")


def test_a_count_that_is_not_a_number_is_reported_and_left_alone() -> None:
    launch = find_launch("mpirun -np $NP python train.py")
    assert launch is not None
    assert (launch.option, launch.value, launch.count) == ("-np", "$NP", None)
    assert set_process_count("mpirun -np $NP python train.py", "", 4) == ("mpirun -np $NP python train.py", "")


@pytest.mark.parametrize("command, args, count, expected", [
    ("mpirun", "-np 2 --allow-run-as-root python t.py", 12, ("mpirun", "-np 12 --allow-run-as-root python t.py")),
    ("mpirun -np=4 python t.py", "", 16, ("mpirun -np=16 python t.py", "")),
    ("mpirun --np 4 python t.py", "", 3, ("mpirun --np 3 python t.py", "")),
    ("mpirun -np '4' python t.py", "", 16, ("mpirun -np '16' python t.py", "")),
    ("bash -c 'mpirun -np 4 python t.py'", "", 8, ("bash -c 'mpirun -np 8 python t.py'", "")),
    ("bash", '-c "cd /w && mpirun -n 4 python t.py"', 2, ("bash", '-c "cd /w && mpirun -n 2 python t.py"')),
], ids=["template-split", "np-equals", "double-dash", "quoted-value", "bash-c", "bash-c-double-quotes"])
def test_rewriting_changes_only_the_digits(command: str, args: str, count: int, expected: tuple[str, str]) -> None:
    assert set_process_count(command, args, count) == expected
    assert process_count(*expected) == count


def test_a_multi_line_program_after_mpirun_stays_byte_for_byte() -> None:
    """The MPI starter's `python -c` program (quotes, f-strings, newlines) survives the rewrite."""
    spec = JobSpec.from_yaml(starter_yaml("MPIJob"))
    command, args = shlex.join(spec.command or []), shlex.join(spec.args or [])
    assert process_count(command, args) == 2
    assert "-np 2 " in args
    assert set_process_count(command, args, 6) == (command, args.replace("-np 2 ", "-np 6 ", 1))


def test_a_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        set_process_count("mpirun -np 2 python t.py", "", 0)


PIECES = ("mpirun", "-np", "-n", "--np", "-np=5", "4", "'4'", "1'2'", "$NP", "python", "t.py", "-x", "A",
          "bash", "-c", "'mpirun -np 3 x'", "'", '"', "\\", "--", " ", "\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=10).map(" ".join))
def test_any_text_is_read_as_shlex_splits_it(text: str) -> None:
    """Whatever is typed: no exception; a rewrite changes the count and no other word."""
    try:
        words = shlex.split(text)
    except ValueError:
        assert find_launch(text) is None
        return
    launch = find_launch(text)
    if "mpirun" in words:
        assert launch is not None
    rewritten, _ = set_process_count(text, "", 7)
    if launch is None or launch.span is None:
        assert rewritten == text
        return
    assert process_count(rewritten) == 7
    changed = [(a, b) for a, b in zip(words, shlex.split(rewritten)) if a != b]
    assert len(shlex.split(rewritten)) == len(words) and len(changed) == 1
