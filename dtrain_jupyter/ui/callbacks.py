"""The one decorator every widget event handler goes through, so no failure is silent.

ipywidgets' own dispatcher catches a callback's exception and only logs it (ipywidgets issues
#2949 and #1971): the user sees nothing and a test that clicks a button passes anyway. Every
`on_click` and `observe` handler in `ui/` is therefore wrapped in `guarded`, which logs the
traceback and hands the error to the owner's `report_error`, which the app turns into its
`error` trait (the panel's error line). Tests click, then assert on that trait.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Protocol, TypeVar

from ..errors import DTrainError, InvalidJob, JobExists

log = logging.getLogger("dtrain_jupyter.ui")

F = TypeVar("F", bound=Callable[..., Any])


class Reporter(Protocol):
    """What `guarded` needs from the object whose method it wraps."""

    def report_error(self, exc: BaseException) -> None:  # pragma: no cover - protocol
        ...


def name_taken(name: str, where: str) -> str:
    """The words for a job name already in use, on the Name field and in the banner alike.

    Args:
        name: the job name.
        where: "local/default" (backend/namespace), or "namespace 'default'" when the backend
            is not known.
    """
    return (f"Name taken: a job named {name!r} already exists in {where}. "
            f"Choose another name, or delete the old job first.")


def describe_error(exc: BaseException) -> str:
    """The sentence a person reads for an error: our errors speak for themselves.

    `InvalidJob` lists every issue on its own line (with line:column when it came from YAML);
    `JobExists` says the name is taken, where, and what to do (`name_taken`); any other
    `DTrainError` is its message; anything else is unexpected and says its type, since the
    traceback went to the log.
    """
    if isinstance(exc, JobExists) and exc.fields.get("name"):
        # A JobExists names its namespace and, from the server, its backend too.
        backend, namespace = exc.fields.get("backend") or "", exc.fields.get("namespace") or ""
        where = f"{backend}/{namespace}" if backend else f"namespace {namespace!r}"
        return name_taken(str(exc.fields["name"]), where)
    if isinstance(exc, InvalidJob) and exc.issues:
        return "The job is not valid:\n" + "\n".join(f"• {issue}" for issue in exc.issues)
    if isinstance(exc, DTrainError):
        return exc.message
    text = str(exc) or type(exc).__name__
    return f"Unexpected error ({type(exc).__name__}): {text}"


def guarded(method: F) -> F:
    """Wrap a widget handler method: on failure log the traceback and report it to `self`.

    The wrapped method's owner must have `report_error(exc)`. The handler returns None when it
    failed; the exception never reaches ipywidgets' dispatcher, which would swallow it.
    """

    @functools.wraps(method)
    def wrapper(self: Reporter, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - this is the one place that catches all
            log.exception("panel handler %s failed", method.__qualname__)
            self.report_error(exc)
            return None

    return wrapper  # type: ignore[return-value]


class ErrorForwarder:
    """Mixin for panel parts: `report_error` forwards to the callable the app gave them.

    A part built on its own (in a test) without an app keeps the last error in `last_error`
    so nothing is lost either way.
    """

    on_error: Callable[[BaseException], None] | None = None
    last_error: BaseException | None = None

    def report_error(self, exc: BaseException) -> None:
        self.last_error = exc
        if self.on_error is not None:
            self.on_error(exc)
