"""Re-render one page of a finished build, with MkDocs' own steps, into HTML.

The steps are those of ``mkdocs.commands.build``: ``_populate_page`` (read the source, the
``page_markdown`` / ``page_content`` events, Markdown rendering), then what ``_build_page``
does before writing (the ``page_context`` event, the theme template, ``post_page``). The
output is returned instead of written, so the caller can place it atomically in the served
folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import jinja2
from mkdocs.commands.build import _populate_page, get_context
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.nav import Navigation
from mkdocs.structure.pages import Page


def render_page(page: Page, config: MkDocsConfig, files: Files, nav: Navigation, env: jinja2.Environment) -> str:
    """The page's complete HTML as ``mkdocs build`` would write it (``page`` must belong to
    ``files`` and ``nav`` of the same build)."""
    _populate_page(page, config, files)
    config._current_page = page
    page.active = True
    try:
        doc_files = files.documentation_pages()
        context = get_context(nav, doc_files, config, page)
        template = env.get_template(page.meta.get("template", "main.html"))
        context = config.plugins.on_page_context(context, page=page, config=config, nav=nav)
        output = template.render(context)
        return config.plugins.on_post_page(output, page=page, config=config)
    finally:
        page.active = False
        config._current_page = None


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a concurrent reader sees the old or the new file, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kbgen-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
