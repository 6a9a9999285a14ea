"""Obsidian callout types on top of ``pymdownx.quotes`` (``callouts: true``).

``pymdownx.quotes`` already turns ``> [!type]± title`` into Material admonitions
(``div.admonition.<type>``) or ``details.<type>`` with nesting and folding. Material styles
only its 12 canonical types, so this tree processor adds the canonical class for every
Obsidian alias and falls back to ``note`` for unknown types, as Obsidian does.
"""

from __future__ import annotations

import xml.etree.ElementTree as etree

from markdown.treeprocessors import Treeprocessor

#: Obsidian type or alias -> Material admonition class.
CALLOUT_TYPES: dict[str, str] = {
    "note": "note",
    "abstract": "abstract", "summary": "abstract", "tldr": "abstract",
    "info": "info", "todo": "info",
    "tip": "tip", "hint": "tip", "important": "tip",
    "success": "success", "check": "success", "done": "success",
    "question": "question", "help": "question", "faq": "question",
    "warning": "warning", "caution": "warning", "attention": "warning",
    "failure": "failure", "fail": "failure", "missing": "failure",
    "danger": "danger", "error": "danger",
    "bug": "bug",
    "example": "example",
    "quote": "quote", "cite": "quote",
}


class CalloutClassProcessor(Treeprocessor):
    """Map callout classes to Material's; runs right after the quotes tree processor."""

    def run(self, root: etree.Element) -> None:
        for el in root.iter():
            if el.tag not in ("div", "details"):
                continue
            classes = el.attrib.get("class", "").split()
            if el.tag == "div" and "admonition" not in classes:
                continue
            if el.tag == "details" and (el.find("summary") is None or not classes):
                continue
            kinds = [c for c in classes if c != "admonition"]
            if any(k.startswith("kb-") for k in kinds):
                continue
            if not kinds or any(k in CALLOUT_TYPES.values() for k in kinds):
                continue
            canonical = CALLOUT_TYPES.get(kinds[0].lower(), "note")
            el.attrib["class"] = " ".join(classes + [canonical, f"callout-{kinds[0].lower()}"])
