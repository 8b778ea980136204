"""Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for.

Custom resources get `Name` plus the CRD's additionalPrinterColumns, evaluated with the
small JSONPath subset those columns use; `date` columns become ages ("5s", "3m2s"), as the
apiextensions table convertor does. Pods, namespaces, events and batch Jobs get the columns
the real server prints for them; any other type gets `Name` and `Created At`.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

from .discovery import ResourceType

_NAME_COL = {"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace."}


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "", description: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": description or name, "priority": priority}


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if h < 24 * 365 * 2:
        return f"{d}d"
    y = d // 365
    return f"{y}y{d % 365}d" if y < 8 and d % 365 else f"{y}y"


def age(text: str | None) -> str:
    ts = parse_time(text)
    return "<unknown>" if ts is None else human_duration(time.time() - ts)


_STEP = re.compile(r"([^.\[\]]+)|\[(-?\d*)(:?)(-?\d*)\]|\[\*\]")


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Evaluate `.a.b[0].c`, `.a[-1:].b`, `.a[*].b` (the subset printer columns use)."""
    values = [obj]
    for m in _STEP.finditer(path.strip().lstrip("{").rstrip("}").lstrip(".")):
        out: list[Any] = []
        if m.group(0) == "[*]":
            for v in values:
                out.extend(v if isinstance(v, list) else [])
        elif m.group(1) is not None:
            for v in values:
                if isinstance(v, dict) and m.group(1) in v:
                    out.append(v[m.group(1)])
        else:
            start, colon, end = m.group(2), m.group(3), m.group(4)
            for v in values:
                if not isinstance(v, list):
                    continue
                if colon:
                    out.extend(v[int(start) if start else None:int(end) if end else None])
                elif start and -len(v) <= int(start) < len(v):
                    out.append(v[int(start)])
        values = out
    return values


def _cell(value: Any, type_: str) -> Any:
    if type_ == "date":
        return age(value) if isinstance(value, str) else None
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, separators=(",", ":"))
    return value


def _pod_status(pod: dict) -> tuple[str, str, int]:
    """(READY "1/2", STATUS reason, RESTARTS) as kubectl's pod printer computes them."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or []) or len(statuses)
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    reason = status.get("reason") or status.get("phase") or "Pending"
    for c in statuses:
        state = c.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated"):
            term = state["terminated"]
            reason = term.get("reason") or (f"Signal:{term['signal']}" if term.get("signal")
                                            else f"ExitCode:{term.get('exitCode', 0)}")
    if reason == "Pending":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                reason = "Pending"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return f"{ready}/{total}", reason, restarts


def columns_and_cells(rt: ResourceType, obj: dict) -> tuple[list[dict], list[Any]]:
    """The column definitions and this object's cells."""
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    if rt.printer_columns:
        cols = [dict(_NAME_COL)] + [
            _col(c["name"], c.get("type", "string"), c.get("priority", 0), c.get("format", ""),
                 c.get("description", "")) for c in rt.printer_columns]
        cells = [name]
        for c in rt.printer_columns:
            found = jsonpath(obj, c["jsonPath"])
            cells.append(_cell(found[0], c.get("type", "string")) if found else None)
        return cols, cells
    if rt.kind == "Pod" and rt.group == "":
        status = obj.get("status") or {}
        ready, reason, restarts = _pod_status(obj)
        cols = [dict(_NAME_COL), _col("Ready"), _col("Status"), _col("Restarts", "string"), _col("Age"),
                _col("IP", priority=1), _col("Node", priority=1), _col("Nominated Node", priority=1),
                _col("Readiness Gates", priority=1)]
        return cols, [name, ready, reason, str(restarts), age(meta.get("creationTimestamp")),
                      status.get("podIP") or "<none>", (obj.get("spec") or {}).get("nodeName") or "<none>",
                      "<none>", "<none>"]
    if rt.kind == "Namespace":
        phase = (obj.get("status") or {}).get("phase", "Active")
        return [dict(_NAME_COL), _col("Status"), _col("Age")], [name, phase, age(meta.get("creationTimestamp"))]
    if rt.kind == "Event":
        involved = obj.get("involvedObject") or obj.get("regarding") or {}
        last = obj.get("lastTimestamp") or obj.get("eventTime") or meta.get("creationTimestamp")
        cols = [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")]
        return cols, [age(last), obj.get("type", ""), obj.get("reason", ""),
                      f"{involved.get('kind', '').lower()}/{involved.get('name', '')}",
                      obj.get("message") or obj.get("note", "")]
    if rt.kind == "Service" and rt.group == "":
        spec = obj.get("spec") or {}
        ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
        selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
        cols = [dict(_NAME_COL), _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _col("Age"),
                _col("Selector", priority=1)]
        return cols, [name, spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), "<none>", ports,
                      age(meta.get("creationTimestamp")), selector]
    if rt.kind == "Job" and rt.group == "batch":
        status = obj.get("status") or {}
        done = status.get("succeeded", 0)
        want = (obj.get("spec") or {}).get("completions", 1)
        cols = [dict(_NAME_COL), _col("Completions"), _col("Age")]
        return cols, [name, f"{done}/{want}", age(meta.get("creationTimestamp"))]
    return [dict(_NAME_COL), _col("Created At", "date")], [name, meta.get("creationTimestamp")]


def to_table(rt: ResourceType, objects: list[dict], list_meta: dict, include_object: str = "Metadata") -> dict:
    """Build a meta.k8s.io/v1 Table from objects (a list read or a single get)."""
    columns = columns_and_cells(rt, {"metadata": {}})[0]
    rows = []
    for obj in objects:
        row: dict = {"cells": columns_and_cells(rt, obj)[1]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata", {})}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": columns, "rows": rows}
