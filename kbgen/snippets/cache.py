"""Content-addressed, dependency-validated cache of executed snippets.

Layout under ``cache_dir`` (default ``<project>/.cache/kbgen``):
  ``entries/<id>/``   one immutable executed result: ``result.json``, figures, ``manifest.json``
                      (sha256 of every file, the key, the dependency hashes). ``id`` hashes key + deps.
  ``index/<key>.json`` the entry ids for a key, newest first (replaced atomically).
  ``tmp/<pid>-<rand>/`` runs in progress; moved into ``entries/`` by one ``rename`` on success.
  ``lock``             ``flock``-ed while a build executes and commits.
An entry is used only when its checksums verify and every recorded module/data file still has
the recorded hash. Failures are never committed, and a commit never touches an older entry.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator
from contextlib import contextmanager

from kbgen.snippets.worker import FORMAT_VERSION, sha256_file

KEEP_PER_KEY = 4
_VERSIONED = ("torch", "numpy", "matplotlib")


def _version(dist: str) -> str | None:
    # importlib.metadata: kbgen learns torch's version without importing torch.
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _fingerprint() -> str:
    return json.dumps(
        {"kbgen_format": FORMAT_VERSION, "python": sys.version, **{name: _version(name) for name in _VERSIONED}},
        sort_keys=True,
    )


def environment_fingerprint() -> dict[str, Any]:
    """Python/torch/numpy/matplotlib versions + kbgen's format (metadata read once per process)."""
    return json.loads(_fingerprint())


def cache_key(source: bytes, fig_format: str, env: dict[str, Any] | None = None) -> str:
    """Key of a snippet: its code plus the versions that matter (not its dependencies: those
    are only known after a run and are validated per entry)."""
    payload = {
        "source": hashlib.sha256(source).hexdigest(),
        "fig_format": fig_format,
        "env": env if env is not None else environment_fingerprint(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class HashMemo:
    """sha256 of project files, computed at most once per build."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._memo: dict[str, str | None] = {}

    def get(self, rel: str) -> str | None:
        if rel not in self._memo:
            p = self.root / rel
            self._memo[rel] = sha256_file(p) if p.is_file() else None
        return self._memo[rel]


@dataclass
class Entry:
    id: str
    dir: Path
    result: dict[str, Any]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Cache:
    def __init__(self, cache_dir: Path, root: Path) -> None:
        self.dir = cache_dir
        self.root = root
        self.entries = cache_dir / "entries"
        self.index = cache_dir / "index"
        self.tmp = cache_dir / "tmp"
        for d in (self.entries, self.index, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        gi = cache_dir / ".gitignore"
        if not gi.exists():
            gi.write_text("*\n")

    # -- locking -----------------------------------------------------------------------
    @contextmanager
    def locked(self, log: Any = None) -> Iterator[None]:
        """Exclusive lock for executing + committing (a second concurrent build waits)."""
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if log:
                    log(f"kbgen: waiting for another build holding {self.dir / 'lock'}")
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._clean_tmp()
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _clean_tmp(self) -> None:
        """Remove leftovers of dead runs (e.g. a SIGKILL-ed build): their pid is gone."""
        for d in self.tmp.iterdir():
            pid = d.name.split("-", 1)[0]
            try:
                alive = pid.isdigit() and (int(pid) == os.getpid() or _pid_alive(int(pid)))
            except OSError:
                alive = False
            if not alive:
                shutil.rmtree(d, ignore_errors=True)

    def new_tmp(self) -> Path:
        d = self.tmp / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        d.mkdir(parents=True)
        return d

    # -- lookup ------------------------------------------------------------------------
    def _ids(self, key: str) -> list[str]:
        try:
            data = json.loads((self.index / f"{key}.json").read_text())
            return [i for i in data.get("ids", []) if isinstance(i, str)]
        except (OSError, ValueError):
            return []

    def lookup(self, key: str, hashes: HashMemo) -> tuple[Entry | None, str]:
        """A valid entry for ``key`` (or None) and why not: "" | "miss" | "stale" | "corrupt"."""
        ids = self._ids(key)
        reason = "miss"
        for eid in ids:
            d = self.entries / eid
            manifest = self._verify(d)
            if manifest is None:
                reason = "corrupt"
                shutil.rmtree(d, ignore_errors=True)
                continue
            deps = manifest["deps"]
            if all(hashes.get(rel) == h for kind in ("modules", "files") for rel, h in deps.get(kind, {}).items()):
                result = json.loads((d / "result.json").read_text(encoding="utf-8"))
                return Entry(eid, d, result), ""
            if reason != "corrupt":
                reason = "stale"
        return None, reason

    def _verify(self, d: Path) -> dict[str, Any] | None:
        try:
            manifest = json.loads((d / "manifest.json").read_text())
            for name, h in manifest["files"].items():
                if sha256_file(d / name) != h:
                    return None
            if manifest.get("format") != FORMAT_VERSION:
                return None
            return manifest
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # -- commit ------------------------------------------------------------------------
    def commit(self, key: str, run_dir: Path, result: dict[str, Any]) -> Entry:
        """Move a successful run into the cache (one rename) and record it first for ``key``."""
        assert result.get("status") == "ok", "failures are never cached"
        deps = result["deps"]
        eid = hashlib.sha256(json.dumps([key, deps], sort_keys=True).encode()).hexdigest()[:32]
        for junk in ("progress.json", "log.txt"):
            (run_dir / junk).unlink(missing_ok=True)
        files = {p.name: sha256_file(p) for p in sorted(run_dir.iterdir()) if p.is_file()}
        manifest = {"format": FORMAT_VERSION, "key": key, "deps": deps, "files": files, "created": time.time()}
        mpath = run_dir / "manifest.json"
        with open(mpath, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        for name in files:
            with open(run_dir / name, "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(run_dir)
        final = self.entries / eid
        if final.exists() and self._verify(final) is not None:
            shutil.rmtree(run_dir, ignore_errors=True)  # identical result already stored
        else:
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.rename(run_dir, final)
            _fsync_dir(self.entries)
        ids = [eid] + [i for i in self._ids(key) if i != eid]
        keep, drop = ids[:KEEP_PER_KEY], ids[KEEP_PER_KEY:]
        self._write_index(key, keep)
        for old in drop:
            shutil.rmtree(self.entries / old, ignore_errors=True)
        return Entry(eid, final, result)

    def _write_index(self, key: str, ids: list[str]) -> None:
        path = self.index / f"{key}.json"
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump({"ids": ids}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    # -- small state shared with `kbgen check` -------------------------------------------
    def write_state(self, name: str, data: dict[str, Any]) -> None:
        path = self.dir / name
        tmp = path.with_name(f"{name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)

    def read_state(self, name: str) -> dict[str, Any]:
        try:
            return json.loads((self.dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
