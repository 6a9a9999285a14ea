"""MkDocs shell of the reader's-site features (registered as ``kbgen-site``).

``kbgen`` installs it automatically with its defaults (``ensure_site_plugin``); list it
explicitly after ``kbgen`` to set options::

    plugins:
      - search
      - kbgen
      - kbgen-site:
          path_dir: 学习路径
      - offline
"""

from __future__ import annotations

import logging
import re
from html import escape
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, CombinedEvent, event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from kbgen.labels import Labels, labels_for
from kbgen.site.config import SiteConfig
import kbgen.plugin as kbgen_plugin  # a module, not names: kbgen.plugin imports kbgen.site too
from kbgen.site import banner, math, searchview
from kbgen.site import navtidy
from kbgen.site import steps as step_facts
from kbgen.site.nav import build_nav
from kbgen.site.path import LearningPath, check_order, path_items, prerequisites, read_path
from kbgen.vault.index import VaultIndex

log = logging.getLogger("mkdocs.plugins.kbgen.site")

ASSETS = Path(__file__).resolve().parents[1] / "assets"
#: Files copied into the site: (source under kbgen/assets, destination under site/).
SITE_ASSETS = {
    "site/kb.css": "assets/kbgen/kb.css",
    "site/kb.js": "assets/kbgen/kb.js",
    "site/logo.svg": "assets/kbgen/logo.svg",
    "vendor/iframe-worker/shim.js": "assets/kbgen/vendor/iframe-worker/shim.js",
    "vendor/iframe-worker/LICENSE": "assets/kbgen/vendor/iframe-worker/LICENSE",
}
POLYFILL = "assets/kbgen/vendor/iframe-worker/shim.js"

class KbSitePlugin(BasePlugin[SiteConfig]):
    """Learning-path nav/banners/checks, build-time math, offline assets, reader's JS/CSS."""

    def __init__(self) -> None:
        self.path: LearningPath | None = None
        self.index: VaultIndex | None = None
        self.labels: Labels = labels_for(None)
        self._user_nav = None
        self._display_math: dict[str, list[str]] = {}
        self._full_content: dict[str, str] = {}

    # -- configuration ---------------------------------------------------------------
    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        self._user_nav = config.nav
        try:
            self.labels = labels_for(config.theme.get("language") if config.theme else None, self.config.labels)
        except ValueError as exc:
            raise PluginError(f"kbgen-site: labels: {exc}") from None
        exts = config.markdown_extensions
        if self.config.math and "pymdownx.arithmatex" not in exts:
            exts.append("pymdownx.arithmatex")
            config.mdx_configs["pymdownx.arithmatex"] = {"generic": True}
        if "pymdownx.tasklist" not in exts:
            exts.append("pymdownx.tasklist")
            config.mdx_configs["pymdownx.tasklist"] = {"custom_checkbox": True, "clickable_checkbox": True}
        for css in ("assets/kbgen/kb.css",):
            if css not in [str(x) for x in config.extra_css]:
                config.extra_css.append(css)
        if "assets/kbgen/kb.js" not in [str(x) for x in config.extra_javascript]:
            config.extra_javascript.append("assets/kbgen/kb.js")
        # Material's offline plugin would add iframe-worker from unpkg.com; use the local copy.
        polyfills = [p for p in config.extra.get("polyfills", []) if "iframe-worker" not in str(p)]
        config.extra["polyfills"] = [POLYFILL, *polyfills]
        return config

    # -- files, path, nav ------------------------------------------------------------
    @event_priority(-50)  # after kbgen (and others) added their generated pages
    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        for src, dest in SITE_ASSETS.items():
            if files.get_file_from_path(dest) is None:
                files.append(File.generated(config, dest, abs_src_path=str(ASSETS / src)))
        # The build's vault index (kbgen's, built in its on_files): the one parser and resolver.
        self.index = index = kbgen_plugin.vault_index(config)
        self.meta = {src: note.frontmatter for src, note in index.notes.items()}
        # Snippet pages stay out of the nav (reached from notes, the snippets index and search).
        snippet_pages = navtidy.snippet_pages(getattr(config.plugins.get("kbgen"), "engine", None))
        navtidy.mark_not_in_nav(files, snippet_pages)
        self.path = read_path(index, self.config.path_dir, self.config.levels, log.info)
        if self.path is None:
            return files
        if self.config.check_prerequisites:
            problems = check_order(self.path, index)
            if problems:
                raise PluginError("Learning path order:\n  " + "\n  ".join(problems))
        solves = step_facts.check_solves(self.path, index)  # problem before solution
        if solves:
            raise PluginError("Learning path order (solves):\n  " + "\n  ".join(solves))
        for note in index.notes.values():
            for problem in step_facts.minutes_problems(note):
                log.warning(f"learning path: {problem}")
        self._warn_levels()
        if self.config.path_nav and self._user_nav is None:
            pages = navtidy.without_pages([f.src_uri for f in files.documentation_pages()], snippet_pages)
            home = "index.md" if "index.md" in pages else None
            config.nav = navtidy.tidy_nav(build_nav(
                self.path, pages, home, self.config.path_title or self.labels["path_title"],
                self.config.section_titles, self.config.nav_index_only,
            ), lambda src: navtidy.page_title(src, index.notes.get(src)))
        return files

    def _warn_levels(self) -> None:
        assert self.path is not None
        assert self.index is not None
        for step in self.path.steps:
            declared = self.index.notes[step.src].frontmatter.get("level")
            if declared and declared != step.level:
                log.warning(
                    f"learning path: {step.src}: frontmatter level '{declared}' but the note is "
                    f"listed on {step.level_src}:{step.line} ({step.level})"
                )

    # -- pages -------------------------------------------------------------------------
    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        if self.config.math:
            markdown, self._display_math[page.file.src_uri] = math.stash_display_math(markdown)
        level = self.path.level_of_page(page.file.src_uri) if self.path else None
        note = self.index.notes.get(page.file.src_uri) if self.index else None
        if level is None or note is None or self.index is None:
            return markdown
        steps = {s.src for s in level.steps}
        lines = markdown.split("\n")
        # MkDocs hands over the body without the frontmatter: file line -> markdown line.
        offset = note.source.count("\n") - markdown.count("\n")
        for lineno, link in path_items(note):
            res = self.index.resolve(link.target, note.path)
            i = lineno - offset - 1
            if res.path not in steps or not 0 <= i < len(lines):
                continue
            m = re.match(r"^(\d{1,9}[.)][ \t]+)", lines[i])
            if m:
                lines[i] = m.group(1) + banner.step_checkbox(res.path) + lines[i][m.end():] \
                    + step_facts.step_minutes_html(step_facts.minutes_of(self.meta.get(res.path, {})))
        return "\n".join(lines)

    def on_page_content(self, html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        src = page.file.src_uri
        if self.config.math:
            errors = math.MathErrors()
            html = math.restore_display_math(html, self._display_math.pop(src, []), errors)
            html = math.render_arithmatex(html, errors)
            if "jp-Notebook" in html or "jp-MarkdownCell" in html or "jp-RenderedMarkdown" in html:
                html = _render_notebook_math(html, errors)
            for tex, msg in errors.items:
                note = self.index.notes.get(src) if self.index else None
                line = math.locate(tex, note.source if note else page.markdown or "")
                where = f"{src}:{line}" if line else src
                log.warning(f"math: {where}: cannot render ${tex}$ ({msg})")
        html = self._exclude_from_search(html)
        top = f'<span hidden data-kb-src="{escape(src)}"></span>'
        level = self.path.level_of_page(src) if self.path else None
        if level is not None:
            top += banner.progress_box(level.name, self.labels) + step_facts.level_total_html(level, self.meta)
        elif self.config.banner and self.index is not None and src in self.index.notes:
            top += self._note_banner(src, page, files)
        kbgen_plugin.after_title(config, page, top)
        return html

    # -- search: index a light copy of the page (same index, a fraction of the parsing) ----
    @event_priority(60)  # before Material's search plugin (priority 0) indexes page.content
    def _light_page_for_search(self, context: dict, page: Page, config: MkDocsConfig, nav) -> dict:
        if self._search_enabled(config) and page.content:
            self._full_content[page.file.src_uri] = page.content
            page.content = searchview.light_view(page.content)
        return context

    @event_priority(-60)  # after it: the page gets its highlighted code back
    def _full_page_after_search(self, context: dict, page: Page, config: MkDocsConfig, nav) -> dict:
        full = self._full_content.pop(page.file.src_uri, None)
        if full is not None:
            page.content = searchview.strip_search_attributes(full)
        return context

    on_page_context = CombinedEvent(_light_page_for_search, _full_page_after_search)

    @staticmethod
    def _search_enabled(config: MkDocsConfig) -> bool:
        search = config.plugins.get("material/search") or config.plugins.get("search")
        return search is not None and getattr(search, "config", {}).get("enabled", True) is not False

    def _note_banner(self, src: str, page: Page, files: Files) -> str:
        assert self.index is not None
        index = self.index
        meta = index.notes[src].frontmatter
        prereqs = [(pre, link.target) for link, pre in prerequisites(index, src)]
        level = meta.get("level") if isinstance(meta.get("level"), str) else None
        minutes = step_facts.minutes_of(meta)
        if not level and not prereqs and not (self.path and self.path.step_of(src)):
            return step_facts.with_minutes("", minutes)

        def link(target: str) -> tuple[str, str] | None:
            f = files.get_file_from_path(target)
            note = index.notes.get(target)
            if f is None or note is None:
                return None
            return get_relative_url(f.url, page.file.url), note.title

        return step_facts.with_minutes(banner.note_banner(src, level, prereqs, self.path, link, self.labels), minutes)

    def _exclude_from_search(self, html: str) -> str:
        classes = self.config.search_exclude_classes
        if not classes:
            return html
        pattern = re.compile(
            r'<(div|section|pre|figure|table|span)((?:\s[^>]*?)?\sclass="[^"]*\b(?:'
            + "|".join(re.escape(c) for c in classes)
            + r')\b[^"]*"[^>]*?)(/?)>'
        )

        def add(m: re.Match) -> str:
            if "data-search-exclude" in m.group(2):
                return m.group(0)
            return f"<{m.group(1)}{m.group(2)} data-search-exclude{m.group(3)}>"

        return pattern.sub(add, html)


_NB_MARKDOWN = re.compile(
    r'(<div[^>]*class="[^"]*(?:jp-RenderedMarkdown|jp-MarkdownOutput|text_cell_render)[^"]*"[^>]*>)(.*?)(</div>)',
    re.S,
)


def _render_notebook_math(html: str, errors: math.MathErrors) -> str:
    """``$...$`` inside the notebook's rendered Markdown cells (nbconvert leaves it as text)."""
    return _NB_MARKDOWN.sub(lambda m: m.group(1) + math.render_dollar_math(m.group(2), errors) + m.group(3), html)


def ensure_site_plugin(config: MkDocsConfig) -> None:
    """Add ``kbgen-site`` with its defaults when mkdocs.yml does not list it (called by ``kbgen``)."""
    if any(isinstance(p, KbSitePlugin) for p in config.plugins.values()):
        return
    plugin = KbSitePlugin()
    errors, warnings = plugin.load_config({}, config.config_file_path)
    for key, err in errors:
        raise PluginError(f"kbgen-site: {key}: {err}")
    config.plugins["kbgen-site"] = plugin
    # Added while ``on_config`` runs: MkDocs registers its events in priority order, after the
    # running handler, so its own ``on_config`` still runs in this same pass.
