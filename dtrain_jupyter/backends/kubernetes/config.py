"""Where the cluster is and who we are on it: kubeconfig (context selectable) or in-cluster config.

The kubernetes client reads `KUBECONFIG` once, when it is imported; we read it again on every
load so a server started with a changed environment (and the tests) see the file they expect.
A colon-separated `KUBECONFIG` list is merged by the client, as kubectl does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader

from ...errors import BackendUnavailable

# Files a pod's service account mounts (the same paths the kubernetes client reads).
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER_CONTEXT = "in-cluster"


@dataclass
class ClusterConfig:
    """A loaded client configuration plus the facts a person needs to know where it points."""

    configuration: k8s_client.Configuration
    context: str
    namespace: str
    server: str


def _kubeconfig_paths(kubeconfig: str | None) -> str | None:
    """The kubeconfig argument, else `KUBECONFIG`, else ~/.kube/config when it exists."""
    if kubeconfig:
        return kubeconfig
    env = os.environ.get("KUBECONFIG")
    if env:
        return env
    default = Path("~/.kube/config").expanduser()
    return str(default) if default.is_file() else None


def _load_kubeconfig(path: str, context: str | None) -> ClusterConfig:
    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, yaml.YAMLError, TypeError, AttributeError) as e:
        raise BackendUnavailable(f"cannot read kubeconfig {path}: {e}") from e
    names = [c.get("name") for c in contexts or []]
    chosen = current
    if context:
        chosen = next((c for c in contexts or [] if c.get("name") == context), None)
        if chosen is None:
            raise BackendUnavailable(
                f"kube context {context!r} is not in {path} (contexts: {', '.join(map(str, names)) or 'none'})"
            )
    if not chosen:
        raise BackendUnavailable(f"kubeconfig {path} has no current context; choose one with kube_context")
    configuration = type.__call__(k8s_client.Configuration)
    try:
        k8s_config.load_kube_config(
            config_file=path, context=chosen["name"], client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError, ValueError) as e:
        raise BackendUnavailable(f"cannot use kube context {chosen['name']!r} from {path}: {e}") from e
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    return ClusterConfig(configuration, str(chosen["name"]), str(namespace), configuration.host)


def _load_in_cluster(sa_dir: Path) -> ClusterConfig:
    configuration = type.__call__(k8s_client.Configuration)
    try:
        InClusterConfigLoader(
            token_filename=str(sa_dir / "token"), cert_filename=str(sa_dir / "ca.crt"),
        ).load_and_set(configuration)
    except (ConfigException, OSError) as e:
        raise BackendUnavailable(
            "no kubeconfig found (KUBECONFIG unset, no ~/.kube/config) and not running in a pod: "
            f"{e}"
        ) from e
    try:
        namespace = (sa_dir / "namespace").read_text().strip() or "default"
    except OSError:
        namespace = "default"
    return ClusterConfig(configuration, IN_CLUSTER_CONTEXT, namespace, configuration.host)


def load_cluster_config(
    *, context: str | None = None, kubeconfig: str | None = None, sa_dir: Path = SERVICE_ACCOUNT_DIR,
) -> ClusterConfig:
    """Load the client configuration the way kubectl would choose it.

    Args:
        context: kube context name; None takes the kubeconfig's current context.
        kubeconfig: path (or colon-separated paths); None honours `KUBECONFIG`, then ~/.kube/config.
        sa_dir: the service-account folder used in-cluster (its `namespace` file names the default).

    Returns:
        A ClusterConfig whose `namespace` is the context's namespace, the pod's service-account
        namespace in-cluster, or "default".

    Raises:
        BackendUnavailable: no usable configuration, or the named context does not exist.
    """
    path = _kubeconfig_paths(kubeconfig)
    if path is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return _load_in_cluster(sa_dir)
    if path is None:
        if context:
            raise BackendUnavailable(f"kube context {context!r} requested but no kubeconfig was found")
        return _load_in_cluster(sa_dir)
    return _load_kubeconfig(path, context)
