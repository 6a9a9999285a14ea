"""Low-level scanning of Obsidian Markdown: frontmatter, code masking, headings, wikilinks, tags.

Everything here works on plain strings and is shared by the index (one pass over the vault)
and the renderer (rewriting a page), so both see exactly the same links, tags and headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import unquote

import yaml

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Masking replaces protected characters by this one (same length, so offsets stay valid).
MASK = "\x00"

_FRONTMATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_FENCE_OPEN = re.compile(r"^([ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[-*+]|\d+[.)])[ \t]+)?)(`{3,}|~{3,})(.*)$")
_INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_DISPLAY_MATH = re.compile(r"\$\$.+?\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?=\S)[^$\n]+?(?<=\S)\$(?!\d)")
_HTML_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>\n]*>", re.S)
_ATTR_LIST = re.compile(r"\{:?[ \t]*[#.][^{}\n]*\}")
_URL = re.compile(r"\bhttps?://[^\s<>()\[\]]+|\]\([^)\n]*\)")

# [[target#heading|alias]] and ![[...]]; the inner text may carry an escaped pipe (tables).
WIKILINK = re.compile(r"(!?)\[\[([^\[\]\n]+?)\]\]")
# Obsidian tags: after whitespace or line start, at least one non-digit character.
TAG = re.compile(r"(?:(?<=\s)|^)#((?:[\w\-/]*[^\W\d_][\w\-/]*))", re.M)
HEADING = re.compile(r"^(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"[ \t]+#+[ \t]*$")
_ATTR_ID = re.compile(r"[ \t]*\{[:]?[ \t]*#([\w\-:.]+)[^}]*\}[ \t]*$")


#: Frontmatter whose aliases would expand to more values than this is refused, unexpanded.
MAX_YAML_VALUES = 10_000


def yaml_alias_bomb(block: str) -> tuple[int, str] | None:
    """(1-based line in ``block``, message) when the YAML ``block``'s aliases (``*name``) would
    expand to more than :data:`MAX_YAML_VALUES` values (a "billion laughs" bomb); else None.
    Counts on the composed node graph, where each anchor is one node: nothing is expanded."""
    if "*" not in block or "&" not in block:
        return None
    try:
        root = yaml.compose(block, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        return None  # malformed: reported as such
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = 1  # a recursive alias counts once
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > MAX_YAML_VALUES:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > MAX_YAML_VALUES:
                    break
        sizes[key] = total
        return total

    if root is None or size(root) <= MAX_YAML_VALUES:
        return None
    line = next((i + 1 for i, l in enumerate(block.split("\n")) if "&" in l), 1)
    return line, (f"frontmatter refused: its YAML aliases would expand to more than {MAX_YAML_VALUES:,} values "
                  "(an alias bomb); it is ignored, the note builds without it")


def split_frontmatter(text: str) -> tuple[dict, str, int]:
    """Split ``text`` into (frontmatter dict, body, number of lines the frontmatter took).
    Malformed YAML: ``({}, text, 0)``; an alias bomb: ``({}, body, lines)`` (never expanded)."""
    m = _FRONTMATTER.match(text)
    if not m:
        return {}, text, 0
    if yaml_alias_bomb(m.group(1) or ""):
        return {}, text[m.end():], text[: m.end()].count("\n")
    try:
        meta = yaml.load(m.group(1) or "", Loader=_YAML_LOADER) or {}
    except yaml.YAMLError:
        return {}, text, 0
    if not isinstance(meta, dict):
        return {}, text, 0
    return meta, text[m.end():], text[: m.end()].count("\n")


def fenced_line_mask(lines: list[str]) -> list[bool]:
    """For each line, True when it is part of a fenced code block (fence lines included)."""
    out = [False] * len(lines)
    fence: tuple[str, int] | None = None
    for i, line in enumerate(lines):
        if fence is None:
            m = _FENCE_OPEN.match(line)
            if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
                fence = (m.group(2)[0], len(m.group(2)))
                out[i] = True
        else:
            out[i] = True
            stripped = line.strip().lstrip(">").strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= fence[1]:
                fence = None
    return out


#: Tags whose raw HTML block is HTML, not Markdown (Python-Markdown's block-level elements,
#: plus SVG and MathML), from the opening line to the matching closing tag.
HTML_BLOCK_TAGS = frozenset((
    "address article aside blockquote body canvas center colgroup dd details dialog div dl dt "
    "fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html iframe legend li "
    "main map math menu nav noscript object ol output p pre progress section script style summary svg "
    "table tbody td template textarea tfoot th thead tr ul video"
).split())
_HTML_OPEN = re.compile(r"^ {0,3}<([A-Za-z][A-Za-z0-9-]*)(?=[\s/>]|$)([^>]*)")


def html_block_mask(lines: list[str], fenced: list[bool]) -> list[bool]:
    """For each line, True when it is inside a raw HTML block (nothing there is a link or tag,
    as in Obsidian). A block opened with a ``markdown`` attribute holds Markdown (md_in_html)."""
    out = [False] * len(lines)
    i, n = 0, len(lines)
    while i < n:
        m = None if fenced[i] else _HTML_OPEN.match(lines[i])
        tag = m.group(1).lower() if m else ""
        if not m or tag not in HTML_BLOCK_TAGS or re.search(r"\bmarkdown\s*=", m.group(2)):
            i += 1
            continue
        opener = re.compile(rf"<{tag}(?=[\s/>])", re.I)
        closer = re.compile(rf"</{tag}\s*>", re.I)
        depth, j = 0, i
        closed = closer.search("\n".join(lines[i:])) is not None
        while j < n:
            if j > i and not lines[j].strip() and not closed:
                break  # never closed: the block ends at the blank line
            depth += len(opener.findall(lines[j])) - len(closer.findall(lines[j]))
            out[j] = True
            if depth <= 0:
                break
            j += 1
        i = j + 1
    return out


def mask_code(text: str) -> str:
    """``text`` with fenced code, raw HTML blocks, inline code, math, HTML tags and URLs
    replaced by MASK.

    The result has the same length and line structure, so regex offsets on it index ``text``.
    """
    lines = text.split("\n")
    fenced = fenced_line_mask(lines)
    html = html_block_mask(lines, fenced) if "<" in text else [False] * len(lines)
    masked = "\n".join(MASK * len(l) if f or h else l for l, f, h in zip(lines, fenced, html))

    def blank(m: re.Match) -> str:
        return "".join("\n" if c == "\n" else MASK for c in m.group(0))

    for rx in (_INLINE_CODE, _DISPLAY_MATH, _INLINE_MATH, _HTML_TAG, _ATTR_LIST, _URL):
        masked = rx.sub(blank, masked)
    return masked


@dataclass(frozen=True)
class WikiRef:
    """One parsed ``[[...]]`` occurrence. ``start``/``end`` index the scanned text."""

    embed: bool
    target: str  # the name or path part, e.g. "核心组件/位置编码" or "x.py" ("" = this note)
    subpath: str | None  # text after "#", e.g. "正弦位置编码" or "^block" or a cell title
    alias: str | None  # text after "|" (for images: a width like "300")
    start: int
    end: int
    line: int  # 0-based line in the scanned text


def parse_wikilink(inner: str) -> tuple[str, str | None, str | None]:
    """Split the inside of ``[[...]]`` into (target, subpath, alias); ``\\|`` counts as ``|``."""
    inner = inner.replace("\\|", "|")
    alias = None
    if "|" in inner:
        inner, alias = inner.split("|", 1)
        alias = alias.strip()
    subpath = None
    if "#" in inner:
        inner, subpath = inner.split("#", 1)
        subpath = subpath.strip()
    return inner.strip(), subpath, alias


def find_wikilinks(text: str, masked: str | None = None) -> list[WikiRef]:
    """All wikilinks and embeds in ``text`` outside code (``masked`` = ``mask_code(text)``)."""
    masked = mask_code(text) if masked is None else masked
    refs = []
    line, pos = 0, 0
    for m in WIKILINK.finditer(masked):
        line += masked.count("\n", pos, m.start())
        pos = m.start()
        target, subpath, alias = parse_wikilink(text[m.start(2): m.end(2)])
        refs.append(WikiRef(bool(m.group(1)), target, subpath, alias, m.start(), m.end(), line))
    return refs


def find_tags(text: str, masked: str | None = None) -> list[tuple[str, int, int]]:
    """Inline ``#tags`` outside code/links/headings as (tag, start, end) of the ``#tag`` text."""
    masked = mask_code(text) if masked is None else masked
    # Wikilinks are not tag hosts either ([[note#heading]]).
    masked = WIKILINK.sub(lambda m: MASK * len(m.group(0)), masked)
    return [(m.group(1).rstrip("/"), m.start(), m.end()) for m in TAG.finditer(masked)]


# [text](target "title") and ![alt](target): the target may be <wrapped>, hold (balanced) parens.
_MD_LINK_FULL = re.compile(
    r"(!?)\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]"
    r"\([ \t]*(<[^<>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'))?[ \t]*\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:|^//|^#|^/")


@dataclass(frozen=True)
class MdLink:
    """One Markdown link or image to a vault file (``[t](Note.md)``, ``![a](pic.png#x)``).
    ``start``/``end`` index the whole link, ``target_start``/``target_end`` its raw target."""

    embed: bool
    text: str
    target: str  # URL-decoded path, without the fragment
    fragment: str | None
    start: int
    end: int
    target_start: int
    target_end: int
    line: int


def find_md_links(text: str, masked: str) -> list[MdLink]:
    """Markdown links and images outside code whose target is a relative path (no scheme,
    not ``#``-only, not site-absolute): Obsidian resolves those like wikilinks."""
    out = []
    for m in _MD_LINK_FULL.finditer(text):
        if masked[m.start()] == MASK or (m.group(1) and masked[m.start() + 1] == MASK):
            continue
        raw = m.group(3)
        t_start, t_end = m.start(3), m.end(3)
        if raw.startswith("<"):
            raw, t_start, t_end = raw[1:-1], t_start + 1, t_end - 1
        if not raw or _SCHEME.match(raw):
            continue
        path, _, fragment = raw.partition("#")
        out.append(MdLink(bool(m.group(1)), m.group(2), unquote(path), unquote(fragment) or None,
                          m.start(), m.end(), t_start, t_end, masked.count("\n", 0, m.start())))
    return out


@dataclass(frozen=True)
class RawHeading:
    level: int
    text: str  # Markdown source of the heading text, closing hashes and {#id} removed
    explicit_id: str | None
    line: int  # 0-based


def find_headings(text: str, masked: str | None = None) -> list[RawHeading]:
    """ATX headings outside fenced code (``#tag`` lines are tags, not headings, as in Obsidian)."""
    masked = mask_code(text) if masked is None else masked
    out = []
    for i, (line, mline) in enumerate(zip(text.split("\n"), masked.split("\n"))):
        if not mline.startswith("#"):
            continue
        m = HEADING.match(line)
        if not m:
            continue
        body = _CLOSING_HASHES.sub("", m.group(2) or "")
        explicit = None
        am = _ATTR_ID.search(body)
        if am:
            explicit, body = am.group(1), body[: am.start()]
        out.append(RawHeading(len(m.group(1)), body.strip(), explicit, i))
    return out


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPH = re.compile(r"(\*\*|__|\*|~~|==)(.+?)\1")


def heading_plain_text(text: str) -> str:
    """Approximate the text the toc extension slugifies for a heading's Markdown source."""

    def wiki(m: re.Match) -> str:
        target, subpath, alias = parse_wikilink(m.group(2))
        if alias:
            return alias
        return f"{target} > {subpath}" if subpath and target else (subpath or target)

    text = WIKILINK.sub(wiki, text)
    text = _INLINE_CODE.sub(lambda m: m.group(2).strip(), text)
    text = _MD_LINK.sub(lambda m: m.group(1), text)
    for _ in range(2):
        text = _EMPH.sub(lambda m: m.group(2), text)
    text = re.sub(r"<[^>]+>", "", text)
    return text.replace("\\", "")


# Obsidian block ids: "^id" (letters, digits, dashes) at the end of a line after a space, or
# alone on its own line (then it names the block just above: list, quote, table, callout).
_BLOCK_MARK = re.compile(r"(?:^|(?<=[ \t]))\^([A-Za-z0-9-]+)[ \t]*$", re.M)


@dataclass(frozen=True)
class BlockMark:
    """One ``^id`` marker: ``start``/``end`` index the ``^id`` text; ``own_line`` when alone."""

    id: str
    start: int
    end: int
    line: int  # 0-based line in the scanned text
    own_line: bool


def find_blocks(text: str, masked: str | None = None) -> list[BlockMark]:
    """Block id markers outside code, math and HTML."""
    masked = mask_code(text) if masked is None else masked
    out = []
    for m in _BLOCK_MARK.finditer(masked):
        ls = masked.rfind("\n", 0, m.start()) + 1
        own = not masked[ls:m.start()].strip()
        out.append(BlockMark(m.group(1), m.start(), m.end(), masked.count("\n", 0, m.start()), own))
    return out


@dataclass(frozen=True)
class BodyScan:
    """Everything the index and the renderer read from one note body, computed once."""

    text: str
    masked: str
    refs: list[WikiRef]
    tags: list[tuple[str, int, int]]
    headings: list[RawHeading]
    blocks: list[BlockMark]
    md_links: list[MdLink]

    @classmethod
    def of(cls, text: str) -> "BodyScan":
        masked = mask_code(text)
        md_links = find_md_links(text, masked) if "](" in text else []
        return cls(text, masked, find_wikilinks(text, masked), find_tags(text, masked), find_headings(text, masked),
                   find_blocks(text, masked), md_links)

    def for_text(self, text: str) -> "BodyScan | None":
        """This scan re-based onto ``text`` when ``text`` is this body without its leading blank
        lines (MkDocs strips them after the frontmatter); None for any other text."""
        if text == self.text:
            return self
        cut = len(self.text) - len(text)
        if cut <= 0 or self.text[:cut].strip("\n") or not self.text.endswith(text):
            return None
        lines = self.text.count("\n", 0, cut)
        return BodyScan(
            text,
            self.masked[cut:],
            [replace(r, start=r.start - cut, end=r.end - cut, line=r.line - lines) for r in self.refs],
            [(t, s - cut, e - cut) for t, s, e in self.tags],
            [replace(h, line=h.line - lines) for h in self.headings],
            [replace(b, start=b.start - cut, end=b.end - cut, line=b.line - lines) for b in self.blocks],
            [replace(l, start=l.start - cut, end=l.end - cut, target_start=l.target_start - cut,
                     target_end=l.target_end - cut, line=l.line - lines) for l in self.md_links],
        )
