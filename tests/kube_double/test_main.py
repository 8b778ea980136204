"""`python -m tests.kube_double` by hand: it prints a kubeconfig that kubectl can use at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_run_by_hand_seeds_examples_and_serves_kubectl(tmp_path, conformance_dir):
    env = {**os.environ, "DTRAIN_SHARED_DIR": str(conformance_dir.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.kube_double", "--port", "0", "--mpi", "v2beta1",
                             "--seed-examples", "--tick", "0.1"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("export KUBECONFIG="):
                break
        kubeconfig = lines[-1].strip().split("=", 1)[1]
        got = subprocess.run(["kubectl", "get", "mpijobs", "-o", "name"], capture_output=True, text=True,
                             env={**os.environ, "KUBECONFIG": kubeconfig, "HOME": str(tmp_path)}, timeout=60)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert any(line.startswith("seeded ") for line in lines)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == ["mpijob.kubeflow.org/pi", "mpijob.kubeflow.org/tensorflow-mnist"]
    assert proc.returncode == 0
