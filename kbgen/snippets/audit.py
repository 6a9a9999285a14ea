"""The snippet child's audit hook: the write guard and the record of what a run used.

Installed by the worker (``sys.addaudithook``) around the snippet's cells:

- **write guard**: any open with a write/create/truncate/append flag, any remove, rename,
  replace, rmdir, mkdir, chmod, utime, link inside the project (also ``dir_fd=`` forms and
  relative paths after ``chdir``) raises PermissionError at the snippet's line; the run's own
  output folder, ``__pycache__`` and anything outside the project are fine.
- **dependencies**: each project data file is hashed when first opened for reading, each
  project folder when first listed (``os.listdir``/``os.scandir``: ``glob``, ``pathlib`` and
  ``os.walk`` go through them), each project module's source when the import system reads it.
  Listings made by the import machinery are not the snippet's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from kbgen.snippets.contract import Dependencies, Spawn, listing_hash, sha256_bytes, sha256_file

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
EXCLUDED_PARTS = {".venv", "venv", "site-packages", "dist-packages", "__pycache__", ".git", ".cache"}

#: sha256 of each project source file as read by the import system (path -> digest), filled by
#: the content-checked bytecode hook: the module's dependency hash is that of the bytes it ran.
MODULE_SOURCE_SHA: dict[str, str] = {}


def _fd_path(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def snippet_line(path: str) -> int | None:
    """The line of the snippet (``path``) being executed now: its innermost frame."""
    f: FrameType | None = sys._getframe(1)
    while f is not None:
        if f.f_code.co_filename == path:
            return f.f_lineno
        f = f.f_back
    return None


class ProjectAudit:
    """The audit hook of one run. ``path``: the snippet's absolute path (its frames' file
    name); ``root``: the project; ``out_dir``: the run's output folder (writable)."""

    def __init__(self, path: str, root: Path, out_dir: Path) -> None:
        self.path = path
        self.root = root
        self.out_dir = out_dir
        self.read_hashes: dict[str, str] = {}  # absolute path -> sha256 when first opened for reading
        self.listings: dict[str, str] = {}  # absolute folder -> listing hash when first listed
        self.written: set[str] = set()
        self.spawns: list[Spawn] = []  # every process started
        self.recording = False  # dependencies are recorded only while the snippet's cells run
        self._busy = False  # the hook is hashing (its own opens are not the snippet's)
        self._os_open_checked = False  # the guarded os.open already checked this open
        self._root = os.path.realpath(root)
        self._out = os.path.realpath(out_dir)

    def install(self) -> None:
        """Add the hook (for the rest of this process) and guard ``os.open``'s ``dir_fd=``."""
        import posix

        sys.addaudithook(self._audit)
        os.open = posix.open = self.guarded_os_open(posix.open)

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
            self.spawns.append(Spawn(snippet_line(self.path), cmd[:200]))
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
        if EXCLUDED_PARTS.intersection(Path(rel).parts):
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
                digest = MODULE_SOURCE_SHA.get(os.path.abspath(f))
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


def content_checked_bytecode(root: Path) -> None:
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
        return path.startswith(prefix) and not EXCLUDED_PARTS.intersection(Path(path).parts)

    def path_stats(self: Any, path: str) -> Any:
        st = orig_stats(self, path)
        if ours(path):
            with open(path, "rb") as f:
                data = f.read()
            MODULE_SOURCE_SHA.setdefault(os.path.abspath(path), sha256_bytes(data))
            st = {"mtime": zlib.crc32(data), "size": len(data)}
        return st

    def get_data(self: Any, path: str) -> bytes:
        data: bytes = orig_data(self, path)
        if path.endswith(".py") and ours(path):
            MODULE_SOURCE_SHA.setdefault(os.path.abspath(path), sha256_bytes(data))
        return data

    loader.path_stats = path_stats  # type: ignore[method-assign]
    loader.get_data = get_data  # type: ignore[method-assign]
