"""The Kubernetes backend: Kubeflow training jobs on a cluster, through the official client.

Importing this package imports `kubernetes`; the server imports it only when the Kubernetes
backend is chosen, so a server using the local backend never pays for that import.
"""

from .backend import KubernetesBackend

__all__ = ["KubernetesBackend"]
