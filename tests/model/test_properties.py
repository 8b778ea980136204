"""Properties (hypothesis): whatever the input, the model answers with data or InvalidJob, and
manifests survive the trip through JobSpec and YAML unchanged."""

from __future__ import annotations

import copy
import functools
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtrain_jupyter.errors import InvalidJob, ValidationIssue
from dtrain_jupyter.model import builders
from dtrain_jupyter.model.kinds import lookup
from dtrain_jupyter.model.spec import JobSpec, OutputVolume, RoleSpec
from dtrain_jupyter.model.templates import TEMPLATES
from dtrain_jupyter.model.schema import load_crd_schemas
from dtrain_jupyter.model.validation import ensure_valid, validate_manifest, validate_text
from dtrain_jupyter.model.yaml_text import load_documents
from tests.conftest import CONFORMANCE

# Modest by default so the module stays well under a minute; DTRAIN_MODEL_EXAMPLES=2000 for a deep run.
SETTINGS = settings(max_examples=int(os.environ.get("DTRAIN_MODEL_EXAMPLES", "120")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4)),
    max_leaves=20)

FRAGMENTS = ["a:", "b: 1", " ", "  ", "\n", "- ", "[", "]", "{", "}", ",", ": ", "&x ", "*x", "\t", "'", '"',
             "---\n", "...\n", "<<: ", "!!binary ", "!!set ", "!t ", "? ", "|\n", ">\n", "#c", "1", "-1", "2x", "0o9",
             "2024-01-01", "~", "null", "yes", "kind: PyTorchJob\n", "apiVersion: kubeflow.org/v1\n",
             "metadata: {name: j}\n", "spec:\n  pytorchReplicaSpecs:\n    Master:\n      replicas: ", "\x00", "\ufeff",
             "é", "\u2028", "\ud800", "\x85", "\ufffe"]
yamlish = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=200), yamlish)


@functools.cache
def schemas() -> dict:
    # Loaded here rather than through the crd_schemas fixture so that a failing example prints
    # the manifest, not 4 MB of schema.
    return load_crd_schemas(CONFORMANCE / "crds")


def base_manifests() -> list[dict]:
    return [load_documents(text)[0].data for text in TEMPLATES.values()]


@SETTINGS
@given(any_text)
def test_any_text_loads_or_raises_invalid_job(text):
    try:
        docs = load_documents(text)
    except InvalidJob as e:
        assert e.issues and all(isinstance(i, ValidationIssue) for i in e.issues)
    else:
        assert [d.index for d in docs] == list(range(len(docs)))


@SETTINGS
@given(any_text)
def test_validate_text_never_raises(text):
    manifests, issues = validate_text(text)
    assert all(isinstance(m, dict) for m in manifests)
    assert all(isinstance(i, ValidationIssue) and isinstance(i.path, str) for i in issues)
    assert all(i.line is None or i.line >= 1 for i in issues)


@SETTINGS
@given(json_values)
def test_validate_manifest_never_raises_on_any_value(value):
    assert all(isinstance(i, ValidationIssue) for i in validate_manifest(value))


@st.composite
def mutated_manifests(draw) -> dict:
    """A valid template manifest with a few values, anywhere in it, replaced by arbitrary ones."""
    manifest = copy.deepcopy(draw(st.sampled_from(base_manifests())))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target: Any = manifest
        while True:
            keys = list(target) if isinstance(target, dict) else list(range(len(target)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = target[key]
            if not isinstance(child, (dict, list)) or draw(st.booleans()):
                target[key] = draw(json_values)
                break
            target = child
    return manifest


@SETTINGS
@given(manifest=mutated_manifests())
def test_mutated_manifests_validate_and_round_trip_or_raise_invalid_job(manifest):
    original = copy.deepcopy(manifest)
    issues = validate_manifest(manifest)
    assert all(isinstance(i, ValidationIssue) for i in issues)
    key = (manifest.get("apiVersion"), manifest.get("kind"))
    if all(isinstance(k, str) for k in key) and key in schemas():
        assert all(isinstance(i, ValidationIssue) for i in validate_manifest(manifest, schema=schemas()[key]))
    try:
        spec = JobSpec.from_manifest(manifest)
    except InvalidJob:
        assert issues, "from_manifest refused a manifest that validates"
        return
    assert spec.to_manifest() == original
    assert manifest == original  # reading never changes the caller's manifest
    try:
        ensure_valid(manifest)
    except InvalidJob as e:
        assert e.issues


ROLE_VALUES = dict(
    replicas=st.none() | st.integers(min_value=0, max_value=50),
    restart_policy=st.none() | st.sampled_from(["Always", "OnFailure", "Never", "ExitCode", ""]),
    image=st.none() | st.text(max_size=10),
    command=st.none() | st.lists(st.text(max_size=6), max_size=3),
    args=st.none() | st.lists(st.text(max_size=6), max_size=3),
    env=st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    working_dir=st.none() | st.text(max_size=6),
    cpu=st.none() | st.sampled_from(["1", "500m", "2.5", "x"]),
    memory=st.none() | st.sampled_from(["1Gi", "512Mi", "1e9"]),
    gpu=st.none() | st.integers(min_value=0, max_value=8),
    container_name=st.none() | st.sampled_from(["main", "trainer", ""]),
)
KINDS = [("kubeflow.org/v1", "PyTorchJob"), ("kubeflow.org/v1", "TFJob"), ("kubeflow.org/v1", "MPIJob"),
         ("kubeflow.org/v2beta1", "MPIJob")]


@st.composite
def job_specs(draw) -> JobSpec:
    api_version, kind = draw(st.sampled_from(KINDS))
    fw = lookup(api_version, kind)
    rtypes = draw(st.lists(st.sampled_from(fw.replica_types), min_size=1, unique=True))
    roles = {(r.lower() if draw(st.booleans()) else r): RoleSpec(**{k: draw(v) for k, v in ROLE_VALUES.items()})
             for r in rtypes}
    return JobSpec(
        kind=kind, api_version=api_version, name=draw(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)),
        namespace=draw(st.none() | st.sampled_from(["default", "team-a"])), roles=roles,
        image=draw(ROLE_VALUES["image"]), command=draw(ROLE_VALUES["command"]), args=draw(ROLE_VALUES["args"]),
        env=draw(ROLE_VALUES["env"]), working_dir=draw(ROLE_VALUES["working_dir"]),
        restart_policy=draw(ROLE_VALUES["restart_policy"]),
        backoff_limit=draw(st.none() | st.integers(0, 10)), clean_pod_policy=draw(st.none() | st.sampled_from(["All", "None"])),
        ttl_seconds_after_finished=draw(st.none() | st.integers(0, 100)),
        active_deadline_seconds=draw(st.none() | st.integers(1, 100)),
        nproc_per_node=draw(st.none() | st.sampled_from(["auto", "2"])) if kind == "PyTorchJob" else None,
        slots_per_worker=draw(st.none() | st.integers(1, 4)) if kind == "MPIJob" else None,
        output_volume=draw(st.none() | st.builds(OutputVolume, claim_name=st.none() | st.text(min_size=1, max_size=6),
                                                 mount_path=st.sampled_from(["/output", "/data/out"]))),
    )


@SETTINGS
@given(job_specs())
def test_spec_manifest_spec_keeps_what_each_role_gets(spec):
    manifest = spec.to_manifest()
    again = JobSpec.from_manifest(manifest)
    assert again.to_manifest() == manifest
    fw = spec.framework
    for rtype in spec.roles:
        assert again.effective(fw.canonical_replica_type(rtype)) == spec.effective(rtype)
    (doc,) = load_documents(spec.to_yaml())
    assert doc.data == manifest
    assert all(isinstance(i, ValidationIssue) for i in validate_manifest(manifest))


@SETTINGS
@given(job_specs(), job_specs())
def test_editing_a_read_spec_equals_writing_the_edit_fresh(first, second):
    # Read one job, overwrite every modelled field with another's: what comes out is the second
    # job, plus only what the first manifest held beyond the model (nothing here).
    if (first.kind, first.api_version) != (second.kind, second.api_version):
        return
    spec = JobSpec.from_manifest(first.to_manifest())
    fw = second.framework
    spec.roles = {fw.canonical_replica_type(r): copy.deepcopy(v) for r, v in second.roles.items()}
    for name in ("name", "namespace", "image", "command", "args", "env", "working_dir", "restart_policy",
                 "backoff_limit", "clean_pod_policy", "ttl_seconds_after_finished", "active_deadline_seconds",
                 "nproc_per_node", "slots_per_worker", "output_volume"):
        setattr(spec, name, copy.deepcopy(getattr(second, name)))
    edited = JobSpec.from_manifest(spec.to_manifest())
    for rtype in second.roles:
        assert edited.effective(fw.canonical_replica_type(rtype)) == second.effective(rtype)


@SETTINGS
@given(name=st.text(max_size=10), workers=json_values, cpu=json_values, gpu=json_values, command=json_values,
       env=json_values, kind=st.sampled_from(["PyTorchJob", "TFJob", "MPIJob"]))
def test_builders_return_a_spec_or_raise_invalid_job(name, workers, cpu, gpu, command, env, kind):
    build = getattr(builders, kind)
    try:
        spec = build(name, command=command, env=env, workers=workers, cpu=cpu, gpu=gpu)
    except InvalidJob as e:
        assert e.issues
    else:
        assert validate_manifest(spec.to_manifest()) == []


@pytest.mark.parametrize("text", list(TEMPLATES.values()), ids=[k for _, k in TEMPLATES])
@SETTINGS
@given(cut=st.integers(min_value=0, max_value=4000), insert=st.sampled_from(["", "\t", ":", "-", "[", "x: y\n", "\n  "]))
def test_edited_template_text_never_breaks_the_validator(text, cut, insert):
    cut = cut % (len(text) + 1)
    edited = text[:cut] + insert + text[cut + 1:]
    manifests, issues = validate_text(edited)
    if not issues:
        (manifest,) = manifests
        assert JobSpec.from_manifest(manifest).to_manifest() == manifest


@SETTINGS
@given(fields=st.fixed_dictionaries({}, optional={k: json_values for k in (
    "name", "namespace", "image", "command", "args", "env", "working_dir", "restart_policy", "backoff_limit",
    "nproc_per_node", "slots_per_worker", "output_volume")}),
    role_fields=st.fixed_dictionaries({}, optional={k: json_values for k in ROLE_VALUES}),
    kind=st.sampled_from(KINDS))
def test_any_field_values_write_a_manifest_or_raise_invalid_job(fields, role_fields, kind):
    api_version, name = kind
    role = lookup(api_version, name).replica_types[0]
    spec = JobSpec(kind=name, api_version=api_version, roles={role: RoleSpec(**role_fields)}, **fields)
    try:
        manifest = spec.to_manifest()
    except InvalidJob as e:
        assert e.issues
    else:
        assert all(isinstance(i, ValidationIssue) for i in validate_manifest(manifest))
        spec.to_yaml()
