"""Child side of execution: runs one snippet cell by cell inside a forked process.

Writes into ``out_dir``: ``result.json`` (outputs per cell, error, dependency manifest),
figure files, ``progress.json`` (the cell running now, read on timeout) and ``log.txt``
(anything written straight to the file descriptors). Never imported by the build process
for execution; the fork server imports it once and forks.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from kbgen.snippets.model import Snippet, parse_snippet

#: Bumped whenever the result layout changes; part of every cache key.
FORMAT_VERSION = 2
SVG_HASHSALT = "kbgen"
#: Text output kept per cell (characters); the rest is counted and reported, not kept.
DEFAULT_OUTPUT_LIMIT = 1_000_000
#: Audit events that change the file system -> how many leading arguments are paths.
_WRITE_EVENTS = {
    "os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "os.rename": 2, "os.link": 2, "os.symlink": 2,
    "os.truncate": 1, "os.chmod": 1, "os.chown": 1, "os.utime": 1, "shutil.rmtree": 1,
    "shutil.copyfile": 2, "shutil.move": 2,
}
_EXCLUDED_PARTS = {".venv", "venv", "site-packages", "dist-packages", "__pycache__", ".git", ".cache"}


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, data: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, path)


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

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
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
                outs = r.outputs
                if outs and outs[-1]["type"] == "stream" and outs[-1]["name"] == self.name:
                    outs[-1]["chunks"].append(s)
                else:
                    outs.append({"type": "stream", "name": self.name, "chunks": [s]})
        return len(s)


class _Runner:
    def __init__(self, snippet: Snippet, out_dir: Path, root: Path, fig_format: str,
                 output_limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.snippet = snippet
        self.out_dir = out_dir
        self.root = root
        self.fig_format = fig_format
        self.outputs: list[dict[str, Any]] = []
        self.cell_id = "cell0"
        self.fig_count: dict[str, int] = {}
        self.opened: set[str] = set()
        self.written: set[str] = set()
        self.path = str(snippet.path.resolve())
        self.output_limit = output_limit
        self.kept = self.dropped = 0  # characters of text output kept / dropped in this cell
        self.overflow_line: int | None = None
        self.spawns: list[dict[str, Any]] = []  # {"line", "cmd"} of every process started
        self._root = os.path.realpath(root)
        self._out = os.path.realpath(out_dir)

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
            self.outputs.append({"type": "image", "file": fname, "format": self.fig_format})

    def _setup_matplotlib(self) -> None:
        try:
            import matplotlib

            matplotlib.use("Agg", force=True)
            import matplotlib.pyplot as plt
        except Exception:  # matplotlib is optional for a snippet
            return
        matplotlib.rcParams["svg.hashsalt"] = SVG_HASHSALT
        plt.show = lambda *a, **k: self.capture_figures()  # type: ignore[assignment]

    # -- dependencies ------------------------------------------------------------------
    def snippet_line(self) -> int | None:
        """The line of the snippet's source being executed now (innermost snippet frame)."""
        f = sys._getframe(1)
        while f is not None:
            if f.f_code.co_filename == self.path:
                return f.f_lineno
            f = f.f_back
        return None

    def _audit(self, event: str, args: tuple) -> None:
        if event in _WRITE_EVENTS:
            for p in args[: _WRITE_EVENTS[event]]:
                self._check_write(p)
            return
        if event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"):
            argv = args[1] if event == "subprocess.Popen" and len(args) > 1 else args[0] if args else ""
            cmd = " ".join(map(str, argv)) if isinstance(argv, (list, tuple)) else str(argv)
            self.spawns.append({"line": self.snippet_line(), "cmd": cmd[:200]})
            return
        if event != "open" or not args:
            return
        p = args[0]
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        if not isinstance(p, str):
            return
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        if isinstance(mode, str):
            writing = any(ch in mode for ch in "wax+")
        else:
            writing = bool(isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR))
        ap = os.path.abspath(p)
        if writing:
            self._check_write(ap)
        (self.written if writing else self.opened).add(ap)

    def _check_write(self, p: Any) -> None:
        """Refuse (PermissionError, raised in the snippet at the offending line) any change to
        the project outside this run's output folder: notes, snippets, the library, the cache
        and other snippets' results are not the snippet's to write. The temp dir is fine."""
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        if not isinstance(p, (str, os.PathLike)):
            return
        real = os.path.realpath(p)
        inside = lambda d: real == d or real.startswith(d + os.sep)  # noqa: E731
        if inside(self._out) or "__pycache__" in real.split(os.sep) or not inside(self._root):
            return
        raise PermissionError(
            f"kbgen: a snippet may write only to the temp dir, not into the project: "
            f"{os.path.relpath(real, self._root)}"
        )

    def _under_root(self, p: str) -> str | None:
        try:
            rel = Path(p).resolve().relative_to(self.root)
        except (ValueError, OSError):
            return None
        if _EXCLUDED_PARTS.intersection(rel.parts):
            return None
        return rel.as_posix()

    def dependencies(self, preloaded: set[str]) -> dict[str, dict[str, str]]:
        modules: dict[str, str] = {}
        for mod in list(sys.modules.values()):
            f = getattr(mod, "__file__", None)
            if not f or f in preloaded or not f.endswith(".py"):
                continue
            rel = self._under_root(f)
            if rel and os.path.abspath(f) != self.path and os.path.isfile(f):
                modules[rel] = sha256_file(f)
        files: dict[str, str] = {}
        out = str(self.out_dir.resolve())
        for p in self.opened - self.written:
            if p.endswith((".pyc", ".py")) or p.startswith(out) or not os.path.isfile(p):
                continue
            rel = self._under_root(p)
            if rel and rel not in modules:
                files[rel] = sha256_file(p)
        return {"modules": dict(sorted(modules.items())), "files": dict(sorted(files.items()))}

    # -- execution ---------------------------------------------------------------------
    def _error(self, exc: BaseException, cell_line: int) -> dict[str, Any]:
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
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        return {
            "ename": type(exc).__name__,
            "evalue": str(exc),
            "line": line,
            "traceback": text,
        }

    def _finish_streams(self, cell_line: int) -> dict[str, int] | None:
        """Join each stream output's chunks; when text was dropped, say so in the output (the
        reader sees it) and return ``{"line", "kept", "dropped"}`` for the report."""
        for o in self.outputs:
            if "chunks" in o:
                o["text"] = "".join(o.pop("chunks"))
        if not self.dropped:
            return None
        note = (f"\n[kbgen: output truncated: {self.dropped:,} more characters not shown; "
                f"the first {self.output_limit:,} are kept]\n")
        streams = [o for o in self.outputs if o["type"] == "stream"]
        if streams:
            streams[-1]["text"] += note
        else:
            self.outputs.append({"type": "stream", "name": "stderr", "text": note})
        return {"line": self.overflow_line or cell_line, "kept": self.kept, "dropped": self.dropped}

    def _where(self, signum: int, frame: Any) -> None:
        """SIGUSR1 (sent just before a timeout kill): record the snippet line running now."""
        line = None
        while frame is not None:
            if frame.f_code.co_filename == self.path:
                line = frame.f_lineno
                break
            frame = frame.f_back
        if line is not None:
            _atomic_write(self.out_dir / "progress.json", json.dumps({"cell": self.cell_id, "line": line, "exact": True}))

    def run(self) -> dict[str, Any]:
        import signal

        signal.signal(signal.SIGUSR1, self._where)
        preloaded = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
        preloaded.discard(None)
        self._setup_matplotlib()
        sys.addaudithook(self._audit)
        g: dict[str, Any] = {"__name__": "__main__", "__file__": self.path, "__builtins__": builtins}
        cells: list[dict[str, Any]] = []
        error = None
        t0 = time.perf_counter()
        real_out, real_err = sys.stdout, sys.stderr
        for cell in self.snippet.code_cells:
            self.outputs = []
            self.kept = self.dropped = 0
            self.overflow_line = None
            self.cell_id = cell.cell_id
            _atomic_write(self.out_dir / "progress.json", json.dumps({"cell": cell.cell_id, "line": cell.line}))
            c0 = time.perf_counter()
            sys.stdout, sys.stderr = _CellStream(self, "stdout"), _CellStream(self, "stderr")
            try:
                # Padding with newlines compiles the cell at its real line numbers in the .py.
                code = compile("\n" * cell.start + cell.exec_source, self.path, "exec")
                exec(code, g)
            except SystemExit as e:
                if e.code not in (None, 0):
                    error = self._error(e, cell.line)
            except BaseException as e:  # noqa: BLE001 - a snippet may raise anything
                error = self._error(e, cell.line)
            finally:
                sys.stdout.flush()
                sys.stdout, sys.stderr = real_out, real_err
            try:
                self.capture_figures()
            except Exception as e:  # noqa: BLE001
                error = error or self._error(e, cell.line)
            truncated = self._finish_streams(cell.line)
            cells.append(
                {
                    "index": cell.index,
                    "id": cell.cell_id,
                    "title": cell.title,
                    "line": cell.line,
                    "seconds": round(time.perf_counter() - c0, 4),
                    "outputs": self.outputs,
                    **({"truncated": truncated} if truncated else {}),
                    **({"error": error} if error else {}),
                }
            )
            if error:
                error["cell"] = cell.cell_id
                break
        seconds = time.perf_counter() - t0
        leftovers = _kill_own_group()
        # Paths inside the project are shown relative to it: the site must not depend on where
        # the repository was checked out.
        prefix = str(self.root) + os.sep
        for c in cells:
            for o in c["outputs"]:
                if o["type"] == "stream":
                    o["text"] = o["text"].replace(prefix, "")
        if error:
            error["traceback"] = error["traceback"].replace(prefix, "")
            error["evalue"] = error["evalue"].replace(prefix, "")
        torch = sys.modules.get("torch")
        return {
            "format": FORMAT_VERSION,
            "status": "failed" if error else "ok",
            "seconds": round(seconds, 4),
            "cells": cells,
            "error": error,
            "deps": self.dependencies(preloaded),
            "env": {"torch_threads": torch.get_num_threads() if torch else None},
            **({"leftovers": {"processes": leftovers, "spawns": self.spawns}} if leftovers else {}),
        }


def _content_checked_bytecode(root: Path) -> None:
    """Validate ``.pyc`` of project modules by content, not mtime: an edit within the same
    second that keeps the file size would otherwise run stale bytecode (and the manifest would
    record a hash of code that did not run)."""
    import importlib.machinery
    import zlib

    loader = importlib.machinery.SourceFileLoader
    orig = loader.path_stats
    prefix = str(root) + os.sep

    def path_stats(self: Any, path: str) -> dict[str, Any]:
        st = orig(self, path)
        if path.startswith(prefix) and not _EXCLUDED_PARTS.intersection(Path(path).parts):
            with open(path, "rb") as f:
                data = f.read()
            st = {"mtime": zlib.crc32(data), "size": len(data)}
        return st

    loader.path_stats = path_stats  # type: ignore[method-assign]


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


def child_main(req: dict[str, Any]) -> int:
    """Entry point inside the forked child. Returns the exit code (0 ok, 1 snippet failed)."""
    os.setsid()  # own process group: a timeout kills the snippet and anything it spawned
    out_dir = Path(req["out"])
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), encoding="utf-8", line_buffering=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), encoding="utf-8", line_buffering=True)
    root = Path(req["root"]).resolve()
    os.chdir(root)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    path = Path(req["snippet"]).resolve()
    sys.argv = [str(path)]
    sys.path.insert(0, str(path.parent))  # as `python snippets/x.py` would
    _content_checked_bytecode(root)
    _seed()
    snippet = parse_snippet(path)
    _limit_memory(req.get("memory_mb"))
    runner = _Runner(snippet, out_dir, root, req.get("fig_format", "svg"), int(req.get("output_limit") or DEFAULT_OUTPUT_LIMIT))
    result = runner.run()
    _atomic_write(out_dir / "result.json", json.dumps(result, ensure_ascii=False, indent=1, sort_keys=True))
    return 0 if result["status"] == "ok" else 1
