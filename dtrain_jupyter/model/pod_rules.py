"""Checks on one replica's pod template: containers, images, commands, env and resources.

What the API server and the operators' webhooks refuse in a pod template, said so a person can
fix it. Each check appends `(path, message)` pairs; `validation.py` turns them into issues.
Only fields with a known meaning are checked; anything else in a pod spec is left to the CRD
schema (when one is at hand) and the API server.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .kinds import Framework
from .paths import Path
from .quantity import is_gpu_resource, parse_quantity

__all__ = ["Issues", "check_template", "check_string_map", "describe_type", "DNS1123_LABEL"]

Issues = list[tuple[Path, str]]

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
# The sources an env entry's valueFrom may name, each with the fields it cannot do without
# (core/v1 EnvVarSource; the API server takes exactly one of them), and the same for envFrom.
_VALUE_SOURCES = {"fieldRef": ("fieldPath",), "resourceFieldRef": ("resource",), "configMapKeyRef": ("name", "key"),
                  "secretKeyRef": ("name", "key")}
_ENV_FROM_SOURCES = {"configMapRef": ("name",), "secretRef": ("name",)}
# What a resourceFieldRef may read: the container's own limits and requests (core/v1 validation).
_FIELD_RESOURCE = re.compile(r"(limits|requests)\.(cpu|memory|ephemeral-storage|hugepages-.+)")


def describe_type(value: Any) -> str:
    """A person's word for a YAML value's type: 'a list', 'a number', 'nothing'."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def check_template(fw: Framework, template: Any, path: Path, issues: Issues) -> None:
    """Check `<replica>.template`: a pod template whose spec holds at least one container."""
    if not isinstance(template, dict):
        issues.append((path, f"template must be a pod template (a mapping with spec.containers), got {describe_type(template)}"))
        return
    pod = template.get("spec")
    if not isinstance(pod, dict):
        issues.append((path + ("spec",), "template.spec is required: the pod spec with the replica's containers"
                       if pod is None else f"template.spec must be a mapping, got {describe_type(pod)}"))
        return
    meta = template.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        issues.append((path + ("metadata",), f"template.metadata must be a mapping, got {describe_type(meta)}"))
    elif meta is not None:
        # Every pod of the replica carries them; the API server takes strings only.
        for key in ("labels", "annotations"):
            check_string_map(meta.get(key), path + ("metadata", key), key, issues)
    containers = pod.get("containers")
    cpath = path + ("spec", "containers")
    if not isinstance(containers, list) or not containers:
        issues.append((cpath, "at least one container is required" if containers in (None, [])
                       else f"containers must be a list of containers, got {describe_type(containers)}"))
        return
    names: dict[str, int] = {}
    for i, container in enumerate(containers):
        name = _check_container(container, cpath + (i,), issues)
        if name is not None:
            if name in names:
                issues.append((cpath + (i, "name"), f"container name {name!r} is used twice in this pod (also containers[{names[name]}])"))
            names.setdefault(name, i)
    if fw.requires_default_container and fw.default_container not in names:
        found = ", ".join(repr(n) for n in names) or "no named container"
        issues.append((cpath, f"container {fw.default_container!r} is required: the operator finds the training "
                              f"container by this name (found {found})"))
    _check_init_containers(pod, path + ("spec",), issues)


def check_string_map(values: Any, path: Path, key: str, issues: Issues) -> None:
    """Check `labels` or `annotations`: a mapping whose values are strings (absent is fine)."""
    if values is None:
        return
    if not isinstance(values, dict):
        issues.append((path, f"{key} must be a mapping of strings, got {describe_type(values)}"))
        return
    for k, v in values.items():
        if not isinstance(v, str):
            issues.append((path + (k,), f"{key} values must be strings, got {describe_type(v)}; quote it: \"{v}\""))


def _check_init_containers(pod: dict, path: Path, issues: Issues) -> None:
    init = pod.get("initContainers")
    if init is None:
        return
    if not isinstance(init, list):
        issues.append((path + ("initContainers",), f"initContainers must be a list, got {describe_type(init)}"))
        return
    for i, container in enumerate(init):
        _check_container(container, path + ("initContainers", i), issues)


def _check_container(container: Any, path: Path, issues: Issues) -> str | None:
    """Check one container; return its name when it has a usable one."""
    if not isinstance(container, dict):
        issues.append((path, f"a container must be a mapping with name and image, got {describe_type(container)}"))
        return None
    name = container.get("name")
    good_name: str | None = None
    if name is None or name == "":
        issues.append((path + ("name",), "container name is required"))
    elif not isinstance(name, str):
        issues.append((path + ("name",), f"container name must be a string, got {describe_type(name)}"))
    elif len(name) > 63 or not DNS1123_LABEL.fullmatch(name):
        issues.append((path + ("name",), f"container name {name!r} is not a DNS-1123 label: lower-case letters, "
                                         f"digits and '-', starting and ending with a letter or digit, at most 63 characters"))
        good_name = name
    else:
        good_name = name
    image = container.get("image")
    if image is None:
        issues.append((path + ("image",), "image is required: the container image this replica runs on a cluster"))
    elif not isinstance(image, str):
        issues.append((path + ("image",), f"image must be a string, got {describe_type(image)}"))
    elif not image.strip():
        issues.append((path + ("image",), "image must not be empty: name the container image this replica runs"))
    elif image != image.strip():
        issues.append((path + ("image",), f"image {image!r} has spaces around it; remove them"))
    for key in ("command", "args"):
        _check_strings(container.get(key), path + (key,), key, issues)
    wd = container.get("workingDir")
    if wd is not None and not isinstance(wd, str):
        issues.append((path + ("workingDir",), f"workingDir must be a string, got {describe_type(wd)}"))
    _check_env(container.get("env"), path + ("env",), issues)
    _check_env_from(container.get("envFrom"), path + ("envFrom",), issues)
    _check_resources(container.get("resources"), path + ("resources",), issues)
    return good_name


def _check_strings(value: Any, path: Path, key: str, issues: Issues) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        hint = f"; write it as a list, e.g. [{value!r}]" if isinstance(value, str) else ""
        issues.append((path, f"{key} must be a list of strings, got {describe_type(value)}{hint}"))
        return
    for i, item in enumerate(value):
        if not isinstance(item, str):
            hint = f'; quote it: "{item}"' if isinstance(item, (int, float, bool)) else ""
            issues.append((path + (i,), f"{key} items must be strings, got {describe_type(item)}{hint}"))


def _check_env(env: Any, path: Path, issues: Issues) -> None:
    if env is None:
        return
    if not isinstance(env, list):
        issues.append((path, f"env must be a list of {{name, value}} entries, got {describe_type(env)}"))
        return
    for i, entry in enumerate(env):
        if not isinstance(entry, dict):
            issues.append((path + (i,), f"an env entry must be a mapping with name and value, got {describe_type(entry)}"))
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            issues.append((path + (i, "name"), "env name is required" if name in (None, "")
                           else f"env name must be a string, got {describe_type(name)}"))
        elif not _ENV_NAME.fullmatch(name):
            issues.append((path + (i, "name"), f"env name {name!r} is not valid: letters, digits, '_', '-' and '.', "
                                               f"not starting with a digit"))
        value = entry.get("value")
        if value is not None and not isinstance(value, str):
            issues.append((path + (i, "value"), f"env value must be a string, got {describe_type(value)}; quote it: \"{value}\""))
        source = entry.get("valueFrom")
        if value is not None and source is not None:
            issues.append((path + (i,), "an env entry takes value or valueFrom, not both"))
        elif source is not None:
            _check_value_from(source, path + (i, "valueFrom"), issues)


def _check_value_from(source: Any, path: Path, issues: Issues) -> None:
    """`valueFrom`: a mapping naming exactly one source, itself a mapping with its required fields."""
    choices = "fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef"
    if not isinstance(source, dict):
        issues.append((path, f"valueFrom must be a mapping with one of {choices}, got {describe_type(source)}"))
        return
    named = [key for key in _VALUE_SOURCES if source.get(key) is not None]
    if not named:
        issues.append((path, f"valueFrom needs one of {choices}"))
        return
    if len(named) > 1:
        issues.append((path, f"valueFrom takes one source, got {' and '.join(named)}"))
        return
    key = named[0]
    _check_reference(source[key], path + (key,), key, _VALUE_SOURCES[key], issues)
    if key == "resourceFieldRef" and isinstance(source[key], dict):
        _check_resource_field(source[key], path + (key,), issues)


def _check_resource_field(ref: dict, path: Path, issues: Issues) -> None:
    resource, divisor = ref.get("resource"), ref.get("divisor")
    if isinstance(resource, str) and resource and not _FIELD_RESOURCE.fullmatch(resource):
        issues.append((path + ("resource",), f"resource {resource!r} is not one a container can read: use "
                                             f"limits.cpu, limits.memory, limits.ephemeral-storage or requests.*"))
    if divisor is not None and not _positive_quantity(divisor):
        issues.append((path + ("divisor",), f"divisor must be a quantity above 0, like 1, 1m or 1Mi; got {divisor!r}"))


def _positive_quantity(value: Any) -> bool:
    try:
        return parse_quantity(value) > 0
    except ValueError:
        return False


def _check_env_from(env_from: Any, path: Path, issues: Issues) -> None:
    """`envFrom`: a list of entries each naming one ConfigMap or Secret."""
    if env_from is None:
        return
    if not isinstance(env_from, list):
        issues.append((path, f"envFrom must be a list of {{configMapRef}} or {{secretRef}} entries, got {describe_type(env_from)}"))
        return
    for i, entry in enumerate(env_from):
        if not isinstance(entry, dict):
            issues.append((path + (i,), f"an envFrom entry must be a mapping with configMapRef or secretRef, "
                                        f"got {describe_type(entry)}"))
            continue
        named = [key for key in _ENV_FROM_SOURCES if entry.get(key) is not None]
        if len(named) != 1:
            issues.append((path + (i,), "an envFrom entry takes one of configMapRef or secretRef"
                           if not named else "an envFrom entry takes one source, got configMapRef and secretRef"))
            continue
        _check_reference(entry[named[0]], path + (i, named[0]), named[0], _ENV_FROM_SOURCES[named[0]], issues)


def _check_reference(ref: Any, path: Path, key: str, required: tuple[str, ...], issues: Issues) -> None:
    """A source of env values: a mapping whose `required` fields are non-empty strings."""
    if not isinstance(ref, dict):
        example = ", ".join(f"{field}: ..." for field in required)
        issues.append((path, f"{key} must be a mapping like {{{example}}}, got {describe_type(ref)}"))
        return
    for field in required:
        value = ref.get(field)
        if value is None or value == "":
            issues.append((path + (field,), f"{key}.{field} is required"))
        elif not isinstance(value, str):
            issues.append((path + (field,), f"{key}.{field} must be a string, got {describe_type(value)}"))


def _check_resources(resources: Any, path: Path, issues: Issues) -> None:
    if resources is None:
        return
    if not isinstance(resources, dict):
        issues.append((path, f"resources must be a mapping with limits and requests, got {describe_type(resources)}"))
        return
    parsed: dict[str, dict[str, Decimal]] = {}
    for section in ("limits", "requests"):
        values = resources.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            issues.append((path + (section,), f"resources.{section} must be a mapping like {{cpu: \"2\", memory: 4Gi}}, "
                                              f"got {describe_type(values)}"))
            continue
        parsed[section] = {}
        for name, raw in values.items():
            qty = _check_quantity(str(name), raw, path + (section, name), issues)
            if qty is not None:
                parsed[section][str(name)] = qty
    limits, requests = parsed.get("limits", {}), parsed.get("requests", {})
    for name, request in requests.items():
        if name in limits and request > limits[name]:
            issues.append((path + ("requests", name), f"{name} request {resources['requests'][name]} is more than its "
                                                      f"limit {resources['limits'][name]}; raise the limit or lower the request"))
        if is_gpu_resource(name) and name in limits and request != limits[name]:
            issues.append((path + ("requests", name), f"{name} request must equal its limit (GPUs cannot be overcommitted)"))


def _check_quantity(name: str, raw: Any, path: Path, issues: Issues) -> Decimal | None:
    if is_gpu_resource(name):
        digits = isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit()
        if isinstance(raw, bool) or not (isinstance(raw, int) or digits):
            issues.append((path, f"{name} must be a whole number of GPUs, like 1; got {raw!r}"))
            return None
        if int(raw) < 0:
            issues.append((path, f"{name} must not be negative, got {raw!r}"))
            return None
        return Decimal(int(raw))
    try:
        value = parse_quantity(raw)
    except ValueError as e:
        issues.append((path, f"{name}: {e}"))
        return None
    if value < 0:
        issues.append((path, f"{name} must not be negative, got {raw!r}"))
        return None
    return value
