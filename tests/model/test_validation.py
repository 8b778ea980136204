"""Validation: one table of broken manifests with the field paths they must be reported at,
one table of YAML texts with the lines and columns, and the ensure_valid / identify contracts."""

from __future__ import annotations

import copy
import types
from collections.abc import Mapping
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtrain_jupyter.errors import InvalidJob, ValidationIssue
from dtrain_jupyter.model import validation
from dtrain_jupyter.model.paths import format_path, parse_path
from dtrain_jupyter.model.validation import ensure_valid, identify, validate_manifest, validate_text
from dtrain_jupyter.model.yaml_text import MAX_DEPTH

C = "template.spec.containers[0]"


def container(name: str = "pytorch", **extra: Any) -> dict:
    return {"name": name, "image": "docker.io/library/python:3.12", **extra}


def role(replicas: int, name: str = "pytorch", **extra: Any) -> dict:
    return {"replicas": replicas, "restartPolicy": "Never",
            "template": {"spec": {"containers": [container(name)]}}, **extra}


def pytorch() -> dict:
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "job"},
            "spec": {"pytorchReplicaSpecs": {"Master": role(1), "Worker": role(2)}}}


def tfjob() -> dict:
    return {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "job"},
            "spec": {"tfReplicaSpecs": {"Chief": role(1, "tensorflow"), "Worker": role(2, "tensorflow")}}}


def mpijob(version: str = "v2beta1") -> dict:
    launcher, worker = role(1, "launcher"), role(2, "worker")
    del launcher["restartPolicy"], worker["restartPolicy"]
    return {"apiVersion": f"kubeflow.org/{version}", "kind": "MPIJob", "metadata": {"name": "job"},
            "spec": {"slotsPerWorker": 1, "mpiReplicaSpecs": {"Launcher": launcher, "Worker": worker}}}


def xgboost() -> dict:
    return {"apiVersion": "kubeflow.org/v1", "kind": "XGBoostJob", "metadata": {"name": "job"},
            "spec": {"xgbReplicaSpecs": {"Master": role(1, "xgboost"), "Worker": role(2, "xgboost")}}}


def node(manifest: dict, dotted: str) -> Any:
    """The value at a dotted path (paths module syntax)."""
    value: Any = manifest
    for part in parse_path(dotted):
        value = value[part]
    return value


def put(dotted: str, value: Any) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        *parent, last = parse_path(dotted)
        target = m
        for part in parent:
            target = target[part]
        target[last] = value
    return apply


def drop(dotted: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        *parent, last = parse_path(dotted)
        target = m
        for part in parent:
            target = target[part]
        del target[last]
    return apply


PT = "spec.pytorchReplicaSpecs"
M, W = f"{PT}.Master", f"{PT}.Worker"
MC, WC = f"{M}.{C}", f"{W}.{C}"

# (id, base manifest, mutation, paths that must be reported, exactly)
CASES: list[tuple[str, Callable[[], Any], Callable[[dict], None] | None, list[str]]] = [
    ("valid-pytorch", pytorch, None, []),
    ("valid-tfjob", tfjob, None, []),
    ("valid-mpi-v2beta1", mpijob, None, []),
    ("valid-mpi-v1", lambda: mpijob("v1"), None, []),
    ("valid-xgboost", xgboost, None, []),
    ("not-a-mapping", lambda: ["a", "list"], None, [""]),
    ("scalar-document", lambda: "text", None, [""]),
    ("missing-kind", pytorch, drop("kind"), ["kind"]),
    ("unknown-kind", pytorch, put("kind", "PytorchJob"), ["kind"]),
    ("kind-not-string", pytorch, put("kind", 3), ["kind"]),
    ("unknown-apiVersion", pytorch, put("apiVersion", "kubeflow.org/v2"), ["apiVersion"]),
    ("missing-apiVersion", pytorch, drop("apiVersion"), ["apiVersion"]),
    ("mpi-v2-apiVersion-for-tfjob", tfjob, put("apiVersion", "kubeflow.org/v2beta1"), ["apiVersion"]),
    ("missing-metadata", pytorch, drop("metadata"), ["metadata"]),
    ("missing-name", pytorch, drop("metadata.name"), ["metadata.name"]),
    ("empty-name", pytorch, put("metadata.name", ""), ["metadata.name"]),
    ("upper-case-name", pytorch, put("metadata.name", "My_Job"), ["metadata.name"]),
    ("name-starts-with-digit", pytorch, put("metadata.name", "1job"), ["metadata.name"]),
    ("name-64-chars", pytorch, put("metadata.name", "a" * 64), ["metadata.name"]),
    ("name-63-chars", pytorch, put("metadata.name", "a" * 63), []),
    ("name-not-string", pytorch, put("metadata.name", 12), ["metadata.name"]),
    ("generateName-instead", pytorch, lambda m: m["metadata"].update(name=None, generateName="job-"), []),
    ("bad-namespace", pytorch, put("metadata.namespace", "Team A"), ["metadata.namespace"]),
    ("label-value-not-string", pytorch, put("metadata.labels", {"team": 7}), ["metadata.labels.team"]),
    ("missing-spec", pytorch, drop("spec"), ["spec"]),
    ("spec-is-list", pytorch, put("spec", []), ["spec"]),
    ("missing-replica-specs", pytorch, put("spec", {}), [PT]),
    ("unknown-replica-type", pytorch, put(f"{PT}.Chef", role(1)), [f"{PT}.Chef"]),
    ("lower-case-replica-type", pytorch, lambda m: m["spec"]["pytorchReplicaSpecs"].update(
        worker=m["spec"]["pytorchReplicaSpecs"].pop("Worker")), []),
    ("replica-type-twice", pytorch, put(f"{PT}.worker", role(1)), [f"{PT}.worker"]),
    ("replica-spec-not-mapping", pytorch, put(W, 3), [W]),
    ("negative-replicas", pytorch, put(f"{W}.replicas", -1), [f"{W}.replicas"]),
    ("string-replicas", pytorch, put(f"{W}.replicas", "2"), [f"{W}.replicas"]),
    ("fractional-replicas", pytorch, put(f"{W}.replicas", 1.5), [f"{W}.replicas"]),
    ("boolean-replicas", pytorch, put(f"{W}.replicas", True), [f"{W}.replicas"]),
    ("pytorch-two-masters", pytorch, put(f"{M}.replicas", 2), [f"{M}.replicas"]),
    ("pytorch-zero-masters", pytorch, put(f"{M}.replicas", 0), [f"{M}.replicas"]),
    ("pytorch-master-only", pytorch, drop(W), []),
    ("pytorch-zero-workers", pytorch, put(f"{W}.replicas", 0), [f"{W}.replicas"]),
    ("elastic-without-worker", pytorch, lambda m: (drop(W)(m), put("spec.elasticPolicy", {"minReplicas": 1})(m)),
     ["spec.elasticPolicy"]),
    ("elastic-min-over-max", pytorch, put("spec.elasticPolicy", {"minReplicas": 3, "maxReplicas": 2}),
     ["spec.elasticPolicy.minReplicas"]),
    ("elastic-bad-backend", pytorch, put("spec.elasticPolicy", {"rdzvBackend": "zk"}), ["spec.elasticPolicy.rdzvBackend"]),
    # The training-operator's webhook refuses both (seen on the real server, tests/real_cluster).
    ("master-replicas-unwritten", pytorch, drop(f"{M}.replicas"), [f"{M}.replicas"]),
    ("elastic-nproc-twice", pytorch, lambda m: (put("spec.elasticPolicy", {"nProcPerNode": 2})(m),
                                                put("spec.nprocPerNode", "2")(m)),
     ["spec.elasticPolicy.nProcPerNode"]),
    ("nproc-per-node-number", pytorch, put("spec.nprocPerNode", 2), ["spec.nprocPerNode"]),
    ("nproc-per-node-word", pytorch, put("spec.nprocPerNode", "many"), ["spec.nprocPerNode"]),
    ("nproc-per-node-ok", pytorch, put("spec.nprocPerNode", "4"), []),
    ("unknown-restart-policy", pytorch, put(f"{W}.restartPolicy", "Sometimes"), [f"{W}.restartPolicy"]),
    ("exit-code-ok-in-v1", pytorch, put(f"{W}.restartPolicy", "ExitCode"), []),
    ("exit-code-refused-by-mpi-v2beta1", mpijob, put("spec.mpiReplicaSpecs.Launcher.restartPolicy", "ExitCode"),
     ["spec.mpiReplicaSpecs.Launcher.restartPolicy"]),
    ("missing-template", pytorch, drop(f"{W}.template"), [f"{W}.template"]),
    ("missing-pod-spec", pytorch, put(f"{W}.template", {"metadata": {}}), [f"{W}.template.spec"]),
    ("no-containers", pytorch, put(f"{W}.template.spec.containers", []), [f"{W}.template.spec.containers"]),
    ("container-not-mapping", pytorch, put(f"{W}.template.spec.containers", ["pytorch"]),
     [f"{W}.template.spec.containers[0]", f"{W}.template.spec.containers"]),
    ("missing-image", pytorch, drop(f"{WC}.image"), [f"{WC}.image"]),
    ("empty-image", pytorch, put(f"{WC}.image", ""), [f"{WC}.image"]),
    ("blank-image", pytorch, put(f"{WC}.image", "  "), [f"{WC}.image"]),
    ("image-not-string", pytorch, put(f"{WC}.image", ["x"]), [f"{WC}.image"]),
    ("missing-container-name", pytorch, drop(f"{WC}.name"), [f"{WC}.name", f"{W}.template.spec.containers"]),
    ("bad-container-name", pytorch, lambda m: node(m, f"{W}.template.spec.containers").append(container("Side_Car")),
     [f"{W}.template.spec.containers[1].name"]),
    ("no-default-container", pytorch, put(f"{WC}.name", "trainer"), [f"{W}.template.spec.containers"]),
    ("default-container-second", pytorch, lambda m: node(m, f"{W}.template.spec.containers").insert(0, container("sidecar")), []),
    ("mpi-v1-any-container-name", lambda: mpijob("v1"), None, []),
    ("duplicate-container-names", pytorch, lambda m: node(m, f"{W}.template.spec.containers").append(container()),
     [f"{W}.template.spec.containers[1].name"]),
    ("command-is-string", pytorch, put(f"{WC}.command", "python train.py"), [f"{WC}.command"]),
    ("args-item-number", pytorch, put(f"{WC}.args", ["--epochs", 2]), [f"{WC}.args[1]"]),
    ("env-not-list", pytorch, put(f"{WC}.env", {"A": "1"}), [f"{WC}.env"]),
    ("env-value-number", pytorch, put(f"{WC}.env", [{"name": "A", "value": 1}]), [f"{WC}.env[0].value"]),
    ("env-without-name", pytorch, put(f"{WC}.env", [{"value": "1"}]), [f"{WC}.env[0].name"]),
    ("env-bad-name", pytorch, put(f"{WC}.env", [{"name": "1A", "value": "1"}]), [f"{WC}.env[0].name"]),
    ("env-valueFrom-ok", pytorch, put(f"{WC}.env", [{"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]), []),
    ("working-dir-number", pytorch, put(f"{WC}.workingDir", 3), [f"{WC}.workingDir"]),
    ("cpu-2x", pytorch, put(f"{WC}.resources", {"limits": {"cpu": "2x"}}), [f"{WC}.resources.limits.cpu"]),
    ("memory-negative", pytorch, put(f"{WC}.resources", {"limits": {"memory": "-1"}}), [f"{WC}.resources.limits.memory"]),
    ("gpu-abc", pytorch, put(f"{WC}.resources", {"limits": {"nvidia.com/gpu": "abc"}}),
     [f'{WC}.resources.limits["nvidia.com/gpu"]']),
    ("gpu-fraction", pytorch, put(f"{WC}.resources", {"limits": {"nvidia.com/gpu": 0.5}}),
     [f'{WC}.resources.limits["nvidia.com/gpu"]']),
    ("quantities-ok", pytorch, put(f"{WC}.resources", {"limits": {"cpu": 1, "memory": "4Gi", "nvidia.com/gpu": 1},
                                                       "requests": {"cpu": "500m", "memory": "1e9"}}), []),
    ("request-over-limit", pytorch, put(f"{WC}.resources", {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}),
     [f"{WC}.resources.requests.cpu"]),
    ("resources-not-mapping", pytorch, put(f"{WC}.resources", "2 cpus"), [f"{WC}.resources"]),
    ("limits-not-mapping", pytorch, put(f"{WC}.resources", {"limits": ["cpu"]}), [f"{WC}.resources.limits"]),
    ("tf-chief-and-master", tfjob, put("spec.tfReplicaSpecs.Master", role(1, "tensorflow")), ["spec.tfReplicaSpecs.Master"]),
    ("tf-two-chiefs", tfjob, put("spec.tfReplicaSpecs.Chief.replicas", 2), ["spec.tfReplicaSpecs.Chief.replicas"]),
    ("tf-bad-success-policy", tfjob, put("spec.successPolicy", "AnyWorker"), ["spec.successPolicy"]),
    ("mpi-missing-launcher", mpijob, drop("spec.mpiReplicaSpecs.Launcher"), ["spec.mpiReplicaSpecs"]),
    ("mpi-v1-missing-launcher", lambda: mpijob("v1"), drop("spec.mpiReplicaSpecs.Launcher"), ["spec.mpiReplicaSpecs"]),
    ("mpi-two-launchers", mpijob, put("spec.mpiReplicaSpecs.Launcher.replicas", 2), ["spec.mpiReplicaSpecs.Launcher.replicas"]),
    ("mpi-v2-zero-workers", mpijob, put("spec.mpiReplicaSpecs.Worker.replicas", 0), ["spec.mpiReplicaSpecs.Worker.replicas"]),
    ("mpi-zero-slots", mpijob, put("spec.slotsPerWorker", 0), ["spec.slotsPerWorker"]),
    ("mpi-bad-implementation", mpijob, put("spec.mpiImplementation", "LAM"), ["spec.mpiImplementation"]),
    ("mpi-worker-pod-name-too-long", mpijob, put("metadata.name", "a" * 55), ["metadata.name"]),
    ("mpi-v1-bad-clean-pod-policy", lambda: mpijob("v1"), put("spec.cleanPodPolicy", "Some"), ["spec.cleanPodPolicy"]),
    ("xgboost-without-master", xgboost, drop("spec.xgbReplicaSpecs.Master"), ["spec.xgbReplicaSpecs"]),
    ("run-policy-bad-clean", pytorch, put("spec.runPolicy", {"cleanPodPolicy": "Sometimes"}), ["spec.runPolicy.cleanPodPolicy"]),
    ("run-policy-negative-backoff", pytorch, put("spec.runPolicy", {"backoffLimit": -1}), ["spec.runPolicy.backoffLimit"]),
    ("run-policy-string-ttl", pytorch, put("spec.runPolicy", {"ttlSecondsAfterFinished": "60"}),
     ["spec.runPolicy.ttlSecondsAfterFinished"]),
    ("run-policy-suspend-string", pytorch, put("spec.runPolicy", {"suspend": "yes"}), ["spec.runPolicy.suspend"]),
    ("run-policy-bad-managed-by", pytorch, put("spec.runPolicy", {"managedBy": "me"}), ["spec.runPolicy.managedBy"]),
    ("run-policy-not-mapping", pytorch, put("spec.runPolicy", "Never"), ["spec.runPolicy"]),
    ("unknown-fields-tolerated", pytorch, lambda m: (put("spec.extra", 1)(m), put(f"{W}.surprise", {"a": 1})(m)), []),
    # What the local backend reads without checking again (it kept guards for these until validation had them).
    ("gpu-negative", pytorch, put(f"{WC}.resources", {"limits": {"nvidia.com/gpu": -1}}),
     [f'{WC}.resources.limits["nvidia.com/gpu"]']),
    ("gpu-negative-request", pytorch, put(f"{WC}.resources", {"requests": {"nvidia.com/gpu": -2}}),
     [f'{WC}.resources.requests["nvidia.com/gpu"]']),
    ("gpu-superscript-digit", pytorch, put(f"{WC}.resources", {"limits": {"nvidia.com/gpu": "²"}}),
     [f'{WC}.resources.limits["nvidia.com/gpu"]']),
    ("nproc-per-node-superscript-digit", pytorch, put("spec.nprocPerNode", "²"), ["spec.nprocPerNode"]),
    ("template-labels-list", pytorch, put(f"{W}.template.metadata", {"labels": ["team"]}), [f"{W}.template.metadata.labels"]),
    ("template-label-number", pytorch, put(f"{W}.template.metadata", {"labels": {"team": 7}}),
     [f"{W}.template.metadata.labels.team"]),
    ("template-annotations-string", pytorch, put(f"{W}.template.metadata", {"annotations": "a=b"}),
     [f"{W}.template.metadata.annotations"]),
    ("template-labels-ok", pytorch, put(f"{W}.template.metadata", {"labels": {"team": "a"}, "annotations": {"x": "y"}}), []),
    ("value-from-string", pytorch, put(f"{WC}.env", [{"name": "P", "valueFrom": "fieldRef"}]), [f"{WC}.env[0].valueFrom"]),
    ("value-from-empty", pytorch, put(f"{WC}.env", [{"name": "P", "valueFrom": {}}]), [f"{WC}.env[0].valueFrom"]),
    ("value-from-two-sources", pytorch, put(f"{WC}.env", [{"name": "P", "valueFrom": {
        "fieldRef": {"fieldPath": "metadata.name"}, "secretKeyRef": {"name": "s", "key": "k"}}}]), [f"{WC}.env[0].valueFrom"]),
    ("field-ref-string", pytorch, put(f"{WC}.env", [{"name": "P", "valueFrom": {"fieldRef": "metadata.name"}}]),
     [f"{WC}.env[0].valueFrom.fieldRef"]),
    ("field-ref-without-path", pytorch, put(f"{WC}.env", [{"name": "P", "valueFrom": {"fieldRef": {"apiVersion": "v1"}}}]),
     [f"{WC}.env[0].valueFrom.fieldRef.fieldPath"]),
    ("secret-key-ref-without-key", pytorch, put(f"{WC}.env", [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s"}}}]),
     [f"{WC}.env[0].valueFrom.secretKeyRef.key"]),
    ("resource-field-unknown", pytorch, put(f"{WC}.env", [{"name": "P", "valueFrom": {
        "resourceFieldRef": {"resource": "limits.gpu"}}}]), [f"{WC}.env[0].valueFrom.resourceFieldRef.resource"]),
    ("resource-field-zero-divisor", pytorch, put(f"{WC}.env", [{"name": "P", "valueFrom": {
        "resourceFieldRef": {"resource": "limits.memory", "divisor": "0"}}}]), [f"{WC}.env[0].valueFrom.resourceFieldRef.divisor"]),
    ("value-from-each-source-ok", pytorch, put(f"{WC}.env", [
        {"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
        {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k", "optional": True}}},
        {"name": "C", "valueFrom": None}]), []),
    ("env-from-mapping", pytorch, put(f"{WC}.envFrom", {"configMapRef": {"name": "c"}}), [f"{WC}.envFrom"]),
    ("env-from-entry-string", pytorch, put(f"{WC}.envFrom", ["settings"]), [f"{WC}.envFrom[0]"]),
    ("env-from-two-sources", pytorch, put(f"{WC}.envFrom", [{"configMapRef": {"name": "c"}, "secretRef": {"name": "s"}}]),
     [f"{WC}.envFrom[0]"]),
    ("env-from-no-source", pytorch, put(f"{WC}.envFrom", [{"prefix": "APP_"}]), [f"{WC}.envFrom[0]"]),
    ("env-from-ref-string", pytorch, put(f"{WC}.envFrom", [{"secretRef": "creds"}]), [f"{WC}.envFrom[0].secretRef"]),
    ("env-from-ref-unnamed", pytorch, put(f"{WC}.envFrom", [{"configMapRef": {"optional": True}}]),
     [f"{WC}.envFrom[0].configMapRef.name"]),
    ("env-from-ok", pytorch, put(f"{WC}.envFrom", [{"prefix": "APP_", "configMapRef": {"name": "c", "optional": True}}]), []),
    ("init-container-env-checked", pytorch, put(f"{W}.template.spec.initContainers", [
        {"name": "init", "image": "busybox", "env": [{"name": "P", "valueFrom": "x"}]}]),
     [f"{W}.template.spec.initContainers[0].env[0].valueFrom"]),
    # Per-kind facts read from Framework: managedBy per operator, MPI v1's top-level cleanPodPolicy,
    # the MPI Operator's implementations, the MPI Operator's defaulting of a null Worker count to 0.
    ("mpi-v2-managed-by-its-operator", mpijob, put("spec.runPolicy", {"managedBy": "kubeflow.org/mpi-operator"}), []),
    ("mpi-v2-managed-by-training-operator", mpijob, put("spec.runPolicy", {"managedBy": "kubeflow.org/training-operator"}),
     ["spec.runPolicy.managedBy"]),
    ("pytorch-managed-by-mpi-operator", pytorch, put("spec.runPolicy", {"managedBy": "kubeflow.org/mpi-operator"}),
     ["spec.runPolicy.managedBy"]),
    ("mpi-v1-both-clean-pod-policies", lambda: mpijob("v1"), lambda m: (
        put("spec.cleanPodPolicy", "Some")(m), put("spec.runPolicy", {"cleanPodPolicy": "Other"})(m)),
     ["spec.cleanPodPolicy", "spec.runPolicy.cleanPodPolicy"]),
    ("mpi-v2-top-level-clean-pod-policy-is-unknown-there", mpijob, put("spec.cleanPodPolicy", "Some"), []),
    ("mpi-v1-has-no-implementation-field", lambda: mpijob("v1"), put("spec.mpiImplementation", "LAM"), []),
    ("mpi-v2-intel", mpijob, put("spec.mpiImplementation", "Intel"), []),
    ("mpi-v2-null-workers", mpijob, put("spec.mpiReplicaSpecs.Worker.replicas", None), ["spec.mpiReplicaSpecs.Worker.replicas"]),
    ("mpi-v1-null-workers", lambda: mpijob("v1"), put("spec.mpiReplicaSpecs.Worker.replicas", None), []),
]


@pytest.mark.parametrize(("base", "mutate", "paths"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_manifest_rules_report_these_paths(base, mutate, paths):
    manifest = base()
    if mutate is not None:
        mutate(manifest)
    issues = validate_manifest(manifest)
    assert sorted(i.path for i in issues) == sorted(paths)
    assert all(i.message and i.line is None and i.document == 0 for i in issues)


def test_messages_say_what_to_do():
    m = pytorch()
    node(m, M)["replicas"] = 2
    m["metadata"]["name"] = "Bad"
    node(m, W)["template"]["spec"]["containers"][0]["name"] = "main"
    messages = {i.path: i.message for i in validate_manifest(m)}
    assert messages[f"{M}.replicas"] == "PyTorchJob needs exactly 1 Master replica, got 2"
    assert messages["metadata.name"] == ("'Bad' is not a DNS-1035 label: lower-case letters, digits and '-', "
                                         "starting with a letter, at most 63 characters")
    assert messages[f"{W}.template.spec.containers"].startswith(
        "container 'pytorch' is required: the operator finds the training container by this name")


def test_refusals_the_local_backend_relies_on_say_what_is_wrong():
    m = pytorch()
    c = node(m, WC)
    c["resources"] = {"limits": {"nvidia.com/gpu": -1}}
    c["env"] = [{"name": "P", "valueFrom": "fieldRef"}, {"name": "Q", "valueFrom": {"fieldRef": {}}}]
    c["envFrom"] = [{"secretRef": "creds"}]
    node(m, W)["template"]["metadata"] = {"labels": ["team"]}
    assert {i.path: i.message for i in validate_manifest(m)} == {
        f'{WC}.resources.limits["nvidia.com/gpu"]': "nvidia.com/gpu must not be negative, got -1",
        f"{WC}.env[0].valueFrom": "valueFrom must be a mapping with one of fieldRef, resourceFieldRef, "
                                  "configMapKeyRef or secretKeyRef, got a string ('fieldRef')",
        f"{WC}.env[1].valueFrom.fieldRef.fieldPath": "fieldRef.fieldPath is required",
        f"{WC}.envFrom[0].secretRef": "secretRef must be a mapping like {name: ...}, got a string ('creds')",
        f"{W}.template.metadata.labels": "labels must be a mapping of strings, got a list",
    }


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_a_manifest_nested_too_deep_is_refused_at_the_first_deep_path():
    m = pytorch()
    m["spec"]["extra"] = nested(MAX_DEPTH - 2)  # its leaf lies at depth MAX_DEPTH exactly
    assert validate_manifest(m) == []
    m["spec"]["extra"] = nested(MAX_DEPTH - 1)
    deep = format_path(("spec", "extra") + (0,) * (MAX_DEPTH - 2))
    assert validate_manifest(m) == [ValidationIssue(deep, f"nests deeper than {MAX_DEPTH} levels; no manifest does")]
    with pytest.raises(InvalidJob) as info:
        identify(m)
    assert [i.path for i in info.value.issues] == [deep]


def reference_deep_path(value: Any, limit: int) -> tuple | None:
    """The walk validation has always reported with (last child first), as an oracle."""
    stack: list[tuple[Any, tuple]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > limit:
            return path[:limit]
        if isinstance(item, Mapping):
            stack.extend((v, path + (k,)) for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, path + (i,)) for i, v in enumerate(item))
    return None


class Record(dict):
    """A dict subclass, as a ValidManifest is."""


nested_values = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3), st.binary(max_size=2)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=2), inner, max_size=3),
        st.dictionaries(st.text(max_size=2), inner, max_size=3).map(Record),
        st.dictionaries(st.text(max_size=2), inner, max_size=3).map(types.MappingProxyType)),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(value=nested_values, limit=st.integers(min_value=0, max_value=4))
def test_the_depth_refusal_names_the_path_the_full_walk_finds(value, limit):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validation, "MAX_DEPTH", limit)
        issues = validation.validate_manifest(value)
    deep = reference_deep_path(value, limit)
    depth_issues = [i for i in issues if i.message.startswith("nests deeper")]
    if deep is None:
        assert depth_issues == []
    else:
        assert issues == [ValidationIssue(format_path(deep), f"nests deeper than {limit} levels; no manifest does")]


TEXT = """\
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata:
  name: {name}
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: {replicas}
      template:
        spec:
          containers:
            - name: pytorch
              image: busybox
              resources:
                limits: {{cpu: {cpu}}}
"""

# (id, text, [(path, line, column, document)])
TEXT_CASES = [
    ("valid", TEXT.format(name="ok", replicas=1, cpu="1"), []),
    ("name", TEXT.format(name="Not_OK", replicas=1, cpu="1"), [("metadata.name", 4, 3, 0)]),
    ("master-replicas", TEXT.format(name="ok", replicas=3, cpu="1"), [(f"{M}.replicas", 8, 7, 0)]),
    ("flow-mapping-quantity", TEXT.format(name="ok", replicas=1, cpu="2x"), [(f"{MC}.resources.limits.cpu", 15, 26, 0)]),
    ("missing-image-points-at-container", TEXT.format(name="ok", replicas=1, cpu="1").replace("              image: busybox\n", ""),
     [(f"{MC}.image", 12, 15, 0)]),
    ("second-document", TEXT.format(name="ok", replicas=1, cpu="1") + "---\n" + TEXT.format(name="b", replicas=0, cpu="1"),
     [(f"{M}.replicas", 24, 7, 1)]),
    ("each-document-checked", TEXT.format(name="A", replicas=1, cpu="1") + "---\n" + TEXT.format(name="B", replicas=1, cpu="1"),
     [("metadata.name", 4, 3, 0), ("metadata.name", 20, 3, 1)]),
    ("list-document", TEXT.format(name="ok", replicas=1, cpu="1") + "---\n- a\n- b\n", [("", 17, 1, 1)]),
    ("syntax-error", "a: [1,\n", [("", 2, 1, 0)]),
    ("tabs", "kind: PyTorchJob\nmetadata:\n\tname: x\n", [("", 3, 1, 0)]),
    ("duplicate-key", TEXT.format(name="ok", replicas=1, cpu="1").replace("kind: PyTorchJob\n", "kind: PyTorchJob\nkind: TFJob\n"),
     [("", 3, 1, 0)]),
    ("empty-text", "", [("", 1, 1, 0)]),
    ("only-empty-documents", "---\n---\n", [("", 1, 1, 0)]),
    ("unknown-kind", "apiVersion: v1\nkind: Pod\n", [("kind", 2, 1, 0)]),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES])
def test_text_issues_carry_line_column_and_document(text, expected):
    _, issues = validate_text(text)
    assert sorted((i.path, i.line, i.column, i.document) for i in issues) == sorted(expected)


def test_text_returns_every_mapping_document():
    text = TEXT.format(name="a", replicas=1, cpu="1") + "---\n" + TEXT.format(name="b", replicas=1, cpu="1")
    manifests, issues = validate_text(text.encode())
    assert issues == []
    assert [m["metadata"]["name"] for m in manifests] == ["a", "b"]


def test_ensure_valid_returns_manifests_or_raises_with_every_issue():
    good = pytorch()
    assert ensure_valid(good) == [good]
    assert ensure_valid([good, tfjob()]) == [good, tfjob()]
    assert ensure_valid(TEXT.format(name="ok", replicas=1, cpu="1"))[0]["metadata"]["name"] == "ok"
    bad = copy.deepcopy(good)
    bad["metadata"]["name"] = "Bad"
    node(bad, M)["replicas"] = 2
    with pytest.raises(InvalidJob) as info:
        ensure_valid([good, bad])
    assert sorted((i.path, i.document) for i in info.value.issues) == [("metadata.name", 1), (f"{M}.replicas", 1)]
    with pytest.raises(InvalidJob):
        ensure_valid([])
    with pytest.raises(InvalidJob):
        ensure_valid(TEXT.format(name="ok", replicas=5, cpu="1"))


def test_ensure_valid_applies_schemas(crd_schemas):
    m = pytorch()
    node(m, W)["replica"] = 1
    assert ensure_valid(m)
    with pytest.raises(InvalidJob) as info:
        ensure_valid(m, schemas=crd_schemas)
    assert [i.path for i in info.value.issues] == [f"{W}.replica"]


def test_identify():
    assert identify(pytorch()).kind == "PyTorchJob"
    assert identify(mpijob("v1")).version == "v1"
    assert identify(mpijob()).version == "v2beta1"
    with pytest.raises(InvalidJob) as info:
        identify({"apiVersion": "kubeflow.org/v1", "kind": "Job"})
    assert info.value.issues[0].path == "kind"
    for kind in ("PyTorchJob", "TFJob", "MPIJob"):
        assert kind in info.value.message
    with pytest.raises(InvalidJob) as info:
        identify({"apiVersion": "kubeflow.org/v1beta1", "kind": "MPIJob"})
    assert info.value.issues[0].path == "apiVersion"
    assert "kubeflow.org/v1 or kubeflow.org/v2beta1" in info.value.message
    with pytest.raises(InvalidJob):
        identify(None)
