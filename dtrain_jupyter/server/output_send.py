"""Answering a request for one output file: which of three reads, which type, shown or saved.

A job's output is untrusted content served from the Jupyter origin, so the server decides how a
browser may treat it, from the file's first bytes and never from its name:

- PNG, JPEG and GIF (by their signatures) are sent as those images, and any UTF-8 text as
  `text/plain; charset=utf-8`: none of them can run script, so they may be shown (`inline`).
  HTML and SVG are text here: a browser shows their source and never renders them.
- Anything else is saved (`attachment`): `application/pdf` for a PDF (a PDF can carry script,
  and Chrome's viewer refuses to run inside the sandbox every answer asks for), otherwise
  `application/octet-stream`.

Every answer, errors included, carries `X-Content-Type-Options: nosniff` and a
Content-Security-Policy with `sandbox` (the handler's `content_security_policy`), so even what a
browser renders runs no script and reaches nothing of the Jupyter origin.

The three reads: the capped read (the default, `?limit=N` at most the server's cap, with
`X-DTrain-Truncated`); `?download=1`, the whole file streamed, always an attachment; `?view=1`,
the whole file streamed, shown when its type allows.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Any, AsyncGenerator
from urllib.parse import quote

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from ..errors import DTrainError, InvalidRequest

log = logging.getLogger(__name__)

TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"
PDF = "application/pdf"
# File signatures of the image types a browser may show (their first bytes, as the formats define them).
IMAGE_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                    (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))
# Types that cannot run script in a browser, and so may be shown rather than saved.
SHOWABLE = frozenset({TEXT, "image/png", "image/jpeg", "image/gif"})
# How much of a file's start decides whether it is text: UTF-8 throughout it and no NUL byte.
SNIFF_BYTES = 8192
# The longest UTF-8 sequence is 4 bytes: a read cut inside one leaves at most 3 of them at its end.
_CUT_CHARACTER = 3

READ, DOWNLOAD, VIEW = "read", "download", "view"


def looks_like_text(head: bytes) -> bool:
    """Whether a file starting with `head` is UTF-8 text: valid UTF-8 (a character cut at the end
    of `head` allowed) with no NUL byte. An empty file is text."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.reason == "unexpected end of data" and e.start >= len(head) - _CUT_CHARACTER
    return True


def content_type(head: bytes) -> str:
    """The Content-Type of a file whose first bytes are `head` (at least SNIFF_BYTES of them, or the whole file)."""
    for signature, ctype in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return ctype
    if head.startswith(b"%PDF-"):
        return PDF
    return TEXT if looks_like_text(head[:SNIFF_BYTES]) else BINARY


def content_disposition(path: str, *, show: bool) -> str:
    """`inline` or `attachment`, with the file's name in both RFC 6266 forms.

    `filename` holds an ASCII stand-in (any other character, a quote or a backslash becomes
    "_"); `filename*` the exact name, percent-encoded UTF-8. A name with a newline cannot break
    the header: both forms leave no control character in it.
    """
    name = PurePosixPath(path).name or "output"
    plain = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"{'inline' if show else 'attachment'}; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def read_mode(handler: Any) -> str:
    """READ, DOWNLOAD or VIEW, from the query's `download` and `view` flags.

    Raises:
        InvalidRequest: both flags, or either with `limit` (a limit belongs to the capped read).
    """
    download, view = handler.flag("download"), handler.flag("view")
    if download and view:
        raise InvalidRequest("ask for download or view, not both", argument="view")
    if (download or view) and handler.get_query_argument("limit", None) is not None:
        raise InvalidRequest("limit belongs to the capped read; download and view send the whole file",
                             argument="limit")
    return DOWNLOAD if download else VIEW if view else READ


def _headers(handler: RequestHandler, path: str, head: bytes, *, show: bool) -> str:
    ctype = content_type(head)
    handler.set_header("Content-Disposition", content_disposition(path, show=show and ctype in SHOWABLE))
    # Outputs change while a job runs: never answer from a cache.
    handler.set_header("Cache-Control", "no-cache")
    return ctype


def send_capped(handler: Any, path: str, data: bytes, *, truncated: bool) -> None:
    """The capped read: `data`, shown when its type allows, with `X-DTrain-Truncated`."""
    ctype = _headers(handler, path, data, show=True)
    handler.set_header("X-DTrain-Truncated", "true" if truncated else "false")
    handler.finish(data, set_content_type=ctype)


async def send_whole(handler: Any, path: str, chunks: AsyncGenerator[bytes, None], *, mode: str) -> None:
    """The whole file, one chunk in memory at a time: each is flushed before the next is read.

    The type is decided by the first chunk. An error after the first byte cannot become an error
    answer, and ending the body normally would pass a cut file off as whole, so the connection
    is dropped without the body's end: the browser reports the download as failed.
    """
    sent = False
    try:
        first = await anext(chunks, b"")
        ctype = _headers(handler, path, first, show=mode == VIEW)
        handler.set_header("Content-Type", ctype)
        if first:
            handler.write(first)
            sent = True
            await handler.flush()
            async for chunk in chunks:
                handler.write(chunk)
                await handler.flush()
    except StreamClosedError:
        return  # the client left
    except (DTrainError, OSError) as e:
        if not sent:
            raise
        log.warning("output file %r cut by an error after its first bytes: %s", path, e)
        handler.request.connection.close()
        return
    finally:
        await chunks.aclose()
    handler.finish(set_content_type=ctype)
