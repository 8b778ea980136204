"""The %dtrain / %%dtrain magic: the `dtrain` command's grammar inside a notebook.

`%load_ext dtrain_jupyter`, then `%dtrain list`, `%dtrain logs NAME -f`, ... do what the same
words do in a terminal (the parser is `cli.build_parser`); results show as rich HTML. `%dtrain`
alone opens the panel inline; `%%dtrain create` (or `run`, `validate`) reads the manifest from
the cell. Bad arguments print the usage and never raise into the kernel.

The job history has the same verbs: `%dtrain list --history --search mnist` (the last line is the
`%dtrain` command of the next page), `%dtrain rerun NAME`, `%dtrain forget NAME -y`; and
`%%dtrain rerun NAME` runs the job again from the edited manifest in the cell ("edit and re-run").

`%dtrain show NAME` puts the job's run details in the cell (status, pods, the last log lines, the
metric charts), live until the job ends (ui/run_details.py).

`%%dtrain run --kind PyTorchJob --workers 2` (any of the code options below) runs the cell's
code instead, as the script of every replica: what the cell reads from the notebook travels
with it, the replicas' output streams into the cell, and the cell ends with the job's summary
and, when its last line is an expression, rank 0's value of it as the cell's result.
`--packages einops,numpy>=1.26` has each replica install those first (see code/runner.py).
"""

from __future__ import annotations

import argparse
import io
import shlex
import sys
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from .cli import Console, QuietParser, UsageError, common_options, run
from .errors import DTrainError, InvalidJob, RemoteError

# Commands whose manifest comes from the cell body in the %%dtrain form.
_CELL_COMMANDS = ("create", "run", "validate", "rerun")
# Options that make `%%dtrain run` run the cell as code; without one, the cell is a manifest.
_CODE_OPTIONS = ("--kind", "--workers", "--gpu", "--cpu", "--memory", "--image", "--name", "--every-rank",
                 "--packages")
_KINDS = {"pytorchjob": "PyTorchJob", "pytorch": "PyTorchJob", "tfjob": "TFJob", "tensorflow": "TFJob",
          "mpijob": "MPIJob", "mpi": "MPIJob"}


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
    """%dtrain ARGS and %%dtrain create|run|validate|rerun."""

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
    def dtrain(self, line: str, cell: str | None = None) -> Any:
        """Run a dtrain command: `%dtrain list -A`, `%dtrain logs NAME -f`; `%dtrain` opens the panel."""
        try:
            argv = shlex.split(line)
        except ValueError as e:
            print(f"%dtrain: cannot read the arguments: {e}", file=sys.stderr)
            return
        if not argv and cell is None:
            self._panel()
            return
        if cell is None and argv[:1] == ["show"]:
            self._show(argv[1:])
            return
        if cell is not None and argv[:1] == ["run"] and _runs_code(argv[1:]):
            return self._run_cell(argv[1:], cell)
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

    def _run_cell(self, argv: list[str], cell: str) -> Any:
        """`%%dtrain run --kind ...`: the cell as a job; returns rank 0's value of its last expression."""
        from IPython.display import display

        from .code.job import cell_job, served_mpi_version
        from .code.packages import split_requirements
        from .code.results import is_marker

        try:
            args = code_parser().parse_args(argv)
        except UsageError as e:
            print(e.text.rstrip(), file=sys.stdout if e.code == 0 else sys.stderr)
            return None
        packages = [r for text in args.packages or () for r in split_requirements(text)]

        def build(mpi_version: str | None = None) -> Any:
            return cell_job(cell, self.shell.user_ns, kind=args.kind, workers=args.workers, name=args.name,
                            image=args.image, cpu=args.cpu, memory=args.memory, gpu=args.gpu,
                            every_rank=args.every_rank, packages=packages, namespace=args.namespace,
                            mpi_version=mpi_version)

        try:
            spec = build()  # refusals come first: they need no server
            client = self._make_client(args)
            if args.kind == "MPIJob":
                # The preferred version unless the backend's cluster serves MPIJob only at another.
                served = served_mpi_version(client.backends(), args.backend)
                if served != spec.framework.version:
                    spec = build(served)
            job = client.create(spec, backend=args.backend, namespace=args.namespace)
        except InvalidJob as e:
            print("%%dtrain run: " + "; ".join(str(i) for i in e.issues), file=sys.stderr)
            return None
        except DTrainError as e:
            print(f"%%dtrain run: {e.message}", file=sys.stderr)
            return None
        ref = dict(kind=job.kind, namespace=job.namespace, backend=job.backend)
        where = f"{job.kind.lower()}/{job.name}"
        print(f"{where} created on {job.backend} in {job.namespace}; its replicas' output follows", flush=True)
        try:
            for line in client.logs(job.name, follow=True, **ref):
                if not is_marker(line.line):
                    print(f"[{line.pod}] {line.line}", flush=True)
            done = client.wait(job.name, progress=False, **ref)
            display(done)
            return client.result(job.name, progress=False, **ref)
        except KeyboardInterrupt:
            # Interrupting the cell stops following; the job is the cluster's (or the server's) now.
            print(f"stopped following {where}; the job keeps running. Follow it again with "
                  f"`%dtrain logs {where} -f`, delete it with `%dtrain delete {where}`", file=sys.stderr)
        except RemoteError as e:  # its traceback was in the replica's output above: one line is enough
            print(e.message.splitlines()[0], file=sys.stderr)
        except DTrainError as e:
            if "repr" in e.fields:  # the value is not JSON: show what the replica's repr said
                return RemoteRepr(str(e.fields["repr"]))
            print(f"%%dtrain run: {e.message}", file=sys.stderr)
        return None

    def _show(self, argv: list[str]) -> None:
        """`%dtrain show NAME`: the job's run details in the cell (ui/run_details.py), live until it ends."""
        try:
            args = show_parser().parse_args(argv)
        except UsageError as e:
            print(e.text.rstrip(), file=sys.stdout if e.code == 0 else sys.stderr)
            return
        try:
            client = self._make_client(args)
            job = client.get(args.name, kind=args.kind, namespace=args.namespace, backend=args.backend)
        except DTrainError as e:
            print(f"%dtrain show: {e.message}", file=sys.stderr)
            return
        try:
            job.show(client=client, tail=args.tail)
        except ImportError as e:
            print(f"%dtrain show: the run-details widget is not available here ({e})", file=sys.stderr)

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


class RemoteRepr(str):
    """A cell result that could not travel as JSON: shown as the replica's repr of it."""

    def __repr__(self) -> str:
        return str(self)


def code_parser() -> Any:
    """The options of `%%dtrain run` when the cell is code (a manifest cell takes `-f` as before)."""
    p = QuietParser(prog="%%dtrain run", description="Run the cell's code as the script of every replica of a "
                    "new job; the cell's last expression (rank 0's value) is the result.", parents=[common_options()])
    p.add_argument("--kind", type=_kind, default="PyTorchJob", help="PyTorchJob (default), TFJob or MPIJob")
    p.add_argument("--workers", type=int, help="Worker replicas, as for the kind's builder")
    p.add_argument("--gpu", type=int, help="GPUs per replica")
    p.add_argument("--cpu", help="CPUs per replica, e.g. 2 or 500m")
    p.add_argument("--memory", help="memory per replica, e.g. 4Gi")
    p.add_argument("--image", help="the image on Kubernetes (it needs Python)")
    p.add_argument("--name", help="the job's name (default: cell-XXXXX)")
    p.add_argument("--every-rank", action="store_true", help="the result is every rank's value, in rank order")
    p.add_argument("--packages", action="append", metavar="REQ,REQ",
                   help="requirements each replica installs with pip first, comma-separated (a range "
                        "stays whole: einops,numpy>=1.26,<2; quote one with spaces); may be repeated")
    return p


def show_parser() -> Any:
    """The options of `%dtrain show` (a notebook verb: a terminal has no widgets to show)."""
    p = QuietParser(prog="%dtrain show", description="Show a job's run details in the cell: status, pods, the "
                    "last log lines and its metric charts, live until it ends.", parents=[common_options()])
    p.add_argument("name", metavar="NAME", help="NAME or KIND/NAME")
    p.add_argument("--kind", help="the job's kind, when names clash")
    p.add_argument("--tail", type=_at_least_one, default=30,
                   help="how many of the last log lines to show (default 30)")
    return p


def _runs_code(argv: list[str]) -> bool:
    return any(a == option or a.startswith(option + "=") for a in argv for option in _CODE_OPTIONS)


def _at_least_one(text: str) -> int:
    """A count of one or more: a tail of 0 or -1 lines has no meaning (and a deque refuses maxlen < 0)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is too few: must be 1 or more")
    return number


def _kind(text: str) -> str:
    kind = _KINDS.get(text.lower())
    if kind is None:
        raise argparse.ArgumentTypeError(f"{text!r} cannot run a cell: use PyTorchJob, TFJob or MPIJob")
    return kind


def load_ipython_extension(ipython: Any) -> None:
    """Register the magic (what `%load_ext dtrain_jupyter` calls)."""
    ipython.register_magics(DTrainMagics)
