"""Rewrite one page's Obsidian Markdown into plain Markdown + stashed HTML, from the index.

Wikilinks become relative Markdown links to the target's ``.md`` source (MkDocs turns them
into page URLs, with or without directory URLs), so every link kbgen writes is relative.
"""

from __future__ import annotations

import bisect
import hashlib
import posixpath
import re
from dataclasses import dataclass, field
from html import escape
from typing import Callable
from urllib.parse import quote

from kbgen.contracts import SnippetProvider, SnippetRefError
from kbgen.vault import scan
from kbgen.vault.index import IMAGE_EXTS, Note, VaultIndex, fold


@dataclass(frozen=True)
class Problem:
    """A problem the build reports. ``level``: "unresolved" | "ambiguous" | "cycle" | "depth"
    (embeds nested too deep) | "error" | "invalid" (a malformed note: frontmatter, unclosed
    fence, not UTF-8, refused symlink; a warning)."""

    note: str
    line: int
    level: str
    message: str

    def __str__(self) -> str:
        return f"{self.note}:{self.line}: {self.message}"


def rel_href(target: str, page_path: str, fragment: str | None = None) -> str:
    """Relative, URL-quoted link from the source file ``page_path`` to vault path ``target``."""
    rel = _relpath(target, posixpath.dirname(page_path))
    href = _url_escape(rel)
    return f"{href}#{_url_escape(fragment)}" if fragment else href


def _relpath(target: str, start: str) -> str:
    """``posixpath.relpath`` for vault-relative paths (no file system, no cwd lookups)."""
    t, s = target.split("/"), start.split("/") if start else []
    n = 0
    while n < len(s) and n < len(t) - 1 and s[n] == t[n]:
        n += 1
    return "/".join([".."] * (len(s) - n) + t[n:])


_URL_UNSAFE = re.compile(r"[%\s()<>#?\"'\[\]\\]")


def _url_escape(s: str) -> str:
    """Percent-encode only what breaks a Markdown link (MkDocs compares fragments unquoted)."""
    return _URL_UNSAFE.sub(lambda m: quote(m.group(0), safe=""), s)


def _text(s: str) -> str:
    """Escape ``s`` for a Markdown link text."""
    return re.sub(r"([\\\[\]`*_<>])", r"\\\1", s)


_SLUG_KEEP = re.compile(r"[^\w\-]")
_SLUG_MAX_BYTES = 120


def tag_slug(tag: str) -> str:
    """File-name form of a tag: case-folded (``#Project`` and ``#project`` are one tag), nested
    tags keep their folders, and it never collides (``c``, ``c++``, ``c#`` give ``c``,
    ``c.2b.2b``, ``c.23``: every character but letters, digits, ``_`` and ``-`` is written as
    ``.`` + its UTF-8 bytes in hex, ``.`` itself too). A part longer than 120 bytes keeps its
    start and ends with a hash of the whole part."""

    def part_slug(part: str) -> str:
        slug = _SLUG_KEEP.sub(lambda m: "".join(f".{b:02x}" for b in m.group(0).encode("utf-8")), fold(part)) or ".00"
        if len(slug.encode("utf-8")) > _SLUG_MAX_BYTES:
            digest = hashlib.sha1(slug.encode("utf-8")).hexdigest()[:12]
            while len(slug.encode("utf-8")) > _SLUG_MAX_BYTES - 13:
                slug = slug[:-1]
            slug = f"{slug}~{digest}"
        return slug

    return "/".join(part_slug(part) for part in tag.split("/"))


def _inside(spans: list[tuple[int, int]], offset: int) -> bool:
    i = bisect.bisect_right(spans, (offset, float("inf"))) - 1
    return i >= 0 and spans[i][0] <= offset <= spans[i][1]


_EMBED_LINE = re.compile(r"^([ \t]*(?:>[ \t]?)*[ \t]*)$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
_BLOCK_START = re.compile(r"^[ \t]*(?:#{1,6}[ \t]|```|~~~)")

# Obsidian's inline footnote ^[text] (its text may hold [brackets] and [[wikilinks]]).
_INLINE_FOOTNOTE = re.compile(r"\^\[((?:[^\[\]\n]|\[\[[^\[\]\n]*\]\]|\[[^\[\]\n]*\])+)\]")

#: Ids of headings inside embeds start with this (unique on the page, kept out of its toc).
EMBED_HEADING_PREFIX = "kb-embed-"

#: Embeds nested deeper than this are not expanded (reported as a depth limit, not a cycle).
MAX_EMBED_DEPTH = 8


@dataclass
class Renderer:
    """Renders pages of one build. ``stash(html) -> placeholder`` keeps HTML from Markdown."""

    index: VaultIndex
    snippets: SnippetProvider | None = None
    stash: Callable[[str], str] = lambda html: html
    #: ``inline_stash(html) -> token`` for the inline HTML (links, tags) outside headings: kept
    #: from Markdown's raw-HTML parsers, which otherwise re-read every link on every page.
    inline_stash: Callable[[str], str] = lambda html: html
    tags_dir: str | None = "tags"  # vault folder of generated tag pages; None: tags stay text
    #: ``url_for(vault_path, page_path)`` -> final relative URL, or None. When set (the MkDocs
    #: plugin sets it), links are written as HTML with final URLs; otherwise as ``.md`` links.
    url_for: Callable[[str, str], str | None] | None = None
    problems: list[Problem] = field(default_factory=list)
    #: ``block_token(id) -> text`` marks where block id ``id`` goes: the Markdown extension gives
    #: the enclosing element (paragraph, list item, or the list/quote/table/callout above an
    #: own-line marker) that id. None: markers are just hidden.
    block_token: Callable[[str], str] | None = None
    _embed_counter: int = 0
    _footnote_counter: int = 0

    # ---- entry point --------------------------------------------------------------------
    def render(self, text: str, page_path: str, *, note_path: str | None = None, line_offset: int = 0,
               page_url: str = "", _stack: tuple = ()) -> str:
        """Rewrite ``text`` (a page body) for the page at vault path ``page_path``.

        ``note_path`` is the note the text comes from (resolution is relative to it; it
        differs from ``page_path`` inside embeds); ``line_offset`` maps text lines to file lines.
        """
        note_path = note_path if note_path is not None else page_path
        if not _stack and note_path in self.index.notes:
            _stack = ((note_path, ""),)
        note = self.index.notes.get(note_path)
        found = note.body_scan.for_text(text) if note is not None and note.body_scan is not None else None
        found = found or scan.BodyScan.of(text)
        edits: list[tuple[int, int, str]] = []
        notes_inline = self._inline_footnotes(text, found.masked, page_path, note_path, line_offset, page_url,
                                              _stack, edits)
        for md in found.md_links:
            if not _inside(notes_inline, md.start):
                self._md_link(md, text, page_path, note_path, line_offset + md.line + 1, edits, notes_inline)
        notes_inline.sort()
        for ref in found.refs:
            if _inside(notes_inline, ref.start):
                continue
            line = line_offset + ref.line + 1
            edits.append((ref.start, ref.end, self._wikilink(ref, text, page_path, note_path, line, page_url, _stack)))
        for mark in found.blocks:
            # Markers are hidden; on the page's own text (not inside an embed) they become ids.
            token = self.block_token(mark.id) if self.block_token is not None and len(_stack) <= 1 else ""
            edits.append((mark.start, mark.end, token))
        if self.tags_dir is not None:
            for tag, start, end in found.tags:
                if _inside(notes_inline, start):
                    continue
                edits.append((start, end, self.link(f"{self.tags_dir}/{tag_slug(tag)}.md", page_path,
                                                    f"#{tag}", cls="kb-tag")))
        edits.sort()
        heading_starts = self._heading_spans(text, found.headings)
        out, pos = [], 0
        for start, end, repl in edits:
            out.append(text[pos:start])
            if repl.startswith(("<a ", "<span ")) and not _inside(heading_starts, start):
                repl = self.inline_stash(repl)
            out.append(repl)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _md_link(self, md: scan.MdLink, text: str, page_path: str, note_path: str, line: int,
                 edits: list[tuple[int, int, str]], taken: list[tuple[int, int]]) -> None:
        """A Markdown link or image to a vault path, resolved by the wikilink rules: the target is
        rewritten to the file found (a heading fragment to its id); to nothing, it is shown as
        unresolved (``taken`` gets its span, so nothing inside it is rendered again)."""
        res = self.index.resolve(md.target, note_path)
        raw = text[md.start: md.end]
        if res.kind in ("note", "attachment") and res.path is not None:
            fragment = md.fragment
            if res.note is not None and fragment:
                if fragment.startswith("^"):
                    fragment = fragment if fragment[1:] in res.note.blocks else None
                else:
                    h = res.note.heading(fragment)
                    fragment = h.id if h is not None else fragment
            href = rel_href(res.path, page_path, fragment)
            if res.path == page_path and fragment:
                href = "#" + _url_escape(fragment)
            edits.append((md.target_start, md.target_end, href))
            if res.kind == "note" and not md.embed and text[md.end: md.end + 1] != "{":
                edits.append((md.end, md.end, "{ .kb-link }"))  # hover previews, like wikilinks
            return
        if res.kind == "snippet" and res.path is not None and self.snippets is not None and not md.embed:
            edits.append((md.target_start, md.target_end, rel_href(self.snippets.page_src_uri(res.path), page_path)))
            return
        if self.url_for is not None and self.url_for(posixpath.normpath(
                posixpath.join(posixpath.dirname(page_path), md.target)), page_path) is not None:
            return  # a file the build generates (tag pages, snippet pages): MkDocs links it
        kind = "image" if md.embed else "link"
        self._report(note_path, line, "error" if res.kind == "error" else "unresolved",
                     f"unresolved {kind} {raw}: {res.message}")
        edits.append((md.start, md.end, self._unresolved(md.text or md.target, res.message, error=res.kind == "error")))
        taken.append((md.start, md.end))

    def _inline_footnotes(self, text: str, masked: str, page_path: str, note_path: str, line_offset: int,
                          page_url: str, stack: tuple, edits: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
        """Obsidian's inline footnotes ``^[text]`` become ``[^kb-N]`` references with their
        definitions after the text (the ``footnotes`` extension renders both). Returns the
        spans they took (their links and tags are rendered inside the definition)."""
        spans = []
        definitions = []
        for m in _INLINE_FOOTNOTE.finditer(masked):
            self._footnote_counter += 1
            label = f"kb-{self._footnote_counter}"
            inner = text[m.start(1): m.end(1)]
            line = line_offset + masked.count("\n", 0, m.start())
            body = self.render(inner, page_path, note_path=note_path, line_offset=line, page_url=page_url,
                               _stack=stack) if "[[" in inner or "#" in inner else inner
            edits.append((m.start(), m.end(), f"[^{label}]"))
            definitions.append(f"[^{label}]: {body}")
            spans.append((m.start(), m.end()))
        if definitions:
            edits.append((len(text), len(text), "\n\n" + "\n".join(definitions) + "\n"))
        return spans

    @staticmethod
    def _heading_spans(text: str, found: list[scan.RawHeading]) -> list[tuple[int, int]]:
        """(start, end) character offsets of the heading lines of ``text``: links there stay
        inline HTML, since the toc and the page title read the heading's text."""
        headings = {h.line for h in found}
        spans, pos = [], 0
        for i, line in enumerate(text.split("\n")):
            if i in headings:
                spans.append((pos, pos + len(line)))
            pos += len(line) + 1
        return spans

    def link(self, target: str, page_path: str, text: str, fragment: str | None = None,
             cls: str = "kb-link") -> str:
        """A link from the page ``page_path`` to the vault file ``target`` (``fragment`` = id)."""
        url = self.url_for(target, page_path) if self.url_for is not None else None
        if url is None:
            classes = " ".join("." + c for c in cls.split())
            return f"[{_text(text)}]({rel_href(target, page_path, fragment)}){{ {classes} }}"
        if target == page_path and fragment:
            url = ""
        href = url + ("#" + fragment if fragment else "")
        return f'<a class="{cls}" href="{escape(href or "./")}">{escape(text)}</a>'

    # ---- one wikilink -------------------------------------------------------------------
    def _report(self, note: str, line: int, level: str, message: str) -> None:
        self.problems.append(Problem(note, line, level, message))

    def _unresolved(self, shown: str, why: str, error: bool = False) -> str:
        cls = "kb-unresolved kb-error" if error else "kb-unresolved"
        return f'<span class="{cls}" title="{escape(why)}">{escape(shown)}</span>'

    def _wikilink(self, ref: scan.WikiRef, text: str, page_path: str, note_path: str, line: int,
                  page_url: str, stack: tuple) -> str:
        res = self.index.resolve(ref.target, note_path)
        raw = text[ref.start: ref.end]
        if res.ambiguous:
            self._report(note_path, line, "ambiguous", res.message)
        if res.kind == "error":
            self._report(note_path, line, "error", res.message)
            return self._unresolved(raw, res.message, error=True)
        if res.kind == "unresolved":
            self._report(note_path, line, "unresolved", f"unresolved link {raw}: {res.message}")
            return self._unresolved(ref.alias or ref.target or raw, res.message)
        if res.kind == "snippet" and res.path is not None:
            return self._snippet(ref, res.path, raw, page_path, note_path, line, page_url, text)
        if res.kind == "attachment" and res.path is not None:
            return self._attachment(ref, res.path, page_path)
        note = res.note
        assert note is not None
        if ref.embed and self._own_line(text, ref) is not None and "|" not in text[ref.start - 1: ref.start]:
            return self._embed_note(ref, note, raw, page_path, note_path, line, page_url, text, stack)
        return self._note_link(ref, note, page_path, note_path, line)

    def _note_link(self, ref: scan.WikiRef, note: Note, page_path: str, note_path: str, line: int) -> str:
        fragment = None
        shown = ref.alias
        if ref.subpath and ref.subpath.startswith("^"):
            if ref.subpath[1:] in note.blocks:
                fragment = ref.subpath
            else:
                self._report(note_path, line, "unresolved", f"no block {ref.subpath} in {note.path}; linking to the note")
            if not shown:
                shown = f"{ref.target or note.title} > {ref.subpath}"
        elif ref.subpath:
            h = note.heading(ref.subpath)
            if h is None:
                self._report(note_path, line, "unresolved",
                             f"no heading {ref.subpath!r} in {note.path}; linking to the note")
            else:
                fragment = h.id
            if not shown:
                heading = ref.subpath.split("#")[-1]
                shown = f"{ref.target} > {heading}" if ref.target else heading
        if not shown:
            shown = ref.target.rsplit("/", 1)[-1] if ref.target else note.title
            if shown.lower().endswith(".md"):
                shown = shown[:-3]
        if note.path == page_path and fragment and self.url_for is None:
            return f"[{_text(shown)}](#{_url_escape(fragment)}){{ .kb-link }}"
        return self.link(note.path, page_path, shown, fragment)

    def _attachment(self, ref: scan.WikiRef, path: str, page_path: str) -> str:
        href = rel_href(path, page_path)
        name = posixpath.basename(path)
        if ref.embed and posixpath.splitext(path)[1].lower() in IMAGE_EXTS:
            attrs = []
            if ref.alias:
                m = re.fullmatch(r"(\d+)(?:x(\d+))?", ref.alias.strip())
                if m:
                    attrs.append(f'width="{m.group(1)}"')
                    if m.group(2):
                        attrs.append(f'height="{m.group(2)}"')
            alt = ref.alias if ref.alias and not attrs else posixpath.splitext(name)[0]
            return f"![{_text(alt)}]({href}){{ {' '.join(attrs + ['.kb-image'])} }}"
        return self.link(path, page_path, ref.alias or name)

    @staticmethod
    def _own_line(text: str, ref: scan.WikiRef) -> str | None:
        """The line prefix (blockquote markers, indentation) when the embed is alone on its line."""
        ls = text.rfind("\n", 0, ref.start) + 1
        le = text.find("\n", ref.end)
        le = len(text) if le < 0 else le
        if text[ref.end:le].strip():
            return None
        m = _EMBED_LINE.match(text[ls: ref.start])
        return m.group(1) if m else None

    @staticmethod
    def _block(body: str, prefix: str) -> str:
        """``body`` as a block in place of an embed alone on its line after ``prefix``.

        Every line repeats the prefix (blockquote markers, list indentation) so an embed inside
        a callout or list item stays inside it; blank lines around keep it a separate block.
        """
        cont = re.sub(r"[-*+]|\d+[.)]", lambda m: " " * len(m.group(0)), prefix)
        lines = [(cont + l).rstrip() if l else cont.rstrip() for l in body.split("\n")]
        return "\n" + "\n".join(lines) + "\n" + cont.rstrip()

    def _embed_note(self, ref: scan.WikiRef, note: Note, raw: str, page_path: str, note_path: str, line: int,
                    page_url: str, text: str, stack: tuple) -> str:
        key = (note.path, (ref.subpath or "").lower())
        chain = " -> ".join(p + (f"#{s}" if s else "") for p, s in stack + (key,))
        if key in stack:
            self._report(note_path, line, "cycle", f"embed cycle {raw}: {chain}")
            return self._unresolved(raw, "embed cycle: " + chain)
        if len(stack) > MAX_EMBED_DEPTH:
            why = f"embeds nested deeper than {MAX_EMBED_DEPTH} levels are not expanded"
            self._report(note_path, line, "depth", f"embed {raw} not expanded: {why} ({chain})")
            return self._unresolved(raw, why)
        section, first = self._section(note, ref.subpath, note_path, line)
        self._embed_counter += 1
        section = self._isolate_headings(section, self._embed_counter)
        inner = self.render(section, page_path, note_path=note.path, line_offset=first, page_url=page_url,
                            _stack=stack + (key,))
        title = note.title + (f" > {ref.subpath}" if ref.subpath else "")
        frag = None
        if ref.subpath and ref.subpath.startswith("^"):
            frag = ref.subpath if ref.subpath[1:] in note.blocks else None
        elif ref.subpath:
            h = note.heading(ref.subpath)
            frag = h.id if h else None
        head = self.link(note.path, page_path, title, frag, cls="kb-embed-title")
        body = f'<div class="kb-note-embed" markdown="block">\n\n{head}\n\n{inner.strip()}\n\n</div>\n'
        prefix = self._own_line(text, ref) or ""
        return self._block(body, prefix)

    def _section(self, note: Note, subpath: str | None, note_path: str, line: int) -> tuple[str, int]:
        """(markdown, line offset) of a whole note body, a heading's section, or a ``^block``."""
        body = note.body
        if not subpath:
            return body, note.body_offset
        lines = note.source.split("\n")
        if subpath.startswith("^"):
            found = note.blocks.get(subpath[1:])
            if found is None:
                self._report(note_path, line, "unresolved", f"no block ^{subpath[1:]} in {note.path}")
                return body, note.body_offset
            first, last = self._block_lines(lines, note.body_offset, found[0] - 1, found[1])
            return "\n".join(lines[first: last + 1]), first
        h = note.heading(subpath)
        if h is None:
            self._report(note_path, line, "unresolved", f"no heading {subpath!r} in {note.path}; embedding the note")
            return body, note.body_offset
        end = len(lines)
        for other in note.headings:
            if other.line > h.line and other.level <= h.level:
                end = other.line - 1
                break
        return "\n".join(lines[h.line - 1: end]), h.line - 1

    @staticmethod
    def _block_lines(lines: list[str], body_start: int, mark: int, own_line: bool) -> tuple[int, int]:
        """(first, last) 0-based lines of the block a ``^id`` marker on line ``mark`` names: the
        list item or paragraph it ends, or, alone on its line, the block just above it."""
        last = mark
        if own_line:
            last = mark - 1
            while last > body_start and not lines[last].strip():
                last -= 1
        elif _LIST_ITEM.match(lines[mark]):
            return mark, mark
        first = last
        while first - 1 >= body_start and lines[first - 1].strip() and not _BLOCK_START.match(lines[first]):
            if not own_line and _LIST_ITEM.match(lines[first - 1]):
                break
            first -= 1
        return first, last

    @staticmethod
    def _isolate_headings(section: str, n: int) -> str:
        """Give embedded headings their own ids so the host page's heading ids do not shift."""
        masked = scan.mask_code(section)
        lines = section.split("\n")
        for h in scan.find_headings(section, masked):
            own = scan._ATTR_ID.sub("", lines[h.line]) if h.explicit_id else lines[h.line]
            lines[h.line] = own.rstrip() + f" {{ #{EMBED_HEADING_PREFIX}{n}-{h.line} }}"
        return "\n".join(lines)

    def _snippet(self, ref: scan.WikiRef, name: str, raw: str, page_path: str, note_path: str, line: int,
                 page_url: str, text: str) -> str:
        provider = self.snippets
        assert provider is not None
        if not ref.embed:
            return self.link(provider.page_src_uri(name), page_path, ref.alias or name,
                             cls="kb-link kb-snippet-link")
        try:
            html = provider.embed_html(name, ref.subpath, page_url=page_url, note=note_path, line=line)
        except SnippetRefError as exc:
            self._report(note_path, line, "error", str(exc))
            return self._unresolved(raw, str(exc), error=True)
        prefix = self._own_line(text, ref)
        placeholder = self.stash(html)
        if prefix is None:
            return placeholder
        return self._block(placeholder + "\n", prefix)
