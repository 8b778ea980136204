"""Start or stop a control plane by hand: `python -m tests.cluster up [--mpi v2beta1]` / `down [FOLDER]`.

`up` returns once the cluster is ready and leaves it running; it prints the kubeconfig path and
an `export KUBECONFIG=...` line. `down` stops the last one `up` started (or the one in FOLDER)
and removes its folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from .control_plane import CACHE_ROOT, ClusterError, ControlPlane, stop_recorded

CURRENT = CACHE_ROOT / "clusters" / "current"


def up(args: argparse.Namespace) -> int:
    folder = CACHE_ROOT / "clusters" / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    cluster = ControlPlane(mpi_version=args.mpi, folder=folder, outlive_caller=True)
    try:
        cluster.start()
    except ClusterError as e:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"cluster: {e}", file=sys.stderr)
        return 1
    CURRENT.write_text(str(folder))
    print(f"Kubernetes {cluster.version} serving {cluster.url} (MPIJob {args.mpi}), ready in "
          f"{time.monotonic() - started:.1f} s; logs in {folder / 'logs'}")
    print(f"limited user 'dev' (namespace default only): {cluster.limited_kubeconfig_path}")
    print(f"kubeconfig: {cluster.kubeconfig_path}")
    print(f"export KUBECONFIG={cluster.kubeconfig_path}", flush=True)
    return 0


def down(args: argparse.Namespace) -> int:
    folder = Path(args.folder) if args.folder else (Path(CURRENT.read_text()) if CURRENT.exists() else None)
    if folder is None or not (folder / "cluster.json").exists():
        print("cluster: no running cluster recorded (nothing to stop)", file=sys.stderr)
        return 0
    stopped = stop_recorded(folder)
    shutil.rmtree(folder, ignore_errors=True)
    if CURRENT.exists() and Path(CURRENT.read_text()) == folder:
        CURRENT.unlink()
    print(f"stopped {', '.join(stopped) or 'nothing (already gone)'}; removed {folder}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start a control plane and leave it running")
    p_up.add_argument("--mpi", choices=("v1", "v2beta1"), default="v1", help="which MPIJob API to serve")
    p_down = sub.add_parser("down", help="stop a control plane started by up")
    p_down.add_argument("folder", nargs="?", help="its folder (default: the last one up started)")
    args = parser.parse_args()
    return up(args) if args.command == "up" else down(args)


if __name__ == "__main__":
    sys.exit(main())
