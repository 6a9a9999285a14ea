"""Learning-path step facts: estimated time (``minutes:``) and problem before solution (``solves:``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kbgen.site.path import read_path
from kbgen.site.steps import check_solves, format_minutes, level_total_html, minutes_problems, with_minutes
from kbgen.vault.index import VaultIndex, parse_note

LEVEL = "# 专家级\n\n1. [[问题]] — 先看问题\n2. [[解法甲]] — 再看解法\n3. [[解法乙]]\n"


def note(solves: str = "", minutes: str = "") -> str:
    return f"---\ntitle: t\n{solves}{minutes}---\n\n# t\n"


def pages(**over: str) -> dict[str, str]:
    p = {
        "学习路径/专家级.md": LEVEL,
        "问题.md": note(minutes="minutes: 15\n"),
        "解法甲.md": note('solves: ["[[问题]]"]\n', "minutes: 50\n"),
        "解法乙.md": note("solves:\n  - \"[[问题]]\"\n  - \"[[别处]]\"\n"),
        "别处.md": note(),
    }
    p.update(over)
    return p


def index_of(p: dict[str, str]) -> VaultIndex:
    return VaultIndex([parse_note(src, text) for src, text in p.items()])


def check(p: dict[str, str]) -> list[str]:
    index = index_of(p)
    path = read_path(index, "学习路径", ["专家级"])
    assert path is not None
    return check_solves(path, index)


@pytest.mark.parametrize("total, text", [(20, "20 分钟"), (60, "1 小时"), (80, "1 小时 20 分钟"), (185, "3 小时 5 分钟")])
def test_format_minutes(total, text):
    assert format_minutes(total) == text


def test_solves_links_inline_and_block_lists_with_lines():
    index = index_of(pages(**{"解法丙.md": "---\nsolves: 问题\n---\n"}))
    assert [(l.line, l.target) for l, _ in index.links_in_field("解法乙.md", "solves")] == [(4, "问题"), (5, "别处")]
    assert [(l.line, l.target) for l, _ in index.links_in_field("解法丙.md", "solves")] == [(2, "问题")]


def test_problem_before_solution_passes_and_problem_off_path_is_reported():
    assert check(pages()) == [
        "解法乙.md:5: solves [[别处]], which is not on the learning path; list the problem before this note "
        "(step 3 of 专家级, 学习路径/专家级.md:5)"]


def test_solution_before_problem_fails_with_file_line_and_both_steps():
    p = pages(**{"学习路径/专家级.md": "# 专家级\n\n1. [[解法甲]]\n2. [[问题]]\n"})
    assert check(p) == [
        "解法甲.md:3: solves [[问题]], which is step 2 of 专家级 (学习路径/专家级.md:4), but this solution is "
        "step 1 of 专家级 (学习路径/专家级.md:3); the problem must come before its solution on the learning path"]


def test_unresolved_solves_target():
    p = pages(**{"解法甲.md": note('solves: ["[[不存在]]"]\n')})
    assert "解法甲.md:3: solves [[不存在]], which does not resolve to a note" in check(p)


def test_level_total_and_banner_item():
    index = index_of(pages())
    path = read_path(index, "学习路径", ["专家级"])
    assert path is not None
    meta = {src: note.frontmatter for src, note in index.notes.items()}
    assert "本级预计用时约 1 小时 5 分钟（3 步，其中 1 步未标时间）" in level_total_html(path.levels[0], meta)
    banner = '<div class="kb-path" data-search-exclude><a class="kb-level">专家级</a><span class="kb-next">x</span></div>'
    out = with_minutes(banner, 50)
    assert out.index("kb-level") < out.index("预计用时 50 分钟") < out.index("kb-next")
    assert with_minutes("", 5).startswith('<div class="kb-path" data-search-exclude><span class="kb-minutes"')
    assert with_minutes(banner, None) == banner
    no_level = '<div class="kb-path" data-search-exclude><span class="kb-prereqs">前置知识：<a href="x">甲</a></span></div>'
    assert with_minutes(no_level, 5).startswith('<div class="kb-path" data-search-exclude><span class="kb-minutes"')


@pytest.mark.parametrize("value", ["二十", "-5", "0", "1.5", "true"])
def test_bad_minutes_named_with_file_and_line(value):
    [problem] = minutes_problems(parse_note("a.md", f"---\ntitle: t\nminutes: {value}\n---\n"))
    assert str(problem).startswith("a.md:3: 'minutes: ") and "positive whole number" in str(problem)


CONFIG = """
site_name: steps fixture
use_directory_urls: false
theme: {name: material, language: zh}
plugins:
  - kbgen: {graph_page: "", tags_dir: "", local_graph: false, backlinks: false}
  - kbgen-site: {path_dir: 学习路径, levels: [专家级]}
"""


def build(root: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (root / "mkdocs.yml").write_text(CONFIG, encoding="utf-8")
    for path, text in files.items():
        (root / "docs" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "docs" / path).write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=root, capture_output=True, text=True)


def test_real_build_shows_times_and_fails_on_solution_first(tmp_path: Path) -> None:
    r = build(tmp_path, pages(**{"解法乙.md": note('solves: ["[[问题]]"]\n')}))
    assert r.returncode == 0, r.stderr
    note_html = (tmp_path / "site/解法甲.html").read_text(encoding="utf-8")
    assert '<span class="kb-minutes" data-kb-minutes="50">预计用时 50 分钟</span>' in note_html
    level_html = (tmp_path / "site/学习路径/专家级.html").read_text(encoding="utf-8")
    assert "本级预计用时约 1 小时 5 分钟" in level_html and '<span class="kb-step-minutes">15 分钟</span>' in level_html
    r = build(tmp_path, {"学习路径/专家级.md": "# 专家级\n\n1. [[解法甲]]\n2. [[问题]]\n3. [[解法乙]]\n"})
    assert r.returncode != 0
    assert "解法甲.md:3: solves [[问题]], which is step 2 of 专家级" in r.stderr
