"""The OpenAPI 3 document of the dtrain REST API, served at <base_url>/dtrain/api/openapi.json.

Written by hand next to the route table and kept true by a test: every route template of
`handlers.ROUTE_TEMPLATES` with its verbs appears here, and nothing else does.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import __version__
from ..backends.base import CAPABILITIES
from ..model.status import Phase

_PATH_PARAMS = {
    "backend": "Backend the job lives on: `local` or `kubernetes`.",
    "namespace": "Namespace (a folder of the local backend's state, or a Kubernetes namespace).",
    "plural": "Resource plural: `pytorchjobs`, `tfjobs`, `mpijobs`, `xgboostjobs`, `paddlejobs`, `jaxjobs`.",
    "name": "Job name (metadata.name).",
    "path": "File path relative to the job's output folder.",
}


def _q(name: str, schema: str, text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": schema}, "description": text}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def _items(name: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": _ref(name)}}}


_ERRORS = {code: {"$ref": f"#/components/responses/{name}"} for code, name in (
    ("400", "InvalidRequest"), ("403", "Forbidden"), ("404", "NotFound"), ("503", "BackendUnavailable"))}

_FILTERS = [
    _q("namespace", "string", "Namespace to list; default: the configured or backend's namespace."),
    _q("all_namespaces", "boolean", "List every namespace the server allows."),
    _q("kind", "string", "Only this kind (PyTorchJob, TFJob, MPIJob, ...)."),
    _q("phase", "string", "Only jobs in this phase (Pending, Running, Succeeded, Failed, ...)."),
    _q("name", "string", "Only jobs with this name."),
]
_MANIFEST_BODY = {
    "required": True,
    "description": "A manifest: `{\"manifest\": {...}}`, `{\"yaml\": \"...\"}`, or YAML text "
                   "(Content-Type application/yaml). At most c.DTrain.max_request_bytes (413 beyond).",
    "content": {
        "application/json": {"schema": _ref("ManifestBody")},
        "application/yaml": {"schema": {"type": "string"}},
    },
}
# The create operations also take a script folder's code archive beside the manifest.
_CREATE_BODY = {
    "required": True,
    "description": _MANIFEST_BODY["description"] + " With `code` (a script folder packed by `FolderJob`), "
                   "the backend keeps the archive with the job: the ConfigMap the manifest's `dtrain-code` "
                   "volume names (owned by the job) on Kubernetes, the job's own folder locally. The archive "
                   "may add its base64 size (at most 1,000,000 bytes packed) to the body limit.",
    "content": {
        "application/json": {"schema": _ref("CreateBody")},
        "application/yaml": {"schema": {"type": "string"}},
    },
}
_DRY_RUN = _q("dry_run", "boolean", "Validate and ask the backend, create nothing.")
_CREATED = {"201": _json(_ref("Job"), "Created; `Location` names the job."),
            "409": {"$ref": "#/components/responses/JobExists"},
            "413": {"$ref": "#/components/responses/RequestTooLarge"},
            "422": {"$ref": "#/components/responses/InvalidJob"}}

_OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "/openapi.json": {"get": {"summary": "This document.", "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document.")}}},
    "/backends": {"get": {"summary": "Configured backends: where each points, whether it is ready, what it can do.",
                          "responses": {"200": _json(_items("Backend"), "`{items: [Backend]}`.")}}},
    "/jobs": {
        "get": {"summary": "Jobs of every backend (or of `backend`), filtered.",
                "parameters": [_q("backend", "string", "Only this backend.")] + _FILTERS,
                "responses": {"200": _json(_ref("JobList"), "Jobs, and `problems` of backends that could not answer.")}},
        "post": {"summary": "Create a job on `backend` (default: the default backend).",
                 "parameters": [_q("backend", "string", "Target backend."),
                                _q("namespace", "string", "Target namespace when the manifest has none."), _DRY_RUN],
                 "requestBody": _CREATE_BODY, "responses": _CREATED},
    },
    "/validate": {"post": {"summary": "Validate a manifest or YAML text offline; every issue with path, line, column.",
                           "requestBody": _MANIFEST_BODY,
                           "responses": {"200": _json(_ref("Validation"), "The verdict (also when invalid).")}}},
    "/changes": {"get": {
        "summary": "The server's change log (long poll): changes after `cursor`, or `resync: true` when "
                   "the cursor is too old.",
        "parameters": [_q("cursor", "integer", "Cursor of the previous answer; absent: answer the current cursor with resync."),
                       _q("timeout", "number", "Seconds to wait for a change (0-55, default 25).")],
        "responses": {"200": _json(_ref("Changes"), "`{cursor, changes, resync}`.")}}},
    "/notifications": {"get": {
        "summary": "Jobs created through this server (any create or re-run call) that finished, each once "
                   "(long poll): what JupyterLab announces.",
        "description": "Without `since` the answer is the current cursor and no items at once: a reader starts "
                       "from now. A job created otherwise (kubectl, another server) is never listed. Kept across "
                       "server restarts in c.DTrain.state_dir, for a week after each job ends.",
        "parameters": [_q("since", "integer", "Cursor of the previous answer."),
                       _q("wait", "number", "Seconds to wait for an announcement (0-55, default 25).")],
        "responses": {"200": _json(_ref("Notifications"), "`{cursor, items}`.")}}},
    "/{backend}/namespaces/{namespace}/{plural}": {
        "get": {"summary": "Jobs of one kind in one namespace.",
                "parameters": [_q("phase", "string", "Only jobs in this phase.")],
                "responses": {"200": _json(_items("Job"), "`{items: [Job]}`.")}},
        "post": {"summary": "Create a job of this kind in this namespace.", "parameters": [_DRY_RUN],
                 "requestBody": _CREATE_BODY, "responses": _CREATED},
    },
    "/{backend}/namespaces/{namespace}/{plural}/{name}": {
        "get": {"summary": "One job with status, conditions and replica counts.",
                "responses": {"200": _json(_ref("Job"), "The job.")}},
        "delete": {"summary": "Delete the job and every replica of it.",
                   "responses": {"202": _json(_ref("Job"), "The job as last seen (phase Deleting).")}},
    },
    "/{backend}/namespaces/{namespace}/{plural}/{name}/pods": {"get": {
        "summary": "The job's replicas with phase and reason.", "responses": {"200": _json(_items("Pod"), "`{items: [Pod]}`.")}}},
    "/{backend}/namespaces/{namespace}/{plural}/{name}/log": {"get": {
        "summary": "Log lines as NDJSON, one LogLine per line; streamed while following.",
        "parameters": [_q("pod", "string", "One pod; absent: all pods merged."),
                       _q("container", "string", "Container of the pod."),
                       _q("follow", "boolean", "Keep streaming new lines."),
                       _q("tail", "integer", "Only the last N lines (per pod), N >= 0."),
                       _q("since_seconds", "integer", "Only lines newer than this many seconds (>= 1); without "
                          "the `line-times` capability, a pod's log whole when written to in that time."),
                       _q("previous", "boolean", "The attempt before the last restart (not with `follow`; "
                          "needs the `previous-logs` capability)."),
                       _q("timestamps", "boolean", "Fill each line's timestamp (RFC 3339, UTC)."),
                       _q("format", "string", "`ndjson` (default): one LogLine object per line; `text`: the "
                          "lines as plain text (one pod's full read or tail is relayed as raw bytes, and so is its "
                          "follow on a backend with the `follow-bytes` capability).")],
        "responses": {"200": {"description": "NDJSON; every refusal (job, pod, container, arguments) is an error answer "
                                             "before the first line; an error after it arrives as a last "
                                             "`{error, message}` line (plain text: the transfer is cut short).",
                              "content": {"application/x-ndjson": {"schema": _ref("LogLine")},
                                          "text/plain": {"schema": {"type": "string"}}}}}}},
    "/{backend}/namespaces/{namespace}/{plural}/{name}/events": {"get": {
        "summary": "Events of the job and its pods, oldest first.", "responses": {"200": _json(_items("Event"), "`{items: [Event]}`.")}}},
    "/{backend}/namespaces/{namespace}/{plural}/{name}/outputs": {"get": {
        "summary": "Files in the job's output location, and that location.",
        "responses": {"200": _json(_ref("Outputs"), "`{items: [OutputFile], location: OutputLocation}`; a 404 "
                                   "NotFound (files not readable here) carries `location` too when the job has one.")}}},
    "/{backend}/namespaces/{namespace}/{plural}/{name}/outputs/{path}": {"get": {
        "summary": "One output file: at most `limit` bytes (`X-DTrain-Truncated: true` when cut), or the whole "
                   "file streamed with `download` or `view`.",
        "description": "The type is decided from the file's first bytes: PNG, JPEG, GIF and UTF-8 text "
                       "(`text/plain; charset=utf-8`, HTML and SVG included) may be shown (`Content-Disposition: "
                       "inline`); anything else (PDF as `application/pdf`, the rest as `application/octet-stream`) "
                       "is an `attachment`. Every answer carries `X-Content-Type-Options: nosniff` and a "
                       "`Content-Security-Policy` with `sandbox`.",
        "parameters": [_q("limit", "integer", "Most bytes to return (at most c.DTrain.output_read_limit); not "
                          "with `download` or `view`."),
                       _q("download", "boolean", "The whole file, streamed, not capped by output_read_limit; "
                          "always `Content-Disposition: attachment`."),
                       _q("view", "boolean", "The whole file, streamed, not capped by output_read_limit; "
                          "`inline` when its type may be shown.")],
        "responses": {"200": {"description": "The bytes.", "content": {
            ctype: {"schema": {"type": "string", "format": "binary"}} for ctype in (
                "text/plain", "image/png", "image/jpeg", "image/gif", "application/pdf", "application/octet-stream")}}}}},
    "/{backend}/namespaces/{namespace}/{plural}/{name}/rerun": {"post": {
        "summary": "Run the job again (one on the cluster, or one only the job history remembers): its manifest "
                   "(or the edited one sent) under a new name, with the same code.",
        "parameters": [_DRY_RUN],
        "requestBody": {"required": False, "description": "Every field optional: `name` (default "
                        "`<name>-runN`), `backend`, `namespace` (default: where it ran), and an edited `manifest` "
                        "or `yaml` of the same kind.",
                        "content": {"application/json": {"schema": _ref("RerunBody")}}},
        "responses": _CREATED}},
    "/{backend}/namespaces/{namespace}/{plural}/{name}/suspend": {"post": {
        "summary": "Suspend the job (spec.runPolicy.suspend true): every replica stops (a cluster's operator "
                   "deletes the pods; local processes get SIGTERM, then SIGKILL after the grace period), the job, its "
                   "logs and outputs stay; phase Suspended, condition `Suspended` (reason `<Kind>Suspended`).",
        "description": "Needs the `suspend` capability (400 InvalidRequest naming it otherwise). 400 for a finished "
                       "job or one suspended already, and on a cluster whose CRD has no spec.runPolicy.suspend. On "
                       "Kubernetes the answer is the job as stored with the new spec; the operator's conditions "
                       "follow on /changes.",
        "responses": {"200": _json(_ref("Job"), "The job.")}}},
    "/{backend}/namespaces/{namespace}/{plural}/{name}/resume": {"post": {
        "summary": "Resume a suspended job (spec.runPolicy.suspend false): every replica starts again as on "
                   "create; condition `Suspended` False (reason `<Kind>Resumed`), then Running; startTime is reset.",
        "description": "Needs the `suspend` capability. 400 when the job is not suspended.",
        "responses": {"200": _json(_ref("Job"), "The job.")}}},
    "/tensorboard": {
        "get": {"summary": "Whether this server's TensorBoard runs, over which folders (`logdirs`: run name -> "
                           "folder) and its process id.",
                "responses": {"200": _json({"type": "object", "properties": {
                    "running": {"type": "boolean"}, "logdirs": {"type": "object"},
                    "pid": {"type": "integer", "nullable": True}}}, "`{running, logdirs, pid}`.")}},
        "post": {"summary": "Run TensorBoard over these jobs' output folders and answer where it is served.",
                 "description": "One TensorBoard per server, on a loopback port, proxied at `url` (a path that "
                                "includes the server's base URL) with the server's login. The same jobs again reuse "
                                "it; others restart it. It stops after c.DTrain.tensorboard_idle_minutes without a "
                                "request through `url`. Run names are the job names (`backend/namespace/kind/name` "
                                "when two share a name). 404 NotFound (`field` `jobs[i]`) for a job whose output folder is "
                                "missing or holds no event files; 503 when TensorBoard does not start (its log's "
                                "last lines).",
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["jobs"], "properties": {"jobs": {"type": "array", "items": {
                         "type": "object", "required": ["kind", "name"], "properties": {
                             k: {"type": "string"} for k in ("backend", "namespace", "kind", "name")}}}}}}}},
                 "responses": {"200": _json({"type": "object", "properties": {
                     "url": {"type": "string"}, "logdirs": {"type": "object"}}}, "`{url, logdirs}`.")}},
        "delete": {"summary": "Stop this server's TensorBoard (nothing when it is not running).",
                   "responses": {"204": {"description": "Stopped."}}},
    },
    "/history": {"get": {
        "summary": "Job records, live and past, newest first: every job this server saw, kept after the cluster "
                   "forgets it (404 NotFound when c.DTrain.history is off).",
        "parameters": [_q("show", "string", "`live` (on the cluster, not finished), `finished` or `all` (default)."),
                       _q("q", "string", "Words each record contains in its name, kind, namespace or phase."),
                       _q("backend", "string", "Only this backend."), _q("namespace", "string", "Only this namespace."),
                       _q("kind", "string", "Only this kind."), _q("phase", "string", "Only this phase."),
                       _q("name", "string", "Only this job name."),
                       _q("from", "string", "Created at or after (ISO 8601 date or time)."),
                       _q("to", "string", "Created at or before (a date alone: that whole day)."),
                       _q("after", "string", "The `next` cursor of the previous page."),
                       _q("limit", "integer", "Records per page, 1-1000 (default 100)."),
                       _q("total", "boolean", "Also count every matching record.")],
        "responses": {"200": _json(_ref("HistoryPage"), "`{items: [Job + record], next, total?}`.")}}},
    "/{backend}/namespaces/{namespace}/{plural}/{name}/metrics": {"get": {
        "summary": "The job's metric points (its `report()` lines, metric-like log lines, TensorBoard scalars) "
                   "numbered after `since`, as columnar series; waits up to `wait` seconds for newer ones.",
        "description": "Read from the job history (404 NotFound when c.DTrain.history is off), for live jobs and "
                       "for past ones it remembers. Pass the answer's `cursor` back as `since` for only newer "
                       "points; `reset` true means the points held before were replaced (a log read again from "
                       "its start): drop them and take these, which are all there are. `finished` true: no more "
                       "points will come.",
        "parameters": [_q("since", "integer", "A cursor of a previous answer (>= 0); 0 or absent: every point."),
                       _q("wait", "number", "Seconds (0-25) to wait for points newer than `since`, or the job's "
                          "end; 0 or absent: answer at once.")],
        "responses": {"200": _json(_ref("MetricsPage"), "`{cursor, reset, series: [MetricSeries], progress, "
                                   "finished}`.")}}},
    "/progress": {"get": {
        "summary": "Every live job whose code reported progress (`report(progress=...)`), with an ETA from its "
                   "recent rate.",
        "responses": {"200": _json({"type": "object", "required": ["jobs"], "properties": {
            "jobs": {"type": "array", "items": _ref("JobProgress")}}}, "`{jobs: [JobProgress]}`.")}}},
    "/panel-session": {"post": {
        "summary": "The JupyterLab panel's own kernel session at `path`, started when there is none.",
        "description": "Used by the labextension before it connects to its panel kernel. Where the kernel is an "
                       "IPython kernel this server starts, it loads the panel's read-ahead extension and keeps no "
                       "IPython history. Authorized as jupyter_server's sessions API (resource `sessions`).",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["path"], "properties": {
                "path": {"type": "string", "description": "Session path (1-1024 characters)."},
                "name": {"type": "string", "description": "Session name."},
                "kernel": {"type": "string", "description": "Kernel spec name; default: the server's default."}}}}}},
        "responses": {"200": _json({"type": "object"}, "The session that was there (jupyter_server's session model)."),
                      "201": _json({"type": "object"}, "The session just started (jupyter_server's session model)."),
                      "400": _ERRORS["400"], "403": _ERRORS["403"]}}},
    "/history/{backend}/namespaces/{namespace}/{plural}/{name}": {"delete": {
        "summary": "Forget a past job: its records and archived logs go (400 while it is still on the cluster).",
        "responses": {"200": _json({"type": "object", "properties": {"forgotten": {"type": "integer"}}},
                                   "How many records went.")}}},
}

_OBJ = {"type": "object"}
_SCHEMAS = {
    "Error": {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"type": "string", "description": "Error type: InvalidJob, JobNotFound, Forbidden, ..."},
        "message": {"type": "string", "description": "What went wrong and what to do."},
        "issues": {"type": "array", "items": _ref("ValidationIssue")}}},
    "ValidationIssue": {"type": "object", "properties": {
        "path": {"type": "string"}, "message": {"type": "string"}, "line": {"type": "integer", "nullable": True},
        "column": {"type": "integer", "nullable": True}, "document": {"type": "integer"}}},
    "ManifestBody": {"type": "object", "properties": {"manifest": _OBJ, "yaml": {"type": "string"}}},
    "CreateBody": {"type": "object", "properties": {"manifest": _OBJ, "yaml": {"type": "string"},
                                                    "code": _ref("CodeArchive")}},
    "CodeArchive": {"type": "object", "required": ["archive", "sha256"], "properties": {
        "archive": {"type": "string", "format": "byte", "description": "The folder as tar.gz, base64."},
        "sha256": {"type": "string", "description": "The archive's sha256 in hex; 400 when it does not match."},
        "files": {"type": "integer", "description": "How many files it holds."},
        "entry": {"type": "string", "description": "The script it runs, relative to the folder."}}},
    "Validation": {"type": "object", "properties": {
        "valid": {"type": "boolean"}, "issues": {"type": "array", "items": _ref("ValidationIssue")},
        "manifests": {"type": "array", "items": _OBJ}}},
    "Job": {"type": "object", "properties": {
        "backend": {"type": "string"}, "context": {"type": "string"}, "kind": {"type": "string"},
        "apiVersion": {"type": "string"}, "name": {"type": "string"}, "namespace": {"type": "string"},
        "uid": {"type": "string"}, "created": {"type": "string"}, "notes": {"type": "array", "items": {"type": "string"}},
        "error": {"type": "string"}, "manifest": _OBJ,
        "removed": {"type": "string", "description": "Only on a job answered from the job history: when it left "
                    "its cluster (RFC 3339); its pods, events and logs are then the archived ones."},
        "status": {"type": "object", "properties": {
            "phase": {"type": "string", "enum": [p.value for p in Phase]},
            "reason": {"type": "string"}, "message": {"type": "string"},
            "conditions": {"type": "array", "items": _OBJ}, "replicas": _OBJ,
            "start_time": {"type": "string", "nullable": True}, "completion_time": {"type": "string", "nullable": True}}}}},
    "HistoryRecord": {"type": "object", "description": "What the history keeps beside the job.", "properties": {
        "id": {"type": "integer"}, "finished": {"type": "number", "nullable": True, "description": "Epoch seconds."},
        "deleted": {"type": "number", "nullable": True, "description": "Epoch seconds it left the cluster."},
        "updated": {"type": "number"}, "log_bytes": {"type": "integer"}, "pods": {"type": "integer"},
        "events": {"type": "integer"},
        "incomplete_logs": {"type": "array", "items": {"type": "string"},
                            "description": "Pods whose archived log was cut short."},
        "archiving": {"type": "boolean", "description": "Whether a log of this job is being archived now (a running "
                      "pod followed, or a finished job's last logs read); until it is false, the job's archived "
                      "logs may still grow."},
        "archive_problem": {"type": "string", "nullable": True,
                            "description": "Why this job's logs stopped being archived (e.g. the history's disk "
                                           "is full); null when nothing went wrong."}}},
    "HistoryPage": {"type": "object", "properties": {
        "items": {"type": "array", "items": {"allOf": [_ref("Job"), {"type": "object", "properties": {
            "record": _ref("HistoryRecord")}}]}},
        "next": {"type": "string", "nullable": True}, "total": {"type": "integer"},
        "problem": {"type": "string", "nullable": True,
                    "description": "Why this server stopped archiving logs (a full disk); null while it archives."}}},
    "RerunBody": {"type": "object", "properties": {
        "name": {"type": "string"}, "backend": {"type": "string"}, "namespace": {"type": "string"},
        "manifest": _OBJ, "yaml": {"type": "string"}}},
    "JobList": {"type": "object", "properties": {"items": {"type": "array", "items": _ref("Job")},
                                                 "problems": {"type": "array", "items": _ref("Error")}}},
    "Pod": {"type": "object", "properties": {k: {"type": "string"} for k in (
        "name", "namespace", "job_name", "replica_type", "phase", "reason", "node")}},
    "Event": {"type": "object", "properties": {k: {"type": "string"} for k in (
        "type", "reason", "message", "object_kind", "object_name")}},
    "OutputFile": {"type": "object", "properties": {"path": {"type": "string"}, "size": {"type": "integer"},
                                                    "mtime": {"type": "string", "description": "ISO 8601 UTC, "
                                                              "`YYYY-MM-DDTHH:MM:SSZ`."}}},
    "OutputLocation": {"type": "object", "description": "Where a job's outputs are: `folder` (a local job: the "
                       "folder on the Jupyter server's machine, under c.DTrain.output_root when set), or `claim` "
                       "and `path` (a Kubernetes job: the PersistentVolumeClaim and the folder inside it, `/` its root).",
                       "properties": {"folder": {"type": "string"}, "claim": {"type": "string"},
                                      "path": {"type": "string"}}},
    "Outputs": {"type": "object", "required": ["items", "location"], "properties": {
        "items": {"type": "array", "items": _ref("OutputFile")}, "location": _ref("OutputLocation")}},
    "Backend": {"type": "object", "properties": {
        "backend": {"type": "string"}, "default": {"type": "boolean"}, "ready": {"type": "boolean"},
        "message": {"type": "string"}, "context": {"type": "string"}, "namespace": {"type": "string"},
        "server": {"type": "string"},
        "capabilities": {"type": "array", "items": {"type": "string", "enum": list(CAPABILITIES)},
                         "description": "What the backend can do beyond the core verbs (empty until it has "
                                        "started); each name's promise is written in backends/base.py."}}},
    "LogLine": {"type": "object", "properties": {"pod": {"type": "string"}, "line": {"type": "string"},
                                                 "timestamp": {"type": "string", "nullable": True}}},
    "Notifications": {"type": "object", "properties": {
        "cursor": {"type": "integer", "description": "Pass as `since` next time."},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "cursor": {"type": "integer"},
            "job": {"type": "object", "properties": {k: {"type": "string"} for k in (
                "backend", "namespace", "kind", "name", "uid")}},
            "phase": {"type": "string", "enum": [Phase.SUCCEEDED.value, Phase.FAILED.value]},
            "reason": {"type": "string"}, "message": {"type": "string"},
            "finished": {"type": "string", "description": "When it finished (RFC 3339)."}}}}}},
    "MetricSeries": {"type": "object", "required": ["replica", "name", "source", "step", "time", "value"],
                     "description": "One metric of one replica; `step`, `time` and `value` are columns of equal length.",
                     "properties": {
        "replica": {"type": "string", "description": "The replica (`worker-0`); for source `tensorboard`, the "
                    "run's folder relative to the job's output folder (`.` for the folder itself)."},
        "name": {"type": "string", "description": "The metric's name (a TensorBoard scalar's tag)."},
        "source": {"type": "string", "enum": ["report", "log", "tensorboard"]},
        "step": {"type": "array", "items": {"type": "integer", "nullable": True},
                 "description": "The step of each point; null where none is known (chart by time then)."},
        "time": {"type": "array", "items": {"type": "number"}, "description": "Seconds since the epoch."},
        "value": {"type": "array", "items": {"type": "number"}}}},
    "JobProgress": {"type": "object", "properties": {
        **{k: {"type": "string"} for k in ("backend", "namespace", "kind", "name", "uid")},
        "fraction": {"type": "number", "description": "Share of the job done, 0-1, as last reported."},
        "eta_seconds": {"type": "number", "nullable": True,
                        "description": "Seconds left at the recent rate; null until there is one."},
        "updated": {"type": "string", "description": "When the progress was reported (RFC 3339, UTC)."}}},
    "MetricsPage": {"type": "object", "required": ["cursor", "reset", "series", "progress", "finished"],
                    "properties": {
        "cursor": {"type": "integer", "description": "Pass as `since` next time."},
        "reset": {"type": "boolean", "description": "The points held before were replaced: drop them."},
        "series": {"type": "array", "items": _ref("MetricSeries")},
        "progress": {"allOf": [_ref("JobProgress")], "nullable": True},
        "finished": {"type": "boolean", "description": "The job ended and its logs are all read."}}},
    "Changes": {"type": "object", "properties": {
        "cursor": {"type": "integer"}, "resync": {"type": "boolean"},
        "changes": {"type": "array", "items": {"type": "object", "properties": {
            "type": {"type": "string", "enum": ["ADDED", "MODIFIED", "DELETED"]}, "job": _ref("Job")}}}}},
}
_RESPONSES = {name: _json(_ref("Error"), text) for name, text in (
    ("InvalidRequest", "Malformed request (query, body shape)."),
    ("RequestTooLarge", "Request body over the server's limit."),
    ("InvalidJob", "The manifest is not valid; `issues` lists every problem."),
    ("Forbidden", "Not authenticated, XSRF refused, or namespace outside c.DTrain.allowed_namespaces."),
    ("NotFound", "No such job, pod, file or resource."),
    ("JobExists", "The name is taken."),
    ("BackendUnavailable", "The backend is not configured or cannot be reached."))}


def documented_operations() -> dict[str, set[str]]:
    """Path template -> documented HTTP verbs (lower case); what the route-table test compares."""
    return {path: set(ops) for path, ops in _OPERATIONS.items()}


def openapi_document(base_url: str = "/") -> dict[str, Any]:
    """The whole document; `servers` points at this server's API root."""
    paths: dict[str, Any] = {}
    for template, ops in _OPERATIONS.items():
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"},
                   "description": _PATH_PARAMS[p]} for p in _PATH_PARAMS if "{" + p + "}" in template]
        item: dict[str, Any] = {"parameters": params} if params else {}
        for verb, op in ops.items():
            op = copy.deepcopy(op)
            op["responses"] = {**op["responses"], **_ERRORS}
            op["security"] = [{"token": []}]
            item[verb] = op
        paths[template] = item
    return {
        "openapi": "3.0.3",
        "info": {"title": "dtrain-jupyter API", "version": __version__,
                 "description": "Distributed training jobs (PyTorchJob, TFJob, MPIJob) on a local-process "
                                "or Kubernetes backend, served by the Jupyter server extension."},
        "servers": [{"url": base_url.rstrip("/") + "/dtrain/api"}],
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS, "responses": _RESPONSES,
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization",
                                          "description": "`token <jupyter server token>`"}},
        },
    }
