"""The seam between the vault (Obsidian semantics) and the snippet engine.

The vault index resolves ``[[name.py]]`` and ``![[name.py#cell]]`` through a
``SnippetProvider``; the snippet engine implements it. Neither side imports the other's
internals: the plugin hands the provider to the vault.
"""

from __future__ import annotations

from typing import Protocol


class SnippetRefError(Exception):
    """A note refers to a snippet or cell that does not exist (message says what to do)."""


class SnippetProvider(Protocol):
    def is_snippet(self, target: str) -> bool:
        """True when ``target`` (e.g. ``"self_attention.py"``) names a known snippet."""

    def page_src_uri(self, name: str) -> str:
        """The snippet page's source path inside the site, e.g. ``"snippets/self_attention.md"``."""

    def embed_html(self, name: str, cell: str | None, *, page_url: str, note: str, line: int) -> str:
        """HTML for ``![[name#cell]]`` inside the page at ``page_url`` (links made relative to it).

        ``note`` and ``line`` (1-based, in the note's source) are for error messages.
        Raises ``SnippetRefError`` for an unknown snippet or cell title.
        """


class SnippetReferenceSink(Protocol):
    """Optional: a provider that also wants to know which notes use each snippet.

    The plugin calls it once per build, after indexing the vault and before pages are read,
    so snippet pages can list the notes that link to or embed them.
    """

    def set_references(self, refs: dict[str, list[tuple[str, str]]]) -> None:
        """``{"x.py": [(note_src_uri, note_title), ...]}`` in vault order, without duplicates."""
