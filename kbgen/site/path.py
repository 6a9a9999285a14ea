"""The learning path: read from the level pages' ordered lists, checked against prerequisites.

A vault opts in by having a path folder (option ``path_dir``, e.g. ``学习路径/``) whose pages (one per level,
e.g. ``学习路径/入门级.md``) list the steps as an ordered list of wikilinks::

    1. [[核心组件/自注意力机制]] — 学完后你能……

The first wikilink of each top-level ordered-list item is a step. Levels are ordered by the
``levels`` option (names = page stems), then by frontmatter ``order:``, then by name. Everything
is read from the build's :class:`kbgen.vault.VaultIndex` (links, lines, frontmatter, resolution):
no MkDocs objects and no parser of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from kbgen.vault import scan
from kbgen.vault.index import Link, Note, VaultIndex

# A top-level ordered-list item ("1. " or "1) ", not indented: indented ones are nested).
_OL_ITEM = re.compile(r"^\d{1,9}[.)][ \t]+")

class PathError(Exception):
    """The learning path contradicts a note's prerequisites; ``str()`` lists every problem."""


@dataclass(frozen=True)
class Step:
    """One step of the path: ``src`` (note src_uri) listed on ``level_src`` at ``line`` (1-based)."""

    src: str
    level: str
    level_src: str
    line: int
    number: int  # 1-based position within its level
    index: int  # 0-based position on the whole path


@dataclass
class Level:
    """A level page and its steps, in order."""

    name: str
    src: str
    steps: list[Step] = field(default_factory=list)


@dataclass
class LearningPath:
    """All levels in order; ``steps`` flattened (a note listed twice keeps its first place)."""

    levels: list[Level]
    index_src: str | None = None  # an optional overview page (``学习路径/index.md``)

    @property
    def steps(self) -> list[Step]:
        return [s for lv in self.levels for s in lv.steps]

    def step_of(self, src: str) -> Step | None:
        return self._by_src().get(src)

    def next_step(self, src: str) -> Step | None:
        """The step after note ``src`` on the path (crossing levels), or ``None`` at the end."""
        step = self.step_of(src)
        if step is None:
            return None
        steps = self.steps
        return steps[step.index + 1] if step.index + 1 < len(steps) else None

    def level(self, name: str) -> Level | None:
        return next((lv for lv in self.levels if lv.name == name), None)

    def level_of_page(self, src: str) -> Level | None:
        return next((lv for lv in self.levels if lv.src == src), None)

    def _by_src(self) -> dict[str, Step]:
        cache = getattr(self, "_cache", None)
        if cache is None:
            cache = {}
            for s in self.steps:
                cache.setdefault(s.src, s)
            self._cache = cache
        return cache


def path_items(note: Note) -> list[tuple[int, Link]]:
    """(1-based file line, link) of the first wikilink of each top-level ordered-list item of
    ``note`` outside code (an item whose first wikilink is an embed is no step)."""
    lines = note.source.split("\n")
    fenced = scan.fenced_line_mask(lines[note.body_offset:])
    first: dict[int, Link] = {}
    for link in note.links:
        if link.field is None:
            first.setdefault(link.line, link)
    out = []
    for i, line in enumerate(lines[note.body_offset:]):
        lineno = note.body_offset + i + 1
        if fenced[i] or not _OL_ITEM.match(line):
            continue
        found = first.get(lineno)
        if found is not None and not found.embed:
            out.append((lineno, found))
    return out


def level_order(levels: list[Note], preferred: list[str]) -> list[Note]:
    """Order level pages: ``preferred`` names (file stems) first, then ``order:``, then name."""

    def key(note: Note) -> tuple:
        pos = preferred.index(note.name) if note.name in preferred else len(preferred)
        order = note.frontmatter.get("order")
        return (pos, order if isinstance(order, (int, float)) and not isinstance(order, bool) else float("inf"),
                note.name)

    return sorted(levels, key=key)


def read_path(
    index: VaultIndex,
    path_dir: str,
    preferred_levels: list[str],
    warn: Callable[[str], None] = lambda msg: None,
) -> LearningPath | None:
    """Build the path from the notes directly in ``path_dir`` (resolved as the build resolves).

    Returns ``None`` when the vault has no level pages there (the vault opts out). Unresolved
    step links are reported through ``warn`` with file and line and left out of the path.
    """
    prefix = path_dir.strip("/") + "/" if path_dir.strip("/") else None
    if prefix is None:
        return None
    candidates = []
    index_src = None
    for src, note in index.notes.items():
        if not src.startswith(prefix) or "/" in src[len(prefix):]:
            continue
        if note.name in ("index", "README"):
            index_src = src
            continue
        candidates.append(note)
    if not candidates:
        return None
    levels = [Level(name=n.name, src=n.path) for n in level_order(candidates, preferred_levels)]
    seen: set[str] = set()
    n = 0
    for lv in levels:
        number = 0
        for line, link in path_items(index.notes[lv.src]):
            res = index.resolve(link.target, lv.src)
            if res.kind != "note" or res.path is None:
                warn(f"learning path: {lv.src}:{line}: step [[{link.target}]] does not resolve to a note")
                continue
            if res.path in seen:
                continue
            seen.add(res.path)
            number += 1
            lv.steps.append(Step(res.path, lv.name, lv.src, line, number, n))
            n += 1
    return LearningPath(levels=levels, index_src=index_src)


def prerequisites(index: VaultIndex, src: str) -> list[tuple[Link, str | None]]:
    """Note ``src``'s frontmatter ``prerequisites``: each link with the note it resolves to (or None)."""
    return [(link, res.path if res.kind == "note" else None)
            for link, res in index.links_in_field(src, "prerequisites")]


def check_order(path: LearningPath, index: VaultIndex) -> list[str]:
    """Every ``file:line: ...`` problem where a note's prerequisite comes at or after it on the path."""
    problems = []
    for step in path.steps:
        if step.src not in index.notes:
            continue
        for link, pre in prerequisites(index, step.src):
            pre_step = path.step_of(pre) if pre else None
            if pre_step is None or pre_step.index < step.index:
                continue
            problems.append(
                f"{step.src}:{link.line}: prerequisite [[{link.target}]] is step {pre_step.number} of "
                f"{pre_step.level} ({pre_step.level_src}:{pre_step.line}), but this note is step "
                f"{step.number} of {step.level} ({step.level_src}:{step.line}); "
                "a prerequisite must come earlier on the learning path"
            )
    return problems
