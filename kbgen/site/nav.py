"""The site navigation generated from the learning path (authors never maintain it twice).

Shape (MkDocs ``nav`` config: strings are page src_uris, dicts are titled sections)::

    [home, {path_title: [overview]}, {level: [level page, step, step, ...]}, ...,
     <every other page, grouped by folder as MkDocs would>]
"""

from __future__ import annotations

from typing import Any

from kbgen.site.path import LearningPath

NavItem = Any  # str | dict[str, list[NavItem]]


def _sort_key(src: str) -> tuple:
    name = src.rsplit("/", 1)[-1]
    return (0 if name in ("index.md", "README.md") else 1, src.lower())


def folder_tree(srcs: list[str], titles: dict[str, str] | None = None) -> list[NavItem]:
    """Pages grouped by folder: files of a folder first (index first), then sub-folders.

    ``titles`` maps a top-level folder name to its section title (default: the name).
    """
    titles = titles or {}
    files = sorted((s for s in srcs if "/" not in s), key=_sort_key)
    folders: dict[str, list[str]] = {}
    for s in srcs:
        if "/" in s:
            head, rest = s.split("/", 1)
            folders.setdefault(head, []).append(rest)
    out: list[NavItem] = list(files)
    for name in sorted(folders, key=str.lower):
        children = folder_tree(folders[name])
        out.append({titles.get(name, name): _prefix(children, name + "/")})
    return out


def _prefix(items: list[NavItem], prefix: str) -> list[NavItem]:
    out: list[NavItem] = []
    for item in items:
        if isinstance(item, str):
            out.append(prefix + item)
        else:
            (title, children), = item.items()
            out.append({title: _prefix(children, prefix)})
    return out


def build_nav(
    path: LearningPath,
    pages: list[str],
    home: str | None,
    path_title: str,
    section_titles: dict[str, str] | None = None,
    index_only: list[str] | None = None,
) -> list[NavItem]:
    """Nav for ``pages`` (every documentation page's src_uri): home, the path, then the rest.

    Folders named in ``index_only`` (e.g. generated tag pages) show only their ``index.md``.
    """
    hidden = tuple(f.strip("/") + "/" for f in index_only or [])
    pages = [p for p in pages if not (p.startswith(hidden) and p.rsplit("/", 1)[-1] != "index.md")] if hidden else pages
    placed: set[str] = set()
    nav: list[NavItem] = []
    if home and home in pages:
        nav.append(home)
        placed.add(home)
    if path.index_src and path.index_src in pages:
        nav.append({path_title: [path.index_src]})
        placed.add(path.index_src)
    for level in path.levels:
        section: list[NavItem] = []
        for src in [level.src] + [s.src for s in level.steps]:
            if src in pages and src not in placed:
                section.append(src)
                placed.add(src)
        if section:
            nav.append({level.name: section})
    rest = [p for p in pages if p not in placed]
    nav.extend(folder_tree(rest, section_titles))
    return nav
