"""Cached, parallel, isolated execution of snippets: the cache decides what runs, a fork
server runs the rest (one child per snippet, up to ``jobs`` at once)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from kbgen.snippets.cache import Cache, CacheRemovedError, HashMemo, current_hashes
from kbgen.snippets.contract import LOG_FILE, Outcome, Progress, RunRequest, RunResult, cache_key
from kbgen.snippets.forkserver import DEFAULT_PRELOAD, ForkServer
from kbgen.snippets.model import Snippet

log = logging.getLogger("mkdocs.plugins.kbgen.snippets")

#: Called with a successful run's snippet, result and folder before it is committed: whatever
#: it writes into the folder is cached with the entry (the engine writes the executed notebook).
Finalize = Callable[[Snippet, RunResult, Path], None]


class RunJob(Protocol):
    """A submitted run; ``exit`` is the child's exit code once known (negative: a signal)."""

    exit: int | None


Job = TypeVar("Job", bound=RunJob)


class RunBackend(Protocol[Job]):
    """Where runs happen. The child writes ``result.json`` (and figures) into ``request.out``
    (see ``kbgen.snippets.worker.run_request``); the executor reads them back. The local
    backend is the fork server; another (e.g. a Dask cluster) implements the same four calls."""

    def start(self) -> None: ...

    def submit(self, request: RunRequest) -> Job: ...

    def wait(self, job: Job, timeout: float) -> bool:
        """Wait up to ``timeout`` s; on expiry kill the run. True when it finished."""
        ...

    def close(self) -> None: ...


#: Makes the backend of one build: (project root, threads per snippet, modules to preload).
BackendFactory = Callable[[Path, int, tuple[str, ...]], "RunBackend[Any]"]


def fork_server_backend(root: Path, threads: int, preload: tuple[str, ...]) -> ForkServer:
    return ForkServer(root, threads=threads, preload=preload)


def default_memory_mb(jobs: int) -> int:
    """Address-space cap per snippet when none is configured: the machine's memory shared by
    the snippets that run at once, at least 2 GiB (a runaway snippet fails, the machine lives)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20
    except (ValueError, OSError):
        return 8192
    return max(2048, total // max(1, jobs))


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def discover(snippets_dir: Path) -> list[Path]:
    """``snippets/*.py`` except private helpers (``_x.py``)."""
    if not snippets_dir.is_dir():
        return []
    return sorted(p for p in snippets_dir.glob("*.py") if not p.name.startswith("_"))


@dataclass(frozen=True)
class RunEnd:
    """How a snippet's process ended, wherever it ran (this machine or a cluster worker)."""

    finished: bool  # False: killed at its time limit
    seconds: float  # wall time of the run, s
    limit: float  # the time limit applied, s (declared x load factor)
    declared: float  # the snippet's own timeout, s
    load_factor: float
    exit: int | None  # the process's exit status (negative: signal)


class RunConclusion:
    """Turns a finished run into an :class:`Outcome`, with the same messages and the same cache
    rules whichever executor ran it (the site must not depend on where a snippet ran).
    Needs ``root``, ``cache``, ``finalize`` and ``rel()`` from the executor."""

    root: Path
    cache: Cache
    finalize: Callable[[Snippet, RunResult, Path], None] | None

    def rel(self, p: Path) -> str:
        raise NotImplementedError

    fig_format: str

    def key(self, s: Snippet) -> str:
        """The cache key of ``s``: of the exact bytes that will run (see ``contract.cache_key``)."""
        return cache_key(s.source, self.fig_format)

    def run(self, snippets: list[Snippet], force: bool = False) -> dict[str, Outcome]:
        """Serve what the cache holds; run the rest (longest first) through ``_execute_all``."""
        hashes = HashMemo(self.root)
        outcomes: dict[str, Outcome] = {}
        todo: list[tuple[Snippet, str, str]] = []
        with self.cache.locked(log.info):
            for s in snippets:
                t0 = time.perf_counter()
                key = self.key(s)
                entry, reason = (None, "forced") if force else self.cache.lookup(key, hashes, s.name)
                if entry is not None:
                    outcomes[s.name] = Outcome(
                        s, "cached", time.perf_counter() - t0, entry.result, entry.dir, run_seconds=entry.result.seconds
                    )
                else:
                    todo.append((s, key, reason))
            if todo:
                timings = self.cache.read_state("timings.json")
                todo.sort(key=lambda t: -float(timings.get(t[0].name, 1e9)))  # longest first
                for o in self._execute_all(todo):
                    outcomes[o.snippet.name] = o
                timings.update({o.snippet.name: o.seconds for o in outcomes.values() if o.status != "cached"})
                self.cache.write_state("timings.json", timings)
        for o in outcomes.values():
            if o.dir is not None and not o.dir.is_dir():  # figures gone with the cache folder
                raise self.cache.removed_error()
        return {s.name: outcomes[s.name] for s in snippets}

    def _execute_all(self, todo: list[tuple[Snippet, str, str]]) -> Iterator[Outcome]:
        """Run ``(snippet, key, reason)`` (stale, longest first) and yield their outcomes."""
        raise NotImplementedError


    def _conclude(self, s: Snippet, key: str, reason: str, out: Path, end: RunEnd,
                  result: RunResult | None) -> Outcome:
        rel = self.rel(s.path)
        if not end.finished:
            prog = Progress.read(out)
            where = f"{rel}:{prog.line if prog else '?'}"
            cell = f" in cell '{prog.cell}'" if prog else ""
            stretched = f", stretched x{end.load_factor:.1f} for machine load" if end.load_factor > 1 else ""
            msg = (
                f"{where}: timed out after {end.limit:.0f} s{cell} (limit {end.declared:g} s{stretched}; raise it with "
                f"`# kbgen: timeout=N` in the first 5 lines)\n"
            )
            return Outcome(s, "timeout", end.seconds, None, out, message=msg, reason=reason, run_seconds=end.seconds)
        if result is None:
            tail = (out / LOG_FILE).read_text(errors="replace")[-3000:] if (out / LOG_FILE).exists() else ""
            tail = tail.replace(str(self.root) + os.sep, "")
            prog = Progress.read(out)
            msg = f"{rel}:{prog.line if prog else 1}: the snippet process died (exit {end.exit})\n{tail}"
            return Outcome(s, "failed", end.seconds, None, out, message=msg, reason=reason, run_seconds=end.seconds)
        if not result.ok:
            assert result.error is not None
            err = result.error
            cell = f" (cell '{err.cell}')" if err.cell else ""
            msg = f"{rel}:{err.line}: {err.ename}: {err.evalue}{cell}\n{err.traceback}"
            return Outcome(s, "failed", end.seconds, result, out, message=msg, reason=reason,
                           run_seconds=result.seconds)
        if self.finalize is not None:
            self.finalize(s, result, out)
        changed = self._changed_during_run(s, result)
        if changed:
            # What ran is consistent (the bytes keyed, the dependencies as first read), but the
            # disk no longer matches: show it, cache nothing; the next build runs it again.
            log.info("kbgen: %s: %s changed while the snippet ran; its output is shown but not cached",
                     rel, ", ".join(changed)[:200])
            return Outcome(s, "executed", end.seconds, result, out,
                           reason=f"{reason}; not cached: changed during the run", run_seconds=result.seconds)
        entry = self.cache.commit(key, out, result)
        return Outcome(s, "executed", end.seconds, result, entry.dir, reason=reason, run_seconds=result.seconds)

    def _changed_during_run(self, s: Snippet, result: RunResult) -> list[str]:
        """Paths whose bytes on disk differ now from what the run used: the snippet itself, any
        module or data file, any folder listing. Empty when the result is valid for the disk."""
        changed = current_hashes(self.root, result.deps)
        try:
            now = s.path.read_bytes()
        except OSError:
            now = b""
        if now != s.source:
            changed.insert(0, self.rel(s.path))
        return changed


class Executor(RunConclusion):
    """Runs snippets through the cache: a valid entry is reused, anything else runs in a
    forked child (up to ``jobs`` at once) and is committed only on success."""

    def __init__(
        self, root: Path, cache: Cache, jobs: int, timeout: float, fig_format: str = "svg",
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        load_scaling: bool = True,
        memory_limit_mb: int | None = None,
        output_limit: int | None = None,
        finalize: Finalize | None = None,
        backend: BackendFactory = fork_server_backend,
    ) -> None:
        self.root = root
        self.memory_limit_mb = memory_limit_mb
        self.output_limit = output_limit
        self.finalize = finalize
        self.backend = backend
        self.preload = preload
        self.load_scaling = load_scaling
        self.load_factor = 1.0
        self.cache = cache
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.fig_format = fig_format
        self._server: RunBackend[Any] | None = None

    def rel(self, p: Path) -> str:
        try:
            return p.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def _execute_all(self, todo: list[tuple[Snippet, str, str]]) -> Iterator[Outcome]:
        """Run the stale snippets on this machine: a fork server, one thread per parallel job."""
        workers = min(self.jobs, len(todo))
        self.load_factor = self._load_factor()
        self._server = self.backend(self.root, max(1, available_cores() // workers), self.preload)
        try:
            self._server.start()  # paid once: preloads torch/numpy/matplotlib
            with ThreadPoolExecutor(workers) as pool:
                yield from pool.map(lambda t: self._execute_contained(*t), todo)
        finally:
            self._server.close()
            self._server = None

    def _load_factor(self) -> float:
        """Timeouts are wall-clock; on a machine already oversubscribed by other work (load
        average above the core count) they stretch by up to 4x so a busy CI box does not fail
        builds that an idle one passes. A hung snippet is still killed."""
        if not self.load_scaling:
            return 1.0
        try:
            return min(4.0, max(1.0, os.getloadavg()[0] / available_cores()))
        except OSError:
            return 1.0

    def _execute_contained(self, s: Snippet, key: str, reason: str) -> Outcome:
        """``_execute``, with any fault of kbgen's own reported at the snippet (``file:line:
        message``, project-relative paths) instead of a traceback that ends the build. A cache
        folder removed mid-build still ends it, with its one message."""
        try:
            return self._execute(s, key, reason)
        except CacheRemovedError:
            raise
        except Exception as e:  # noqa: BLE001 - contained: the other snippets go on
            if not self.cache.present():
                raise self.cache.removed_error() from e
            text = f"{type(e).__name__}: {e}".replace(str(self.root) + os.sep, "")
            msg = f"{self.rel(s.path)}:1: kbgen could not run or record this snippet ({text})\n"
            log.debug("kbgen: internal fault running %s", s.name, exc_info=True)
            return Outcome(s, "failed", 0.0, None, None, message=msg, reason=reason)

    def _execute(self, s: Snippet, key: str, reason: str) -> Outcome:
        assert self._server is not None
        try:
            out = self.cache.new_tmp()
        except FileNotFoundError as e:
            raise self.cache.removed_error() from e
        declared = s.timeout(self.timeout)
        limit = declared * self.load_factor
        t0 = time.perf_counter()
        request = RunRequest(str(s.path), s.source, str(out), str(self.root), self.fig_format,
                             self.memory_limit_mb, self.output_limit)
        job = self._server.submit(request)
        finished = self._server.wait(job, limit)
        seconds = time.perf_counter() - t0
        result = RunResult.read(out, s.name)
        if result is None and finished and (not out.is_dir() or not self.cache.present()):
            raise self.cache.removed_error()
        end = RunEnd(finished, seconds, limit, declared, self.load_factor, job.exit)
        return self._conclude(s, key, reason, out, end, result)
