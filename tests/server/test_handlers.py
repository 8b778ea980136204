"""The REST API over a real Jupyter server and the real local backend: create -> inspect -> delete."""

from __future__ import annotations

from pathlib import Path

import yaml

from .conftest import job_path, pytorch_manifest, unique, wait_finished


async def test_backends_describes_the_local_backend(api) -> None:
    code, body, _ = await api("backends")
    assert code == 200
    [local] = body["items"]
    assert local["backend"] == "local" and local["default"] is True


async def test_job_lifecycle_over_rest(api) -> None:
    name = unique()
    # Given a manifest, when it is posted, then the job exists where Location says.
    code, job, headers = await api("jobs", method="POST", body={"manifest": pytorch_manifest(name)})
    assert code == 201, job
    assert (job["backend"], job["namespace"], job["kind"], job["name"]) == ("local", "default", "PyTorchJob", name)
    assert headers["Location"].endswith("/dtrain/api/local/namespaces/default/pytorchjobs/" + name)
    path = job_path(job)

    finished = await wait_finished(api, path)
    assert finished["status"]["phase"] == "Succeeded", finished["status"]
    assert finished["status"]["conditions"] and finished["status"]["replicas"]["Master"]["succeeded"] == 1

    code, listed, _ = await api("jobs", params={"name": name})
    assert code == 200 and [j["name"] for j in listed["items"]] == [name] and listed["problems"] == []
    code, listed, _ = await api("local", "namespaces", "default", "pytorchjobs", params={"phase": "succeeded"})
    assert name in [j["name"] for j in listed["items"]]
    code, listed, _ = await api("jobs", params={"kind": "tfjob", "name": name})
    assert listed["items"] == []

    code, pods, _ = await api(*path, "pods")
    assert code == 200
    assert sorted(p["replica_type"] for p in pods["items"]) == ["Master", "Worker"]

    code, lines, headers = await api(*path, "log")
    assert code == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    assert {line["line"] for line in lines} == {"hello from rank 0", "hello from rank 1"}
    master = next(p["name"] for p in pods["items"] if p["replica_type"] == "Master")
    code, lines, _ = await api(*path, "log", params={"pod": master, "timestamps": "true", "tail": "5"})
    assert [(line["pod"], line["line"]) for line in lines] == [(master, "hello from rank 0")]
    assert lines[0]["timestamp"]
    # Following a finished job's log ends by itself.
    code, lines, _ = await api(*path, "log", params={"follow": "true"})
    assert code == 200 and len(lines) == 2

    # The events tell the job's story, each naming what it is about: created, every replica
    # started and completed, the job succeeded; oldest first.
    code, events, _ = await api(*path, "events")
    assert code == 200
    story = [(e["object_kind"], e["object_name"], e["reason"]) for e in events["items"]]
    assert story[:1] == [("PyTorchJob", name, "PyTorchJobCreated")], story
    assert story[-1] == ("PyTorchJob", name, "PyTorchJobSucceeded"), story
    for pod in (p["name"] for p in pods["items"]):
        assert ("Pod", pod, "Started") in story and ("Pod", pod, "Completed") in story, (pod, story)
    times = [e["first_time"] for e in events["items"]]
    assert all(times) and times == sorted(times)

    code, files, _ = await api(*path, "outputs")
    assert sorted(f["path"] for f in files["items"]) == ["rank-0.txt", "rank-1.txt"]
    assert Path(files["location"]["folder"]).name == "output"  # the job's own folder (no output_root here)
    code, data, headers = await api(*path, "outputs", "rank-1.txt", raw=True)
    assert code == 200 and data == b"rank 1" and headers["X-DTrain-Truncated"] == "false"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    code, data, headers = await api(*path, "outputs", "rank-1.txt", params={"limit": "3"}, raw=True)
    assert data == b"ran" and headers["X-DTrain-Truncated"] == "true"

    code, gone, _ = await api(*path, method="DELETE")
    assert code == 202 and gone["name"] == name
    code, err, _ = await api(*path)
    assert code == 404 and err["error"] == "JobNotFound" and err["name"] == name


async def test_create_from_yaml_text_and_from_the_kind_collection(api) -> None:
    name, other = unique(), unique()
    text = yaml.safe_dump(pytorch_manifest(name))
    code, job, _ = await api("jobs", method="POST", body=text, headers={"Content-Type": "application/yaml"})
    assert code == 201 and job["name"] == name
    code, job, _ = await api("local", "namespaces", "team-a", "pytorchjobs", method="POST",
                             body={"yaml": yaml.safe_dump(pytorch_manifest(other))})
    assert code == 201 and job["namespace"] == "team-a"
    code, listed, _ = await api("jobs", params={"all_namespaces": "true"})
    assert {name, other} <= {j["name"] for j in listed["items"]}
    for created in (name, other):
        code, found, _ = await api("jobs", params={"name": created, "all_namespaces": "1"})
        await api(*job_path(found["items"][0]), method="DELETE")


async def test_dry_run_creates_nothing(api) -> None:
    name = unique()
    code, job, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(name)}, params={"dry_run": "true"})
    assert code == 201 and job["name"] == name
    code, listed, _ = await api("jobs", params={"name": name})
    assert listed["items"] == []


async def test_create_errors_keep_their_type(api) -> None:
    name = unique()
    bad = pytorch_manifest(name)
    bad["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = 2
    code, err, _ = await api("jobs", method="POST", body={"manifest": bad})
    assert code == 422 and err["error"] == "InvalidJob"
    assert any(i["path"] == "spec.pytorchReplicaSpecs.Master.replicas" for i in err["issues"])

    code, err, _ = await api("jobs", method="POST", body={"yaml": "kind: PyTorchJob\nmetadata: [\n"})
    assert code == 422 and err["issues"][0]["line"] is not None

    code, job, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(name)})
    assert code == 201
    code, err, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(name)})
    assert code == 409 and err["error"] == "JobExists"
    assert (err["name"], err["namespace"], err["backend"]) == (name, "default", "local")

    code, err, _ = await api("local", "namespaces", "default", "tfjobs", method="POST",
                             body={"manifest": pytorch_manifest(unique())})
    assert code == 400 and err["error"] == "InvalidRequest"
    code, err, _ = await api("local", "namespaces", "other", "pytorchjobs", method="POST",
                             body={"manifest": pytorch_manifest(unique(), namespace="default")})
    assert code == 400 and "does not match" in err["message"]
    await wait_finished(api, job_path(job))
    await api(*job_path(job), method="DELETE")


async def test_validate_reports_every_issue_and_creates_nothing(api) -> None:
    name = unique()
    code, verdict, _ = await api("validate", method="POST", body={"manifest": pytorch_manifest(name)})
    assert code == 200 and verdict["valid"] is True and verdict["issues"] == []
    text = yaml.safe_dump(pytorch_manifest("Bad_Name"))
    code, verdict, _ = await api("validate", method="POST", body={"yaml": text})
    assert code == 200 and verdict["valid"] is False
    assert [i["path"] for i in verdict["issues"]] == ["metadata.name"] and verdict["issues"][0]["line"]
    code, listed, _ = await api("jobs", params={"name": name})
    assert listed["items"] == []


async def test_missing_things_are_404_with_their_type(api) -> None:
    code, err, _ = await api("local", "namespaces", "default", "pytorchjobs", "nope")
    assert (code, err["error"]) == (404, "JobNotFound")
    code, err, _ = await api("local", "namespaces", "default", "widgets", "nope")
    assert (code, err["error"]) == (404, "NotFound")
    code, err, _ = await api("kubernetes", "namespaces", "default", "pytorchjobs")
    assert (code, err["error"]) == (503, "BackendUnavailable") and "c.DTrain.backend" in err["message"]
    code, err, _ = await api("local", "namespaces", "default", "pytorchjobs", "nope", "log")
    assert (code, err["error"]) == (404, "JobNotFound")
