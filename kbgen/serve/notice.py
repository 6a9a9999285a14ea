"""Snippets an edit made stale, and the "updating" notice on their embeds in a fast-path page.

A snippet's recorded dependencies (:class:`kbgen.snippets.contract.Dependencies`) name every
project file it read; a snippet that read an edited note re-runs in the background build. Until
then the fast path shows its previous outputs with a notice above them; the background build's
page (a normal build's, without any notice) replaces the page when the re-run ends.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

NOTICE = {
    "zh": ("更新中", "这段输出来自上一次运行；代码片段正在后台重新运行，完成后页面自动刷新。"),
    "en": ("Updating", "These outputs are from the previous run; the snippet is re-running in the background "
                       "and the page reloads when it ends."),
}


def stale_snippets(engine: Any, changed: list[Path]) -> list[str]:
    """Names of the snippets (``x.py``) whose last run read one of the ``changed`` files
    (absolute paths). ``engine``: the build's :class:`kbgen.snippets.SnippetEngine` or None."""
    outcomes = getattr(engine, "outcomes", None)
    root = getattr(engine, "root", None)
    if not outcomes or root is None:
        return []
    rels = set()
    for p in changed:
        try:
            rels.add(p.resolve().relative_to(root).as_posix())
        except ValueError:
            continue
    stale = []
    for name, o in outcomes.items():
        deps = o.result.deps if getattr(o, "result", None) is not None else None
        if deps is not None and rels & set(deps.paths()):
            stale.append(name)
    return sorted(stale)


def mark_updating(html: str, snippets: list[str], language: str | None) -> str:
    """Put the notice at the top of each embed (``<figure class="kb-embed" data-snippet=...>``)
    of ``snippets`` in the page ``html``."""
    if not snippets:
        return html
    title, text = NOTICE.get((language or "en").split("-")[0].split("_")[0], NOTICE["en"])
    notice = (f'<div class="admonition info kb-updating"><p class="admonition-title">{escape(title)}</p>'
              f"<p>{escape(text)}</p></div>")
    names = "|".join(re.escape(escape(n)) for n in snippets)
    pattern = re.compile(r'<figure class="kb-embed" data-snippet="(?:' + names + r')"[^>]*>')
    return pattern.sub(lambda m: m.group(0) + notice, html)
