"""Snippet execution on a Dask cluster (``executor: dask``): one Dask task per snippet to run.

The seam with the local executor is one thing: *run one snippet in its own process* (fork
server child: timeout, memory cap, write guard, output capture) and read back everything the
run wrote. On a worker, :func:`run_on_worker` does exactly that and ships the whole run (result,
figure bytes, progress, log) back as a :class:`ShippedRun`. The building machine
(:class:`DaskExecutor`) sends the snippet's bytes (what it keyed is what runs), checks that the
worker used the same bytes for everything else (every module, data file and folder listing in
the dependency manifest, by sha256, against its own files), then turns the run into an
:class:`~kbgen.snippets.contract.Outcome` and commits it to its own cache as the local executor
does. Cache hits never leave the building machine; a rejected run is never
cached.

``distributed`` is imported lazily (``pip install -e '.[cluster]'``): kbgen works without it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from kbgen.snippets.cache import Cache, HashMemo
from kbgen.snippets.contract import (LOG_FILE, SAFE_FILE_NAME, Outcome, OutcomeStatus,
                                     RunRequest, RunResult)
from kbgen.snippets.executor import Finalize, RunBackend, RunConclusion, RunEnd, available_cores, fork_server_backend
from kbgen.snippets.forkserver import DEFAULT_PRELOAD
from kbgen.snippets.model import Snippet

log = logging.getLogger("mkdocs.plugins.kbgen.snippets")

SCHEDULER_ENV = "KBGEN_DASK_SCHEDULER"
#: On a worker: the checkout of the project to run in (default: the building machine's path
#: when it exists there, else the worker's current directory).
PROJECT_ENV = "KBGEN_PROJECT_ROOT"
#: On a worker: BLAS/OpenMP threads per snippet (default: the host's cores / worker threads).
THREADS_ENV = "KBGEN_SNIPPET_THREADS"
START_TOPIC = "kbgen-start"
#: Timeouts stretch with machine load up to this factor (as in the local executor).
MAX_LOAD_STRETCH = 4.0
#: Seconds the client may spend reconnecting to a lost scheduler before the build fails.
LOST_AFTER_S = 10.0
_RESOURCE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_]*)(?::(?P<count>\d+(?:\.\d+)?))?$")


class ClusterError(Exception):
    """The cluster as a whole failed (no scheduler, scheduler lost, no workers): the build stops
    with this one message and nothing from unfinished snippets is cached."""


class ClusterUnavailable(ClusterError):
    """``executor: dask`` without ``distributed`` installed."""


@dataclass(frozen=True)
class ClusterOptions:
    """How to reach the cluster. ``scheduler``: ``tcp://host:8786`` (None: ``$KBGEN_DASK_SCHEDULER``,
    else a LocalCluster of ``workers`` single-threaded processes on 127.0.0.1, default: ``jobs``).
    ``gpu_fallback``: what a ``resources=GPU`` snippet does when no worker offers a GPU: "fail"
    (reported as failed) or "cpu" (runs on any worker). ``grace_s``: seconds the building machine
    waits beyond a snippet's own timeout (transfer, worker start) before it gives up on it."""

    scheduler: str | None = None
    workers: int | None = None
    gpu_fallback: str = "fail"
    grace_s: float = 30.0

    def __post_init__(self) -> None:
        if self.gpu_fallback not in ("fail", "cpu"):
            raise ValueError(f"gpu_fallback must be 'fail' or 'cpu', not {self.gpu_fallback!r}")

    def address(self) -> str | None:
        return self.scheduler or os.environ.get(SCHEDULER_ENV) or None


def snippet_resources(s: Snippet) -> dict[str, float]:
    """Dask resources a snippet declares with ``# kbgen: resources=GPU`` (or ``GPU:2``; several
    joined by ``+``) in its first lines; ``{}`` when none. ValueError (file:line) when malformed."""
    spec = s.options.get("resources")
    if not spec:
        return {}
    out: dict[str, float] = {}
    for part in spec.split("+"):
        m = _RESOURCE.match(part.strip())
        if not m:
            raise ValueError(
                f"{s.path}:{_directive_line(s, 'resources')}: bad `# kbgen: resources={spec}`; "
                "write a Dask worker resource name, optionally with a count: resources=GPU or resources=GPU:2"
            )
        out[m.group("name")] = float(m.group("count") or 1)
    return out


def _directive_line(s: Snippet, key: str) -> int:
    for i, ln in enumerate(s.text.splitlines()[:5], 1):
        if "kbgen:" in ln and f"{key}=" in ln:
            return i
    return 1


# -- the worker side -----------------------------------------------------------------------
@dataclass(frozen=True)
class TaskRequest:
    """What the building machine sends for one snippet: its bytes (what was keyed is what runs)
    and the run's limits; no other file (the worker has a checkout of the project)."""

    snippet_rel: str  # "snippets/x.py", relative to the project root
    source: bytes  # the exact bytes the building machine read and keyed
    root: str  # the building machine's project root (used on the worker when it exists there)
    fig_format: str
    timeout: float  # the snippet's declared timeout, seconds
    load_scaling: bool
    memory_mb: int | None
    output_limit: int | None
    preload: tuple[str, ...] = DEFAULT_PRELOAD


@dataclass
class ShippedRun:
    """One run on a worker, whole: ``files`` holds every file the run wrote in its output folder
    (``result.json``, figures, ``progress.json``, ``log.txt``) by plain name.
    ``finished``: the child ended before its timeout; ``exit``: its exit code (negative: signal);
    ``limit``: the timeout applied (declared x ``load_factor``, the worker's load);
    ``seconds``: wall time on the worker; ``problem``: set when the worker could not run it."""

    worker: str
    host: str
    finished: bool
    exit: int | None
    limit: float
    load_factor: float
    seconds: float
    files: dict[str, bytes] = field(default_factory=dict)
    problem: str = ""


_SERVERS: dict[tuple[str, int, tuple[str, ...]], RunBackend[Any]] = {}
_SERVERS_LOCK = threading.Lock()


def _local_environment() -> None:
    """Undo what the Dask nanny set for its worker process only (``distributed.nanny.pre-spawn-
    environ``: malloc trimming, one BLAS thread), so the fork server and its snippets start from
    the environment a local build gives them (the fork server sets the thread counts itself)."""
    try:
        import dask

        preset = dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}
    except ImportError:
        return
    for name, value in preset.items():
        if os.environ.get(name) == str(value):
            os.environ.pop(name, None)


def _fork_server(root: Path, threads: int, preload: tuple[str, ...]) -> RunBackend[Any]:
    """The worker process's fork server (one per root: torch is imported once per worker, not
    once per snippet). It dies with the worker process (its stdin closes)."""
    key = (str(root), threads, preload)
    with _SERVERS_LOCK:
        server = _SERVERS.get(key)
        if server is None:
            _local_environment()
            server = _SERVERS[key] = fork_server_backend(root, threads, preload)  # as the local executor
        server.start()
        return server


def run_isolated(server: RunBackend[Any], request: RunRequest, limit: float) -> tuple[bool, int | None]:
    """Run one snippet request in a forked child of ``server`` (it writes into ``request.out``),
    killed after ``limit`` seconds; returns (finished before the limit, exit code). The local
    executor's isolation: own process group, address-space cap, write guard, captured output."""
    job = server.submit(request)
    finished = server.wait(job, limit)
    return finished, job.exit


def _worker_threads() -> int:
    env = os.environ.get(THREADS_ENV)
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    from distributed import get_worker

    return max(1, available_cores() // max(1, get_worker().state.nthreads))


def _load_factor(enabled: bool) -> float:
    """As the local executor: timeouts stretch with this machine's load, up to x4."""
    if not enabled:
        return 1.0
    try:
        return min(MAX_LOAD_STRETCH, max(1.0, os.getloadavg()[0] / available_cores()))
    except OSError:
        return 1.0


def _worker_root(req: TaskRequest) -> Path:
    env = os.environ.get(PROJECT_ENV)
    if env:
        return Path(env).resolve()
    if (Path(req.root) / req.snippet_rel).parent.is_dir():
        return Path(req.root)
    return Path.cwd().resolve()


def run_on_worker(req: TaskRequest, key: str) -> ShippedRun:
    """The Dask task: run the snippet as the local executor would and return the whole run."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(START_TOPIC, {"key": key, "worker": worker.address})
    root = _worker_root(req)
    snippet = root / req.snippet_rel
    host = socket.gethostname()
    if not snippet.parent.is_dir():
        return ShippedRun(worker.address, host, False, None, 0.0, 1.0, 0.0, problem=(
            f"Dask worker {worker.address} has no {snippet.parent.name}/ folder under {root}: start workers in a "
            f"checkout of the project (or set {PROJECT_ENV} on them)"))
    factor = _load_factor(req.load_scaling)
    limit = req.timeout * factor
    out = Path(tempfile.mkdtemp(prefix="kbgen-run-"))
    try:
        t0 = time.perf_counter()
        server = _fork_server(root, _worker_threads(), tuple(req.preload))
        request = RunRequest(str(snippet), req.source, str(out), str(root), req.fig_format, req.memory_mb,
                             req.output_limit)
        finished, code = run_isolated(server, request, limit)
        seconds = time.perf_counter() - t0
        files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file() and SAFE_FILE_NAME.match(p.name)}
        if LOG_FILE in files:  # paths in the project are shown relative to it, as locally
            files[LOG_FILE] = files[LOG_FILE].replace(os.fsencode(str(root) + os.sep), b"")
        return ShippedRun(worker.address, host, finished, code, limit, factor, seconds, files=files)
    finally:
        shutil.rmtree(out, ignore_errors=True)


# -- the building side ---------------------------------------------------------------------
@dataclass
class _Attempt:
    """Bookkeeping for one submitted snippet: the workers that started it (one per attempt)."""

    snippet: Snippet
    key: str
    reason: str
    cache_key: str
    declared: float
    note: str = ""  # appended to the worker's address in the report, e.g. " (CPU fallback)"
    workers: list[str] = field(default_factory=list)
    started: float | None = None  # monotonic time the current attempt started on a worker


class DaskExecutor(RunConclusion):
    """Runs snippets through the cache like :class:`kbgen.snippets.executor.Executor` (same
    constructor and ``run``), with every stale snippet as one task on a Dask cluster."""

    def __init__(
        self, root: Path, cache: Cache, jobs: int, timeout: float, fig_format: str = "svg",
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        load_scaling: bool = True,
        memory_limit_mb: int | None = None,
        output_limit: int | None = None,
        finalize: Finalize | None = None,
        cluster: ClusterOptions | None = None,
    ) -> None:
        self.root = root
        self.cache = cache
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.fig_format = fig_format
        self.preload = preload
        self.load_scaling = load_scaling
        self.load_factor = 1.0
        self.memory_limit_mb = memory_limit_mb
        self.output_limit = output_limit
        self.finalize = finalize
        self.options = cluster or ClusterOptions()
        self.submitted: list[str] = []  # snippet names sent to the cluster by the last run()

    def rel(self, p: Path) -> str:
        try:
            return p.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    # -- cluster ---------------------------------------------------------------------------
    @contextmanager
    def _client(self) -> Iterator[Any]:
        try:
            from distributed import Client, LocalCluster
        except ImportError as e:
            raise ClusterUnavailable(
                "kbgen: executor: dask needs the `distributed` package: pip install -e '.[cluster]'"
            ) from e
        address = self.options.address()
        if address:
            try:
                client = Client(address, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise ClusterError(f"kbgen: cannot reach the Dask scheduler at {address}: {e}") from e
            try:
                yield client
            finally:
                client.close()
            return
        n = self.options.workers or self.jobs
        threads = max(1, available_cores() // n)
        # 127.0.0.1 only: a LocalCluster never listens on another interface. A worker that dies
        # while running a snippet gets one retry elsewhere (allowed_failures=1), then KilledWorker.
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, scheduler_kwargs={"allowed_failures": 1},
            memory_limit=0,  # kbgen caps each snippet's address space itself (snippet_memory_mb)
            env={THREADS_ENV: str(threads), PROJECT_ENV: str(self.root)}, silence_logs=logging.ERROR,
        )
        try:
            client = Client(cluster)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()

    # -- run -------------------------------------------------------------------------------
    def run(self, snippets: list[Snippet], force: bool = False) -> dict[str, Outcome]:
        self.submitted = []
        return super().run(snippets, force)

    def _execute_all(self, todo: list[tuple[Snippet, str, str]]) -> Iterator[Outcome]:
        """Run the stale snippets as Dask tasks; cache hits never reach the cluster."""
        with self._client() as client:
            yield from self._run_on_cluster(client, todo)

    def _workers(self, client: Any) -> dict[str, dict[str, Any]]:
        workers: dict[str, dict[str, Any]] = client.scheduler_info(n_workers=-1).get("workers", {})
        return workers

    def _run_on_cluster(self, client: Any, todo: list[tuple[Snippet, str, str]]) -> Iterator[Outcome]:
        from distributed import wait

        try:
            client.wait_for_workers(1, timeout=60)
        except (TimeoutError, OSError) as e:
            raise ClusterError(f"kbgen: the Dask cluster at {client.scheduler.address} has no workers "
                               f"(waited 60 s): start `dask worker {client.scheduler.address}`") from e
        workers = self._workers(client)
        attempts: dict[str, _Attempt] = {}
        lock = threading.Lock()

        progress = [time.monotonic()]  # last time a task started or finished

        def on_start(event: Any) -> None:
            _stamp, msg = event
            with lock:
                a = attempts.get(msg.get("key"))
                if a is not None:
                    a.workers.append(str(msg.get("worker")))
                    a.started = progress[0] = time.monotonic()

        client.subscribe_topic(START_TOPIC, on_start)
        futures: dict[Any, _Attempt] = {}
        stretch = MAX_LOAD_STRETCH if self.load_scaling else 1.0
        try:
            for rank, (s, ckey, reason) in enumerate(todo):
                try:
                    res = snippet_resources(s)
                except ValueError as e:
                    yield self._failed(s, str(e).replace(str(s.path), self.rel(s.path)) + "\n", reason, "")
                    continue
                where_note = ""
                if res and not any(all(w.get("resources", {}).get(r, 0) >= n for r, n in res.items())
                                   for w in workers.values()):
                    wanted = ", ".join(f"{r}={n:g}" for r, n in res.items())
                    if self.options.gpu_fallback != "cpu":
                        yield self._failed(s, (
                            f"{self.rel(s.path)}:{_directive_line(s, 'resources')}: declares `# kbgen: resources="
                            f"{s.options['resources']}` but no worker of the Dask cluster offers {wanted}: start one "
                            f"with `dask worker <scheduler> --resources {wanted.replace(', ', ',')}`, or allow a "
                            "CPU run with `gpu_fallback: cpu`\n"), reason, "")
                        continue
                    res, where_note = {}, " (CPU fallback: no worker offers " + wanted + ")"
                declared = s.timeout(self.timeout)
                key = f"kbgen-{s.stem}-{uuid.uuid4().hex[:8]}"
                req = TaskRequest(self.rel(s.path), s.source, str(self.root), self.fig_format, declared,
                                  self.load_scaling, self.memory_limit_mb, self.output_limit, tuple(self.preload))
                a = _Attempt(s, key, reason + where_note, ckey, declared, note=" (CPU fallback)" if where_note else "")
                with lock:
                    attempts[key] = a
                fut = client.submit(run_on_worker, req, key, key=key, pure=False, retries=1,
                                    resources=res or None, priority=len(todo) - rank)
                futures[fut] = a
                self.submitted.append(s.name)
            pending = set(futures)
            lost_since: float | None = None
            while pending:
                try:
                    done = set(wait(list(pending), timeout=0.5, return_when="FIRST_COMPLETED").done)
                except TimeoutError:  # nothing finished in this half second
                    done = set()
                except Exception as e:  # noqa: BLE001 - FuturesCancelledError: the scheduler dropped them
                    raise ClusterError(self._lost(client, e)) from e
                now = time.monotonic()
                if client.status != "running":  # reconnecting, or closed after giving up
                    lost_since = lost_since or now
                    if client.status != "connecting" or now - lost_since > LOST_AFTER_S:
                        raise ClusterError(self._lost(client, None))
                    continue
                lost_since = None
                for fut in done:
                    pending.discard(fut)
                    progress[0] = now
                    yield self._collect(fut, futures[fut])
                with lock:
                    running = [(f, futures[f].started) for f in pending if futures[f].started is not None]
                    last = progress[0]
                for fut, started in running:
                    a = futures[fut]
                    allowed = a.declared * stretch + self.options.grace_s
                    if started is not None and now - started > allowed:
                        pending.discard(fut)
                        fut.cancel()
                        yield self._failed(a.snippet, (
                            f"{self.rel(a.snippet.path)}: no result from Dask worker {_where(a)} after "
                            f"{allowed:.0f} s (timeout {a.declared:g} s; the building machine waits up to "
                            f"x{stretch:g} + {self.options.grace_s:g} s)\n"), a.reason, _where(a), status="timeout")
                # Never a hang: when nothing started or finished for longer than any snippet may run,
                # the snippets still queued are reported instead of waited for.
                waiting = [f for f in pending if futures[f].started is None]
                longest = max((futures[f].declared for f in pending), default=0.0)
                if waiting and now - last > longest * stretch + self.options.grace_s:
                    for fut in waiting:
                        pending.discard(fut)
                        fut.cancel()
                        a = futures[fut]
                        yield self._failed(a.snippet, (
                            f"{self.rel(a.snippet.path)}: no Dask worker started it within {now - last:.0f} s "
                            "(workers busy, hung or missing)\n"), a.reason, "")
        except ClusterError:
            raise
        except OSError as e:  # CommClosedError and friends: the scheduler went away
            raise ClusterError(self._lost(client, e)) from e
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()
            try:
                client.unsubscribe_topic(START_TOPIC)
            except Exception:  # noqa: BLE001 - the client may already be gone
                pass

    def _lost(self, client: Any, e: BaseException | None) -> str:
        address = getattr(getattr(client, "scheduler", None), "address", None) or self.options.address() or "?"
        why = f": {type(e).__name__}" if e is not None else f" (client {getattr(client, 'status', '?')})"
        return (f"kbgen: lost the Dask scheduler at {address}{why}; the build stops here. Snippets that finished "
                "before are cached (each a whole, verified run); nothing from unfinished ones is")

    @staticmethod
    def _client_of(fut: Any) -> Any:
        return getattr(fut, "client", None)

    def _failed(self, s: Snippet, msg: str, reason: str, where: str, status: OutcomeStatus = "failed") -> Outcome:
        o = Outcome(s, status, 0.0, None, None, message=msg, reason=reason)
        o.where = where
        return o

    def _collect(self, fut: Any, a: _Attempt) -> Outcome:
        """A finished task -> Outcome: the worker's exception, a rejected run, or the run itself."""
        from distributed import KilledWorker

        rel = self.rel(a.snippet.path)
        try:
            shipped: ShippedRun = fut.result()
        except KilledWorker as e:
            tried = ", ".join(dict.fromkeys(a.workers)) or e.last_worker.address
            return self._failed(a.snippet, (
                f"{rel}: the Dask worker running it died, {len(a.workers) or e.allowed_failures + 1} times "
                f"(tried on {tried}; last: {e.last_worker.address}); not retried again\n"), a.reason, _where(a))
        except Exception as e:  # noqa: BLE001 - any error raised by the task itself (after a retry)
            if isinstance(e, OSError) or type(e).__name__ in ("CancelledError", "CommClosedError"):
                raise ClusterError(self._lost(self._client_of(fut), e)) from e
            return self._failed(a.snippet, f"{rel}: the Dask task failed on {_where(a) or 'a worker'}: "
                                           f"{type(e).__name__}: {e}\n", a.reason, _where(a))
        where = shipped.worker + (" (retried)" if len(a.workers) > 1 else "") + a.note
        if shipped.problem:
            return self._failed(a.snippet, f"{rel}: {shipped.problem}\n", a.reason, where)
        try:
            out = self.cache.new_tmp()
        except FileNotFoundError as e:
            raise self.cache.removed_error() from e
        for name, data in shipped.files.items():
            if SAFE_FILE_NAME.match(name):
                (out / name).write_bytes(data)
        result = RunResult.read(out, a.snippet.name)
        mismatch = self._mismatch(a.snippet, shipped.worker, result, HashMemo(self.root))
        if mismatch:
            log.warning("kbgen: %s", mismatch.split("\n", 1)[0])
            shutil.rmtree(out, ignore_errors=True)
            return self._failed(a.snippet, mismatch, a.reason, where)
        o = self._outcome(a.snippet, a.cache_key, a.reason, out, shipped, result)
        o.where = where
        return o

    def _mismatch(self, s: Snippet, worker: str, result: RunResult | None, hashes: HashMemo) -> str:
        """Why the worker's run is not a run of this checkout ("" when it is): the first module,
        data file or folder listing whose bytes there differ from the bytes here, named."""
        if result is None:
            return ""
        deps = result.deps
        here: list[tuple[str, str, str | None]] = [(rel, h, hashes.get(rel)) for rel, h in sorted({**deps.modules,
                                                                                                  **deps.files}.items())]
        here += [(rel + "/", h, hashes.listing(rel)) for rel, h in sorted(deps.listings.items())]
        for rel, theirs, ours in here:
            if ours != theirs:
                state = f"sha256 {ours[:12]} here" if ours else "missing here"
                return (f"{self.rel(s.path)}: rejected the run from Dask worker {worker}: it read {rel} with sha256 "
                        f"{theirs[:12]}, {state}. The worker's checkout differs from this one (or the file changed "
                        "here during the run): bring both to the same commit and build again. Not cached.\n")
        return ""

    def _outcome(self, s: Snippet, key: str, reason: str, out: Path, shipped: ShippedRun,
                 result: RunResult | None) -> Outcome:
        """The run in ``out`` as an Outcome, concluded exactly as the local executor does."""
        end = RunEnd(shipped.finished, shipped.seconds, shipped.limit, s.timeout(self.timeout),
                     shipped.load_factor, shipped.exit)
        return self._conclude(s, key, reason, out, end, result)


def _where(a: _Attempt) -> str:
    return a.workers[-1] if a.workers else ""


__all__: list[str] = [
    "ClusterError", "ClusterOptions", "ClusterUnavailable", "DaskExecutor", "ShippedRun", "TaskRequest",
    "run_isolated", "run_on_worker", "snippet_resources",
]
