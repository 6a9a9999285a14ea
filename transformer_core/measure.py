"""Measuring cost on this machine: single-thread CPU time, peak tensor memory, a machine label.

Used by the snippets that chart time and memory against sequence length; timings are CPU
seconds of one thread, so they stay meaningful on a shared, busy build machine.
"""

from __future__ import annotations

import pathlib
import platform
import time
import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, timed on 1 of {torch.get_num_threads()} threads (CPU time), torch {torch.__version__}"


class PeakTensorMemory(TorchDispatchMode):
    """Peak bytes held by tensors that torch ops allocate while the mode is active.

    Storages are reference-counted over the tensors (views included) that use them, so the
    number is the high-water mark of live intermediate memory; inputs made before are excluded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self.refs: dict[int, list[int]] = {}

    def _release(self, key: int) -> None:
        entry = self.refs.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self.live -= entry[1]
            del self.refs[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            key = t.untyped_storage().data_ptr()
            if key in self.refs:
                self.refs[key][0] += 1
            elif key in inputs:
                continue  # a view of memory that existed before (not allocated here)
            else:
                self.refs[key] = [1, t.untyped_storage().nbytes()]
                self.live += t.untyped_storage().nbytes()
                self.peak = max(self.peak, self.live)
            weakref.finalize(t, self._release, key)
        return out


def peak_bytes(fn) -> int:
    with torch.no_grad(), PeakTensorMemory() as m:
        fn()
    return m.peak


def best_time(fn, min_total: float = 0.02, min_reps: int = 3, max_reps: int = 30) -> float:
    """CPU seconds of one call on a single thread, the fastest of several runs.

    Timed on one thread with the thread's CPU clock: on a shared, busy build machine the
    wall clock mostly measures waiting for a core, and with several threads the waiting
    threads spin; the CPU time one thread needs for the work barely changes.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            fn()  # warm-up
            times: list[float] = []
            while len(times) < min_reps or (sum(times) < min_total and len(times) < max_reps):
                t0 = time.thread_time()
                fn()
                times.append(time.thread_time() - t0)
    finally:
        torch.set_num_threads(threads)
    return min(times)
