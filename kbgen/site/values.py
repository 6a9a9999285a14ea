"""Values bound into prose: ``{{gpt.py:n_params}}`` / ``{{gpt.py:n_params|亿}}`` in a note.

A snippet exports ``KB_VALUES["n_params"] = 124_439_808``; the note writes the binding where
the number belongs, and the site shows the formatted value with a small mark linking to the
snippet cell that computed it (its title names the snippet and key). A ``bool`` value is a
*claim*: true renders as a "✓ 已验证" mark linking to the cell, false (or a missing snippet
or key, or a format that does not apply) is a build error naming the note's ``file:line``,
and the page shows the failure too (so a build without ``--strict`` is not silently wrong).
In Obsidian the binding stays readable as text. In a table write ``{{x.py:key\\|亿}}``.

Nothing is bound inside code spans, fenced code or math: the inline processor runs after
those have been taken out (priority 185, below backticks and arithmatex, above escapes).
Formats are in :mod:`kbgen.site.numformat`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass, field
from html import escape
from typing import Any, Callable, Mapping

from markdown import Extension, Markdown
from markdown.inlinepatterns import InlineProcessor

from kbgen.contracts import SnippetProvider, SnippetRefError, SnippetValue
from kbgen.site.numformat import FormatError, format_value

#: ``{{snippet.py:key}}`` or ``{{snippet.py:key|fmt}}`` (``\|`` inside tables).
BINDING = re.compile(
    r"\{\{[ \t]*(?P<snippet>[^{}|:\s\\]+\.py)[ \t]*:[ \t]*(?P<key>[^{}|\s\\]+)"
    r"[ \t]*(?:\\?\|[ \t]*(?P<fmt>[^{}]*?)[ \t]*)?\}\}"
)

#: Texts shown on the page (one place; ``str.format`` fields as named).
LABELS = {
    "checked": "✓ 已验证",
    "failed": "✗ 未通过",
    "checked_title": "{snippet} 断言 {key} 成立（第 {line} 行的单元，点此查看）",
    "failed_title": "{snippet} 的 {key} 为假：这句话没有得到数据支持",
    "value_title": "由 {snippet} 计算：{key}（第 {line} 行的单元，点此查看）",
    "mark": "⌗",
    "pending_title": "{snippet} 未执行（execute: false），值未知",
    "error_title": "无法绑定：{message}",
}


@dataclass(frozen=True)
class Binding:
    """One ``{{...}}`` in a note's source (``line`` is 1-based in the file)."""

    raw: str
    snippet: str
    key: str
    fmt: str | None
    line: int


@dataclass(frozen=True)
class BindingProblem:
    """A binding the build must fail on: ``note:line: message``."""

    note: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.note}:{self.line}: {self.message}"


def _binding(m: re.Match, line: int) -> Binding:
    fmt = m.group("fmt")
    return Binding(m.group(0), m.group("snippet"), m.group("key"), fmt if fmt else None, line)


def find_bindings(text: str, first_line: int = 1) -> list[Binding]:
    """Bindings in ``text`` outside code and math, in order (``first_line``: line of text[0])."""
    from kbgen.vault.scan import mask_code

    masked = mask_code(text)
    return [_binding(m, first_line + text.count("\n", 0, m.start())) for m in BINDING.finditer(masked)]


@dataclass
class ValueRenderer:
    """HTML for one binding, from a :class:`~kbgen.contracts.SnippetProvider`."""

    provider: SnippetProvider | None
    labels: dict[str, str] = field(default_factory=lambda: dict(LABELS))
    #: False when snippets are not executed (``execute: false``): bindings show as pending.
    executed: bool = True

    def html(self, b: Binding, note: str, page_url: str) -> tuple[str, BindingProblem | None]:
        """(HTML for the page, the problem to report or None)."""
        L = self.labels
        if self.provider is None:
            return self._error(b, note, f"{{{{{b.snippet}:{b.key}}}}} needs a snippets folder (none is configured)")
        if not self.executed:
            title = L["pending_title"].format(snippet=b.snippet, key=b.key)
            return f'<span class="kb-value kb-value--pending" title="{escape(title)}">{escape(b.snippet)}:{escape(b.key)}</span>', None
        try:
            v: SnippetValue = self.provider.value(b.snippet, b.key)
            url = self.provider.cell_url(v.snippet, v.cell, page_url=page_url)
        except SnippetRefError as e:
            return self._error(b, note, f"{{{{{b.snippet}:{b.key}}}}}: {e}")
        if isinstance(v.value, bool):
            if b.fmt:
                return self._error(b, note, f"{b.raw}: {b.key} is a claim (a bool); a claim takes no format")
            if v.value:
                title = L["checked_title"].format(snippet=v.snippet, key=v.name, line=v.line)
                return (f'<a class="kb-claim kb-claim--ok" href="{escape(url)}" title="{escape(title)}" data-search-exclude>'
                        f'{escape(L["checked"])}</a>'), None
            title = L["failed_title"].format(snippet=v.snippet, key=v.name, line=v.line)
            problem = BindingProblem(note, b.line, f"claim {b.raw} is false: {v.snippet} computed {v.name} = False "
                                                  f"(cell at {v.snippet}:{v.line}); rewrite the sentence or fix the experiment")
            return (f'<a class="kb-claim kb-claim--failed" href="{escape(url)}" title="{escape(title)}" data-search-exclude>'
                    f'{escape(L["failed"])}</a>'), problem
        try:
            text = format_value(v.value, b.fmt)
        except FormatError as e:
            return self._error(b, note, f"{b.raw}: {e}")
        title = L["value_title"].format(snippet=v.snippet, key=v.name, line=v.line)
        return (f'<span class="kb-value">{escape(text)}<a class="kb-value__src" href="{escape(url)}" '
                f'title="{escape(title)}" aria-label="{escape(title)}" data-search-exclude>{escape(L["mark"])}</a></span>'), None

    def _error(self, b: Binding, note: str, message: str) -> tuple[str, BindingProblem]:
        title = self.labels["error_title"].format(message=message)
        return (f'<span class="kb-value kb-value--error" title="{escape(title)}">{escape(b.raw)}</span>',
                BindingProblem(note, b.line, message))


class _BindingProcessor(InlineProcessor):
    def __init__(self, ext: "ValuesExtension", md: Markdown) -> None:
        super().__init__(BINDING.pattern, md)
        self.ext = ext

    def handleMatch(self, m: re.Match, data: str) -> tuple[etree.Element | str | None, int, int]:  # type: ignore[override]
        ext = self.ext
        if ext.note is None:
            return None, m.start(0), m.end(0)
        note, line = ext.where(m.group(0))
        html, problem = ext.renderer.html(_binding(m, line), note, ext.page_url)
        if problem is not None:
            ext.problems.append(problem)
        return self.md.htmlStash.store(html), m.start(0), m.end(0)


class ValuesExtension(Extension):
    """Python-Markdown extension binding ``{{x.py:key}}``; call :meth:`set_page` before each page.

    ``problems`` collects what the build must report (the MkDocs plugin logs them as errors).
    """

    def __init__(self, renderer: ValueRenderer, locate: Callable[[str], tuple[str, int] | None] | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.renderer = renderer
        #: ``locate(raw)`` -> (note, line) of a binding not in the page's own source (an embedded
        #: note's), or None.
        self.locate = locate
        self.note: str | None = None
        self.page_url = ""
        self.problems: list[BindingProblem] = []
        self._lines: dict[str, list[int]] = {}

    def set_page(self, note: str | None, source: str = "", page_url: str = "") -> None:
        """Next render is note ``note`` (its full file ``source``); None binds nothing."""
        self.note, self.page_url = note, page_url
        self._lines = {}
        for b in find_bindings(source):
            self._lines.setdefault(b.raw, []).append(b.line)

    def where(self, raw: str) -> tuple[str, int]:
        """(note, file line) of the next occurrence of ``raw`` on this page, in document order."""
        assert self.note is not None
        lines = self._lines.get(raw)
        if lines:
            return self.note, lines.pop(0) if len(lines) > 1 else lines[0]
        found = self.locate(raw) if self.locate is not None else None
        return found or (self.note, 0)

    def extendMarkdown(self, md: Markdown) -> None:
        md.registerExtension(self)
        md.inlinePatterns.register(_BindingProcessor(self, md), "kbgen_values", 185)


def locate_binding(raw: str, notes: Mapping[str, Any]) -> tuple[str, int] | None:
    """(note path, line) of the first note whose ``source`` contains binding ``raw`` (outside code)."""
    for path, note in notes.items():
        source = getattr(note, "source", "")
        if raw in source:
            for b in find_bindings(source):
                if b.raw == raw:
                    return path, b.line
    return None
