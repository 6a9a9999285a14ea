"""Generated Markdown: backlinks, tag pages, the graph page, a home page, folder pages.

Pure functions of the index; every link is a relative ``.md`` link that MkDocs resolves.
"""

from __future__ import annotations

import json
from html import escape
import posixpath
from typing import Callable

from kbgen.labels import Labels
from kbgen.vault.index import VaultIndex, fold
from kbgen.vault.render import _text, rel_href, tag_slug

def _link(index: VaultIndex, path: str, page_path: str) -> str:
    return f"[{_text(index.notes[path].title)}]({rel_href(path, page_path)})"


def backlinks_html(index: VaultIndex, path: str, labels: Labels, href: Callable[[str], str | None]) -> str:
    """The section appended to note ``path``: the notes linking to it (``href(vault_path)`` = URL)."""
    items = []
    for p in index.backlinks(path):
        url = href(p)
        if url is not None:
            items.append(f'<li><a href="{escape(url)}">{escape(index.notes[p].title)}</a></li>')
    body = f"<ul>{''.join(items)}</ul>" if items else f"<p><em>{escape(labels['no_backlinks'])}</em></p>"
    return (f'\n<section class="kb-backlinks"><h2 id="kb-backlinks">{escape(labels["backlinks"])}</h2>'
            f"{body}</section>\n")


def frontmatter_tags(meta: dict) -> list[str]:
    """The tags a note's frontmatter lists (``tags:``/``tag:``, a list or a comma-separated text)."""
    value = meta.get("tags") or meta.get("tag") or []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        value = [value]
    return [str(t).strip().lstrip("#") for t in value if t is not None and str(t).strip()]


def tag_bar_html(meta: dict, tag_href: Callable[[str], str | None]) -> str:
    """The frontmatter tags shown under a note's title, each a link to its tag page
    (``tag_href(tag)`` = URL or None); inline tags are linked where they are written."""
    links = []
    for t in dict.fromkeys(frontmatter_tags(meta)):
        href = tag_href(t)
        if href is not None:
            links.append(f'<a class="kb-tag" href="{escape(href)}">#{escape(t)}</a>')
    return f'\n<p class="kb-tags">{" ".join(links)}</p>\n' if links else ""


def tag_pages(index: VaultIndex, tags_dir: str, labels: Labels) -> dict[str, str]:
    """Vault path -> Markdown of ``<tags_dir>/index.md`` and one page per tag (nested tags too)."""
    tags = index.tags()
    pages = {}
    overview = f"{tags_dir}/index.md"
    rows = [f"# {labels['tags']}\n"]
    for tag, notes in tags.items():
        depth = tag.count("/")
        rows.append(f"{'    ' * depth}- [#{_text(tag)}]({rel_href(f'{tags_dir}/{tag_slug(tag)}.md', overview)}) ({len(notes)})")
    pages[overview] = "\n".join(rows) + "\n"
    for tag, notes in tags.items():
        path = f"{tags_dir}/{tag_slug(tag)}.md"
        lines = [f"---\ntitle: {json.dumps('#' + tag, ensure_ascii=False)}\n---\n", f"# #{_text(tag)}\n",
                 f"{labels['notes_tagged']}:\n"]
        lines += [f"- {_link(index, p, path)}" for p in notes]
        children = [t for t in tags if fold(t).startswith(fold(tag) + "/") and t.count("/") == tag.count("/") + 1]
        if children:
            lines.append("")
            lines += [f"- [#{_text(c)}]({rel_href(f'{tags_dir}/{tag_slug(c)}.md', path)})" for c in children]
        lines.append(f"\n[{labels['tags']}]({rel_href(overview, path)})")
        pages[path] = "\n".join(lines) + "\n"
    return pages


def graph_div(node: str | None, height: int) -> str:
    """The element the graph script fills: the whole vault (``node`` None) or a local graph."""
    attr = f' data-node="{escape(node)}"' if node else ""
    kind = "kb-local-graph" if node else "kb-global-graph"
    return f'<div class="kb-graph {kind}"{attr} style="height:{height}px"></div>'


def local_graph_html(path: str, labels: Labels) -> str:
    return (f'\n<details class="kb-local-graph-box" open><summary>{escape(labels["local_graph"])}</summary>'
            f"{graph_div(path, 300)}</details>\n")


def graph_page(labels: Labels) -> str:
    return f"---\ntitle: {labels['graph']}\n---\n\n# {labels['graph']}\n\n{graph_div(None, 640)}\n"


def home_page(index: VaultIndex, site_name: str, labels: Labels, tags_dir: str | None,
              graph_path: str | None) -> str:
    """A home page for a vault without ``index.md``: notes by folder, tags, the graph."""
    out = [f"# {site_name}\n"]
    if graph_path:
        out.append(f"{graph_div(None, 420)}\n")
        out.append(f"[{labels['graph']}]({rel_href(graph_path, 'index.md')})\n")
    out.append(f"## {labels['notes']}\n")
    last = None
    for p, n in index.notes.items():
        folder = posixpath.dirname(p)
        if folder != last:
            if folder:
                out.append(f"\n**{_text(folder)}/**\n")
            last = folder
        out.append(f"- {_link(index, p, 'index.md')}")
    tags = index.tags()
    if tags and tags_dir:
        out.append(f"\n## {labels['tags']}\n")
        out.append(" ".join(f"[#{_text(t)}]({rel_href(f'{tags_dir}/{tag_slug(t)}.md', 'index.md')})"
                            f"{{ .kb-tag }}" for t in tags))
    return "\n".join(out) + "\n"


def folder_pages(index: VaultIndex, existing: set[str], labels: Labels) -> dict[str, str]:
    """``<folder>/index.md`` for each note folder without one: its notes and subfolders."""
    folders: set[str] = set()
    for p in index.notes:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.add("/".join(parts[:i]))
    pages = {}
    for folder in sorted(folders):
        path = f"{folder}/index.md"
        if path in existing:
            continue
        name = folder.rsplit("/", 1)[-1]
        lines = [f"---\ntitle: {json.dumps(name, ensure_ascii=False)}\n---\n", f"# {_text(name)}\n"]
        subs = sorted(f for f in folders if posixpath.dirname(f) == folder)
        lines += [f"- [{_text(s.rsplit('/', 1)[-1])}/]({rel_href(f'{s}/index.md', path)})" for s in subs]
        lines += [f"- {_link(index, p, path)}" for p in index.notes if posixpath.dirname(p) == folder]
        pages[path] = "\n".join(lines) + "\n"
    return pages
