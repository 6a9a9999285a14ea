"""Options of the ``kbgen`` MkDocs plugin (the plugin itself: :mod:`kbgen.plugin`)."""

from __future__ import annotations

from mkdocs.config import config_options as c
from mkdocs.config.base import Config


class KbgenConfig(Config):
    """``plugins: - kbgen: {...}`` in mkdocs.yml (every option optional; README lists them)."""

    unresolved = c.Choice(("info", "warn"), default="info")
    snippets_dir = c.Type(str, default="snippets")
    snippet_timeout = c.Type((int, float), default=60)
    execute = c.Type(bool, default=True)  # false: snippets are not run, pages show their source only
    snippet_memory_mb = c.Optional(c.Type(int))  # address-space cap per snippet; None: RAM / jobs, 0: none
    # Where stale snippets run: "local" (fork server here) or "dask" (one task per snippet; README
    # "Building on a cluster"). dask_scheduler: tcp://host:8786 (None: $KBGEN_DASK_SCHEDULER, else a
    # LocalCluster of dask_workers processes on 127.0.0.1); gpu_fallback: cpu lets resources=GPU
    # snippets run on CPU workers when no worker offers a GPU (default: they fail).
    executor = c.Choice(("local", "dask"), default="local")
    dask_scheduler = c.Optional(c.Type(str))
    dask_workers = c.Optional(c.Type(int))
    gpu_fallback = c.Choice(("fail", "cpu"), default="fail")
    tags_dir = c.Type(str, default="tags")
    graph_page = c.Type(str, default="graph.md")
    local_graph = c.Type(bool, default=True)
    backlinks = c.Type(bool, default=True)
    home_page = c.Type(bool, default=True)
    folder_pages = c.Type(bool, default=True)
    markdown_defaults = c.Type(bool, default=True)
    glossary_page = c.Type(str, default="术语表.md")  # from frontmatter `terms:`; "" for none
    site = c.Type(bool, default=True)
    labels = c.Type(dict, default={})  # overrides of reader-facing words (keys of kbgen.labels)
    # A file that is a symlink to a place outside docs_dir: "follow" (MkDocs' behaviour: it is
    # part of the vault) or "refuse" (left out of the site, reported with its path).
    outside_symlinks = c.Choice(("follow", "refuse"), default="follow")
    # *.ipynb in the vault become pages through mkdocs-jupyter (added when mkdocs.yml does not
    # list it), linkable and embeddable with wikilinks.
    notebooks = c.Type(bool, default=True)
    # mkdocs serve: an edited note's page is re-rendered at once, the whole site rebuilt in the
    # background (kbgen.serve); false: MkDocs' own full rebuild on every save.
    fast_serve = c.Type(bool, default=True)
