"""Read and rewrite the process count (`-np N`) of the mpirun line in a Launcher's command.

An MPIJob's Launcher runs `mpirun -np N python train.py`; N should be the slots the Workers
offer (Workers × slotsPerWorker: the operators write one hostfile line per Worker with that
many slots, operator-contract §4, §5), and a person changing Workers in the wizard should not
have to edit N by hand. These pure functions find N in the text a person typed and replace
only its digits, so the rest of the text (quotes, line breaks, a `python -c` program) stays
exactly as written.

Found: `mpirun`, `mpiexec`, `orterun`, `prterun` and `horovodrun`, anywhere in the words (after
`env` or `time` too) and inside a shell's script (`bash -c 'cd /x && mpirun -np 4 ...'`);
the count as `-np 4`, `-n 4`, `-c 4`, `--np 4`, `--n 4`, `--num-proc 4` or any of them as
`-np=4`. Only options before the program are read: `mpirun -np 2 python t.py -n 5` has 2.
Words are split as `shlex.split` splits them (the wizard's own rule for the command field).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["MpiLaunch", "find_launch", "process_count", "set_process_count", "LAUNCHERS", "COUNT_OPTIONS",
           "ONE_VALUE_OPTIONS", "TWO_VALUE_OPTIONS"]

LAUNCHERS = frozenset({"mpirun", "mpiexec", "orterun", "prterun", "mpiexec.hydra", "horovodrun"})
# The launchers' options by the words of value that follow them, so that a value is never taken
# for the program: here to find the count, and in the local backend's mpirun shim to find where
# the program starts (backends/local/mpi.py reads these same tables).
# Process count. Open MPI: -c, -n, --n, -np; MPICH and Intel (Hydra): -n, -np; horovodrun: -np, --num-proc.
COUNT_OPTIONS = frozenset({"-np", "--np", "-n", "--n", "-c", "--num-proc"})
ONE_VALUE_OPTIONS = COUNT_OPTIONS | frozenset({
    "-x", "-H", "--host", "-host", "--hosts", "--hostfile", "-hostfile", "-f", "--machinefile",
    "-machinefile", "--bind-to", "-bind-to", "--map-by", "-map-by", "--rank-by", "-rank-by",
    "--npernode", "-npernode", "-npersocket", "--npersocket", "-ppn", "-perhost", "--wdir", "-wdir",
    "-wd", "--path", "-path", "--output-filename", "-output-filename", "--output", "--cpus-per-proc",
    "-cpus-per-proc", "--cpus-per-rank", "-cpus-per-rank", "--prefix", "--personality", "--app",
    "--tune", "--runtime-options", "--report-bindings-level", "-genvlist", "-launcher",
    "-bootstrap", "-p", "--ssh-port", "--network-interface", "--start-timeout", "--gloo-timeout-seconds",
})
# Open MPI's `-mca NAME VALUE` family; Hydra's `-genv NAME VALUE` and `-env NAME VALUE`.
TWO_VALUE_OPTIONS = frozenset({"-mca", "--mca", "-gmca", "--gmca", "--prtemca", "--pmixmca", "-omca", "--omca",
                               "-genv", "-env"})
# Shells whose `-c` word is itself a command line worth reading.
_SHELLS = frozenset({"sh", "bash", "dash", "ksh", "zsh"})
_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class MpiLaunch:
    """The MPI launcher found in a command line and the process count it is given.

    Attributes:
        launcher: the launcher word as written (`mpirun`, `/usr/bin/mpiexec`).
        option: the process-count option as written (`-np`, `--np`), None when there is none
            (then Open MPI starts one process per hostfile slot).
        value: the option's value as written (`4`, `$NP`); None when there is no option.
        count: `value` as a number when it is a plain whole number, else None.
    """

    launcher: str
    option: str | None = None
    value: str | None = None
    count: int | None = None
    # (text index, first char, end) of the value's digits in the texts, when they can be
    # replaced in place (one unbroken run of characters in one text).
    span: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class _Word:
    value: str
    text: int                   # which of the texts the word came from
    places: tuple[int, ...]     # places[i]: where value[i] stands in that text


def find_launch(command: str, args: str = "") -> MpiLaunch | None:
    """The MPI launcher in `command` followed by `args` (a container's command and args).

    Returns:
        The launcher and its process count, or None when the words hold no MPI launcher or
        cannot be split (an unclosed quote: the wizard reports that on the field itself).
    """
    try:
        words = _split(command, 0) + _split(args, 1)
    except ValueError:
        return None
    return _find(words, depth=0)


def process_count(command: str, args: str = "") -> int | None:
    """The number after `-np` (or `-n`, `--np`, ...), or None when there is no plain number."""
    launch = find_launch(command, args)
    return launch.count if launch is not None else None


def set_process_count(command: str, args: str, count: int) -> tuple[str, str]:
    """`command` and `args` with the launcher's process count replaced by `count`.

    Only the digits of the count change; everything else stays as typed. Texts without a
    launcher, without a count option (mpirun then uses every slot, which is the intent), or
    whose count is not a plain number (`-np $NP`, the person's own choice) come back unchanged.

    Raises:
        ValueError: `count` is below 1.
    """
    if count < 1:
        raise ValueError(f"an MPI process count must be at least 1, got {count}")
    launch = find_launch(command, args)
    if launch is None or launch.span is None:
        return command, args
    texts = [command, args]
    which, start, end = launch.span
    texts[which] = texts[which][:start] + str(count) + texts[which][end:]
    return texts[0], texts[1]


# ---------------------------------------------------------------------------------------- search
def _find(words: list[_Word], depth: int) -> MpiLaunch | None:
    for i, word in enumerate(words):
        name = os.path.basename(word.value)
        if name in LAUNCHERS:
            return _count_after(words, i)
        if name in _SHELLS and depth < 3:
            script = _shell_script(words, i + 1)
            if script is not None:
                try:
                    inner = _split(script.value, script.text, script.places)
                except ValueError:
                    return None
                found = _find(inner, depth + 1)
                if found is not None:
                    return found
    return None


def _shell_script(words: list[_Word], start: int) -> _Word | None:
    """The script word of `bash -c 'script'` (also `-lc`, `-ec`, `-e -c`), or None."""
    seen_c = False
    for word in words[start:]:
        w = word.value
        if w.startswith("-") and not w.startswith("--") and len(w) > 1:
            seen_c = seen_c or "c" in w[1:]
        elif w.startswith("--"):
            continue
        else:
            return word if seen_c else None
    return None


def _count_after(words: list[_Word], at: int) -> MpiLaunch:
    launcher = words[at].value
    i = at + 1
    while i < len(words):
        w = words[i].value
        if w == "--" or not w.startswith("-"):
            break  # the program: its own options are not the launcher's
        name, eq, _ = w.partition("=")
        if name in COUNT_OPTIONS:
            if eq:
                return _launch(launcher, name, words[i], len(name) + 1)
            if i + 1 < len(words):
                return _launch(launcher, name, words[i + 1], 0)
            return MpiLaunch(launcher, option=name)
        i += 1 if eq else 2 if w in ONE_VALUE_OPTIONS else 3 if w in TWO_VALUE_OPTIONS else 1
    return MpiLaunch(launcher)


def _launch(launcher: str, option: str, word: _Word, offset: int) -> MpiLaunch:
    value = word.value[offset:]
    count = int(value) if value.isascii() and value.isdigit() else None
    places = word.places[offset:]
    # Digits can be replaced in place only when they stand side by side in the text.
    unbroken = bool(places) and places[-1] - places[0] == len(places) - 1
    span = (word.text, places[0], places[-1] + 1) if count is not None and unbroken else None
    return MpiLaunch(launcher, option=option, value=value, count=count, span=span)


# ---------------------------------------------------------------------------------------- split
def _split(text: str, which: int, places: tuple[int, ...] | None = None) -> list[_Word]:
    """`shlex.split(text)`, keeping where each character of each word stands.

    `places` maps `text` into an outer text (for a shell script inside a quoted word), so the
    words' places are always in the original text number `which`.

    Raises:
        ValueError: an unclosed quote or a trailing backslash, as shlex says.
    """
    where = places if places is not None else tuple(range(len(text)))
    words: list[_Word] = []
    chars: list[str] = []
    at: list[int] = []
    in_word = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            if in_word:
                words.append(_Word("".join(chars), which, tuple(at)))
                chars, at, in_word = [], [], False
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise ValueError("No escaped character")
            chars.append(text[i + 1])
            at.append(where[i + 1])
            in_word, i = True, i + 2
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ValueError("No closing quotation")
            chars.extend(text[i + 1:end])
            at.extend(where[i + 1:end])
            in_word, i = True, end + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ValueError("No closing quotation")
                c = text[i]
                if c == '"':
                    break
                # Inside double quotes a backslash escapes only `"` and itself (shlex, POSIX mode).
                if c == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    i += 1
                chars.append(text[i])
                at.append(where[i])
                i += 1
            in_word, i = True, i + 1
        else:
            chars.append(c)
            at.append(where[i])
            in_word, i = True, i + 1
    if in_word:
        words.append(_Word("".join(chars), which, tuple(at)))
    return words
