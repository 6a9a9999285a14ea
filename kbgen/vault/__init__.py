"""Obsidian vault semantics for kbgen: one index, read by every feature.

API (all paths are vault-relative POSIX paths *with* extension, e.g. ``"核心组件/位置编码.md"``;
lines are 1-based lines of the source file, frontmatter included)::

    from kbgen.vault import VaultIndex, parse_note

    index = VaultIndex.from_dir("docs", snippets=provider)   # or VaultIndex(notes, attachments)
    index.notes                      # {path: Note}, sorted by path
    note = index.notes["核心组件/自注意力机制.md"]
    note.title, note.name, note.folder, note.aliases, note.description
    note.frontmatter                 # the YAML dict (level, prerequisites, ...)
    note.tags                        # frontmatter + inline tags, no "#"
    note.headings                    # [Heading(level, text, id, line)]; id = the page's real id
    note.links                       # [Link(target, subpath, alias, embed, line, field)];
                                     # field = frontmatter key for links in frontmatter values;
                                     # Markdown links/images to vault files are links too
    note.blocks                      # {"id": (line, own_line)} for Obsidian ^id markers
    note.heading("A#B")              # Heading matched as Obsidian does (B under A, "?" ignored)
    index.resolve("位置编码", from_note="核心组件/多头注意力.md")
        # -> Resolution(kind="note"|"attachment"|"snippet"|"unresolved"|"error",
        #               path, note, candidates (ties), message)
    index.outlinks(path), index.backlinks(path)   # [path], body + frontmatter links
    index.frontmatter(path); index.frontmatter_links(path, "prerequisites")  # [Resolution]
    index.links_in_field(path, "prerequisites")   # [(Link, Resolution)], with file lines
    index.tags()                     # {tag: [path]} (a nested tag also counts for its parents)
    index.snippet_references()       # [SnippetReference(note, line, name, cell, embed)]
    index.snippet_users()            # {"x.py": [(path, title)]} (the snippet pages list them)

    from kbgen.vault.problems import vault_problems
    vault_problems(index, snippets)  # [Problem(note, line, level, message)]: what the build reports

Inside a build, read the build's index with ``kbgen.plugin.vault_index(config)`` (raises
``PluginError`` when ``kbgen`` is missing). It is built in kbgen's ``on_files`` (default
priority), so read it from a later event or from an ``on_files`` with
``@event_priority(-50)`` (as ``kbgen-site`` does). ``kbgen check`` builds the same index
(``kbgen.plugin.read_vault_files`` over MkDocs' file list, the same toc slugify).

Names compare NFC + case-folded (:func:`kbgen.vault.index.fold`); ``*.ipynb`` notes are read as
their Markdown (:mod:`kbgen.vault.notebook`). The graph data with hover previews is
:func:`kbgen.vault.graph.graph_data_js`.

Resolution follows Obsidian: exact vault path, then a note of that name (or path suffix) in
the linking note's folder, then the shortest path; remaining ties pick the first by path and
are reported with every candidate; frontmatter ``aliases`` last; case-insensitive.
``.py`` targets go to the ``SnippetProvider`` (:mod:`kbgen.contracts`); ``../x.py`` is an error.

Rendering: :class:`kbgen.vault.render.Renderer` rewrites a page (wikilinks -> relative ``.md``
links, embeds, tags, unresolved links), :class:`kbgen.vault.mdext.VaultExtension` is the
Python-Markdown extension around it (plus Obsidian callout types on ``pymdownx.quotes``),
:mod:`kbgen.vault.pages` generates backlinks, tag, graph, home and folder pages.
"""

from typing import TYPE_CHECKING

from kbgen.vault.index import Heading, Link, Note, Resolution, SnippetReference, VaultIndex, parse_note

__all__ = ["VaultIndex", "Note", "Heading", "Link", "Resolution", "SnippetReference", "parse_note"]


def makeExtension(**kwargs: object) -> "StandaloneVaultExtension":  # noqa: N802 (Python-Markdown's name)
    """``markdown_extensions: [kbgen.vault]`` outside MkDocs (Zensical): see :mod:`kbgen.standalone`."""
    from kbgen.standalone import StandaloneVaultExtension

    return StandaloneVaultExtension(**kwargs)


if TYPE_CHECKING:
    from kbgen.standalone import StandaloneVaultExtension
