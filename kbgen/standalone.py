"""kbgen's vault syntax as a plain Python-Markdown extension: Zensical, or any Markdown build.

Configured by name, with no MkDocs plugin around it::

    markdown_extensions:
      - kbgen.vault                  # or kbgen.standalone (the same extension)
      - kbgen.vault:
          docs_dir: docs             # the vault to index (default: Zensical's docs_dir, else
                                     # docs_dir of ./mkdocs.yml, else "docs")
          tags_dir: ""               # "" keeps #tags as text; "tags" links to generated tag pages
          figures: inline            # snippet figures as data: URIs; "files" when `kbgen build` copied them

How a page is known: Zensical creates one ``Markdown`` per page and registers its rendering
context (``zensical.extensions.context``: a preprocessor whose ``page`` has ``path``, the
source path relative to ``docs_dir``, and ``url``); the extension reads it, so every link is
relative to the page's own source file, exactly as under MkDocs, and Zensical turns relative
``.md`` links into URLs (with or without directory URLs). Outside Zensical, pass the page's
vault path as the ``page`` option (``markdown.markdown(text, extensions=["kbgen.vault"],
extension_configs={"kbgen.vault": {"page": "a/b.md"}})``). With no page at all the text is
left untouched and a warning says why.

One :class:`VaultBuild` (index, snippet outputs, reported problems) is built on first use and
shared by every page with the same options; it is rebuilt when a file of the vault, the
snippets folder or the snippet cache index changes (checked at most every two seconds), so a
``zensical serve`` session sees edits. Snippet outputs are only *read* from kbgen's cache
(:mod:`kbgen.cached_snippets`); ``python -m kbgen build`` executes what is stale.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import xml.etree.ElementTree as etree
from dataclasses import dataclass, field, fields
from html import escape
from pathlib import Path
from typing import Any

import yaml
from markdown import Markdown
from markdown.treeprocessors import Treeprocessor
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor

from kbgen.cached_snippets import CachedSnippets, CachedSnippetsOptions
from kbgen.standalone_path import PathView
from kbgen.labels import Labels, labels_for
from kbgen.site import glossary
from kbgen.site.values import ValueRenderer, ValuesExtension, locate_binding
from kbgen.vault import pages
from kbgen.vault.index import Note, VaultIndex
from kbgen.vault.problems import source_problems
from kbgen.vault.mdext import VaultExtension
from kbgen.vault.render import Problem, Renderer, rel_href, tag_slug
from kbgen.vault.slug import Slugify, default_slugify

#: Extensions the vault syntax needs (added with these options when the configuration lacks them).
REQUIRED_EXTENSIONS: dict[str, dict[str, Any]] = {
    "attr_list": {},
    "md_in_html": {},
    "pymdownx.quotes": {"callouts": True},
    "pymdownx.tasklist": {"custom_checkbox": True},
}
#: Added as well with ``math: true``.
MATH_EXTENSION = ("pymdownx.arithmatex", {"generic": True})

#: Seconds between two checks of the vault's files for changes (``zensical serve``).
RECHECK_SECONDS = 2.0


class VaultConfigError(ValueError):
    """A bad option of the extension (message says which and what to write)."""


class VaultBuildError(RuntimeError):
    """A problem that fails the build under ``strict: true`` (message: ``file:line: ...``)."""


@dataclass(frozen=True)
class StandaloneOptions:
    """The extension's options (``markdown_extensions: - kbgen.vault: {...}``)."""

    docs_dir: str = ""  # vault to index; "": Zensical's docs_dir, else ./mkdocs.yml's, else "docs"
    project_root: str = ""  # base of relative paths; "": Zensical's config folder, else cwd
    snippets_dir: str = "snippets"  # relative to project_root; missing: no snippets
    cache_dir: str = ".cache/kbgen"  # kbgen's snippet cache (read only)
    tags_dir: str = ""  # "" keeps inline tags as text; else links to <tags_dir>/<tag>.md
    figures: str = "inline"  # "inline" (data: URIs) | "files" (snippets/<stem>/<file>, copied by kbgen build)
    backlinks: bool = False  # append the "Backlinks" section to each note
    local_graph: bool = False  # append a local graph (needs kbgen's graph assets: kbgen build)
    path_dir: str = ""  # learning path: folder of the level pages ("": no banner, progress, tick boxes)
    levels: tuple[str, ...] = ("入门级", "进阶级", "专家级")  # level order (file stems), as kbgen-site
    math: bool = False  # TeX (pymdownx.arithmatex, generic) -> MathML at build time, as kbgen-site does
    unresolved: str = "info"  # "warn": unresolved/ambiguous links are printed (and fail under strict)
    strict: bool = False  # problems that MkDocs --strict fails on raise VaultBuildError
    language: str = ""  # labels ("zh" | "en"); "": theme.language of the Zensical config
    page: str = ""  # plain Python-Markdown: vault path of the page being converted
    fingerprint: str = ""  # written by `kbgen build`: changes Zensical's config hash (page cache)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> "StandaloneOptions":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(kwargs) - set(known))
        if unknown:
            raise VaultConfigError(f"kbgen.vault: unknown option(s) {', '.join(unknown)}; "
                                   f"valid: {', '.join(known)}")
        values: dict[str, Any] = {}
        for name, value in kwargs.items():
            default = known[name].default
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise VaultConfigError(f"kbgen.vault: option {name} must be true or false, not {value!r}")
            elif isinstance(default, tuple):
                if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                    raise VaultConfigError(f"kbgen.vault: option {name} must be a list of strings, not {value!r}")
                value = tuple(value)
            elif value is None:
                value = default
            elif not isinstance(value, (str, Path)):
                raise VaultConfigError(f"kbgen.vault: option {name} must be a string, not {value!r}")
            values[name] = str(value) if isinstance(value, Path) else value
        opts = cls(**values)
        if opts.figures not in ("inline", "files"):
            raise VaultConfigError(f"kbgen.vault: figures must be inline or files, not {opts.figures!r}")
        if opts.unresolved not in ("info", "warn"):
            raise VaultConfigError(f"kbgen.vault: unresolved must be info or warn, not {opts.unresolved!r}")
        return opts


@dataclass(frozen=True)
class PageContext:
    """What the site generator says about the page being converted."""

    path: str | None  # source path relative to docs_dir (POSIX), None when unknown
    url: str = ""
    config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def page_context(md: Markdown, options: StandaloneOptions) -> PageContext:
    """The page ``md`` converts: Zensical's rendering context, else the ``page`` option."""
    for proc in md.preprocessors:
        page = getattr(proc, "page", None)
        if page is not None and isinstance(getattr(page, "path", None), str):
            config = getattr(proc, "config", None)
            return PageContext(page.path.replace("\\", "/"), str(getattr(page, "url", "") or ""),
                               config if isinstance(config, dict) else {})
    return PageContext(options.page or None)


@dataclass
class VaultBuild:
    """Everything shared by the pages of one build: the index, snippet outputs, problems."""

    index: VaultIndex
    snippets: CachedSnippets | None
    tags_dir: str | None
    labels: Labels
    signature: tuple
    checked_at: float
    reported: set[Problem] = field(default_factory=set)
    path: PathView | None = None
    terms: list[glossary.Term] = field(default_factory=list)  # frontmatter `terms:` (hover definitions)

    def renderer(self) -> Renderer:
        """A renderer for one page (its own problem list and stash; the index is shared)."""
        return Renderer(self.index, self.snippets, tags_dir=self.tags_dir)


_BUILDS: dict[tuple, VaultBuild] = {}
_LOCK = threading.Lock()


def _resolve_paths(options: StandaloneOptions, ctx: PageContext) -> tuple[Path, Path]:
    """(project root, vault folder), absolute."""
    root = Path(options.project_root or ctx.config.get("root_dir") or os.getcwd()).resolve()
    if options.docs_dir:
        docs = root / options.docs_dir
    elif ctx.config.get("docs_dir"):
        docs = root / str(ctx.config["docs_dir"])
    else:
        docs = root / _mkdocs_docs_dir(root / "mkdocs.yml")
    return root, docs.resolve()


def _mkdocs_docs_dir(config_file: Path) -> str:
    """``docs_dir`` of an mkdocs.yml (tags such as ``!ENV`` or ``!!python/name`` are skipped)."""

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    try:
        data = yaml.load(config_file.read_text(encoding="utf-8"), Loader=_Loader) or {}
    except (OSError, yaml.YAMLError):
        return "docs"
    value = data.get("docs_dir") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else "docs"


def _signature(paths: list[Path]) -> tuple:
    """(relative path, mtime, size) of every file under ``paths`` (dot-folders skipped)."""
    out: list[tuple[str, int, int]] = []
    for base in paths:
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                p = os.path.join(dirpath, name)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                out.append((p, st.st_mtime_ns, st.st_size))
    return tuple(out)


def _toc_slugify(md: Markdown) -> tuple[Slugify, str]:
    """The slugify and separator of the page's ``toc`` extension (heading links use its ids)."""
    toc = md.treeprocessors["toc"] if "toc" in md.treeprocessors else None
    slugify = getattr(toc, "slugify", None)
    return (slugify if callable(slugify) else default_slugify), str(getattr(toc, "sep", "-"))


def vault_build(options: StandaloneOptions, ctx: PageContext, slugify: Slugify, sep: str) -> VaultBuild:
    """The shared build for these options (made on first use, remade when the vault changed)."""
    root, docs = _resolve_paths(options, ctx)
    snippets_dir = (root / options.snippets_dir).resolve()
    cache_dir = (root / options.cache_dir).resolve()
    language = options.language or str((ctx.config.get("theme") or {}).get("language") or "")
    key = (root, docs, snippets_dir, cache_dir, options.tags_dir, options.figures, language, slugify, sep,
           options.path_dir, options.levels)
    with _LOCK:
        build = _BUILDS.get(key)
        now = time.monotonic()
        if build is not None and now - build.checked_at < RECHECK_SECONDS:
            return build
        if not docs.is_dir():
            raise VaultConfigError(f"kbgen.vault: the vault folder {docs} does not exist; set docs_dir "
                                   "(relative to project_root) in the extension's options")
        signature = _signature([docs, snippets_dir, cache_dir / "index"])
        if build is not None and build.signature == signature:
            build.checked_at = now
            return build
        snippets = None
        if snippets_dir.is_dir():
            snippets = CachedSnippets(CachedSnippetsOptions(root, snippets_dir, cache_dir, options.figures))
        index = VaultIndex.from_dir(docs, snippets=snippets, slugify=slugify, sep=sep)
        build = VaultBuild(index, snippets, options.tags_dir or None, labels_for(language), signature, now)
        if options.path_dir:
            build.path = PathView.read(index, options.path_dir, list(options.levels), build.labels)
        found = glossary.collect_terms((p, n.title, n.frontmatter, n.source) for p, n in index.notes.items())
        build.terms = found.terms
        _BUILDS[key] = build
        for message in found.problems:
            _emit(f"kbgen: glossary: {message}", "WARNING")
        report(build, source_problems(index), options)  # bad frontmatter, unclosed fences, ...
        return build


def _emit(message: str, level: str) -> None:
    print(f"{level:<8}-  {message}", file=sys.stderr)


def report(build: VaultBuild, problems: list[Problem], options: StandaloneOptions) -> None:
    """Print each new problem once per build; under ``strict`` raise on those MkDocs fails on."""
    failing: list[Problem] = []
    for p in problems:
        if p in build.reported:
            continue
        build.reported.add(p)
        loud = p.level in ("error", "cycle", "invalid") or options.unresolved == "warn"
        if loud:
            _emit(f"kbgen: {p}", "ERROR" if p.level == "error" else "WARNING")
            failing.append(p)
    if options.strict and failing:
        raise VaultBuildError("kbgen: " + "\n".join(str(p) for p in failing))


def _line_offset(note: Note, text: str) -> int:
    """Source lines before ``text`` (the body the generator hands over, frontmatter removed)."""
    head = text.lstrip("\n")
    at = note.source.find(head) if head else -1
    if at >= 0:
        return note.source.count("\n", 0, at) - (len(text) - len(head))
    return max(0, note.source.count("\n") - text.count("\n"))


class _PagePreprocessor(Preprocessor):
    """Runs before kbgen's wikilink preprocessor: finds the page and sets up the extension."""

    def __init__(self, md: Markdown, ext: "StandaloneVaultExtension") -> None:
        super().__init__(md)
        self.ext = ext

    def run(self, lines: list[str]) -> list[str]:
        return self.ext.prepare(self.md, "\n".join(lines)).split("\n")


class _MathPreprocessor(Preprocessor):
    """``$$...$$`` set aside before Markdown sees it (it may span a paragraph, list or callout)."""

    def __init__(self, md: Markdown, ext: "StandaloneVaultExtension") -> None:
        super().__init__(md)
        self.ext = ext

    def run(self, lines: list[str]) -> list[str]:
        from kbgen.site import math

        text, self.ext.display_math = math.stash_display_math("\n".join(lines))
        return text.split("\n")


class _MathPostprocessor(Postprocessor):
    """Display and inline formulas as MathML; TeX it cannot convert is reported with file:line."""

    def __init__(self, md: Markdown, ext: "StandaloneVaultExtension") -> None:
        super().__init__(md)
        self.ext = ext

    def run(self, text: str) -> str:
        from kbgen.site import math

        errors = math.MathErrors()
        text = math.render_arithmatex(math.restore_display_math(text, self.ext.display_math, errors), errors)
        self.ext.math_problems(errors.items)
        return text


class _ReportPreprocessor(Preprocessor):
    """Right after the wikilinks are rendered: report the page's problems."""

    def __init__(self, md: Markdown, ext: "StandaloneVaultExtension") -> None:
        super().__init__(md)
        self.ext = ext

    def run(self, lines: list[str]) -> list[str]:
        self.ext.flush_problems()
        return lines


class _NoteSections(Treeprocessor):
    """Frontmatter tags under the title and the backlinks (and local graph) at the end of a note.

    A tree processor after the toc (priority 5), so the added headings stay out of the page's
    table of contents, as with the MkDocs plugin; the HTML goes through Markdown's raw-HTML stash.
    """

    def __init__(self, md: Markdown, ext: "StandaloneVaultExtension") -> None:
        super().__init__(md)
        self.ext = ext

    def run(self, root: etree.Element) -> None:
        self.ext.flush_values()  # bindings were rendered by the inline processors
        bar, tail = self.ext.note_sections()
        if bar:
            children = list(root)
            at = next((i + 1 for i, el in enumerate(children) if el.tag == "h1"), 0)
            root.insert(at, self._raw(bar))
        if tail:
            root.append(self._raw(tail))

    def _raw(self, html: str) -> etree.Element:
        el = etree.Element("p")
        el.text = self.md.htmlStash.store(html)
        return el


class StandaloneVaultExtension(VaultExtension):
    """:class:`kbgen.vault.mdext.VaultExtension` that finds its page and builds its own index."""

    def __init__(self, **kwargs: Any) -> None:
        self.options = StandaloneOptions.from_kwargs(kwargs)
        self.build: VaultBuild | None = None
        self.current: Renderer | None = None
        self.display_math: list[str] = []
        self.source = ""  # the page's Markdown as handed over (to locate formulas)
        super().__init__(Renderer(VaultIndex([])))
        # {{x.py:key}} values bound into prose and glossary hover definitions (kbgen.site).
        self.values = ValuesExtension(ValueRenderer(None), locate=self._locate_binding)
        self.terms = glossary.TermExtension()

    def extendMarkdown(self, md: Markdown) -> None:
        # Under Zensical the configured names are known; elsewhere add what is not loaded yet
        # (an extension listed after this one registers again over it, with its own options).
        configured = page_context(md, self.options).config.get("markdown_extensions")
        if isinstance(configured, list):
            names = {e if isinstance(e, str) else type(e).__module__ for e in configured}
        else:
            names = {type(e).__module__ for e in md.registeredExtensions}
            names |= {n.replace("markdown.extensions.", "") for n in names}
        required = dict(REQUIRED_EXTENSIONS)
        if self.options.math:
            required[MATH_EXTENSION[0]] = MATH_EXTENSION[1]
        missing = [n for n in required if n not in names]
        md.registerExtensions(missing, {n: dict(required[n]) for n in missing})
        super().extendMarkdown(md)
        self.values.extendMarkdown(md)
        self.terms.extendMarkdown(md)
        md.preprocessors.register(_PagePreprocessor(md, self), "kbgen_page", 36)
        md.preprocessors.register(_ReportPreprocessor(md, self), "kbgen_report", 34)
        md.treeprocessors.register(_NoteSections(md, self), "kbgen_note_sections", 1)
        if self.options.math:
            md.preprocessors.register(_MathPreprocessor(md, self), "kbgen_math", 33)  # after wikilinks: exact lines
            md.postprocessors.register(_MathPostprocessor(md, self), "kbgen_math", 5)

    def prepare(self, md: Markdown, text: str) -> str:
        """Point the extension at the page ``md`` converts (None: leave the Markdown alone);
        returns the page's Markdown (a level page gets tick boxes in front of its steps)."""
        self.source = text
        ctx = page_context(md, self.options)
        if ctx.path is None:
            _emit("kbgen.vault: no page context (not under Zensical and no `page` option): "
                  "Obsidian syntax left as is", "WARNING")
            self.set_page(None)
            self.values.set_page(None)
            self.terms.set_page(None)
            return text
        slugify, sep = _toc_slugify(md)
        self.build = vault_build(self.options, ctx, slugify, sep)
        self.renderer = self.current = self.build.renderer()
        note = self.build.index.notes.get(ctx.path)
        self.values.renderer.provider = self.build.snippets
        self.terms.set_terms(self.build.terms)
        if note is None:  # a generated page (tags, snippets): plain Markdown, as under MkDocs
            self.set_page(None)
            self.values.set_page(None)
            self.terms.set_page(None)
            return text
        # Bound values link to snippet cells relative to the page's vault path, like its links.
        self.values.set_page(ctx.path, note.source, page_url=ctx.path)
        self.terms.set_page(ctx.path)
        # The snippet provider makes links relative to page_url: here, the page's vault path.
        self.set_page(ctx.path, page_url=ctx.path, line_offset=_line_offset(note, text))
        return self.build.path.mark_steps(ctx.path, text) if self.build.path is not None else text

    def _locate_binding(self, raw: str) -> tuple[str, int] | None:
        """(note, line) of a binding that came in through an embed."""
        return locate_binding(raw, self.build.index.notes) if self.build is not None else None

    def flush_values(self) -> None:
        """Report the page's binding problems (a false claim, a missing value): errors, as MkDocs."""
        if self.build is not None and self.values.problems:
            problems = [Problem(p.note, p.line, "error", p.message) for p in self.values.problems]
            self.values.problems = []
            report(self.build, problems, self.options)

    def flush_problems(self) -> None:
        if self.build is not None and self.current is not None:
            problems, self.current.problems = list(self.current.problems), []
            report(self.build, problems, self.options)

    def math_problems(self, items: list[tuple[str, str]]) -> None:
        """Report formulas that did not convert (``file:line`` of the formula in its note)."""
        if not items or self.build is None or self.page_path is None:
            return
        from kbgen.site import math

        note = self.build.index.notes.get(self.page_path)
        problems = []
        for tex, message in items:
            line = math.locate(tex, note.source if note is not None else self.source) or 1
            problems.append(Problem(self.page_path, line, "invalid", f"math: cannot render ${tex}$ ({message})"))
        report(self.build, problems, self.options)

    def note_sections(self) -> tuple[str, str]:
        """(HTML under the title, HTML at the end) of the current note; empty outside notes."""
        build, path = self.build, self.page_path
        if build is None or path is None or path not in build.index.notes:
            return "", ""
        note = build.index.notes[path]
        bar = build.path.top_html(path) if build.path is not None else ""
        if build.tags_dir:
            tags_dir = build.tags_dir
            bar += pages.tag_bar_html(note.frontmatter, lambda t: rel_href(f"{tags_dir}/{tag_slug(t)}.md", path))
        tail = ""
        if self.options.local_graph:
            tail += pages.local_graph_html(path, build.labels)
        if self.options.backlinks:
            tail += pages.backlinks_html(build.index, path, build.labels, lambda p: rel_href(p, path))
        return bar.strip(), tail.strip()


def makeExtension(**kwargs: Any) -> StandaloneVaultExtension:
    """Python-Markdown entry point (``markdown_extensions: [kbgen.standalone]``)."""
    return StandaloneVaultExtension(**kwargs)

