"""Bring the plugins' per-build state up to date with one edited note (the fast path's index).

Only the edited note is parsed again. When its aliases are unchanged (its path and name are,
by definition), every lookup table of the vault index stays valid and the index is patched in
place of being rebuilt: the note replaced, the cached resolutions from or to it dropped, its
outlinks recomputed and its entries in the backlinks moved. That matters on a large vault: the
backlinks of a page otherwise resolve every link of the vault again (2 s on 2,000 notes). The
patch gives the index a full rebuild from the same notes would give; it applies only to the
index layout it knows (else the index is rebuilt from the parsed notes, no file read).

Every plugin that holds the build's index (kbgen, its renderer, kbgen-site) gets the patched
one; kbgen-site's frontmatter table gets the note's new frontmatter.
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
    state of the build whose ``config`` this is: every plugin attribute (and attribute of a
    plugin's attribute, e.g. kbgen's renderer) holding the build's index gets the patched one,
    and a plugin's ``meta`` table of frontmatter (kbgen-site) gets the note's new frontmatter."""
    kb = config.plugins.get("kbgen")
    index = getattr(kb, "index", None)
    if kb is None or not isinstance(index, VaultIndex) or src not in index.notes:
        return
    note = parse_note(src, text, kb.slugify, kb.sep)
    fresh = with_note(index, note)
    for plugin in config.plugins.values():
        for holder in [plugin, *(v for v in vars(plugin).values() if hasattr(v, "__dict__"))]:
            for name, value in list(vars(holder).items()):
                if value is index:
                    setattr(holder, name, fresh)
        meta = getattr(plugin, "meta", None)
        if isinstance(meta, dict) and src in meta:
            meta[src] = note.frontmatter
