"""Run the double by hand: `python -m tests.kube_double --port 0 [--mpi v2beta1] [--seed-examples]`."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

import yaml

from .api import ApiError
from .double import DEFAULT_CRD_DIR, KubeDouble


def _seed(kd: KubeDouble, examples: Path) -> int:
    """Create every conformance example this double serves, through the API (validated,
    defaulted); a name used twice in the corpus (`pi`) is created once. Returns how many."""
    count = 0
    folders = ["training-operator-v1.9"] if kd.mpi_version == "v1" else ["training-operator-v1.9", "mpi-operator-v2beta1"]
    for folder in folders:
        for path in sorted((examples / folder).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or (doc["kind"] == "MPIJob" and not doc["apiVersion"].endswith(kd.mpi_version)):
                    continue
                rt = kd.registry.by_kind("kubeflow.org", doc["kind"])
                ns = doc["metadata"].get("namespace", "default")
                namespaces = kd.api.route("/api/v1/namespaces")
                try:
                    kd.api.create(namespaces, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, {})
                except ApiError:
                    pass  # exists already
                try:
                    kd.api.create(kd.api.route(f"/apis/{rt.group_version}/namespaces/{ns}/{rt.plural}"), doc, {})
                    count += 1
                except ApiError as e:
                    print(f"skipped {path.name}: {e.message}")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.kube_double", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--mpi", choices=("v1", "v2beta1"), default="v1", help="which MPIJob CRD to serve")
    parser.add_argument("--seed-examples", action="store_true", help="create the conformance examples")
    parser.add_argument("--tick", type=float, default=1.0, help="simulator tick in seconds")
    args = parser.parse_args()
    kd = KubeDouble(mpi_version=args.mpi, port=args.port, tick=args.tick).start()
    if args.seed_examples:
        print(f"seeded {_seed(kd, DEFAULT_CRD_DIR.parent)} example jobs")
    print(f"kube double serving {kd.url} (MPIJob {args.mpi})")
    print(f"kubeconfig: {kd.kubeconfig_path}")
    print(f"export KUBECONFIG={kd.kubeconfig_path}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: done.set())
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    done.wait()
    kd.stop()


if __name__ == "__main__":
    main()
