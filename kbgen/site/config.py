"""Options of the ``kbgen-site`` MkDocs plugin (the plugin itself: :mod:`kbgen.site.plugin`)."""

from __future__ import annotations

from mkdocs.config import config_options as c
from mkdocs.config.base import Config


class SiteConfig(Config):
    """Options of ``kbgen-site`` (all optional)."""

    #: Folder of the level pages; a vault without it gets no learning-path features.
    path_dir = c.Type(str, default="learning-path")
    #: Level page names (file stems) in path order; other level pages follow by ``order:``/name.
    levels = c.ListOfItems(c.Type(str), default=[])
    #: Generate ``nav`` from the path (ignored when mkdocs.yml has its own ``nav``).
    path_nav = c.Type(bool, default=True)
    #: Nav section title of the path's overview page (``<path_dir>/index.md``); "" = the
    #: ``path_title`` label of the site's language ("Learning path", "学习路径").
    path_title = c.Type(str, default="")
    #: Nav section titles for top-level folders off the path, e.g. ``{snippets: 代码片段}``.
    section_titles = c.Type(dict, default={})
    #: Folders whose pages stay out of the nav except their ``index.md`` (e.g. tag pages).
    nav_index_only = c.ListOfItems(c.Type(str), default=[])
    #: Level / prerequisites / next-step banner on each note.
    banner = c.Type(bool, default=True)
    #: Fail the build when a prerequisite comes at or after its note on the path.
    check_prerequisites = c.Type(bool, default=True)
    #: Render TeX math to MathML at build time (adds ``pymdownx.arithmatex`` when missing).
    math = c.Type(bool, default=True)
    #: Elements with any of these classes get ``data-search-exclude`` (snippet outputs).
    search_exclude_classes = c.ListOfItems(
        c.Type(str), default=["kb-snippet-output", "kb-output", "kb-caption", "jp-OutputArea", "jp-Cell-outputWrapper"]
    )
    #: Overrides of reader-facing words (keys of :mod:`kbgen.labels`), e.g. ``{next: "Next up"}``.
    labels = c.Type(dict, default={})
