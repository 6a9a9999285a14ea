"""Cached, parallel, isolated execution of snippets: the cache decides what runs, a fork
server runs the rest (one child per snippet, up to ``jobs`` at once)."""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kbgen.snippets import render
from kbgen.snippets.cache import Cache, HashMemo, cache_key
from kbgen.snippets.forkserver import DEFAULT_PRELOAD, ForkServer
from kbgen.snippets.model import Snippet
from kbgen.snippets.render import Outcome

log = logging.getLogger("mkdocs.plugins.kbgen.snippets")

NOTEBOOK = "notebook.ipynb"  # the executed notebook inside a cache entry


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


class Executor:
    """Runs snippets through the cache: a valid entry is reused, anything else runs in a
    forked child (up to ``jobs`` at once) and is committed only on success."""

    def __init__(
        self, root: Path, cache: Cache, jobs: int, timeout: float, fig_format: str = "svg",
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        load_scaling: bool = True,
        memory_limit_mb: int | None = None,
        output_limit: int | None = None,
    ) -> None:
        self.root = root
        self.limits = {"memory_mb": memory_limit_mb, "output_limit": output_limit}
        self.preload = preload
        self.load_scaling = load_scaling
        self.load_factor = 1.0
        self.cache = cache
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.fig_format = fig_format
        self._server: ForkServer | None = None

    def rel(self, p: Path) -> str:
        try:
            return p.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def run(self, snippets: list[Snippet], force: bool = False) -> dict[str, Outcome]:
        hashes = HashMemo(self.root)
        outcomes: dict[str, Outcome] = {}
        todo: list[tuple[Snippet, str, str]] = []
        with self.cache.locked(log.info):
            for s in snippets:
                t0 = time.perf_counter()
                key = cache_key(s.text.encode("utf-8"), self.fig_format)
                entry, reason = (None, "forced") if force else self.cache.lookup(key, hashes)
                if entry is not None:
                    outcomes[s.name] = Outcome(
                        s, "cached", time.perf_counter() - t0, entry.result, entry.dir, run_seconds=entry.result["seconds"]
                    )
                else:
                    todo.append((s, key, reason))
            if todo:
                timings = self.cache.read_state("timings.json")
                todo.sort(key=lambda t: -float(timings.get(t[0].name, 1e9)))  # longest first
                workers = min(self.jobs, len(todo))
                self.load_factor = self._load_factor()
                self._server = ForkServer(self.root, threads=max(1, available_cores() // workers), preload=self.preload)
                try:
                    self._server.start()  # paid once: preloads torch/numpy/matplotlib
                    with ThreadPoolExecutor(workers) as pool:
                        for o in pool.map(lambda t: self._execute(*t), todo):
                            outcomes[o.snippet.name] = o
                finally:
                    self._server.close()
                    self._server = None
                timings.update({o.snippet.name: o.seconds for o in outcomes.values() if o.status != "cached"})
                self.cache.write_state("timings.json", timings)
        return {s.name: outcomes[s.name] for s in snippets}

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

    def _execute(self, s: Snippet, key: str, reason: str) -> Outcome:
        assert self._server is not None
        out = self.cache.new_tmp()
        declared = s.timeout(self.timeout)
        limit = declared * self.load_factor
        t0 = time.perf_counter()
        job = self._server.submit(s.path, out, self.fig_format, **self.limits)
        finished = self._server.wait(job, limit)
        seconds = time.perf_counter() - t0
        result = _read_json(out / "result.json")
        rel = self.rel(s.path)
        if not finished:
            prog = _read_json(out / "progress.json") or {}
            where = f"{rel}:{prog.get('line', '?')}"
            cell = f" in cell '{prog['cell']}'" if prog.get("cell") else ""
            stretched = f", stretched x{self.load_factor:.1f} for machine load" if self.load_factor > 1 else ""
            msg = (
                f"{where}: timed out after {limit:.0f} s{cell} (limit {declared:g} s{stretched}; raise it with "
                f"`# kbgen: timeout=N` in the first 5 lines)\n"
            )
            return Outcome(s, "timeout", seconds, None, out, message=msg, reason=reason, run_seconds=seconds)
        if result is None:
            tail = (out / "log.txt").read_text(errors="replace")[-3000:] if (out / "log.txt").exists() else ""
            prog = _read_json(out / "progress.json") or {}
            msg = f"{rel}:{prog.get('line', '?')}: the snippet process died (exit {job.exit})\n{tail}"
            return Outcome(s, "failed", seconds, None, out, message=msg, reason=reason, run_seconds=seconds)
        if result["status"] != "ok":
            err = result["error"]
            msg = f"{rel}:{err['line']}: {err['ename']}: {err['evalue']} (cell '{err.get('cell')}')\n{err['traceback']}"
            return Outcome(s, "failed", seconds, result, out, message=msg, reason=reason, run_seconds=result["seconds"])
        # The executed notebook is rendered once, here, and cached with the entry.
        nb = Outcome(s, "executed", seconds, result, out, reason=reason, run_seconds=result["seconds"])
        (out / NOTEBOOK).write_text(render.notebook_json(s, nb), encoding="utf-8")
        entry = self.cache.commit(key, out, result)
        return Outcome(s, "executed", seconds, result, entry.dir, reason=reason, run_seconds=result["seconds"])


def _read_json(p: Path) -> dict[str, Any] | None:
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
