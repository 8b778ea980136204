"""The %dtrain / %%dtrain magic: the `dtrain` command's grammar inside a notebook.

`%load_ext dtrain_jupyter`, then `%dtrain list`, `%dtrain logs NAME -f`, ... do what the same
words do in a terminal (the parser is `cli.build_parser`); results show as rich HTML. `%dtrain`
alone opens the panel inline; `%%dtrain create` (or `run`, `validate`) reads the manifest from
the cell. Bad arguments print the usage and never raise into the kernel.
"""

from __future__ import annotations

import io
import shlex
import sys
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from .cli import Console, run
from .errors import DTrainError

# Commands whose manifest comes from the cell body in the %%dtrain form.
_CELL_COMMANDS = ("create", "run", "validate")


class NotebookConsole(Console):
    """Output into the running cell: text via print, results via IPython's rich display."""

    def __init__(self, cell: str | None = None) -> None:
        super().__init__(out=sys.stdout, err=sys.stderr, stdin=io.StringIO(cell or ""))

    def print(self, text: str = "") -> None:
        print(text, flush=True)

    def error(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def show(self, obj: Any) -> None:
        from IPython.display import display

        display(obj)

    def write_bytes(self, data: bytes) -> None:
        try:
            self.print(data.decode("utf-8"))
        except UnicodeDecodeError:
            self.print(f"<{len(data)} bytes of binary data; use Client().read_output(...) to get them>")

    def confirm(self, question: str) -> bool:
        return True  # a magic line is already a deliberate act; -y is accepted for symmetry


@magics_class
class DTrainMagics(Magics):
    """%dtrain ARGS and %%dtrain create|run|validate."""

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)
        self._client: Any = None

    def _make_client(self, args: Any) -> Any:
        from .client import Client

        if getattr(args, "url", None) or getattr(args, "token", None):
            return Client(url=args.url, token=args.token)
        if self._client is None:  # one HTTP client per kernel, reused by every magic line
            self._client = Client()
        return self._client

    @line_cell_magic
    def dtrain(self, line: str, cell: str | None = None) -> None:
        """Run a dtrain command: `%dtrain list -A`, `%dtrain logs NAME -f`; `%dtrain` opens the panel."""
        try:
            argv = shlex.split(line)
        except ValueError as e:
            print(f"%dtrain: cannot read the arguments: {e}", file=sys.stderr)
            return
        if not argv and cell is None:
            self._panel()
            return
        if cell is not None:
            if not argv or argv[0] not in _CELL_COMMANDS:
                print(f"%%dtrain: the cell form takes one of {', '.join(_CELL_COMMANDS)}, "
                      "with the manifest as the cell body", file=sys.stderr)
                return
            argv += ["-"] if argv[0] == "validate" else ["-f", "-"]
        try:
            run(argv, NotebookConsole(cell), prog="%dtrain", make_client=self._make_client)
        except SystemExit:  # belt and braces: nothing in a magic may end the kernel
            pass

    def _panel(self) -> None:
        try:
            from .ui import show_panel
        except ImportError as e:
            print(f"%dtrain: the panel is not available here ({e})", file=sys.stderr)
            return
        try:
            show_panel(client=self._make_client(None))
        except DTrainError as e:
            print(f"%dtrain: {e.message}", file=sys.stderr)


def load_ipython_extension(ipython: Any) -> None:
    """Register the magic (what `%load_ext dtrain_jupyter` calls)."""
    ipython.register_magics(DTrainMagics)
