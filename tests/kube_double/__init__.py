"""A faithful Kubernetes API server test double with a Kubeflow operator simulator (see README.md)."""

from .double import KubeDouble

__all__ = ["KubeDouble"]
