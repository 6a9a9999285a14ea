"""A fork server: one process imports the heavy modules once, then forks a child per snippet.

``import torch`` costs ~1.4 s; paid once per build instead of once per snippet, while each
snippet still runs in its own process (own address space, own process group, killable).
Protocol over the server's stdin/stdout, one JSON object per line:
  request  ``{"id": 3, **RunRequest.to_json()}`` (the snippet's bytes travel in the request)
  replies  ``{"id": 3, "pid": 1234}`` then ``{"id": 3, "exit": 0}`` (negative: killed by signal).
When its stdin closes (the build ended or was killed) the server kills its children and exits.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbgen.snippets.contract import RunRequest

DEFAULT_PRELOAD = ("numpy", "torch", "matplotlib", "matplotlib.pyplot")


def _send(msg: dict[str, Any]) -> None:
    out = sys.__stdout__
    assert out is not None
    out.write(json.dumps(msg) + "\n")
    out.flush()


def _preload(modules: list[str]) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module only costs speed
            pass
    if "matplotlib.pyplot" in sys.modules:
        # Build the font cache before forking so children do not each rebuild it.
        import matplotlib.font_manager  # noqa: F401
    import kbgen.snippets.worker  # noqa: F401


def serve(preload: list[str]) -> None:
    """Server main loop (runs in the server process)."""
    _preload(preload)
    from kbgen.snippets import worker

    _send({"ready": True, "pid": os.getpid()})
    children: dict[int, int] = {}
    stdin = sys.stdin.buffer
    buf = b""
    eof = False
    while not eof or children:
        if eof:  # parent is gone: do not leave snippets running
            for pid in list(children):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        ready, _, _ = select.select([stdin] if not eof else [], [], [], 0.02)
        if ready:
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:
                eof = True
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                req = json.loads(line)
                pid = os.fork()
                if pid == 0:  # child
                    code = 70
                    try:
                        signal.signal(signal.SIGINT, signal.SIG_DFL)
                        code = worker.child_main(RunRequest.from_json(req))
                    except BaseException:  # noqa: BLE001
                        import traceback

                        traceback.print_exc()
                    finally:
                        try:
                            sys.stdout.flush()
                            sys.stderr.flush()
                        finally:
                            os._exit(code)
                children[pid] = req["id"]
                _send({"id": req["id"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            jid = children.pop(pid, None)
            try:  # whatever the snippet left in its process group goes with it
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            if jid is not None:
                _send({"id": jid, "exit": os.waitstatus_to_exitcode(status)})


@dataclass
class Job:
    id: int
    pid: int | None = None
    exit: int | None = None
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class ForkServer:
    """Client: starts the server lazily, submits snippets, kills them on timeout."""

    def __init__(self, root: Path, threads: int, preload: tuple[str, ...] = DEFAULT_PRELOAD) -> None:
        self.root = root
        self.threads = threads
        self.preload = preload
        self._proc: subprocess.Popen[bytes] | None = None
        self._jobs: dict[int, Job] = {}
        self._next = 0
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        n = str(self.threads)
        # Cap BLAS/OpenMP threads so parallel snippets do not oversubscribe the cores.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
            env[var] = n
        env["MPLBACKEND"] = "Agg"
        env["PYTHONHASHSEED"] = "0"
        env["SOURCE_DATE_EPOCH"] = "0"
        return env

    def start(self) -> None:
        with self._lock:
            if self._proc is not None:
                return
            # kbgen's own location goes last on sys.path: it must not shadow the project's modules.
            kb_parent = str(Path(__file__).resolve().parents[2])
            code = (
                f"import sys; sys.path.append({kb_parent!r}); "
                f"from kbgen.snippets.forkserver import serve; serve({list(self.preload)!r})"
            )
            self._proc = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=self.root,
                env=self._env(),
                close_fds=True,  # the build's cache lock (and any other fd) stays in the build
            )
            assert self._proc.stdout is not None
            first = self._proc.stdout.readline()
            if not first:
                raise RuntimeError("kbgen: the snippet fork server failed to start")
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            msg = json.loads(line)
            job = self._jobs.get(msg["id"])
            if job is None:
                continue
            if "pid" in msg:
                job.pid = msg["pid"]
                job.started.set()
            if "exit" in msg:
                job.exit = msg["exit"]
                job.done.set()
        for job in self._jobs.values():  # server died: release waiters
            if not job.done.is_set():
                job.exit = job.exit if job.exit is not None else -1
                job.started.set()
                job.done.set()

    def submit(self, request: RunRequest) -> Job:
        """Run ``request`` in a fresh child (it writes into ``request.out``)."""
        self.start()
        assert self._proc is not None and self._proc.stdin is not None
        with self._lock:
            self._next += 1
            job = Job(self._next)
            self._jobs[job.id] = job
            msg = {"id": job.id, **request.to_json()}
            self._proc.stdin.write((json.dumps(msg) + "\n").encode())
            self._proc.stdin.flush()
        return job

    def wait(self, job: Job, timeout: float) -> bool:
        """Wait up to ``timeout`` s; on expiry kill the snippet's process group. True if it finished."""
        if job.done.wait(timeout):
            return True
        job.started.wait(5)
        if job.pid:
            try:  # ask the snippet where it is (it records its current line), then kill
                os.kill(job.pid, signal.SIGUSR1)
                if job.done.wait(0.5):
                    return False
            except OSError:
                pass
            try:
                os.killpg(job.pid, 9)
            except OSError:
                try:
                    os.kill(job.pid, 9)
                except OSError:
                    pass
        job.done.wait(10)
        return False

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
