"""MkDocs plugin: the thin shell that wires kbgen's vault and snippet engine into a build.

Everything Obsidian-shaped lives in :mod:`kbgen.vault` (plain Python + a Python-Markdown
extension); this module only reads options, builds the index once per build, adds generated
files and hands each page to the extension. Options (all optional)::

    plugins:
      - kbgen:
          unresolved: info        # or "warn": unresolved/ambiguous links fail --strict
          snippets_dir: snippets  # next to mkdocs.yml
          tags_dir: tags          # generated tag pages ("" = inline tags stay text)
          graph_page: graph.md    # global graph page ("" = none)
          local_graph: true       # small graph at the end of each note
          backlinks: true
          home_page: true         # generate index.md when the vault has none
          folder_pages: true      # generate <folder>/index.md for folders without one
          markdown_defaults: true # add callouts/tasklist/attr_list/md_in_html + unicode toc slugs
          site: true              # add the reader's-site plugin (kbgen-site) with its defaults
          fast_serve: true        # mkdocs serve: re-render edited notes at once, rebuild in the background
"""

from __future__ import annotations

import gc
import json
import logging
import re
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from kbgen.serve.live import LiveServe
from kbgen.vault import pages
from kbgen.vault.index import VaultIndex, parse_note
from kbgen.vault.lint import note_problems
from kbgen.vault.mdext import VaultExtension
from kbgen.vault.render import Problem, Renderer, tag_slug
from kbgen.vault.slug import default_slugify

if TYPE_CHECKING:  # imported when a snippets folder exists (see _snippet_engine)
    from kbgen.snippets.engine import SnippetEngine

log = logging.getLogger("mkdocs.plugins.kbgen")

ASSETS = Path(__file__).resolve().parent / "assets"
GRAPH_JS, GRAPH_CSS, GRAPH_DATA = "assets/kbgen/graph.js", "assets/kbgen/graph.css", "assets/kbgen/graph-data.js"

#: Markdown extensions a vault needs (added when missing, with these options).
DEFAULT_EXTENSIONS: dict[str, dict] = {
    "pymdownx.quotes": {"callouts": True},
    "attr_list": {},
    "md_in_html": {},
    "tables": {},
    "pymdownx.superfences": {},
    "pymdownx.tasklist": {"custom_checkbox": True},
}


class KbgenConfig(Config):
    unresolved = c.Choice(("info", "warn"), default="info")
    snippets_dir = c.Type(str, default="snippets")
    snippet_timeout = c.Type((int, float), default=60)
    execute = c.Type(bool, default=True)  # false: snippets are not run, pages show their source only
    snippet_memory_mb = c.Optional(c.Type(int))  # address-space cap per snippet; None: RAM / jobs, 0: none
    tags_dir = c.Type(str, default="tags")
    graph_page = c.Type(str, default="graph.md")
    local_graph = c.Type(bool, default=True)
    backlinks = c.Type(bool, default=True)
    home_page = c.Type(bool, default=True)
    folder_pages = c.Type(bool, default=True)
    markdown_defaults = c.Type(bool, default=True)
    site = c.Type(bool, default=True)
    fast_serve = c.Type(bool, default=True)  # mkdocs serve: edited notes first, the site in the background


class KbgenPlugin(BasePlugin[KbgenConfig]):
    """Registered as ``kbgen`` (entry point ``mkdocs.plugins``).

    After ``on_files``, ``self.index`` is the build's :class:`kbgen.vault.VaultIndex` (other
    plugins may read it: ``config.plugins["kbgen"].index``).
    """

    def __init__(self) -> None:
        self.index: VaultIndex | None = None
        self.engine: SnippetEngine | None = None
        self.renderer: Renderer | None = None
        self.ext: VaultExtension | None = None
        self._reported: set[Problem] = set()
        self._generated: set[str] = set()
        self._files: Files | None = None
        self._urls: dict[str, str] = {}  # src_uri -> url of every file in the build
        self._page_url = ""
        self._command = "build"
        self._frozen = False  # gc.freeze() in effect (between on_files and the end of the build)
        self.live: LiveServe | None = None  # under `mkdocs serve`: fast path + background builds

    def on_startup(self, *, command: str, dirty: bool) -> None:
        # Defining on_startup also keeps this instance across `mkdocs serve` rebuilds.
        self._command = command
        if command == "serve" and self.config.fast_serve and self.live is None:
            self.live = LiveServe()

    # -- configuration ---------------------------------------------------------------
    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        if self.live is not None:
            self.live.on_build_start()
        exts = config.markdown_extensions
        if self.config.markdown_defaults:
            for name, opts in DEFAULT_EXTENSIONS.items():
                if name not in exts:
                    exts.append(name)
                    config.mdx_configs[name] = dict(opts)
                elif name == "pymdownx.quotes":
                    config.mdx_configs.setdefault(name, {}).setdefault("callouts", True)
            toc = config.mdx_configs.setdefault("toc", {})
            toc.setdefault("slugify", default_slugify)
        toc = config.mdx_configs.get("toc", {})
        self.slugify = toc.get("slugify") or _markdown_default_slugify()
        self.sep = toc.get("separator", "-")
        self.labels = pages.labels_for(config.theme.get("language") if config.theme else None)

        self.renderer = Renderer(VaultIndex([]), tags_dir=self.config.tags_dir or None, labels=self.labels,
                                 url_for=self._url_for)
        self.ext = VaultExtension(self.renderer)
        exts.append(self.ext)
        for css in (GRAPH_CSS,):
            if css not in [str(x) for x in config.extra_css]:
                config.extra_css.append(css)
        for js in (GRAPH_DATA, GRAPH_JS):
            if js not in [str(x) for x in config.extra_javascript]:
                config.extra_javascript.append(js)

        self.engine = self._snippet_engine(config)
        if self.engine is not None and "pymdownx.superfences" in exts:
            self.engine.enable_highlight_memo(config.mdx_configs)
        if self.config.site:
            try:
                from kbgen.site import ensure_site_plugin
            except ImportError:  # kbgen.site is optional
                ensure_site_plugin = None
            if ensure_site_plugin is not None:
                ensure_site_plugin(config)
        return config

    def _snippet_engine(self, config: MkDocsConfig) -> "SnippetEngine | None":
        root = Path(config.config_file_path or ".").resolve().parent
        snippets_dir = root / self.config.snippets_dir
        if not snippets_dir.is_dir():
            return None
        from kbgen.snippets import SnippetEngine

        return SnippetEngine.from_options(
            root, snippets_dir=snippets_dir, timeout=self.config.snippet_timeout, strict=bool(config.strict),
            docs_dir=Path(config.docs_dir), memory_limit_mb=self.config.snippet_memory_mb,
            live=self._command == "serve", execution=self.config.execute,
        )

    # -- snippets: executed in on_files, their pages filled once references are known --
    def _add_snippet_files(self, files: Files, config: MkDocsConfig) -> Files:
        """Run the snippets (cached) and add their pages, figures and downloads to ``files``."""
        from kbgen.snippets.cache import CacheRemovedError

        engine = self.engine
        assert engine is not None
        try:
            engine.run()
        except CacheRemovedError as e:
            raise PluginError(str(e)) from None
        added: dict[str, str] = {}

        def add(f: File) -> None:
            existing = files.get_file_from_path(f.src_uri)
            if existing is not None:
                log.warning("kbgen: %s exists in docs/ and shadows the generated snippet file", f.src_uri)
                f = existing
            else:
                files.append(f)
            added[f.src_uri] = f.url

        for a in engine.artifacts():
            if a.abs_path is not None:
                add(File.generated(config, a.src_uri, abs_src_path=str(a.abs_path)))
            else:
                add(File.generated(config, a.src_uri, content=a.content if a.content is not None else ""))
        for uri in engine.page_uris():
            add(File.generated(config, uri, content=""))
        engine.set_urls(added)
        return files

    def _fill_snippet_pages(self, files: Files) -> None:
        if self.engine is None:
            return
        for uri, markdown in self.engine.pages().items():
            f = files.get_file_from_path(uri)
            if f is not None and f.generated_by is not None:
                f.content_string = markdown

    # -- files: index, generated pages -----------------------------------------------
    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        self._reported = set()
        notes, attachments = [], []
        for f in files:
            if f.generated_by is not None or f.src_uri.startswith("assets/kbgen/"):
                continue
            if f.is_documentation_page():
                text = f.content_string
                note = parse_note(f.src_uri, text, self.slugify, self.sep)
                notes.append(note)
                for line, message in note_problems(text, (note.frontmatter, note.body_offset)):
                    self._report(Problem(f.src_uri, line, "invalid", message))
            elif not f.src_uri.endswith((".js", ".css")):
                attachments.append(f.src_uri)
        if self.engine is not None:
            files = self._add_snippet_files(files, config)
        self.index = index = VaultIndex(notes, attachments, self.engine)
        assert self.renderer is not None
        self.renderer.index, self.renderer.snippets = index, self.engine
        if self.engine is not None and hasattr(self.engine, "set_references"):  # SnippetReferenceSink
            refs: dict[str, list[tuple[str, str]]] = {}
            for name, uses in index.snippet_references().items():
                for path, _line in uses:
                    if (path, index.notes[path].title) not in refs.setdefault(name, []):
                        refs[name].append((path, index.notes[path].title))
            self.engine.set_references(refs)
        self._fill_snippet_pages(files)
        self._report_frontmatter_links(index)

        generated: dict[str, str] = {}
        existing = {f.src_uri for f in files}
        if self.config.tags_dir:
            generated.update(pages.tag_pages(index, self.config.tags_dir, self.labels))
        if self.config.graph_page:
            generated[self.config.graph_page] = pages.graph_page(self.labels)
        if self.config.folder_pages:
            generated.update(pages.folder_pages(index, existing, self.labels))
        if self.config.home_page and "index.md" not in existing and "README.md" not in existing:
            generated["index.md"] = pages.home_page(index, config.site_name, self.labels,
                                                    self.config.tags_dir or None, self.config.graph_page or None)
        self._generated = set()
        for path, content in generated.items():
            if path in existing:
                log.info(f"kbgen: {path} exists in the vault; not generating it")
                continue
            # One page per tag would crowd the nav (and every page renders the whole nav):
            # only the tag overview is listed, the tag pages are reached from it and from tags.
            tag_page = bool(self.config.tags_dir) and path.startswith(self.config.tags_dir + "/") \
                and path != f"{self.config.tags_dir}/index.md"
            inclusion = InclusionLevel.NOT_IN_NAV if tag_page else InclusionLevel.UNDEFINED
            files.append(File.generated(config, path, content=content, inclusion=inclusion))
            self._generated.add(path)
        for dest, src in ((GRAPH_JS, "graph.js"), (GRAPH_CSS, "graph.css")):
            if files.get_file_from_path(dest) is None:
                files.append(File.generated(config, dest, abs_src_path=str(ASSETS / src)))
        files.append(File.generated(config, GRAPH_DATA, content=self._graph_data(files)))
        self._freeze_heap()
        return files

    # -- garbage collection ----------------------------------------------------------
    # The index, the config and the files live for the whole build, and every full collection
    # would walk them again (a third of a 2,000-note build). They are set aside from the
    # collector while pages render and handed back when the build ends, so nothing leaks
    # across `mkdocs serve` rebuilds.
    def _freeze_heap(self) -> None:
        if not self._frozen:
            gc.freeze()
            self._frozen = True

    def _unfreeze_heap(self) -> None:
        if self._frozen:
            gc.unfreeze()
            self._frozen = False

    def on_build_error(self, error: Exception) -> None:
        self._unfreeze_heap()

    def _graph_data(self, files: Files) -> str:
        """``window.kbgenGraph``: nodes (id = vault path, t = title, u = URL from the site root,
        d = description) and links (pairs of node indices, undirected)."""
        assert self.index is not None
        index = self.index
        order = {p: i for i, p in enumerate(index.notes)}
        nodes = []
        for p, n in index.notes.items():
            f = files.get_file_from_path(p)
            node = {"id": p, "t": n.title, "u": f.dest_uri if f else p}
            if n.description:
                node["d"] = n.description[:200]
            nodes.append(node)
        links = set()
        for p in index.notes:
            for q in index.outlinks(p):
                a, b = order[p], order[q]
                links.add((min(a, b), max(a, b)))
        data = {"nodes": nodes, "links": sorted(links)}
        return "window.kbgenGraph = " + json.dumps(data, ensure_ascii=False, separators=(",", ":")) + ";\n"

    def _report_frontmatter_links(self, index: VaultIndex) -> None:
        for p, n in index.notes.items():
            for link in n.links:
                if link.field is None:
                    continue
                r = index.resolve(link.target, p)
                if r.kind in ("unresolved", "error"):
                    self._report(Problem(p, link.line, "unresolved",
                                         f"unresolved link [[{link.target}]] in frontmatter '{link.field}'"))

    # -- pages -----------------------------------------------------------------------
    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        if self.live is not None:
            self.live.check_superseded()
        assert self.ext is not None and self.index is not None
        src = page.file.src_uri
        note = self.index.notes.get(src)
        if note is None:
            self.ext.set_page(None)
            return markdown
        # MkDocs hands over the body without the frontmatter; map its lines back to the file.
        offset = note.source.count("\n") - markdown.count("\n")
        self.ext.set_page(src, page_url=page.url, line_offset=offset)
        if self._files is not files or len(self._urls) != len(files):
            self._files, self._urls = files, {f.src_uri: f.url for f in files}
        self._page_url = page.url
        return markdown

    def _url_for(self, target: str, page_path: str) -> str | None:
        """Relative URL of the site file ``target`` from the page being rendered (None: no such file)."""
        url = self._urls.get(target)
        return None if url is None else get_relative_url(url, self._page_url)

    def on_page_content(self, html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        if self.renderer is not None:
            for p in self.renderer.problems:
                self._report(p)
            self.renderer.problems.clear()
        note = self.index.notes.get(page.file.src_uri) if self.index else None
        if note is None:
            return html
        if self.config.tags_dir:
            bar = self._tag_bar(note, page, files)
            m = re.search(r"</h1>", html)
            html = html[: m.end()] + bar + html[m.end():] if m else bar + html
        if self.config.local_graph and self.config.graph_page:
            html += pages.local_graph_html(note.path, self.labels)
        if self.config.backlinks:
            html += pages.backlinks_html(self.index, note.path, self.labels,
                                         lambda p: self._url_for(p, note.path))
        return html

    def _tag_bar(self, note, page: Page, files: Files) -> str:
        """Frontmatter tags as links to their tag pages (inline tags are linked in place)."""
        links = []
        for t in note.tags:
            if t not in _frontmatter_tags(note.frontmatter):
                continue
            f = files.get_file_from_path(f"{self.config.tags_dir}/{tag_slug(t)}.md")
            if f is not None:
                href = get_relative_url(f.url, page.url)
                links.append(f'<a class="kbgen-tag" href="{escape(href)}">#{escape(t)}</a>')
        return f'\n<p class="kbgen-tags">{" ".join(links)}</p>\n' if links else ""

    def _report(self, p: Problem) -> None:
        if p in self._reported:
            return
        self._reported.add(p)
        msg = f"kbgen: {p}"
        if p.level == "error":
            log.error(msg)
        elif p.level in ("cycle", "invalid") or self.config.unresolved == "warn":
            log.warning(msg)
        else:
            log.info(msg)

    def on_post_build(self, config: MkDocsConfig) -> None:
        self._unfreeze_heap()
        if self.engine is not None:
            try:
                self.engine.write_report(config.site_dir)
                if self.engine.fails_build():
                    raise PluginError(self.engine.failure_message())
            finally:
                self.engine.close()

    def on_serve(self, server, config: MkDocsConfig, builder):
        paths: list[Path] = self.engine.watch_paths() if self.engine is not None else []
        for p in paths:
            server.watch(str(p))
        if self.live is not None:
            self.live.attach(server, config)
        return server

    # -- mkdocs serve: kbgen.serve keeps the last build's state for its fast path -------------
    def on_nav(self, nav, config: MkDocsConfig, files: Files):
        if self.live is not None:
            self.live.on_nav(nav)
        return nav

    def on_env(self, env, config: MkDocsConfig, files: Files):
        if self.live is not None:
            self.live.on_env(env, config, files)
        return env

    def on_post_page(self, output: str, page: Page, config: MkDocsConfig) -> str:
        if self.live is not None:
            self.live.check_superseded()
        return output

    def on_shutdown(self) -> None:
        if self.live is not None:
            self.live.shutdown()


def _frontmatter_tags(meta: dict) -> set[str]:
    value = meta.get("tags") or meta.get("tag") or []
    if isinstance(value, str):
        value = value.split(",")
    return {str(t).strip().lstrip("#") for t in value if t}


def _markdown_default_slugify():
    from markdown.extensions.toc import slugify

    return slugify
