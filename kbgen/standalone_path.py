"""The learning path inside the standalone extension (Zensical): banner, progress, tick boxes.

``kbgen-site`` adds these from MkDocs page events; under Zensical the Markdown extension is the
only hook, so it adds the same HTML (``kbgen.site.banner``) from the same path
(``kbgen.site.path.read_path`` over the vault index). Links are relative ``.md`` links from the
page's source file (the site generator turns them into URLs); ``kb.js`` (copied by
``kbgen build``) keeps the ticks in the browser's ``localStorage`` as on the MkDocs site.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from html import escape

from kbgen.labels import Labels
from kbgen.site import banner
from kbgen.site.path import LearningPath, path_items, prerequisites, read_path
from kbgen.vault.index import VaultIndex
from kbgen.vault.render import rel_href

_STEP_NUMBER = re.compile(r"^(\d{1,9}[.)][ \t]+)")


@dataclass
class PathView:
    """The vault's learning path and what each page shows of it."""

    path: LearningPath
    index: VaultIndex
    labels: Labels

    @classmethod
    def read(cls, index: VaultIndex, path_dir: str, levels: list[str], labels: Labels) -> "PathView | None":
        """None when the vault has no level pages in ``path_dir``."""
        path = read_path(index, path_dir, levels)
        return None if path is None else cls(path, index, labels)

    def mark_steps(self, page: str, markdown: str) -> str:
        """On a level page, a tick box in front of each step of its numbered list
        (``markdown``: the body as handed over, without the frontmatter)."""
        level = self.path.level_of_page(page)
        note = self.index.notes.get(page)
        if level is None or note is None:
            return markdown
        steps = {s.src for s in level.steps}
        lines = markdown.split("\n")
        offset = note.source.count("\n") - markdown.count("\n")  # file line -> line of markdown
        for lineno, link in path_items(note):
            res = self.index.resolve(link.target, page)
            i = lineno - offset - 1
            m = _STEP_NUMBER.match(lines[i]) if 0 <= i < len(lines) else None
            if res.path in steps and m:
                lines[i] = m.group(1) + banner.step_checkbox(res.path) + lines[i][m.end():]
        return "\n".join(lines)

    def top_html(self, page: str) -> str:
        """What goes under the title: the page key for kb.js, then the progress box of a level
        page or the banner of a note (level, step, prerequisites, next step, "done" box)."""
        top = f'<span hidden data-kb-src="{escape(page)}"></span>'
        level = self.path.level_of_page(page)
        if level is not None:
            return top + banner.progress_box(level.name, self.labels)
        note = self.index.notes.get(page)
        if note is None:
            return top
        meta = note.frontmatter
        prereqs = [(target, link.target) for link, target in prerequisites(self.index, page)]
        level_name = meta.get("level") if isinstance(meta.get("level"), str) else None

        def link(target: str) -> tuple[str, str] | None:
            other = self.index.notes.get(target)
            if other is None:
                return None
            return rel_href(target, page), str(other.frontmatter.get("title") or posixpath.basename(target)[:-3])

        return top + banner.note_banner(page, level_name, prereqs, self.path, link, self.labels)
