"""The local backend: Kubeflow job manifests run as processes on this machine."""

from .backend import LocalBackend

__all__ = ["LocalBackend"]
