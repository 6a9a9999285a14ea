"""The problems of a vault, computed from the index: the same list for the build and ``kbgen check``.

Two sources, both keyed by the note's vault path and 1-based file line:

- the notes themselves (:func:`source_problems`): malformed frontmatter, fields of the wrong
  type, unclosed fences (:mod:`kbgen.vault.lint`), unresolved links in frontmatter fields;
- rendering (:func:`render_problems`): unresolved or ambiguous links, missing headings and
  blocks, embed cycles and depth, bad snippet references, as the page renderer meets them.

The MkDocs plugin reports the first list in ``on_files`` and the second page by page while it
renders; ``kbgen check`` renders every note body with the same :class:`Renderer` (no Markdown,
no MkDocs) and prints :func:`vault_problems`. A test compares the two on the fixture vault.
"""

from __future__ import annotations

from kbgen.contracts import SnippetProvider
from kbgen.vault.index import VaultIndex
from kbgen.vault.lint import note_problems
from kbgen.vault.render import Problem, Renderer


def source_problems(index: VaultIndex) -> list[Problem]:
    """Problems in the notes' sources (lint) and in their frontmatter links, in path order."""
    out: list[Problem] = []
    for path, note in index.notes.items():
        for line, message in note_problems(note.source, (note.frontmatter, note.body_offset)):
            out.append(Problem(path, line, "invalid", message))
        for link in note.links:
            if link.field is None:
                continue
            if index.resolve(link.target, path).kind in ("unresolved", "error"):
                out.append(Problem(path, link.line, "unresolved",
                                   f"unresolved link [[{link.target}]] in frontmatter '{link.field}'"))
    return out


def render_problems(index: VaultIndex, snippets: SnippetProvider | None = None,
                    tags_dir: str | None = "tags") -> list[Problem]:
    """What rendering every note body reports (each problem once)."""
    renderer = Renderer(index, snippets=snippets, tags_dir=tags_dir)
    for path, note in index.notes.items():
        if path.lower().endswith(".ipynb"):
            continue  # mkdocs-jupyter renders notebook pages (kbgen only embeds them)
        renderer.render(note.body, path, line_offset=note.body_offset)
    return list(dict.fromkeys(renderer.problems))


def vault_problems(index: VaultIndex, snippets: SnippetProvider | None = None) -> list[Problem]:
    """Every problem the build reports for the vault, unique, sorted by note and line."""
    found = dict.fromkeys(source_problems(index) + render_problems(index, snippets))
    return sorted(found, key=lambda p: (p.note, p.line, p.level, p.message))
