"""The seam between the vault (Obsidian semantics) and the snippet engine.

The vault index resolves ``[[name.py]]`` and ``![[name.py#cell]]`` through a
``SnippetProvider``; the snippet engine implements it. Neither side imports the other's
internals: the plugin hands the provider to the vault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: The top-level name a snippet assigns to export values (a plain ``dict``, no kbgen import):
#: ``KB_VALUES["n_params"] = 124_439_808``. Values are JSON scalars (int, float, str, bool).
#: A ``bool`` value is a *claim*: the note that cites it is marked as checked when it is true
#: and the build fails at the note's ``file:line`` when it is false.
EXPORT_NAME = "KB_VALUES"


@dataclass(frozen=True)
class SnippetValue:
    """One value a snippet exported through ``KB_VALUES``, as recorded by its run."""

    snippet: str  # "gpt.py"
    name: str  # the key in KB_VALUES
    value: int | float | str | bool
    cell: int  # 0-based index of the cell that last assigned it
    cell_title: str  # that cell's title ("" when untitled)
    line: int  # 1-based line in the snippet where that cell starts


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


    def value(self, name: str, key: str) -> SnippetValue:
        """The value ``key`` that snippet ``name`` exported (``{{name:key}}`` in a note).

        Raises ``SnippetRefError`` (message says what to do) for an unknown snippet, a snippet
        that failed or was not executed, or a key it did not export.
        """

    def cell_url(self, name: str, cell: int, *, page_url: str) -> str:
        """Relative URL from ``page_url`` to cell ``cell`` (0-based) on the snippet's page."""


class SnippetReferenceSink(Protocol):
    """Optional: a provider that also wants to know which notes use each snippet.

    The plugin calls it once per build, after indexing the vault and before pages are read,
    so snippet pages can list the notes that link to or embed them.
    """

    def set_references(self, refs: dict[str, list[tuple[str, str]]]) -> None:
        """``{"x.py": [(note_src_uri, note_title), ...]}`` in vault order, without duplicates."""
