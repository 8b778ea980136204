"""Loading the cluster configuration: kubeconfig contexts, KUBECONFIG, in-cluster service account."""

from __future__ import annotations

import pytest
import yaml

from dtrain_jupyter.backends.kubernetes.config import IN_CLUSTER_CONTEXT, load_cluster_config
from dtrain_jupyter.errors import BackendUnavailable


def write_kubeconfig(path, current="alpha"):
    data = {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [
            {"name": "c1", "cluster": {"server": "http://127.0.0.1:1"}},
            {"name": "c2", "cluster": {"server": "http://127.0.0.1:2"}},
        ],
        "users": [{"name": "u", "user": {"token": "secret-token"}}],
        "contexts": [
            {"name": "alpha", "context": {"cluster": "c1", "user": "u", "namespace": "team-a"}},
            {"name": "beta", "context": {"cluster": "c2", "user": "u"}},
        ],
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_current_context_and_its_namespace(tmp_path):
    cfg = load_cluster_config(kubeconfig=str(write_kubeconfig(tmp_path / "kc")))
    assert (cfg.context, cfg.namespace, cfg.server) == ("alpha", "team-a", "http://127.0.0.1:1")
    assert cfg.configuration.api_key["authorization"] == "Bearer secret-token"


def test_chosen_context_without_namespace_defaults(tmp_path):
    cfg = load_cluster_config(context="beta", kubeconfig=str(write_kubeconfig(tmp_path / "kc")))
    assert (cfg.context, cfg.namespace, cfg.server) == ("beta", "default", "http://127.0.0.1:2")


def test_kubeconfig_env_is_read_at_load_time(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kc", current="beta")))
    assert load_cluster_config().context == "beta"


def test_unknown_context_names_the_ones_there(tmp_path):
    with pytest.raises(BackendUnavailable) as err:
        load_cluster_config(context="gamma", kubeconfig=str(write_kubeconfig(tmp_path / "kc")))
    assert "gamma" in err.value.message and "alpha" in err.value.message


def test_unreadable_kubeconfig(tmp_path):
    bad = tmp_path / "kc"
    bad.write_text("this: [is not a kubeconfig")
    with pytest.raises(BackendUnavailable):
        load_cluster_config(kubeconfig=str(bad))


def test_in_cluster_namespace_from_service_account(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("pod-token")
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (sa / "namespace").write_text("ml-team\n")
    cfg = load_cluster_config(sa_dir=sa)
    assert (cfg.context, cfg.namespace, cfg.server) == (IN_CLUSTER_CONTEXT, "ml-team", "https://10.0.0.1:443")
    assert cfg.configuration.api_key["authorization"].lower() == "bearer pod-token"


def test_nothing_configured_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(BackendUnavailable) as err:
        load_cluster_config(sa_dir=tmp_path / "none")
    assert "kubeconfig" in err.value.message
