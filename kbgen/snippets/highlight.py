"""Highlighted snippet code, kept between builds.

A snippet page shows its whole source; highlighting it with Pygments is most of what a warm
rebuild (nothing changed) would otherwise spend on snippet pages. The snippet pages write
their code in ``kbgen-python`` fences; ``pymdownx.superfences`` hands those to
:class:`HighlightMemo`, which returns exactly what superfences' own highlighter returns for a
``python`` fence, read from ``<cache>/highlight/`` when the same code was highlighted before
with the same settings and versions.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

FENCE = "kbgen-python"  # the fence name snippet pages use for their code cells
LANGUAGE = "python"

# What superfences' highlighter reads from its preprocessor (pymdownx/superfences.py,
# ``highlight``); any change in them must change the memo key.
_SETTINGS = (
    "use_pygments", "pygments_style", "noclasses", "linenums", "linenums_style", "linenums_special",
    "linenums_class", "extend_pygments_lang", "language_prefix", "code_attr_on_pre", "auto_title",
    "auto_title_map", "line_spans", "line_anchors", "anchor_linenums", "pygments_lang_class", "stripnl",
    "default_lang", "title_mode", "css_class", "guess_lang",
)


def _versions() -> str:
    out = []
    for dist in ("pygments", "pymdown-extensions"):
        try:
            out.append(f"{dist}={version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist}=?")
    return ",".join(out)


class HighlightMemo:
    """A superfences custom-fence formatter (``format``) that memoizes highlighted code on disk.

    Entries are whole files written atomically (tmp + rename) with a checksum of their HTML; a
    missing, unreadable or corrupt entry is highlighted again: it costs time, never a wrong page.
    """

    def __init__(self, cache_dir: Path) -> None:
        self.dir = cache_dir / "highlight"
        self.versions = _versions()
        self.hits = 0
        self.misses = 0

    def fence(self) -> dict[str, Any]:
        """The ``custom_fences`` entry for ``pymdownx.superfences``."""
        return {"name": FENCE, "class": "highlight", "format": self.format}

    def format(self, src: str, language: str, class_name: str, options: dict, md: Any, **kwargs: Any) -> str:
        fenced = md.preprocessors["fenced_code_block"]
        settings = {k: getattr(fenced, k, None) for k in _SETTINGS}
        if settings["line_anchors"] or settings["anchor_linenums"]:
            # Line anchors number code blocks per page: the count is part of the output.
            settings["block"] = fenced.highlight_ext.pygments_code_block
        key = hashlib.sha256(json.dumps(
            [self.versions, src, sorted(options.items()), kwargs.get("classes"), kwargs.get("id_value"),
             sorted((kwargs.get("attrs") or {}).items()), settings],
            default=repr, ensure_ascii=False).encode("utf-8")).hexdigest()
        path = self.dir / key[:2] / f"{key}.html"
        html = self._read(path)
        if html is not None:
            self.hits += 1
            fenced.highlight_ext.pygments_code_block += 1  # keep the page's block count in step
            return html
        self.misses += 1
        html = fenced.highlight(src=src, language=LANGUAGE, options=dict(options), md=md,
                                classes=kwargs.get("classes"), id_value=kwargs.get("id_value"),
                                attrs=kwargs.get("attrs"))
        self._write(path, html)
        return html

    @staticmethod
    def _read(path: Path) -> str | None:
        """The entry's HTML, or None when it is missing or fails its checksum (first line)."""
        try:
            digest, _, html = path.read_text(encoding="utf-8").partition("\n")
        except (OSError, UnicodeDecodeError):
            return None
        return html if digest == hashlib.sha256(html.encode("utf-8")).hexdigest() else None

    @staticmethod
    def _write(path: Path, html: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(hashlib.sha256(html.encode("utf-8")).hexdigest() + "\n" + html, encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only or full cache only costs the next build this highlighting
