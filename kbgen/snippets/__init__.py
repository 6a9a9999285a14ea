"""kbgen's snippet engine: executable ``snippets/*.py`` (jupytext percent format), run at
build time in forked processes, cached by exactly what they import and open.

Lifecycle (what ``kbgen.plugin`` calls; one engine per build; the engine knows no MkDocs)::

    engine = SnippetEngine.from_options(project_root, snippets_dir="snippets",
                                        cache_dir=".cache/kbgen", jobs=None,  # None: all cores
                                        timeout=60, strict=config.strict)
    engine.run()                    # discover + execute (parallel, cached); {name: Outcome};
                                    # raises CacheRemovedError (one message) if .cache vanished
    engine.artifacts()              # [SiteFile]: figures snippets/<stem>/<cell>-<k>.svg, the
                                    # executed snippets/<name>.py (its bytes) and .ipynb
    engine.page_uris()              # snippets/<stem>.md per snippet + snippets/index.md
    engine.set_urls({src_uri: url}) # where the site placed them (links are made relative)
    engine.set_references({"x.py": [(note_src_uri, note_title), ...]})  # once, from the vault
    engine.pages()                  # {src_uri: markdown} of those pages
    engine.is_snippet("x.py"); engine.page_src_uri("x.py")   # SnippetProvider
    engine.embed_html("x.py", "heatmap", page_url=page.url, note=src_uri, line=12)
    engine.value("x.py", "n_params")  # SnippetValue (KB_VALUES), raises SnippetRefError
    engine.cell_url("x.py", 3, page_url=page.url)
    engine.write_report(site_dir)   # site/kbgen-report.json (+ values per snippet), summary line
    engine.fails_build()            # strict and a snippet failed: the plugin raises PluginError
    engine.watch_paths()            # for on_serve: server.watch(str(p))
    engine.close()                  # nothing held between builds; safe to call

Outside MkDocs: ``engine.load()`` / ``engine.execute()`` return ``{name: Outcome}``;
``python -m kbgen run|check`` use the same executor.

The run contract (typed request/result, the one ``cache_key``) is :mod:`kbgen.snippets.contract`;
``engine.value(name, key)`` returns what a snippet exported through ``KB_VALUES``.
"""

from kbgen.snippets.contract import Outcome, RunRequest, RunResult, cache_key
from kbgen.snippets.engine import SnippetEngine
from kbgen.snippets.model import Cell, Snippet, load_snippet, parse_snippet

__all__ = ["SnippetEngine", "Snippet", "Cell", "Outcome", "RunRequest", "RunResult", "cache_key",
           "load_snippet", "parse_snippet"]
