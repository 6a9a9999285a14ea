"""The learning path: read from the level pages' ordered lists, checked against prerequisites.

A vault opts in by having a path folder (default ``学习路径/``) whose pages (one per level,
e.g. ``学习路径/入门级.md``) list the steps as an ordered list of wikilinks::

    1. [[核心组件/自注意力机制]] — 学完后你能……

The first wikilink of each top-level ordered-list item is a step. Levels are ordered by the
``levels`` option (names = page stems), then by frontmatter ``order:``, then by name. Plain
Python on strings: no MkDocs objects, so it is testable and reusable outside a build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

import yaml

_FRONTMATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
# A top-level ordered-list item ("1. " or "1) ", not indented: indented ones are nested).
_OL_ITEM = re.compile(r"^\d{1,9}[.)][ \t]+(.*)$")
_WIKILINK = re.compile(r"!?\[\[([^\[\]\n]+?)\]\]")

#: Resolves a wikilink target (``"核心组件/位置编码"``, ``"位置编码#x|y"``) seen in note ``from_src``
#: to a note's ``src_uri`` (``"核心组件/位置编码.md"``), or ``None``.
Resolver = Callable[[str, str], "str | None"]


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


def split_frontmatter(text: str) -> tuple[dict, int]:
    """(frontmatter dict, number of lines it occupies incl. fences); ``({}, 0)`` when absent."""
    m = _FRONTMATTER.match(text)
    if not m:
        return {}, 0
    try:
        meta = yaml.safe_load(m.group(1) or "") or {}
    except yaml.YAMLError:
        return {}, 0
    return (meta if isinstance(meta, dict) else {}), text[: m.end()].count("\n")


def wikilink_target(inner: str) -> str:
    """``"a/b#h|alias"`` (or the table form ``a\\|alias``) -> ``"a/b"``."""
    inner = inner.replace("\\|", "|")
    return inner.split("|", 1)[0].split("#", 1)[0].strip()


def path_items(text: str) -> list[tuple[int, str]]:
    """(1-based line, wikilink target) of the first wikilink of each top-level ordered-list item."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        item = _OL_ITEM.match(line)
        if not item:
            continue
        link = _WIKILINK.search(item.group(1))
        if link and not link.group(0).startswith("!"):
            out.append((lineno, wikilink_target(link.group(1))))
    return out


def level_order(names: Iterable[tuple[str, str, dict]], preferred: list[str]) -> list[tuple[str, str]]:
    """Order (name, src, meta) level pages: ``preferred`` names first, then ``order:``, then name."""

    def key(item: tuple[str, str, dict]) -> tuple:
        name, _src, meta = item
        pos = preferred.index(name) if name in preferred else len(preferred)
        order = meta.get("order")
        return (pos, order if isinstance(order, (int, float)) else float("inf"), name)

    return [(n, s) for n, s, _m in sorted(names, key=key)]


def read_path(
    pages: dict[str, str],
    path_dir: str,
    resolve: Resolver,
    preferred_levels: list[str],
    warn: Callable[[str], None] = lambda msg: None,
) -> LearningPath | None:
    """Build the path from ``pages`` (src_uri -> Markdown source) under ``path_dir``.

    Returns ``None`` when the vault has no level pages there (the vault opts out). Unresolved
    step links are reported through ``warn`` with file and line and left out of the path.
    """
    prefix = path_dir.strip("/") + "/"
    candidates = []
    index_src = None
    for src, text in pages.items():
        if not src.startswith(prefix) or "/" in src[len(prefix):] or not src.endswith(".md"):
            continue
        name = src[len(prefix):-3]
        if name in ("index", "README"):
            index_src = src
            continue
        candidates.append((name, src, split_frontmatter(text)[0]))
    if not candidates:
        return None
    levels = []
    for name, src in level_order(candidates, preferred_levels):
        levels.append(Level(name=name, src=src))
    seen: set[str] = set()
    n = 0
    for lv in levels:
        number = 0
        for line, target in path_items(pages[lv.src]):
            note = resolve(target, lv.src)
            if note is None:
                warn(f"learning path: {lv.src}:{line}: step [[{target}]] does not resolve to a note")
                continue
            if note in seen:
                continue
            seen.add(note)
            number += 1
            lv.steps.append(Step(note, lv.name, lv.src, line, number, n))
            n += 1
    return LearningPath(levels=levels, index_src=index_src)


def prerequisite_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line, target) for each wikilink inside the frontmatter's ``prerequisites`` value."""
    _meta, nlines = split_frontmatter(text)
    out: list[tuple[int, str]] = []
    inside = False
    for lineno, line in enumerate(text.splitlines()[:nlines], 1):
        key = re.match(r"^([A-Za-z_][\w-]*)[ \t]*:", line)
        if key:
            inside = key.group(1) == "prerequisites"
        if inside:
            out.extend((lineno, wikilink_target(m.group(1))) for m in _WIKILINK.finditer(line))
    return out


def prerequisites(meta: dict) -> list[str]:
    """Targets listed in frontmatter ``prerequisites`` (wikilinks or bare names)."""
    raw = meta.get("prerequisites") or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):  # e.g. `prerequisites: 7` (kbgen reports it with file:line)
        raw = []
    out = []
    for item in raw:
        if not isinstance(item, str):
            continue
        m = _WIKILINK.search(item)
        out.append(wikilink_target(m.group(1) if m else item))
    return [t for t in out if t]


def check_order(path: LearningPath, pages: dict[str, str], resolve: Resolver) -> list[str]:
    """Every ``file:line: ...`` problem where a note's prerequisite comes at or after it on the path."""
    problems = []
    for step in path.steps:
        text = pages.get(step.src)
        if text is None:
            continue
        for line, target in prerequisite_lines(text):
            pre = resolve(target, step.src)
            pre_step = path.step_of(pre) if pre else None
            if pre_step is None or pre_step.index < step.index:
                continue
            problems.append(
                f"{step.src}:{line}: prerequisite [[{target}]] is step {pre_step.number} of "
                f"{pre_step.level} ({pre_step.level_src}:{pre_step.line}), but this note is step "
                f"{step.number} of {step.level} ({step.level_src}:{step.line}); "
                "a prerequisite must come earlier on the learning path"
            )
    return problems
