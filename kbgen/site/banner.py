"""The small learning-path banner at the top of each note, and the level pages' progress box.

Pure HTML builders. ``link(src)`` returns ``(relative url, title)`` for a note's src_uri, or
``None`` when the note is not in the site. The banner is excluded from search
(``data-search-exclude``) so it does not repeat on every page's index entry.
"""

from __future__ import annotations

from html import escape
from typing import Callable

from kbgen.labels import Labels
from kbgen.site.path import LearningPath

Link = Callable[[str], "tuple[str, str] | None"]


def level_class(path: LearningPath | None, level: str) -> str:
    """``kb-level--N`` (1-based position of the level on the path; 0 when unknown)."""
    names = [lv.name for lv in path.levels] if path else []
    return f"kb-level--{names.index(level) + 1 if level in names else 0}"


def _a(link: Link, src: str, fallback: str) -> str:
    target = link(src)
    if target is None:
        return f'<span class="kb-unresolved">{escape(fallback)}</span>'
    url, title = target
    return f'<a href="{escape(url)}">{escape(title)}</a>'


def note_banner(
    src: str,
    level: str | None,
    prereqs: list[tuple[str | None, str]],
    path: LearningPath | None,
    link: Link,
    labels: Labels,
) -> str:
    """Banner for note ``src``: level (and step), prerequisites ((src|None, target) pairs), next step."""
    step = path.step_of(src) if path else None
    level = level or (step.level if step else None)
    parts = []
    if level:
        text = escape(level)
        if step and path:
            step_level = path.level(step.level)
            total = len(step_level.steps) if step_level is not None else 0
            text += f' · {escape(labels.format("step", n=step.number, total=total))}'
        level_page = path.level(level) if path else None
        badge = f'<span class="kb-level {level_class(path, level)}">{text}</span>'
        level_link = link(level_page.src) if level_page is not None else None
        if level_link is not None:
            badge = f'<a class="kb-level {level_class(path, level)}" href="{escape(level_link[0])}">{text}</a>'
        parts.append(badge)
    if prereqs:
        items = escape(labels["list_separator"]).join(
            _a(link, p, t) if p else f'<span class="kb-unresolved">{escape(t)}</span>' for p, t in prereqs)
        parts.append(f'<span class="kb-prereqs">{escape(labels["prerequisites"])}{escape(labels["colon"])}{items}</span>')
    if step and path:
        nxt = path.next_step(src)
        if nxt is not None:
            parts.append(f'<span class="kb-next">{escape(labels["next"])}{escape(labels["colon"])}'
                         f'{_a(link, nxt.src, nxt.src)}</span>')
        else:
            parts.append(f'<span class="kb-next">{escape(labels["end"])}</span>')
        parts.append(
            f'<label class="kb-done"><input type="checkbox" data-kb-step="{escape(src)}">'
            f' {escape(labels["done"])}</label>'
        )
    if not parts:
        return ""
    return f'<div class="kb-path" data-search-exclude>{"".join(parts)}</div>\n'


def progress_box(level_name: str, labels: Labels) -> str:
    """Progress of a level page; kb.js fills it from the page's checkboxes (local storage)."""
    return (
        f'<div class="kb-progress" data-kb-progress data-search-exclude>'
        f'<span class="kb-progress__label">{escape(labels.format("progress", level=level_name))}</span>'
        f'<progress max="1" value="0"></progress>'
        f'<span class="kb-progress__count">0 / 0</span></div>\n'
    )


def step_checkbox(src: str) -> str:
    """Raw HTML put in front of a step of a level page's ordered list (shares the note's key)."""
    return (
        f'<label class="kb-step"><input type="checkbox" data-kb-step="{escape(src)}">'
        f'<span class="kb-step__box"></span></label> '
    )
