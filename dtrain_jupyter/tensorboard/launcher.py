"""One TensorBoard process per Jupyter server, started on demand, stopped when idle.

TensorBoard listens on a free loopback port and is reached only through the Jupyter server
(`server/tensorboard_handlers.py` proxies `<base_url>dtrain/tensorboard/` to it with
jupyter-server-proxy's handler), so it has the server's origin and login and nothing else can
reach it. It runs with `--path_prefix` set to that proxied path: its pages then link to
themselves under the prefix, and the proxy passes the whole path on (jupyter-server-proxy's
"absolute" mode) rather than stripping it.

Its logdir is the selected jobs' output folders as `--logdir_spec name:path,...`; asking again for
the same folders reuses the process, another set restarts it (TensorBoard cannot change its
logdir while running). The proxy calls `touch()` for every request; a watcher stops the process
after `idle_seconds` without one. Its stdout and stderr go to `log_file`, whose last lines are the
error when it fails to start. It runs in the log file's folder, not the server's working directory:
`python -m` puts its working directory first on the module path, where a notebook's `json.py`
would replace the standard library's (so its logdirs are given as absolute paths).

This module knows no HTTP server: it runs the same under the server or in a test.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

from ..errors import BackendUnavailable, InvalidRequest

# How long TensorBoard may take to answer its first request (it imports its plugins first).
START_TIMEOUT_SECONDS = 90.0
# Seconds between SIGTERM and SIGKILL when it is stopped.
STOP_GRACE_SECONDS = 5.0
# Lines of its log quoted when it fails to start.
FAILURE_LINES = 20
# Seconds TensorBoard waits between re-reads of its logdir: live curves without a busy reader.
RELOAD_SECONDS = 5

log = logging.getLogger(__name__)


class TensorBoardLauncher:
    """Starts, reuses, restarts and stops the one TensorBoard of this server.

    Args:
        path_prefix: the URL path TensorBoard is proxied under (`<base_url>dtrain/tensorboard`), decoded
            (`/user/a@b/...`, not `%40`): TensorBoard compares it with the decoded request path.
        log_file: where its stdout and stderr go (rewritten at each start).
        idle_seconds: stop it after this long without a proxied request (`touch`).
        command: the program to run before its arguments; by default this Python's `tensorboard.main`.
    """

    def __init__(self, *, path_prefix: str, log_file: Path, idle_seconds: float,
                 command: tuple[str, ...] = (sys.executable, "-m", "tensorboard.main")) -> None:
        self.path_prefix = "/" + path_prefix.strip("/")
        self.log_file = Path(log_file)
        self.idle_seconds = float(idle_seconds)
        self.command = tuple(command)
        self._process: asyncio.subprocess.Process | None = None
        self._port: int | None = None
        self._logdirs: dict[str, str] = {}
        self._last_request = time.monotonic()
        self._watcher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def port(self) -> int | None:
        """The loopback port TensorBoard listens on; None when it is not running."""
        return self._port if self.running else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def state(self) -> dict[str, object]:
        """`{"running", "logdirs", "pid"}`: what GET dtrain/api/tensorboard answers (pid None when stopped)."""
        running = self.running
        return {"running": running, "logdirs": dict(self._logdirs) if running else {},
                "pid": self._process.pid if running and self._process else None}

    def touch(self) -> None:
        """A proxied request reached TensorBoard: it is not idle."""
        self._last_request = time.monotonic()

    async def open(self, logdirs: Mapping[str, Path]) -> dict[str, str]:
        """Run TensorBoard over `logdirs` (run name -> folder); returns the logdirs it runs with.

        The same folders as the running process reuse it; others restart it.

        Raises:
            InvalidRequest: no folder, or a name or folder `--logdir_spec` cannot carry.
            BackendUnavailable: TensorBoard did not start (the message quotes its last log lines).
        """
        wanted = {name: str(Path(folder).absolute()) for name, folder in logdirs.items()}
        spec = _logdir_spec(wanted)
        async with self._lock:
            self.touch()
            if self.running and wanted == self._logdirs:
                return dict(self._logdirs)
            await self._stop_process()
            await self._start(spec)
            self._logdirs = wanted
            return dict(wanted)

    async def stop(self) -> None:
        """Stop TensorBoard (nothing when it is not running)."""
        async with self._lock:
            await self._stop_process()

    async def _start(self, spec: str) -> None:
        port = _free_port()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        args = [*self.command, "--logdir_spec", spec, "--host", "127.0.0.1", "--port", str(port),
                "--path_prefix", self.path_prefix, "--reload_interval", str(RELOAD_SECONDS)]
        with open(self.log_file, "wb") as out:
            # Its own session: a Ctrl-C in the server's terminal is for the server, which stops it.
            process = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                                                           stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                                                           cwd=self.log_file.parent)
        try:
            await self._wait_ready(process, port)
        except BaseException:
            await _end(process)
            raise
        self._process, self._port = process, port
        self.touch()
        self._watcher = asyncio.ensure_future(self._watch_idle(process))
        log.info("TensorBoard started on port %d (pid %d) for %s", port, process.pid, spec)

    async def _wait_ready(self, process: asyncio.subprocess.Process, port: int) -> None:
        """Until TensorBoard answers under its prefix; raises BackendUnavailable when it exits or stalls."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise BackendUnavailable(f"TensorBoard did not start (exit code {process.returncode}):\n"
                                         f"{self._last_lines()}")
            if await _answers(port, self.path_prefix + "/data/environment"):
                return
            try:
                await asyncio.wait_for(process.wait(), 0.25)
            except asyncio.TimeoutError:
                pass
        raise BackendUnavailable(f"TensorBoard did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n"
                                 f"{self._last_lines()}")

    def _last_lines(self) -> str:
        try:
            lines = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as e:
            return f"(its log {self.log_file} cannot be read: {e})"
        return "\n".join(lines[-FAILURE_LINES:]) or f"(its log {self.log_file} is empty)"

    async def _watch_idle(self, process: asyncio.subprocess.Process) -> None:
        """Stop `process` once no request reached it for idle_seconds; ends when it ends."""
        check = max(0.2, min(self.idle_seconds / 4, 30.0))
        while process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), check)
            except asyncio.TimeoutError:
                pass
            if process.returncode is None and time.monotonic() - self._last_request >= self.idle_seconds:
                async with self._lock:
                    if self._process is process:
                        log.info("TensorBoard idle for %.0f s: stopping it", self.idle_seconds)
                        self._watcher = None  # this task ends here; _stop_process must not cancel it
                        await self._stop_process()
                return

    async def _stop_process(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            watcher.cancel()
        process, self._process, self._port, self._logdirs = self._process, None, None, {}
        if process is not None:
            await _end(process)


def _logdir_spec(logdirs: Mapping[str, str]) -> str:
    """`name:path,...` as TensorBoard's --logdir_spec reads it (split at "," then at the first ":")."""
    if not logdirs:
        raise InvalidRequest("name at least one job whose output folder TensorBoard should read", field="jobs")
    for name, folder in logdirs.items():
        if not name or any(c in name for c in ",:"):
            raise InvalidRequest(f"TensorBoard cannot name a run {name!r} (no ',' or ':' in a run name)", field="jobs")
        if "," in folder:
            raise InvalidRequest(f"TensorBoard cannot read the folder {folder!r}: its --logdir_spec has no way "
                                 "to carry a ',' in a path", field="jobs")
    return ",".join(f"{name}:{folder}" for name, folder in logdirs.items())


def _free_port() -> int:
    """A loopback port free now (TensorBoard takes it a moment later; one taken meanwhile fails its start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _answers(port: int, path: str) -> bool:
    """Whether an HTTP GET of `path` on the loopback port answers 200."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2.0)
    except (OSError, asyncio.TimeoutError):
        return False
    try:
        writer.write(f"GET {quote(path)} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5.0)
        return status.split(b" ")[1:2] == [b"200"]
    except (OSError, asyncio.TimeoutError):
        return False
    finally:
        writer.close()


async def _end(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after the grace time; waits for the exit."""
    if process.returncode is not None:
        return
    try:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
    except ProcessLookupError:
        pass
    log.info("TensorBoard (pid %d) stopped, exit code %s", process.pid, process.returncode)
