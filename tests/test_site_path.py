"""Learning path: parsing the level pages, ordering, next steps, the prerequisite-order check."""

from __future__ import annotations

from kbgen.site.nav import build_nav, folder_tree
from kbgen.site.path import check_order, path_items, prerequisite_lines, prerequisites, read_path, split_frontmatter
from kbgen.site.resolve import NoteResolver

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


def resolver(pages: dict[str, str]) -> NoteResolver:
    return NoteResolver({src: split_frontmatter(text)[0] for src, text in pages.items()})


def test_path_items_reads_first_link_of_top_level_ordered_items_outside_fences() -> None:
    assert path_items(LEVEL_A) == [(7, "a/甲"), (8, "乙"), (15, "a/丙")]


def test_read_path_orders_levels_and_flattens_steps() -> None:
    pages = vault()
    warnings: list[str] = []
    path = read_path(pages, "学习路径", resolver(pages), ["入门级", "进阶级", "专家级"], warnings.append)
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
    path = read_path(pages, "path", resolver(pages), [])
    assert [lv.name for lv in path.levels] == ["z", "a", "b"]
    assert [s.src for s in path.steps] == ["x.md", "y.md"]  # x listed twice keeps its first place


def test_vault_without_path_folder_has_no_path() -> None:
    pages = {"index.md": "# x", "a.md": "1. [[index]]"}
    assert read_path(pages, "学习路径", resolver(pages), ["入门级"]) is None


def test_prerequisites_from_frontmatter() -> None:
    text = '---\ntitle: x\nprerequisites:\n  - "[[a/甲]]"\n  - "[[乙|alias]]"\naliases: ["[[no]]"]\n---\nbody [[zz]]\n'
    assert prerequisite_lines(text) == [(4, "a/甲"), (5, "乙")]
    assert prerequisites(split_frontmatter(text)[0]) == ["a/甲", "乙"]


def test_correct_order_has_no_problems() -> None:
    pages = vault()
    path = read_path(pages, "学习路径", resolver(pages), ["入门级", "进阶级"])
    assert check_order(path, pages, resolver(pages)) == []


def test_prerequisite_after_its_note_is_reported_with_file_and_line() -> None:
    pages = vault(**{"a/甲.md": note(["丁"])})  # 甲 (step 1) needs 丁 (進階 step 1)
    path = read_path(pages, "学习路径", resolver(pages), ["入门级", "进阶级"])
    problems = check_order(path, pages, resolver(pages))
    assert len(problems) == 1
    assert problems[0].startswith("a/甲.md:4: prerequisite [[丁]] is step 1 of 进阶级 (学习路径/进阶级.md:3)")
    assert "step 1 of 入门级 (学习路径/入门级.md:7)" in problems[0]


def test_note_that_is_its_own_prerequisite_is_reported() -> None:
    pages = vault(**{"b/乙.md": note(["乙"])})
    path = read_path(pages, "学习路径", resolver(pages), ["入门级", "进阶级"])
    assert [p.split(":")[0] for p in check_order(path, pages, resolver(pages))] == ["b/乙.md"]


def test_nav_mirrors_the_path_then_the_rest_by_folder() -> None:
    pages = vault()
    path = read_path(pages, "学习路径", resolver(pages), ["入门级", "进阶级"])
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


def test_resolver_follows_obsidian_order() -> None:
    r = NoteResolver({"a/x.md": {}, "b/c/x.md": {}, "b/y.md": {"aliases": ["Why"]}, "q/r/s/x.md": {}})
    assert r("B/C/X.md") == "b/c/x.md"  # an exact vault path, any case
    assert r("x", "b/c/other.md") == "b/c/x.md"  # then the linking note's folder
    assert r("x", "q/other.md") == "a/x.md"  # then the shortest path
    assert r("why") == "b/y.md"
    assert r("nothing") is None


def test_nav_section_titles_and_index_only_folders() -> None:
    pages = vault(**{"tags/index.md": "", "tags/x.md": "", "snippets/s.md": ""})
    path = read_path(pages, "学习路径", resolver(pages), ["入门级", "进阶级"])
    nav = build_nav(path, list(pages), "index.md", "学习路径", {"snippets": "代码片段"}, ["tags"])
    assert nav[-2:] == [{"代码片段": ["snippets/s.md"]}, {"tags": ["tags/index.md"]}]
