"""Child side of execution: runs one snippet cell by cell inside a forked process.

Input: a :class:`~kbgen.snippets.contract.RunRequest` carrying the snippet's exact bytes (the
child never re-reads the file: what runs is what the parent hashed). Output, in the request's
``out`` folder: ``result.json`` (a :class:`~kbgen.snippets.contract.RunResult`), figure files,
``progress.json`` (the cell running now, read on timeout) and ``log.txt`` (anything written
straight to the file descriptors). The fork server imports this module once and forks.

The write guard and the record of dependencies (hashed when first used: a module when its
source is read, a data file when it is opened, a folder when it is listed) live in
:mod:`kbgen.snippets.audit`; the parent checks the dependencies again before caching.
"""

from __future__ import annotations

import builtins
import io
import os
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from kbgen.contracts import EXPORT_NAME, SnippetValue
from kbgen.snippets.audit import ProjectAudit, content_checked_bytecode, snippet_line
from kbgen.snippets.contract import (
    FORMAT_VERSION, PROGRESS_FILE, RESULT_FILE, CellResult, Dependencies, Exit, Leftovers, Output, Progress,
    RunError, RunRequest, RunResult, Truncation, check_value, sha256_bytes,
)
from kbgen.snippets.model import Cell, Snippet, load_snippet

__all__ = ["FORMAT_VERSION", "child_main", "run_request"]

SVG_HASHSALT = "kbgen"
#: Text output kept per cell (characters); the rest is counted and reported, not kept.
DEFAULT_OUTPUT_LIMIT = 1_000_000
def _atomic_write(path: Path, data: str) -> None:
    """Write ``path`` via a temp file + rename. A vanished output folder (``.cache`` removed
    mid-build) is not the snippet's fault: the parent notices the missing result."""
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data.encode("utf-8", "backslashreplace"))
        os.replace(tmp, path)
    except OSError:
        pass


def printable(s: str) -> str:
    """``s`` made encodable as UTF-8: lone surrogates become ``\\udcff`` escapes (as Python's
    ``backslashreplace``), so one odd string cannot lose a whole run's outputs."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


class _CellStream(io.TextIOBase):
    """A text stream that appends to the running cell's outputs (merging consecutive writes).

    Text is kept as a list of chunks (joined when the cell ends: appending to one growing
    string is quadratic) and capped at ``runner.output_limit`` characters per cell; the rest is
    counted, not kept, and the first snippet line that overflowed is recorded for the report."""

    def __init__(self, runner: "_Runner", name: str) -> None:
        self._runner = runner
        self.name = name

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "backslashreplace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
        n = len(s)
        if s:
            r = self._runner
            room = r.output_limit - r.kept
            if room < len(s):
                if r.dropped == 0:
                    r.overflow_line = snippet_line(r.path)
                r.dropped += len(s) - max(room, 0)
                s = s[: max(room, 0)]
            if s:
                r.kept += len(s)
                r.append_text(self.name, s)
        return n


class _Runner:
    def __init__(self, snippet: Snippet, out_dir: Path, root: Path, fig_format: str,
                 output_limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.snippet = snippet
        self.out_dir = out_dir
        self.root = root
        self.fig_format = fig_format
        self.outputs: list[Output] = []
        self._chunks: list[str] = []  # text of outputs[-1] while it is a stream
        self.cell_id = "cell0"
        self.fig_count: dict[str, int] = {}
        self.path = str(snippet.path.resolve())
        self.audit = ProjectAudit(self.path, root, out_dir)
        self.output_limit = output_limit
        self.kept = self.dropped = 0  # characters of text output kept / dropped in this cell
        self.overflow_line: int | None = None
        self.values: dict[str, SnippetValue] = {}

    # -- outputs -----------------------------------------------------------------------
    def append_text(self, name: str, s: str) -> None:
        s = printable(s)
        last = self.outputs[-1] if self.outputs else None
        if last is not None and last.type == "stream" and last.name == name:
            self._chunks.append(s)
        else:
            self._flush_text()
            self.outputs.append(Output("stream", name=name))
            self._chunks = [s]

    def _flush_text(self) -> None:
        if self._chunks and self.outputs and self.outputs[-1].type == "stream":
            self.outputs[-1].text += "".join(self._chunks)
        self._chunks = []

    # -- figures -----------------------------------------------------------------------
    def capture_figures(self) -> None:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return
        for num in plt.get_fignums():
            fig = plt.figure(num)
            k = self.fig_count.get(self.cell_id, 0) + 1
            self.fig_count[self.cell_id] = k
            fname = f"{self.cell_id}-{k}.{self.fig_format}"
            meta = {"Date": None} if self.fig_format == "svg" else {"Software": None}
            fig.savefig(self.out_dir / fname, format=self.fig_format, metadata=meta)
            plt.close(fig)
            self._flush_text()
            self.outputs.append(Output("image", file=fname, format=self.fig_format))

    def _setup_matplotlib(self) -> None:
        try:
            import matplotlib

            matplotlib.use("Agg", force=True)
            import matplotlib.pyplot as plt
        except Exception:  # matplotlib is optional for a snippet
            return
        matplotlib.rcParams["svg.hashsalt"] = SVG_HASHSALT
        plt.show = lambda *a, **k: self.capture_figures()

    # -- values ------------------------------------------------------------------------
    def collect_values(self, g: dict[str, Any], cell: Cell) -> None:
        """Attribute the KB_VALUES keys this cell added or changed to it; refuse values that
        are not JSON scalars (ValueError naming the key, raised at the line that set it)."""
        exported = g.get(EXPORT_NAME)
        if exported is None:
            return
        if not isinstance(exported, dict):
            raise _ValueProblem(cell.line, f"{EXPORT_NAME} must be a dict of JSON scalars, not a {type(exported).__name__}")
        for key, value in exported.items():
            if not isinstance(key, str):
                raise _ValueProblem(cell.line, f"{EXPORT_NAME} keys must be strings, not {key!r}")
            problem = check_value(value)
            if problem is None and isinstance(value, str) and printable(value) != value:
                problem = "the string cannot be encoded as UTF-8 (lone surrogates)"
            if problem is not None:
                raise _ValueProblem(_line_setting(cell, key), f"{EXPORT_NAME}[{key!r}] = {printable(repr(value))[:80]}: "
                                    f"{problem}; export a JSON scalar (int, float, str, bool)")
            prev = self.values.get(key)
            if prev is None or type(prev.value) is not type(value) or prev.value != value:
                self.values[key] = SnippetValue(self.snippet.name, key, value, cell.index, cell.title or "", cell.line)
        for gone in set(self.values) - set(exported):
            del self.values[gone]

    # -- execution ---------------------------------------------------------------------
    def _error(self, exc: BaseException, cell_line: int) -> RunError:
        tb = exc.__traceback__
        # Drop the worker's own frames: the traceback starts at the snippet's first frame.
        while tb is not None and tb.tb_frame.f_code.co_filename != self.path:
            tb = tb.tb_next
        line = cell_line
        t = tb
        while t is not None:
            if t.tb_frame.f_code.co_filename == self.path:
                line = t.tb_lineno
            t = t.tb_next
        if isinstance(exc, SyntaxError) and exc.filename == self.path and exc.lineno:
            line = exc.lineno
        if isinstance(exc, _ValueProblem):
            line = exc.line
            text = f"{exc}\n"
            return RunError("ValueError", printable(str(exc)), line, text)
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        return RunError(type(exc).__name__, printable(str(exc)), line, printable(text))

    def _finish_streams(self, cell_line: int) -> Truncation | None:
        """Join the stream chunks; when text was dropped, say so in the output (the reader sees
        it) and return the truncation for the report."""
        self._flush_text()
        if not self.dropped:
            return None
        note = (f"\n[kbgen: output truncated: {self.dropped:,} more characters not shown; "
                f"the first {self.output_limit:,} are kept]\n")
        streams = [o for o in self.outputs if o.type == "stream"]
        if streams:
            streams[-1].text += note
        else:
            self.outputs.append(Output("stream", name="stderr", text=note))
        return Truncation(self.overflow_line or cell_line, self.kept, self.dropped)

    def _where(self, signum: int, frame: FrameType | None) -> None:
        """SIGUSR1 (sent just before a timeout kill): record the snippet line running now."""
        line = None
        while frame is not None:
            if frame.f_code.co_filename == self.path:
                line = frame.f_lineno
                break
            frame = frame.f_back
        if line is not None:
            _atomic_write(self.out_dir / PROGRESS_FILE, Progress(self.cell_id, line, True).dumps())

    def run(self) -> RunResult:
        import signal

        signal.signal(signal.SIGUSR1, self._where)
        preloaded = {f for m in list(sys.modules.values()) if isinstance(f := getattr(m, "__file__", None), str)}
        self._setup_matplotlib()
        self.audit.install()
        g: dict[str, Any] = {"__name__": "__main__", "__file__": self.path, "__builtins__": builtins}
        cells: list[CellResult] = []
        error: RunError | None = None
        stopped: Exit | None = None
        t0 = time.perf_counter()
        real_out, real_err = sys.stdout, sys.stderr
        self.audit.recording = True
        for cell in self.snippet.code_cells:
            self.outputs, self._chunks = [], []
            self.kept = self.dropped = 0
            self.overflow_line = None
            self.cell_id = cell.cell_id
            _atomic_write(self.out_dir / PROGRESS_FILE, Progress(cell.cell_id, cell.line).dumps())
            c0 = time.perf_counter()
            sys.stdout, sys.stderr = _CellStream(self, "stdout"), _CellStream(self, "stderr")
            try:
                # Padding with newlines compiles the cell at its real line numbers in the .py.
                code = compile("\n" * cell.start + cell.exec_source, self.path, "exec")
                exec(code, g)
            except SystemExit as e:  # as `python x.py`: the snippet ends here
                if e.code is None or e.code == 0:
                    stopped = Exit(cell.cell_id, self.exit_line(e, cell.line), e.code)
                else:
                    error = self._error(e, cell.line)
            except BaseException as e:  # noqa: BLE001 - a snippet may raise anything
                error = self._error(e, cell.line)
            finally:
                try:
                    sys.stdout.flush()
                except Exception:  # noqa: BLE001 - a snippet may have replaced sys.stdout
                    pass
                sys.stdout, sys.stderr = real_out, real_err
            try:
                self.capture_figures()
            except Exception as e:  # noqa: BLE001
                error = error or self._error(e, cell.line)
            if error is None:
                try:
                    self.collect_values(g, cell)
                except _ValueProblem as e:
                    error = self._error(e, cell.line)
            truncated = self._finish_streams(cell.line)
            if error:
                error.cell = cell.cell_id
            cells.append(CellResult(cell.index, cell.cell_id, cell.title, cell.line,
                                    round(time.perf_counter() - c0, 4), self.outputs, truncated, error, stopped))
            if error or stopped:
                break
        self.audit.recording = False
        seconds = time.perf_counter() - t0
        leftovers = _kill_own_group()
        # Paths inside the project are shown relative to it: the site must not depend on where
        # the repository was checked out.
        prefix = str(self.root) + os.sep
        for c in cells:
            for o in c.outputs:
                if o.type == "stream":
                    o.text = o.text.replace(prefix, "")
        if error:
            error.traceback = error.traceback.replace(prefix, "")
            error.evalue = error.evalue.replace(prefix, "")
        torch = sys.modules.get("torch")
        return RunResult(
            status="failed" if error else "ok",
            seconds=round(seconds, 4),
            cells=cells,
            deps=self.audit.dependencies(preloaded),
            values={} if error else dict(self.values),
            error=error,
            exit=stopped,
            source_sha256=sha256_bytes(self.snippet.source),
            torch_threads=torch.get_num_threads() if torch else None,
            leftovers=Leftovers(leftovers, self.audit.spawns) if leftovers else None,
        )

    def exit_line(self, e: BaseException, default: int) -> int:
        line = default
        t = e.__traceback__
        while t is not None:
            if t.tb_frame.f_code.co_filename == self.path:
                line = t.tb_lineno
            t = t.tb_next
        return line


class _ValueProblem(Exception):
    """A KB_VALUES export that cannot be recorded; ``line`` is where it was set."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _line_setting(cell: Cell, key: str) -> int:
    """The last line of ``cell`` that mentions ``KB_VALUES`` and ``key`` (else the cell's line)."""
    found = cell.line
    for i, text in enumerate(cell.exec_source.splitlines()):
        if EXPORT_NAME in text and key in text:
            found = cell.start + i + 1
    return found


def _kill_own_group() -> list[str]:
    """Kill every process still in this snippet's process group (children it started and did
    not wait for, and their children); returns their command lines (for the report)."""
    import signal

    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != me or fields[0] == "Z":  # fields: state, ppid, pgrp, ...
                continue
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            os.kill(int(entry), signal.SIGKILL)
            found.append(cmd[:200])
        except (OSError, ValueError, IndexError):
            continue
    return sorted(found)


def _limit_memory(mb: int | None) -> None:
    """Cap the snippet's address space (RLIMIT_AS): a runaway allocation raises MemoryError at
    its line instead of taking the machine down. ``None``/0: no limit."""
    if not mb:
        return
    import resource

    limit = int(mb) << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _seed() -> None:
    import random

    random.seed(0)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(0)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)


def _failure(snippet: Snippet, line: int, ename: str, message: str) -> RunResult:
    err = RunError(ename, message, line, f"{ename}: {message}\n")
    return RunResult("failed", 0.0, [], Dependencies(), error=err, source_sha256=sha256_bytes(snippet.source))


def run_request(req: RunRequest) -> RunResult:
    """Run one snippet in *this* process (a fresh child: it changes the cwd, sys.path, stdio,
    audit hooks) and write ``result.json`` into ``req.out``. Used by the fork server's child and
    by any other executor (e.g. a Dask worker process)."""
    os.setsid()  # own process group: a timeout kills the snippet and anything it spawned
    out_dir = Path(req.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), encoding="utf-8", errors="backslashreplace",
                                  line_buffering=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), encoding="utf-8", errors="backslashreplace",
                                  line_buffering=True)
    root = Path(req.root).resolve()
    os.chdir(root)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    path = Path(req.snippet).resolve()
    sys.argv = [str(path)]
    sys.path.insert(0, str(path.parent))  # as `python snippets/x.py` would
    content_checked_bytecode(root)
    _seed()
    snippet = load_snippet(path, req.source)  # the bytes the parent hashed, never re-read
    if snippet.problem is not None:
        line, _, message = snippet.problem.partition(": SyntaxError: ")
        result = _failure(snippet, int(line), "SyntaxError", message)
    else:
        _limit_memory(req.memory_mb)
        runner = _Runner(snippet, out_dir, root, req.fig_format, int(req.output_limit or DEFAULT_OUTPUT_LIMIT))
        try:
            result = runner.run()
        except Exception as e:  # noqa: BLE001 - an engine fault is reported at the snippet, not as a crash
            prog = Progress.read(out_dir)
            where = prog.line if prog else 1
            result = _failure(snippet, where, "RuntimeError",
                              printable(f"kbgen could not record the run: {type(e).__name__}: {e}").replace(
                                  str(root) + os.sep, ""))
    _atomic_write(out_dir / RESULT_FILE, result.dumps())
    return result


def child_main(req: RunRequest) -> int:
    """Entry point inside the forked child. Returns the exit code (0 ok, 1 snippet failed)."""
    return 0 if run_request(req).ok else 1

