"""The base handler of the dtrain API: service access, input parsing, the one error translation.

`write_error` is the only place an exception becomes an HTTP answer: a DTrainError keeps its
status and `to_dict` body; tornado's own HTTPErrors (403 from authentication, XSRF refusals)
get the same JSON shape; anything else is logged with its traceback and answered 500.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httputil import responses

from ..errors import DTrainError, InvalidRequest, NotFound, RequestTooLarge
from ..model.code_archive import MAX_BODY_BYTES, CodeArchive
from ..model.job import Job
from ..model.kinds import by_plural, plural_of

# HTTP codes tornado or jupyter_server raise themselves, named as our error types.
_HTTP_NAMES = {400: "InvalidRequest", 403: "Forbidden", 404: "NotFound", 413: "RequestTooLarge"}
_TRUE = ("1", "true", "yes", "on", "")
_FALSE = ("0", "false", "no", "off")


class DTrainHandler(APIHandler):
    """Base of every dtrain handler; `auth_resource` is what `@authorized` checks."""

    auth_resource = "dtrain"
    # Whether a request may carry a script folder's code archive beside the manifest (the
    # create handlers): the body limit then grows by the largest archive, base64-encoded.
    accepts_code = False
    _parsed_body: Any = None

    @property
    def service(self) -> Any:
        return self.settings["dtrain_service"]

    @property
    def change_log(self) -> Any:
        return self.settings["dtrain_change_log"]

    @property
    def list_cache(self) -> Any:
        return self.settings["dtrain_list_cache"]

    @property
    def limits(self) -> Mapping[str, int]:
        return self.settings["dtrain_limits"]

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        limit = self.limits["request"] + (MAX_BODY_BYTES if self.accepts_code else 0)
        # Only for a known user: an anonymous request gets its 403 from @authenticated instead.
        if self.current_user and len(self.request.body or b"") > limit:
            self._too_large(len(self.request.body), limit)

    def _too_large(self, size: int, limit: int) -> None:
        allowance = f" plus {MAX_BODY_BYTES} for a code archive" if self.accepts_code else ""
        raise RequestTooLarge(
            f"request body is {size} bytes; this server accepts at most "
            f"{limit} (c.DTrain.max_request_bytes{allowance}); manifests are far smaller",
            limit=limit,
        )

    # -- errors -----------------------------------------------------------------------------

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # Our errors are answers, not crashes: one line in the log, no traceback.
        if isinstance(value, DTrainError):
            self.log.info("dtrain: %s %s -> %s: %s", self.request.method, self.request.path,
                          type(value).__name__, value.message)
            return
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, DTrainError):
            status_code, body = exc.status_code, exc.to_dict()
        elif isinstance(exc, web.HTTPError):
            status_code = exc.status_code
            body = {"error": _HTTP_NAMES.get(status_code, "DTrainError"),
                    "message": exc.log_message or exc.reason
                    or f"HTTP {status_code} {responses.get(status_code, '')}".rstrip()}
        else:  # tornado's log_exception has already logged it with its traceback
            status_code = 500
            body = {"error": "DTrainError",
                    "message": "internal error in the dtrain server extension; the server log has the details"}
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    # -- input ------------------------------------------------------------------------------

    def flag(self, name: str) -> bool:
        """A boolean query argument: absent is False; `?x`, `x=1`, `x=true` are True."""
        raw = self.get_query_argument(name, None)
        if raw is None:
            return False
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise InvalidRequest(f"query argument {name}={raw!r} is not a boolean (use true or false)", argument=name)

    def int_arg(self, name: str, *, default: int | None = None, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequest(f"query argument {name}={raw!r} is not an integer", argument=name) from None
        return self._in_range(name, value, minimum, maximum)

    def float_arg(self, name: str, *, default: float, minimum: float, maximum: float) -> float:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise InvalidRequest(f"query argument {name}={raw!r} is not a number", argument=name) from None
        if math.isnan(value):
            raise InvalidRequest(f"query argument {name} is not a number", argument=name)
        return min(max(value, minimum), maximum)

    @staticmethod
    def _in_range(name: str, value: int, minimum: int | None, maximum: int | None) -> int:
        if minimum is not None and value < minimum:
            raise InvalidRequest(f"query argument {name} must be at least {minimum}, not {value}", argument=name)
        if maximum is not None and value > maximum:
            raise InvalidRequest(f"query argument {name} must be at most {maximum}, not {value}", argument=name)
        return value

    def list_filters(self) -> dict[str, Any]:
        """namespace, all_namespaces, kind, phase, name: the job-list filters of the query."""
        return {
            "namespace": self.get_query_argument("namespace", None) or None,
            "all_namespaces": self.flag("all_namespaces"),
            "kind": self.get_query_argument("kind", None) or None,
            "phase": self.get_query_argument("phase", None) or None,
            "name": self.get_query_argument("name", None) or None,
        }

    def kind_of(self, plural: str) -> str:
        """The kind a URL's plural names. Raises NotFound for an unknown plural."""
        framework = by_plural(plural)
        if framework is None:
            raise NotFound(f"no job resource {plural!r}; use pytorchjobs, tfjobs, mpijobs, ...", plural=plural)
        return framework.kind

    def _body(self) -> tuple[str, Any]:
        """("yaml", text) for a YAML body, else ("json", the parsed body); parsed once per request."""
        if self._parsed_body is not None:
            return self._parsed_body
        ctype = (self.request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            text = self.request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest("the request body is not UTF-8 text") from None
        if ctype in ("application/yaml", "application/x-yaml", "text/yaml", "text/plain"):
            self._parsed_body = ("yaml", text)
            return self._parsed_body
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError as e:
            raise InvalidRequest(f"the request body is not JSON: {e}") from None
        except RecursionError:
            # A few hundred KiB of "[[[[..." overflows the parser's stack; no manifest nests so deep.
            raise InvalidRequest("the request body nests too deeply to be a manifest") from None
        self._parsed_body = ("json", body)
        return self._parsed_body

    def manifest_source(self) -> dict[str, Any] | str:
        """The manifest of a request: YAML text, a bare JSON manifest, or {"manifest"|"yaml": ...}."""
        form, body = self._body()
        if self.accepts_code and len(self.request.body) > self.limits["request"]:
            # The code archive's allowance is for the archive alone: the rest keeps the usual limit.
            code = body.get("code") if isinstance(body, dict) else None
            archive = code.get("archive") if isinstance(code, dict) else None
            rest = len(self.request.body) - (len(archive) if isinstance(archive, str) else 0)
            if rest > self.limits["request"]:
                self._too_large(len(self.request.body), self.limits["request"])
        if form == "yaml":
            return body
        if isinstance(body, dict) and "yaml" in body and isinstance(body["yaml"], str):
            return body["yaml"]
        if isinstance(body, dict) and isinstance(body.get("manifest"), dict):
            return body["manifest"]
        if isinstance(body, dict) and "kind" in body and "apiVersion" in body:
            return body
        raise InvalidRequest(
            'send {"manifest": {...}} or {"yaml": "..."} as JSON, or YAML text with Content-Type application/yaml'
        )

    def code_archive(self) -> CodeArchive | None:
        """The script folder's archive sent beside the manifest (`{"manifest": ..., "code": {...}}`),
        decoded and checked; None when the request has none.

        Raises:
            InvalidRequest: bad base64, a sha256 that does not match, too big (the field is named).
        """
        if not self.accepts_code:
            return None
        form, body = self._body()
        if form != "json" or not isinstance(body, dict) or body.get("code") is None:
            return None
        return CodeArchive.from_body(body["code"])

    # -- output -----------------------------------------------------------------------------

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))

    def job_url(self, job: Job) -> str:
        return url_path_join(self.base_url, "dtrain/api", job.backend, "namespaces", job.namespace,
                             plural_of(job.kind), job.name)

    def write_created(self, job: Job) -> None:
        self.set_header("Location", self.job_url(job))
        self.write_json(job.to_dict(), status=201)
