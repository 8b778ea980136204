"""Facts about each Kubeflow job kind: API coordinates, replica roles, defaults, pods, success rule.

Read from the Kubeflow Training Operator v1.9 and MPI Operator v2beta1 sources as summarised in
the project's operator-contract notes (§1.1–§1.4, §4, §5, §6). Everything else in the project asks
this table instead of spelling a kind's facts out again: where two kinds behave differently, the
difference is a field here, and the code that reads it has no branch on the kind's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

GROUP = "kubeflow.org"
CLEAN_POD_POLICIES = ("All", "Running", "None")

# The labels the operators put on a job's pods (contract §1.3).
LABEL_PREFIX = "training.kubeflow.org/"
LABEL_OPERATOR = LABEL_PREFIX + "operator-name"
LABEL_JOB_NAME = LABEL_PREFIX + "job-name"
LABEL_REPLICA_TYPE = LABEL_PREFIX + "replica-type"
LABEL_REPLICA_INDEX = LABEL_PREFIX + "replica-index"
LABEL_JOB_ROLE = LABEL_PREFIX + "job-role"


@dataclass(frozen=True)
class Framework:
    """One job kind at one API version, as the operator that serves it defines it."""

    kind: str
    version: str
    plural: str
    replica_key: str
    replica_types: tuple[str, ...]
    default_container: str
    default_port_name: str | None
    default_port: int | None
    default_restart_policy: str
    # Restart policies the operator accepts for a replica (v2beta1 MPIJob takes two only).
    restart_policies: tuple[str, ...]
    # Value of the `training.kubeflow.org/operator-name` label on the job's pods.
    operator_name: str
    # Whether the validating webhook requires a container with the default name.
    requires_default_container: bool
    # Roles whose completion decides success: the first one the job has decides (contract §1.4).
    success_roles: tuple[str, ...]
    # Words for people: what the wizard shows.
    title: str
    description: str
    group: str = GROUP
    # Values `spec.runPolicy.managedBy` may take: the operator itself, or Kueue's MultiKueue (contract §1.1, §5).
    managers: tuple[str, ...] = ("kubeflow.org/training-operator", "kueue.x-k8s.io/multikueue")
    # Job-wide `spec` fields of this kind, beside runPolicy and the replica specs, that a JobSpec
    # reads and writes (PyTorch's nprocPerNode, MPI's slotsPerWorker).
    spec_settings: tuple[str, ...] = ()
    # Whether a manifest of this kind is written at this version when none is asked for. One
    # version per kind: MPIJob's is the MPI Operator's v2beta1, since the training operator
    # serves its v1 only where the MPI Operator is not installed (and deprecates it).
    preferred: bool = True

    # -- defaulting: what the operator's *_defaults.go fills in (contract §1.1, §4, §5) --------
    # Roles whose `replicas` defaults to 0 instead of 1 (MPIJob's Worker).
    zero_replica_roles: tuple[str, ...] = ()
    # (role, restartPolicy) where a role's default differs from default_restart_policy.
    role_restart_policies: tuple[tuple[str, str], ...] = ()
    # Whether the operator finds the training container by default_container. Both MPI operators
    # take containers[0] instead: the MPI Operator (v2beta1) by rule, the training operator's
    # MPIJob v1 controller by giving containers[0] the launcher env and the worker's sleep
    # (`mpijob_controller.go` newLauncher, newWorker; contract §4, §5).
    container_by_name: bool = True
    # Whether the deprecated top-level `spec.cleanPodPolicy` still counts (MPIJob v1; the
    # runPolicy one wins when both are set).
    top_level_clean_pod_policy: bool = False
    # MPI implementations `spec.mpiImplementation` may name, the default first; empty for kinds
    # without an MPI launcher. The training operator's MPIJob v1 knows Open MPI only.
    mpi_implementations: tuple[str, ...] = ()

    # -- pods: names, labels and roles (contract §1.2, §1.3, §4, §5) -------------------------
    # Roles that run as one pod `<job>-<role>` without a replica index (the MPI launcher).
    single_pod_roles: tuple[str, ...] = ()
    # IsMasterRole: every pod of these roles is the master (label job-role=master) ...
    master_roles: tuple[str, ...] = ()
    # ... and when the job has none of them, worker-0 is (TF, PyTorch, JAX; not Paddle).
    worker0_is_master: bool = False
    # The MPI Operator tells each pod its role (label job-role=launcher|worker, env
    # K_MPI_JOB_ROLE) and sets no replica-type label.
    announces_role: bool = False
    # Roles that only stand for hosts of the launcher's mpirun: a replica of one without a
    # command (or running sshd) has nothing of its own to run.
    host_roles: tuple[str, ...] = ()

    # -- success, beyond success_roles (contract §1.4) ---------------------------------------
    # Decided by Workers: worker-0 finishing is enough unless spec.successPolicy is AllWorkers (TF).
    worker0_completes: bool = False
    # Decided by Workers with spec.elasticPolicy set: any Worker finishing is enough (PyTorch).
    elastic_any_worker_completes: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def __deepcopy__(self, memo: dict[int, Any]) -> Framework:
        return self  # a fact of the table, never changed: copies of what holds it share it

    def canonical_replica_type(self, name: str) -> str | None:
        """The operator matches replica keys case-insensitively (`ps` -> `PS`)."""
        for rtype in self.replica_types:
            if rtype.lower() == str(name).lower():
                return rtype
        return None

    # -- defaulting ---------------------------------------------------------------------------
    def default_replicas(self, rtype: str) -> int:
        """Replicas a spec without `replicas` gets: 1, except MPIJob's Worker which gets 0."""
        return 0 if rtype in self.zero_replica_roles else 1

    def default_restart_for(self, rtype: str) -> str:
        """restartPolicy a replica spec without one gets (v2beta1 MPIJob: Launcher OnFailure)."""
        return dict(self.role_restart_policies).get(rtype, self.default_restart_policy)

    def replicas_of(self, rspec: Mapping[str, Any], rtype: str) -> int:
        """A validated replica spec's replica count, defaulted."""
        count = rspec.get("replicas")
        return self.default_replicas(rtype) if count is None else count

    def restart_policy_of(self, rspec: Mapping[str, Any], rtype: str) -> str:
        """A validated replica spec's restartPolicy, defaulted."""
        return rspec.get("restartPolicy") or self.default_restart_for(rtype)

    def training_container(self, containers: Sequence[Mapping[str, Any]]) -> int:
        """Index of the container the operator treats as the training one: by name, else the first."""
        if self.container_by_name:
            for i, container in enumerate(containers):
                # Also called on manifests not yet validated (JobSpec.from_manifest): skip non-mappings.
                if isinstance(container, Mapping) and container.get("name") == self.default_container:
                    return i
        return 0

    def clean_pod_policy(self, spec: Mapping[str, Any]) -> str:
        """The job's cleanPodPolicy: All, Running or None (contract §1.6).

        `runPolicy.cleanPodPolicy` wins; MPIJob v1 still reads its deprecated top-level field;
        unset is `None`, every kind's default since training-operator v1.6 and the MPI
        Operator's. An unknown value (validation refuses it; an old record may hold one) reads
        as `None`, which stops nothing.
        """
        run = spec.get("runPolicy")
        policy = run.get("cleanPodPolicy") if isinstance(run, Mapping) else None
        if policy is None and self.top_level_clean_pod_policy:
            policy = spec.get("cleanPodPolicy")
        return policy if policy in CLEAN_POD_POLICIES else "None"

    def mpi_implementation(self, spec: Mapping[str, Any]) -> str | None:
        """The MPI implementation the launcher's hostfile and env are written for; None without MPI."""
        if not self.mpi_implementations:
            return None
        chosen = spec.get("mpiImplementation") if len(self.mpi_implementations) > 1 else None
        return chosen if chosen in self.mpi_implementations else self.mpi_implementations[0]

    @staticmethod
    def slots_per_worker(spec: Mapping[str, Any]) -> int:
        """`spec.slotsPerWorker`, defaulted to 1 as both MPI operators do."""
        return int(spec.get("slotsPerWorker") or 1)

    # -- pods ---------------------------------------------------------------------------------
    def pod_name(self, job: str, rtype: str, index: int) -> str:
        """`<job>-<role>-<index>`, or `<job>-launcher` for a single-pod role (contract §1.2, §4)."""
        if rtype in self.single_pod_roles:
            return f"{job}-{rtype.lower()}"
        return f"{job}-{rtype.lower()}-{index}"

    def is_master(self, rtype: str, index: int, roles: Iterable[str]) -> bool:
        """IsMasterRole of the kind's controller, for a job whose roles are `roles` (contract §1.3)."""
        if rtype in self.master_roles:
            return True
        if not self.worker0_is_master or any(r in self.master_roles for r in roles):
            return False
        return rtype == "Worker" and index == 0

    def pod_labels(self, job: str, rtype: str, index: int, master: bool) -> dict[str, str]:
        """The operator's labels of one pod (contract §1.3, §5), without the template's own."""
        labels = {LABEL_OPERATOR: self.operator_name, LABEL_JOB_NAME: job.replace("/", "-")}
        if self.announces_role:
            labels[LABEL_JOB_ROLE] = rtype.lower()
        else:
            labels[LABEL_REPLICA_TYPE] = rtype.lower()
        if rtype not in self.single_pod_roles:
            labels[LABEL_REPLICA_INDEX] = str(index)
        if master and not self.announces_role:
            labels[LABEL_JOB_ROLE] = "master"
        return labels

    # -- success ------------------------------------------------------------------------------
    def succeeded(self, spec: Mapping[str, Any], replicas: Iterable[tuple[str, int | None, bool]]) -> bool:
        """The kind's success rule (contract §1.4) over (role, index, finished successfully) triples."""
        by_role: dict[str, list[tuple[int | None, bool]]] = {}
        for rtype, index, ok in replicas:
            by_role.setdefault(rtype, []).append((index, ok))
        role = next((r for r in self.success_roles if r in by_role), None)
        if role is None:
            return False
        done = [ok for _, ok in by_role[role]]
        if role == "Worker" and self.elastic_any_worker_completes and spec.get("elasticPolicy") is not None:
            return any(done)
        if role == "Worker" and self.worker0_completes and spec.get("successPolicy") != "AllWorkers":
            return all(done) or any(index == 0 and ok for index, ok in by_role[role])
        return all(done)


_V1_RESTART = ("Always", "OnFailure", "Never", "ExitCode")
_MPI = dict(
    plural="mpijobs", replica_key="mpiReplicaSpecs", replica_types=("Launcher", "Worker"), default_container="mpi",
    default_port_name=None, default_port=None, default_restart_policy="Never", requires_default_container=False,
    success_roles=("Launcher",), title="Horovod / MPI", zero_replica_roles=("Worker",), container_by_name=False,
    single_pod_roles=("Launcher",), master_roles=("Launcher",), host_roles=("Worker",),
    spec_settings=("slotsPerWorker",),
)

FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        kind="PyTorchJob", version="v1", plural="pytorchjobs", replica_key="pytorchReplicaSpecs",
        replica_types=("Master", "Worker"), default_container="pytorch",
        default_port_name="pytorchjob-port", default_port=23456, default_restart_policy="OnFailure",
        restart_policies=_V1_RESTART, operator_name="pytorchjob-controller",
        requires_default_container=True, success_roles=("Master", "Worker"),
        title="PyTorch", description="PyTorch DistributedDataParallel or torchrun: a Master and Workers.",
        master_roles=("Master",), worker0_is_master=True, elastic_any_worker_completes=True,
        spec_settings=("nprocPerNode",),
    ),
    Framework(
        kind="TFJob", version="v1", plural="tfjobs", replica_key="tfReplicaSpecs",
        replica_types=("Chief", "PS", "Worker", "Evaluator", "Master"), default_container="tensorflow",
        default_port_name="tfjob-port", default_port=2222, default_restart_policy="Never",
        restart_policies=_V1_RESTART, operator_name="tfjob-controller",
        requires_default_container=True, success_roles=("Chief", "Master", "Worker"),
        title="TensorFlow", description="TensorFlow with TF_CONFIG: Chief, Workers, parameter servers, Evaluator.",
        master_roles=("Chief", "Master"), worker0_is_master=True, worker0_completes=True,
    ),
    Framework(
        kind="MPIJob", version="v1", restart_policies=_V1_RESTART, operator_name="mpijob-controller",
        description="Horovod or plain MPI: a Launcher runs mpirun over the Workers.",
        top_level_clean_pod_policy=True, mpi_implementations=("OpenMPI",), preferred=False, **_MPI,
    ),
    Framework(
        kind="MPIJob", version="v2beta1", restart_policies=("OnFailure", "Never"), operator_name="mpi-operator",
        description="Horovod or plain MPI (MPI Operator v2): a Launcher runs mpirun over the Workers.",
        role_restart_policies=(("Launcher", "OnFailure"),), mpi_implementations=("OpenMPI", "Intel", "MPICH"),
        announces_role=True, managers=("kubeflow.org/mpi-operator", "kueue.x-k8s.io/multikueue"), **_MPI,
    ),
    Framework(
        kind="XGBoostJob", version="v1", plural="xgboostjobs", replica_key="xgbReplicaSpecs",
        replica_types=("Master", "Worker"), default_container="xgboost",
        default_port_name="xgboostjob-port", default_port=9999, default_restart_policy="Never",
        restart_policies=_V1_RESTART, operator_name="xgboostjob-controller",
        requires_default_container=True, success_roles=("Master",),
        title="XGBoost", description="Distributed XGBoost: a Master and Workers.",
        master_roles=("Master",),
    ),
    Framework(
        kind="PaddleJob", version="v1", plural="paddlejobs", replica_key="paddleReplicaSpecs",
        replica_types=("Master", "Worker"), default_container="paddle",
        default_port_name="master", default_port=36543, default_restart_policy="OnFailure",
        restart_policies=_V1_RESTART, operator_name="paddlejob-controller",
        requires_default_container=True, success_roles=("Master", "Worker"),
        title="PaddlePaddle", description="PaddlePaddle collective or parameter-server training.",
        master_roles=("Master",),
    ),
    Framework(
        kind="JAXJob", version="v1", plural="jaxjobs", replica_key="jaxReplicaSpecs",
        replica_types=("Worker",), default_container="jax",
        default_port_name="jaxjob-port", default_port=6666, default_restart_policy="Never",
        restart_policies=_V1_RESTART, operator_name="jaxjob-controller",
        requires_default_container=True, success_roles=("Worker",),
        title="JAX", description="JAX multi-process: Workers, worker-0 coordinates.",
        worker0_is_master=True,
    ),
)

# The three kinds the wizard, panel and local backend are built around.
PRIMARY_KINDS = ("PyTorchJob", "TFJob", "MPIJob")

_BY_API = {(f.api_version, f.kind): f for f in FRAMEWORKS}


def lookup(api_version: str, kind: str) -> Framework | None:
    """The Framework for an apiVersion and kind, or None when the pair is not a known job kind."""
    return _BY_API.get((api_version, kind))


def versions_of(kind: str) -> tuple[Framework, ...]:
    """Every known API version of a kind (MPIJob has v1 and v2beta1)."""
    return tuple(f for f in FRAMEWORKS if f.kind == kind)


def preferred_version(kind: str) -> Framework | None:
    """The version a manifest of `kind` is written at when none is asked for (MPIJob: v2beta1); None
    for a kind this table does not know."""
    return next((f for f in FRAMEWORKS if f.kind == kind and f.preferred), None)


def plural_of(kind: str) -> str:
    """The resource plural that names a kind in API paths (`PyTorchJob` -> `pytorchjobs`).

    Every version of a kind shares its plural. A kind this table does not know gets the
    Kubernetes convention (lower case plus "s"), so a path can still name it and be refused
    there with the server's own words.
    """
    found = versions_of(kind)
    return found[0].plural if found else kind.lower() + "s"


def by_plural(plural: str, version: str | None = None) -> Framework | None:
    """The Framework behind a resource plural (`pytorchjobs`), optionally at one version."""
    for f in FRAMEWORKS:
        if f.plural == plural and (version is None or f.version == version):
            return f
    return None


_KINDS = tuple(dict.fromkeys(f.kind for f in FRAMEWORKS))


def known_kinds() -> tuple[str, ...]:
    """Every job kind, once each, in the table's order."""
    return _KINDS
