"""CRD schemas: loading them, and checking objects the way the API server's structural schema does."""

from __future__ import annotations

import copy

import pytest
import yaml

from dtrain_jupyter.errors import InvalidRequest
from dtrain_jupyter.model.schema import load_crd_schemas, validate_against_schema

SCHEMA = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["replicas"],
            "properties": {
                "replicas": {"type": "integer", "format": "int32", "minimum": 0},
                "ratio": {"type": "number", "maximum": 1},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "label": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "flag": {"type": "boolean"},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "closed": {"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": False},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "maxItems": 3},
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                    "items": {"type": "object", "properties": {
                        "containerPort": {"type": "integer"},
                        "protocol": {"type": "string", "default": "TCP"}}},
                },
                "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "maybe": {"type": "string", "nullable": True},
            },
        },
    },
}


def valid() -> dict:
    return {"metadata": {"name": "x", "anything": {"goes": 1}}, "spec": {
        "replicas": 2, "ratio": 0.5, "mode": "a", "label": "abc", "port": "http", "flag": True,
        "free": {"any": ["thing"]}, "labels": {"k": "v"}, "closed": {"x": "y"}, "tags": ["a", "b"],
        "ports": [{"containerPort": 80}, {"containerPort": 80, "protocol": "UDP"}], "either": 3, "maybe": None}}


def paths(obj, schema=SCHEMA) -> list[str]:
    return sorted(i.path for i in validate_against_schema(obj, schema))


def test_valid_object_has_no_issues():
    assert paths(valid()) == []


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("replicas", "2", "spec.replicas"),
        ("replicas", True, "spec.replicas"),
        ("replicas", 2**31, "spec.replicas"),
        ("replicas", -1, "spec.replicas"),
        ("ratio", "half", "spec.ratio"),
        ("ratio", 2, "spec.ratio"),
        ("mode", "c", "spec.mode"),
        ("label", "ABC", "spec.label"),
        ("label", "abcdef", "spec.label"),
        ("port", 1.5, "spec.port"),
        ("port", [80], "spec.port"),
        ("flag", "yes", "spec.flag"),
        ("labels", {"k": 1}, "spec.labels.k"),
        ("closed", {"x": "y", "z": 1}, "spec.closed.z"),
        ("tags", ["a", "a"], "spec.tags[1]"),
        ("tags", ["a", "b", "c", "d"], "spec.tags"),
        ("tags", "a", "spec.tags"),
        ("ports", [{"containerPort": 80}, {"containerPort": 80, "protocol": "TCP"}], "spec.ports[1]"),
        ("either", 1.5, "spec.either"),
        ("replica", 1, "spec.replica"),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_each_keyword_reports_at_its_path(field, value, where):
    obj = valid()
    obj["spec"][field] = value
    assert paths(obj) == [where]


def test_required_nulls_and_non_string_keys():
    obj = valid()
    del obj["spec"]["replicas"]
    assert paths(obj) == ["spec.replicas"]
    obj = valid()
    obj["spec"]["mode"] = None  # the API server prunes nulls before validating
    assert paths(obj) == []
    obj = valid()
    obj["spec"]["labels"] = {1: "v"}
    assert paths(obj) == ["spec.labels[\"1\"]"]
    assert paths([], SCHEMA) == [""]
    assert paths({}, SCHEMA) == ["spec"]


def test_unknown_field_suggests_the_close_name():
    obj = valid()
    obj["spec"]["replica"] = 1
    (issue,) = validate_against_schema(obj, SCHEMA)
    assert "'replicas'" in issue.message


@pytest.fixture(scope="module")
def tf_crd(conformance_dir) -> dict:
    text = (conformance_dir / "crds" / "kubeflow.org_tfjobs_v1.yaml").read_text()
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def test_load_from_folder_file_dict_and_list(conformance_dir, crd_schemas, tf_crd):
    folder = conformance_dir / "crds"
    assert set(crd_schemas) == {
        ("kubeflow.org/v1", k) for k in ("PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "PaddleJob", "JAXJob")
    } | {("kubeflow.org/v2beta1", "MPIJob")}
    one = load_crd_schemas(folder / "kubeflow.org_tfjobs_v1.yaml")
    assert one == {("kubeflow.org/v1", "TFJob"): crd_schemas[("kubeflow.org/v1", "TFJob")]}
    assert load_crd_schemas(tf_crd) == one
    mixed = load_crd_schemas([tf_crd, {"kind": "ConfigMap"}, str(folder / "kubeflow.org_jaxjobs_v1.yaml")])
    assert mixed.keys() == {("kubeflow.org/v1", "TFJob"), ("kubeflow.org/v1", "JAXJob")}


def test_unserved_versions_and_v1beta1_crds(tf_crd):
    off = copy.deepcopy(tf_crd)
    off["spec"]["versions"][0]["served"] = False
    assert load_crd_schemas(off) == {}
    old = {"kind": "CustomResourceDefinition", "spec": {"group": "example.org", "version": "v1alpha1",
                                                         "names": {"kind": "Thing"},
                                                         "validation": {"openAPIV3Schema": {"type": "object"}}}}
    assert load_crd_schemas(old) == {("example.org/v1alpha1", "Thing"): {"type": "object"}}


def test_unreadable_sources(tmp_path):
    with pytest.raises(InvalidRequest):
        load_crd_schemas(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(InvalidRequest):
        load_crd_schemas(bad)
    with pytest.raises(InvalidRequest):
        load_crd_schemas(42)


def test_real_crd_catches_what_the_api_server_would(crd_schemas, conformance_dir):
    manifest = yaml.safe_load((conformance_dir / "training-operator-v1.9" / "pytorch_simple.yaml").read_text())
    schema = crd_schemas[("kubeflow.org/v1", "PyTorchJob")]
    assert validate_against_schema(manifest, schema) == []
    master = manifest["spec"]["pytorchReplicaSpecs"]["Master"]
    c = master["template"]["spec"]["containers"][0]
    master["replicas"] = "one"
    c["resources"] = {"limits": {"cpu": "2x", "memory": 1}}
    c["ports"] = [{"containerPort": 23456}, {"containerPort": 23456, "protocol": "TCP"}]
    c["imagePullPolicy"] = 3
    c["commmand"] = ["python"]
    base = "spec.pytorchReplicaSpecs.Master"
    cp = f"{base}.template.spec.containers[0]"
    assert paths(manifest, schema) == sorted([
        f"{base}.replicas", f"{cp}.resources.limits.cpu", f"{cp}.ports[1]", f"{cp}.imagePullPolicy", f"{cp}.commmand"])
