"""The graph data every page loads (``assets/kbgen/graph-data.js``): notes, links, previews.

A script (``window.kbgenGraph = {...}``), not JSON fetched at run time, so the site works from
``file://``. Nodes carry what hover previews show, offline: the title, the description and the
start of the note's text (``x``), and the start of each section some link in the vault points to
(``s``: heading id -> text), as Obsidian Publish and Quartz previews do.
"""

from __future__ import annotations

import json
import re
from typing import Callable

from kbgen.vault import scan
from kbgen.vault.index import Note, VaultIndex

#: Characters of a note's opening text / of a section's opening text in a preview.
NOTE_EXCERPT = 240
SECTION_EXCERPT = 160

_FENCED = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.M | re.S)
_HEADING_LINE = re.compile(r"^#{1,6}[ \t].*$", re.M)
_CALLOUT = re.compile(r"^[ \t]*>[ \t]*\[![^\]]*\][-+]?", re.M)
_MARKUP = re.compile(r"^[ \t]*(?:>[ \t]?)+|^[ \t]*(?:[-*+]|\d+[.)])[ \t]+|^\|?[ \t:|-]+\|[ \t:|-]*$|[*_~=`|]+|<[^>\n]+>",
                     re.M)
_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
_BLOCK_ID = re.compile(r"(?:^|[ \t])\^[A-Za-z0-9-]+[ \t]*$", re.M)
_FOOTNOTE_DEF = re.compile(r"^\[\^[^\]\n]+\]:.*$", re.M)


def plain_excerpt(markdown: str, limit: int) -> str:
    """The first ``limit`` characters of ``markdown`` as plain text (no headings, code, markup;
    wikilinks as their shown text), cut at a word boundary with an ellipsis when longer."""
    text = _FENCED.sub(" ", markdown)
    text = _HEADING_LINE.sub(" ", text)
    text = _FOOTNOTE_DEF.sub(" ", text)
    text = _CALLOUT.sub(" ", text)

    def wiki(m: re.Match) -> str:
        target, subpath, alias = scan.parse_wikilink(m.group(2))
        if m.group(1):  # an embed shows nothing in a preview
            return " "
        return alias or (f"{target} > {subpath}" if subpath and target else subpath or target)

    text = scan.WIKILINK.sub(wiki, text)
    text = _MD_LINK.sub(lambda m: m.group(1), text)
    text = _BLOCK_ID.sub("", text)
    text = re.sub(r"\[\^[^\]\n]+\]", "", text)
    text = _MARKUP.sub(" ", text)
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(",.;:，。；：") + "…"


def _section_text(note: Note, heading_id: str) -> str | None:
    lines = note.source.split("\n")
    for i, h in enumerate(note.headings):
        if h.id != heading_id:
            continue
        end = next((o.line - 1 for o in note.headings[i + 1:] if o.level <= h.level), len(lines))
        return "\n".join(lines[h.line: end])
    return None


def linked_sections(index: VaultIndex) -> dict[str, set[str]]:
    """Note path -> ids of its headings that some link in the vault points to."""
    out: dict[str, set[str]] = {}
    for path, note in index.notes.items():
        for link in note.links:
            if not link.subpath or link.subpath.startswith("^"):
                continue
            res = index.resolve(link.target, path)
            if res.kind == "note" and res.note is not None:
                h = res.note.heading(link.subpath)
                if h is not None:
                    out.setdefault(res.note.path, set()).add(h.id)
    return out


def graph_data_js(index: VaultIndex, url_of: Callable[[str], str]) -> str:
    """``window.kbgenGraph``: nodes (id = vault path, t = title, u = URL from the site root
    (``url_of(path)``), d = description, x = opening text, s = {heading id: section opening})
    and links (pairs of node indices, undirected, sorted)."""
    order = {p: i for i, p in enumerate(index.notes)}
    sections = linked_sections(index)
    nodes = []
    for p, n in index.notes.items():
        node: dict[str, object] = {"id": p, "t": n.title, "u": url_of(p)}
        if n.description:
            node["d"] = n.description[:200]
        opening = plain_excerpt(n.body, NOTE_EXCERPT)
        if opening:
            node["x"] = opening
        previews = {}
        for hid in sorted(sections.get(p, ())):
            body = _section_text(n, hid)
            if body is not None and (text := plain_excerpt(body, SECTION_EXCERPT)):
                previews[hid] = text
        if previews:
            node["s"] = previews
        nodes.append(node)
    links = set()
    for p in index.notes:
        for q in index.outlinks(p):
            a, b = order[p], order[q]
            links.add((min(a, b), max(a, b)))
    data = {"nodes": nodes, "links": sorted(links)}
    return "window.kbgenGraph = " + json.dumps(data, ensure_ascii=False, separators=(",", ":")) + ";\n"
