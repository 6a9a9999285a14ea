"""Fast ``mkdocs serve``: the edited note's page first, the whole site in the background.

See :mod:`kbgen.serve.live` for the design; ``kbgen.plugin`` creates a :class:`LiveServe`
under ``mkdocs serve`` and hands it the server in ``on_serve``.
"""

from kbgen.serve.live import LiveServe

__all__ = ["LiveServe"]
