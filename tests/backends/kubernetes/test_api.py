"""The API choke point: every error answer becomes one of our errors; 429/5xx are retried with backoff."""

from __future__ import annotations

import socket

import pytest

from dtrain_jupyter.backends.kubernetes.api import Api, Call, Tuning, resource_path, translate_status
from dtrain_jupyter.backends.kubernetes.config import load_cluster_config
from dtrain_jupyter.errors import (
    BackendUnavailable, ClusterError, Forbidden, InvalidJob, InvalidRequest, JobExists, JobNotFound, NotFound,
)

from .conftest import FAST
from .test_backend import pytorch

CREATE = Call("create", "pytorchjobs.kubeflow.org", "default", "PyTorchJob", "pt")
GET = Call("get", "pytorchjobs.kubeflow.org", "default", "PyTorchJob", "pt")
LIST_ALL = Call("list", "pytorchjobs.kubeflow.org", None)


def status(code, reason, message="", causes=None):
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message}
    if causes is not None:
        body["details"] = {"causes": causes}
    return body


@pytest.mark.parametrize(
    "code, body, call, error, fields",
    [
        (401, status(401, "Unauthorized", "Unauthorized"), LIST_ALL, Forbidden,
         {"verb": "list", "resource": "pytorchjobs.kubeflow.org", "namespace": ""}),
        (403, status(403, "Forbidden", 'pytorchjobs.kubeflow.org is forbidden: User "u" cannot create resource'),
         CREATE, Forbidden, {"verb": "create", "resource": "pytorchjobs.kubeflow.org", "namespace": "default"}),
        (404, status(404, "NotFound", "not found"), GET, JobNotFound, {"kind": "PyTorchJob", "name": "pt"}),
        (404, status(404, "NotFound", "the server could not find the requested resource"),
         Call("get", "pods", "default", name="p"), NotFound, {}),
        (409, status(409, "AlreadyExists", "already exists"), CREATE, JobExists, {"name": "pt"}),
        (409, status(409, "Conflict", "the object has been modified"), Call("update", "pytorchjobs.kubeflow.org", "default"),
         ClusterError, {"reason": "Conflict", "code": 409}),
        (500, status(500, "InternalError", "etcd down"), GET, ClusterError, {"reason": "InternalError", "code": 500}),
        (503, status(503, "ServiceUnavailable", "try later"), GET, BackendUnavailable, {}),
    ],
    ids=["401", "403", "404-job", "404-other", "409-exists", "409-conflict", "500", "503"],
)
def test_status_to_error(code, body, call, error, fields):
    err = translate_status(code, body, call, "https://k8s:6443")
    assert type(err) is error
    for k, v in fields.items():
        assert err.fields[k] == v
    if code not in (404, 409):
        assert body["message"] in err.message  # the server's words reach the person


def test_invalid_keeps_every_cause_with_a_dotted_path():
    body = status(422, "Invalid", "PyTorchJob.kubeflow.org \"pt\" is invalid", causes=[
        {"reason": "FieldValueInvalid", "message": "Invalid value: \"two\": must be integer",
         "field": "spec.pytorchReplicaSpecs[Master].replicas"},
        {"reason": "FieldValueRequired", "message": "Required value",
         "field": "spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].image"},
    ])
    err = translate_status(422, body, CREATE, "https://k8s")
    assert isinstance(err, InvalidJob)
    assert [i.path for i in err.issues] == [
        "spec.pytorchReplicaSpecs.Master.replicas", "spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].image"]
    assert "Invalid" in err.message


def test_the_real_servers_pathless_cause_and_repeated_field_are_one_issue_each():
    # As kube-apiserver 1.35 answers (tests/real_cluster): a cause with field "<nil>", and the
    # same field named in both notations.
    body = status(422, "Invalid", 'PyTorchJob.kubeflow.org "pt" is invalid', causes=[
        {"reason": "FieldValueTypeInvalid", "message": "Invalid value: \"string\": must be of type integer",
         "field": "spec.pytorchReplicaSpecs[Master].replicas"},
        {"reason": "FieldValueTypeInvalid", "message": "Invalid value: \"string\": must be of type integer",
         "field": "spec.pytorchReplicaSpecs.Master.replicas"},
        {"reason": "FieldValueInvalid", "message": "Invalid value: null: some validation rules were not checked "
         "because the object was invalid; correct the existing errors to complete validation", "field": "<nil>"},
    ])
    err = translate_status(422, body, CREATE, "https://k8s")
    assert [i.path for i in err.issues] == ["spec.pytorchReplicaSpecs.Master.replicas", ""]


# The training-operator's validating webhook, word for word from kube-apiserver 1.35.
WEBHOOK_DENIAL = ('admission webhook "validator.pytorchjob.training-operator.kubeflow.org" denied the request: '
                  "[spec.pytorchReplicaSpecs[Master].template.spec.containers: Required value: must have at least one "
                  "container with name pytorch, spec.pytorchReplicaSpecs[Master].replicas: Forbidden: must be 1]")


def test_a_webhook_denial_is_an_invalid_job_with_paths_not_an_rbac_refusal():
    err = translate_status(403, status(403, "Forbidden", WEBHOOK_DENIAL), CREATE, "https://k8s")
    assert isinstance(err, InvalidJob)
    assert [(i.path, i.message) for i in err.issues] == [
        ("spec.pytorchReplicaSpecs.Master.template.spec.containers",
         "Required value: must have at least one container with name pytorch"),
        ("spec.pytorchReplicaSpecs.Master.replicas", "Forbidden: must be 1")]
    single = translate_status(403, status(403, "Forbidden", 'admission webhook "v" denied the request: '
                                          'metadata.name: Invalid value: "A": should match'), CREATE, "https://k8s")
    assert [i.path for i in single.issues] == ["metadata.name"]
    rbac = translate_status(403, status(403, "Forbidden", WEBHOOK_DENIAL), LIST_ALL, "https://k8s")
    assert isinstance(rbac, Forbidden)  # reads are never refused by an admission webhook


def test_create_in_a_missing_namespace_names_the_namespace():
    body = status(404, "NotFound", 'namespaces "nope" not found')
    body["details"] = {"name": "nope", "kind": "namespaces"}
    err = translate_status(404, body, Call("create", "pytorchjobs.kubeflow.org", "nope", "PyTorchJob", "pt"), "https://k8s")
    assert type(err) is NotFound and "namespace 'nope' does not exist" in err.message


def test_bad_request_on_create_is_an_invalid_job():
    err = translate_status(400, status(400, "BadRequest", "json: cannot unmarshal"), CREATE, "https://k8s")
    assert isinstance(err, InvalidJob) and err.issues[0].message == "json: cannot unmarshal"


def test_bad_request_on_a_read_is_an_invalid_request():
    err = translate_status(400, status(400, "BadRequest", "container nope is not valid for pod p"),
                           Call("get", "pods/log", "default", name="p"), "https://k8s")
    assert isinstance(err, InvalidRequest) and "container nope" in err.message


def test_non_status_body_still_reads():
    err = translate_status(502, "<html>bad gateway</html>", GET, "https://k8s")
    assert isinstance(err, ClusterError) and "bad gateway" in err.message


def test_resource_paths():
    assert resource_path("kubeflow.org", "v1", "pytorchjobs", "ns", "pt") == "/apis/kubeflow.org/v1/namespaces/ns/pytorchjobs/pt"
    assert resource_path("", "v1", "pods", "ns", "p", "log") == "/api/v1/namespaces/ns/pods/p/log"
    assert resource_path("", "v1", "events") == "/api/v1/events"


@pytest.fixture
def api(kube_double):
    a = Api(load_cluster_config(kubeconfig=kube_double.kubeconfig_path), FAST)
    yield a
    a.close()


def test_429_and_500_are_retried_with_backoff(api, kube_double):
    kube_double.put_raw("kubeflow.org/v1", "pytorchjobs", "default", pytorch("pt"))
    path = resource_path("kubeflow.org", "v1", "pytorchjobs", "default", "pt")
    kube_double.fail_next("GET", r"/pytorchjobs/pt$", status=429, times=1, retry_after=0)
    kube_double.fail_next("GET", r"/pytorchjobs/pt$", status=500, times=2)
    assert api.request("GET", path, GET)["metadata"]["name"] == "pt"
    assert len([p for m, p, q in kube_double.request_log if p == path]) == 4


def test_retries_give_up_with_the_servers_reason(api, kube_double):
    path = resource_path("kubeflow.org", "v1", "pytorchjobs", "default", "pt")
    kube_double.fail_next("GET", r"/pytorchjobs/pt$", status=500, times=10)
    with pytest.raises(ClusterError) as err:
        api.request("GET", path, GET)
    assert err.value.fields["code"] == 500
    assert len([p for m, p, q in kube_double.request_log if p == path]) == FAST.retries + 1


def test_create_is_not_retried_after_a_server_error(api, kube_double):
    path = resource_path("kubeflow.org", "v1", "pytorchjobs", "default")
    kube_double.fail_next("POST", r"/pytorchjobs$", status=500, times=1)
    with pytest.raises(ClusterError):
        api.request("POST", path, CREATE, body=pytorch("pt"))
    assert kube_double.get_object("kubeflow.org/v1", "pytorchjobs", "default", "pt") is None


def test_wrong_token_is_a_401_in_words(kube_double, tmp_path):
    wrong = tmp_path / "kubeconfig"
    wrong.write_text(open(kube_double.kubeconfig_path).read().replace(kube_double.token, "wrong-token"))
    a = Api(load_cluster_config(kubeconfig=str(wrong)), FAST)
    try:
        with pytest.raises(Forbidden) as err:
            a.request("GET", "/apis/kubeflow.org/v1/pytorchjobs", LIST_ALL)
        assert "401" in err.value.message
    finally:
        a.close()


def test_unreachable_and_slow_servers_are_backend_unavailable(kube_double, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moved = tmp_path / "kubeconfig"
    moved.write_text(open(kube_double.kubeconfig_path).read().replace(f":{kube_double.port}", f":{port}"))
    down = Api(load_cluster_config(kubeconfig=str(moved)), FAST)
    try:
        with pytest.raises(BackendUnavailable) as err:
            down.request("GET", "/version", GET)
        assert "refused" in err.value.message and str(port) in err.value.message
    finally:
        down.close()
    kube_double.set_latency(1.0)
    slow = Api(load_cluster_config(kubeconfig=kube_double.kubeconfig_path),
               Tuning(connect_timeout=2, read_timeout=0.2, retries=0))
    try:
        with pytest.raises(BackendUnavailable) as err:
            slow.request("GET", "/apis/kubeflow.org/v1/pytorchjobs", LIST_ALL)
        assert "in time" in err.value.message
    finally:
        slow.close()
        kube_double.set_latency(0)
