"""Security over a live server: authentication on every route, XSRF on browser writes, namespaces,
output reads that cannot leave the job's folder, no shell between a manifest and exec, body limits.

Escaping of what the faces show (render.py HTML, panel widget values) is in `test_escaping.py`.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from dtrain_jupyter.server.base import DTrainHandler
from dtrain_jupyter.server.handlers import ROUTE_TEMPLATES
from tests.server.conftest import pytorch_manifest, unique

from .conftest import ALLOWED, assert_clean_answer

VERBS = ("GET", "POST", "DELETE", "PUT", "PATCH")
SAMPLE = {"backend": "local", "namespace": "default", "plural": "pytorchjobs", "name": "x", "path": "a.txt"}


def _routes() -> list[tuple[str, str]]:
    """(verb, path) for every verb each route's handler implements, plus an unknown path."""
    out = []
    for template, handler in ROUTE_TEMPLATES:
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], template).lstrip("/")
        out += [(v, path) for v in VERBS if getattr(handler, v.lower()) is not getattr(DTrainHandler, v.lower())]
    return out + [(v, "no/such/route") for v in VERBS]


def wait_done(http: httpx.Client, path: str, timeout: float = 90) -> dict:
    end = time.monotonic() + timeout
    while True:
        job = http.get(path).json()
        if job["status"]["phase"] in ("Succeeded", "Failed"):
            return job
        assert time.monotonic() < end, job["status"]
        time.sleep(0.2)


# -- authentication and XSRF ----------------------------------------------------------------

@pytest.mark.parametrize("verb,path", _routes())
def test_every_route_refuses_requests_without_a_token(live, verb: str, path: str) -> None:
    for headers in ({}, {"Authorization": "token wrong-" + live.token}, {"Authorization": "token x"}):
        r = httpx.request(verb, live.url + "dtrain/api/" + path, headers=headers,
                          content=b"{}" if verb in ("POST", "PUT", "PATCH") else None, timeout=30)
        assert r.status_code == 403, (verb, path, r.status_code, r.text[:200])
        assert "Traceback" not in r.text


def test_verbs_a_route_lacks_answer_405_without_data(live) -> None:
    r = httpx.put(live.url + "dtrain/api/jobs", content=b"{}", timeout=30)
    assert r.status_code in (403, 405) and "items" not in r.text


def test_an_anonymous_huge_body_is_refused_as_anonymous(live) -> None:
    r = httpx.post(live.url + "dtrain/api/jobs", content=b"x" * (2 << 20), timeout=30)
    assert r.status_code == 403


@pytest.fixture(scope="module")
def browser(live) -> httpx.Client:
    """A cookie-authenticated session, as a browser has after logging in with the token."""
    with httpx.Client(base_url=live.url, timeout=30, follow_redirects=True) as c:
        login = c.get("login")
        xsrf = c.cookies.get("_xsrf")
        assert xsrf, login.headers
        r = c.post("login", data={"password": live.token, "_xsrf": xsrf})
        assert r.status_code == 200 and any(k.startswith("username-") for k in c.cookies), r.status_code
        yield c


def test_cookie_writes_need_the_xsrf_token(browser: httpx.Client) -> None:
    body = json.dumps({"manifest": pytorch_manifest(unique("xsrf"))})
    r = browser.get("dtrain/api/jobs")
    assert r.status_code == 200  # reads with the cookie alone are fine
    # A page on another site can make the browser send the cookie, but cannot read _xsrf.
    for verb, path in (("POST", "dtrain/api/jobs?dry_run=true"), ("POST", "dtrain/api/validate"),
                       ("DELETE", "dtrain/api/local/namespaces/default/pytorchjobs/x")):
        r = browser.request(verb, path, content=body)
        assert r.status_code == 403 and "xsrf" in r.text.lower(), (verb, path, r.text[:300])
        # With the other site's Origin, jupyter_server's origin check refuses it even earlier.
        r = browser.request(verb, path, content=body, headers={"Origin": "https://evil.example",
                                                               "X-XSRFToken": "guess"})
        assert r.status_code in (403, 404) and r.json()["message"], (verb, path, r.text[:300])
    r = browser.post("dtrain/api/jobs?dry_run=true", content=body,
                     headers={"X-XSRFToken": browser.cookies["_xsrf"]})
    assert r.status_code == 201, r.text


# -- namespaces -----------------------------------------------------------------------------

def test_namespaces_outside_the_allowed_list_are_forbidden(http: httpx.Client) -> None:
    other = "kube-system"
    assert other not in ALLOWED
    checks = [
        http.get("jobs", params={"namespace": other}),
        http.post("jobs", params={"dry_run": "true"}, json={"manifest": pytorch_manifest("ns1", namespace=other)}),
        http.post("jobs", params={"namespace": other}, json={"manifest": pytorch_manifest("ns2")}),
        http.post(f"local/namespaces/{other}/pytorchjobs", json={"manifest": pytorch_manifest("ns3")}),
        http.get(f"local/namespaces/{other}/pytorchjobs"),
        http.get(f"local/namespaces/{other}/pytorchjobs/x"),
        http.delete(f"local/namespaces/{other}/pytorchjobs/x"),
        http.get(f"local/namespaces/{other}/pytorchjobs/x/log"),
        http.get(f"local/namespaces/{other}/pytorchjobs/x/outputs/a.txt"),
    ]
    for r in checks:
        assert r.status_code == 403 and r.json()["error"] == "Forbidden", (r.request.url, r.text)
        assert other in r.json()["message"]
        assert_clean_answer(r)
    listed = http.get("jobs", params={"all_namespaces": "true"}).json()
    assert {j["namespace"] for j in listed["items"]} <= set(ALLOWED)
    r = http.post("jobs", params={"dry_run": "true", "namespace": "team-a"}, json={"manifest": pytorch_manifest("ok")})
    assert r.status_code == 201 and r.json()["namespace"] == "team-a", r.text


# -- output reads stay inside the job's output folder ----------------------------------------

ESCAPE_SCRIPT = (
    "import os, pathlib; d = pathlib.Path(os.environ['DTRAIN_OUTPUT_DIR']); "
    "(d / 'ok.txt').write_text('fine'); (d / 'sub').mkdir(exist_ok=True); (d / 'sub' / 'in.txt').write_text('in'); "
    "os.symlink('/etc/passwd', d / 'passwd-link'); os.symlink('/etc', d / 'etc-link'); "
    "os.symlink('ok.txt', d / 'inside-link'); os.symlink(str(d.parent), d / 'parent-link')"
)


@pytest.fixture(scope="module")
def escape_job(http: httpx.Client) -> str:
    manifest = pytorch_manifest(unique("out"), script=ESCAPE_SCRIPT, workers=0)
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]
    r = http.post("jobs", json={"manifest": manifest})
    assert r.status_code == 201, r.text
    path = "local/namespaces/default/pytorchjobs/" + r.json()["name"]
    job = wait_done(http, path)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    yield path
    http.delete(path)


def test_output_listing_skips_links_that_point_out(http: httpx.Client, escape_job: str) -> None:
    files = {f["path"] for f in http.get(escape_job + "/outputs").json()["items"]}
    assert {"ok.txt", "sub/in.txt", "inside-link"} <= files
    assert not files & {"passwd-link", "etc-link"} and not any(f.startswith(("etc-link/", "parent-link/")) for f in files)


@pytest.mark.parametrize("path", [
    "..%2F..%2F..%2Fetc%2Fpasswd", "sub%2F..%2F..%2Fstate.json", "%2Fetc%2Fpasswd", "/etc/passwd",
    "passwd-link", "etc-link/passwd", "parent-link/state.json", "sub/../../x", "%2e%2e/%2e%2e/etc/passwd",
    "..\\..\\etc\\passwd", "ok.txt%00.png",
])
def test_output_reads_cannot_leave_the_folder(http: httpx.Client, escape_job: str, path: str) -> None:
    r = http.get(escape_job + "/outputs/" + path)
    assert r.status_code in (400, 404), (path, r.status_code, r.content[:200])
    assert b"root:" not in r.content
    assert_clean_answer(r, path)


def test_output_reads_inside_the_folder_work(http: httpx.Client, escape_job: str) -> None:
    assert http.get(escape_job + "/outputs/ok.txt").content == b"fine"
    assert http.get(escape_job + "/outputs/sub/in.txt").content == b"in"
    assert http.get(escape_job + "/outputs/inside-link").content == b"fine"
    r = http.get(escape_job + "/outputs/ok.txt")
    # Text is served as text/plain whatever its name says; nothing is sniffed, nothing can run script.
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in r.headers["Content-Security-Policy"]


# -- no shell between a manifest and exec ----------------------------------------------------

def test_user_strings_never_go_through_a_shell(http: httpx.Client, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = [f"$(touch {marker})", f"`touch {marker}`", f"; touch {marker}", f"| touch {marker}", "*", "$HOME"]
    manifest = pytorch_manifest(unique("shell"), workers=0)
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]
    container = manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    container["command"] = ["echo", *hostile[:3]]
    container["args"] = hostile[3:]
    container["env"] = [{"name": "HOSTILE", "value": f"$(touch {marker})"}]
    job = http.post("jobs", json={"manifest": manifest}).json()
    path = "local/namespaces/default/pytorchjobs/" + job["name"]
    assert wait_done(http, path)["status"]["phase"] == "Succeeded"
    lines = [json.loads(x)["line"] for x in http.get(path + "/log").text.splitlines() if x.strip()]
    assert " ".join(hostile) in lines, lines
    assert not marker.exists()
    http.delete(path)


def test_a_manifest_whose_command_is_a_shell_gets_one(http: httpx.Client) -> None:
    manifest = pytorch_manifest(unique("sh"), workers=0)
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]
    container = manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    container["command"] = ["sh", "-c", "echo sum=$((20+22))"]
    path = "local/namespaces/default/pytorchjobs/" + http.post("jobs", json={"manifest": manifest}).json()["name"]
    assert wait_done(http, path)["status"]["phase"] == "Succeeded"
    assert "sum=42" in http.get(path + "/log").text
    http.delete(path)


def test_request_bodies_are_size_limited(http: httpx.Client) -> None:
    limit = (1 << 20) + 64 * 1024
    r = http.post("validate", content=b" " * (limit + 1), headers={"Content-Type": "application/yaml"})
    assert r.status_code == 413 and str(limit) in r.json()["message"]
    r = http.post("validate", content=b"#" + b" " * (limit - 200), headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
