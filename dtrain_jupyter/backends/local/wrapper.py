"""The tiny parent of every local replica: runs the command, records how it ended.

Run as `python -I -S wrapper.py EXIT_FILE PID_FILE -- ARGV...` in its own session, with the
replica's environment, working directory and log file already set by the backend. It forks the
command, writes the command's pid to PID_FILE, waits, and writes the exit status to EXIT_FILE
(atomically, as JSON), so the status survives a restart of the server that started it: the
server is not the parent that could `wait()` once it has been restarted.

Stdlib only and no `site` import, so it starts in milliseconds. It ignores SIGTERM, SIGINT and
SIGHUP (its child does not) so that a stop signal sent to the replica's process group still
lets it record the child's end; SIGKILL ends it like anything else.
"""

import json
import os
import signal
import sys
import time


def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    if len(argv) < 5 or argv[3] != "--":
        sys.stderr.write("usage: wrapper.py EXIT_FILE PID_FILE -- ARGV...\n")
        return 2
    exit_file, pid_file, command = argv[1], argv[2], argv[4:]
    # Name this process like the pod it stands for (`ps -o comm` shows the first 15 bytes).
    pod = os.environ.get("DTRAIN_REPLICA")
    if pod:
        try:
            with open("/proc/self/comm", "w") as f:
                f.write(pod[:15])
        except OSError:
            pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvp(command[0], command)
        except OSError as e:
            # 127 (not found) and 126 (not executable) as a shell would report them.
            code = 127 if isinstance(e, FileNotFoundError) else 126
            os.write(2, ("dtrain: cannot run %r: %s\n" % (command[0], e.strerror)).encode())
            os._exit(code)
    _write_atomic(pid_file, str(pid))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    # Kubernetes reports a container killed by signal N as exit code 128+N.
    code = 128 + signum if signum is not None else os.WEXITSTATUS(status)
    _write_atomic(exit_file, json.dumps({"exit_code": code, "signal": signum, "finished": time.time()}))
    return code if code < 256 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
