"""The glossary (术语表): a generated page from the notes' frontmatter ``terms:``, and hover
definitions on the first use of each term in the other notes.

A note declares the terms it introduces::

    terms:
      - {term: 自注意力, en: Self-Attention, def: 每个词按相关程度从所有词汇总信息。}

The glossary page lists every term as ``术语（English）：定义 — 出处`` (linking the defining
note), ordered by the defining note's path, then by term. In every other note the first
occurrence of a term of two or more characters (outside code, links, headings, math) becomes
``<abbr class="kb-term" title="English：定义">术语</abbr>``: a hover definition that works
offline. A term defined by two notes is a warning naming both files.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass, field
from typing import Any, Iterable

from markdown import Extension, Markdown
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString

#: Page texts by language (the theme's ``language``; ``zh*`` or anything else = English).
LABELS = {
    "zh": {"title": "术语表", "intro": "本站笔记引入的术语，共 {n} 个。把鼠标停在正文里带虚线的术语上也能看到定义。",
           "source": "见", "empty": "还没有笔记在 frontmatter 里声明 `terms:`。"},
    "en": {"title": "Glossary", "intro": "The {n} terms the notes introduce. Hover a dotted term in a note to see its definition.",
           "source": "see", "empty": "No note declares `terms:` in its frontmatter yet."},
}


def labels_for(language: str | None) -> dict[str, str]:
    return LABELS["zh" if (language or "").lower().startswith("zh") else "en"]


@dataclass(frozen=True)
class Term:
    """One term a note introduces (``line``: 1-based line of its entry in the note's frontmatter)."""

    term: str
    en: str
    definition: str
    note: str  # vault path of the defining note
    note_title: str
    line: int

    @property
    def hover(self) -> str:
        return f"{self.en}：{self.definition}" if self.en else self.definition


@dataclass
class Glossary:
    """Every term (first definition wins) and the problems found (``file:line: ...`` warnings)."""

    terms: list[Term] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def by_term(self) -> dict[str, Term]:
        return {t.term: t for t in self.terms}


def _entry_line(source: str, term: str) -> int:
    """1-based line of the ``terms:`` entry for ``term`` in ``source``'s frontmatter (else of
    ``terms:`` itself, else 1)."""
    lines = source.split("\n")
    if not lines or lines[0].strip() != "---":
        return 1
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), len(lines))
    start = next((i for i in range(end) if re.match(r"terms[ \t]*:", lines[i])), None)
    if start is None:
        return 1
    entry = re.compile(r"(?:\bterm[ \t]*:|^[ \t]*-)[ \t]*[\"']?" + re.escape(term) + r"(?![^\s,}\"'])")
    for i in range(start, end):
        if i > start and re.match(r"[A-Za-z_]", lines[i]):
            break  # the next top-level key
        if entry.search(lines[i]):
            return i + 1
    return start + 1


def collect_terms(notes: Iterable[tuple[str, str, dict[str, Any], str]]) -> Glossary:
    """Glossary of ``(path, title, frontmatter, source)`` notes; sorted by note path, then term."""
    g = Glossary()
    seen: dict[str, Term] = {}
    for path, title, meta, source in notes:
        raw = meta.get("terms")
        if raw is None:
            continue
        if not isinstance(raw, list):
            g.problems.append(f"{path}:{_entry_line(source, 'terms')}: 'terms' must be a list of "
                              "{term: …, en: …, def: …}")
            continue
        for item in raw:
            if not isinstance(item, dict) or not isinstance(item.get("term"), str) or not str(item.get("def") or "").strip():
                shown = item.get("term") if isinstance(item, dict) else item
                g.problems.append(f"{path}:{_entry_line(source, str(shown))}: terms entry {item!r} needs "
                                  "'term' and 'def' (and 'en' for the English name)")
                continue
            name = item["term"].strip()
            t = Term(name, str(item.get("en") or "").strip(), str(item["def"]).strip(), path, title,
                     _entry_line(source, name))
            first = seen.get(name)
            if first is not None:
                g.problems.append(f"{t.note}:{t.line}: term '{name}' is already defined in {first.note}:{first.line}; "
                                  "define it in one note only")
                continue
            seen[name] = t
    g.terms = sorted(seen.values(), key=lambda t: (t.note, t.term))
    return g


def _md_escape(s: str) -> str:
    return re.sub(r"([\\\[\]`*_<>|])", r"\\\1", s)


def glossary_page(g: Glossary, page_path: str, labels: dict[str, str]) -> str:
    """Markdown of the glossary page at vault path ``page_path`` (relative ``.md`` links)."""
    out = [f"# {labels['title']}", ""]
    if not g.terms:
        return "\n".join(out + [labels["empty"], ""])
    out += [labels["intro"].format(n=len(g.terms)), ""]
    base = posixpath.dirname(page_path)
    for t in g.terms:
        href = posixpath.relpath(t.note, base or ".").replace(" ", "%20").replace("(", "%28").replace(")", "%29")
        en = f"（{_md_escape(t.en)}）" if t.en else ""
        out.append(f"- **{_md_escape(t.term)}**{en}：{_md_escape(t.definition)} "
                   f"—— {labels['source']} [{_md_escape(t.note_title)}]({href})")
    return "\n".join(out) + "\n"


#: Elements whose text never gets a hover definition.
_SKIP = {"code", "pre", "a", "abbr", "h1", "h2", "h3", "h4", "h5", "h6", "script", "style", "math", "kbd", "svg"}


class _TermProcessor(Treeprocessor):
    def __init__(self, md: Markdown, ext: "TermExtension") -> None:
        super().__init__(md)
        self.ext = ext

    def run(self, root: etree.Element) -> None:
        ext = self.ext
        if ext.note is None or ext.pattern is None:
            return
        terms = {t.term: t for t in ext.terms if t.note != ext.note}
        if terms:
            self._walk(root, terms, set())

    def _walk(self, elem: etree.Element, terms: dict[str, Term], used: set[str]) -> None:
        if elem.tag in _SKIP or "kb-" in (elem.get("class") or "") or "kbgen-" in (elem.get("class") or ""):
            return
        if elem.text:
            elem.text = self._mark(elem.text, elem, 0, terms, used)
        for child in list(elem):
            self._walk(child, terms, used)
            if child.tail:
                child.tail = self._mark(child.tail, elem, list(elem).index(child) + 1, terms, used)

    def _mark(self, text: str, parent: etree.Element, at: int, terms: dict[str, Term], used: set[str]) -> str:
        """Wrap the first unused term in ``text``; new elements go into ``parent`` at ``at``."""
        assert self.ext.pattern is not None
        if isinstance(text, AtomicString):
            return text
        for m in self.ext.pattern.finditer(text):
            if m.group("token"):
                continue  # HTML set aside by Markdown or by kbgen (a link, an embed): not text
            t = terms.get(m.group(0))
            if t is None or t.term in used:
                continue
            used.add(t.term)
            abbr = etree.Element("abbr", {"class": "kb-term", "title": t.hover})
            abbr.text = m.group(0)
            parent.insert(at, abbr)
            rest = text[m.end():]
            abbr.tail = self._mark(rest, parent, at + 1, terms, used) if rest else rest
            return text[: m.start()]
        return text


class TermExtension(Extension):
    """Hover definitions of glossary terms; set ``terms`` per build and call ``set_page`` per page."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.terms: list[Term] = []
        self.pattern: re.Pattern[str] | None = None
        self.note: str | None = None

    def set_terms(self, terms: list[Term]) -> None:
        # A one-character term (自, 词) would mark a piece of a longer word: glossary only.
        names = sorted({t.term for t in terms if len(t.term) > 1}, key=lambda s: (-len(s), s))
        self.terms = list(terms)
        self.pattern = re.compile(_TOKENS + "|" + "|".join(_bounded(n) for n in names)) if names else None

    def set_page(self, note: str | None) -> None:
        """Next render is note ``note`` (None: no hover definitions on this page)."""
        self.note = note

    def extendMarkdown(self, md: Markdown) -> None:
        md.registerExtension(self)
        md.treeprocessors.register(_TermProcessor(md, self), "kbgen_terms", 12)


#: Placeholders standing for HTML kept out of Markdown (its stash, kbgen's vault tokens).
_TOKEN_RX = r"kbgen(?:html|inline)\d+x|\x02[^\x03]*\x03"
_TOKENS = f"(?P<token>{_TOKEN_RX})"


def _bounded(name: str) -> str:
    """A term as a regex; Latin terms only match as whole words (``token`` not in ``tokens``)."""
    rx = re.escape(name)
    if re.match(r"\w", name, re.A):
        rx = r"(?<![A-Za-z0-9_])" + rx
    if re.search(r"\w$", name, re.A):
        rx += r"(?![A-Za-z0-9_])"
    return rx
