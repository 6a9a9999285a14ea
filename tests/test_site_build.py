"""kbgen-site inside real MkDocs builds of small vaults (kbgen adds kbgen-site; listing it only sets options)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import build_site

CONFIG = """site_name: Test vault
theme:
  name: material
  language: zh
  font: false
plugins:
  - search
  - kbgen
  - kbgen-site:
      path_dir: 学习路径
      levels: [入门级, 进阶级, 专家级]
  - offline
markdown_extensions:
  - attr_list
  - md_in_html
"""


def note(title: str, level: str, prereqs: list[str], body: str = "") -> str:
    items = ", ".join(f'"[[{p}]]"' for p in prereqs)
    return f"---\ntitle: {title}\nlevel: {level}\nprerequisites: [{items}]\n---\n\n# {title}\n\n{body}\n"


def write_vault(root: Path, files: dict[str, str]) -> Path:
    (root / "mkdocs.yml").write_text(CONFIG, encoding="utf-8")
    for rel, text in files.items():
        path = root / "docs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


PATH_VAULT = {
    "index.md": "# 首页\n",
    "学习路径/入门级.md": "# 入门级\n\n1. [[基础/甲]] — 一\n2. [[乙]] — 二\n\n- [ ] 自己的任务\n",
    "学习路径/进阶级.md": "# 进阶级\n\n1. [[丙]] — 三\n",
    "基础/甲.md": note("甲", "入门级", [], "公式 $\\sqrt{d_k}$ 与\n$$\\frac{QK^\\top}{\\sqrt{d_k}}$$\n"),
    "基础/乙.md": note("乙", "入门级", ["甲"]),
    "丙.md": note("丙", "进阶级", ["乙"]),
    "其他/丁.md": "# 丁\n",
}


@pytest.fixture(scope="module")
def path_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_vault(tmp_path_factory.mktemp("pathvault"), PATH_VAULT)
    proc = build_site(root / "site", config=root / "mkdocs.yml", cwd=root)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "site"


def read(site: Path, rel: str) -> str:
    return (site / rel).read_text(encoding="utf-8")


def nav_pages(html: str) -> list[str]:
    """Pages linked from the site navigation, in nav order."""
    hrefs = re.findall(r'<a href="([^"#]+)" class="md-nav__link', html)
    return list(dict.fromkeys(unquote(h) for h in hrefs))


def test_nav_follows_the_path_then_the_rest(path_site: Path) -> None:
    nav = nav_pages(read(path_site, "index.html"))
    expected = ["学习路径/入门级.html", "基础/甲.html", "基础/乙.html", "学习路径/进阶级.html", "丙.html", "其他/丁.html"]
    assert [p for p in nav if p in expected] == expected


def test_banner_shows_level_step_prerequisites_and_next(path_site: Path) -> None:
    html = read(path_site, "基础/乙.html")
    banner = unquote(re.search(r'<div class="kb-path" data-search-exclude>(.*?)</div>', html, re.S).group(1))
    assert "入门级 · 第 2 步 / 共 2 步" in banner
    assert 'href="甲.html">甲</a>' in banner  # prerequisite, relative link
    assert 'href="../丙.html">丙</a>' in banner  # the next step crosses into the next level
    assert 'href="../学习路径/入门级.html">入门级' in banner
    assert 'data-kb-step="基础/乙.md"' in banner


def test_level_page_has_step_boxes_and_progress(path_site: Path) -> None:
    html = read(path_site, "学习路径/入门级.html")
    assert html.count('data-kb-step="') == 2
    assert 'data-kb-step="基础/甲.md"' in html and "data-kb-progress" in html
    assert 'class="task-list-control"' in html  # the author's own task is a tick box too


def test_math_is_mathml_and_assets_are_local(path_site: Path) -> None:
    html = read(path_site, "基础/甲.html")
    assert html.count("<math") == 2 and "arithmatex" not in html
    for rel in ("assets/kbgen/kb.js", "assets/kbgen/kb.css", "assets/kbgen/logo.svg", "assets/kbgen/vendor/iframe-worker/shim.js"):
        assert (path_site / rel).is_file()
    assert "unpkg.com" not in html and "iframe-worker/shim.js" in html
    assert not re.search(r'src="https?://|<link[^>]+href="https?://', html)  # nothing fetched remotely


def test_prerequisite_after_its_note_fails_the_build_with_file_and_line(tmp_path: Path) -> None:
    files = {**PATH_VAULT, "基础/甲.md": note("甲", "入门级", ["丙"])}
    root = write_vault(tmp_path, files)
    proc = build_site(root / "site", config=root / "mkdocs.yml", cwd=root, strict=False)
    assert proc.returncode != 0
    assert "基础/甲.md:4: prerequisite [[丙]] is step 1 of 进阶级 (学习路径/进阶级.md:3)" in proc.stderr + proc.stdout


def test_vault_without_a_path_gets_no_path_features(tmp_path: Path) -> None:
    root = write_vault(tmp_path, {"index.md": "# 首页\n", "a.md": note("A", "入门级", []), "b/c.md": "# C $x^2$\n"})
    proc = build_site(root / "site", config=root / "mkdocs.yml", cwd=root)
    assert proc.returncode == 0, proc.stderr[-4000:]
    html = read(root / "site", "a.html")
    assert "data-kb-step" not in html and "data-kb-progress" not in html
    assert 'class="kb-level' in html  # the frontmatter level still shows
    assert "<math" in read(root / "site", "b/c.html")
