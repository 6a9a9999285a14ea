"""Learning path: parsing the level pages, ordering, next steps, the prerequisite-order check."""

from __future__ import annotations

from kbgen.site.nav import build_nav, folder_tree
from kbgen.site.path import check_order, path_items, prerequisites, read_path
from kbgen.vault import VaultIndex, parse_note

LEVEL_A = """---
title: 入门级：理解概念
---

# 入门级

1. [[a/甲]] — 学完后你能……
2. [[乙|别名]] — text with [[a/丙]] second link ignored
   1. [[嵌套]] — nested items are not steps

```markdown
3. [[不是步骤]] — inside a fence
```

3) [[a/丙#小节]] — heading links count as the note
- [[无序]] — bullets are not steps
"""

LEVEL_B = "# 进阶级\n\n1. [[丁]]\n2. [[missing]]\n"


def note(prereqs: list[str], level: str = "入门级") -> str:
    items = ", ".join(f'"[[{p}]]"' for p in prereqs)
    return f"---\ntitle: t\nlevel: {level}\nprerequisites: [{items}]\n---\n\n# t\n"


def vault(**over: str) -> dict[str, str]:
    pages = {
        "index.md": "# home",
        "学习路径/入门级.md": LEVEL_A,
        "学习路径/进阶级.md": LEVEL_B,
        "a/甲.md": note([]),
        "b/乙.md": note(["甲"]),
        "a/丙.md": note(["甲", "乙"]),
        "丁.md": note(["a/丙"], "进阶级"),
        "extra/其他.md": "# other",
    }
    pages.update(over)
    return pages


def index_of(pages: dict[str, str]) -> VaultIndex:
    """The build's index (and so the build's resolver) over ``pages`` (vault path -> source)."""
    return VaultIndex([parse_note(src, text) for src, text in pages.items()])


def test_path_items_reads_first_link_of_top_level_ordered_items_outside_fences() -> None:
    items = path_items(parse_note("学习路径/入门级.md", LEVEL_A))
    assert [(line, link.target) for line, link in items] == [(7, "a/甲"), (8, "乙"), (15, "a/丙")]


def test_path_items_ignore_links_in_inline_code_math_and_embeds() -> None:
    text = "1. `[[代码]]` then [[真的]]\n2. $[[数学]]$\n3. ![[嵌入]] [[之后]]\n"
    items = path_items(parse_note("p/l.md", text))
    assert [(line, link.target) for line, link in items] == [(1, "真的")]


def test_read_path_orders_levels_and_flattens_steps() -> None:
    pages = vault()
    warnings: list[str] = []
    path = read_path(index_of(pages), "学习路径", ["入门级", "进阶级", "专家级"], warnings.append)
    assert path is not None
    assert [lv.name for lv in path.levels] == ["入门级", "进阶级"]
    assert [s.src for s in path.steps] == ["a/甲.md", "b/乙.md", "a/丙.md", "丁.md"]
    assert path.step_of("a/丙.md").number == 3 and path.step_of("丁.md").number == 1
    assert path.next_step("a/丙.md").src == "丁.md"  # crosses into the next level
    assert path.next_step("丁.md") is None
    assert warnings == ["learning path: 学习路径/进阶级.md:4: step [[missing]] does not resolve to a note"]


def test_level_order_falls_back_to_frontmatter_order_then_name() -> None:
    pages = {
        "path/z.md": "---\norder: 1\n---\n1. [[x]]\n",
        "path/a.md": "---\norder: 2\n---\n1. [[y]]\n",
        "path/b.md": "1. [[x]]\n",
        "x.md": "",
        "y.md": "",
    }
    path = read_path(index_of(pages), "path", [])
    assert [lv.name for lv in path.levels] == ["z", "a", "b"]
    assert [s.src for s in path.steps] == ["x.md", "y.md"]  # x listed twice keeps its first place


def test_vault_without_path_folder_has_no_path() -> None:
    pages = {"index.md": "# x", "a.md": "1. [[index]]"}
    assert read_path(index_of(pages), "学习路径", ["入门级"]) is None


def test_prerequisites_from_frontmatter() -> None:
    text = '---\ntitle: x\nprerequisites:\n  - "[[a/甲]]"\n  - "[[乙|alias]]"\n  - 丁\naliases: ["[[no]]"]\n---\nbody [[zz]]\n'
    index = index_of(vault(**{"x.md": text}))
    got = [(link.line, link.target, src) for link, src in prerequisites(index, "x.md")]
    assert got == [(4, "a/甲", "a/甲.md"), (5, "乙", "b/乙.md"), (6, "丁", "丁.md")]  # a plain name counts too


def test_path_follows_the_builds_resolution_of_path_suffixes_and_aliases() -> None:
    pages = vault(**{"学习路径/进阶级.md": "1. [[x/丁]]\n2. [[别名]]\n", "w/x/丁.md": "# 丁", "e/戊.md": "---\naliases: [别名]\n---\n"})
    path = read_path(index_of(pages), "学习路径", ["入门级", "进阶级"])
    assert [s.src for s in path.levels[1].steps] == ["w/x/丁.md", "e/戊.md"]


def test_correct_order_has_no_problems() -> None:
    pages = vault()
    path = read_path(index_of(pages), "学习路径", ["入门级", "进阶级"])
    assert check_order(path, index_of(pages)) == []


def test_prerequisite_after_its_note_is_reported_with_file_and_line() -> None:
    pages = vault(**{"a/甲.md": note(["丁"])})  # 甲 (step 1) needs 丁 (進階 step 1)
    path = read_path(index_of(pages), "学习路径", ["入门级", "进阶级"])
    problems = check_order(path, index_of(pages))
    assert len(problems) == 1
    assert problems[0].startswith("a/甲.md:4: prerequisite [[丁]] is step 1 of 进阶级 (学习路径/进阶级.md:3)")
    assert "step 1 of 入门级 (学习路径/入门级.md:7)" in problems[0]


def test_note_that_is_its_own_prerequisite_is_reported() -> None:
    pages = vault(**{"b/乙.md": note(["乙"])})
    path = read_path(index_of(pages), "学习路径", ["入门级", "进阶级"])
    assert [p.split(":")[0] for p in check_order(path, index_of(pages))] == ["b/乙.md"]


def test_nav_mirrors_the_path_then_the_rest_by_folder() -> None:
    pages = vault()
    path = read_path(index_of(pages), "学习路径", ["入门级", "进阶级"])
    nav = build_nav(path, list(pages), "index.md", "学习路径")
    assert nav == [
        "index.md",
        {"入门级": ["学习路径/入门级.md", "a/甲.md", "b/乙.md", "a/丙.md"]},
        {"进阶级": ["学习路径/进阶级.md", "丁.md"]},
        {"extra": ["extra/其他.md"]},
    ]


def test_folder_tree_puts_index_first_and_nests() -> None:
    assert folder_tree(["b/x.md", "b/index.md", "z.md", "a/c/d.md"]) == [
        "z.md",
        {"a": [{"c": ["a/c/d.md"]}]},
        {"b": ["b/index.md", "b/x.md"]},
    ]


def test_nav_section_titles_and_index_only_folders() -> None:
    pages = vault(**{"tags/index.md": "", "tags/x.md": "", "snippets/s.md": ""})
    path = read_path(index_of(pages), "学习路径", ["入门级", "进阶级"])
    nav = build_nav(path, list(pages), "index.md", "学习路径", {"snippets": "代码片段"}, ["tags"])
    assert nav[-2:] == [{"代码片段": ["snippets/s.md"]}, {"tags": ["tags/index.md"]}]
