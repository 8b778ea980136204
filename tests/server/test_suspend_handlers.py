"""Suspend and resume through every layer: REST (`POST <job>/suspend`, `/resume`), the Python client and
the `dtrain` command, against a real server on the local backend; and the service's capability check."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest

from dtrain_jupyter import Client, InvalidRequest
from dtrain_jupyter.backends.base import CAP_SUSPEND
from dtrain_jupyter.backends.local import LocalBackend
from dtrain_jupyter.cli import Console, run
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.service import JobService

from .conftest import pytorch_manifest, unique
from .live import LiveServer, module_server


server = module_server("suspend-server")


def gated(name: str, gate: Path) -> dict:
    """Each replica prints its rank, then waits for the gate file."""
    script = (f"import os, pathlib, time; print('rank', os.environ['RANK'], flush=True); "
              f"[time.sleep(0.05) for _ in iter(lambda: pathlib.Path({str(gate)!r}).exists(), True)]")
    return pytorch_manifest(name, script=script)


def wait_for(client: Client, name: str, phase: Phase, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (job := client.get(name)).phase != phase:
        assert time.monotonic() < deadline, f"{name} stayed {job.phase}"
        time.sleep(0.1)


def printed(client: Client, name: str, times: int, timeout: float = 60) -> None:
    """Wait until each replica has printed its line `times` times (once per start)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [x.line for x in client.logs(name)]
        if lines.count("rank 0") >= times and lines.count("rank 1") >= times:
            return
        assert time.monotonic() < deadline, f"{name}: {lines}"
        time.sleep(0.1)


def dtrain(server: LiveServer, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run([*argv, "--url", server.url, "--token", server.token], Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


def test_suspend_and_resume_over_http_the_client_and_the_command(server: LiveServer, tmp_path: Path) -> None:
    name, gate = unique("susp"), tmp_path / "gate"
    with server.client() as client:
        client.create(gated(name, gate))
        wait_for(client, name, Phase.RUNNING)
        printed(client, name, 1)
        path = f"{server.url}dtrain/api/local/namespaces/default/pytorchjobs/{name}"

        # REST: the job comes back suspended; a second suspend is a 400 in words.
        answer = httpx.post(path + "/suspend", headers=server.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"]["phase"] == "Suspended"
        again = httpx.post(path + "/suspend", headers=server.headers, timeout=30)
        assert again.status_code == 400
        assert (again.json()["error"], again.json()["phase"]) == ("InvalidRequest", "Suspended")
        assert "is suspended already" in again.json()["message"]

        # The client: RichJob back, the same refusal as the same type.
        resumed = client.resume(name)
        assert resumed.phase == Phase.RUNNING and resumed.name == name
        printed(client, name, 2)
        with pytest.raises(InvalidRequest, match="is not suspended"):
            client.resume(name)
        suspended = client.suspend(name)
        assert suspended.phase == Phase.SUSPENDED
        assert all(p.phase == "Pending" for p in client.pods(name))

        # The command: one line each way, a refusal is one error line and exit 1.
        assert dtrain(server, "resume", name) == (0, f"pytorchjob/{name} resumed\n", "")
        printed(client, name, 3)
        code, _, err = dtrain(server, "resume", f"pytorchjob/{name}")
        assert code == 1 and err.startswith("error: PyTorchJob") and "is not suspended" in err
        assert dtrain(server, "suspend", name) == (0, f"pytorchjob/{name} suspended\n", "")
        assert client.get(name).phase == Phase.SUSPENDED
        assert dtrain(server, "resume", name)[0] == 0
        printed(client, name, 4)
        gate.touch()
        wait_for(client, name, Phase.SUCCEEDED)
        # Four starts of each replica (create, three resumes), each one's line kept in order.
        lines = [(x.pod, x.line) for x in client.logs(name)]
        assert lines == [(f"{name}-master-0", "rank 0")] * 4 + [(f"{name}-worker-0", "rank 1")] * 4
        reasons = [e.reason for e in client.events(name) if e.object_name == name]
        assert reasons.count("PyTorchJobSuspended") == 3 and reasons.count("PyTorchJobResumed") == 3
        code, _, err = dtrain(server, "suspend", name)
        assert code == 1 and "a finished job cannot be suspended" in err
        client.delete(name)


class _NoSuspend(LocalBackend):
    """A backend that cannot suspend: the local one without the capability."""

    capabilities = LocalBackend.capabilities - {CAP_SUSPEND}


async def test_the_service_refuses_a_backend_without_the_capability(tmp_path: Path) -> None:
    service = JobService({"plain": lambda: _NoSuspend(tmp_path / "state", gpus=[])})
    try:
        for verb in (service.suspend, service.resume):
            with pytest.raises(InvalidRequest) as err:
                await verb("plain", "default", "PyTorchJob", "any")
            assert err.value.fields == {"capability": "suspend"}
            assert f"cannot {verb.__name__} jobs" in err.value.message
    finally:
        await service.stop()

