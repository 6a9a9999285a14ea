"""The tidied nav: no section that only repeats its title, no snippet pages in the main nav."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kbgen.site.navtidy import page_title, snippet_pages, tidy_nav
from kbgen.vault.index import parse_note

TITLES = {"学习路径/index.md": "学习路径", "tags/index.md": "标签", "a/甲.md": "甲", "概览.md": "概览"}


def test_single_page_sections_that_repeat_their_title_collapse_recursively():
    nav = ["index.md",
           {"学习路径": ["学习路径/index.md"]},
           {"入门级": ["学习路径/入门级.md", "a/甲.md"]},
           {"外层": [{"概览": ["概览.md"]}, "a/甲.md"]},
           {"标签": ["tags/index.md"]},
           {"代码片段": ["snippets/index.md"]},
           {"空": []},
           {"别名": ["a/甲.md"]}]  # a single page with another title stays a section
    assert tidy_nav(nav, TITLES.get) == [
        "index.md",
        {"学习路径": "学习路径/index.md"},
        {"入门级": ["学习路径/入门级.md", "a/甲.md"]},
        {"外层": [{"概览": "概览.md"}, "a/甲.md"]},
        {"标签": "tags/index.md"},
        {"代码片段": "snippets/index.md"},
        {"别名": ["a/甲.md"]}]


def test_page_title_frontmatter_heading_or_name():
    assert page_title("a/x.md", parse_note("a/x.md", "---\ntitle: 标题\n---\n# 别的\n")) == "标题"
    assert page_title("a/x.md", parse_note("a/x.md", "正文\n\n# 一级标题 #\n")) == "一级标题"
    assert page_title("核心组件/index.md", parse_note("核心组件/index.md", "")) == "核心组件"
    assert page_title("x.md", None) == "x"


class FakeEngine:
    snippets = {"a.py": None, "b.py": None}

    def page_src_uri(self, name: str) -> str:
        return f"snippets/{name[:-3]}.md"


def test_snippet_pages_from_the_provider():
    assert snippet_pages(FakeEngine()) == {"snippets/a.md", "snippets/b.md"}
    assert snippet_pages(None) == set()


CONFIG = """
site_name: nav fixture
use_directory_urls: false
theme: {name: material, language: zh}
plugins:
  - kbgen: {graph_page: "", local_graph: false, backlinks: false}
"""


def test_real_build_nav(tmp_path: Path) -> None:
    files = {
        "学习路径/入门级.md": "# 入门级\n\n1. [[核心组件/甲]]\n",
        "核心组件/甲.md": "# 甲\n\n#标签一 正文 [[s.py]]\n",
        "核心组件/乙.md": "# 乙\n",
        "snippets/s.py": "# %% one\nprint(1)\n",
    }
    (tmp_path / "mkdocs.yml").write_text(CONFIG, encoding="utf-8")
    for path, text in files.items():
        dest = tmp_path / ("" if path.startswith("snippets/") else "docs") / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "site/核心组件/甲.html").read_text(encoding="utf-8")
    nav = html[html.index('class="md-nav md-nav--primary"'):html.index("md-sidebar--secondary")]
    assert "snippets/s.html" not in nav  # the snippet page is not in the nav ...
    assert (tmp_path / "site/snippets/s.html").is_file()  # ... but it is built
    assert "snippets/index.html" in nav  # and the snippets overview is


def test_snippet_pages_out_of_the_nav_without_a_learning_path(tmp_path: Path) -> None:
    (tmp_path / "mkdocs.yml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/甲.md").write_text("# 甲\n\n[[s.py]]\n", encoding="utf-8")
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets/s.py").write_text("# %% one\nprint(1)\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "site/甲.html").read_text(encoding="utf-8")
    nav = html[html.index('class="md-nav md-nav--primary"'):html.index("md-sidebar--secondary")]
    assert "snippets/s.html" not in nav and "snippets/index.html" in nav
    assert "not included in the" not in r.stderr
