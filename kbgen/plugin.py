"""MkDocs plugin: the thin shell that wires kbgen's vault and snippet engine into a build."""

from __future__ import annotations

from mkdocs.plugins import BasePlugin


class KbgenPlugin(BasePlugin):
    """Registered as ``kbgen`` (entry point ``mkdocs.plugins``)."""
