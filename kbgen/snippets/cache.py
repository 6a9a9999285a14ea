"""Content-addressed, dependency-validated cache of executed snippets.

Layout under ``cache_dir`` (default ``<project>/.cache/kbgen``):
  ``entries/<id>/``   one immutable executed result: ``result.json``, figures, ``manifest.json``
                      (sha256 of every file, the key, the dependency hashes). ``id``: 32 hex digits.
  ``index/<key>.json`` the entry ids for a key (64 hex digits), newest first (replaced atomically).
  ``tmp/<pid>-<rand>/`` runs in progress; moved into ``entries/`` by one ``rename`` on success.
  ``lock``             ``flock``-ed while a build executes and commits (holder's pid inside).
An entry is used only when its checksums verify and every recorded module, data file and folder
listing still has the recorded hash. Failures are never committed, a commit never touches an
older entry, and nothing read from disk can make the cache address a path outside itself:
ids and file names are validated, paths are checked to stay under the cache folder, and a
tampered entry is discarded with a warning.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbgen.snippets.contract import (
    FORMAT_VERSION, RESULT_FILE, SAFE_FILE_NAME, Dependencies, RunResult, listing_hash, sha256_file,
)

log = logging.getLogger("mkdocs.plugins.kbgen.snippets")

KEEP_PER_KEY = 4
_KEY = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_ID = re.compile(r"^[0-9a-f]{32}$")
_TMP_NAME = re.compile(r"^[0-9]+-[0-9a-f]{12}$")


class CacheRemovedError(RuntimeError):
    """The cache folder disappeared while the build was using it (the message says what to do)."""


def _safe_rel(rel: str) -> bool:
    """A project-relative path recorded in a manifest: relative, no ``..``, no NUL."""
    if not rel or "\0" in rel or rel.startswith(("/", "\\")) or os.path.isabs(rel):
        return False
    return rel == "." or ".." not in Path(rel).parts


class HashMemo:
    """sha256 of project files and folder listings, computed at most once per build.
    Paths outside the project (a tampered manifest) hash to None: never read."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._memo: dict[str, str | None] = {}
        self._lists: dict[str, str | None] = {}

    def get(self, rel: str) -> str | None:
        if rel not in self._memo:
            p = self.root / rel
            self._memo[rel] = sha256_file(p) if _safe_rel(rel) and p.is_file() else None
        return self._memo[rel]

    def listing(self, rel: str) -> str | None:
        if rel not in self._lists:
            p = self.root / rel
            try:
                self._lists[rel] = listing_hash(os.listdir(p)) if _safe_rel(rel) and p.is_dir() else None
            except OSError:
                self._lists[rel] = None
        return self._lists[rel]

    def matches(self, deps: Dependencies) -> bool:
        """True when every recorded module, data file and listing still has its hash."""
        return (all(self.get(rel) == h for rel, h in {**deps.modules, **deps.files}.items())
                and all(self.listing(rel) == h for rel, h in deps.listings.items()))


def current_hashes(root: Path, deps: Dependencies) -> list[str]:
    """The dependencies of ``deps`` whose bytes on disk differ from the recorded hash now
    (fresh reads, no memo: used right before committing a run)."""
    return [rel for rel, h in {**deps.modules, **deps.files}.items() if HashMemo(root).get(rel) != h] + \
        [rel + "/" for rel, h in deps.listings.items() if HashMemo(root).listing(rel) != h]


@dataclass
class Entry:
    id: str
    dir: Path
    result: RunResult


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
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
        self.ensure()

    def ensure(self) -> None:
        """Create the layout (again, when the folder was removed since)."""
        for d in (self.entries, self.index, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        gi = self.dir / ".gitignore"
        if not gi.exists():
            gi.write_text("*\n")

    def removed_error(self) -> CacheRemovedError:
        return CacheRemovedError(
            f"kbgen: the snippet cache {self.dir} was removed while this build was using it; "
            "nothing was lost: build again (it recreates the cache and executes what is missing)"
        )

    def present(self) -> bool:
        return self.entries.is_dir() and self.index.is_dir() and self.tmp.is_dir()

    # -- containment -------------------------------------------------------------------
    def _inside(self, p: Path) -> bool:
        """``p`` is a real (non-symlink) path strictly under the cache folder."""
        base = os.path.realpath(self.dir)
        real = os.path.realpath(p)
        return real.startswith(base + os.sep) and not os.path.islink(p)

    def _discard(self, d: Path, why: str, hostile: bool = False) -> None:
        """Delete ``d`` only when it is under the cache folder; say why. An entry that tries to
        address something outside the cache is a warning; plain damage (a checksum mismatch,
        e.g. a torn write) is re-executed quietly (info): it costs time, never a wrong page."""
        (log.warning if hostile else log.info)("kbgen: discarded cache entry %s (%s)", d.name, why)
        if os.path.islink(d):
            try:
                os.unlink(d)  # a link, never its target
            except OSError:
                pass
        elif self._inside(d):
            shutil.rmtree(d, ignore_errors=True)

    # -- locking -----------------------------------------------------------------------
    @contextmanager
    def locked(self, say: Callable[[str], Any] | None = None) -> Iterator[None]:
        """Exclusive lock for executing + committing (a second concurrent build waits). The fd
        is close-on-exec and never passed to a child: only this process holds the lock."""
        self.ensure()
        path = self.dir / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if say:
                    say(f"kbgen: waiting for the build holding {path} ({self._holder(path)})")
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                pass
            self._clean_tmp()
            yield
        finally:
            os.close(fd)  # closing releases the flock

    @staticmethod
    def _holder(path: Path) -> str:
        try:
            pid = int(path.read_text().split()[0])
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            return f"pid {pid}: {cmd[:120]}" if cmd else f"pid {pid}"
        except (OSError, ValueError, IndexError):
            return "holder unknown"

    def _clean_tmp(self) -> None:
        """Remove leftovers of dead runs (e.g. a SIGKILL-ed build): their pid is gone."""
        try:
            names = os.listdir(self.tmp)
        except OSError:
            return
        for name in names:
            d = self.tmp / name
            pid = name.split("-", 1)[0]
            try:
                alive = pid.isdigit() and (int(pid) == os.getpid() or _pid_alive(int(pid)))
            except (OSError, OverflowError):
                alive = False
            if not alive or not _TMP_NAME.match(name):
                if os.path.islink(d) or not d.is_dir():
                    try:
                        os.unlink(d)
                    except OSError:
                        pass
                elif self._inside(d):
                    shutil.rmtree(d, ignore_errors=True)

    def new_tmp(self) -> Path:
        d = self.tmp / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        d.mkdir(parents=True)
        return d

    # -- lookup ------------------------------------------------------------------------
    def _ids(self, key: str) -> list[str]:
        """Valid entry ids recorded for ``key``; anything else in the index is discarded."""
        if not _KEY.match(key):
            raise ValueError(f"not a cache key: {key!r}")
        path = self.index / f"{key}.json"
        try:
            data = json.loads(path.read_text())
            raw = data.get("ids", []) if isinstance(data, dict) else None
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            raw = None
        if not isinstance(raw, list):
            log.info("kbgen: discarded unreadable cache index %s", path.name)
            path.unlink(missing_ok=True)
            return []
        ids = [i for i in raw if isinstance(i, str) and _ENTRY_ID.match(i)]
        if len(ids) != len(raw):
            bad = [i for i in raw if i not in ids]
            log.warning("kbgen: discarded invalid ids in cache index %s: %s", path.name, ", ".join(map(repr, bad))[:200])
            self._write_index(key, ids)
        return ids

    def lookup(self, key: str, hashes: HashMemo, name: str = "") -> tuple[Entry | None, str]:
        """A valid entry for ``key`` (or None) and why not: "" | "miss" | "stale" | "corrupt".
        ``name`` (the snippet file name) labels the result's values."""
        reason = "miss"
        for eid in self._ids(key):
            d = self.entries / eid
            if not d.exists() and not os.path.islink(d):
                continue
            hostile = self._escapes(d)
            deps = None if hostile else self._verify(d, key)
            if deps is None:
                reason = "corrupt"
                self._discard(d, hostile or "checksum, layout or format mismatch", hostile=bool(hostile))
                continue
            if hashes.matches(deps):
                result = RunResult.read(d, name)
                if result is None or not result.ok:
                    reason = "corrupt"
                    self._discard(d, "unreadable result")
                    continue
                return Entry(eid, d, result), ""
            if reason != "corrupt":
                reason = "stale"
        return None, reason

    def _escapes(self, d: Path) -> str:
        """Why entry ``d`` would make the cache address a path outside itself ("" if it does not):
        a symlink, a manifest naming files outside the entry or dependencies outside the project."""
        if not self._inside(d):
            return "not a folder inside the cache (a link?)"
        try:
            manifest = json.loads((d / "manifest.json").read_text())
            names = list(manifest.get("files") or {})
            deps = Dependencies.from_json(manifest.get("deps") or {})
        except (OSError, ValueError, TypeError, AttributeError):
            return ""  # unreadable: damage, not an escape
        if any(not SAFE_FILE_NAME.match(n) or not self._inside(d / n) for n in names):
            return "manifest names files outside the entry"
        if not all(_safe_rel(rel) for rel in [*deps.modules, *deps.files, *deps.listings]):
            return "dependencies outside the project"
        return ""

    def _verify(self, d: Path, key: str) -> Dependencies | None:
        """The entry's recorded dependencies when every file in it checks out, else None."""
        if not self._inside(d) or not d.is_dir():
            return None
        try:
            manifest = json.loads((d / "manifest.json").read_text())
            if manifest.get("format") != FORMAT_VERSION or manifest.get("key") != key:
                return None
            files = manifest["files"]
            if RESULT_FILE not in files:
                return None
            for name, h in files.items():
                p = d / name
                if not SAFE_FILE_NAME.match(name) or not self._inside(p) or sha256_file(p) != h:
                    return None
            deps = Dependencies.from_json(manifest["deps"])
            if not all(_safe_rel(rel) for rel in [*deps.modules, *deps.files, *deps.listings]):
                return None
            return deps
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    # -- commit ------------------------------------------------------------------------
    def commit(self, key: str, run_dir: Path, result: RunResult) -> Entry:
        """Move a successful run into the cache (one rename) and record it first for ``key``.
        Raises CacheRemovedError when the cache folder vanished meanwhile."""
        assert result.ok, "failures are never cached"
        if not _KEY.match(key):
            raise ValueError(f"not a cache key: {key!r}")
        try:
            return self._commit(key, run_dir, result)
        except FileNotFoundError as e:
            if not self.present() or not run_dir.is_dir():
                raise self.removed_error() from e
            raise
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR) and not self.present():
                raise self.removed_error() from e
            raise

    def _commit(self, key: str, run_dir: Path, result: RunResult) -> Entry:
        deps = result.deps.to_json()
        eid = hashlib.sha256(json.dumps([key, deps, result.source_sha256], sort_keys=True).encode()).hexdigest()[:32]
        for junk in ("progress.json", "log.txt"):
            (run_dir / junk).unlink(missing_ok=True)
        files = {p.name: sha256_file(p) for p in sorted(run_dir.iterdir()) if p.is_file() and SAFE_FILE_NAME.match(p.name)}
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
        if final.exists() and self._verify(final, key) is not None:
            shutil.rmtree(run_dir, ignore_errors=True)  # identical result already stored
        else:
            if final.exists() or os.path.islink(final):
                self._discard(final, "replaced by a verified run")
            os.rename(run_dir, final)
            _fsync_dir(self.entries)
        ids = [eid] + [i for i in self._ids(key) if i != eid]
        keep, drop = ids[:KEEP_PER_KEY], ids[KEEP_PER_KEY:]
        self._write_index(key, keep)
        for old in drop:
            d = self.entries / old
            if self._inside(d):
                shutil.rmtree(d, ignore_errors=True)
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
        """Best effort: a vanished cache folder only loses this state."""
        path = self.dir / name
        tmp = path.with_name(f"{name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass

    def read_state(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads((self.dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
