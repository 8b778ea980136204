"""Output files over REST: the capped read, whole downloads and views, types a browser may show, headers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncGenerator
from urllib.parse import unquote

import pytest
from tornado.iostream import StreamClosedError

from dtrain_jupyter.backends.output_files import READ_CHUNK
from dtrain_jupyter.errors import NotFound
from dtrain_jupyter.server.output_send import content_disposition, content_type, send_whole

from .conftest import job_path, pytorch_manifest, unique, wait_finished

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40
GIF = b"GIF89a" + b"\x00" * 40
PDF = b"%PDF-1.7\n<< /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>\n"
HTML = b"<!doctype html><script>fetch('/api/contents')</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
TEXT = "loss 0.25 — épreuve ✓\n".encode("utf-8")
# Bigger than one read chunk and than this module's output_read_limit: a download spans chunks.
BIG = bytes(range(256)) * ((2 * READ_CHUNK) // 256) + b"tail"
CAP = 1000


@pytest.fixture
def dtrain_config(tmp_path: Path) -> dict[str, Any]:
    return {"backend": "local", "state_dir": str(tmp_path / "state"), "output_root": str(tmp_path / "outputs"),
            "output_read_limit": CAP, "grace_seconds": 1.0}


async def plant(api, tmp_path: Path) -> tuple[tuple[str, ...], Path]:
    """A finished job whose output folder (found through the API's `location`) holds one file of each type."""
    code, job, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(unique())})
    assert code == 201, job
    path = job_path(job)
    await wait_finished(api, path)
    code, listing, _ = await api(*path, "outputs")
    assert code == 200, listing
    folder = Path(listing["location"]["folder"])
    files = {"plot.png": PNG, "photo.jpg": JPEG, "anim.gif": GIF, "report.pdf": PDF, "page.html": HTML,
             "drawing.svg": SVG, "notes.txt": TEXT, "weights.bin": b"\x00\x01\x02\xff" * 8, "big.bin": BIG,
             'odd "name"\u00e9.txt': b"odd"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "secret.txt").write_text("not yours")
    return path, folder


def _sandboxed(headers: Any) -> bool:
    policy = [p.strip() for p in headers.get("Content-Security-Policy", "").split(";")]
    return "sandbox" in policy and headers.get("X-Content-Type-Options") == "nosniff"


async def test_the_outputs_answer_names_the_folder_under_output_root(api, tmp_path: Path) -> None:
    code, job, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(unique())})
    await wait_finished(api, job_path(job))
    code, listing, _ = await api(*job_path(job), "outputs")
    assert code == 200
    expected = tmp_path / "outputs" / job["namespace"] / "pytorchjobs" / job["name"]
    assert listing["location"] == {"folder": str(expected)}
    assert [f["path"] for f in listing["items"]] == ["rank-0.txt", "rank-1.txt"]


@pytest.mark.parametrize("name, ctype, shown", [
    ("plot.png", "image/png", True), ("photo.jpg", "image/jpeg", True), ("anim.gif", "image/gif", True),
    ("notes.txt", "text/plain; charset=utf-8", True),
    ("page.html", "text/plain; charset=utf-8", True), ("drawing.svg", "text/plain; charset=utf-8", True),
    ("report.pdf", "application/pdf", False), ("weights.bin", "application/octet-stream", False),
], ids=["png", "jpeg", "gif", "text", "html-as-its-source", "svg-as-its-source", "pdf-saved", "binary-saved"])
async def test_view_shows_only_types_that_cannot_run_script(api, tmp_path: Path, name: str, ctype: str, shown: bool) -> None:
    path, folder = await plant(api, tmp_path)
    code, data, headers = await api(*path, "outputs", name, params={"view": "1"}, raw=True)
    assert code == 200 and data == (folder / name).read_bytes()
    assert headers["Content-Type"] == ctype
    assert headers["Content-Disposition"].startswith("inline;" if shown else "attachment;")
    assert _sandboxed(headers), dict(headers)
    # The plain (capped) read answers the same type and disposition; a download always saves.
    code, _, plain = await api(*path, "outputs", name, raw=True)
    assert (plain["Content-Type"], plain["Content-Disposition"]) == (ctype, headers["Content-Disposition"])
    assert _sandboxed(plain)
    code, _, saved = await api(*path, "outputs", name, params={"download": "true"}, raw=True)
    assert saved["Content-Type"] == ctype and saved["Content-Disposition"].startswith("attachment;")
    assert _sandboxed(saved)


async def test_download_sends_the_whole_file_past_the_read_limit(api, tmp_path: Path) -> None:
    path, _ = await plant(api, tmp_path)
    code, data, headers = await api(*path, "outputs", "big.bin", raw=True)
    assert code == 200 and data == BIG[:CAP] and headers["X-DTrain-Truncated"] == "true"
    code, data, headers = await api(*path, "outputs", "big.bin", params={"download": "1"}, raw=True)
    assert code == 200 and data == BIG and len(data) > 2 * READ_CHUNK
    # Streamed: sent in chunks as read, not gathered into one body of known length first.
    assert headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in headers
    assert headers["Content-Disposition"] == "attachment; filename=\"big.bin\"; filename*=UTF-8''big.bin"
    code, data, _ = await api(*path, "outputs", "big.bin", params={"view": "1"}, raw=True)
    assert data == BIG


async def test_the_file_name_is_safe_in_the_header_and_exact_in_its_utf8_form(api, tmp_path: Path) -> None:
    path, _ = await plant(api, tmp_path)
    name = 'odd "name"\u00e9.txt'
    code, data, headers = await api(*path, "outputs", name, params={"download": "1"}, raw=True)
    assert code == 200 and data == b"odd"
    disposition = headers["Content-Disposition"]
    assert 'filename="odd _name__.txt"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == name


@pytest.mark.parametrize("params", [{"download": "1", "view": "1"}, {"download": "1", "limit": "10"},
                                    {"view": "1", "limit": "10"}, {"download": "maybe"}],
                         ids=["both", "download-with-limit", "view-with-limit", "not-a-flag"])
async def test_conflicting_or_bad_arguments_are_400(api, tmp_path: Path, params: dict) -> None:
    path, _ = await plant(api, tmp_path)
    code, err, headers = await api(*path, "outputs", "notes.txt", params=params)
    assert code == 400 and err["error"] == "InvalidRequest", err
    assert _sandboxed(headers)


@pytest.mark.parametrize("params", [{}, {"download": "1"}, {"view": "1"}], ids=["read", "download", "view"])
async def test_whole_reads_keep_the_safety_rule(api, tmp_path: Path, params: dict) -> None:
    path, _ = await plant(api, tmp_path)
    for evil, status, error in (("escape.txt", 404, "NotFound"), ("missing.txt", 404, "NotFound"),
                                ("../../../etc/passwd", 400, "InvalidRequest"), ("a/../../x", 400, "InvalidRequest")):
        code, err, headers = await api(*path, "outputs", evil, params=params)
        assert (code, err["error"]) == (status, error), (evil, err)
        assert _sandboxed(headers), (evil, dict(headers))


@pytest.mark.parametrize("head, ctype", [
    (b"", "text/plain; charset=utf-8"),
    ("é".encode() * 5000, "text/plain; charset=utf-8"),                 # a character cut at the sniff's end
    ("ab\u00e9".encode()[:-1], "text/plain; charset=utf-8"),           # a file cut mid-character by a limit
    ("caf\u00e9 au lait".encode("latin-1"), "application/octet-stream"),  # not UTF-8
    (b"text\x00with a NUL", "application/octet-stream"),
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"%PDF-1.4", "application/pdf"),
    (b"<html><script>alert(1)</script>", "text/plain; charset=utf-8"),
], ids=["empty", "cut-at-sniff", "cut-at-limit", "latin-1", "nul", "png", "pdf", "html"])
def test_content_type_comes_from_the_first_bytes(head: bytes, ctype: str) -> None:
    assert content_type(head) == ctype


def test_a_name_with_a_newline_cannot_break_the_header() -> None:
    header = content_disposition("run/a\r\nSet-Cookie: x.txt", show=False)
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="a__Set-Cookie: x.txt"')


class _Recorder:
    """A handler stand-in that records what `send_whole` does, in order."""

    def __init__(self, fail_flush_at: int | None = None) -> None:
        self.events: list[str] = []
        self.headers: dict[str, str] = {}
        self.finished = False
        self.closed = False
        self._flushes = 0
        self._fail_flush_at = fail_flush_at
        self.request = type("Request", (), {"connection": type("Conn", (), {"close": self._close})()})()

    def _close(self) -> None:
        self.closed = True

    def set_header(self, name: str, value: str) -> None:
        self.headers[name] = value

    def write(self, chunk: bytes) -> None:
        self.events.append(f"write {len(chunk)}")

    async def flush(self) -> None:
        self._flushes += 1
        if self._flushes == self._fail_flush_at:
            raise StreamClosedError()
        self.events.append("flush")

    def finish(self, set_content_type: str) -> None:
        self.finished = True


def _chunks(sizes: list[int], events: list[str], error_after: int | None = None) -> AsyncGenerator[bytes, None]:
    async def gen() -> AsyncGenerator[bytes, None]:
        try:
            for i, size in enumerate(sizes):
                if error_after is not None and i == error_after:
                    raise NotFound("output file 'x' not found")
                events.append(f"read {size}")
                yield b"a" * size
        finally:
            events.append("closed")
    return gen()


def test_each_chunk_is_flushed_before_the_next_is_read() -> None:
    handler = _Recorder()
    asyncio.run(send_whole(handler, "x.txt", _chunks([3, 3, 2], handler.events), mode="download"))
    assert handler.events == ["read 3", "write 3", "flush", "read 3", "write 3", "flush", "read 2", "write 2",
                              "flush", "closed"]
    assert handler.finished and handler.headers["Content-Disposition"].startswith("attachment;")


def test_a_client_that_leaves_stops_the_reading() -> None:
    handler = _Recorder(fail_flush_at=2)
    asyncio.run(send_whole(handler, "x.txt", _chunks([3, 3, 3, 3], handler.events), mode="view"))
    assert handler.events == ["read 3", "write 3", "flush", "read 3", "write 3", "closed"]
    assert not handler.finished


def test_an_error_after_the_first_byte_cuts_the_transfer_instead_of_ending_it() -> None:
    handler = _Recorder()
    asyncio.run(send_whole(handler, "x.txt", _chunks([3, 3], handler.events, error_after=1), mode="download"))
    assert handler.closed and not handler.finished
    before = _Recorder()
    with pytest.raises(NotFound):  # before any byte it is an ordinary error answer
        asyncio.run(send_whole(before, "x.txt", _chunks([3], before.events, error_after=0), mode="download"))
    assert not before.closed and before.events == ["closed"]
