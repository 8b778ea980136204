"""The base handler: authentication on every route, XSRF for browser writes, limits, JSON errors."""

from __future__ import annotations

import json
import random
import re
from typing import Any
from urllib.parse import quote

import pytest

from dtrain_jupyter.server.handlers import ROUTE_TEMPLATES

from .conftest import pytorch_manifest, unique

SAMPLE = {"backend": "local", "namespace": "default", "plural": "pytorchjobs", "name": "x", "path": "a.txt"}
VERBS = ("get", "post", "delete")


def every_route() -> list[tuple[str, str]]:
    out = []
    for template, handler in ROUTE_TEMPLATES:
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], template).lstrip("/")
        out += [(verb.upper(), path) for verb in VERBS if verb in vars(handler)]
    return out


@pytest.mark.parametrize(("method", "path"), every_route(), ids=lambda v: v)
async def test_no_token_is_refused_on_every_route(jp_fetch: Any, method: str, path: str) -> None:
    r = await jp_fetch("dtrain", "api", *path.split("/"), method=method, headers={"Authorization": ""},
                       body="{}" if method == "POST" else None, raise_error=False, allow_nonstandard_methods=True)
    assert r.code == 403
    assert json.loads(r.body)["error"] == "Forbidden"


async def test_browser_post_needs_the_xsrf_token(jp_fetch: Any, jp_serverapp: Any) -> None:
    # Log in the way a browser does: the login form sets the user cookie.
    token = jp_serverapp.identity_provider.token
    page = await jp_fetch("login", headers={"Authorization": ""}, raise_error=False)
    xsrf = re.search(r"_xsrf=([^;]+)", page.headers["Set-Cookie"]).group(1)
    login = await jp_fetch("login", method="POST", headers={"Authorization": "", "Cookie": f"_xsrf={xsrf}"},
                           body=f"_xsrf={quote(xsrf)}&password={token}", follow_redirects=False, raise_error=False)
    cookies = "; ".join(c.split(";")[0] for c in login.headers.get_list("Set-Cookie")) + f"; _xsrf={xsrf}"
    assert login.code == 302
    body = json.dumps({"manifest": pytorch_manifest(unique())})
    # The cookie alone is enough to read...
    r = await jp_fetch("dtrain", "api", "backends", headers={"Authorization": "", "Cookie": cookies}, raise_error=False)
    assert r.code == 200
    # ...but a write without the XSRF header is refused, and accepted with it.
    r = await jp_fetch("dtrain", "api", "validate", method="POST", body=body,
                       headers={"Authorization": "", "Cookie": cookies}, raise_error=False)
    assert r.code == 403 and "xsrf" in json.loads(r.body)["message"].lower()
    r = await jp_fetch("dtrain", "api", "validate", method="POST", body=body,
                       headers={"Authorization": "", "Cookie": cookies, "X-XSRFToken": xsrf}, raise_error=False)
    assert r.code == 200 and json.loads(r.body)["valid"] is True


async def test_oversized_body_is_413_with_a_message(api) -> None:
    big = {"yaml": "a: " + "x" * (2 << 20)}
    code, err, _ = await api("jobs", method="POST", body=big)
    assert code == 413 and err["error"] == "RequestTooLarge" and "max_request_bytes" in err["message"]


@pytest.mark.parametrize(("body", "ctype"), [
    ("not json", None), ("[1, 2]", None), ('{"yaml": 5}', None), ('{"manifest": "x"}', None), ("", None),
    (b"\xff\xfe\x00bad", None), ("kind: [", "application/yaml"), ("null", None), ('"text"', None),
], ids=lambda v: repr(v)[:20])
async def test_malformed_bodies_are_4xx(api, body: Any, ctype: str | None) -> None:
    headers = {"Content-Type": ctype} if ctype else None
    code, err, _ = await api("jobs", method="POST", body=body, headers=headers)
    assert 400 <= code < 500 and err["message"], (code, err)
    code, verdict, _ = await api("validate", method="POST", body=body, headers=headers)
    # Validation answers 200 with the verdict for any text, 4xx for a body of the wrong shape.
    assert (code == 200 and verdict["valid"] is False) or (400 <= code < 500 and verdict["message"]), verdict


@pytest.mark.parametrize(("path", "params"), [
    (("jobs",), {"phase": "Sleeping"}), (("jobs",), {"kind": "Widget"}), (("jobs",), {"all_namespaces": "maybe"}),
    (("changes",), {"cursor": "x"}), (("changes",), {"timeout": "nan"}), (("changes",), {"cursor": "-5"}),
    (("local", "namespaces", "default", "pytorchjobs", "x", "log"), {"tail": "many"}),
    (("local", "namespaces", "default", "pytorchjobs", "x", "log"), {"tail": "-1"}),
    (("local", "namespaces", "default", "pytorchjobs", "x", "outputs", "a"), {"limit": "0"}),
], ids=lambda v: str(v)[:40])
async def test_bad_query_arguments_are_400(api, path: tuple[str, ...], params: dict) -> None:
    code, err, _ = await api(*path, params=params)
    assert code == 400 and err["error"] == "InvalidRequest", err


async def test_output_paths_cannot_leave_the_output_folder(api) -> None:
    code, job, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(unique())})
    assert code == 201
    base = ("local", "namespaces", "default", "pytorchjobs", job["name"], "outputs")
    for evil in ("../../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "/etc/passwd", "a/../../x"):
        code, err, _ = await api(*base, evil)
        assert 400 <= code < 500, (evil, code, err)
    await api(*base[:-1], method="DELETE")


def _junk(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return rng.randint(-10**12, 10**12)
    if choice == 1:
        return "".join(rng.choice("ab:-_ {}[]\n\t'\"/.\\é\x00") for _ in range(rng.randrange(12)))
    if choice == 2:
        return rng.choice([None, True, False, 1.5, float("1e308")])
    if choice == 3:
        return rng.choice(["PyTorchJob", "kubeflow.org/v1", "Master", "pytorch", "default"])
    if choice == 4:
        return []
    if choice == 5:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(3))]
    keys = ["apiVersion", "kind", "metadata", "spec", "name", "namespace", "pytorchReplicaSpecs", "replicas",
            "template", "containers", "Master", "Worker", "manifest", "yaml", "runPolicy"]
    return {rng.choice(keys): _junk(rng, depth + 1) for _ in range(rng.randrange(5))}


async def test_no_input_gives_a_500(api) -> None:
    rng = random.Random(20261126)
    for i in range(60):
        junk = _junk(rng)
        doc = {"manifest": {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", **(junk if isinstance(junk, dict) else {})}}
        for body in (doc, {"manifest": junk}, {"yaml": json.dumps(junk)}):
            for path in ("validate", "jobs"):
                code, answer, _ = await api(path, method="POST", body=body, params={"dry_run": "true"})
                assert code < 500, (i, path, body, answer)
