"""Bring the plugins' per-build state up to date with one edited note (the fast path's index).

Only the edited note is parsed again. When its aliases are unchanged (its path and name are,
by definition), every lookup table of the vault index stays valid and the index is patched in
place of being rebuilt: the note replaced, the cached resolutions from or to it dropped, its
outlinks recomputed and its entries in the backlinks moved. That matters on a large vault: the
backlinks of a page otherwise resolve every link of the vault again (2 s on 2,000 notes). The
patch gives the index a full rebuild from the same notes would give; it applies only to the
index layout it knows (else the index is rebuilt from the parsed notes, no file read).

The reader's-site plugin keeps the note's text and frontmatter for its banner and math; they
are replaced the same way.
"""

from __future__ import annotations

import bisect
import copy

from mkdocs.config.defaults import MkDocsConfig

from kbgen.vault.index import Note, VaultIndex, parse_note

#: The attributes of a VaultIndex the patch knows how to carry over (anything else: rebuild).
PATCHABLE = frozenset({
    "notes", "attachments", "snippets", "_by_path", "_by_name", "_by_alias", "_att_by_path", "_by_suffix",
    "_att_by_suffix", "_att_by_name", "_resolved", "_backlinks", "_outlinks",
})


def with_note(index: VaultIndex, note: Note) -> VaultIndex:
    """A new index equal to ``VaultIndex`` of ``index``'s notes with ``note`` replacing the note
    at the same path (``index`` is left as it was)."""
    src = note.path
    old = index.notes[src]
    if set(vars(index)) != PATCHABLE or sorted(old.aliases) != sorted(note.aliases):
        notes = [note if p == src else n for p, n in index.notes.items()]
        return VaultIndex(notes, index.attachments, index.snippets)
    fresh = copy.copy(index)
    fresh.notes = dict(index.notes)
    fresh.notes[src] = note
    # A resolution carries the target note (title, headings): drop those of the edited note,
    # and every resolution made from it (an empty target resolves to the note itself).
    fresh._resolved = {k: r for k, r in index._resolved.items() if k[1] != src and r.path != src}
    fresh._outlinks = {p: out for p, out in index._outlinks.items() if p != src}
    if index._backlinks is not None:
        backlinks = {q: [p for p in lst if p != src] for q, lst in index._backlinks.items()}
        for q in fresh.outlinks(src):
            bisect.insort(backlinks.setdefault(q, []), src)  # lists are sorted by path
        fresh._backlinks = {q: lst for q, lst in backlinks.items() if lst}
    return fresh


def refresh_note(config: MkDocsConfig, src: str, text: str) -> None:
    """Replace note ``src`` (a vault path, e.g. ``核心组件/多头注意力.md``) by ``text`` in the
    state of ``kbgen`` and ``kbgen-site`` of the build whose ``config`` this is."""
    kb = config.plugins.get("kbgen")
    index = getattr(kb, "index", None)
    if kb is None or not isinstance(index, VaultIndex) or src not in index.notes:
        return
    fresh = with_note(index, parse_note(src, text, kb.slugify, kb.sep))
    kb.index = fresh
    if kb.renderer is not None:
        kb.renderer.index = fresh
    site = config.plugins.get("kbgen-site")
    sources = getattr(site, "sources", None)
    if isinstance(sources, dict) and src in sources:
        from kbgen.site.path import split_frontmatter

        sources[src] = text
        site.meta[src] = split_frontmatter(text)[0]  # type: ignore[union-attr]
