"""REST semantics over real HTTP: auth, Status errors, validation, dryRun, selectors, paging, patch, delete."""

from __future__ import annotations

import ssl

import httpx
import pytest

from tests.kube_double.conftest import PT, pytorch_job


def test_a_wrong_token_gets_401_and_no_token_is_anonymous_403(kd):
    verify = ssl.create_default_context(cafile=kd.ca_path)
    r = httpx.get(f"{kd.url}/api/v1/namespaces", verify=verify, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    # The real server's default: anonymous requests are authenticated as system:anonymous and refused by RBAC.
    r = httpx.get(f"{kd.url}/api/v1/namespaces", verify=verify)
    assert r.status_code == 403 and r.json()["reason"] == "Forbidden"
    assert 'User "system:anonymous"' in r.json()["message"]


def test_create_fills_metadata_and_get_reads_it_back(http):
    created = http.post(PT, json=pytorch_job("a"))
    got = http.get(f"{PT}/a").json()

    assert created.status_code == 201
    meta = got["metadata"]
    assert meta["uid"] and meta["generation"] == 1 and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    # Stored as sent: the training-operator defaults a copy in memory, it has no mutating webhook.
    assert "runPolicy" not in got["spec"]
    assert got["spec"] == pytorch_job("a")["spec"]


@pytest.mark.parametrize("path, code, reason, message", [
    (f"{PT}/missing", 404, "NotFound", 'pytorchjobs.kubeflow.org "missing" not found'),
    ("/apis/kubeflow.org/v1/namespaces/default/nosuchthings", 404, "NotFound",
     "the server could not find the requested resource"),
], ids=["object", "resource"])
def test_not_found_is_a_status(http, path, code, reason, message):
    r = http.get(path)
    assert (r.status_code, r.json()["reason"], r.json()["message"]) == (code, reason, message)


def test_create_twice_is_409_already_exists(http):
    http.post(PT, json=pytorch_job("twice"))
    r = http.post(PT, json=pytorch_job("twice"))
    assert r.status_code == 409
    assert r.json()["reason"] == "AlreadyExists"
    assert r.json()["message"] == 'pytorchjobs.kubeflow.org "twice" already exists'
    assert r.json()["details"] == {"name": "twice", "group": "kubeflow.org", "kind": "pytorchjobs"}


def test_create_in_a_missing_namespace_is_404(http):
    r = http.post("/apis/kubeflow.org/v1/namespaces/nowhere/pytorchjobs", json=pytorch_job("x", "nowhere"))
    assert (r.status_code, r.json()["message"]) == (404, 'namespaces "nowhere" not found')


def test_schema_violations_are_422_with_every_cause(http):
    job = pytorch_job("bad")
    job["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = "one"
    del job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["name"]
    job["metadata"]["name"] = "Bad_Name"

    r = http.post(PT, json=job)

    body = r.json()
    assert r.status_code == 422 and body["reason"] == "Invalid"
    fields = {c["field"]: c["reason"] for c in body["details"]["causes"]}
    assert fields == {
        "metadata.name": "FieldValueInvalid",
        "spec.pytorchReplicaSpecs.Master.replicas": "FieldValueTypeInvalid",
        "spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].name": "FieldValueRequired",
        "<nil>": "FieldValueInvalid",  # the CRD's CEL rule was not checked, as the real server says
    }
    assert body["message"].startswith('PyTorchJob.kubeflow.org "Bad_Name" is invalid: [')
    assert body["details"]["kind"] == "PyTorchJob"


def test_unknown_fields_strict_is_400_warn_prunes_with_a_warning(http):
    job = pytorch_job("extra")
    job["spec"]["colour"] = "blue"

    strict = http.post(PT, json=job, params={"fieldValidation": "Strict"})
    warned = http.post(PT, json=job)

    assert strict.status_code == 400
    assert 'strict decoding error: unknown field "spec.colour"' in strict.json()["message"]
    assert warned.status_code == 201
    assert warned.headers["Warning"] == '299 - "unknown field \\"spec.colour\\""'
    assert "colour" not in warned.json()["spec"]


def test_dry_run_validates_but_stores_nothing(http):
    r = http.post(PT, json=pytorch_job("dry"), params={"dryRun": "All"})
    assert r.status_code == 201 and r.json()["metadata"]["uid"]
    assert http.get(f"{PT}/dry").status_code == 404
    bad = pytorch_job("dry")
    bad["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = "x"
    assert http.post(PT, json=bad, params={"dryRun": "All"}).status_code == 422


@pytest.mark.parametrize("selector, expected", [
    ("team=vision", ["a", "b", "c"]),
    ("tier!=gold", ["a", "c"]),
    ("tier in (gold,silver)", ["b", "c"]),
    ("tier notin (gold)", ["a", "c"]),
    ("tier", ["b", "c"]),
    ("!tier", ["a"]),
    ("team==vision,tier=silver", ["c"]),
])
def test_label_selectors(http, selector, expected):
    for name, tier in (("a", None), ("b", "gold"), ("c", "silver")):
        job = pytorch_job(name)
        if tier:
            job["metadata"]["labels"]["tier"] = tier
        http.post(PT, json=job)
    r = http.get(PT, params={"labelSelector": selector})
    assert [i["metadata"]["name"] for i in r.json()["items"]] == expected


def test_bad_selector_is_400(http):
    r = http.get(PT, params={"labelSelector": "a in (b"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"


def test_field_selector_and_all_namespaces(http):
    http.post(PT, json=pytorch_job("same"))
    http.post("/apis/kubeflow.org/v1/namespaces/team-a/pytorchjobs", json=pytorch_job("same", "team-a"))
    everywhere = http.get("/apis/kubeflow.org/v1/pytorchjobs").json()
    team = http.get("/apis/kubeflow.org/v1/pytorchjobs", params={"fieldSelector": "metadata.namespace=team-a"})
    assert [(i["metadata"]["namespace"]) for i in everywhere["items"]] == ["default", "team-a"]
    assert everywhere["kind"] == "PyTorchJobList"
    assert [i["metadata"]["namespace"] for i in team.json()["items"]] == ["team-a"]


def test_limit_and_continue_page_through_a_list(http):
    for i in range(5):
        http.post(PT, json=pytorch_job(f"p{i}"))
    names, token = [], None
    while True:
        params = {"limit": 2, **({"continue": token} if token else {})}
        page = http.get(PT, params=params).json()
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names == ["p0", "p1", "p2", "p3", "p4"]


def test_continue_token_after_compaction_is_410(http, kd):
    for i in range(3):
        http.post(PT, json=pytorch_job(f"c{i}"))
    token = http.get(PT, params={"limit": 1}).json()["metadata"]["continue"]
    http.post(PT, json=pytorch_job("later"))
    kd.compact()
    r = http.get(PT, params={"limit": 1, "continue": token})
    assert (r.status_code, r.json()["reason"]) == (410, "Expired")


def test_merge_patch_json_patch_and_conflicting_put(http):
    http.post(PT, json=pytorch_job("p"))
    merged = http.patch(f"{PT}/p", json={"metadata": {"labels": {"tier": "gold"}}},
                        headers={"Content-Type": "application/merge-patch+json"}).json()
    patched = http.patch(f"{PT}/p", json=[{"op": "replace", "path": "/spec/pytorchReplicaSpecs/Worker/replicas",
                                           "value": 3}],
                         headers={"Content-Type": "application/json-patch+json"}).json()
    strategic = http.patch(f"{PT}/p", json={"metadata": {"labels": {"x": "y"}}},
                           headers={"Content-Type": "application/strategic-merge-patch+json"})
    stale = dict(merged)
    stale_put = http.put(f"{PT}/p", json=stale)

    assert merged["metadata"]["labels"] == {"team": "vision", "tier": "gold"}
    assert patched["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3
    assert patched["metadata"]["generation"] == 2 and merged["metadata"]["generation"] == 1
    assert strategic.status_code == 415  # custom resources take no strategic merge patch
    assert (stale_put.status_code, stale_put.json()["reason"]) == (409, "Conflict")


def test_server_side_apply_creates_then_merges(http):
    body = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "ssa"},
            "spec": pytorch_job("ssa")["spec"]}
    headers = {"Content-Type": "application/apply-patch+yaml"}
    first = http.patch(f"{PT}/ssa", json=body, headers=headers, params={"fieldManager": "me"})
    body["metadata"]["labels"] = {"applied": "twice"}
    second = http.patch(f"{PT}/ssa", json=body, headers=headers, params={"fieldManager": "me"})
    no_manager = http.patch(f"{PT}/ssa", json=body, headers=headers)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["metadata"]["labels"] == {"applied": "twice"}
    assert no_manager.status_code == 422


def test_forbid_gives_rbac_403_and_access_reviews_agree(http, kd):
    kd.forbid("create", "pytorchjobs", "default")
    denied = http.post(PT, json=pytorch_job("no"))
    other_ns = http.post("/apis/kubeflow.org/v1/namespaces/team-a/pytorchjobs", json=pytorch_job("yes", "team-a"))
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "create", "group": "kubeflow.org", "resource": "pytorchjobs",
                                              "namespace": "default"}}}
    answer = http.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=review).json()

    assert denied.status_code == 403 and denied.json()["reason"] == "Forbidden"
    assert denied.json()["message"] == ('pytorchjobs.kubeflow.org is forbidden: User "double-user" cannot create '
                                        'resource "pytorchjobs" in API group "kubeflow.org" in the namespace '
                                        '"default"')
    assert other_ns.status_code == 201
    assert answer["status"]["allowed"] is False


@pytest.mark.parametrize("status, reason", [(500, "InternalError"), (429, "TooManyRequests")])
def test_injected_faults_answer_once(http, kd, status, reason):
    kd.fail_next("GET", r"/pytorchjobs$", status=status, retry_after=2 if status == 429 else None)
    first = http.get(PT)
    second = http.get(PT)
    assert (first.status_code, first.json()["reason"]) == (status, reason)
    if status == 429:
        assert first.headers["Retry-After"] == "2"
    assert second.status_code == 200


def test_table_output_uses_printer_columns(http):
    http.post(PT, json=pytorch_job("t"))
    table = http.get(PT, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "State", "Age"]
    row = table["rows"][0]
    assert row["cells"][0] == "t" and row["cells"][1] is None and row["cells"][2].endswith("s")
    assert row["object"]["kind"] == "PartialObjectMetadata"


def test_discovery_documents(http, kd):
    group = http.get("/apis/kubeflow.org").json()
    resources = http.get("/apis/kubeflow.org/v1").json()["resources"]
    assert group["preferredVersion"]["version"] == "v1"
    pytorch = next(r for r in resources if r["name"] == "pytorchjobs")
    assert pytorch["kind"] == "PyTorchJob" and pytorch["namespaced"] is True and "watch" in pytorch["verbs"]
    assert {"pytorchjobs/status", "pytorchjobs/scale"} <= {r["name"] for r in resources}
    assert http.get("/apis/kubeflow.org/v2beta1").status_code == 404  # a v1 MPIJob cluster
    assert http.get("/version").json()["gitVersion"].startswith("v1.32")
