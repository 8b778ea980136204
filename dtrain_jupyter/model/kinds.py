"""Facts about each Kubeflow job kind: API coordinates, replica roles, defaults, success rule.

Read from the Kubeflow Training Operator v1.9 and MPI Operator v2beta1 sources as summarised in
the project's operator-contract notes (§1.1, §4, §5, §6). Everything else in the project asks
this table instead of spelling a kind's facts out again.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "kubeflow.org"


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
    # Replica types whose completion decides success, in order of preference.
    success_roles: tuple[str, ...]
    # Words for people: what the wizard shows.
    title: str
    description: str
    group: str = GROUP

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def canonical_replica_type(self, name: str) -> str | None:
        """The operator matches replica keys case-insensitively (`ps` -> `PS`)."""
        for rtype in self.replica_types:
            if rtype.lower() == str(name).lower():
                return rtype
        return None

    def default_replicas(self, rtype: str) -> int:
        """Replicas a spec without `replicas` gets: 1, except MPIJob's Worker which gets 0."""
        return 0 if self.kind == "MPIJob" and rtype == "Worker" else 1

    def default_restart_for(self, rtype: str) -> str:
        # v2beta1 MPIJob: Launcher defaults to OnFailure, Worker to Never (contract §5).
        if self.kind == "MPIJob" and self.version == "v2beta1":
            return "OnFailure" if rtype == "Launcher" else "Never"
        return self.default_restart_policy


_V1_RESTART = ("Always", "OnFailure", "Never", "ExitCode")

FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        kind="PyTorchJob", version="v1", plural="pytorchjobs", replica_key="pytorchReplicaSpecs",
        replica_types=("Master", "Worker"), default_container="pytorch",
        default_port_name="pytorchjob-port", default_port=23456, default_restart_policy="OnFailure",
        restart_policies=_V1_RESTART, operator_name="pytorchjob-controller",
        requires_default_container=True, success_roles=("Master", "Worker"),
        title="PyTorch", description="PyTorch DistributedDataParallel or torchrun: a Master and Workers.",
    ),
    Framework(
        kind="TFJob", version="v1", plural="tfjobs", replica_key="tfReplicaSpecs",
        replica_types=("Chief", "PS", "Worker", "Evaluator", "Master"), default_container="tensorflow",
        default_port_name="tfjob-port", default_port=2222, default_restart_policy="Never",
        restart_policies=_V1_RESTART, operator_name="tfjob-controller",
        requires_default_container=True, success_roles=("Chief", "Master", "Worker"),
        title="TensorFlow", description="TensorFlow with TF_CONFIG: Chief, Workers, parameter servers, Evaluator.",
    ),
    Framework(
        kind="MPIJob", version="v1", plural="mpijobs", replica_key="mpiReplicaSpecs",
        replica_types=("Launcher", "Worker"), default_container="mpi",
        default_port_name=None, default_port=None, default_restart_policy="Never",
        restart_policies=_V1_RESTART, operator_name="mpijob-controller",
        requires_default_container=False, success_roles=("Launcher",),
        title="Horovod / MPI", description="Horovod or plain MPI: a Launcher runs mpirun over the Workers.",
    ),
    Framework(
        kind="MPIJob", version="v2beta1", plural="mpijobs", replica_key="mpiReplicaSpecs",
        replica_types=("Launcher", "Worker"), default_container="mpi",
        default_port_name=None, default_port=None, default_restart_policy="Never",
        restart_policies=("OnFailure", "Never"), operator_name="mpi-operator",
        requires_default_container=False, success_roles=("Launcher",),
        title="Horovod / MPI", description="Horovod or plain MPI (MPI Operator v2): a Launcher runs mpirun over the Workers.",
    ),
    Framework(
        kind="XGBoostJob", version="v1", plural="xgboostjobs", replica_key="xgbReplicaSpecs",
        replica_types=("Master", "Worker"), default_container="xgboost",
        default_port_name="xgboostjob-port", default_port=9999, default_restart_policy="Never",
        restart_policies=_V1_RESTART, operator_name="xgboostjob-controller",
        requires_default_container=True, success_roles=("Master",),
        title="XGBoost", description="Distributed XGBoost: a Master and Workers.",
    ),
    Framework(
        kind="PaddleJob", version="v1", plural="paddlejobs", replica_key="paddleReplicaSpecs",
        replica_types=("Master", "Worker"), default_container="paddle",
        default_port_name="master", default_port=36543, default_restart_policy="OnFailure",
        restart_policies=_V1_RESTART, operator_name="paddlejob-controller",
        requires_default_container=True, success_roles=("Master", "Worker"),
        title="PaddlePaddle", description="PaddlePaddle collective or parameter-server training.",
    ),
    Framework(
        kind="JAXJob", version="v1", plural="jaxjobs", replica_key="jaxReplicaSpecs",
        replica_types=("Worker",), default_container="jax",
        default_port_name="jaxjob-port", default_port=6666, default_restart_policy="Never",
        restart_policies=_V1_RESTART, operator_name="jaxjob-controller",
        requires_default_container=True, success_roles=("Worker",),
        title="JAX", description="JAX multi-process: Workers, worker-0 coordinates.",
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


def by_plural(plural: str, version: str | None = None) -> Framework | None:
    """The Framework behind a resource plural (`pytorchjobs`), optionally at one version."""
    for f in FRAMEWORKS:
        if f.plural == plural and (version is None or f.version == version):
            return f
    return None


def known_kinds() -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for f in FRAMEWORKS:
        seen.setdefault(f.kind, None)
    return tuple(seen)
