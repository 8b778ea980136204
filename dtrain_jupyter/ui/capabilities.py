"""What each backend can do, as `Client.backends()` says it, so the panel offers only that.

Every started backend lists its `capabilities`; what each name promises is written once, in
`dtrain_jupyter/backends/base.py` (and in docs/config.md). The panel decides by these names,
never by a backend's name, and hides or explains an option its backend cannot honour:

- `previous-logs`: the Log page's "Previous attempt" box;
- `line-times`: the Log page's "Line times" box (without it a stamp would be the time a line
  was read, not written, so the panel does not offer one);
- `events`: the event lines under a job's pods (without it there are none to read);
- `outputs`: the Output page's file list, Download and Open links and preview; without it the
  page still shows the job's result and says why there are no files (`NO_OUTPUT_FILES`);
- `dry-run`: the YAML editor's Validate also asks the backend's own server (`dryRun=All`).

A backend the server has not started yet (it lists no capabilities and is not ready) has said
nothing, and neither has one missing from the list: the panel then offers everything and lets
the server's answer speak.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

__all__ = ["DRY_RUN", "EVENTS", "LINE_TIMES", "OUTPUTS", "PREVIOUS_LOGS", "SUSPEND", "NO_OUTPUT_FILES", "lacks", "offers",
           "default_backend"]

# The names on the wire (backends/base.py CAP_*; tests/ui/test_capabilities.py keeps them equal).
DRY_RUN = "dry-run"
EVENTS = "events"
OUTPUTS = "outputs"
PREVIOUS_LOGS = "previous-logs"
LINE_TIMES = "line-times"
SUSPEND = "suspend"

# Why a job's Output page lists no files when its backend lacks `outputs` (a Kubernetes backend
# without c.DTrain.output_mounts cannot see the volume claims jobs write to).
NO_OUTPUT_FILES = ("This backend keeps no output files: configure output mounts (c.DTrain.output_mounts) "
                   "so the server can read the volume claims jobs write to.")


def lacks(backends: Iterable[Mapping[str, Any]], backend: str, capability: str) -> bool:
    """Whether `backend` has said what it can do and `capability` is not among it.

    Args:
        backends: `Client.backends()` as last read (one dict per configured backend).
        backend: the backend's name (a job's `backend`, or the one chosen in a form).
        capability: one of the names above.
    Returns:
        False when the backend can, and when it has not said (not listed, or not started yet).
    """
    described = _described(backends, backend)
    if described is None:
        return False
    listed = described.get("capabilities")
    if not isinstance(listed, (list, tuple)) or (not listed and not described.get("ready", False)):
        return False
    return capability not in listed


def offers(backends: Iterable[Mapping[str, Any]], backend: str, capability: str) -> bool:
    """Whether `backend` lists `capability` (False when it has not said): for doing more, where
    `lacks` is for offering less."""
    described = _described(backends, backend)
    listed = described.get("capabilities") if described is not None else None
    return isinstance(listed, (list, tuple)) and capability in listed


def _described(backends: Iterable[Mapping[str, Any]], backend: str) -> Mapping[str, Any] | None:
    return next((b for b in backends if b.get("backend") == backend), None)


def default_backend(backends: Iterable[Mapping[str, Any]]) -> str:
    """The name of the backend a request that names none goes to; "" when the list does not say."""
    return next((str(b.get("backend") or "") for b in backends if b.get("default")), "")
