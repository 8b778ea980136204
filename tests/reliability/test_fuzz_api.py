"""Bad input through the REST API of a live server: never a 500, never a traceback, always a message.

Bodies are posted to `jobs?dry_run=true` (so a fuzzed manifest that happens to be valid starts no
process), to `validate`, and to the per-kind create route; query arguments and URL path parts
are fuzzed on the read routes. Every answer must keep `assert_clean_answer`'s contract.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import assert_clean_answer
from .fuzzing import COUNTS, base_manifest, deep_json, hostile_texts, json_values, mutated_manifests, yaml_texts

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                database=None)
YAML = {"Content-Type": "application/yaml"}
CREATE_ROUTES = ("jobs", "local/namespaces/default/pytorchjobs")


def post(http: httpx.Client, path: str, **kw) -> httpx.Response:
    COUNTS["rest"] += 1
    r = http.post(path, **kw)
    assert_clean_answer(r, kw.get("content") or kw.get("json"))
    return r


@FUZZ
@given(body=json_values)
def test_random_json_bodies_are_refused_cleanly(http: httpx.Client, body) -> None:
    for path in ("validate", "jobs"):
        post(http, path, params={"dry_run": "true"}, content=json.dumps(body))
        post(http, path, params={"dry_run": "true"}, content=json.dumps({"manifest": body}))


@FUZZ
@given(manifest=mutated_manifests())
def test_mutated_manifests_are_refused_or_accepted_cleanly(http: httpx.Client, manifest) -> None:
    r = post(http, "validate", content=json.dumps({"manifest": manifest}))
    assert r.status_code == 200 and isinstance(r.json()["valid"], bool)
    for path in CREATE_ROUTES:
        r = post(http, path, params={"dry_run": "true"}, content=json.dumps({"manifest": manifest}))
        if r.status_code == 422:  # every issue names where it is
            assert all("path" in i and i["message"] for i in r.json()["issues"]), r.json()


@FUZZ
@given(text=yaml_texts)
def test_yaml_texts_are_refused_or_accepted_cleanly(http: httpx.Client, text: str) -> None:
    post(http, "validate", content=text.encode("utf-8", "surrogatepass"), headers=YAML)
    post(http, "jobs", params={"dry_run": "true"}, content=json.dumps({"yaml": text}))


@pytest.mark.parametrize("name", sorted(hostile_texts()))
def test_hostile_texts_are_refused_with_a_message(http: httpx.Client, name: str) -> None:
    text = hostile_texts()[name]
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    for path in ("validate", "jobs"):
        post(http, path, params={"dry_run": "true"}, content=data, headers=YAML)
    assert not Path("/tmp/dtrain-pwned").exists(), "a YAML tag ran code"


def test_a_bomb_is_refused_not_expanded(http: httpx.Client) -> None:
    r = post(http, "jobs", params={"dry_run": "true"}, content=hostile_texts()["alias bomb"], headers=YAML)
    assert r.status_code == 422 and "alias" in r.text.lower(), r.text


def test_duplicate_keys_are_named_with_their_line(http: httpx.Client) -> None:
    r = post(http, "validate", content=hostile_texts()["duplicate keys"], headers=YAML)
    issues = r.json()["issues"]
    assert any("duplicate" in i["message"].lower() and i["line"] for i in issues), issues


def test_deeply_nested_json_is_a_400(http: httpx.Client) -> None:
    for path in ("validate", "jobs"):
        r = post(http, path, params={"dry_run": "true"}, content=deep_json())
        assert r.status_code == 400 and "deep" in r.json()["message"], r.text


@pytest.mark.parametrize("depth", [150, 700, 990])
def test_nesting_just_under_the_parser_limit_is_answered(http: httpx.Client, depth: int) -> None:
    manifest = base_manifest("deep")
    manifest["spec"]["deep"] = "DEEP"
    body = json.dumps({"manifest": manifest}).replace('"DEEP"', "[" * depth + "]" * depth)
    for path in ("validate", "jobs"):
        r = post(http, path, params={"dry_run": "true"}, content=body)
        assert r.status_code in (200, 400, 422), r.text


@pytest.mark.parametrize("route", ["jobs", "validate", "local/namespaces/default/pytorchjobs"])
def test_bodies_over_the_limit_get_413(http: httpx.Client, route: str) -> None:
    manifest = base_manifest("big")
    manifest["metadata"]["annotations"] = {"blob": "x" * (1 << 20) + "y" * 70_000}
    r = post(http, route, params={"dry_run": "true"}, content=json.dumps({"manifest": manifest}))
    assert r.status_code == 413 and r.json()["error"] == "RequestTooLarge", r.text
    r = post(http, route, content=b"a: " + b"x" * (2 << 20), headers=YAML)
    assert r.status_code == 413, r.text


_QUERY_NAMES = ("namespace", "all_namespaces", "kind", "phase", "name", "backend", "follow", "tail",
                "since_seconds", "previous", "timestamps", "pod", "container", "cursor", "timeout", "limit",
                "dry_run")
queries = st.dictionaries(st.sampled_from(_QUERY_NAMES),
                          st.one_of(st.text(max_size=20), st.integers(-(2**70), 2**70).map(str),
                                    st.sampled_from(["nan", "inf", "-inf", "1e999", "", "true", "0x10"])),
                          max_size=4)


@FUZZ
@given(params=queries)
def test_fuzzed_query_arguments_on_read_routes(http: httpx.Client, params: dict) -> None:
    params = {k: v.replace("\x00", "") for k, v in params.items()}
    params.pop("timeout", None)  # a valid long-poll timeout would only make the test wait
    if params.get("backend") == "kubernetes":
        params["backend"] = "local"  # known but not configured here: 503 by design, tested elsewhere
    for path in ("jobs", "backends", "changes", "local/namespaces/default/pytorchjobs",
                 "local/namespaces/default/pytorchjobs/nope/log", "local/namespaces/default/pytorchjobs/nope/pods"):
        COUNTS["rest"] += 1
        assert_clean_answer(http.get(path, params={**params, "timeout": "0"} if path == "changes" else params), params)


names = st.text(min_size=1, max_size=80).filter(lambda s: s not in (".", ".."))


@FUZZ
@given(backend=st.sampled_from(["local", "kubernetes", "nope", "a-b"]), namespace=names, plural=st.sampled_from(
    ["pytorchjobs", "tfjobs", "mpijobs", "xjobs", "pods"]), name=names, rest=st.sampled_from(
    ["", "/pods", "/events", "/outputs", "/log", "/outputs/a.txt", "/outputs/..%2F..%2Fetc%2Fpasswd"]))
def test_fuzzed_url_parts(http: httpx.Client, backend: str, namespace: str, plural: str, name: str, rest: str) -> None:
    from urllib.parse import quote

    path = f"{backend}/namespaces/{quote(namespace, safe='')}/{plural}/{quote(name, safe='')}{rest}"
    for method in ("GET", "DELETE"):
        COUNTS["rest"] += 1
        r = http.request(method, path)
        if backend == "kubernetes":  # known but not configured on this server: 503 by design
            assert r.status_code in (404, 405, 503) and r.json()["message"], r.text
            continue
        assert r.status_code in (400, 403, 404, 405), f"{method} {path}: {r.status_code} {r.text[:300]}"
        assert_clean_answer(r, path)


@pytest.mark.parametrize("path", ["local/namespaces//pytorchjobs/x", "nothing-here", "jobs/x/y", "local/namespaces/default"])
def test_paths_outside_the_route_table_are_json_404(http: httpx.Client, path: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        COUNTS["rest"] += 1
        r = http.request(method, path, content=b"{}" if method == "POST" else None)
        assert r.status_code == 404 and r.json()["error"] == "NotFound", r.text
        assert_clean_answer(r, path)


@pytest.fixture(scope="module")
def finished_job(http: httpx.Client) -> str:
    """A finished local job with a log and an output file, so fuzzed arguments reach the backend."""
    from tests.server.conftest import pytorch_manifest, unique

    script = ("import os, pathlib; [print('line', i) for i in range(50)]; "
              "(pathlib.Path(os.environ['DTRAIN_OUTPUT_DIR']) / 'out.txt').write_text('x' * 100)")
    manifest = pytorch_manifest(unique("fuzzq"), script=script)
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]
    job = http.post("jobs", json={"manifest": manifest}).json()
    path = f"local/namespaces/default/pytorchjobs/{job['name']}"
    import time

    end = time.monotonic() + 90
    while http.get(path).json()["status"]["phase"] not in ("Succeeded", "Failed"):
        assert time.monotonic() < end
        time.sleep(0.2)
    yield path
    http.delete(path)


@FUZZ
@given(params=queries)
def test_fuzzed_query_arguments_on_a_real_job(http: httpx.Client, finished_job: str, params: dict) -> None:
    params = {k: v.replace("\x00", "") for k, v in params.items()}
    params.pop("follow", None)  # following a finished job ends at once anyway; keep each call short
    for rest in ("", "/log", "/pods", "/events", "/outputs", "/outputs/out.txt"):
        COUNTS["rest"] += 1
        r = http.get(finished_job + rest, params=params)
        if r.headers.get("Content-Type", "").startswith("application/x-ndjson"):
            lines = [json.loads(x) for x in r.text.splitlines() if x.strip()]
            assert r.status_code == 200 and not any("error" in x and "line" not in x for x in lines), (params, lines[-2:])
            continue
        assert_clean_answer(r, params)
