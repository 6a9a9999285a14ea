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
          labels: {}              # reader-facing words, e.g. {backlinks: "Linked from"} (kbgen.labels)
          outside_symlinks: follow # or "refuse": symlinks out of docs_dir are left out and reported
          fast_serve: true        # mkdocs serve: re-render edited notes at once, rebuild in the background
"""

from __future__ import annotations

import gc
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, CombinedEvent, event_priority
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from kbgen.config import KbgenConfig
from kbgen.labels import labels_for
from kbgen.serve.live import LiveServe
from kbgen.site import glossary
from kbgen.site.values import ValueRenderer, ValuesExtension, locate_binding
from kbgen.vault import pages
from kbgen.vault.graph import graph_data_js
from kbgen.vault.index import Note, VaultIndex, parse_note
from kbgen.vault.problems import source_problems
from kbgen.vault.mdext import VaultExtension
from kbgen.vault.render import EMBED_HEADING_PREFIX, Problem, Renderer, tag_slug
from kbgen.vault.slug import Slugify, default_slugify

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
    "footnotes": {"USE_DEFINITION_ORDER": False},  # [^1] and ^[inline], numbered as read, as Obsidian does
}


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
        self._after_title: dict[str, list[str]] = {}  # src_uri -> HTML to put under the page title
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
        if config.theme is not None and config.theme.name == "material" and not _user_set_font(config):
            config.theme["font"] = False  # Material would load Google Fonts: nothing from the internet
        self.slugify, self.sep = heading_slugify(config)
        try:
            self.labels = labels_for(config.theme.get("language") if config.theme else None, self.config.labels)
        except ValueError as exc:
            raise PluginError(f"kbgen: labels: {exc}") from None

        self.renderer = Renderer(VaultIndex([]), tags_dir=self.config.tags_dir or None,
                                 url_for=self._url_for)
        self.ext = VaultExtension(self.renderer)
        exts.append(self.ext)  # type: ignore[arg-type]  # MkDocs accepts Extension instances
        # {{x.py:key}} values bound into prose (kbgen.site.values); errors are reported per page.
        self.values = ValuesExtension(ValueRenderer(None),
                                      locate=lambda raw: locate_binding(raw, self.index.notes if self.index else {}))
        exts.append(self.values)  # type: ignore[arg-type]
        self.terms = glossary.TermExtension()  # hover definitions of glossary terms
        exts.append(self.terms)  # type: ignore[arg-type]
        self.glossary_labels = glossary.labels_for(config.theme.get("language") if config.theme else None)
        for css in (GRAPH_CSS,):
            if css not in [str(x) for x in config.extra_css]:
                config.extra_css.append(css)
        for js in (GRAPH_DATA, GRAPH_JS):
            if js not in [str(x) for x in config.extra_javascript]:
                config.extra_javascript.append(js)

        self.engine = self._snippet_engine(config)
        if self.engine is not None:
            self.engine.labels = self.labels  # snippet pages speak the site's language
        self.values.renderer.provider, self.values.renderer.executed = self.engine, bool(self.config.execute)
        if self.engine is not None and "pymdownx.superfences" in exts:
            self.engine.enable_highlight_memo(config.mdx_configs)
        if self.config.notebooks:
            _ensure_notebook_plugin(config)
        if self.config.site:
            from kbgen.site.plugin import ensure_site_plugin

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
            **self._executor_options(),
        )

    def _executor_options(self) -> dict[str, Any]:
        if self.config.executor == "local":
            return {}
        from kbgen.snippets.dask_executor import ClusterOptions

        return {"executor": self.config.executor, "cluster": ClusterOptions(
            scheduler=self.config.dask_scheduler, workers=self.config.dask_workers,
            gpu_fallback=self.config.gpu_fallback)}

    # -- snippets: executed in on_files, their pages filled once references are known --
    def _add_snippet_files(self, files: Files, config: MkDocsConfig) -> Files:
        """Run the snippets (cached) and add their pages, figures and downloads to ``files``."""
        from kbgen.snippets.cache import CacheRemovedError
        from kbgen.snippets.dask_executor import ClusterError  # executor: dask, the cluster failed as a whole

        engine = self.engine
        assert engine is not None
        try:
            engine.run()
        except (CacheRemovedError, ClusterError) as e:
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
        found = read_vault_files(files, self.slugify, self.sep, docs_dir=config.docs_dir,
                                 outside_symlinks=self.config.outside_symlinks)
        notes, attachments = found.notes, found.attachments
        for f in found.rejected:
            files.remove(f)
        for problem in found.problems:
            self._report(problem)
        if self.engine is not None:
            files = self._add_snippet_files(files, config)
        # The glossary is generated from the notes' `terms:` but is a note of the vault like any
        # other: `[[术语表]]` must resolve, so it is parsed into the index with the notes.
        terms = glossary.collect_terms((n.path, n.title, n.frontmatter, n.source) for n in notes)
        for term_problem in terms.problems:
            log.warning(f"kbgen: glossary: {term_problem}")
        self.terms.set_terms(terms.terms)
        glossary_src = self.config.glossary_page
        glossary_md = None
        if glossary_src and terms.terms and files.get_file_from_path(glossary_src) is None:
            glossary_md = glossary.glossary_page(terms, glossary_src, self.glossary_labels)
            notes = [*notes, parse_note(glossary_src, glossary_md, self.slugify, self.sep)]
        self.index = index = VaultIndex(notes, attachments, self.engine)
        assert self.renderer is not None
        self.renderer.index, self.renderer.snippets = index, self.engine
        if self.engine is not None and hasattr(self.engine, "set_references"):  # SnippetReferenceSink
            self.engine.set_references(index.snippet_users())
        self._fill_snippet_pages(files)
        for problem in source_problems(index):
            self._report(problem)

        generated: dict[str, str] = {}
        existing = {f.src_uri for f in files}
        if self.config.tags_dir:
            generated.update(pages.tag_pages(index, self.config.tags_dir, self.labels))
        if self.config.graph_page:
            generated[self.config.graph_page] = pages.graph_page(self.labels)
        if glossary_md is not None:
            generated[glossary_src] = glossary_md
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
        files.append(File.generated(config, GRAPH_DATA, content=graph_data_js(index, lambda p: _dest_uri(files, p))))
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

    # -- pages -----------------------------------------------------------------------
    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        if self.live is not None:
            self.live.check_superseded()
        assert self.ext is not None and self.index is not None
        src = page.file.src_uri
        note = self.index.notes.get(src)
        if note is None or src.lower().endswith(".ipynb"):  # mkdocs-jupyter renders notebooks
            self.ext.set_page(None)
            self.values.set_page(None)
            self.terms.set_page(None)
            return markdown
        # MkDocs hands over the body without the frontmatter; map its lines back to the file.
        offset = note.source.count("\n") - markdown.count("\n")
        self.ext.set_page(src, page_url=page.url, line_offset=offset)
        self.values.set_page(src, note.source, page.url)
        # The glossary itself states each term: no hover definitions of its own words.
        self.terms.set_page(None if src == self.config.glossary_page else src)
        if self._files is not files or len(self._urls) != len(files):
            self._files, self._urls = files, {f.src_uri: f.url for f in files}
        self._page_url = page.url
        return markdown

    def _url_for(self, target: str, page_path: str) -> str | None:
        """Relative URL of the site file ``target`` from the page being rendered (None: no such file)."""
        url = self._urls.get(target)
        return None if url is None else get_relative_url(url, self._page_url)

    def _page_content(self, html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        if self.renderer is not None:
            for p in self.renderer.problems:
                self._report(p)
            self.renderer.problems.clear()
        for b in self.values.problems:
            self._report(Problem(b.note, b.line, "error", b.message))
        self.values.problems.clear()
        if page.toc is not None:  # an embedded note's headings are not the host's outline
            page.toc.items = _without_embedded_headings(page.toc.items)
        index = self.index
        note = index.notes.get(page.file.src_uri) if index is not None else None
        if index is None or note is None:
            return html
        if self.config.tags_dir:
            tags_dir = self.config.tags_dir
            self.after_title(page, pages.tag_bar_html(
                note.frontmatter, lambda t: self._url_for(f"{tags_dir}/{tag_slug(t)}.md", note.path)))
        if self.config.local_graph and self.config.graph_page:
            html += pages.local_graph_html(note.path, self.labels)
        if self.config.backlinks:
            html += pages.backlinks_html(index, note.path, self.labels,
                                         lambda p: self._url_for(p, note.path))
        return html

    # -- one step puts every plugin's per-page additions under the page title --------
    def after_title(self, page: Page, html: str) -> None:
        """Queue ``html`` to go right after the page's ``<h1>`` (or at the top when it has none).
        kbgen-site's banner goes through here too (see :func:`after_title`)."""
        if html:
            self._after_title.setdefault(page.file.src_uri, []).append(html)

    @event_priority(-100)  # after every plugin's own on_page_content
    def _insert_after_title(self, html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        parts = self._after_title.pop(page.file.src_uri, None)
        if not parts:
            return html
        block = "\n" + "".join(parts)
        m = _H1_END.search(html)
        return block + html if m is None else html[: m.end()] + block + html[m.end():]

    on_page_content = CombinedEvent(_page_content, _insert_after_title)

    def _report(self, p: Problem) -> None:
        if p in self._reported:
            return
        self._reported.add(p)
        msg = f"kbgen: {p}"
        if p.level == "error":
            log.error(msg)
        elif p.level in ("cycle", "depth", "invalid") or self.config.unresolved == "warn":
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
    @event_priority(-100)  # after every other plugin: the nav and env the pages are built with
    def on_nav(self, nav, config: MkDocsConfig, files: Files):
        if self.live is not None:
            self.live.on_nav(nav)
        return nav

    @event_priority(-100)
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


def heading_slugify(config: MkDocsConfig) -> tuple[Slugify, str]:
    """(slugify, separator) of the page's toc: what heading ids and ``[[note#heading]]`` use."""
    toc = config.mdx_configs.get("toc", {})
    return toc.get("slugify") or _markdown_default_slugify(), toc.get("separator", "-")


@dataclass
class VaultFiles:
    """The vault as read from MkDocs' file list: ``rejected`` files are left out of the site,
    each with a ``problems`` entry saying why (``file:line``) and what to do."""

    notes: list[Note] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rejected: list[File] = field(default_factory=list)


def read_vault_files(files: Files, slugify: Slugify, sep: str = "-", *, docs_dir: str | None = None,
                     outside_symlinks: str = "follow") -> VaultFiles:
    """The vault in ``files`` (MkDocs' file list): parsed notes and attachment paths. Generated
    files and kbgen's own assets are not part of the vault. A note that is not UTF-8, a dangling
    symlink and (with ``outside_symlinks="refuse"``) a symlink leading out of ``docs_dir`` are
    rejected with one ``file:line`` problem each. The build and ``kbgen check`` both read the
    vault through this function."""
    out = VaultFiles()
    root = os.path.realpath(docs_dir) if docs_dir else None
    for f in files:
        if f.generated_by is not None or f.src_uri.startswith("assets/kbgen/"):
            continue
        why = _unreadable_link(f, root, outside_symlinks == "refuse")
        is_note = f.is_documentation_page() or f.src_uri.lower().endswith(".ipynb")
        if why is None and is_note:
            try:
                out.notes.append(parse_note(f.src_uri, f.content_string, slugify, sep))
                continue
            except UnicodeDecodeError as exc:
                raw = Path(f.abs_src_path or "").read_bytes() if f.abs_src_path else b""
                line = raw.count(b"\n", 0, exc.start) + 1
                why = (line, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); the note is left "
                             "out of the site: save it as UTF-8" if raw else "not UTF-8; the note is left out")
            except OSError as exc:
                why = (1, f"cannot be read ({exc.strerror or exc}); it is left out of the site")
        if why is not None:
            out.problems.append(Problem(f.src_uri, why[0], "invalid", why[1]))
            out.rejected.append(f)
        elif not is_note and not f.src_uri.endswith((".js", ".css")):
            out.attachments.append(f.src_uri)
    return out


def _unreadable_link(f: File, root: str | None, refuse_outside: bool) -> tuple[int, str] | None:
    """(line, why) when ``f`` is a dangling symlink, or a symlink out of the vault that is refused."""
    path = f.abs_src_path
    if not path or (root is not None and f.src_dir and os.path.realpath(f.src_dir) != root):
        return None  # not a vault file (a theme's own files)
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return 1, f"dangling symlink (it points to {os.readlink(path) if os.path.islink(path) else real}, which does not exist); it is left out of the site"
    if refuse_outside and root is not None and os.path.commonpath([root, real]) != root:
        return 1, ("symlink leading out of the vault (to a file outside docs_dir); refused because "
                   "`outside_symlinks: refuse`: it is left out of the site")
    return None


_H1_END = re.compile(r"</h1>", re.I)


def _dest_uri(files: Files, path: str) -> str:
    f = files.get_file_from_path(path)
    return f.dest_uri if f is not None else path


def _kbgen(config: MkDocsConfig) -> "KbgenPlugin":
    for plugin in config.plugins.values():
        if isinstance(plugin, KbgenPlugin):
            return plugin
    raise PluginError("this plugin works with the 'kbgen' plugin: add `- kbgen` to plugins in mkdocs.yml")


def after_title(config: MkDocsConfig, page: Page, html: str) -> None:
    """For other plugins: put ``html`` under the page's title, in kbgen's one insertion step."""
    _kbgen(config).after_title(page, html)


def vault_index(config: MkDocsConfig) -> VaultIndex:
    """The build's :class:`VaultIndex`, for other plugins (read it from ``on_files`` with a
    priority below 0, or any later event). Raises ``PluginError`` when ``kbgen`` is not in the
    build or has not indexed the vault yet."""
    plugin = _kbgen(config)
    if plugin.index is None:
        raise PluginError("kbgen has not indexed the vault yet: read the index after kbgen's on_files")
    return plugin.index


def _without_embedded_headings(items: list) -> list:
    """Toc entries without the headings of embedded notes (ids ``kb-embed-*``, see the
    renderer), re-nested by level so the host's own headings after an embed keep their place."""
    flat: list = []

    def walk(entries: list) -> None:
        for entry in entries:
            if not entry.id.startswith(EMBED_HEADING_PREFIX):
                flat.append(entry)
            walk(entry.children)

    walk(items)
    roots: list = []
    stack: list = []
    for entry in flat:
        entry.children = []
        while stack and stack[-1].level >= entry.level:
            stack.pop()
        (stack[-1].children if stack else roots).append(entry)
        stack.append(entry)
    return roots


def _ensure_notebook_plugin(config: MkDocsConfig) -> None:
    """Add mkdocs-jupyter (notebooks only, not executed) when the vault holds ``*.ipynb`` and
    mkdocs.yml does not configure it: each notebook becomes a page, linkable like a note."""
    if any(name in ("mkdocs-jupyter", "mkdocs_jupyter") or type(p).__module__.startswith("mkdocs_jupyter")
           for name, p in config.plugins.items()):
        return
    has_notebooks = any(name.lower().endswith(".ipynb") and not any(part.startswith(".") for part in dirpath.split(os.sep))
                        for dirpath, _dirs, names in os.walk(config.docs_dir) for name in names)
    if not has_notebooks:
        return
    try:
        from mkdocs_jupyter.plugin import Plugin as NotebookPlugin  # type: ignore[import-untyped]
    except ImportError:
        log.warning("kbgen: the vault has *.ipynb notebooks; install mkdocs-jupyter to make them pages")
        return
    plugin = NotebookPlugin()
    errors, _warnings = plugin.load_config({"include": ["*.ipynb"], "execute": False}, config.config_file_path)
    for key, err in errors:
        raise PluginError(f"kbgen: mkdocs-jupyter: {key}: {err}")
    config.plugins["mkdocs-jupyter"] = plugin


def _user_set_font(config: MkDocsConfig) -> bool:
    """True when mkdocs.yml itself sets ``theme.font`` (kbgen then leaves it as configured)."""
    from mkdocs.utils.yaml import yaml_load

    path = config.config_file_path
    if not path:
        return True
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml_load(f)
    except Exception:  # unreadable here means: do not second-guess the user's theme
        return True
    theme = raw.get("theme") if isinstance(raw, dict) else None
    return isinstance(theme, dict) and "font" in theme


def _markdown_default_slugify():
    from markdown.extensions.toc import slugify

    return slugify


# Last: kbgen.site's plugin imports after_title and vault_index from this module.
from kbgen.site import glossary  # noqa: E402
from kbgen.site.values import ValueRenderer, ValuesExtension, locate_binding  # noqa: E402
