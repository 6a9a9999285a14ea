"""Numbers in a note's prose: where they are, whether they are bound or cited.

Prose is the note's text without frontmatter, code, math, HTML, URLs, wikilinks, bindings
(``{{x.py:key}}``), footnote markers and definitions, and list numbering. Each number found
there is a :class:`ProseNumber` with its 1-based file line and the *unit* it belongs to: the
sentence (within a paragraph), or the whole list item or table row. A number is *cited* when a
footnote reference ``[^id]`` sits in the same unit (or right after the sentence's end).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from kbgen.site.numformat import NumberMention, Scalar, find_numbers, is_notable, typed_matches
from kbgen.site.values import BINDING
from kbgen.vault.scan import MASK, WIKILINK, mask_code, split_frontmatter

_FOOTNOTE_DEF = re.compile(r"^[ \t]*\[\^[^\]\n]+\]:.*(?:\n(?:[ \t]{2,}|\t).*)*", re.M)
_FOOTNOTE_REF = re.compile(r"\[\^[^\]\n]+\](?!:)")
_LIST_MARKER = re.compile(r"^([ \t]*(?:>[ \t]?)*[ \t]*)(\d{1,9}[.)])(?=[ \t])", re.M)
_ROW_OR_ITEM = re.compile(r"^[ \t]*(?:>[ \t]?)*[ \t]*(?:\||[-*+][ \t]|\d{1,9}[.)][ \t])", re.M)
#: Sentence ends: Chinese and English terminators (an English period needs a space after it).
_SENTENCE_END = re.compile(r"[。！？；!?;]|\.(?=\s)|\n[ \t]*(?:>[ \t]?)*[ \t]*\n")
_ORDINAL = re.compile(r"第[ \t]*$")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*)$", re.M)
#: Sections that list the sources themselves: their years and pages are citations, not claims.
_REFERENCE_TITLE = re.compile(r"(?:参考文献|参考资料|引用|延伸阅读|扩展阅读|进一步阅读|推荐阅读|References|Bibliography|"
                              r"Further reading|Read next)\b", re.I)
#: Identifiers that contain digits but are no quantities: arXiv ids, DOIs, ISBNs, sections (§3.2).
_IDENTIFIER = re.compile(r"\b(?:arXiv:|doi:|DOI:?|ISBN:?)[ \t]*\S+|§[ \t]*[\d.]+")


@dataclass(frozen=True)
class ProseNumber:
    """A number typed in a note: ``note:line``, the text as typed, whether a footnote cites it."""

    note: str
    line: int
    text: str
    mention: NumberMention
    cited: bool
    context: str  # the sentence / list item / table row, trimmed


def _blank(m: re.Match) -> str:
    return "".join("\n" if c == "\n" else MASK for c in m.group(0))


def mask_prose(text: str) -> str:
    """``text`` with everything that is not prose replaced by MASK (same length and lines).

    Footnote references stay (they mark citations); frontmatter, code, math, HTML, URLs,
    wikilinks, bindings, footnote definitions and ordered-list numbers are masked.
    """
    _meta, _body, n = split_frontmatter(text)
    head = len("".join(text.splitlines(keepends=True)[:n]))
    masked = _blank_range(text, 0, head) if n else text
    masked = mask_code(masked)
    for rx in (WIKILINK, BINDING, _FOOTNOTE_DEF, _IDENTIFIER):
        masked = rx.sub(_blank, masked)
    masked = _mask_reference_sections(masked)
    return _LIST_MARKER.sub(lambda m: m.group(1) + MASK * len(m.group(2)), masked)


def _mask_reference_sections(masked: str) -> str:
    """Blank the sections that *are* the sources (参考文献, References, 延伸阅读, ...)."""
    out = masked
    for m in _HEADING.finditer(masked):
        if not _REFERENCE_TITLE.match(m.group(2).strip()):
            continue
        level = len(m.group(1))
        end = len(masked)
        for n in _HEADING.finditer(masked, m.end()):
            if len(n.group(1)) <= level:
                end = n.start()
                break
        out = _blank_range(out, m.end(), end)
    return out


def _blank_range(text: str, start: int, end: int) -> str:
    return text[:start] + "".join("\n" if c == "\n" else MASK for c in text[start:end]) + text[end:]


def _unit(masked: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) of the sentence, list item or table row around ``masked[start:end]``."""
    line_start = masked.rfind("\n", 0, start) + 1
    line_end = masked.find("\n", end)
    line_end = len(masked) if line_end < 0 else line_end
    if _ROW_OR_ITEM.match(masked, line_start):
        return line_start, line_end
    before = [m.end() for m in _SENTENCE_END.finditer(masked, 0, start)]
    u_start = before[-1] if before else 0
    after = _SENTENCE_END.search(masked, end)
    u_end = after.end() if after else len(masked)
    # A footnote right after the sentence's end still cites it: "……2017 年。[^v]".
    follow = re.compile(r"[ \t]*(?:\[\^[^\]\n]+\])+").match(masked, u_end)
    if follow:
        u_end = follow.end()
    return u_start, u_end


def prose_numbers(text: str, note: str) -> list[ProseNumber]:
    """Every number typed in the prose of note ``note`` (its full source ``text``)."""
    masked = mask_prose(text)
    searchable = _FOOTNOTE_REF.sub(_blank, masked)
    out = []
    for n in find_numbers(searchable):
        if MASK in n.text:
            continue
        u_start, u_end = _unit(masked, n.start, n.end)
        cited = bool(_FOOTNOTE_REF.search(masked, u_start, u_end))
        context = " ".join(masked[u_start:u_end].replace(MASK, " ").split())
        line = text.count("\n", 0, n.start) + 1
        out.append(ProseNumber(note, line, n.text, n, cited, context[:120]))
    return out


def needs_source(p: ProseNumber, text: str) -> bool:
    """Worth a citation or a binding: not an ordinal (第 3 步) and not a lone digit."""
    m = p.mention
    if _ORDINAL.search(text[max(0, m.start - 3): m.start]):
        return False
    return bool(m.unit) or m.decimals > 0 or abs(m.mantissa) >= 10


def uncited_numbers(text: str, note: str) -> list[ProseNumber]:
    """Numbers in the prose of ``note`` that are neither bound (``{{…}}``) nor cited (``[^…]``)."""
    return [p for p in prose_numbers(text, note) if not p.cited and needs_source(p, text)]


def uncited_report(notes: Mapping[str, str], label: str = "docs") -> list[str]:
    """``kbgen check``'s author report: one ``uncited   <label>/<note>:<line>: <number> — <context>``
    line per number that is neither bound nor cited. ``notes``: vault path -> source (the index's)."""
    lines = []
    for note in sorted(p for p in notes if p.endswith(".md")):
        for p in uncited_numbers(notes[note], note):
            lines.append(f"uncited   {label}/{p.note}:{p.line}: {p.text} — {p.context}")
    return lines


@dataclass(frozen=True)
class HandTypedValue:
    """A number typed in prose that equals a value a snippet exports (it should be bound)."""

    number: ProseNumber
    snippet: str
    key: str
    value: Scalar

    def __str__(self) -> str:
        p = self.number
        return (f"{p.note}:{p.line}: {p.text!r} is {self.snippet}:{self.key} = {self.value!r} typed by hand; "
                f"bind it: {{{{{self.snippet}:{self.key}}}}} (with |亿, |.2f, ... as needed)")


def handtyped_values(text: str, note: str, exported: Mapping[str, Mapping[str, Scalar]]) -> list[HandTypedValue]:
    """Numbers in ``note``'s prose equal (at the precision and unit typed) to an exported value.

    ``exported``: ``{"gpt.py": {"n_params": 124439808, ...}, ...}`` (kbgen-report.json's "values").
    Small plain integers (< 1000) and one-digit numbers are not compared (see ``is_notable``).
    """
    out = []
    for p in prose_numbers(text, note):
        if not is_notable(p.mention):
            continue
        for snippet, values in exported.items():
            for key, value in values.items():
                if typed_matches(p.mention, value):
                    out.append(HandTypedValue(p, snippet, key, value))
    return out
