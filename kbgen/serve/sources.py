"""What changed on disk between two moments: a cheap stat snapshot of the watched sources.

MkDocs' watcher only says "something changed"; the live server needs to know which files,
to re-render the edited notes first. A snapshot maps each file's path to its
``(mtime in ns, size in bytes)``; two snapshots compare into a :class:`Changes`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

Stamp = tuple[int, int]  # (st_mtime_ns, st_size)


@dataclass(frozen=True)
class Changes:
    """Absolute paths that were modified, added or deleted between two snapshots."""

    modified: frozenset[str] = field(default_factory=frozenset)
    added: frozenset[str] = field(default_factory=frozenset)
    deleted: frozenset[str] = field(default_factory=frozenset)

    @property
    def paths(self) -> frozenset[str]:
        return self.modified | self.added | self.deleted

    def __bool__(self) -> bool:
        return bool(self.modified or self.added or self.deleted)


def snapshot(roots: list[Path]) -> dict[str, Stamp]:
    """Stamps of every file under ``roots`` (a root may be a single file; missing roots are skipped).
    Hidden folders (``.git``, ``.cache``) and ``__pycache__`` are not walked."""
    out: dict[str, Stamp] = {}
    for root in roots:
        if root.is_file():
            st = root.stat()
            out[str(root)] = (st.st_mtime_ns, st.st_size)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
            for name in filenames:
                p = os.path.join(dirpath, name)
                try:
                    st = os.stat(p)
                except OSError:  # deleted while walking
                    continue
                out[p] = (st.st_mtime_ns, st.st_size)
    return out


def compare(old: dict[str, Stamp], new: dict[str, Stamp]) -> Changes:
    """Files whose stamp differs (modified), that appeared (added) or vanished (deleted)."""
    return Changes(
        modified=frozenset(p for p, s in new.items() if p in old and old[p] != s),
        added=frozenset(p for p in new if p not in old),
        deleted=frozenset(p for p in old if p not in new),
    )
