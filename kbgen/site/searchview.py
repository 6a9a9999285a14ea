"""A light copy of a page for Material's search indexer.

Material's search plugin feeds every page through an HTML parser. Highlighted code is
thousands of ``<span>`` tags per page (a snippet page has a few hundred lines of code), and
the indexer keeps only the text of ``<pre>``/``<code>``, so the spans cost parse time and
change nothing in the index. ``light_view`` drops them; the page itself keeps its highlighting.
"""

from __future__ import annotations

import re

_PRE = re.compile(r"(<pre\b[^>]*>)(.*?)(</pre>)", re.S)
_SPAN = re.compile(r"</?span\b[^>]*>")
# What Material's search plugin strips from the page after indexing it (plugin.py,
# on_page_context); the restored page must lose them too.
_DATA_SEARCH = re.compile(r"\s?data-search-\w+=\"[^\"]+\"")


def light_view(html: str) -> str:
    """``html`` with the ``<span>`` tags inside ``<pre>`` blocks removed (text unchanged)."""
    return _PRE.sub(lambda m: m.group(1) + _SPAN.sub("", m.group(2)) + m.group(3), html)


def strip_search_attributes(html: str) -> str:
    """``html`` without ``data-search-*="..."`` attributes, as the search plugin leaves a page."""
    return _DATA_SEARCH.sub("", html)
