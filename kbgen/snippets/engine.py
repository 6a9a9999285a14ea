"""The snippet engine in the MkDocs lifecycle: discovery, execution (``executor``), generated
files, embeds, the report."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbgen.contracts import SnippetRefError, SnippetValue
from kbgen.labels import Labels
from kbgen.snippets import render
from kbgen.snippets.cache import Cache
from kbgen.snippets.contract import Outcome, RunResult
from kbgen.snippets.executor import (
    BackendFactory, Executor, available_cores, default_memory_mb, discover, fork_server_backend,
)
from kbgen.snippets.forkserver import DEFAULT_PRELOAD
from kbgen.snippets.model import Snippet, load_snippet, validate
from kbgen.snippets.render import relative_url

NOTEBOOK = "notebook.ipynb"  # the executed notebook inside a cache entry

if TYPE_CHECKING:
    from kbgen.snippets.dask_executor import DaskExecutor

log = logging.getLogger("mkdocs.plugins.kbgen.snippets")

DEFAULT_TIMEOUT = 60.0
REPORT_NAME = "kbgen-report.json"


@dataclass(frozen=True)
class SiteFile:
    """A file the engine adds to the site: ``src_uri`` inside the site, and either a file on
    disk (``abs_path``) or its ``content``."""

    src_uri: str
    abs_path: Path | None = None
    content: str | bytes | None = None


class SnippetEngine:
    """See the package docstring (``kbgen.snippets``) for the lifecycle."""

    def __init__(
        self,
        project_root: Path,
        snippets_dir: Path,
        cache_dir: Path,
        jobs: int,
        timeout: float,
        strict: bool,
        docs_dir: Path | None = None,
        fig_format: str = "svg",
        site_prefix: str = "snippets",
        python_cmd: str = ".venv/bin/python",
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        load_scaling: bool = True,
        memory_limit_mb: int | None = None,
        output_limit: int | None = None,
        live: bool = False,
        execution: bool = True,
        executor: str = "local",
        cluster: Any = None,
        backend: BackendFactory = fork_server_backend,
    ) -> None:
        self.root = project_root.resolve()
        self.snippets_dir = snippets_dir if snippets_dir.is_absolute() else self.root / snippets_dir
        self.cache = Cache(cache_dir if cache_dir.is_absolute() else self.root / cache_dir, self.root)
        if memory_limit_mb is None:
            memory_limit_mb = default_memory_mb(jobs)
        self.executor: Executor | DaskExecutor
        if executor == "local":
            self.executor = Executor(self.root, self.cache, jobs, timeout, fig_format, preload, load_scaling,
                                     memory_limit_mb or None, output_limit, finalize=_write_notebook,
                                     backend=backend)
        elif executor == "dask":  # kbgen.snippets.dask_executor; ``cluster``: its ClusterOptions
            from kbgen.snippets.dask_executor import DaskExecutor

            self.executor = DaskExecutor(self.root, self.cache, jobs, timeout, fig_format, preload, load_scaling,
                                         memory_limit_mb or None, output_limit, finalize=_write_notebook,
                                         cluster=cluster)
        else:
            raise ValueError(f"executor must be 'local' or 'dask', not {executor!r}")
        # live (``mkdocs serve``): a failing snippet is shown in its page and logged, but never
        # fails the build: the author is looking at the page, and serve must keep running.
        self.live = live
        # execution off (``execute: false``): nothing runs and the cache is not read; pages show
        # the source only. For drafting prose, and the baseline of benchmarks/build.py.
        self.execution = execution
        self.strict = strict and not live
        self.docs_dir = docs_dir
        self.prefix = site_prefix.strip("/")
        self.python_cmd = python_cmd
        self.snippets: dict[str, Snippet] = {}
        self.outcomes: dict[str, Outcome] = {}
        self._warnings: list[str] = []
        self.references: dict[str, list[tuple[str, str]]] = {}
        self._urls: dict[str, str] = {}  # src_uri -> site url (set_urls)
        #: Reader-facing words of the snippet pages (the plugin sets the site's, kbgen.labels).
        self.labels: Labels = render.DEFAULT_LABELS
        self.code_fence = "python"  # "kbgen-python" once enable_highlight_memo() registered it
        self._t0 = time.perf_counter()

    @classmethod
    def from_options(
        cls,
        project_root: str | Path,
        snippets_dir: str | Path = "snippets",
        cache_dir: str | Path = ".cache/kbgen",
        jobs: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        strict: bool = False,
        **kw: Any,
    ) -> "SnippetEngine":
        jobs = jobs or available_cores()
        return cls(Path(project_root), Path(snippets_dir), Path(cache_dir), jobs, timeout, strict, **kw)

    def enable_highlight_memo(self, mdx_configs: dict[str, dict]) -> None:
        """Serve the snippet pages' code highlighting from the cache (``kbgen.snippets.highlight``):
        registers the ``kbgen-python`` fence with ``pymdownx.superfences`` (which must be enabled)."""
        from kbgen.snippets.highlight import FENCE, HighlightMemo

        fences = mdx_configs.setdefault("pymdownx.superfences", {}).setdefault("custom_fences", [])
        if not any(f.get("name") == FENCE for f in fences):
            fences.append(HighlightMemo(self.cache.dir).fence())
        self.code_fence = FENCE

    # -- discovery + execution -----------------------------------------------------------
    def load(self) -> dict[str, Snippet]:
        self.snippets = {p.name: load_snippet(p) for p in discover(self.snippets_dir)}
        for s in self.snippets.values():
            for problem in validate(s):
                log.warning("kbgen: %s", problem)
        return self.snippets

    def execute(self, force: bool = False) -> dict[str, Outcome]:
        if not self.snippets:
            self.load()
        if self.execution:
            self.outcomes = self.executor.run(list(self.snippets.values()), force=force)
        else:
            self.outcomes = {n: Outcome(s, "skipped", 0.0, None, None, reason="execute: false")
                             for n, s in self.snippets.items()}
        self._warnings = []
        for o in self.outcomes.values():
            if o.failed and not self.strict:
                first = o.message.split("\n", 1)[0]
                if self.live:
                    log.info("kbgen: snippet %s (shown in the page; `mkdocs build --strict` fails on it)", first)
                else:
                    log.warning("kbgen: snippet %s", first)
            for w in self._result_warnings(o):
                self._warnings.append(w)
                log.warning("kbgen: %s", w)
        return self.outcomes

    def _result_warnings(self, o: Outcome) -> list[str]:
        """Contained faults of a run that still produced a result (executed or cached): output
        truncated, child processes left running. ``file:line: ...`` each."""
        rel = self.snippet_rel(o.snippet)
        out = []
        cells = o.result.cells if o.result is not None else []
        for c in cells:
            t = c.truncated
            if t:
                out.append(
                    f"{rel}:{t.line}: output of cell '{c.id}' truncated: {t.kept + t.dropped:,} "
                    f"characters printed, the first {t.kept:,} kept"
                )
        left = o.result.leftovers if o.result is not None else None
        if left:
            line = (left.spawns[0].line if left.spawns else None) or "?"
            procs = left.processes
            out.append(
                f"{rel}:{line}: left {len(procs)} child process{'es' if len(procs) != 1 else ''} running "
                f"({'; '.join(procs)[:200]}); kbgen killed {'them' if len(procs) != 1 else 'it'}: "
                "wait for the processes a snippet starts"
            )
        return out

    def warnings(self) -> list[str]:
        """This build's contained-fault warnings (``file:line: ...``), as logged."""
        return list(self._warnings)

    def snippet_rel(self, s: Snippet) -> str:
        return self.executor.rel(s.path)

    # -- site files (the plugin turns them into MkDocs files) ----------------------------
    def run(self, force: bool = False) -> dict[str, Outcome]:
        """Discover and execute (cached, parallel). Raises CacheRemovedError when the cache
        folder vanished during the run (one message; the next build recovers)."""
        self._t0 = time.perf_counter()
        self.load()
        return self.execute(force=force)

    def artifacts(self) -> list[SiteFile]:
        """Files the site serves beside the snippet pages: figures
        (``snippets/<stem>/<cell>-<k>.svg``), the ``.py`` as it was executed, the ``.ipynb``."""
        out: list[SiteFile] = []
        for name, s in self.snippets.items():
            o = self.outcomes.get(name)
            base = f"{self.prefix}/{s.stem}"
            if o is not None and o.dir is not None:
                out += [SiteFile(f"{base}/{fig}", abs_path=o.dir / fig) for fig in o.figures()]
            out.append(SiteFile(f"{self.prefix}/{s.name}", content=s.source))  # the bytes that ran
            nb = o.dir / NOTEBOOK if o is not None and o.dir is not None and o.ok else None
            if nb is not None and nb.is_file():
                out.append(SiteFile(f"{base}.ipynb", abs_path=nb))
            elif o is not None:
                out.append(SiteFile(f"{base}.ipynb", content=render.notebook_json(s, o)))
        return out

    def page_uris(self) -> list[str]:
        """Source paths of the generated pages: one per snippet, then the run-times page."""
        return [self.page_src_uri(n) for n in self.snippets] + [self.report_src_uri()]

    def report_src_uri(self) -> str:
        return f"{self.prefix}/index.md"

    def set_urls(self, urls: dict[str, str]) -> None:
        """Site URLs (``src_uri -> url``) of the pages and artifacts, as the site generator
        placed them: links in pages and embeds are made relative from them."""
        self._urls = dict(urls)

    def _url(self, src_uri: str) -> str:
        url = self._urls.get(src_uri)
        if url is not None:
            return url
        return src_uri[:-3] + "/" if src_uri.endswith(".md") else src_uri

    def pages(self) -> dict[str, str]:
        """Markdown of every generated page (``src_uri -> markdown``), with the references
        known now (``set_references``) and the URLs from ``set_urls``."""
        out: dict[str, str] = {}
        for name, s in self.snippets.items():
            o = self.outcomes.get(name) or Outcome(s, "skipped", 0.0, None, None, reason="not run")
            page = self.page_src_uri(name)

            def fig_url(fig: str, _stem: str = s.stem, _page: str = page) -> str:
                return relative_url(self._url(f"{self.prefix}/{_stem}/{fig}"), self._url(_page))

            out[page] = render.snippet_page_markdown(
                s, o, fig_url=fig_url, snippet_rel=self.snippet_rel(s), references=self.references.get(name, []),
                code_fence=self.code_fence, labels=self.labels,
            )
        out[self.report_src_uri()] = render.report_page_markdown(
            list(self.outcomes.values()), lambda s: f"{s.stem}.md", self.summary(), self.labels
        )
        return out

    def set_references(self, refs: dict[str, list[tuple[str, str]]]) -> None:
        """``{snippet_name: [(note_src_uri, note_title), ...]}`` from the vault index; listed on
        the snippet pages and named in failure messages. Call before ``pages()``."""
        self.references = {k.rsplit("/", 1)[-1]: list(v) for k, v in refs.items()}

    # -- SnippetProvider -----------------------------------------------------------------
    def is_snippet(self, target: str) -> bool:
        if not self.snippets:
            self.load()
        return target.rsplit("/", 1)[-1] in self.snippets

    def page_src_uri(self, name: str) -> str:
        stem = name.rsplit("/", 1)[-1]
        stem = stem[:-3] if stem.endswith(".py") else stem
        return f"{self.prefix}/{stem}.md"

    def embed_html(self, name: str, cell: str | None, *, page_url: str, note: str, line: int) -> str:
        """HTML for ``![[name#cell]]``: the cell's (or all) outputs and a caption. Failed snippets
        embed their error (escaped) instead."""
        key = name.rsplit("/", 1)[-1]
        s = self.snippets.get(key)
        if s is None:
            raise SnippetRefError(f"{note}:{line}: no snippet named {name!r} in {self.snippets_dir.name}/ (known: {', '.join(sorted(self.snippets)) or 'none'})")
        cells = s.code_cells
        if cell:
            c = s.cell(cell)
            if c is None:
                titles = ", ".join(x.title for x in cells if x.title) or "none"
                raise SnippetRefError(f"{note}:{line}: snippet {key} has no cell titled {cell!r} (titles: {titles})")
            cells = [c]
        o = self.outcomes.get(key)
        href = relative_url(self._url(self.page_src_uri(key)), page_url)
        if cell:
            href += f"#cell-{cells[0].cell_id}"
        body: list[str] = []
        if o is None:  # no outcome yet (nothing executed): the caption alone
            pass
        elif o.skipped:
            body.append(render.skipped_html(self.labels))
        elif o.failed:
            body.append(render.error_html(o, [t for _, t in self.references.get(key, [])], self.labels))
        else:
            for c in cells:
                res = o.cell_result(c.cell_id)
                if res is None:
                    continue
                def fig_url(f: str, _stem: str = s.stem) -> str:
                    return relative_url(self._url(f"{self.prefix}/{_stem}/{f}"), page_url)

                body.append(render.outputs_html(res.outputs, fig_url, f"{key}#{c.cell_id}"))
        cmd = render.run_command(self.snippet_rel(s), self.python_cmd)
        return (
            f'<figure class="kb-embed" data-snippet="{key}">\n'
            + "\n".join(b for b in body if b)
            + "\n"
            + render.caption_html(s, cell, href, cmd)
            + "\n</figure>"
        )

    def value(self, name: str, key: str) -> SnippetValue:
        """The value ``key`` that snippet ``name`` exported through ``KB_VALUES`` (with the cell
        that last assigned it). Raises SnippetRefError (saying what to do) for an unknown
        snippet, one that failed or did not run, or a key it does not export."""
        short = name.rsplit("/", 1)[-1]
        if not self.snippets:
            self.load()
        if short not in self.snippets:
            known = ", ".join(sorted(self.snippets)) or "none"
            raise SnippetRefError(f"no snippet named {name!r} in {self.snippets_dir.name}/ (known: {known})")
        o = self.outcomes.get(short)
        if o is None or o.skipped:
            raise SnippetRefError(f"snippet {short} was not executed in this build (execute: false or not run yet); "
                                  f"its value {key!r} is only known after it runs")
        if o.failed or o.result is None:
            first = o.message.split("\n", 1)[0]
            raise SnippetRefError(f"snippet {short} {o.status}, so its value {key!r} is unknown: {first}")
        v = o.result.values.get(key)
        if v is None:
            have = ", ".join(sorted(o.result.values)) or "none"
            raise SnippetRefError(f"snippet {short} exports no value {key!r} (exported: {have}); "
                                  f"add KB_VALUES[{key!r}] = ... to it")
        return v

    def values(self, name: str) -> dict[str, SnippetValue]:
        """Every value snippet ``name`` exported (empty when it did not run successfully)."""
        o = self.outcomes.get(name.rsplit("/", 1)[-1])
        return dict(o.result.values) if o is not None and o.ok and o.result is not None else {}

    def cell_url(self, name: str, cell: int, *, page_url: str) -> str:
        """Relative URL from ``page_url`` to cell ``cell`` (0-based index among all cells, as in
        ``SnippetValue.cell``) on the snippet's page."""
        short = name.rsplit("/", 1)[-1]
        s = self.snippets.get(short)
        if s is None:
            raise SnippetRefError(f"no snippet named {name!r} in {self.snippets_dir.name}/")
        if not 0 <= cell < len(s.cells):
            raise SnippetRefError(f"snippet {short} has no cell {cell} (it has {len(s.cells)})")
        return f"{relative_url(self._url(self.page_src_uri(short)), page_url)}#cell-{s.cells[cell].cell_id}"

    # -- report --------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        st = [o.status for o in self.outcomes.values()]
        return {
            "snippets": len(st),
            "executed": st.count("executed"),
            "cached": st.count("cached"),
            "failed": st.count("failed") + st.count("timeout"),
            "timeout": st.count("timeout"),
            "skipped": st.count("skipped"),
        }

    def summary(self) -> str:
        c = self.counts()
        line = f"kbgen: {c['snippets']} snippets, {c['executed']} executed, {c['cached']} cached, {c['failed']} failed"
        return line + (f", {c['skipped']} skipped (execute: false)" if c["skipped"] else "")

    def report(self) -> dict[str, Any]:
        entries = []
        for name, o in self.outcomes.items():
            deps = o.deps
            e: dict[str, Any] = {
                "name": name,
                "path": self.snippet_rel(o.snippet),
                "status": o.status,
                "seconds": round(o.seconds, 3),
                "run_seconds": round(o.run_seconds, 3),
                "reason": o.reason or None,
                "deps": deps.to_json(),
                "values": {k: v.value for k, v in sorted(o.result.values.items())} if o.ok and o.result else {},
                "cache_entry": o.dir.name if o.ok and o.dir is not None else None,
                "references": [n for n, _ in self.references.get(name, [])],
                "measured": o.snippet.measured,
                # where this build ran it: "local", a Dask worker's address, or None (cached, not run)
                "ran_on": o.where or ("local" if isinstance(self.executor, Executor)
                                      and o.status in ("executed", "failed", "timeout") else None),
            }
            if o.failed:
                e["error"] = o.message
            entries.append(e)
        return {"summary": self.counts(), "line": self.summary(), "snippets": entries}

    def failure_message(self) -> str:
        parts = []
        for name, o in self.outcomes.items():
            if not o.failed:
                continue
            notes = [n for n, _ in self.references.get(name, [])]
            used = f" (used by: {', '.join(notes)})" if notes else " (not used by any note)"
            parts.append(f"snippet {self.snippet_rel(o.snippet)} {o.status}{used}: {o.message.rstrip()}")
        return "\n\n".join(parts)

    def write_report(self, site_dir: str | Path) -> dict[str, Any]:
        """Write ``site/kbgen-report.json`` (and the cache's copy for ``kbgen check``); log the
        summary. Returns the report; ``report["summary"]["failed"]`` counts failures."""
        report = self.report()
        Path(site_dir, REPORT_NAME).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        self.cache.write_state("last-report.json", report)
        log.info(self.summary())
        return report

    def fails_build(self) -> bool:
        """True when this build must fail (strict, not live, and a snippet failed)."""
        return self.strict and self.counts()["failed"] > 0

    def watch_paths(self) -> list[Path]:
        """Directories ``mkdocs serve`` should watch: the snippets folder and the top-level
        folders of every project module / data file a snippet used."""
        paths = {self.snippets_dir}
        for o in self.outcomes.values():
            deps = o.result.deps if o.result is not None else None
            for rel in (deps.paths() + list(deps.listings)) if deps else []:
                paths.add(self.root / rel.split("/", 1)[0])
        return sorted(p for p in paths if p.exists())

    def close(self) -> None:
        """Nothing is held between builds (the fork server lives only while snippets run)."""


def _write_notebook(snippet: Snippet, result: RunResult, run_dir: Path) -> None:
    """Rendered once per execution and cached with the entry (a warm build never imports nbformat)."""
    o = Outcome(snippet, "executed", 0.0, result, run_dir)
    (run_dir / NOTEBOOK).write_text(render.notebook_json(snippet, o), encoding="utf-8")
