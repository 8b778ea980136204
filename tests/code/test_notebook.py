"""A real notebook, run with nbclient in a real kernel against a real server (local backend and the
Kubernetes API double): a helper, a notebook class and a DDP function that all-reduces a tensor
run on a Master and a Worker, and `result` returns the sum; the same cell's code runs through
`%%dtrain run`; on Kubernetes the pods carry the code; a refusal names the offending name."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterator

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import CONFORMANCE
from tests.kube_double.double import KubeDouble

from ..server.live import LiveServer

CELLS = [
    "from dtrain_jupyter import Client, InvalidRequest\nclient = Client()\n%load_ext dtrain_jupyter",
    # A constant, a helper and a class the DDP function needs: all defined in other cells.
    "SCALE = 10.0\n"
    "def contribution(rank):\n    return (rank + 1) * SCALE\n"
    "class Reducer:\n"
    "    def __init__(self, op):\n        self.op = op\n"
    "    def reduce(self, tensor):\n"
    "        import torch.distributed as dist\n        dist.all_reduce(tensor, op=self.op)\n"
    "        return tensor.item()\n",
    "import torch\nimport torch.distributed as dist\n"
    "def allreduce_sum(op_name):\n"
    "    dist.init_process_group('gloo')\n"
    "    total = Reducer(getattr(dist.ReduceOp, op_name)).reduce(torch.tensor([contribution(dist.get_rank())]))\n"
    "    dist.destroy_process_group()\n"
    "    return total\n",
    "job = client.run(allreduce_sum, kind='PyTorchJob', workers=1, args={'op_name': 'SUM'})\n"
    "client.result(job.name, timeout=240, progress=False)",
    "%%dtrain run --kind PyTorchJob --workers 1\n"
    "dist.init_process_group('gloo')\n"
    "t = torch.tensor([contribution(dist.get_rank())])\n"
    "dist.all_reduce(t)\n"
    "print('rank', dist.get_rank(), 'sum', t.item())\n"
    "# The Master's exit ends the job and the local backend then stops the Worker: print first.\n"
    "dist.barrier()\n"
    "t.item()",
    "cluster_job = client.run(allreduce_sum, workers=1, args={'op_name': 'SUM'}, backend='kubernetes')\n"
    "print(cluster_job.name)",
    "log = open('notes.txt', 'w')\n"
    "def writes_notes():\n    log.write('x')\n"
    "try:\n    client.run(writes_notes)\n"
    "except InvalidRequest as e:\n    print('refused', e.fields['names'])\n",
]


@pytest.fixture(scope="module")
def double() -> Iterator[KubeDouble]:
    with KubeDouble(mpi_version="v2beta1", crd_dir=CONFORMANCE / "crds", tick=0.05) as kd:
        kd.simulator.set_speed(ticks_to_run=2, ticks_to_finish=None)
        yield kd


@pytest.fixture(scope="module")
def server(double: KubeDouble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("notebook"), (
        "--DTrain.backend=local,kubernetes", f"--DTrain.kubeconfig={double.kubeconfig_path}",
        "--DTrain.kube_context=double"))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def executed(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
    env.update(DTRAIN_URL=server.url, DTRAIN_TOKEN=server.token)
    folder = tmp_path_factory.mktemp("notebook-cwd")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute(
        env=env)
    return nb


def text(cell: Any, stream: str = "stdout") -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == stream)


def result(cell: Any) -> str:
    [out] = [o for o in cell.outputs if o.output_type == "execute_result"]
    return out["data"]["text/plain"]


def test_a_ddp_function_returns_the_all_reduced_sum(executed: nbformat.NotebookNode) -> None:
    # Ranks 0 and 1 contribute 10 and 20.
    assert result(executed.cells[3]) == "30.0"


def test_a_cell_runs_on_every_replica_and_ends_with_its_result(executed: nbformat.NotebookNode) -> None:
    cell = executed.cells[4]
    out = text(cell)
    assert "created on local in default; its replicas' output follows" in out
    assert sorted(line.split("] ", 1)[1] for line in out.splitlines() if " sum " in line) == [
        "rank 0 sum 30.0", "rank 1 sum 30.0"]
    summary = [o for o in cell.outputs if o.output_type == "display_data"]
    assert summary and "Succeeded" in summary[0]["data"]["text/html"]
    assert result(cell) == "30.0"


def test_on_kubernetes_the_pods_carry_the_notebooks_code(executed: nbformat.NotebookNode, double: KubeDouble) -> None:
    name = text(executed.cells[5]).strip()
    deadline = time.monotonic() + 30
    while True:
        pods = [p for p in double.store.list(("", "pods"), "default")[0] if p["metadata"]["name"].startswith(name)]
        if len(pods) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted(p["metadata"]["name"] for p in pods) == [f"{name}-master-0", f"{name}-worker-0"]
    for pod in pods:
        source, call = pod["spec"]["containers"][0]["args"]
        assert "class Reducer:" in source and "def contribution(rank):" in source and "SCALE = 10.0" in source
        assert "import torch.distributed as dist" in source and "def allreduce_sum(op_name):" in source
        assert json.loads(call)["args"] == {"op_name": "SUM"}


def test_a_refusal_names_what_cannot_travel(executed: nbformat.NotebookNode) -> None:
    assert text(executed.cells[6]).strip() == "refused ['log']"
