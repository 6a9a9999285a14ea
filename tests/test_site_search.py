"""The real site's search index: Chinese is segmented, snippet outputs stay out of it."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _flat(text: str) -> str:
    return re.sub(r"[\s\u200b]+", "", html.unescape(re.sub(r"<[^>]+>", "", text)))


@pytest.fixture(scope="module")
def index(built_site: Path) -> list[dict]:
    return json.loads((built_site / "search" / "search_index.json").read_text(encoding="utf-8"))["docs"]


def test_chinese_text_is_segmented_by_jieba(index: list[dict]) -> None:
    titles = [d["title"] for d in index if "注意力" in d["title"].replace("\u200b", "")]
    assert titles and any("\u200b" in t for t in titles)


def test_snippet_outputs_are_not_indexed(built_site: Path, index: list[dict]) -> None:
    by_page: dict[str, str] = {}
    for d in index:
        by_page[d["location"].split("#")[0]] = by_page.get(d["location"].split("#")[0], "") + d["text"]
    outputs = leaked = 0
    examples = []
    output_block = re.compile(r'<pre class="kb-output[^"]*"[^>]*>(.*?)</pre>', re.S)
    for page in built_site.rglob("*.html"):
        source = page.read_text(encoding="utf-8")
        rest = _flat(output_block.sub("", source))  # the same words may also be in the code
        indexed = _flat(by_page.get(page.relative_to(built_site).as_posix(), ""))
        for block in output_block.findall(source):
            text = _flat(block)[:30]
            if len(text) < 30 or text in rest:
                continue
            outputs += 1
            if text in indexed:
                leaked += 1
                examples.append(text)
    assert outputs, "the site shows snippet outputs"
    assert not leaked, f"{leaked}/{outputs} outputs indexed, e.g. {examples[:3]}"


def test_formulas_and_banners_are_not_indexed(index: list[dict]) -> None:
    text = " ".join(d["text"] for d in index)
    assert "application/x-tex" not in text and "已学完" not in text.replace("\u200b", "")
