"""An English vault (``theme.language`` unset, i.e. English) gets English words everywhere:
notes, banners, generated pages and the snippet pages, built with just ``plugins: [kbgen]``."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from kbgen.labels import EN, ZH, labels_for
from tests.conftest import build_site

FIXTURE = Path(__file__).parent / "fixtures" / "vault_en"
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    proj = tmp_path_factory.mktemp("en") / "vault"
    shutil.copytree(FIXTURE, proj)
    proc = build_site(proj / "site", config=proj / "mkdocs.yml", cwd=proj, strict=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proj / "site"


def test_no_chinese_word_on_any_page(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert any(p.parent.name == "snippets" for p in pages)  # snippet pages are among them
    bad = {p.relative_to(site).as_posix(): CJK.findall(p.read_text(encoding="utf-8"))[:5] for p in pages}
    assert not {k: v for k, v in bad.items() if v}


def test_english_words_in_banner_snippet_pages_and_generated_pages(site: Path) -> None:
    heads = (site / "basics/Heads.html").read_text(encoding="utf-8")
    assert "step 2 of 2" in heads and "Prerequisites: " in heads and "Next: " in heads
    assert "Backlinks" in (site / "basics/Attention.html").read_text(encoding="utf-8")
    snippet = (site / "snippets/hello.html").read_text(encoding="utf-8")
    assert "Run it locally" in snippet and "Notes that use this snippet" in snippet
    assert "Snippet run times" in (site / "snippets/index.html").read_text(encoding="utf-8")
    assert "Notes tagged" in (site / "tags/core.html").read_text(encoding="utf-8")


def test_default_path_folder_is_neutral_and_levels_follow_order(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    nav = re.findall(r'href="([^"#]+)" class="md-nav__link', index)
    order = [p for p in dict.fromkeys(nav) if p.endswith(("beginner.html", "advanced.html", "Scaling.html"))]
    assert order == ["learning-path/beginner.html", "learning-path/advanced.html", "Scaling.html"]


def test_both_tables_have_the_same_keys_and_overrides_are_checked() -> None:
    assert EN.keys() == ZH.keys()
    assert labels_for("zh-Hant", {"next": "接下来"})["next"] == "接下来"
    assert labels_for(None)["backlinks"] == "Backlinks"
    with pytest.raises(ValueError, match="unknown label 'nxet'"):
        labels_for("en", {"nxet": "x"})


def test_additions_under_the_title_come_in_one_place(site: Path) -> None:
    html = (site / "basics/Attention.html").read_text(encoding="utf-8")
    after = html.split("</h1>", 1)[1]
    banner, tags = after.find('class="kb-path"'), after.find('class="kb-tags"')
    first_paragraph = after.find("Attention mixes values")
    assert 0 <= banner < first_paragraph and 0 <= tags < first_paragraph
    assert html.count('class="kb-tags"') == 1 and html.count('class="kb-path"') == 1
