"""The vault index: one pass over the vault; every Obsidian feature reads from it.

Shapes: paths are vault-relative POSIX paths with extension (``"核心组件/自注意力机制.md"``);
lines are 1-based lines of the note's source file (frontmatter included).
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kbgen.contracts import SnippetProvider
from kbgen.vault import scan
from kbgen.vault.notebook import notebook_markdown
from kbgen.vault.slug import Slugify, default_slugify, heading_ids

def fold(text: str) -> str:
    """The form names are compared in: Unicode NFC (macOS writes file names in NFD) and
    case-folded (``"Straße"`` matches ``"STRASSE"``, ``"É"`` matches ``"é"``)."""
    return unicodedata.normalize("NFC", text).casefold()


#: Characters Obsidian leaves out of heading links (``[[n#What is X]]`` for ``## What is X?``).
_HEADING_IGNORED = re.compile(r"[?#^|\[\]:\\*\"<>/]+")


def heading_key(text: str) -> str:
    """How a heading and a ``#heading`` link are compared: folded, without the characters
    Obsidian leaves out of links, whitespace collapsed."""
    return " ".join(_HEADING_IGNORED.sub(" ", fold(text)).split())


IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp", ".avif"}
NOTE_EXTS = {".md", ".ipynb"}  # notebooks are read as their Markdown (kbgen.vault.notebook)


@dataclass
class Heading:
    level: int
    text: str  # Markdown source text of the heading
    id: str  # the id the page's toc gives it
    line: int  # 1-based source line


@dataclass
class Link:
    """One ``[[...]]`` in a note body, or in a frontmatter value (``field`` names the key)."""

    target: str
    subpath: str | None
    alias: str | None
    embed: bool
    line: int
    field: str | None = None


@dataclass
class Note:
    path: str  # "核心组件/自注意力机制.md"
    source: str  # full file text
    frontmatter: dict
    body_offset: int  # number of source lines before the body (the frontmatter block)
    headings: list[Heading]
    links: list[Link]
    tags: list[str]  # frontmatter tags then inline tags, no "#", de-duplicated, in order
    #: Block ids (``^id``) -> (1-based line of the marker, True when the marker is on its own line).
    blocks: dict[str, tuple[int, bool]] = field(default_factory=dict)
    #: The scan of ``body`` the index was built from (the renderer reuses it).
    body_scan: scan.BodyScan | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        """File name without ``.md`` (what ``[[name]]`` matches)."""
        return posixpath.splitext(posixpath.basename(self.path))[0]

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.path)

    @property
    def title(self) -> str:
        t = self.frontmatter.get("title")
        return str(t) if t else self.name

    @property
    def aliases(self) -> list[str]:
        return _str_list(self.frontmatter.get("aliases") or self.frontmatter.get("alias"))

    @property
    def description(self) -> str:
        return str(self.frontmatter.get("description") or "")

    @property
    def body(self) -> str:
        return self.source.split("\n", self.body_offset)[-1] if self.body_offset else self.source

    def heading(self, subpath: str) -> Heading | None:
        """The heading ``[[note#subpath]]`` means, as Obsidian matches it: the last ``#`` segment
        by text (case-insensitive, ignoring ``?``, ``:`` and the other characters links leave
        out) or id; ``[[note#A#B]]`` is the B under A (each earlier segment an enclosing heading)."""
        parts = [p.strip() for p in subpath.split("#") if p.strip()]
        if not parts:
            return None
        *outer, want = parts
        key = heading_key(want)
        by_text = [i for i, h in enumerate(self.headings) if heading_key(h.text) == key]
        by_plain = [i for i, h in enumerate(self.headings)
                    if i not in by_text and (heading_key(scan.heading_plain_text(h.text)) == key or h.id == want)]
        for i in by_text + by_plain:
            if not outer or self._under(i, [heading_key(o) for o in outer]):
                return self.headings[i]
        return None

    def _under(self, i: int, outer: list[str]) -> bool:
        """True when heading ``i`` is nested under headings matching ``outer`` (outermost first)."""
        level, enclosing = self.headings[i].level, []
        for h in reversed(self.headings[:i]):
            if h.level < level:
                enclosing.append(h)
                level = h.level
        keys = [k for h in reversed(enclosing)
                for k in (heading_key(h.text), heading_key(scan.heading_plain_text(h.text)))]
        pos = 0
        for o in outer:
            while pos < len(keys) and keys[pos] != o:
                pos += 1
            if pos == len(keys):
                return False
        return True


@dataclass(frozen=True)
class SnippetReference:
    """One ``[[x.py]]`` / ``![[x.py#cell]]`` in a note (outside code, math and HTML)."""

    note: str  # vault path of the note
    line: int  # 1-based line in the note's file
    name: str  # the snippet as the index resolved it, e.g. "self_attention.py"
    cell: str | None  # the cell title after "#", if any
    embed: bool


@dataclass
class Resolution:
    """What a link target resolves to. ``kind``: note | attachment | snippet | unresolved | error."""

    kind: str
    path: str | None = None  # note/attachment vault path, or the snippet name
    note: Note | None = None
    candidates: list[str] = field(default_factory=list)  # set when a tie was broken
    message: str = ""

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


def _str_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [str(value)]


def _suffixes(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """{"b/c": [paths], "c": [...]} for keys like "a/b/c" (proper suffixes of two+ segments)."""
    out: dict[str, list[str]] = {}
    for key, path in items:
        parts = key.split("/")
        for i in range(1, len(parts) - 1):
            out.setdefault("/".join(parts[i:]), []).append(path)
    return out


#: Frontmatter fields whose plain texts (not only ``[[wikilinks]]``) name notes.
NAME_FIELDS = ("prerequisites", "solves")


def _frontmatter_links(meta: dict, fm_lines: list[str]) -> list[Link]:
    """Wikilinks written in frontmatter values (e.g. ``prerequisites: ["[[a]]"]``); in
    :data:`NAME_FIELDS` a plain text counts as a link too (``prerequisites: [a]``).

    ``fm_lines`` are the frontmatter's lines (without the opening ``---``), for line numbers.
    """
    out = []
    for key, value in meta.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if not isinstance(v, str):
                continue
            refs = scan.find_wikilinks(v, v)
            for ref in refs:
                needle = v[ref.start: ref.end]
                line = next((i + 2 for i, l in enumerate(fm_lines) if needle in l), 1)
                out.append(Link(ref.target, ref.subpath, ref.alias, False, line, field=str(key)))
            if not refs and key in NAME_FIELDS and v.strip():
                target, subpath, alias = scan.parse_wikilink(v)
                line = next((i + 2 for i, l in enumerate(fm_lines) if v.strip() in l), 1)
                out.append(Link(target, subpath, alias, False, line, field=str(key)))
    return out


def parse_note(path: str, text: str, slugify: Slugify = default_slugify, sep: str = "-") -> Note:
    """Index one note's source (``path`` vault-relative; a ``.ipynb`` is read as its Markdown)."""
    if path.lower().endswith(".ipynb"):
        text = notebook_markdown(text)
    text = text.replace("\r\n", "\n")
    meta, body, offset = scan.split_frontmatter(text)
    found = scan.BodyScan.of(body)
    ids = heading_ids(found.headings, slugify, sep)
    headings = [Heading(h.level, h.text, i, h.line + offset + 1) for h, i in zip(found.headings, ids)]
    links = [Link(r.target, r.subpath, r.alias, r.embed, r.line + offset + 1) for r in found.refs]
    # Markdown links and images to vault files are links too (backlinks, graph, check).
    links += [Link(m.target, m.fragment, None, m.embed, m.line + offset + 1) for m in found.md_links]
    links.sort(key=lambda l: l.line)
    links += _frontmatter_links(meta, text.split("\n")[1:offset])
    tags = [t.lstrip("#") for t in _str_list(meta.get("tags") or meta.get("tag"))]
    tags += [t for t, _, _ in found.tags]
    blocks: dict[str, tuple[int, bool]] = {}
    for b in found.blocks:
        blocks.setdefault(b.id, (b.line + offset + 1, b.own_line))
    note = Note(path, text, meta, offset, headings, links, list(dict.fromkeys(t for t in tags if t)), blocks)
    note.body_scan = found
    return note


class VaultIndex:
    """All notes and attachments of a vault, with Obsidian link resolution.

    ``notes``: vault path -> Note. ``attachments``: vault paths of non-note files.
    """

    def __init__(self, notes: Iterable[Note], attachments: Iterable[str] = (),
                 snippets: SnippetProvider | None = None) -> None:
        self.notes: dict[str, Note] = {n.path: n for n in sorted(notes, key=lambda n: n.path)}
        self.attachments: list[str] = sorted(attachments)
        self.snippets = snippets
        self._by_path: dict[str, str] = {}
        self._by_name: dict[str, list[str]] = {}
        self._by_alias: dict[str, list[str]] = {}
        for p, n in self.notes.items():
            self._by_path[fold(posixpath.splitext(p)[0])] = p
            self._by_name.setdefault(fold(n.name), []).append(p)
            for a in n.aliases:
                self._by_alias.setdefault(fold(a), []).append(p)
        self._att_by_path = {fold(a): a for a in self.attachments}
        # "folder/note" matches any path ending in it: index every proper path suffix.
        self._by_suffix = _suffixes((fold(posixpath.splitext(p)[0]), p) for p in self.notes)
        self._att_by_suffix = _suffixes((fold(a), a) for a in self.attachments)
        self._att_by_name: dict[str, list[str]] = {}
        for a in self.attachments:
            self._att_by_name.setdefault(fold(posixpath.basename(a)), []).append(a)
        self._resolved: dict[tuple[str, str], Resolution] = {}
        self._backlinks: dict[str, list[str]] | None = None
        self._outlinks: dict[str, list[str]] = {}

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_dir(cls, root: str | Path, snippets: SnippetProvider | None = None,
                 slugify: Slugify = default_slugify, sep: str = "-") -> "VaultIndex":
        """Index every ``*.md`` under ``root`` (attachments = every other file; dot-dirs skipped)."""
        root = Path(root)
        notes, atts = [], []
        for f in sorted(root.rglob("*")):
            rel = f.relative_to(root).as_posix()
            if not f.is_file() or any(part.startswith(".") for part in rel.split("/")):
                continue
            if f.suffix.lower() in NOTE_EXTS:
                try:
                    notes.append(parse_note(rel, f.read_text(encoding="utf-8"), slugify, sep))
                except (UnicodeDecodeError, OSError):
                    continue  # not UTF-8 or unreadable: left out (the build reports it, file:line)
            else:
                atts.append(rel)
        return cls(notes, atts, snippets)

    # ---- resolution ---------------------------------------------------------------------
    def resolve(self, target: str, from_note: str | None = None) -> Resolution:
        """Resolve a link target as Obsidian does, from the note at vault path ``from_note``.

        Order: an exact vault path; then (by name, or by path suffix when the target has a
        folder) a candidate in the linking note's folder; then the shortest path; a tie left
        after that picks the first by path and lists all in ``candidates``. Aliases come
        last. ``.py`` targets (or any target the snippet provider knows) are snippets.
        An empty target means the linking note itself (``[[#heading]]``).
        """
        key = (target, from_note or "")
        hit = self._resolved.get(key)
        if hit is None:
            hit = self._resolved[key] = self._resolve(target, from_note)
        return hit

    def _resolve(self, target: str, from_note: str | None) -> Resolution:
        folder = posixpath.dirname(from_note) if from_note else ""
        t = target.strip().replace("\\", "/")
        if not t:
            return Resolution("note", from_note, self.notes.get(from_note or "")) if from_note in self.notes \
                else Resolution("unresolved", message="empty link")
        if t.lower().endswith(".py") and (t.startswith("/") or ".." in t.split("/")):
            return Resolution("error", message=f"snippet reference {target!r} escapes the snippets folder")
        if t.startswith(("./", "../")):
            joined = posixpath.normpath(posixpath.join(folder, t))
            if joined.startswith(".."):
                if t.lower().endswith(".py"):
                    return Resolution("error", message=f"snippet reference {target!r} escapes the snippets folder")
                return Resolution("unresolved", message=f"{target!r} points outside the vault")
            t = joined
        t = t.lstrip("/")
        if t.lower().endswith(".py") or (self.snippets is not None and self.snippets.is_snippet(t)):
            if posixpath.normpath(t).startswith("..") or posixpath.isabs(t):
                return Resolution("error", message=f"snippet reference {target!r} escapes the snippets folder")
            if self.snippets is not None and self.snippets.is_snippet(t):
                return Resolution("snippet", t)
            return Resolution("unresolved", message=f"no snippet named {t!r}")
        low = fold(t)
        ext = posixpath.splitext(low)[1]
        if ext and ext not in NOTE_EXTS and not self._note_like(low):
            return self._pick(self._att_by_path.get(low), self._att_by_name.get(posixpath.basename(low), [])
                              if "/" not in low else self._att_by_suffix.get(low, []),
                              folder, "attachment", target)
        if ext in NOTE_EXTS:
            low = low[: -len(ext)]
        exact = self._by_path.get(low)
        if "/" in low:
            cands = self._by_suffix.get(low, [])
        else:
            cands = self._by_name.get(low, [])
        res = self._pick(exact, cands, folder, "note", target)
        if res.kind == "unresolved" and low in self._by_alias:
            res = self._pick(None, self._by_alias[low], folder, "note", target)
        return res

    def _note_like(self, low: str) -> bool:
        # "[[v1.2 release]]" has an "extension" but names a note.
        # So does a folder-qualified "[[Bug目录/6.10-Bug-02 …]]" (a path suffix).
        return low in self._by_path or low in self._by_name or low in self._by_alias or low in self._by_suffix

    def _pick(self, exact: str | None, cands: list[str], folder: str, kind: str, target: str) -> Resolution:
        if exact:
            return self._result(kind, exact)
        if not cands:
            return Resolution("unresolved", message=f"no note or file named {target!r}")
        if len(cands) == 1:
            return self._result(kind, cands[0])
        local = [c for c in cands if posixpath.dirname(c) == folder]
        if len(local) == 1:
            return self._result(kind, local[0])
        depth = min(c.count("/") for c in cands)
        short = sorted(c for c in cands if c.count("/") == depth)
        if len(short) == 1:
            return self._result(kind, short[0])
        res = self._result(kind, short[0])
        res.candidates = short
        res.message = f"{target!r} is ambiguous: {', '.join(short)}; linking to {short[0]}"
        return res

    def _result(self, kind: str, path: str) -> Resolution:
        return Resolution(kind, path, self.notes.get(path) if kind == "note" else None)

    # ---- graph queries ------------------------------------------------------------------
    def outlinks(self, path: str) -> list[str]:
        """Vault paths of the notes ``path`` links to (body and frontmatter links, embeds too)."""
        cached = self._outlinks.get(path)
        if cached is not None:
            return cached
        out: list[str] = []
        for link in self.notes[path].links:
            r = self.resolve(link.target, path)
            if r.kind == "note" and r.path is not None and r.path != path:
                out.append(r.path)
        self._outlinks[path] = out = list(dict.fromkeys(out))
        return out

    def backlinks(self, path: str) -> list[str]:
        """Vault paths of the notes that link to ``path``, sorted by path."""
        if self._backlinks is None:
            bl: dict[str, list[str]] = {}
            for p in self.notes:
                for q in self.outlinks(p):
                    bl.setdefault(q, []).append(p)
            self._backlinks = bl
        return self._backlinks.get(path, [])

    def frontmatter(self, path: str) -> dict:
        return self.notes[path].frontmatter

    def frontmatter_links(self, path: str, key: str) -> list[Resolution]:
        """Resolutions of the wikilinks in one frontmatter field (e.g. ``"prerequisites"``)."""
        return [self.resolve(l.target, path) for l in self.notes[path].links if l.field == key]

    def tags(self) -> dict[str, list[str]]:
        """Tag -> note paths. A nested tag ``a/b`` also counts under ``a``. Tags are
        case-insensitive (``#Project`` and ``#project`` are one tag, named as first written)."""
        names: dict[str, str] = {}  # folded -> first spelling
        out: dict[str, list[str]] = {}
        for p, n in self.notes.items():
            for t in n.tags:
                parts = t.split("/")
                for i in range(1, len(parts) + 1):
                    name = "/".join(parts[:i])
                    name = names.setdefault(fold(name), name)
                    lst = out.setdefault(name, [])
                    if not lst or lst[-1] != p:
                        lst.append(p)
        return dict(sorted(out.items(), key=lambda item: fold(item[0])))

    def snippet_references(self) -> list[SnippetReference]:
        """Every reference to a known snippet (``[[x.py]]``, ``![[x.py#cell]]``), in note and
        line order. Links in code, math or raw HTML are not references (the scan masks them)."""
        out = []
        for p, n in self.notes.items():
            for l in n.links:
                r = self.resolve(l.target, p)
                if r.kind == "snippet" and r.path is not None:
                    out.append(SnippetReference(p, l.line, r.path, l.subpath or None, l.embed))
        return out

    def snippet_users(self) -> dict[str, list[tuple[str, str]]]:
        """``{"x.py": [(note path, note title), ...]}``: the notes that use each snippet, in
        vault order without duplicates (what the snippet engine lists on snippet pages)."""
        out: dict[str, list[tuple[str, str]]] = {}
        for ref in self.snippet_references():
            users = out.setdefault(ref.name.rsplit("/", 1)[-1], [])
            entry = (ref.note, self.notes[ref.note].title)
            if entry not in users:
                users.append(entry)
        return out

    def links_in_field(self, path: str, key: str) -> list[tuple[Link, Resolution]]:
        """The links of one frontmatter field of note ``path``, each with its resolution."""
        return [(l, self.resolve(l.target, path)) for l in self.notes[path].links if l.field == key]
