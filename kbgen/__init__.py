"""kbgen: an Obsidian-style knowledge base generator with executable notes.

The vault logic lives in plain Python and Python-Markdown extensions; ``kbgen.plugin`` is the
thin MkDocs shell that wires them in. kbgen never imports the project's own libraries: all it
knows about a snippet comes from running it.
"""

__version__ = "0.1.0"
