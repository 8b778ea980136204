"""The kind table agrees with the CRDs the operators ship."""

from __future__ import annotations

import pytest
import yaml

from dtrain_jupyter.model import kinds


def crd_versions(conformance_dir):
    found = {}
    for path in sorted((conformance_dir / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            props = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            found[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = (spec["names"]["plural"], props)
    return found


def test_every_crd_has_a_framework_with_matching_plural_and_replica_key(conformance_dir):
    crds = crd_versions(conformance_dir)
    assert len(crds) == 7
    for (api_version, kind), (plural, spec_props) in crds.items():
        framework = kinds.lookup(api_version, kind)
        assert framework is not None, (api_version, kind)
        assert framework.plural == plural
        assert framework.replica_key in spec_props


@pytest.mark.parametrize("name, expected", [("ps", "PS"), ("WORKER", "Worker"), ("chief", "Chief"), ("launcher", None)])
def test_replica_types_match_case_insensitively(name, expected):
    assert kinds.lookup("kubeflow.org/v1", "TFJob").canonical_replica_type(name) == expected


def test_defaults_follow_the_operators():
    mpi2 = kinds.lookup("kubeflow.org/v2beta1", "MPIJob")
    assert mpi2.default_restart_for("Launcher") == "OnFailure"
    assert mpi2.default_restart_for("Worker") == "Never"
    assert mpi2.default_replicas("Worker") == 0
    assert kinds.lookup("kubeflow.org/v1", "PyTorchJob").default_replicas("Worker") == 1
    assert [f.version for f in kinds.versions_of("MPIJob")] == ["v1", "v2beta1"]
    assert kinds.by_plural("tfjobs").kind == "TFJob"
    assert kinds.lookup("kubeflow.org/v1", "Pod") is None


def fw(kind: str, version: str = "v1") -> kinds.Framework:
    framework = kinds.lookup(f"kubeflow.org/{version}", kind)
    assert framework is not None
    return framework


@pytest.mark.parametrize("kind, version, rtype, index, expected", [
    ("PyTorchJob", "v1", "Worker", 3, "j-worker-3"),
    ("TFJob", "v1", "PS", 0, "j-ps-0"),
    ("MPIJob", "v1", "Launcher", 0, "j-launcher"),
    ("MPIJob", "v2beta1", "Worker", 1, "j-worker-1"),
], ids=["pytorch-worker", "tf-ps", "mpi-launcher-has-no-index", "mpi-v2-worker"])
def test_pod_names_follow_the_operators(kind, version, rtype, index, expected):
    assert fw(kind, version).pod_name("j", rtype, index) == expected


# IsMasterRole per controller (operator-contract §1.3): (kind, roles in the job, pods that are masters).
@pytest.mark.parametrize("kind, roles, masters", [
    ("TFJob", {"Chief": 1, "Worker": 2}, {("Chief", 0)}),
    ("TFJob", {"Master": 1, "PS": 1}, {("Master", 0)}),
    ("TFJob", {"Worker": 2, "PS": 1}, {("Worker", 0)}),
    ("PyTorchJob", {"Master": 1, "Worker": 2}, {("Master", 0)}),
    ("PyTorchJob", {"Worker": 2}, {("Worker", 0)}),
    ("MPIJob", {"Launcher": 1, "Worker": 2}, {("Launcher", 0)}),
    ("XGBoostJob", {"Master": 1, "Worker": 2}, {("Master", 0)}),
    ("PaddleJob", {"Master": 1, "Worker": 1}, {("Master", 0)}),
    ("PaddleJob", {"Worker": 2}, set()),
    ("JAXJob", {"Worker": 3}, {("Worker", 0)}),
], ids=["tf-chief", "tf-master", "tf-worker0", "pt-master", "pt-worker0", "mpi-launcher", "xgb-master",
        "paddle-master", "paddle-none-without-master", "jax-worker0"])
def test_master_role_per_kind(kind, roles, masters):
    framework = fw(kind)
    found = {(r, i) for r, n in roles.items() for i in range(n) if framework.is_master(r, i, roles)}
    assert found == masters


P = kinds.LABEL_PREFIX


def test_pod_labels_v1_kinds_and_the_mpi_operator():
    assert fw("PyTorchJob").pod_labels("j", "Master", 0, master=True) == {
        P + "operator-name": "pytorchjob-controller", P + "job-name": "j", P + "replica-type": "master",
        P + "replica-index": "0", P + "job-role": "master"}
    # MPIJob v1: the launcher has no replica-index (contract §1.3).
    assert fw("MPIJob").pod_labels("j", "Launcher", 0, master=True) == {
        P + "operator-name": "mpijob-controller", P + "job-name": "j", P + "replica-type": "launcher",
        P + "job-role": "master"}
    # MPI Operator v2beta1: job-role names the role, no replica-type (contract §5).
    v2 = fw("MPIJob", "v2beta1")
    assert v2.pod_labels("j", "Launcher", 0, master=True) == {
        P + "operator-name": "mpi-operator", P + "job-name": "j", P + "job-role": "launcher"}
    assert v2.pod_labels("j", "Worker", 2, master=False) == {
        P + "operator-name": "mpi-operator", P + "job-name": "j", P + "job-role": "worker", P + "replica-index": "2"}


def test_defaults_per_role_and_the_training_container():
    v1, v2 = fw("MPIJob"), fw("MPIJob", "v2beta1")
    assert (v1.default_restart_for("Launcher"), v2.default_restart_for("Launcher")) == ("Never", "OnFailure")
    assert fw("PaddleJob").default_restart_for("Worker") == "OnFailure"
    assert v1.replicas_of({}, "Worker") == 0 and v1.replicas_of({"replicas": 3}, "Worker") == 3
    assert fw("TFJob").replicas_of({"replicas": None}, "PS") == 1
    assert fw("PyTorchJob").restart_policy_of({"restartPolicy": "ExitCode"}, "Worker") == "ExitCode"
    containers = [{"name": "sidecar"}, {"name": "mpi"}, {"name": "pytorch"}]
    # Kinds the training operator finds by name (contract §1.1) ...
    assert fw("PyTorchJob").training_container(containers) == 2
    assert fw("PyTorchJob").training_container([{"name": "a"}, {"name": "b"}]) == 0
    # ... and both MPI operators, which use containers[0] whatever its name (§4 newLauncher/newWorker, §5).
    assert (v1.training_container(containers), v2.training_container(containers)) == (0, 0)


def test_mpi_settings_are_defaulted_as_the_operators_do():
    v1, v2 = fw("MPIJob"), fw("MPIJob", "v2beta1")
    assert v2.mpi_implementation({}) == "OpenMPI" and v2.mpi_implementation({"mpiImplementation": "Intel"}) == "Intel"
    # v1 has no such field: Open MPI whatever the spec says.
    assert v1.mpi_implementation({"mpiImplementation": "Intel"}) == "OpenMPI"
    assert fw("PyTorchJob").mpi_implementation({}) is None
    assert (v1.slots_per_worker({}), v1.slots_per_worker({"slotsPerWorker": 4})) == (1, 4)


@pytest.mark.parametrize("kind, version, spec, policy", [
    ("PyTorchJob", "v1", {}, "None"),
    ("TFJob", "v1", {"runPolicy": {"cleanPodPolicy": "Running"}}, "Running"),
    ("MPIJob", "v1", {"cleanPodPolicy": "All"}, "All"),
    ("MPIJob", "v1", {"cleanPodPolicy": "All", "runPolicy": {"cleanPodPolicy": "None"}}, "None"),
    ("MPIJob", "v2beta1", {"cleanPodPolicy": "All"}, "None"),
    ("XGBoostJob", "v1", {"runPolicy": "not a mapping"}, "None"),
], ids=["default", "run-policy", "mpi-v1-top-level", "run-policy-wins", "mpi-v2-no-top-level", "malformed"])
def test_clean_pod_policy(kind, version, spec, policy):
    assert fw(kind, version).clean_pod_policy(spec) == policy


def done(*replicas: tuple[str, int, bool]) -> list[tuple[str, int, bool]]:
    return list(replicas)


# Who succeeds a job (operator-contract §1.4): (kind, spec, (role, index, succeeded) per replica, verdict).
@pytest.mark.parametrize("kind, spec, replicas, ok", [
    ("PyTorchJob", {}, done(("Master", 0, True), ("Worker", 0, False)), True),
    ("PyTorchJob", {}, done(("Worker", 0, True), ("Worker", 1, False)), False),
    ("PyTorchJob", {"elasticPolicy": {}}, done(("Worker", 0, False), ("Worker", 1, True)), True),
    ("TFJob", {}, done(("Worker", 0, True), ("Worker", 1, False)), True),
    ("TFJob", {}, done(("Worker", 0, False), ("Worker", 1, True)), False),
    ("TFJob", {"successPolicy": "AllWorkers"}, done(("Worker", 0, True), ("Worker", 1, False)), False),
    ("TFJob", {}, done(("Chief", 0, False), ("Worker", 0, True)), False),
    ("MPIJob", {}, done(("Launcher", 0, True), ("Worker", 0, False)), True),
    ("XGBoostJob", {}, done(("Worker", 0, True)), False),
    ("PaddleJob", {}, done(("Worker", 0, True), ("Worker", 1, True)), True),
    ("JAXJob", {"elasticPolicy": {}}, done(("Worker", 0, True), ("Worker", 1, False)), False),
], ids=["pt-master", "pt-all-workers", "pt-elastic-any-worker", "tf-worker0", "tf-worker1-is-not-enough",
        "tf-all-workers", "tf-chief-decides", "mpi-launcher", "xgb-needs-master", "paddle-all-workers",
        "jax-elastic-means-nothing"])
def test_success_rule_per_kind(kind, spec, replicas, ok):
    assert fw(kind).succeeded(spec, replicas) is ok


def test_operator_facts_validation_and_jobspec_read_from_the_table():
    v2 = fw("MPIJob", "v2beta1")
    assert v2.managers == ("kubeflow.org/mpi-operator", "kueue.x-k8s.io/multikueue")
    assert all(f.managers == ("kubeflow.org/training-operator", "kueue.x-k8s.io/multikueue")
               for f in kinds.FRAMEWORKS if f is not v2)
    assert {(f.kind, f.version): f.spec_settings for f in kinds.FRAMEWORKS if f.spec_settings} == {
        ("PyTorchJob", "v1"): ("nprocPerNode",), ("MPIJob", "v1"): ("slotsPerWorker",),
        ("MPIJob", "v2beta1"): ("slotsPerWorker",)}
    assert [f.kind for f in kinds.FRAMEWORKS if f.top_level_clean_pod_policy] == ["MPIJob"]
    assert kinds.known_kinds() == ("PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "PaddleJob", "JAXJob")


def test_every_role_named_in_the_table_is_a_role_of_its_kind():
    for framework in kinds.FRAMEWORKS:
        named = (*framework.success_roles, *framework.zero_replica_roles, *framework.single_pod_roles,
                 *framework.master_roles, *framework.host_roles, *(r for r, _ in framework.role_restart_policies))
        assert set(named) <= set(framework.replica_types), framework.kind
        assert {p for _, p in framework.role_restart_policies} <= set(framework.restart_policies)
        assert framework.default_restart_policy in framework.restart_policies


def test_each_kind_has_one_preferred_version_and_mpijob_prefers_the_mpi_operator():
    for kind in kinds.known_kinds():
        assert [f.version for f in kinds.versions_of(kind) if f.preferred] == [kinds.preferred_version(kind).version]
    assert kinds.preferred_version("MPIJob") is kinds.lookup("kubeflow.org/v2beta1", "MPIJob")
    assert kinds.preferred_version("TFJob") is kinds.lookup("kubeflow.org/v1", "TFJob")
    assert kinds.preferred_version("Widget") is None


@pytest.mark.parametrize("kind, plural", [
    ("PyTorchJob", "pytorchjobs"), ("TFJob", "tfjobs"), ("MPIJob", "mpijobs"), ("JAXJob", "jaxjobs"),
    ("Widget", "widgets"),
], ids=["pytorch", "tf", "mpi-both-versions", "jax", "unknown-kind-by-convention"])
def test_plural_of_reads_the_table(kind, plural):
    assert kinds.plural_of(kind) == plural
    if kind != "Widget":
        assert {f.plural for f in kinds.versions_of(kind)} == {plural}
