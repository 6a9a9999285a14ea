"""``python -m kbgen build``: the same vault and snippets, built by Zensical instead of MkDocs.

Zensical reads ``mkdocs.yml`` and runs Python-Markdown extensions, but ignores MkDocs plugins
(``plugins: [kbgen]`` does nothing there) and offers no hook to add files. So kbgen does the
plugin's work before Zensical starts, through what Zensical does read, a docs folder and a
config file:

1. run the stale snippets into kbgen's cache (the same engine, cache and report as MkDocs);
2. write a build folder (default ``build/zensical/``): ``docs/`` = a copy of the vault plus the
   generated Markdown (tag pages, folder and home pages, the graph page, snippet pages with
   their figures, ``.py`` and ``.ipynb`` downloads, the run-times page) and kbgen's graph
   assets; ``mkdocs.yml`` = ``INHERIT`` of the project's config with ``docs_dir``/``site_dir``
   pointing there and the ``kbgen.vault`` Markdown extension added (it renders every note);
3. run ``zensical build -f build/zensical/mkdocs.yml`` and copy its site to the project's
   ``site_dir``, with ``kbgen-report.json``.

Zensical keeps its page cache in ``.cache/`` next to the config it reads (here inside the build
folder, so ``zensical build --clean`` cannot wipe kbgen's snippet cache) and re-renders a page
only when its text or the config changes; a fingerprint of the whole vault and every snippet
result goes into the extension's options, so a change anywhere re-renders every page.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from kbgen.labels import labels_for
from kbgen.vault import pages
from kbgen.vault.graph import graph_data_js
from kbgen.vault.index import VaultIndex

#: The Zensical release this project is tested with (``pip install -e '.[zensical]'``).
ZENSICAL_VERSION = "0.0.73"

GRAPH_ASSETS = {"graph.js": "assets/kbgen/graph.js", "graph.css": "assets/kbgen/graph.css"}
GRAPH_DATA = "assets/kbgen/graph-data.js"
POLYFILL = "assets/kbgen/vendor/iframe-worker/shim.js"
KB_CSS = "assets/kbgen/kb.css"
KB_JS = "assets/kbgen/kb.js"
ASSETS = Path(__file__).resolve().parent / "assets"


class ZensicalBuildError(RuntimeError):
    """The build cannot go on (message says what failed and what to do)."""


@dataclass(frozen=True)
class ProjectConfig:
    """What ``kbgen build`` reads from the project's ``mkdocs.yml`` (plugin options included)."""

    config_file: Path
    root: Path
    docs_dir: Path
    site_dir: Path
    site_name: str
    language: str
    use_directory_urls: bool
    snippets_dir: str = "snippets"
    snippet_timeout: float = 60.0
    tags_dir: str = "tags"
    graph_page: str = "graph.md"
    glossary_page: str = "术语表.md"
    local_graph: bool = True
    backlinks: bool = True
    home_page: bool = True
    folder_pages: bool = True
    unresolved: str = "info"
    toc: dict[str, Any] = field(default_factory=dict)  # the toc extension's options as written
    toc_has_slugify: bool = False
    has_nav: bool = False  # the project's config has its own ``nav``
    site_options: dict[str, Any] = field(default_factory=dict)  # ``kbgen-site`` options (learning path)

    @classmethod
    def read(cls, config_file: Path) -> "ProjectConfig":
        data = _lenient_yaml(config_file)
        root = config_file.resolve().parent
        plugin: dict[str, Any] = {}
        site_options: dict[str, Any] = {}
        offline = False
        for item in data.get("plugins") or []:
            name, opts = (item, {}) if isinstance(item, str) else next(iter(item.items()), ("", {}))
            if name == "kbgen":
                plugin = dict(opts or {})
            if name == "kbgen-site":
                site_options = dict(opts or {})
            offline = offline or name == "offline"
        toc: dict[str, Any] = {}
        toc_raw = False
        for item in data.get("markdown_extensions") or []:
            if isinstance(item, dict) and "toc" in item:
                toc = dict(item["toc"] or {})
                toc_raw = "slugify" in toc
        theme_value = data.get("theme")
        theme: dict[str, Any] = theme_value if isinstance(theme_value, dict) else {}
        known: dict[str, Any] = {k: plugin[k] for k in ("snippets_dir", "tags_dir", "graph_page", "glossary_page", "local_graph", "backlinks",
                                        "home_page", "folder_pages", "unresolved") if k in plugin}
        if "snippet_timeout" in plugin:
            known["snippet_timeout"] = float(plugin["snippet_timeout"])
        return cls(
            config_file=config_file.resolve(), root=root,
            docs_dir=(root / str(data.get("docs_dir") or "docs")).resolve(),
            site_dir=(root / str(data.get("site_dir") or "site")).resolve(),
            site_name=str(data.get("site_name") or ""), language=str(theme.get("language") or ""),
            # Zensical's offline plugin turns directory URLs off, as MkDocs' does.
            use_directory_urls=bool(data.get("use_directory_urls", True)) and not offline,
            toc={k: v for k, v in toc.items() if k != "slugify"}, toc_has_slugify=toc_raw,
            has_nav=bool(data.get("nav")), site_options=site_options, **known,
        )


def _lenient_yaml(path: Path) -> dict[str, Any]:
    """mkdocs.yml as data; tags (``!ENV``, ``!!python/name``) read as None."""

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as exc:
        raise ZensicalBuildError(f"kbgen build: cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ZensicalBuildError(f"kbgen build: {path} is not valid YAML: {exc}") from exc
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class BuildOptions:
    """Options of ``kbgen build``."""

    config_file: Path = Path("mkdocs.yml")
    build_dir: Path | None = None  # default: <root>/build/zensical
    cache_dir: str = ".cache/kbgen"
    jobs: int | None = None
    strict: bool = False
    execute: bool = True


@dataclass
class BuildResult:
    """What one ``kbgen build`` did."""

    site_dir: Path
    build_dir: Path
    summary: str  # the snippet engine's summary line
    generated: list[str]  # vault paths of the generated pages
    fingerprint: str


def build(options: BuildOptions) -> BuildResult:
    """Run stale snippets, write the build folder, run Zensical, copy the site (see module doc)."""
    if importlib.util.find_spec("zensical") is None:
        raise ZensicalBuildError("kbgen build: Zensical is not installed in this Python "
                                 f"({sys.executable}); install it with: pip install -e '.[zensical]'")
    project = ProjectConfig.read(options.config_file)
    if not project.docs_dir.is_dir():
        raise ZensicalBuildError(f"kbgen build: docs_dir {project.docs_dir} does not exist ({project.config_file})")
    build_dir = (options.build_dir or project.root / "build" / "zensical").resolve()
    if build_dir in (project.root, project.docs_dir) or project.docs_dir.is_relative_to(build_dir):
        raise ZensicalBuildError(f"kbgen build: the build folder {build_dir} would overwrite the project; "
                                 "choose another --build-dir")
    index = VaultIndex.from_dir(project.docs_dir)  # for references and generated pages (links: the extension's)
    engine = _run_snippets(project, options, index)
    docs = build_dir / "docs"
    if docs.exists():
        shutil.rmtree(docs)
    shutil.copytree(project.docs_dir, docs, ignore=shutil.ignore_patterns(".*"))
    generated = _generated_pages(project, index, engine)
    for rel, content in generated.items():
        target = docs / rel
        if target.exists():
            print(f"kbgen build: {rel} exists in the vault; not generating it", file=sys.stderr)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content, encoding="utf-8")
    nav = None if project.has_nav else learning_path_nav(project, index, docs, options.strict)
    fingerprint = _fingerprint(docs)
    config = build_dir / "mkdocs.yml"
    config.write_text(_zensical_config(project, build_dir, options, fingerprint, nav), encoding="utf-8")
    # No --strict for Zensical itself: its link check reads the *source*, takes `[[note.md]]` for a
    # link relative to the page and reports "page does not exist" for a note in another folder.
    # kbgen checks every wikilink (the extension raises under strict); Zensical's warnings print.
    cmd = [sys.executable, "-m", "zensical", "build", "-f", str(config)]
    proc = subprocess.run(cmd, cwd=build_dir)
    if proc.returncode != 0:
        raise ZensicalBuildError(f"kbgen build: zensical build failed (exit {proc.returncode}); command: {' '.join(cmd)}")
    site = build_dir / "site"
    if project.site_dir.exists():
        shutil.rmtree(project.site_dir)
    shutil.copytree(site, project.site_dir)
    summary = ""
    if engine is not None:
        report = engine.report()
        (project.site_dir / "kbgen-report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1),
                                                            encoding="utf-8")
        summary = engine.summary()
    return BuildResult(project.site_dir, build_dir, summary, sorted(generated), fingerprint)


def _run_snippets(project: ProjectConfig, options: BuildOptions, index: VaultIndex) -> Any:
    """Execute what is stale (the MkDocs build's engine and cache); None without snippets."""
    snippets_dir = project.root / project.snippets_dir
    if not snippets_dir.is_dir():
        return None
    from kbgen.snippets import SnippetEngine

    engine = SnippetEngine.from_options(project.root, snippets_dir=snippets_dir, cache_dir=options.cache_dir,
                                        jobs=options.jobs, timeout=project.snippet_timeout, strict=options.strict,
                                        docs_dir=project.docs_dir, execution=options.execute)
    engine.execute()
    refs: dict[str, list[tuple[str, str]]] = {}
    for path, note in index.notes.items():
        for link in note.links:
            name = link.target.strip().rsplit("/", 1)[-1]
            if name in engine.snippets and (path, note.title) not in refs.setdefault(name, []):
                refs[name].append((path, note.title))
    engine.set_references(refs)
    engine.cache.write_state("last-report.json", engine.report())  # the extension shows failures from it
    print(engine.summary(), file=sys.stderr)
    if options.strict and engine.counts()["failed"]:
        raise ZensicalBuildError(engine.failure_message())
    return engine


def _generated_pages(project: ProjectConfig, index: VaultIndex, engine: Any) -> dict[str, str | Path]:
    """Vault path -> Markdown text (or a file to copy) of everything the MkDocs plugin generates."""
    from kbgen.snippets import render

    labels = labels_for(project.language)
    out: dict[str, str | Path] = {}
    existing = set(index.notes) | set(index.attachments)
    if project.tags_dir:
        out.update(pages.tag_pages(index, project.tags_dir, labels))
    if project.graph_page:
        out[project.graph_page] = pages.graph_page(labels)
        out[GRAPH_DATA] = graph_data_js(index, lambda p: page_url(p, project.use_directory_urls))
        for src, dest in GRAPH_ASSETS.items():
            out[dest] = ASSETS / src
    out[POLYFILL] = ASSETS / "vendor" / "iframe-worker" / "shim.js"
    out[KB_CSS] = ASSETS / "site" / "kb.css"  # kbgen's classes (embeds, tags, math, banner, graph boxes)
    out[KB_JS] = ASSETS / "site" / "kb.js"  # ticks of the path and of task lists kept in localStorage
    if project.glossary_page:
        from kbgen.site import glossary

        terms = glossary.collect_terms((p, n.title, n.frontmatter, n.source) for p, n in index.notes.items())
        if terms.terms:
            out[project.glossary_page] = glossary.glossary_page(terms, project.glossary_page,
                                                                glossary.labels_for(project.language))
    if project.folder_pages:
        out.update(pages.folder_pages(index, existing, labels))
    if project.home_page and "index.md" not in existing and "README.md" not in existing:
        out["index.md"] = pages.home_page(index, project.site_name, labels, project.tags_dir or None,
                                          project.graph_page or None)
    if engine is None:
        return out
    prefix = engine.prefix
    for name, s in engine.snippets.items():
        o = engine.outcomes[name]
        base = f"{prefix}/{s.stem}"
        if o.dir is not None and o.ok:
            for fig in o.figures():
                out[f"{base}/{fig}"] = o.dir / fig
        out[f"{prefix}/{s.name}"] = s.path
        out[f"{base}.ipynb"] = render.notebook_json(s, o)
        out[f"{base}.md"] = render.snippet_page_markdown(
            s, o, fig_url=_figure_url(s.stem), snippet_rel=engine.snippet_rel(s),
            references=engine.references.get(name, []))
    out[f"{prefix}/index.md"] = render.report_page_markdown(list(engine.outcomes.values()),
                                                            lambda s: f"{s.stem}.md", engine.summary())
    return out


def learning_path_nav(project: ProjectConfig, index: VaultIndex, docs: Path, strict: bool) -> list[Any] | None:
    """The nav ``kbgen-site`` generates from the learning path (``<path_dir>/*.md``), for the
    pages of the build folder ``docs``; None when the vault has no path. Prerequisites that come
    at or after their note are printed (``--strict``: the build fails, as with MkDocs)."""
    from kbgen.site.nav import build_nav
    from kbgen.site.path import check_order, read_path

    opts = project.site_options
    if opts.get("path_nav") is False:
        return None
    sources = [p.relative_to(docs).as_posix() for p in sorted(docs.rglob("*.md"))]
    path = read_path(index, str(opts.get("path_dir", "学习路径")), list(opts.get("levels", ["入门级", "进阶级", "专家级"])),
                     lambda msg: print(f"kbgen build: {msg}", file=sys.stderr))
    if path is None:
        return None
    problems = check_order(path, index) if opts.get("check_prerequisites", True) else []
    if problems:
        message = "kbgen build: learning path order:\n  " + "\n  ".join(problems)
        if strict:
            raise ZensicalBuildError(message)
        print(message, file=sys.stderr)
    home = "index.md" if "index.md" in sources else None
    return build_nav(path, list(sources), home, str(opts.get("path_title", "学习路径")),
                     dict(opts.get("section_titles") or {}), list(opts.get("nav_index_only") or []))


def _figure_url(stem: str) -> Callable[[str], str]:
    """Figure links of the page ``snippets/<stem>.md``: its figures lie in ``snippets/<stem>/``."""
    return lambda fig: f"{stem}/{fig}"


def page_url(path: str, use_directory_urls: bool) -> str:
    """URL from the site root of the page built from vault path ``path`` (Zensical's scheme,
    which is MkDocs'): ``a/b.md`` -> ``a/b/`` or ``a/b.html``; ``a/index.md`` (or ``README.md``)
    -> ``a/`` or ``a/index.html``."""
    stem = path[:-3] if path.endswith(".md") else path
    head, _, name = stem.rpartition("/")
    if name in ("index", "README"):
        folder = f"{head}/" if head else ""
        return (folder or "./") if use_directory_urls else f"{folder}index.html"
    return f"{stem}/" if use_directory_urls else f"{stem}.html"


def _fingerprint(docs: Path) -> str:
    """sha256 over every file of the build's docs folder (vault, generated pages, figures) and
    kbgen's own source (a new kbgen renders pages differently)."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for base, files in ((docs, sorted(docs.rglob("*"))), (package, sorted(package.rglob("*.py")))):
        for p in files:
            if p.is_file():
                h.update(p.relative_to(base).as_posix().encode("utf-8") + b"\0")
                h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def _zensical_config(project: ProjectConfig, build_dir: Path, options: BuildOptions, fingerprint: str,
                     nav: list[Any] | None = None) -> str:
    """The build folder's ``mkdocs.yml``: the project's config plus what the plugin would add."""
    ext: dict[str, Any] = {
        "project_root": str(project.root),
        "docs_dir": os.path.relpath(project.docs_dir, project.root),
        "snippets_dir": project.snippets_dir,
        "cache_dir": options.cache_dir,
        "tags_dir": project.tags_dir,
        "figures": "files",
        "backlinks": project.backlinks,
        "local_graph": bool(project.graph_page) and project.local_graph,
        "unresolved": project.unresolved,
        "math": project.site_options.get("math", True) is not False,
        "path_dir": str(project.site_options.get("path_dir", "学习路径"))
        if project.site_options.get("banner", True) is not False else "",
        "levels": list(project.site_options.get("levels", ["入门级", "进阶级", "专家级"])),
        "strict": options.strict,
        "fingerprint": fingerprint,
    }
    lines = [
        "# Generated by `python -m kbgen build` from the project's mkdocs.yml; do not edit.",
        f"INHERIT: {json.dumps(os.path.relpath(project.config_file, build_dir))}",
        "docs_dir: docs",
        "site_dir: site",
        # Zensical's link check reads wikilinks in the source as Markdown links (false warnings
        # for `[[note.md]]` in another folder, `[[#heading with “quotes”]]`): kbgen checks them
        # and `kbgen build --strict` is the strict build, so an inherited `strict: true` is off.
        "strict: false",
        "markdown_extensions:",
        "  - kbgen.vault: " + json.dumps(ext, ensure_ascii=False),
    ]
    if not project.toc_has_slugify:  # heading ids keep Chinese characters, as with the plugin
        toc = json.dumps(project.toc, ensure_ascii=False)[1:-1]
        lines += ["  - toc: {" + (toc + ", " if toc else "")
                  + "slugify: !!python/object/apply:pymdownx.slugs.slugify {kwds: {case: lower}}}"]
    extra_css = [KB_CSS] + (["assets/kbgen/graph.css"] if project.graph_page else [])
    extra_js = [KB_JS] + ([GRAPH_DATA, "assets/kbgen/graph.js"] if project.graph_page else [])
    if extra_css:
        lines += ["extra_css:"] + [f"  - {c}" for c in extra_css]
    if extra_js:
        lines += ["extra_javascript:"] + [f"  - {j}" for j in extra_js]
    if nav:
        lines += ["nav: " + json.dumps(nav, ensure_ascii=False)]
    # Zensical's offline plugin would load iframe-worker from unpkg.com: use kbgen's local copy.
    lines += ["extra:", "  polyfills:", f"    - {POLYFILL}"]
    return "\n".join(lines) + "\n"



def cmd_build(args: Any) -> int:
    """``python -m kbgen build`` (arguments from :mod:`kbgen.cli`)."""
    root = Path(args.root)
    config_file = Path(args.config_file)
    options = BuildOptions(
        config_file=config_file if config_file.is_absolute() else root / config_file,
        build_dir=Path(args.build_dir) if args.build_dir else None,
        cache_dir=args.cache, jobs=args.jobs, strict=args.strict, execute=not args.no_execute,
    )
    try:
        result = build(options)
    except ZensicalBuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"kbgen build: {len(result.generated)} generated files, site in {result.site_dir}")
    return 0
