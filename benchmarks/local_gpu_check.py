"""GPU check of the local backend on a machine with NVIDIA GPUs (run it where `nvidia-smi` works).

    python benchmarks/local_gpu_check.py

Prints and checks: the GPUs `nvidia-smi` reports; a PyTorchJob whose Master requests
`nvidia.com/gpu: 1` sees exactly one device through CUDA_VISIBLE_DEVICES while its Worker
(no request) sees none; a job asking for more GPUs than exist stays Pending (Unschedulable);
a job waiting for a GPU held by another job starts once that job has finished.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from dtrain_jupyter.backends.local import LocalBackend

PROBE = ("import os, torch; n = torch.cuda.device_count(); "
         "print('CUDA_VISIBLE_DEVICES=' + os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>'), 'count=%d' % n, "
         "torch.cuda.get_device_name(0) if n else '-', flush=True)")


def job(name: str, master_gpus: int, worker_gpus: int | None, command: list[str]) -> dict:
    def spec(gpus):
        c = {"name": "pytorch", "image": "gpu:1", "command": command}
        if gpus:
            c["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
        return {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [c]}}}
    specs = {"Master": spec(master_gpus)}
    if worker_gpus is not None:
        specs["Worker"] = spec(worker_gpus)
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": specs}}


async def finished(backend, name, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        j = await backend.get("PyTorchJob", name, "default")
        if j.phase.finished:
            return j
        assert time.monotonic() < deadline, f"{name} stayed {j.phase}"
        await asyncio.sleep(0.05)


async def main() -> int:
    failures = 0

    def check(ok: bool, what: str) -> None:
        nonlocal failures
        failures += not ok
        print(("ok   " if ok else "FAIL ") + what, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        backend = LocalBackend(Path(tmp), grace_seconds=2.0)
        await backend.start()
        gpus = backend.supervisor.gpus
        print("GPUs from nvidia-smi:", gpus)
        check(len(gpus) >= 1, "nvidia-smi reports at least one GPU")
        if not gpus:
            return 2

        await backend.create(job("split", 1, 0, [sys.executable, "-c", PROBE]))
        j = await finished(backend, "split")
        lines = {ln.pod: ln.line async for ln in backend.logs("PyTorchJob", "split", "default")
                 if ln.line.startswith("CUDA_VISIBLE_DEVICES")}
        print("\n".join(f"  {k}: {v}" for k, v in lines.items()))
        check(j.phase == "Succeeded", "split job succeeded")
        check(lines.get("split-master-0", "").startswith(f"CUDA_VISIBLE_DEVICES={gpus[0]} count=1"),
              "master (1 GPU requested) sees exactly one device")
        check(lines.get("split-worker-0", "").startswith("CUDA_VISIBLE_DEVICES= count=0"),
              "worker (no GPU requested) sees none")

        too_many = len(gpus) + 1
        pending = await backend.create(job("greedy", too_many, None, [sys.executable, "-c", "pass"]))
        print("  greedy:", pending.phase, pending.status.reason, "-", pending.status.message)
        check(pending.phase == "Pending" and pending.status.reason == "Unschedulable",
              f"a job asking for {too_many} GPUs stays Pending with a reason")
        await backend.delete("PyTorchJob", "greedy", "default")

        holder = job("holder", len(gpus), None, [sys.executable, "-c", "import time; time.sleep(3)"])
        await backend.create(holder)
        waiting = await backend.create(job("waiter", 1, None, [sys.executable, "-c", PROBE]))
        print("  waiter while holder runs:", waiting.phase, "-", waiting.status.message)
        check(waiting.phase == "Pending", "a job waits while another holds every GPU")
        await finished(backend, "holder")
        w = await finished(backend, "waiter")
        check(w.phase == "Succeeded", "the waiting job ran once the GPUs were free")
        await backend.stop()
    print("all GPU checks passed" if not failures else f"{failures} GPU checks FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
