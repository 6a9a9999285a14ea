"""Jupyter notebooks (``*.ipynb``) in a vault, as the index sees them: Markdown.

mkdocs-jupyter renders a notebook's page; the index reads it as a note whose text is its
Markdown cells and its code cells as fenced code (outputs left out), so ``[[notebook]]`` links
to the page, ``![[notebook]]`` / ``![[notebook#heading]]`` embed its text, its headings are
link targets and its wikilinks count as links (backlinks, graph).
"""

from __future__ import annotations

import json


def notebook_markdown(text: str) -> str:
    """The Markdown of a notebook's JSON ``text``: Markdown cells as written, code cells fenced
    in the notebook's language. Not a notebook (invalid JSON, no cells): an empty string."""
    try:
        nb = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return ""
    meta: dict = nb["metadata"] if isinstance(nb.get("metadata"), dict) else {}
    language = str((meta.get("language_info") or {}).get("name") or (meta.get("kernelspec") or {}).get("language")
                   or "python")
    parts = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if not source.strip():
            continue
        if cell.get("cell_type") == "markdown":
            parts.append(source.rstrip())
        elif cell.get("cell_type") == "code":
            fence = "```"
            while fence in source:
                fence += "`"
            parts.append(f"{fence}{language}\n{source.rstrip()}\n{fence}")
    return "\n\n".join(parts) + "\n" if parts else ""
