"""The `dtrain` command grammar: one parser for the terminal command and the %dtrain magic.

`run(argv, console)` parses and executes one command and returns its exit code; it never raises
and never exits the process (argparse's exits become `UsageError`), so the magic can call it
inside a kernel. `main()` is the console script. Output goes through a `Console`: the terminal
one prints text, the magic's displays rich objects.

Exit codes: 0 done, 1 failed (an error, an invalid manifest, a failed job), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Sequence, TextIO

from . import render
from .errors import DTrainError, InvalidJob
from .model.time_bounds import parse_bound

# Files `dtrain validate` and `create -f` read at most (a manifest is far smaller; the
# server refuses bodies beyond the same size).
MAX_FILE_BYTES = 1024 * 1024
# Records in one page of `dtrain list --history` when --limit does not say (the server's own default).
HISTORY_PAGE = 100
# The options of `list` that only mean something with --history (dest -> how it is spelled).
HISTORY_ONLY = {"show": "--show", "search": "--search", "since": "--since", "until": "--until", "limit": "--limit",
                "after": "--after"}


class UsageError(Exception):
    """Bad arguments; carries the text to show (usage line and message, or the help)."""

    def __init__(self, text: str, code: int = 2) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class QuietParser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting (a kernel must survive bad input)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.format_usage()}{self.prog}: error: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise UsageError(message or "", code=status)

    def print_help(self, file: Any = None) -> None:
        raise UsageError(self.format_help(), code=0)


class Console:
    """Where a command's output goes; the terminal version writes text to two streams."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, stdin: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.stdin = stdin or sys.stdin

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def error(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def show(self, obj: Any) -> None:
        """A result object (job, list of jobs, pods, ...): its plain-text form here."""
        self.print(obj.text() if hasattr(obj, "text") else repr(obj))

    def write_bytes(self, data: bytes) -> None:
        buffer = getattr(self.out, "buffer", None)
        if buffer is not None:
            self.out.flush()
            buffer.write(data)
            buffer.flush()
        else:
            self.out.write(data.decode("utf-8", errors="replace"))

    def read_stdin(self) -> str:
        return self.stdin.read(MAX_FILE_BYTES + 1)

    def confirm(self, question: str) -> bool:
        """Ask on an interactive terminal; elsewhere (pipes, notebooks) the answer is yes."""
        if not (hasattr(self.stdin, "isatty") and self.stdin.isatty()):
            return True
        self.out.write(f"{question} [y/N] ")
        self.out.flush()
        return self.stdin.readline().strip().lower() in ("y", "yes")


# -- the grammar -----------------------------------------------------------------------------

def _history_date(text: str) -> str:
    """A --since/--until value as the job history compares it (`model.time_bounds.parse_bound`)."""
    try:
        return parse_bound(text, "date")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def connection_options() -> QuietParser:
    """Where the server is: a parent parser of every verb that talks to it."""
    connection = QuietParser(add_help=False)
    connection.add_argument("--url", help="Jupyter server URL (default: found by itself, or $DTRAIN_URL)")
    connection.add_argument("--token", help="Jupyter server token (default: found with the server, or $DTRAIN_TOKEN)")
    return connection


def common_options() -> QuietParser:
    """Where the server is and which namespace and backend: a parent parser every verb takes."""
    common = QuietParser(add_help=False, parents=[connection_options()])
    common.add_argument("-n", "--namespace", help="namespace (default: the server's default)")
    common.add_argument("--backend", help="backend: local or kubernetes (default: the server's default)")
    return common


def build_parser(prog: str = "dtrain") -> argparse.ArgumentParser:
    """The one parser of the command and the magic."""
    common = common_options()

    parser = QuietParser(prog=prog, description="Create, watch and inspect distributed training jobs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=QuietParser)
    sub.required = True

    def add(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, parents=[common])

    p = add("list", "list jobs")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    p.add_argument("--kind", help="only this kind")
    p.add_argument("--phase", help="only jobs in this phase")
    p.add_argument("-o", "--output", choices=("wide", "json", "yaml"), help="output format")
    history = p.add_argument_group("the job history", "with --history: the records the server keeps of live and "
                                   "past jobs, newest first, every namespace unless -n says one")
    history.add_argument("--history", action="store_true", help="list job records instead of the cluster's jobs")
    history.add_argument("--show", choices=("live", "finished", "all"), help="which records (default: all)")
    history.add_argument("--search", metavar="TEXT", help="words each record has in its name, kind, namespace or phase")
    history.add_argument("--since", type=_history_date, metavar="DATE",
                         help="created on or after DATE (2026-12-01, or 2026-12-01T10:00 in UTC, or with an offset)")
    history.add_argument("--until", type=_history_date, metavar="DATE", help="created on or before DATE (a date "
                         "alone: that whole day)")
    history.add_argument("--limit", type=int, metavar="N", help=f"records per page, 1-1000 (default {HISTORY_PAGE})")
    history.add_argument("--after", metavar="CURSOR", help="the page after CURSOR (the last line of a page says it)")

    for name, text in (("create", "create a job from a manifest"),
                       ("run", "create a job, follow its logs, wait; exit code = job result")):
        p = add(name, text)
        p.add_argument("-f", "--filename", required=True, help="manifest file, or - for standard input")
        if name == "create":
            p.add_argument("--dry-run", action="store_true", help="validate and ask the backend, create nothing")

    p = add("run-script", "run a script folder as a job (python SCRIPT ARGS on every replica), follow its logs, "
                          "wait; exit code = job result. The script's own arguments come last, after --")
    p.add_argument("script", metavar="SCRIPT", help="the script, relative to --workdir")
    p.add_argument("--workdir", default=".", help="the folder shipped with it (.gitignore, .dtrainignore honoured)")
    p.add_argument("--kind", default="PyTorchJob", choices=("PyTorchJob", "TFJob", "MPIJob"))
    p.add_argument("--workers", type=int, help="Worker replicas")
    p.add_argument("--packages", help="requirements each replica installs first, comma-separated")
    p.add_argument("--name", help="the job's name (default: the script's and a random suffix)")

    p = sub.add_parser("validate", help="check manifests offline", description="Check manifests offline: "
                       "prints FILE: ok, or FILE:LINE:COL: path: message per problem.")
    p.add_argument("files", nargs="+", metavar="FILE")

    p = add("get", "show one job")
    p.add_argument("name", metavar="NAME", help="NAME or KIND/NAME")
    p.add_argument("-o", "--output", choices=("yaml", "json"), help="output format")

    for name, text in (("pods", "show a job's replicas"), ("events", "show a job's events")):
        add(name, text).add_argument("name", metavar="NAME", help="NAME or KIND/NAME")

    p = add("logs", "print a job's logs (all pods merged, or one)")
    p.add_argument("name", metavar="NAME", help="NAME or KIND/NAME")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("--pod", help="one pod")
    p.add_argument("-c", "--container", help="container of the pod")
    p.add_argument("--tail", type=int, help="last N lines per pod")
    p.add_argument("--since", type=int, dest="since_seconds", metavar="SECONDS", help="lines newer than this")
    p.add_argument("-p", "--previous", action="store_true", help="the previous container's log")
    p.add_argument("--timestamps", action="store_true", help="prefix each line with its time")

    p = add("output", "list a job's output files, or print one")
    p.add_argument("name", metavar="NAME", help="NAME or KIND/NAME")
    p.add_argument("path", nargs="?", metavar="PATH", help="file to print")
    p.add_argument("--limit", type=int, help="most bytes to print")

    p = add("wait", "wait for a job to finish")
    p.add_argument("name", metavar="NAME", help="NAME or KIND/NAME")
    p.add_argument("--for", dest="until", choices=("succeeded", "finished"), default="finished")
    p.add_argument("--timeout", type=float, metavar="SECONDS")

    for name, text in (("suspend", "suspend a job: its replicas stop, the job and its logs stay"),
                       ("resume", "resume a suspended job: its replicas start again")):
        add(name, text).add_argument("name", metavar="NAME", help="NAME or KIND/NAME")

    p = add("delete", "delete jobs and their replicas")
    p.add_argument("names", nargs="+", metavar="NAME", help="NAME or KIND/NAME")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")

    # The common --backend and --namespace say where the NEW job runs, as they say where a
    # created one does; --from-backend and --from-namespace find the old one.
    text = ("run a job again, one still on its cluster or one only the job history keeps: the same manifest, "
            "or an edited one (-f), under a new name. --backend and -n/--namespace say where the new job runs "
            "(default: where the old one ran); --from-backend and --from-namespace find the old job when its "
            "name alone is ambiguous")
    p = sub.add_parser("rerun", help="run a job again (live or past)", description=text,
                       parents=[connection_options()])
    p.add_argument("name", metavar="NAME", help="the old job: NAME or KIND/NAME")
    p.add_argument("--name", dest="new_name", metavar="NEW", help="the new job's name (default: NAME-run2, -run3, "
                   "...; or the edited manifest's name when -f changed it)")
    p.add_argument("--backend", help="where the new job runs: local or kubernetes")
    p.add_argument("-n", "--namespace", help="the new job's namespace")
    p.add_argument("-f", "--filename", help="an edited manifest to run instead (same kind), or - for standard input")
    p.add_argument("--dry-run", action="store_true", help="validate and ask the backend, create nothing")
    p.add_argument("--from-backend", help="the old job's backend")
    p.add_argument("--from-namespace", help="the old job's namespace")

    p = add("metrics", "show a job's metrics (its report() lines, metric-like log lines, TensorBoard scalars): the "
                       "last value, min, max and points of each metric of each replica")
    p.add_argument("name", metavar="NAME", help="NAME or KIND/NAME")
    p.add_argument("-k", "--kind", help="the job's kind, when NAME alone is ambiguous")
    p.add_argument("-f", "--follow", action="store_true", help="print new points as they come, until the job finishes")
    p.add_argument("--csv", action="store_true", help="every point as CSV: replica,metric,source,step,time,value")

    p = add("tensorboard", "run this server's TensorBoard over jobs' output folders (their event files) and print "
                           "its address; the same jobs again reuse it, others restart it")
    p.add_argument("names", nargs="+", metavar="NAME", help="NAME or KIND/NAME")
    p.add_argument("-k", "--kind", help="the jobs' kind, when a NAME alone is ambiguous")

    p = add("forget", "remove past jobs' records and archived logs from the job history (the job must have left "
                      "its cluster: delete it first)")
    p.add_argument("names", nargs="+", metavar="NAME", help="NAME or KIND/NAME")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    return parser


# -- commands ---------------------------------------------------------------------------------

class _Context:
    def __init__(self, args: argparse.Namespace, console: Console, make_client: Callable[..., Any] | None) -> None:
        self.args, self.console = args, console
        self._make = make_client
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            if self._make is not None:
                self._client = self._make(self.args)
            else:
                from .client import Client

                self._client = Client(url=getattr(self.args, "url", None), token=getattr(self.args, "token", None))
        return self._client

    def where(self) -> dict[str, Any]:
        return {"namespace": getattr(self.args, "namespace", None), "backend": getattr(self.args, "backend", None)}


def _dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2)
    import yaml

    return yaml.safe_dump(data, sort_keys=False).rstrip()


def _read(name: str, console: Console) -> tuple[str | bytes | None, str]:
    """(content, "") or (None, reason) for a manifest file; never raises."""
    if name == "-":
        text = console.read_stdin()
        if len(text) > MAX_FILE_BYTES:
            return None, f"larger than {MAX_FILE_BYTES} bytes (1 MiB); a job manifest is far smaller"
        return text, ""
    try:
        if os.path.isdir(name):
            return None, "is a directory"
        with open(name, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None, "no such file"
    except OSError as e:
        return None, e.strerror or str(e)
    if len(data) > MAX_FILE_BYTES:
        return None, f"larger than {MAX_FILE_BYTES} bytes (1 MiB); a job manifest is far smaller"
    return data, ""


def cmd_validate(ctx: _Context) -> int:
    from .model.validation import validate_text

    bad = 0
    for name in ctx.args.files:
        data, reason = _read(name, ctx.console)
        if data is None:
            ctx.console.print(f"{name}: {reason}")
            bad += 1
            continue
        _, issues = validate_text(data)
        if not issues:
            ctx.console.print(f"{name}: ok")
            continue
        bad += 1
        # In text order, so a person can walk the file top to bottom.
        for issue in sorted(issues, key=lambda i: (i.document, i.line or 0, i.column or 0)):
            ctx.console.print(f"{name}:{issue}" if issue.line is not None else f"{name}: {issue}")
    return 1 if bad else 0


def _manifest_text(ctx: _Context) -> str | None:
    data, reason = _read(ctx.args.filename, ctx.console)
    if data is None:
        ctx.console.error(f"error: {ctx.args.filename}: {reason}")
        return None
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            ctx.console.error(f"error: {ctx.args.filename}: not UTF-8 text")
            return None
    return data


def cmd_create(ctx: _Context) -> int:
    text = _manifest_text(ctx)
    if text is None:
        return 1
    job = ctx.client.create(text, dry_run=ctx.args.dry_run, **ctx.where())
    suffix = " (dry run)" if ctx.args.dry_run else ""
    ctx.console.print(f"{job.kind.lower()}/{job.name} created on {job.backend} in {job.namespace}{suffix}")
    return 0


def cmd_run(ctx: _Context) -> int:
    text = _manifest_text(ctx)
    if text is None:
        return 1
    job = ctx.client.create(text, **ctx.where())
    ctx.console.print(f"{job.kind.lower()}/{job.name} created on {job.backend} in {job.namespace}")
    return _follow(ctx, job)


def _follow(ctx: _Context, job: Any) -> int:
    """Print the job's merged logs until it ends; 0 when it succeeded."""
    ref = dict(kind=job.kind, namespace=job.namespace, backend=job.backend)
    for line in ctx.client.logs(job.name, follow=True, **ref):
        ctx.console.print(f"[{line.pod}] {line.line}")
    done = ctx.client.wait(job.name, progress=False, **ref)
    ctx.console.print(f"{done.kind.lower()}/{done.name} {done.phase}")
    return 0 if done.phase.value == "Succeeded" else 1


def cmd_run_script(ctx: _Context) -> int:
    from .code.packages import split_requirements

    a = ctx.args
    packages = split_requirements(a.packages) if a.packages else None
    job = ctx.client.run(a.script, workdir=a.workdir, args=a.script_args, kind=a.kind, workers=a.workers,
                         packages=packages, name=a.name, **ctx.where())
    ctx.console.print(f"{job.kind.lower()}/{job.name} created on {job.backend} in {job.namespace}")
    return _follow(ctx, job)


def cmd_list(ctx: _Context) -> int:
    a = ctx.args
    if a.history:
        return _list_history(ctx)
    given = [spelling for dest, spelling in HISTORY_ONLY.items() if getattr(a, dest) is not None]
    if given:
        ctx.console.error(f"error: {', '.join(given)} {'is' if len(given) == 1 else 'are'} for the job history: "
                          "add --history")
        return 2
    jobs = ctx.client.list(namespace=a.namespace, all_namespaces=a.all_namespaces, backend=a.backend,
                           kind=a.kind, phase=a.phase)
    for problem in getattr(jobs, "problems", []):
        ctx.console.error(f"warning: {problem.get('backend')}: {problem.get('message')}")
    if a.output in ("json", "yaml"):
        ctx.console.print(_dump([j.to_dict() for j in jobs], a.output))
    elif a.output == "wide":
        ctx.console.print(jobs.text(wide=True))
    else:
        ctx.console.show(jobs)
    return 0


HISTORY_COLUMNS = ("NAME", "KIND", "BACKEND", "NAMESPACE", "PHASE", "CREATED (UTC)", "REMOVED", "LOGS")


class HistoryTable:
    """A page of job records as `list --history` shows it, and the command for the next page."""

    def __init__(self, records: Sequence[Any], next_command: str = "") -> None:
        self.records = list(records)
        self.next_command = next_command

    def rows(self) -> list[list[str]]:
        rows = []
        for job in self.records:
            record = getattr(job, "record", {}) or {}
            created = render.parse_time(job.created)
            since = render.age(job.removed) if job.removed else ""
            removed = (f"removed {since} ago" if since else "removed") if job.removed else ""
            logs = render._size(int(record.get("log_bytes") or 0))
            if job.removed and record.get("incomplete_logs"):
                logs += " (cut short)"  # archiving stopped before the pods' logs ended
            rows.append([job.name, job.kind, job.backend, job.namespace, str(job.phase),
                         created.strftime("%Y-%m-%d %H:%M") if created else render.NO_TIME, removed, logs])
        return rows

    def __repr__(self) -> str:
        return self.text()

    def text(self) -> str:
        table = render.text_table(HISTORY_COLUMNS, self.rows()) if self.records else "No job records."
        return table + (f"\nnext page: {self.next_command}" if self.next_command else "")

    def _repr_html_(self) -> str:
        if self.records:
            rows = []
            for job, row in zip(self.records, self.rows()):
                cells = [render.esc(c) for c in row]
                cells[4] = render.badge(job.phase)
                rows.append(cells)
            table = render.html_table(HISTORY_COLUMNS, rows)
        else:
            table = "<i>No job records.</i>"
        more = f"<div>next page: <code>{render.esc(self.next_command)}</code></div>" if self.next_command else ""
        return table + more


def _list_history(ctx: _Context) -> int:
    a = ctx.args
    if a.output == "wide":
        ctx.console.error("error: -o wide is the cluster's list; the history's table has every column already")
        return 2
    page = ctx.client.history(a.show or "all", a.search or "", kind=a.kind, phase=a.phase, backend=a.backend,
                              namespace=a.namespace, since=a.since, until=a.until,
                              limit=a.limit if a.limit is not None else HISTORY_PAGE, after=a.after)
    if a.output in ("json", "yaml"):
        items = [{**job.to_dict(), "record": getattr(job, "record", {})} for job in page]
        ctx.console.print(_dump({"items": items, "next": page.next}, a.output))
        return 0
    ctx.console.show(HistoryTable(page, _next_page_command(ctx, page.next) if page.next else ""))
    return 0


def _next_page_command(ctx: _Context, cursor: str) -> str:
    """The same `list --history` with `--after CURSOR` (never the token: it would land in shell history)."""
    import shlex

    a = ctx.args
    words = [a.prog, "list", "--history"]
    for option, value in (("--show", a.show), ("--search", a.search), ("--since", a.since), ("--until", a.until),
                          ("--limit", a.limit), ("--kind", a.kind), ("--phase", a.phase),
                          ("-n", a.namespace), ("--backend", a.backend), ("--url", a.url)):
        if value is not None:
            words += [option, shlex.quote(str(value))]
    return " ".join(words + ["--after", shlex.quote(cursor)])


# What a verb answers for a job only the job history has (after "note: KIND/NAME left the cluster at T; ").
FROM_HISTORY = {
    "get": "this is its record in the job history",
    "pods": "these are its pods as last seen, from the job history",
    "events": "these are its events as the job history kept them",
    "logs": "these are its logs as the job history archived them",
    "output": "the job history keeps its record and logs",
    "wait": "this is its last phase, from the job history",
}


def _located(ctx: _Context) -> Any:
    """The job NAME means, live or past; a past one gets a note on stderr (stdout stays the answer)."""
    job = ctx.client.get(ctx.args.name, **ctx.where())
    if job.removed:
        ctx.console.error(f"note: {job.kind.lower()}/{job.name} left the cluster at {job.removed}; "
                          f"{FROM_HISTORY[ctx.args.command]}")
    return job


def _ref(job: Any) -> dict[str, Any]:
    """Where a located job is, so the next call asks for exactly it."""
    return dict(kind=job.kind, namespace=job.namespace, backend=job.backend)


def cmd_get(ctx: _Context) -> int:
    job = _located(ctx)
    if ctx.args.output:
        ctx.console.print(_dump(job.to_dict(), ctx.args.output))
    else:
        ctx.console.show(job)
    return 0


def cmd_pods(ctx: _Context) -> int:
    job = _located(ctx)
    ctx.console.show(ctx.client.pods(job.name, **_ref(job)))
    return 0


def cmd_events(ctx: _Context) -> int:
    job = _located(ctx)
    ctx.console.show(ctx.client.events(job.name, **_ref(job)))
    return 0


def cmd_logs(ctx: _Context) -> int:
    a = ctx.args
    job = _located(ctx)
    merged = a.pod is None
    if not merged and not a.timestamps and a.since_seconds is None:
        # One pod, lines as they are: relay the server's plain text (no object per line).
        for chunk in ctx.client.log_bytes(job.name, pod=a.pod, follow=a.follow, tail=a.tail, previous=a.previous,
                                          container=a.container, **_ref(job)):
            ctx.console.write_bytes(chunk)
        return 0
    for line in ctx.client.logs(job.name, pod=a.pod, follow=a.follow, tail=a.tail, previous=a.previous,
                                since_seconds=a.since_seconds, timestamps=a.timestamps,
                                container=a.container, **_ref(job)):
        prefix = (f"{line.timestamp} " if a.timestamps and line.timestamp else "") + (f"[{line.pod}] " if merged else "")
        ctx.console.print(prefix + line.line)
    return 0


def cmd_output(ctx: _Context) -> int:
    a = ctx.args
    job = _located(ctx)
    if a.path is None:
        ctx.console.show(ctx.client.outputs(job.name, **_ref(job)))
        return 0
    if job.removed:
        # The listing's refusal says what the history keeps (not output files); reading one
        # file of a past job would only answer "not found".
        ctx.client.outputs(job.name, **_ref(job))
    ctx.console.write_bytes(ctx.client.read_output(job.name, a.path, limit=a.limit, **_ref(job)))
    return 0


def cmd_wait(ctx: _Context) -> int:
    a = ctx.args
    found = _located(ctx)
    try:
        job = ctx.client.wait(found.name, timeout=a.timeout, until=a.until, **_ref(found))
    except TimeoutError as e:
        ctx.console.error(f"error: {e}")
        return 1
    ctx.console.print(f"{job.kind.lower()}/{job.name} {job.phase}")
    return 0


def cmd_suspend(ctx: _Context) -> int:
    job = ctx.client.suspend(ctx.args.name, **ctx.where())
    ctx.console.print(f"{job.kind.lower()}/{job.name} suspended")
    return 0


def cmd_resume(ctx: _Context) -> int:
    job = ctx.client.resume(ctx.args.name, **ctx.where())
    ctx.console.print(f"{job.kind.lower()}/{job.name} resumed")
    return 0


def _each_confirmed(ctx: _Context, question: str, act: Callable[[str], str]) -> int:
    """For each name of the command: ask `question` (unless -y), then print what `act(name)` says.
    An error on one name is said and the others go on; the exit status is 1 when any failed."""
    failed = 0
    for name in ctx.args.names:
        if not ctx.args.yes and not ctx.console.confirm(question.format(name=name)):
            ctx.console.print(f"{name}: kept")
            continue
        try:
            done = act(name)
        except DTrainError as e:
            ctx.console.error(f"error: {e.message}")
            failed += 1
            continue
        ctx.console.print(done)
    return 1 if failed else 0


def cmd_delete(ctx: _Context) -> int:
    def delete(name: str) -> str:
        job = ctx.client.delete(name, **ctx.where())
        return f"{job.kind.lower()}/{job.name} deleted"

    return _each_confirmed(ctx, "delete {name}?", delete)


def cmd_rerun(ctx: _Context) -> int:
    a = ctx.args
    edited = None
    if a.filename is not None:
        edited = _manifest_text(ctx)
        if edited is None:
            return 1
    job = ctx.client.rerun(a.name, new_name=a.new_name, to_backend=a.backend, to_namespace=a.namespace,
                           manifest=edited, dry_run=a.dry_run, backend=a.from_backend, namespace=a.from_namespace)
    suffix = ", dry run" if a.dry_run else ""
    ctx.console.print(f"{job.kind.lower()}/{job.name} created on {job.backend} in {job.namespace} "
                      f"(re-run of {a.name}{suffix})")
    return 0


def cmd_forget(ctx: _Context) -> int:
    def forget(name: str) -> str:
        count = ctx.client.forget(name, **ctx.where())
        return (f"{name} forgotten ({count} record{'' if count == 1 else 's'} and archived logs removed "
                "from the job history)")

    return _each_confirmed(ctx, "forget {name}? its records and archived logs go for good", forget)


def cmd_tensorboard(ctx: _Context) -> int:
    a = ctx.args
    # Each job is found first, so -k, -n and --backend say which one a name means (and a
    # missing one is named before TensorBoard starts).
    jobs = [ctx.client.get(name, kind=a.kind, **ctx.where()) for name in a.names]
    ctx.console.print(ctx.client.open_tensorboard(jobs))
    return 0


# Seconds one metrics request waits for new points while following (the server allows up to 25).
METRICS_WAIT = 20.0
METRIC_COLUMNS = ("REPLICA", "METRIC", "SOURCE", "LAST", "MIN", "MAX", "POINTS")
CSV_HEADER = "replica,metric,source,step,time,value"


def cmd_metrics(ctx: _Context) -> int:
    a = ctx.args
    path = ctx.client.job_path(a.name, kind=a.kind, **ctx.where())
    page = ctx.client.metrics_at(path)
    if a.csv:
        ctx.console.print(CSV_HEADER)
    if not a.follow:
        if a.csv:
            _print_points(ctx, page, csv=True)
        else:
            ctx.console.print(_metrics_table(page))
        return 0
    _print_points(ctx, page, csv=a.csv)
    while not page.finished:
        newer = ctx.client.metrics_at(path, since=page.cursor, wait=METRICS_WAIT)
        if newer.reset:
            ctx.console.error("note: the job's logs were read again from their start (the server restarted); "
                              "the points below replace those before")
        _print_points(ctx, newer, csv=a.csv)
        page = newer
    return 0


def _metrics_table(page: Any) -> str:
    """Last value, min, max and point count of every series, and the job's progress."""
    if not page.series:
        table = "No metrics yet." if not page.finished else "No metrics: the job reported none and its log held none."
    else:
        table = render.text_table(METRIC_COLUMNS, (
            [s.replica, s.name, s.source, _number(s.value[-1]), _number(min(s.value)), _number(max(s.value)),
             len(s.value)] for s in page.series))
    progress = page.progress
    if progress is not None:
        eta = "" if progress.eta_seconds is None else f", about {_duration(progress.eta_seconds)} left"
        table += f"\nprogress: {progress.fraction:.0%}{eta} (reported {progress.updated})"
    return table


def _print_points(ctx: _Context, page: Any, *, csv: bool) -> None:
    for s in page.series:
        for step, when, value in zip(s.step, s.time, s.value):
            if csv:
                ctx.console.print(",".join([_csv_cell(s.replica), _csv_cell(s.name), s.source,
                                            "" if step is None else str(step), repr(when), repr(value)]))
            else:
                where = f"step {step}" if step is not None else f"time {when:.1f}"
                ctx.console.print(f"{s.replica}  {s.name}  {where}  {_number(value)}")


def _number(value: float) -> str:
    return f"{value:.6g}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _csv_cell(text: str) -> str:
    """A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180)."""
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


COMMANDS: dict[str, Callable[[_Context], int]] = {
    "validate": cmd_validate, "create": cmd_create, "run": cmd_run, "run-script": cmd_run_script, "list": cmd_list, "get": cmd_get,
    "pods": cmd_pods, "events": cmd_events, "logs": cmd_logs, "output": cmd_output, "wait": cmd_wait,
    "delete": cmd_delete, "suspend": cmd_suspend, "resume": cmd_resume, "rerun": cmd_rerun, "forget": cmd_forget,
    "metrics": cmd_metrics,
    "tensorboard": cmd_tensorboard,
}


def run(argv: Sequence[str], console: Console | None = None, *, prog: str = "dtrain",
        make_client: Callable[..., Any] | None = None) -> int:
    """Parse and execute one command; returns the exit code, never raises for user input."""
    console = console or Console()
    argv, script_args = list(argv), []
    if argv[:1] == ["run-script"] and "--" in argv:
        # Everything after -- is the script's: argparse would read "--lr" there as an option of ours.
        cut = argv.index("--")
        argv, script_args = argv[:cut], argv[cut + 1:]
    try:
        args = build_parser(prog).parse_args(argv)
    except UsageError as e:
        if e.text:
            (console.print if e.code == 0 else console.error)(e.text.rstrip())
        return e.code
    args.script_args = script_args
    args.prog = prog  # what a printed follow-up command starts with (dtrain, or %dtrain in a notebook)
    ctx = _Context(args, console, make_client)
    try:
        return COMMANDS[args.command](ctx)
    except InvalidJob as e:
        console.error(f"error: {len(e.issues)} problem(s) in the manifest:" if e.issues else f"error: {e.message}")
        for issue in e.issues:
            console.error(f"  {issue}")
        return 1
    except DTrainError as e:
        console.error(f"error: {e.message}")
        return 1
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`dtrain list | head`): stop quietly, as other shell tools do.
        return 141
    except Exception as e:  # a bug, not bad input: say so in one line (DTRAIN_DEBUG=1 re-raises)
        if os.environ.get("DTRAIN_DEBUG"):
            raise
        console.error(f"error: internal error in dtrain ({type(e).__name__}: {e}); "
                      "set DTRAIN_DEBUG=1 to see the traceback")
        return 1


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `dtrain`."""
    code = run(sys.argv[1:] if argv is None else argv)
    if code == 141:
        # Python would report the closed pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)
