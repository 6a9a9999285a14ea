"""A plain scan of notes for snippet references (``[[x.py]]``, ``![[x.py#cell]]``).

Used by ``kbgen check`` and as the build's fallback until the vault index reports references
through ``SnippetEngine.set_references``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REF = re.compile(r"(?P<embed>!?)\[\[(?P<name>[^\]\|#\n]+?\.py)(?:#(?P<cell>[^\]\|\n]+?))?(?:\\?\|[^\]\n]*)?\]\]")
_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.M)


@dataclass(frozen=True)
class Ref:
    note: str  # src uri relative to docs/, e.g. "核心组件/自注意力机制.md"
    title: str
    line: int
    name: str  # "self_attention.py" (basename)
    cell: str | None
    embed: bool


def note_title(text: str, fallback: str) -> str:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        m = _TITLE.search(text[:end if end > 0 else 0])
        if m:
            return m.group(1).strip().strip("'\"")
    return fallback


def scan_notes(docs_dir: Path) -> list[Ref]:
    """Every snippet reference outside fenced code blocks, in path order."""
    refs: list[Ref] = []
    for path in sorted(docs_dir.rglob("*.md")):
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(docs_dir).as_posix()
        title = note_title(text, path.stem)
        fence = None
        for i, line in enumerate(text.splitlines(), 1):
            s = line.lstrip()
            if s.startswith(("```", "~~~")):
                mark = s[:3]
                fence = None if fence == mark else (fence or mark)
                continue
            if fence:
                continue
            for m in REF.finditer(line):
                refs.append(
                    Ref(rel, title, i, m.group("name").strip().rsplit("/", 1)[-1], (m.group("cell") or "").strip() or None, bool(m.group("embed")))
                )
    return refs
