"""A real Kubernetes control plane for the tests: built by `scripts/cluster.sh build`, started here."""

from .control_plane import ClusterError, ControlPlane, binary_dir, kubernetes_version, missing_binaries

__all__ = ["ClusterError", "ControlPlane", "binary_dir", "kubernetes_version", "missing_binaries"]
