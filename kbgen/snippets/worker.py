"""Child side of execution: runs one snippet cell by cell inside a forked process.

Input: a :class:`~kbgen.snippets.contract.RunRequest` carrying the snippet's exact bytes (the
child never re-reads the file: what runs is what the parent hashed). Output, in the request's
``out`` folder: ``result.json`` (a :class:`~kbgen.snippets.contract.RunResult`), figure files,
``progress.json`` (the cell running now, read on timeout) and ``log.txt`` (anything written
straight to the file descriptors). The fork server imports this module once and forks.

Dependencies are hashed when first used (a module when its source is read, a data file when it
is opened, a folder when it is listed); the parent checks them again before caching.
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
from typing import Any, Callable

from kbgen.contracts import EXPORT_NAME, SnippetValue
from kbgen.snippets.contract import (
    FORMAT_VERSION, PROGRESS_FILE, RESULT_FILE, CellResult, Dependencies, Exit, Leftovers, Output, Progress,
    RunError, RunRequest, RunResult, Spawn, Truncation, check_value, listing_hash, sha256_bytes, sha256_file,
)
from kbgen.snippets.model import Cell, Snippet, load_snippet

__all__ = ["FORMAT_VERSION", "child_main", "run_request"]

SVG_HASHSALT = "kbgen"
#: Text output kept per cell (characters); the rest is counted and reported, not kept.
DEFAULT_OUTPUT_LIMIT = 1_000_000
#: Audit events that change the file system -> (path argument, its dir_fd argument or None).
_WRITE_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)), "os.link": ((0, 2), (1, 3)), "os.symlink": ((1, 2),),
    "os.truncate": ((0, None),), "os.chmod": ((0, 2),), "os.chown": ((0, 3),), "os.utime": ((0, 3),),
    "os.mkfifo": ((0, 2),), "os.mknod": ((0, 3),), "os.chflags": ((0, None),), "os.lchflags": ((0, None),),
    "os.setxattr": ((0, None),), "os.removexattr": ((0, None),),
    "shutil.rmtree": ((0, 1),), "shutil.copyfile": ((1, None),), "shutil.copymode": ((1, None),),
    "shutil.copystat": ((1, None),), "shutil.move": ((0, None), (1, None)), "shutil.chown": ((0, None),),
}
#: ``os.open`` flags that change a file (O_RDONLY | O_TRUNC empties it, too).
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_LIST_EVENTS = ("os.listdir", "os.scandir")
#: Stdlib files whose folder listings serve imports and distribution lookups over sys.path.
_IMPORT_FILES = tuple(os.sep + p for p in (
    os.path.join("importlib", "metadata", "__init__.py"), os.path.join("importlib", "_bootstrap_external.py"),
    "zipimport.py",
))
_EXCLUDED_PARTS = {".venv", "venv", "site-packages", "dist-packages", "__pycache__", ".git", ".cache"}

#: sha256 of each project source file as read by the import system (path -> digest), filled by
#: the content-checked bytecode hook: the module's dependency hash is that of the bytes it ran.
_MODULE_SOURCE_SHA: dict[str, str] = {}


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


def _fd_path(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


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
                    r.overflow_line = r.snippet_line()
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
        self.read_hashes: dict[str, str] = {}  # absolute path -> sha256 when first opened for reading
        self.listings: dict[str, str] = {}  # absolute folder -> listing hash when first listed
        self.written: set[str] = set()
        self.path = str(snippet.path.resolve())
        self.output_limit = output_limit
        self.kept = self.dropped = 0  # characters of text output kept / dropped in this cell
        self.overflow_line: int | None = None
        self.spawns: list[Spawn] = []  # every process started
        self.values: dict[str, SnippetValue] = {}
        self.recording = False  # dependencies are recorded only while the snippet's cells run
        self._busy = False  # the hook is hashing (its own opens are not the snippet's)
        self._os_open_checked = False  # the guarded os.open already checked this open
        self._root = os.path.realpath(root)
        self._out = os.path.realpath(out_dir)

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

    # -- audit: write guard and dependencies ---------------------------------------------
    def snippet_line(self) -> int | None:
        """The line of the snippet's source being executed now (innermost snippet frame)."""
        f: FrameType | None = sys._getframe(1)
        while f is not None:
            if f.f_code.co_filename == self.path:
                return f.f_lineno
            f = f.f_back
        return None

    def _abs(self, p: Any, dir_fd: Any = None) -> str | None:
        """Absolute path of an audit argument (str, bytes, PathLike or fd), resolving a relative
        path against ``dir_fd`` when given, else the current directory (as the call does)."""
        if isinstance(p, int) and not isinstance(p, bool):
            return _fd_path(p)
        if isinstance(p, os.PathLike):
            p = os.fspath(p)
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        if not isinstance(p, str):
            return None
        if not os.path.isabs(p) and isinstance(dir_fd, int) and dir_fd >= 0:
            base = _fd_path(dir_fd)
            if base is None:
                return None
            p = os.path.join(base, p)
        return os.path.abspath(p)

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if self._busy:
            return
        if event in _WRITE_EVENTS:
            for i, fd_i in _WRITE_EVENTS[event]:
                if i < len(args):
                    dir_fd = args[fd_i] if fd_i is not None and fd_i < len(args) else None
                    self._check_write(self._abs(args[i], dir_fd))
            return
        if event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"):
            argv = args[1] if event == "subprocess.Popen" and len(args) > 1 else args[0] if args else ""
            cmd = " ".join(map(str, argv)) if isinstance(argv, (list, tuple)) else str(argv)
            self.spawns.append(Spawn(self.snippet_line(), cmd[:200]))
            return
        if event in _LIST_EVENTS:
            if self.recording:
                self._record_listing(args[0] if args else None)
            return
        if event != "open" or not args:
            return
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        if isinstance(mode, str):
            writing = any(ch in mode for ch in "wax+")
        else:
            writing = bool(isinstance(flags, int) and flags & _WRITE_FLAGS)
            if self._os_open_checked:  # os.open with dir_fd: checked with the right base folder
                self._os_open_checked = False
                return
        ap = self._abs(args[0])
        if ap is None:
            return
        if writing:
            self._check_write(ap)
            self.written.add(ap)
        elif self.recording and ap not in self.read_hashes and not ap.endswith((".py", ".pyc")):
            self._record_read(ap)

    def _record_read(self, ap: str) -> None:
        if self._under_root(ap) is None or not os.path.isfile(ap):
            return
        self._busy = True
        try:
            self.read_hashes[ap] = sha256_file(ap)
        except OSError:
            pass
        finally:
            self._busy = False

    def _record_listing(self, p: Any) -> None:
        if p is None:
            p = "."
        ap = self._abs(p)
        if ap is None or ap in self.listings or self._from_import_system():
            return
        if self._under_root(ap) is None or not os.path.isdir(ap):
            return
        self._busy = True
        try:
            self.listings[ap] = listing_hash(os.listdir(ap))
        except OSError:
            pass
        finally:
            self._busy = False

    @staticmethod
    def _from_import_system() -> bool:
        """The import machinery (finders, ``importlib.metadata``) lists sys.path folders to find
        modules and distributions: not a listing the snippet's output depends on (its imports
        are recorded as modules). An explicit ``pkgutil.iter_modules([folder])`` does count."""
        f: FrameType | None = sys._getframe(2)
        while f is not None:
            name = f.f_code.co_filename
            if name.startswith(("<frozen importlib", "<frozen zipimport")) or name.endswith(_IMPORT_FILES):
                return True
            f = f.f_back
        return False

    def guarded_os_open(self, original: Callable[..., int]) -> Callable[..., int]:
        """``os.open`` whose ``dir_fd=`` form is checked against the folder it names (the audit
        event of ``os.open`` does not carry ``dir_fd``)."""
        runner = self

        def open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
            if dir_fd is not None and not runner._busy:
                ap = runner._abs(path, dir_fd)
                if flags & _WRITE_FLAGS:
                    runner._check_write(ap)
                runner._os_open_checked = True
            try:
                return original(path, flags, mode, dir_fd=dir_fd)
            finally:
                runner._os_open_checked = False

        return open

    def _check_write(self, p: str | None) -> None:
        """Refuse (PermissionError, raised in the snippet at the offending line) any change to
        the project outside this run's output folder: notes, snippets, the library, the cache
        and other snippets' results are not the snippet's to write. The temp dir is fine."""
        if p is None:
            return
        real = os.path.realpath(p)

        def inside(d: str) -> bool:
            return real == d or real.startswith(d + os.sep)

        if inside(self._out) or "__pycache__" in real.split(os.sep) or not inside(self._root):
            return
        raise PermissionError(
            f"kbgen: a snippet may not change the project's files: {os.path.relpath(real, self._root)} "
            f"(write to a temporary folder, e.g. tempfile.mkdtemp(), instead)"
        )

    def _under_root(self, p: str) -> str | None:
        real = os.path.realpath(p)
        if real == self._root:
            return "."
        if not real.startswith(self._root + os.sep) or real.startswith(self._out + os.sep) or real == self._out:
            return None
        rel = os.path.relpath(real, self._root)
        if _EXCLUDED_PARTS.intersection(Path(rel).parts):
            return None
        return Path(rel).as_posix()

    def dependencies(self, preloaded: set[str]) -> Dependencies:
        modules: dict[str, str] = {}
        for mod in list(sys.modules.values()):
            f = getattr(mod, "__file__", None)
            if not isinstance(f, str) or f in preloaded or not f.endswith(".py"):
                continue
            rel = self._under_root(f)
            if rel and os.path.abspath(f) != self.path and os.path.isfile(f):
                digest = _MODULE_SOURCE_SHA.get(os.path.abspath(f))
                modules[rel] = digest if digest is not None else sha256_file(f)
        files: dict[str, str] = {}
        for p, digest in self.read_hashes.items():
            if p in self.written:
                continue
            rel = self._under_root(p)
            if rel and rel not in modules and rel != ".":
                files[rel] = digest
        listings: dict[str, str] = {}
        for p, digest in self.listings.items():
            rel = self._under_root(p)
            if rel:
                listings[rel] = digest
        return Dependencies(modules, files, listings)

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
        sys.addaudithook(self._audit)
        import posix

        os.open = posix.open = self.guarded_os_open(posix.open)
        g: dict[str, Any] = {"__name__": "__main__", "__file__": self.path, "__builtins__": builtins}
        cells: list[CellResult] = []
        error: RunError | None = None
        stopped: Exit | None = None
        t0 = time.perf_counter()
        real_out, real_err = sys.stdout, sys.stderr
        self.recording = True
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
        self.recording = False
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
            deps=self.dependencies(preloaded),
            values={} if error else dict(self.values),
            error=error,
            exit=stopped,
            source_sha256=sha256_bytes(self.snippet.source),
            torch_threads=torch.get_num_threads() if torch else None,
            leftovers=Leftovers(leftovers, self.spawns) if leftovers else None,
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


def _content_checked_bytecode(root: Path) -> None:
    """Validate ``.pyc`` of project modules by content, not mtime (an edit within the same
    second that keeps the file size would otherwise run stale bytecode), and remember the
    sha256 of the source bytes each project module was checked against."""
    import importlib.machinery
    import zlib

    loader = importlib.machinery.SourceFileLoader
    orig_stats = loader.path_stats
    orig_data = loader.get_data
    prefix = str(root) + os.sep

    def ours(path: str) -> bool:
        return path.startswith(prefix) and not _EXCLUDED_PARTS.intersection(Path(path).parts)

    def path_stats(self: Any, path: str) -> Any:
        st = orig_stats(self, path)
        if ours(path):
            with open(path, "rb") as f:
                data = f.read()
            _MODULE_SOURCE_SHA.setdefault(os.path.abspath(path), sha256_bytes(data))
            st = {"mtime": zlib.crc32(data), "size": len(data)}
        return st

    def get_data(self: Any, path: str) -> bytes:
        data: bytes = orig_data(self, path)
        if path.endswith(".py") and ours(path):
            _MODULE_SOURCE_SHA.setdefault(os.path.abspath(path), sha256_bytes(data))
        return data

    loader.path_stats = path_stats  # type: ignore[method-assign]
    loader.get_data = get_data  # type: ignore[method-assign]


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
    _content_checked_bytecode(root)
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

