"""Per-step facts on the learning path: estimated time (``minutes:``) and problem before
solution (``solves:``).

- ``minutes: 20`` in a note's frontmatter (a positive int, minutes) shows as 预计用时 in the
  note's banner; a level page shows each step's time and the level's total.
- ``solves: ["[[局限性-计算量随序列长度二次方增长]]"]`` says the note is a solution to that
  problem note: on the path the problem must come first, else the build fails with
  ``file:line`` (as prerequisites do, :func:`kbgen.site.path.check_order`).

Plain functions over strings and :class:`~kbgen.site.path.LearningPath`; no MkDocs objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any

from kbgen.site.path import LearningPath, Level
from kbgen.vault.index import Note, VaultIndex

LABELS = {
    "minutes": "预计用时 {time}",
    "level_total": "本级预计用时约 {time}（{n} 步{missing}）",
    "level_missing": "，其中 {m} 步未标时间",
    "hours": "{h} 小时",
    "hours_minutes": "{h} 小时 {m} 分钟",
    "only_minutes": "{m} 分钟",
}

#: The banner's opening tag and its level badge (``<a|span class="kb-level ...">…</a|span>``).
_BANNER_HEAD = re.compile(r'<div[^>]*>(?:<(a|span) class="kb-level\b[^"]*"[^>]*>.*?</\1>)?', re.S)


def format_minutes(total: int, labels: dict[str, str] = LABELS) -> str:
    """``20`` -> ``20 分钟``; ``80`` -> ``1 小时 20 分钟``; ``120`` -> ``2 小时``."""
    h, m = divmod(int(total), 60)
    if not h:
        return labels["only_minutes"].format(m=m)
    return labels["hours"].format(h=h) if not m else labels["hours_minutes"].format(h=h, m=m)


@dataclass(frozen=True)
class MinutesProblem:
    note: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.note}:{self.line}: {self.message}"


def minutes_of(meta: dict[str, Any]) -> int | None:
    """The note's ``minutes`` when it is a positive int, else None."""
    value = meta.get("minutes")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def minutes_problems(note: Note) -> list[MinutesProblem]:
    """A ``minutes:`` that is not a positive whole number (``file:line``, what to write)."""
    meta = note.frontmatter
    if "minutes" not in meta or minutes_of(meta) is not None:
        return []
    lines = note.source.splitlines()
    line = next((i for i, l in enumerate(lines, 1) if re.match(r"minutes[ \t]*:", l)), 1)
    return [MinutesProblem(note.path, line, f"'minutes: {meta['minutes']!r}' must be a positive whole number "
                                            "of minutes, e.g. 'minutes: 20'")]


def minutes_html(minutes: int, labels: dict[str, str] = LABELS) -> str:
    """The banner's 预计用时 item."""
    text = labels["minutes"].format(time=format_minutes(minutes, labels))
    return f'<span class="kb-minutes" data-kb-minutes="{minutes}">{escape(text)}</span>'


def with_minutes(banner_html: str, minutes: int | None, labels: dict[str, str] = LABELS) -> str:
    """``banner_html`` (a ``kb-path`` div, or "") with the time as its second item."""
    if minutes is None:
        return banner_html
    item = minutes_html(minutes, labels)
    if not banner_html:
        return f'<div class="kb-path" data-search-exclude>{item}</div>\n'
    m = _BANNER_HEAD.match(banner_html)  # after the level badge, if any
    at = m.end() if m else 0
    return banner_html[:at] + item + banner_html[at:]


def level_total_html(level: Level, meta: dict[str, dict[str, Any]], labels: dict[str, str] = LABELS) -> str:
    """``本级预计用时约 3 小时 20 分钟（12 步）`` for a level page ("" when no step has a time)."""
    times = [minutes_of(meta.get(s.src, {})) for s in level.steps]
    known = [t for t in times if t is not None]
    if not known:
        return ""
    missing = len(times) - len(known)
    text = labels["level_total"].format(
        time=format_minutes(sum(known), labels), n=len(times),
        missing=labels["level_missing"].format(m=missing) if missing else "")
    return f'<p class="kb-level-minutes" data-search-exclude>{escape(text)}</p>\n'


def step_minutes_html(minutes: int | None, labels: dict[str, str] = LABELS) -> str:
    """Appended to a step's line on its level page (`` · 20 分钟``)."""
    if minutes is None:
        return ""
    return f' <span class="kb-step-minutes">{escape(format_minutes(minutes, labels))}</span>'


def check_solves(path: LearningPath, index: VaultIndex) -> list[str]:
    """Every ``file:line: ...`` where a solution note comes before the problem it ``solves:``."""
    problems = []
    for step in path.steps:
        if step.src not in index.notes:
            continue
        for link, res in index.links_in_field(step.src, "solves"):
            line, target = link.line, link.target
            problem = res.path if res.kind == "note" else None
            if problem is None:
                problems.append(f"{step.src}:{line}: solves [[{target}]], which does not resolve to a note")
                continue
            p_step = path.step_of(problem)
            if p_step is None:
                problems.append(
                    f"{step.src}:{line}: solves [[{target}]], which is not on the learning path; list the "
                    f"problem before this note (step {step.number} of {step.level}, {step.level_src}:{step.line})")
            elif p_step.index > step.index:
                problems.append(
                    f"{step.src}:{line}: solves [[{target}]], which is step {p_step.number} of {p_step.level} "
                    f"({p_step.level_src}:{p_step.line}), but this solution is step {step.number} of {step.level} "
                    f"({step.level_src}:{step.line}); the problem must come before its solution on the learning path")
    return problems
