"""Bad input through the Python client and the `dtrain` command: typed errors and one-line messages only.

The client must raise one of our error types rebuilt from the server's answer (never an
"internal error", never an httpx or JSON exception); the command must exit 0, 1 or 2 with a
message and no traceback, in-process (`cli.run`, the code the console script and the magic run)
for the hypothesis inputs, and as the real `dtrain` console script for the hostile texts.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtrain_jupyter import cli
from dtrain_jupyter.client import Client
from dtrain_jupyter.errors import DTrainError, InvalidJob, InvalidRequest

from .fuzzing import COUNTS, hostile_texts, json_values, mutated_manifests, yaml_texts

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
DTRAIN = Path(sys.executable).with_name("dtrain")


@pytest.fixture(scope="module")
def client(live):
    with Client(url=live.url, token=live.token) as c:
        yield c


def _typed(err: DTrainError) -> None:
    assert type(err) is not DTrainError, f"untyped error: {err.message}"
    assert err.message and "internal error" not in err.message and "Traceback" not in err.message


@FUZZ
@given(source=st.one_of(json_values, mutated_manifests(), yaml_texts))
def test_client_raises_only_our_typed_errors(client: Client, source) -> None:
    for call in (lambda: client.validate(source), lambda: client.create(source, dry_run=True)):
        COUNTS["client"] += 1
        try:
            call()
        except (InvalidJob, InvalidRequest) as e:
            _typed(e)
        except DTrainError as e:  # e.g. Forbidden for a namespace outside the allowed ones
            _typed(e)


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(argv, cli.Console(out, err, io.StringIO()))
    return code, out.getvalue() + err.getvalue()


@FUZZ
@given(text=st.one_of(yaml_texts, json_values.map(json.dumps)))
def test_command_answers_every_file_with_a_message(live, tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("cli") / "job.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    for argv in (["validate", str(path)], ["create", "-f", str(path), "--dry-run", "--url", live.url,
                                           "--token", live.token]):
        COUNTS["cli"] += 1
        code, shown = _run(argv)
        assert code in (0, 1), (argv, shown)
        assert shown.strip() and "Traceback" not in shown and "internal error" not in shown, shown


@FUZZ
@given(argv=st.lists(st.one_of(st.sampled_from(["list", "get", "logs", "delete", "-n", "--tail", "-f", "--kind",
                                                "-A", "--phase", "output", "wait", "--timeout", "-o", "pods"]),
                               st.text(max_size=12)), max_size=6))
def test_command_line_fuzz_never_crashes(live, argv: list[str]) -> None:
    argv = [a.replace("\x00", "") for a in argv] + ["--url", live.url, "--token", live.token, "-y"] if argv else argv
    COUNTS["cli"] += 1
    code, shown = _run(argv)
    assert code in (0, 1, 2), (argv, shown)
    assert "Traceback" not in shown and "internal error" not in shown, shown


@pytest.mark.parametrize("name", ["alias bomb", "deep flow nesting", "invalid utf-8", "python tag", "huge integer",
                                  "duplicate keys"])
def test_the_console_script_shows_no_traceback(live, tmp_path: Path, name: str) -> None:
    text = hostile_texts()[name]
    path = tmp_path / "job.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    env = {**os.environ, "DTRAIN_URL": live.url, "DTRAIN_TOKEN": live.token}
    env.pop("DTRAIN_DEBUG", None)
    for argv in (["validate", str(path)], ["create", "-f", str(path), "--dry-run"]):
        COUNTS["cli"] += 1
        proc = subprocess.run([str(DTRAIN), *argv], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 1, (argv, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr + proc.stdout and (proc.stderr + proc.stdout).strip()
