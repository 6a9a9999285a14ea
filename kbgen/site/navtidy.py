"""Tidying the generated nav for readers: no section that only repeats its own title, no
generated snippet pages in the main nav (they stay reachable from notes, the snippets index
and search).

``nav`` is MkDocs' nav config shape: strings are page src_uris, one-key dicts are titled
sections (children list) or titled pages (a string value).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any, Callable, Iterable

from kbgen.vault.index import Note

NavItem = Any  # str | dict[str, list[NavItem] | str]

_INDEX_NAMES = ("index.md", "README.md")


def _is_index(src: str) -> bool:
    return posixpath.basename(src) in _INDEX_NAMES


def tidy_nav(nav: list[NavItem], title_of: Callable[[str], str | None]) -> list[NavItem]:
    """``nav`` with every section of a single page that repeats the section's title (or is its
    folder's index page) replaced by that page under the section's title
    (``{学习路径: [学习路径/index.md]}`` -> ``{学习路径: 学习路径/index.md}``), recursively."""
    out: list[NavItem] = []
    for item in nav:
        if isinstance(item, dict) and len(item) == 1:
            (title, children), = item.items()
            if isinstance(children, list):
                children = tidy_nav(children, title_of)
                if len(children) == 1 and isinstance(children[0], str) and (
                        _is_index(children[0]) or title_of(children[0]) == title):
                    out.append({title: children[0]})
                    continue
                if not children:
                    continue
            out.append({title: children})
        else:
            out.append(item)
    return out


def without_pages(pages: Iterable[str], hidden: set[str]) -> list[str]:
    """``pages`` minus ``hidden`` (e.g. the generated snippet pages), order kept."""
    return [p for p in pages if p not in hidden]


def snippet_pages(engine: object) -> set[str]:
    """src_uris of the snippet pages a SnippetProvider generates (empty without an engine);
    their folder's ``index.md`` (the snippets overview) stays in the nav."""
    names = getattr(engine, "snippets", None)
    page_src_uri = getattr(engine, "page_src_uri", None)
    if not names or page_src_uri is None:
        return set()
    return {page_src_uri(n) for n in names if not _is_index(page_src_uri(n))}


def page_title(src: str, note: Note | None) -> str:
    """The title MkDocs shows for a page: frontmatter ``title``, else its first ``# `` heading,
    else the file name (an index page: its folder's name)."""
    meta = note.frontmatter if note is not None else {}
    if isinstance(meta.get("title"), str) and meta["title"].strip():
        return str(meta["title"]).strip()
    m = re.search(r"^#[ \t]+(.+?)[ \t#]*$", note.source if note is not None else "", re.M)
    if m:
        return m.group(1).strip()
    stem = posixpath.basename(src)[:-3]
    return posixpath.basename(posixpath.dirname(src)) if stem in ("index", "README") and "/" in src else stem


def mark_not_in_nav(files: Any, srcs: set[str]) -> None:
    """Mark the pages ``srcs`` of MkDocs ``files`` as deliberately outside the nav (built,
    searchable, linked; MkDocs no longer lists them as missing from the nav)."""
    from mkdocs.structure.files import InclusionLevel

    for src in srcs:
        f = files.get_file_from_path(src)
        if f is not None:
            f.inclusion = InclusionLevel.NOT_IN_NAV
