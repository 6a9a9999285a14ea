"""Heading ids: the same function the page's ``toc`` extension uses, so ``[[note#heading]]`` lands.

The default MkDocs slugify drops CJK characters; kbgen's default keeps them (``pymdownx.slugs``
unicode slugify, lower-cased), and the plugin installs it as the toc slugify unless the user
configured one.
"""

from __future__ import annotations

import html
from typing import Callable

from markdown.extensions.toc import unique
from pymdownx.slugs import slugify as _pymdownx_slugify

from kbgen.vault.scan import RawHeading, heading_plain_text

Slugify = Callable[[str, str], str]

#: kbgen's default: keeps Chinese characters, lower-cases ASCII, spaces become the separator.
default_slugify: Slugify = _pymdownx_slugify(case="lower")


def heading_ids(headings: list[RawHeading], slugify: Slugify = default_slugify, sep: str = "-") -> list[str]:
    """Ids the toc extension gives ``headings`` (in document order, duplicates get ``_1``...)."""
    used: set[str] = {h.explicit_id for h in headings if h.explicit_id}
    counters: dict[str, int] = {}
    out = []
    for h in headings:
        if h.explicit_id:
            out.append(h.explicit_id)
        else:
            out.append(unique(slugify(html.unescape(heading_plain_text(h.text)), sep), used, counters))
    return out
