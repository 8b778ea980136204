"""The reliability suite's bad manifests, sent through our backend to the real API server (dry run):
only "your input is wrong" errors come back, and every refusal keeps the server's field paths.

tests/reliability fuzzes the REST API on the local backend, where our own validation answers;
here the same families (tests/reliability/fuzzing.py) reach a real kube-apiserver 1.35 with
the Kubeflow CRDs and the training-operator's validating webhooks, unvalidated by us, so the
server's JSON decoder, structural schema, admission and the webhooks decide. Each body our
backend sends is also posted straight to the server (the oracle), so a test knows what the
server answered and can check what we made of it.

The corpus is drawn once, deterministically (hypothesis with `derandomize`, a fixed count per
family), so a failure names an input that the next run sends again.
"""

from __future__ import annotations

import copy
import json
import re
import ssl
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import Phase as HypothesisPhase
from hypothesis import strategies as st

from dtrain_jupyter.errors import DTrainError, InvalidJob, InvalidRequest, NotFound
from dtrain_jupyter.model.kinds import lookup
from dtrain_jupyter.model.yaml_text import load_documents
from tests.reliability.fuzzing import base_manifest, hostile_texts, json_values, mutated_manifests, yaml_texts

# The errors that mean "your input is wrong". NotFound is a kind or namespace the cluster does
# not have; a 5xx-class error (ClusterError, BackendUnavailable) or any other exception is a bug.
INPUT_ERRORS = (InvalidJob, InvalidRequest, NotFound)
# Inputs per family: enough to reach the server's decoder, schema and admission paths, few
# enough that two slow shared cores send them all (twice: ours and the oracle's) in about a minute.
CORPUS_SIZES = {"random-json": 60, "mutated-manifest": 150, "yaml-text": 60}


def draw(strategy: st.SearchStrategy, count: int) -> list[Any]:
    """`count` values of `strategy`, the same ones on every run (no shrinking: nothing fails here)."""
    drawn: list[Any] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              phases=[HypothesisPhase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


def corpus(family: str) -> list[Any]:
    """One family's inputs: manifests (any JSON value) or texts, which go through our YAML reader first."""
    if family == "hostile-text":
        return list(hostile_texts().values())
    strategy = {"random-json": json_values, "mutated-manifest": mutated_manifests(), "yaml-text": yaml_texts}[family]
    return draw(strategy, CORPUS_SIZES[family])


def manifests_of(source: Any) -> list[Any]:
    """What a face would hand the backend: a value as it is, a text's documents (none if unreadable)."""
    if not isinstance(source, (str, bytes)):
        return [source]
    try:
        return [doc.data for doc in load_documents(source)]
    except InvalidJob:
        return []  # refused by our reader before any backend: tests/reliability covers that


def segments(path: str) -> tuple[str, ...]:
    """A field path as its parts, whatever the notation: `a[Key].b[0]` and `a.Key.b[0]` are the same field."""
    return tuple(re.findall(r"[^.\[\]]+", path))


# The field an apiserver writes for a cause about no field in particular (a nil field.Path):
# every schema refusal ends with one, "some validation rules were not checked ...".
NO_FIELD = "<nil>"


# A field path as a validating webhook writes it inside its denial's message (no Status causes).
WEBHOOK_FIELD = re.compile(r"\b(?:spec|metadata)[.\[][\w.\[\]/-]*[\w\]]")


def webhook_denial(code: int, status: dict[str, Any]) -> str | None:
    """The message of an admission webhook's refusal (403, not RBAC), or None for any other answer."""
    message = str(status.get("message") or "")
    return message if code == 403 and message.startswith("admission webhook") else None


def fields_named(paths: list[str]) -> Counter[tuple[str, ...]]:
    """The fields among `paths`, as parts; a cause about no field (NO_FIELD, "") names none.

    Our side is read the same way, so a stray NO_FIELD issue fails only the test written for it
    (test_a_note_about_no_field_keeps_no_path), not every refusal of the corpus.
    """
    return Counter(segments(p) for p in paths if p and p != NO_FIELD)


class Oracle:
    """Posts a body to the real API server with dryRun=All, as the admin, and keeps the answer."""

    def __init__(self, plane) -> None:
        self.client = httpx.AsyncClient(base_url=plane.url, verify=ssl.create_default_context(cafile=plane.ca_path),
                                        headers={"Authorization": f"Bearer {plane.token}"}, timeout=60)

    async def create(self, manifest: dict[str, Any], namespace: str = "default") -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) for `manifest` placed in `namespace`, as our backend places it."""
        fw = lookup(manifest["apiVersion"], manifest["kind"])
        # The bytes our client sends: json.dumps, NaN and Infinity included (the server refuses those).
        body = json.dumps({**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}})
        r = await self.client.post(f"/apis/{fw.group}/{fw.version}/namespaces/{namespace}/{fw.plural}",
                                   params={"dryRun": "All"}, content=body,
                                   headers={"Content-Type": "application/json"})
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, {"body": r.text[:300]}


@pytest.fixture
def oracle(cluster, jp_asyncio_loop):
    o = Oracle(cluster)
    yield o
    jp_asyncio_loop.run_until_complete(o.client.aclose())


def reaches_server(manifest: Any, backend) -> str | None:
    """The namespace our backend would post `manifest` to, or None where it refuses it itself."""
    if not isinstance(manifest, dict):
        return None
    meta, kind, version = manifest.get("metadata"), manifest.get("kind"), manifest.get("apiVersion")
    if not (isinstance(meta, dict) and isinstance(kind, str) and isinstance(version, str)):
        return None
    served = backend.describe()["kinds"].get(kind) or []
    namespace = meta.get("namespace") or backend.namespace
    return namespace if version in served and isinstance(namespace, str) else None


async def check_one(manifest: Any, backend, oracle: Oracle) -> tuple[str, str | None]:
    """Send one manifest both ways; return (outcome, what is wrong with our answer or None)."""
    namespace = reaches_server(manifest, backend)
    server = await oracle.create(manifest, namespace) if namespace is not None else None
    try:
        await backend.create(copy.deepcopy(manifest), dry_run=True)
    except INPUT_ERRORS as e:
        ours: DTrainError | None = e
    except DTrainError as e:
        return "not an input error", f"{type(e).__name__} {e.fields}: {e.message} -- server said {server}"
    except Exception as e:  # noqa: BLE001 - any other exception type is what this test hunts
        return "untyped exception", f"{type(e).__name__}: {e!r:.300} -- server said {server}"
    else:
        ours = None
    if server is None:
        return ("refused by us", None) if ours is not None else ("accepted unsent", "we accepted what we never sent")
    code, status = server
    if code >= 500:
        return "server 5xx", f"the server answered {code} (ours: {ours!r:.200}): {status}"
    if code < 300:
        return ("accepted", None) if ours is None else (
            "refused what the server accepts", f"{type(ours).__name__}: {ours.message}")
    if ours is None:
        return "accepted what the server refuses", f"server {code}: {status}"
    denial = webhook_denial(code, status)
    if denial is not None:  # the training-operator's validating webhook: fields only in its message
        if not isinstance(ours, InvalidJob):
            return "webhook refusal not an InvalidJob", f"{type(ours).__name__}: {ours.message}"
        mentioned = {segments(f) for f in WEBHOOK_FIELD.findall(denial)}
        named = set(fields_named([i.path for i in ours.issues]))
        if mentioned and not (named and named <= mentioned):
            return "webhook field paths not kept", f"server: {denial}; ours {[i.path for i in ours.issues]}"
        return "webhook refusal with field paths", None
    causes = [str(c.get("field")) for c in (status.get("details") or {}).get("causes") or [] if c.get("field")]
    if not causes:
        return f"server {code} without causes", None
    if not isinstance(ours, InvalidJob):
        return "fields dropped with the type", (
            f"server named {causes}, we raised {type(ours).__name__}: {ours.message}")
    paths = [i.path for i in ours.issues]
    if fields_named(paths) != fields_named(causes):
        return "field paths not kept", f"server {sorted(causes)}, ours {sorted(paths)}"
    return f"server {code} with field paths", None


@pytest.mark.parametrize("family", ["random-json", "mutated-manifest", "yaml-text", "hostile-text"])
async def test_bad_input_gets_input_errors_with_the_servers_field_paths(family, backend, oracle):
    outcomes: Counter[str] = Counter()
    problems: dict[str, list[str]] = {}
    for source in corpus(family):
        for manifest in manifests_of(source):
            outcome, problem = await check_one(manifest, backend, oracle)
            outcomes[outcome] += 1
            if problem:
                shown = json.dumps(manifest, default=str)[:300]
                problems.setdefault(outcome, []).append(f"{problem}\n      input: {shown}")
    assert sum(outcomes.values()), f"the {family} corpus sent nothing"
    # Two examples of each kind of problem: one cause usually explains a whole kind.
    listed = [f"  {kind} ({len(found)}):\n    " + "\n    ".join(found[:2]) for kind, found in sorted(problems.items())]
    assert not problems, f"outcomes {dict(outcomes)}\n" + "\n".join(listed)
    if family == "mutated-manifest":  # the corpus must really reach the server's schema, or this proves nothing
        assert outcomes["server 422 with field paths"], dict(outcomes)


def _pytorch(**changes: Any) -> dict[str, Any]:
    """The fuzzers' valid PyTorchJob with `changes` applied ("a.b.0.c" paths; None deletes)."""
    manifest = base_manifest("bad-input")
    for dotted, value in changes.items():
        *parents, last = [int(p) if p.isdigit() else p for p in dotted.split(".")]
        node = manifest
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return manifest


MASTER = "spec.pytorchReplicaSpecs.Master"
CONTAINER = f"{MASTER}.template.spec.containers[0]"


@pytest.mark.parametrize(("manifest", "paths"), [
    pytest.param(_pytorch(**{f"{MASTER}.replicas": "two"}), [f"{MASTER}.replicas"],
                 id="replicas-not-a-number"),
    pytest.param(_pytorch(**{f"{MASTER}.template": "pod"}), [f"{MASTER}.template"],
                 id="template-not-a-mapping"),
    pytest.param(_pytorch(**{f"{MASTER}.template.spec.containers.0.env.0.name": None}),
                 [f"{CONTAINER}.env[0].name"], id="env-without-a-name"),
    pytest.param(_pytorch(**{f"{MASTER}.template.spec.containers.0.name": None}),
                 [f"{CONTAINER}.name"], id="container-without-a-name"),
    pytest.param(_pytorch(**{f"{MASTER}.template.spec.containers.0.resources.limits.cpu": "lots"}),
                 [f"{CONTAINER}.resources.limits.cpu"], id="cpu-not-a-quantity"),
    pytest.param(_pytorch(**{"spec.runPolicy.backoffLimit": "twice"}), ["spec.runPolicy.backoffLimit"],
                 id="backoff-limit-not-a-number"),
    pytest.param(_pytorch(**{"metadata.name": "Not_A_Name"}), ["metadata.name"], id="name-not-dns-1123"),
    pytest.param(_pytorch(**{"metadata.labels.app": "no spaces allowed"}), ["metadata.labels"],
                 id="label-value-not-valid"),
    pytest.param(_pytorch(**{f"{MASTER}.replicas": "two", "spec.runPolicy.backoffLimit": "x"}),
                 [f"{MASTER}.replicas", "spec.runPolicy.backoffLimit"], id="two-fields-at-once"),
])
async def test_server_refusals_name_the_field(manifest, paths, backend, oracle):
    code, status = await oracle.create(manifest)
    assert code == 422, status  # the server's own verdict, so the table cannot drift from it

    with pytest.raises(InvalidJob) as err:
        await backend.create(manifest, dry_run=True)

    named = [i.path for i in err.value.issues if i.path not in ("", NO_FIELD)]
    assert sorted(named) == sorted(paths)  # each field the server named, in our dotted notation
    assert all(i.message for i in err.value.issues)


@pytest.mark.parametrize(("changes", "paths"), [
    pytest.param({f"{MASTER}.template.spec.containers.0.name": "trainer"}, [f"{MASTER}.template.spec.containers"],
                 id="no-container-named-pytorch"),
    pytest.param({f"{MASTER}.replicas": 2}, [f"{MASTER}.replicas"], id="two-masters"),
    pytest.param({f"{MASTER}.replicas": 2, f"{MASTER}.template.spec.containers.0.name": "trainer"},
                 [f"{MASTER}.replicas", f"{MASTER}.template.spec.containers"], id="both-at-once"),
])
async def test_webhook_refusals_are_invalid_jobs_naming_the_field(changes, paths, backend, oracle):
    # The operator's validating webhook answers 403 with its field errors in the message only;
    # it is not RBAC, so a Forbidden ("ask your admin") would send a person the wrong way.
    manifest = _pytorch(**changes)
    code, status = await oracle.create(manifest)
    assert webhook_denial(code, status), (code, status)

    with pytest.raises(InvalidJob) as err:
        await backend.create(manifest, dry_run=True)

    assert sorted(i.path for i in err.value.issues) == sorted(paths)
    assert all(i.message for i in err.value.issues)


async def test_a_note_about_no_field_keeps_no_path(backend, oracle):
    # With any schema error the server adds a cause whose field is "<nil>": CEL rules it skipped.
    manifest = _pytorch(**{f"{MASTER}.replicas": "two"})
    code, status = await oracle.create(manifest)
    assert code == 422, status
    note = next(c for c in status["details"]["causes"] if c["field"] == NO_FIELD)

    with pytest.raises(InvalidJob) as err:
        await backend.create(manifest, dry_run=True)

    # "<nil>" is no path a person can look up: the note belongs to the whole manifest (path "").
    assert [i.path for i in err.value.issues if i.message == note["message"]] == [""]
    assert NO_FIELD not in [i.path for i in err.value.issues]


async def test_a_namespace_the_cluster_lacks_is_not_found_not_a_missing_job(backend, oracle):
    manifest = base_manifest("bad-input")
    manifest["metadata"]["namespace"] = "no-such-namespace"
    code, status = await oracle.create(manifest, "no-such-namespace")
    # What the real server answers: the namespace is missing, not the job.
    assert (code, status.get("reason"), status.get("details", {}).get("kind")) == (404, "NotFound", "namespaces")

    with pytest.raises(DTrainError) as err:
        await backend.create(manifest, dry_run=True)

    # The job was never there to be missing: JobNotFound would tell a person the wrong story.
    assert type(err.value) is NotFound, f"{type(err.value).__name__}: {err.value.message}"
    assert "no-such-namespace" in err.value.message
