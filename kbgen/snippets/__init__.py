"""kbgen's snippet engine: executable ``snippets/*.py`` (jupytext percent format), run at
build time in forked processes, cached by exactly what they import and open.

Lifecycle (what ``kbgen.plugin`` calls; one engine per build)::

    engine = SnippetEngine.from_options(project_root, snippets_dir="snippets",
                                        cache_dir=".cache/kbgen", jobs=None,  # None: all cores
                                        timeout=60, strict=config.strict)
    files = engine.on_files(files, config)   # on_files: discover, execute (parallel, cached),
                                             # add pages snippets/<stem>.md, figures
                                             # snippets/<stem>/<cell>-<k>.svg, downloads
                                             # snippets/<name>.py + .ipynb, run-times page
                                             # snippets/index.md
    engine.set_references({"x.py": [(note_src_uri, note_title), ...]})  # before pages are read
                                             # (on_files/on_nav); default: a regex scan of docs/
    engine.is_snippet("x.py"); engine.page_src_uri("x.py")   # SnippetProvider
    engine.embed_html("x.py", "heatmap", page_url=page.url, note=src_uri, line=12)
                                             # raises kbgen.contracts.SnippetRefError
    engine.on_post_build(config.site_dir)    # site/kbgen-report.json, summary line,
                                             # PluginError under strict if any snippet failed
    engine.watch_paths()                     # for on_serve: server.watch(str(p))
    engine.close()                           # nothing held between builds; safe to call

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
