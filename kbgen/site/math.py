"""Math rendered at build time: TeX -> MathML (``latex2mathml``), so pages need no JavaScript.

Chromium, Firefox and Safari render MathML Core natively, offline and from ``file://``. Input is
what ``pymdownx.arithmatex`` (generic mode) writes: ``<span class="arithmatex">\\(...\\)</span>``
and ``<div class="arithmatex">\\[...\\]</div>``; notebook HTML (snippet pages rendered by
nbconvert) keeps ``$...$`` / ``$$...$$`` as text, handled by :func:`render_dollar_math`.
Each formula keeps its TeX source as a MathML ``annotation`` (copyable, screen readers).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Callable

from latex2mathml.converter import convert

_ARITHMATEX = re.compile(
    r'<(span|div) class="arithmatex">\s*(?:\\\((.*?)\\\)|\\\[(.*?)\\\]|\$\$(.*?)\$\$|\$(.*?)\$)\s*</\1>', re.S
)
_MATH_OPEN = re.compile(r"^<math([^>]*)>")

# TeX macros latex2mathml lacks or renders poorly, rewritten to equivalents it handles.
_REWRITES = [
    (re.compile(r"\\operatorname\*\{([^{}]*)\}"), r"\\operatorname{\1}"),
    (re.compile(r"\\(?:dfrac|tfrac)(?![a-zA-Z])"), r"\\frac"),
    (re.compile(r"\\top(?![a-zA-Z])"), r"\\mathrm{T}"),
    (re.compile(r"\\(?:displaystyle|textstyle)(?![a-zA-Z])"), ""),
]


@dataclass
class MathErrors:
    """Formulas that failed to convert: (tex, message) in page order."""

    items: list[tuple[str, str]] = field(default_factory=list)


def tex_to_mathml(tex: str, display: bool) -> str:
    """One formula as ``<math>`` with a TeX annotation; raises on TeX latex2mathml rejects."""
    src = tex.strip()
    prepared = src
    for pattern, repl in _REWRITES:
        prepared = pattern.sub(repl, prepared)
    mathml = convert(prepared, display="block" if display else "inline")
    m = _MATH_OPEN.match(mathml)
    if not m or not mathml.endswith("</math>"):
        raise ValueError("unexpected converter output")
    inner = mathml[m.end(): -len("</math>")]
    annotation = f'<annotation encoding="application/x-tex">{html.escape(src, quote=False)}</annotation>'
    kind = "kb-math kb-math--display" if display else "kb-math"
    return (
        f'<math{m.group(1)} class="{kind}" data-search-exclude>'
        f"<semantics><mrow>{inner}</mrow>{annotation}</semantics></math>"
    )


def _fallback(tex: str, display: bool) -> str:
    tag = "div" if display else "span"
    return f'<{tag} class="kb-math-error" title="TeX this site could not render"><code>{html.escape(tex)}</code></{tag}>'


def render_arithmatex(page_html: str, errors: MathErrors | None = None) -> str:
    """Replace every arithmatex element in ``page_html`` by MathML (failures kept as code)."""

    def repl(m: re.Match) -> str:
        display = m.group(1) == "div" or m.group(3) is not None or m.group(4) is not None
        tex = html.unescape(next(g for g in m.groups()[1:] if g is not None))
        try:
            out = tex_to_mathml(tex, display)
        except Exception as exc:  # latex2mathml raises many exception types
            if errors is not None:
                errors.items.append((tex, f"{type(exc).__name__}: {exc}"))
            return _fallback(tex, display)
        return f'<div class="kb-math-block">{out}</div>' if display else out

    return _ARITHMATEX.sub(repl, page_html)


# Notebook HTML: math lives in text between tags. Display math first, then inline math that
# neither touches a digit after the closing $ (prices) nor starts/ends with a space.
_DOLLAR_DISPLAY = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]", re.S)
_DOLLAR_INLINE = re.compile(r"(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?![\w$])|\\\((.+?)\\\)")
_SKIP_TAGS = ("code", "pre", "script", "style", "math", "textarea", "kbd", "samp")
_TAG = re.compile(r"<!--.*?-->|<(/?)([a-zA-Z][\w:-]*)[^>]*>", re.S)


def render_dollar_math(fragment: str, errors: MathErrors | None = None) -> str:
    """Render ``$...$``/``$$...$$`` found in the text of an HTML ``fragment`` (not in code)."""
    out: list[str] = []
    depth = 0  # inside a skipped element
    pos = 0
    text_buf: list[str] = []

    def flush() -> None:
        if text_buf:
            out.append(_render_text("".join(text_buf), errors))
            text_buf.clear()

    for m in _TAG.finditer(fragment):
        chunk = fragment[pos:m.start()]
        if depth:
            out.append(chunk)
        else:
            text_buf.append(chunk)
        name = (m.group(2) or "").lower()
        if name in _SKIP_TAGS:
            flush()
            depth += -1 if m.group(1) else 1
            depth = max(depth, 0)
            out.append(m.group(0))
        elif depth:
            out.append(m.group(0))
        else:
            # Any other tag ends the current text run: a formula never spans markup.
            flush()
            out.append(m.group(0))
        pos = m.end()
    tail = fragment[pos:]
    if depth:
        out.append(tail)
    else:
        text_buf.append(tail)
    flush()
    return "".join(out)


def _render_text(text: str, errors: MathErrors | None) -> str:
    def convert_one(tex: str, display: bool) -> str:
        tex = html.unescape(tex)
        try:
            mathml = tex_to_mathml(tex, display)
        except Exception as exc:
            if errors is not None:
                errors.items.append((tex, f"{type(exc).__name__}: {exc}"))
            return _fallback(tex, display)
        return f'<span class="kb-math-block">{mathml}</span>' if display else mathml

    text = _DOLLAR_DISPLAY.sub(lambda m: convert_one(m.group(1) or m.group(2), True), text)
    return _DOLLAR_INLINE.sub(lambda m: convert_one(m.group(1) or m.group(2), False), text)


def locate(tex: str, markdown: str) -> int | None:
    """1-based line of ``tex`` in a page's Markdown source (for error messages), if found."""
    idx = markdown.find(tex.strip()[:60])
    return markdown.count("\n", 0, idx) + 1 if idx >= 0 else None


Renderer = Callable[[str, "MathErrors | None"], str]


# -- Display math written the Obsidian way -------------------------------------------------
# Obsidian renders ``$$...$$`` anywhere (inside a paragraph, a list item, across lines of a
# callout); arithmatex only takes it as its own block. So display math is lifted out of the
# Markdown before conversion (outside code) into placeholders, and put back as MathML.
_FENCE_LINE = re.compile(r"^[ \t>]*(?:(?:[-*+]|\d+[.)])[ \t]+)?(`{3,}|~{3,})")
_CODE_OR_DISPLAY = re.compile(
    r"(`+)(?:.+?)(?<!`)\1(?!`)|<(pre|code|script)\b.*?</\2>|(?<!\\)\$\$(.+?)(?<!\\)\$\$", re.S
)
_QUOTE_PREFIX = re.compile(r"\n[ \t]*(?:>[ \t]?)*")
PLACEHOLDER = "KBGENMATHDISPLAY{}X"
_PLACEHOLDER = re.compile(r"KBGENMATHDISPLAY(\d+)X")


def stash_display_math(markdown: str) -> tuple[str, list[str]]:
    """Replace each ``$$...$$`` outside code by a placeholder; returns (markdown, TeX list)."""
    stash: list[str] = []
    out: list[str] = []
    chunk: list[str] = []
    fence: str | None = None

    def flush() -> None:
        if chunk:
            out.append(_CODE_OR_DISPLAY.sub(lambda m: _stash(m, stash), "\n".join(chunk)))
            chunk.clear()

    for line in markdown.split("\n"):
        m = _FENCE_LINE.match(line)
        if fence is None and m:
            flush()
            fence = m.group(1)
            out.append(line)
        elif fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end():].strip():
                fence = None
            out.append(line)
        else:
            chunk.append(line)
    flush()
    return "\n".join(out), stash


def _stash(m: re.Match, stash: list[str]) -> str:
    if m.group(3) is None:  # inline code or raw HTML code: untouched
        return m.group(0)
    stash.append(_QUOTE_PREFIX.sub("\n", m.group(3)).strip())
    return PLACEHOLDER.format(len(stash) - 1)


def restore_display_math(page_html: str, stash: list[str], errors: MathErrors | None = None) -> str:
    """Put the stashed formulas back as display MathML (a block-level ``span``: valid in ``<p>``)."""

    def repl(m: re.Match) -> str:
        i = int(m.group(1))
        if i >= len(stash):
            return m.group(0)
        tex = stash[i]
        try:
            return f'<span class="kb-math-block">{tex_to_mathml(tex, True)}</span>'
        except Exception as exc:
            if errors is not None:
                errors.items.append((tex, f"{type(exc).__name__}: {exc}"))
            return _fallback(tex, True)

    # A placeholder alone in its paragraph becomes the block itself.
    page_html = re.sub(r"<p>\s*(KBGENMATHDISPLAY\d+X)\s*</p>", r"\1", page_html)
    return _PLACEHOLDER.sub(repl, page_html)
