"""The wizard's words: a plain label per field, a short hint, and the YAML field it writes.

The person filling the wizard is a data scientist, not a Kubernetes expert, so each field says
what it does in plain words; the exact YAML path sits beside it, quietly, so a Kubernetes user
still recognises `runPolicy.backoffLimit`. The meanings follow the operators' behaviour as the
project's operator-contract notes record it (§1.5 restart policies, §1.6 runPolicy, §2
nprocPerNode, §4-§5 MPI). Pure data and functions: no widgets.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model.kinds import Framework

__all__ = ["FieldWords", "FIELD_WORDS", "CODE_WORDS", "CODE_CHOICES", "FOLDER_YAML_NOTE", "KUBERNETES_ONLY",
           "RESTART_WORDS", "CLEAN_POD_WORDS", "ROLE_WORDS", "yaml_path", "role_paths", "hint_for", "restart_options",
           "clean_pod_options", "backend_kind"]


@dataclass(frozen=True)
class FieldWords:
    """What one wizard field is called and says.

    `path` is the field's YAML path; `{specs}` stands for the kind's replica-spec key
    (`pytorchReplicaSpecs`), `{takers}` for the roles the value is written to (`*`: every role;
    the MPI command goes to the Launcher only). Empty for a field that is not in the YAML.
    """

    label: str
    hint: str
    path: str = ""


_CONTAINER = "spec.{specs}.{takers}.template.spec.containers[0]"
_POD = "spec.{specs}.{takers}.template.spec"

FIELD_WORDS: dict[str, FieldWords] = {
    "platform": FieldWords("Framework", "The kind of job: which operator runs it and how replicas find each other.",
                           "kind"),
    "mpi_version": FieldWords("MPI operator", "Which operator your cluster runs; a cluster serves one of them.",
                              "apiVersion"),
    "name": FieldWords("Job name", "Lower-case letters, digits and '-'; at most 63 characters.", "metadata.name"),
    "backend": FieldWords("Run on", "local: processes on this machine; kubernetes: your cluster. "
                                    "Not part of the YAML."),
    "namespace": FieldWords("Namespace", "The Kubernetes namespace the job goes into; blank: the backend's default.",
                            "metadata.namespace"),
    "image": FieldWords("Container image", "The image every replica runs on Kubernetes.", _CONTAINER + ".image"),
    "command": FieldWords("Command", "The program every replica runs, written as in a shell.",
                          _CONTAINER + ".command"),
    "args": FieldWords("Arguments", "Added after the command.", _CONTAINER + ".args"),
    "env": FieldWords("Environment variables", "NAME=value, one per line.", _CONTAINER + ".env"),
    "working_dir": FieldWords("Working folder", "Where the command starts; blank: the image's default "
                                                "(locally: the Jupyter server's folder).",
                              _CONTAINER + ".workingDir"),
    "output": FieldWords("Results volume (PVC)", "A PersistentVolumeClaim mounted into every replica, "
                                                 "to keep what the job writes.",
                         _POD + ".volumes[0].persistentVolumeClaim.claimName"),
    "output_path": FieldWords("Results folder", "Where that volume appears inside each replica.",
                              _CONTAINER + ".volumeMounts[0].mountPath"),
    "nproc": FieldWords("Processes per node", "For torchrun: training processes in each replica "
                                              "(auto, cpu, gpu or a number).", "spec.nprocPerNode"),
    "slots": FieldWords("Slots per worker", "MPI processes each Worker runs; mpirun -np follows "
                                            "Workers × slots per worker.", "spec.slotsPerWorker"),
    "restart": FieldWords("Restart replicas", "What happens to a replica whose program stops.",
                          "spec.{specs}.{takers}.restartPolicy"),
    "backoff": FieldWords("Retries before the job fails", "Restarts allowed before the job is marked Failed; "
                                                          "blank: the operator's default.",
                          "spec.runPolicy.backoffLimit"),
    "clean": FieldWords("Stop other replicas when the job ends", "Once the job has succeeded or failed, what "
                                                                 "happens to replicas still there.",
                        "spec.runPolicy.cleanPodPolicy"),
    "ttl": FieldWords("Delete the job after it finishes (seconds)", "The operator deletes the job and its pods "
                                                                    "this long after it ends; blank: keep it.",
                      "spec.runPolicy.ttlSecondsAfterFinished"),
}

# What a job runs: a command line (the fields above), a function of a notebook file, or a script
# folder shipped with the job (issue 14). (label, value) as the wizard's first choice offers them.
CODE_CHOICES = (("Command", "command"), ("Notebook function", "function"), ("Code from a folder", "folder"))

CODE_WORDS: dict[str, FieldWords] = {
    "code": FieldWords("Code", "Command: a program the image has. Notebook function: a function of a notebook "
                               "here, sent with the job. Code from a folder: a folder of scripts here, sent with "
                               "the job."),
    "folder": FieldWords("Folder", "The folder to send with the job, absolute or relative to the panel's working "
                                   "folder; .gitignore and .dtrainignore are honoured."),
    "entry": FieldWords("Script to run", "The .py file of the folder every replica runs, from the folder."),
    "script_args": FieldWords("Script arguments", "Written as in a shell, e.g. --epochs 3 --lr 0.1."),
    "folder_packages": FieldWords("Packages to install", "Comma separated, e.g. einops, numpy>=1.26; installed "
                                                         "in each replica before the script starts."),
    "notebook": FieldWords("Notebook", "A notebook under the panel's working folder; it is read, not run."),
    "function": FieldWords("Function", "A function defined in that notebook; the helpers, classes, imports and "
                                       "constants it reads are sent with it."),
    "call_args": FieldWords("Function arguments", "A JSON object of keyword arguments, e.g. {\"lr\": 0.1}."),
    "function_packages": FieldWords("Packages to install", "Comma separated, e.g. einops, numpy>=1.26; installed "
                                                           "in each replica before the function runs."),
}
FOLDER_YAML_NOTE = ("A folder's files travel beside the manifest, in a ConfigMap created with the job, which the "
                    "YAML editor cannot carry: create the job from here.")

# Fields the local backend ignores (backends/local/replicas.py: volumes and mounts are not
# used, ttlSecondsAfterFinished is not applied; a local job's namespace is a folder of its
# state, always the backend's default here): hidden for it, and never written for it.
KUBERNETES_ONLY = ("namespace", "output", "output_path", "ttl")

# contract §1.5: OnFailure/Always restart in place; ExitCode retries codes >= 128 only.
RESTART_WORDS = {
    "Never": "a failed replica stays failed",
    "OnFailure": "a failed replica is restarted in place",
    "Always": "a replica is restarted whenever it stops",
    "ExitCode": "restarted when killed (exit code 128 and up); 1-127 fails the job",
}
# contract §1.6: applied once the job is finished; None is every operator's default since v1.6.
CLEAN_POD_WORDS = {
    "None": "let them finish",
    "Running": "stop the running ones",
    "All": "stop all of them",
}
ROLE_WORDS = {
    ("PyTorchJob", "Master"): "rank 0: coordinates the Workers and trains too",
    ("PyTorchJob", "Worker"): "the other training replicas",
    ("TFJob", "Chief"): "a Worker that also saves checkpoints",
    ("TFJob", "Worker"): "the training replicas",
    ("TFJob", "PS"): "parameter servers: hold the model's variables (no GPU)",
    ("TFJob", "Evaluator"): "evaluates checkpoints beside the training",
    ("MPIJob", "Launcher"): "runs mpirun; needs no GPU",
    ("MPIJob", "Worker"): "host the MPI processes, slots per worker each",
}


def _takers(fw: Framework, key: str) -> str:
    # An MPIJob's job-wide command and args are the Launcher's (model/spec.py: Workers run sshd).
    return "Launcher" if fw.kind == "MPIJob" and key in ("command", "args") else "*"


def yaml_path(key: str, fw: Framework) -> str:
    """The YAML path field `key` writes for kind `fw` ("" when the field is not in the YAML).

    `*` stands for every role the job has, as in `spec.tfReplicaSpecs.*.restartPolicy`.
    """
    return FIELD_WORDS[key].path.format(specs=fw.replica_key, takers=_takers(fw, key))


def role_paths(fw: Framework, role: str) -> dict[str, str]:
    """YAML paths of a role's count and per-replica resources (GPUs as `nvidia.com/gpu`)."""
    limits = f"spec.{fw.replica_key}.{role}.template.spec.containers[0].resources.limits"
    return {"replicas": f"spec.{fw.replica_key}.{role}.replicas", "cpu": f"{limits}.cpu",
            "memory": f"{limits}.memory", "gpu": f'{limits}["nvidia.com/gpu"]'}


def hint_for(key: str, fw: Framework) -> str:
    """The hint of field `key` for kind `fw`: a few fields mean something else for MPI."""
    if fw.kind == "MPIJob" and key == "command":
        return "The Launcher's program, usually mpirun; the Workers only host its processes."
    if fw.kind == "MPIJob" and key == "args":
        return "Added after the command. mpirun -np follows Workers × slots per worker until you type your own."
    if fw.kind == "MPIJob" and fw.version == "v2beta1" and key == "ttl":
        # contract §5: the MPI Operator applies the TTL to its launcher Job; the MPIJob stays.
        return "The MPI Operator removes the Launcher this long after the job ends; the MPIJob stays. Blank: keep it."
    return FIELD_WORDS[key].hint


def restart_options(fw: Framework) -> tuple[tuple[str, str], ...]:
    """("Never: a failed replica stays failed", "Never") for each policy the kind's operator accepts."""
    return tuple((f"{p}: {RESTART_WORDS[p]}" if p in RESTART_WORDS else p, p) for p in fw.restart_policies)


def clean_pod_options() -> tuple[tuple[str, str], ...]:
    """("None: let them finish", "None") for each cleanPodPolicy, the operator's default ("") first."""
    default = ("Operator default (None: let them finish)", "")
    return (default, *((f"{policy}: {words}", policy) for policy, words in CLEAN_POD_WORDS.items()))


def backend_kind(name: str) -> str:
    """"local" or "kubernetes" for a backend's name.

    The server names each backend after its kind (`c.DTrain.backend = "local,kubernetes"`, the
    only two it ships), so the name in the backends list the wizard receives is the kind.
    """
    return "local" if name == "local" else "kubernetes"
