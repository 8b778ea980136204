"""`Client.run` on the Kubernetes backend (the API test double with the conformance CRDs): the
operators' schemas accept each kind's manifest, the pods carry the code, and `result` reads the
runner's reports from the right pod's log through the cluster."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from dtrain_jupyter import Client, RemoteError
from dtrain_jupyter.code.job import runner_program
from dtrain_jupyter.code.runner import ERROR_MARKER, RESULT_MARKER
from dtrain_jupyter.model.schema import load_crd_schemas, validate_against_schema
from tests.conftest import CONFORMANCE
from tests.kube_double.double import KubeDouble

from ..server.live import LiveServer
from .conftest import notebook

NB = notebook(
    """
    STEPS = 3
    def local_part(rank):
        return rank * STEPS
    def train(lr):
        import torch.distributed as dist
        dist.init_process_group("gloo")
        return local_part(dist.get_rank()) * lr
    """)


@pytest.fixture(scope="module")
def double() -> Iterator[KubeDouble]:
    # The Training Operator's MPIJob v1 CRD: `run` must find out that v2beta1 is not served.
    with KubeDouble(mpi_version="v1", crd_dir=CONFORMANCE / "crds", tick=0.05) as kd:
        kd.simulator.set_speed(ticks_to_run=2, ticks_to_finish=None)  # jobs run until a test ends them
        yield kd


@pytest.fixture(scope="module")
def client(double: KubeDouble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    live = LiveServer(tmp_path_factory.mktemp("run-kube"), (
        "--DTrain.backend=local,kubernetes", f"--DTrain.kubeconfig={double.kubeconfig_path}",
        "--DTrain.kube_context=double"))
    try:
        with Client(url=live.url, token=live.token) as c:
            yield c
    finally:
        live.stop()


def pods_of(double: KubeDouble, job: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        pods = [p for p in double.store.list(("", "pods"), "default")[0]
                if p["metadata"]["name"].startswith(job + "-")]
        if len(pods) >= count and all(p["status"]["phase"] == "Running" for p in pods):
            return pods
        assert time.monotonic() < deadline, f"pods of {job}: {[p['metadata']['name'] for p in pods]}"
        time.sleep(0.1)


@pytest.mark.parametrize(("kind", "pods", "runs_code", "carrying"), [
    ("PyTorchJob", 3, ("master", "worker"), 3),
    ("TFJob", 2, ("worker",), 2),
    ("MPIJob", 3, ("launcher",), 1),
], ids=["pytorch", "tf", "mpi-v1"])
def test_each_kind_is_accepted_and_its_pods_carry_the_code(client: Client, double: KubeDouble, kind: str,
                                                           pods: int, runs_code: tuple[str, ...], carrying: int) -> None:
    job = client.run(NB["train"], kind=kind, workers=2, args={"lr": 0.5}, backend="kubernetes")
    try:
        assert job.backend == "kubernetes"
        stored = double.get_object(job.api_version, job.kind.lower() + "s", "default", job.name)
        schemas = load_crd_schemas(Path(CONFORMANCE / "crds"))
        assert validate_against_schema(stored, schemas[(stored["apiVersion"], kind)]) == []
        if kind == "MPIJob":
            assert stored["apiVersion"] == "kubeflow.org/v1"
        carried = 0
        for pod in pods_of(double, job.name, pods):
            container = pod["spec"]["containers"][0]
            role = pod["metadata"]["name"][len(job.name) + 1:].rsplit("-", 1)[0]
            if role in runs_code:
                argv = container["command"] + container["args"]
                assert runner_program() in argv and "def local_part(rank):" in argv[-2] and "STEPS = 3" in argv[-2]
                assert json.loads(argv[-1]) == {"function": "train", "args": {"lr": 0.5}, "every_rank": False}
                carried += 1
        assert carried == carrying
    finally:
        client.delete(job.name, backend="kubernetes")


def test_result_reads_rank_zeros_report_from_the_cluster(client: Client, double: KubeDouble) -> None:
    job = client.run(NB["train"], workers=1, args={"lr": 1.0}, backend="kubernetes")
    try:
        master = f"{job.name}-master-0"
        pods_of(double, job.name, 2)
        report = {"rank": 0, "size": 2, "where": "train", "pod": master, "every_rank": False, "value": 3.0}
        double.simulator.write_log(f"{job.name}-worker-0", RESULT_MARKER + json.dumps({**report, "value": -1}))
        double.simulator.write_log(master, RESULT_MARKER + json.dumps(report))
        double.simulator.finish(job.name)
        assert client.result(job.name, timeout=60, progress=False) == 3.0
    finally:
        client.delete(job.name, backend="kubernetes")


def test_a_remote_exception_comes_back_from_the_cluster(client: Client, double: KubeDouble) -> None:
    job = client.run(NB["train"], kind="TFJob", workers=2, args={"lr": 1.0}, backend="kubernetes")
    try:
        worker = f"{job.name}-worker-1"
        pods_of(double, job.name, 2)
        trace = 'Traceback (most recent call last):\n  File "<dtrain code>", line 6, in train\nValueError: nan loss\n'
        double.simulator.write_log(worker, ERROR_MARKER + json.dumps({
            "rank": 1, "size": 2, "where": "train", "pod": worker, "time": 1.0, "type": "ValueError",
            "message": "nan loss", "traceback": trace}))
        double.simulator.finish(job.name, succeed=False)
        with pytest.raises(RemoteError) as info:
            client.result(job.name, timeout=60, progress=False)
    finally:
        client.delete(job.name, backend="kubernetes")
    assert info.value.pod == worker and info.value.traceback == trace


def test_the_pods_carry_the_packages_their_runner_installs(client: Client, double: KubeDouble) -> None:
    job = client.run(NB["train"], kind="TFJob", workers=2, args={"lr": 0.5}, packages=["einops>=0.7", "numpy"],
                     env={"PIP_INDEX_URL": "https://pypi.example/simple"}, backend="kubernetes")
    try:
        pods = pods_of(double, job.name, 2)
        for pod in pods:
            container = pod["spec"]["containers"][0]
            assert json.loads(container["args"][-1])["packages"] == ["einops>=0.7", "numpy"]
            # pip in the pod reads its settings from the job's env.
            assert {"name": "PIP_INDEX_URL", "value": "https://pypi.example/simple"} in container["env"]
    finally:
        client.delete(job.name, backend="kubernetes")
