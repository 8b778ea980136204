"""The real kubectl, bound to one control plane's kubeconfig and namespace, for the fidelity tests."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


class Stream:
    """A long-running kubectl (`logs -f`, `get -w`) whose stdout lines are collected as they arrive."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name="kubectl-stream", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line.rstrip("\n"))

    @property
    def lines(self) -> list[str]:
        """The lines read so far (a copy: the reader thread keeps appending to its own list)."""
        return list(self._lines)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    async def wait(self, timeout: float) -> tuple[int, list[str], str]:
        """Await the process's own end; returns (exit code, every stdout line, stderr)."""
        code = await asyncio.to_thread(self.proc.wait, timeout)
        await asyncio.to_thread(self._reader.join, timeout)
        assert self.proc.stderr is not None
        return code, self.lines, await asyncio.to_thread(self.proc.stderr.read)

    def stop(self) -> None:
        """End the process if it still runs (a watch never ends by itself)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


class Kubectl:
    """Runs kubectl against one cluster in one namespace, with a HOME of its own (discovery cache).

    `await kubectl("get", ...)` runs it in a thread, so the test's event loop (and the backend's
    work on it) goes on meanwhile; `kubectl.run(...)` blocks, for fixtures.
    """

    def __init__(self, kubeconfig: str, home: Path, namespace: str) -> None:
        self.namespace = namespace
        self.env = {**os.environ, "KUBECONFIG": kubeconfig, "HOME": str(home)}

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        return [KUBECTL, f"--namespace={self.namespace}", *args]

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(self._argv(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    async def __call__(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return await asyncio.to_thread(self.run, *args, check=check, timeout=timeout)

    async def get_json(self, *args: str) -> dict[str, Any]:
        """`kubectl get ARGS -o json`, parsed."""
        return json.loads((await self("get", *args, "-o", "json")).stdout)

    def stream(self, *args: str) -> Stream:
        proc = subprocess.Popen(self._argv(args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        return Stream(proc)
