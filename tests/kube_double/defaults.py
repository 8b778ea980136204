"""The operators' defaulting webhooks, applied on create and update like a mutating admission webhook.

Facts from training-operator v1.9 `apis/kubeflow.org/v1/*_defaults.go` and MPI Operator
`pkg/apis/kubeflow/v2beta1/default.go` (operator-contract.md §1.1, §4, §5): replica-type
keys in CamelCase, `replicas` 1 (MPI Worker 0), the kind's default `restartPolicy`, the
default port on the default container, `runPolicy.cleanPodPolicy: None`, PyTorch
`nprocPerNode: auto` and elastic min/max, TFJob `successPolicy: ""`, MPI `slotsPerWorker: 1`
and the v2beta1 launcher/ssh/implementation defaults. Generated clients depend on this:
the kubeflow-training SDK refuses to deserialize a job without `spec.runPolicy`.
"""

from __future__ import annotations

from .operators import KINDS, camel

# kind -> (default port name, number); MPIJob gets no port.
PORTS = {"PyTorchJob": ("pytorchjob-port", 23456), "TFJob": ("tfjob-port", 2222),
         "XGBoostJob": ("xgboostjob-port", 9999), "PaddleJob": ("master", 36543), "JAXJob": ("jaxjob-port", 6666)}


def _add_port(kind: str, template: dict) -> None:
    if kind not in PORTS:
        return
    name, number = PORTS[kind]
    containers = ((template or {}).get("spec") or {}).get("containers") or []
    if not containers:
        return
    default = KINDS[kind].container
    target = next((c for c in containers if c.get("name") == default), containers[0])
    if any(p.get("name") == name for c in containers if c.get("name") == default for p in c.get("ports") or []):
        return
    target.setdefault("ports", []).append({"name": name, "containerPort": number, "protocol": "TCP"})


def apply_defaults(obj: dict) -> dict:
    """Default a Kubeflow job in place (other objects pass unchanged); returns it."""
    kind = obj.get("kind")
    spec = obj.get("spec")
    if kind not in KINDS or not isinstance(spec, dict):
        return obj
    v2 = kind == "MPIJob" and str(obj.get("apiVersion", "")).endswith("v2beta1")
    facts = KINDS[kind]
    run_policy = spec.setdefault("runPolicy", {})
    if isinstance(run_policy, dict):
        run_policy.setdefault("cleanPodPolicy", "None")
    specs = spec.get(facts.replica_key)
    if isinstance(specs, dict):
        spec[facts.replica_key] = specs = {camel(k): v for k, v in specs.items()}
        for rtype, rspec in specs.items():
            if not isinstance(rspec, dict):
                continue
            mpi_worker = kind == "MPIJob" and rtype == "Worker"
            rspec.setdefault("replicas", 0 if mpi_worker else 1)
            policy = ("OnFailure" if v2 and rtype == "Launcher" else facts.restart_policy)
            if not rspec.get("restartPolicy"):
                rspec["restartPolicy"] = policy
            if isinstance(rspec.get("template"), dict):
                _add_port(kind, rspec["template"])
    if kind == "PyTorchJob":
        elastic = spec.get("elasticPolicy")
        if not (isinstance(elastic, dict) and elastic.get("nProcPerNode") is not None):
            spec.setdefault("nprocPerNode", "auto")
        if isinstance(elastic, dict) and isinstance(specs, dict):
            lo, hi = elastic.get("minReplicas"), elastic.get("maxReplicas")
            workers = (specs.get("Worker") or {}).get("replicas")
            if lo is None and hi is None and workers is not None:
                elastic["minReplicas"] = elastic["maxReplicas"] = workers
            elif lo is None:
                elastic["minReplicas"] = hi
            elif hi is None:
                elastic["maxReplicas"] = lo
    if kind == "TFJob":
        spec.setdefault("successPolicy", "")
    if kind == "MPIJob":
        spec.setdefault("slotsPerWorker", 1)
        if v2:
            spec.setdefault("sshAuthMountPath", "/root/.ssh")
            spec.setdefault("mpiImplementation", "OpenMPI")
            spec.setdefault("launcherCreationPolicy", "AtStartup")
    return obj
