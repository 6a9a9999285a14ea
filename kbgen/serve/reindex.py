"""Bring the plugins' per-build state up to date with one edited note (the fast path's index).

Only the edited note is parsed again; the vault index is reassembled from the notes already
parsed (no file is read but the edited one). The reader's-site plugin keeps the note's text
and frontmatter for its banner and math; they are replaced the same way.
"""

from __future__ import annotations

from mkdocs.config.defaults import MkDocsConfig

from kbgen.vault.index import VaultIndex, parse_note


def refresh_note(config: MkDocsConfig, src: str, text: str) -> None:
    """Replace note ``src`` (a vault path, e.g. ``核心组件/多头注意力.md``) by ``text`` in the
    state of ``kbgen`` and ``kbgen-site`` of the build whose ``config`` this is."""
    kb = config.plugins.get("kbgen")
    index = getattr(kb, "index", None)
    if kb is None or not isinstance(index, VaultIndex) or src not in index.notes:
        return
    note = parse_note(src, text, kb.slugify, kb.sep)
    notes = [note if p == src else n for p, n in index.notes.items()]
    fresh = VaultIndex(notes, index.attachments, index.snippets)
    kb.index = fresh
    if kb.renderer is not None:
        kb.renderer.index = fresh
    site = config.plugins.get("kbgen-site")
    sources = getattr(site, "sources", None)
    if isinstance(sources, dict) and src in sources:
        from kbgen.site.path import split_frontmatter

        sources[src] = text
        site.meta[src] = split_frontmatter(text)[0]  # type: ignore[union-attr]
