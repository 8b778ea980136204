"""A scriptable replica for lifecycle tests. Actions run in order:

  print:TEXT        print a line                 sleep:SECONDS   sleep
  exit:CODE         exit with CODE               kill:SIGNAL     kill itself with a signal
  fail-until:N:CODE exit CODE on attempts < N (attempts counted in DTRAIN_OUTPUT_DIR/<replica>.attempts)
  write:NAME:TEXT   write a file under DTRAIN_OUTPUT_DIR
  grandchild        start a sleeping grandchild in a new session (leaves our process group)
  env:NAME          print NAME=value of an environment variable
  lines:N           print N numbered lines
  wait-file:PATH    wait until PATH exists (a gate the test opens)
"""
import os
import signal
import subprocess
import sys
import time

out = os.environ.get("DTRAIN_OUTPUT_DIR", ".")
replica = os.environ.get("DTRAIN_REPLICA", "replica")
for action in sys.argv[1:]:
    verb, _, arg = action.partition(":")
    if verb == "print":
        print(arg, flush=True)
    elif verb == "sleep":
        time.sleep(float(arg))
    elif verb == "exit":
        sys.exit(int(arg))
    elif verb == "kill":
        os.kill(os.getpid(), int(arg))
        time.sleep(10)
    elif verb == "fail-until":
        n, code = (int(x) for x in arg.split(":"))
        path = os.path.join(out, f"{replica}.attempts")
        attempts = int(open(path).read()) if os.path.exists(path) else 0
        with open(path, "w") as f:
            f.write(str(attempts + 1))
        print(f"attempt {attempts}", flush=True)
        if attempts < n:
            sys.exit(code)
    elif verb == "write":
        name, text = arg.split(":", 1)
        path = os.path.join(out, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    elif verb == "grandchild":
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        print(f"grandchild {p.pid}", flush=True)
    elif verb == "env":
        print(f"{arg}={os.environ.get(arg, '<unset>')}", flush=True)
    elif verb == "wait-file":
        while not os.path.exists(arg):
            time.sleep(0.05)
    elif verb == "lines":
        for i in range(int(arg)):
            print(f"line {i}", flush=True)
    else:
        sys.exit(f"unknown action {action}")
