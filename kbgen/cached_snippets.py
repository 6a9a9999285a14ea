"""Snippet outputs read from kbgen's cache, without executing anything (outside MkDocs).

The standalone Markdown extension (:mod:`kbgen.standalone`, e.g. under Zensical) renders
``![[x.py#cell]]`` from the results ``kbgen build`` (or an earlier MkDocs build) left in
``.cache/kbgen``: the same cache key and validity check as the engine (snippet source,
versions, the hashes of every project file the run used), so an output is shown only while it
is still what the code computes. A snippet with no valid entry shows a notice naming the
command that runs it. Links are relative to the *source path* of the page (``a/b.md``); the
site generator turns them into URLs (Zensical rewrites relative ``href``/``src`` in the HTML).
"""

from __future__ import annotations

import base64
import html
import mimetypes
import posixpath
from dataclasses import dataclass
from pathlib import Path

from kbgen.contracts import SnippetRefError, SnippetValue
from kbgen.snippets import SnippetEngine, render
from kbgen.snippets.cache import HashMemo
from kbgen.snippets.contract import Outcome, cache_key
from kbgen.snippets.model import Snippet
from kbgen.vault.render import rel_href

#: Shown in place of outputs the cache does not hold (never executed, or stale).
NOT_RUN_NOTICE = "代码片段尚未执行或输出已过期：先运行 <code>python -m kbgen build</code>（执行过期的代码片段并构建站点）。"


@dataclass(frozen=True)
class CachedSnippetsOptions:
    """Where snippets and the cache live, and how figures reach the page."""

    project_root: Path  # snippets run from here; relative dependency paths are relative to it
    snippets_dir: Path  # absolute
    cache_dir: Path  # absolute (kbgen's ``.cache/kbgen``)
    #: "inline": figures as ``data:`` URIs (nothing else needs to be in the site);
    #: "files": figures linked at ``<site_prefix>/<stem>/<file>`` (``kbgen build`` copies them there).
    figures: str = "inline"
    site_prefix: str = "snippets"


class CachedSnippets:
    """A read-only :class:`kbgen.contracts.SnippetProvider` over kbgen's snippet cache.

    ``page_url`` arguments are the *vault path* of the page being rendered (``"a/b.md"``):
    links are made relative to it, as for the notes' own links.
    """

    def __init__(self, options: CachedSnippetsOptions) -> None:
        self.options = options
        self.engine = SnippetEngine.from_options(options.project_root, snippets_dir=options.snippets_dir,
                                                 cache_dir=options.cache_dir, jobs=1, site_prefix=options.site_prefix)
        self.snippets: dict[str, Snippet] = self.engine.load()
        self.outcomes: dict[str, Outcome | None] = {}
        hashes = HashMemo(self.engine.root)
        for name, s in self.snippets.items():
            key = cache_key(s.text.encode("utf-8"), self.engine.executor.fig_format)
            entry, _reason = self.engine.cache.lookup(key, hashes, name=name)
            self.outcomes[name] = None if entry is None else Outcome(
                s, "cached", 0.0, entry.result, entry.dir, run_seconds=entry.result.seconds)
        # A snippet whose last run failed has no valid entry: show that run's error, as MkDocs does.
        last = self.engine.cache.read_state("last-report.json").get("snippets", [])
        self.failures: dict[str, Outcome] = {}
        for e in last if isinstance(last, list) else []:
            last_name = e.get("name") if isinstance(e, dict) else None
            failed = self.snippets.get(last_name) if isinstance(last_name, str) else None
            if failed is not None and self.outcomes.get(failed.name) is None and e.get("status") in ("failed", "timeout"):
                self.failures[failed.name] = Outcome(failed, e["status"], 0.0, None, None,
                                                     message=str(e.get("error") or ""))
        # The engine answers value() from its outcomes: hand it the cached ones.
        self.engine.outcomes = {n: o for n, o in self.outcomes.items() if o is not None}

    # -- SnippetProvider -------------------------------------------------------------------
    def is_snippet(self, target: str) -> bool:
        return target.rsplit("/", 1)[-1] in self.snippets

    def page_src_uri(self, name: str) -> str:
        return self.engine.page_src_uri(name)

    def embed_html(self, name: str, cell: str | None, *, page_url: str, note: str, line: int) -> str:
        """``<figure>`` with the outputs of ``name`` (one cell, or all) as the cache holds them."""
        key = name.rsplit("/", 1)[-1]
        s = self.snippets.get(key)
        if s is None:
            known = ", ".join(sorted(self.snippets)) or "none"
            raise SnippetRefError(f"{note}:{line}: no snippet named {name!r} in "
                                  f"{self.options.snippets_dir.name}/ (known: {known})")
        cells = s.code_cells
        if cell:
            c = s.cell(cell)
            if c is None:
                titles = ", ".join(x.title for x in cells if x.title) or "none"
                raise SnippetRefError(f"{note}:{line}: snippet {key} has no cell titled {cell!r} (titles: {titles})")
            cells = [c]
        page = page_url
        href = rel_href(self.page_src_uri(key), page)
        if cell:
            href += f"#cell-{cells[0].cell_id}"
        outcome = self.outcomes.get(key)
        body: list[str] = []
        failure = self.failures.get(key)
        if failure is not None:
            body.append(render.error_html(failure))
        elif outcome is None:
            body.append(f'<p class="kb-skipped">{NOT_RUN_NOTICE}</p>')
        else:
            done: Outcome = outcome

            def src(file: str) -> str:
                return self.figure_src(s, done, file, page)

            for c in cells:
                res = outcome.cell_result(c.cell_id)
                if res is not None:
                    body.append(render.outputs_html(res.outputs, src, f"{key}#{c.cell_id}"))
        cmd = render.run_command(self.engine.snippet_rel(s), self.engine.python_cmd)
        return (f'<figure class="kb-embed" data-snippet="{html.escape(key)}">\n'
                + "\n".join(b for b in body if b) + "\n"
                + render.caption_html(s, cell, href, cmd) + "\n</figure>")

    def value(self, name: str, key: str) -> SnippetValue:
        """``KB_VALUES[key]`` of snippet ``name`` from its cached result (the engine's checks)."""
        return self.engine.value(name, key)

    def cell_url(self, name: str, cell: int, *, page_url: str) -> str:
        """Link from the page ``page_url`` to cell ``cell`` (0-based among all cells, as
        ``SnippetValue.cell``) on the snippet's page."""
        s = self.snippets[name.rsplit("/", 1)[-1]]
        if not 0 <= cell < len(s.cells):
            raise SnippetRefError(f"snippet {s.name} has no cell {cell} (it has {len(s.cells)})")
        return rel_href(self.page_src_uri(s.name), page_url) + f"#cell-{s.cells[cell].cell_id}"

    # -- figures ---------------------------------------------------------------------------
    def figure_path(self, snippet: Snippet, file: str) -> str:
        """Vault-relative path of a figure when ``figures: files`` (``snippets/<stem>/<file>``)."""
        return f"{self.options.site_prefix}/{snippet.stem}/{file}"

    def figure_src(self, snippet: Snippet, outcome: Outcome, file: str, page: str) -> str:
        """``src`` of a figure on the page at vault path ``page``."""
        if self.options.figures == "files":
            return rel_href(self.figure_path(snippet, file), page)
        assert outcome.dir is not None
        data = (outcome.dir / file).read_bytes()
        mime = mimetypes.guess_type(posixpath.basename(file))[0] or "application/octet-stream"
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
