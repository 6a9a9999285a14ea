"""The Python-Markdown extension: Obsidian syntax for one page, read from a ``VaultIndex``.

Usable outside MkDocs (e.g. Zensical or plain ``markdown.markdown``)::

    ext = VaultExtension(renderer=Renderer(index))
    ext.set_page("核心组件/自注意力机制.md")
    html = markdown.markdown(text, extensions=[ext, "pymdownx.quotes", "attr_list", "md_in_html"],
                             extension_configs={"pymdownx.quotes": {"callouts": True}})
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from html import unescape

from markdown import Extension, Markdown
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor

from kbgen.vault.callouts import CalloutClassProcessor
from kbgen.vault.render import Renderer


class _WikiPreprocessor(Preprocessor):
    def __init__(self, md: Markdown, ext: "VaultExtension") -> None:
        super().__init__(md)
        self.ext = ext

    def run(self, lines: list[str]) -> list[str]:
        ext = self.ext
        if ext.page_path is None:
            return lines
        renderer = ext.renderer
        renderer.stash = ext.store
        renderer.inline_stash = ext.store_inline
        renderer.block_token = ext.block_token
        text = renderer.render("\n".join(lines), ext.page_path, note_path=ext.note_path,
                               line_offset=ext.line_offset, page_url=ext.page_url)
        return text.split("\n")


_BLOCK_TOKEN = re.compile(r"[ \t]*(kbgenblock\d+x)")


class _BlockIds(Treeprocessor):
    """Give each Obsidian block its ``^id``: the paragraph or list item a marker ends, or, for a
    marker alone on its line, the block just above (list, quote, table, callout)."""

    def __init__(self, md: Markdown, ext: "VaultExtension") -> None:
        super().__init__(md)
        self.ext = ext

    def run(self, root: etree.Element) -> None:
        if not self.ext.blocks:
            return
        parents = {child: parent for parent in root.iter() for child in parent}
        for el in list(root.iter()):
            if el.text and "kbgenblock" in el.text:
                own = el.tag == "p" and len(el) == 0 and _BLOCK_TOKEN.fullmatch(el.text.strip()) is not None
                ids = [self.ext.blocks.get(t, "") for t in _BLOCK_TOKEN.findall(el.text)]
                el.text = _BLOCK_TOKEN.sub("", el.text)
                parent = parents.get(el)
                if own and parent is not None:
                    siblings = list(parent)
                    i = siblings.index(el)
                    if i > 0:
                        parent.remove(el)
                        self._give(siblings[i - 1], ids, parents)
                        continue
                self._give(el, ids, parents)
            for child in el:
                if child.tail and "kbgenblock" in child.tail:
                    ids = [self.ext.blocks.get(t, "") for t in _BLOCK_TOKEN.findall(child.tail)]
                    child.tail = _BLOCK_TOKEN.sub("", child.tail)
                    self._give(el, ids, parents)

    @staticmethod
    def _give(el: etree.Element, ids: list[str], parents: dict[etree.Element, etree.Element]) -> None:
        parent = parents.get(el)
        if el.tag == "p" and parent is not None and parent.tag == "li":
            el = parent  # Obsidian's block of a list item is the item
        for block_id in ids:
            if block_id and "id" not in el.attrib:
                el.set("id", "^" + block_id)


class _RestoreHtml(Postprocessor):
    """Put the HTML that the preprocessor set aside back in place of its tokens."""

    def __init__(self, md: Markdown, ext: "VaultExtension") -> None:
        super().__init__(md)
        self.ext = ext

    def run(self, text: str) -> str:
        text = safe_urls(text)
        if not self.ext.stashed:
            return text
        html = self.ext.stashed
        text = _TOKEN_P.sub(lambda m: html.get(m.group(1), m.group(0)), text)
        text = _TOKEN.sub(lambda m: html.get(m.group(0), m.group(0)), text)
        return _INLINE_TOKEN.sub(lambda m: html.get(m.group(0), m.group(0)), text)


_URL_ATTR = re.compile(r"""(\s(?:href|src|action|formaction|xlink:href|poster|srcset)\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)""", re.I)
_SCRIPT_SCHEME = re.compile(r"^(?:javascript|vbscript|livescript|data(?!:image/(?:png|gif|jpe?g|webp|avif|bmp);))", re.I)


def safe_urls(html: str) -> str:
    """``html`` with every URL attribute whose scheme runs script (``javascript:``,
    ``vbscript:``, ``data:`` other than raster images) replaced by ``#``, however it is
    spelled (entities, tabs or newlines inside the scheme, upper case)."""

    def clean(m: re.Match) -> str:
        value = m.group(2).strip("\"'")
        plain = re.sub(r"[\x00-\x20]+", "", unescape(value))
        if ":" in plain.split("/", 1)[0] and _SCRIPT_SCHEME.match(plain):
            return f'{m.group(1)}"#"'
        return m.group(0)

    return _URL_ATTR.sub(clean, html) if ":" in html else html


# Python-Markdown's own stash markers (STX/ETX) are stripped by its whitespace normaliser,
# which runs after this preprocessor, so kbgen keeps its HTML under plain-text tokens.
_TOKEN = re.compile(r"kbgenhtml\d+x")
_TOKEN_P = re.compile(r"<p>(kbgenhtml\d+x)</p>")
# Inline HTML (a link in a paragraph) never replaces its paragraph: a token of its own.
_INLINE_TOKEN = re.compile(r"kbgeninline\d+x")


class VaultExtension(Extension):
    """Wikilinks, embeds, tags (preprocessor) and callout types (tree processor).

    The MkDocs plugin calls ``set_page`` before each page is rendered; Markdown instances
    are created per page and share this extension instance.
    """

    def __init__(self, renderer: Renderer, **kwargs) -> None:
        super().__init__(**kwargs)
        self.renderer = renderer
        self.page_path: str | None = None
        self.note_path: str | None = None
        self.page_url = ""
        self.line_offset = 0
        self.stashed: dict[str, str] = {}
        self.blocks: dict[str, str] = {}  # block token -> block id (without "^")

    def block_token(self, block_id: str) -> str:
        """A plain-text token marking where block ``^block_id`` ends (see :class:`_BlockIds`)."""
        token = f"kbgenblock{len(self.blocks)}x"
        self.blocks[token] = block_id
        return token

    def store(self, html: str) -> str:
        """Keep ``html`` away from Markdown; returns the token that stands for it."""
        token = f"kbgenhtml{len(self.stashed)}x"
        self.stashed[token] = html
        return token

    def store_inline(self, html: str) -> str:
        """Like :meth:`store` for inline HTML; its token may stand alone in a paragraph."""
        token = f"kbgeninline{len(self.stashed)}x"
        self.stashed[token] = html
        return token

    def set_page(self, page_path: str | None, *, note_path: str | None = None, page_url: str = "",
                 line_offset: int = 0) -> None:
        """Next render is the page at vault path ``page_path`` (None: leave Markdown untouched)."""
        self.page_path, self.note_path = page_path, note_path or page_path
        self.page_url, self.line_offset = page_url, line_offset
        self.stashed = {}
        self.blocks = {}
        self.renderer._embed_counter = 0
        self.renderer._footnote_counter = 0  # embedded heading ids depend only on the page

    def extendMarkdown(self, md: Markdown) -> None:
        md.registerExtension(self)
        # Before whitespace normalisation (30) and fence stashing, so offsets match the source.
        md.preprocessors.register(_WikiPreprocessor(md, self), "kbgen_wikilinks", 35)
        # Right after pymdownx.quotes' callout tree processor (19.99).
        md.treeprocessors.register(CalloutClassProcessor(md), "kbgen_callouts", 19.5)
        md.treeprocessors.register(_BlockIds(md, self), "kbgen_block_ids", 4)
        md.postprocessors.register(_RestoreHtml(md, self), "kbgen_restore_html", 25)
