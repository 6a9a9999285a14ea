"""A small Obsidian-style note resolver for the path features.

Used when the vault index (``kbgen.vault``) is not available to the site features; it follows
Obsidian's order: exact vault path, then the linking note's folder, then the shortest path among
notes of that name, then frontmatter ``aliases``. Case-insensitive.
"""

from __future__ import annotations

import posixpath
from typing import Callable


class NoteResolver:
    """Resolve wikilink targets among ``notes`` (src_uri -> frontmatter dict)."""

    def __init__(self, notes: dict[str, dict]):
        self._paths: dict[str, str] = {}
        self._names: dict[str, list[str]] = {}
        self._aliases: dict[str, str] = {}
        for src, meta in notes.items():
            stem = src[:-3] if src.endswith(".md") else src
            self._paths[stem.lower()] = src
            self._names.setdefault(posixpath.basename(stem).lower(), []).append(src)
            aliases = meta.get("aliases") or []
            if isinstance(aliases, str):
                aliases = [aliases]
            if not isinstance(aliases, list):  # e.g. `aliases: 3` (reported by kbgen)
                aliases = []
            for alias in aliases:
                if isinstance(alias, str):
                    self._aliases.setdefault(alias.strip().lower(), src)

    def __call__(self, target: str, from_src: str = "") -> str | None:
        key = target.strip().lstrip("/")
        if key.lower().endswith(".md"):
            key = key[:-3]
        key = key.lower()
        if not key:
            return None
        if key in self._paths:
            return self._paths[key]
        folder = posixpath.dirname(from_src).lower()
        if folder and f"{folder}/{key}" in self._paths:
            return self._paths[f"{folder}/{key}"]
        if "/" not in key and key in self._names:
            return min(self._names[key], key=lambda s: (s.count("/"), len(s), s))
        return self._aliases.get(key)


def index_resolver(index: object) -> "Callable[[str, str], str | None]":
    """Adapt ``kbgen.vault.VaultIndex`` (``index.resolve(target, from_note)``) to a resolver."""

    def resolve(target: str, from_src: str = "") -> str | None:
        res = index.resolve(target, from_note=from_src or None)  # type: ignore[attr-defined]
        return res.path if getattr(res, "kind", None) == "note" else None

    return resolve
