"""The snippet pages' highlighted code, memoized between builds (kbgen.snippets.highlight), and
the light page copy Material's search indexes (kbgen.site.searchview)."""

from __future__ import annotations

from pathlib import Path

import markdown

from kbgen.site.searchview import light_view
from kbgen.snippets.highlight import FENCE, HighlightMemo

CODE = 'import torch\n\n\ndef f(x: int) -> "str":\n    """Doc <b>&amp;"""\n    return x * 2  # 注释\n'


def _convert(memo: HighlightMemo | None, fence: str) -> str:
    configs = {"pymdownx.superfences": {"custom_fences": [memo.fence()] if memo else []}}
    md = markdown.Markdown(extensions=["pymdownx.superfences"], extension_configs=configs)
    return md.convert(f"```{fence}\n{CODE}```\n\ntext\n\n```{fence}\nx = 1\n```\n")


def test_memo_serves_exactly_what_superfences_highlights(tmp_path: Path) -> None:
    expected = _convert(None, "python")
    assert '<span class="kn">import</span>' in expected
    memo = HighlightMemo(tmp_path)
    assert _convert(memo, FENCE) == expected
    assert (memo.hits, memo.misses) == (0, 2)
    assert _convert(memo, FENCE) == expected
    assert (memo.hits, memo.misses) == (2, 2)
    assert len(list((tmp_path / "highlight").rglob("*.html"))) == 2


def test_corrupt_or_truncated_memo_entries_are_highlighted_again(tmp_path: Path) -> None:
    expected = _convert(None, "python")
    memo = HighlightMemo(tmp_path)
    _convert(memo, FENCE)
    a, b = sorted((tmp_path / "highlight").rglob("*.html"))
    text = a.read_text(encoding="utf-8")
    a.write_text(text.replace("<code>", "<code>BAD"), encoding="utf-8")  # edited HTML: checksum fails
    b.write_bytes(b.read_bytes()[:40])
    memo = HighlightMemo(tmp_path)
    assert _convert(memo, FENCE) == expected
    assert (memo.hits, memo.misses) == (0, 2)
    assert _convert(HighlightMemo(tmp_path), FENCE) == expected  # rewritten, valid again


def test_settings_are_part_of_the_key(tmp_path: Path) -> None:
    memo = HighlightMemo(tmp_path)
    _convert(memo, FENCE)
    configs = {"pymdownx.superfences": {"custom_fences": [memo.fence()]},
               "pymdownx.highlight": {"linenums": True}}
    md = markdown.Markdown(extensions=["pymdownx.highlight", "pymdownx.superfences"], extension_configs=configs)
    html = md.convert(f"```{FENCE}\nx = 1\n```\n")
    assert "linenos" in html and memo.misses == 3


def _index_sections(html: str) -> list[tuple]:
    from material.plugins.search.plugin import Parser

    parser = Parser()
    parser.feed(html)
    parser.close()
    return [(s.id, "".join(s.title), "".join(s.text), s.is_excluded()) for s in parser.data]


def test_search_sees_the_same_text_in_the_light_copy() -> None:
    md = markdown.Markdown(extensions=["pymdownx.superfences", "toc"])
    html = md.convert(f"# 标题\n\n段落 <span>保留</span>\n\n## 代码\n\n```python\n{CODE}```\n\n    indented <x>\n")
    light = light_view(html)
    assert light.count("<span") == 1 and html.count("<span") > 20
    assert _index_sections(light) == _index_sections(html)
