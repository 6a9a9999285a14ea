"""The glossary page (术语表) from frontmatter ``terms:`` and hover definitions in notes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import markdown
import pytest

from kbgen.site.glossary import TermExtension, collect_terms, glossary_page, labels_for


def note(path: str, title: str, terms: str, body: str = "") -> tuple[str, str, dict, str]:
    import yaml

    source = f"---\ntitle: {title}\nterms:\n{textwrap.indent(textwrap.dedent(terms).strip(), '  ')}\n---\n\n{body}"
    meta = yaml.safe_load(source.split("---\n")[1])
    return path, title, meta, source


ATT = note("核心组件/自注意力机制.md", "自注意力机制", """
    - {term: 自注意力, en: Self-Attention, def: 每个词按相关程度从所有词汇总信息。}
    - {term: 注意力权重, en: Attention Weights, def: softmax 之后的分数。}
""")
TOK = note("入门/词元.md", "词元", """
    - {term: token, en: Token, def: 模型读写的最小单位。}
""")


def test_collect_sorted_by_note_path_then_term():
    g = collect_terms([ATT, TOK])
    assert g.problems == []
    assert [(t.term, t.note) for t in g.terms] == [
        ("token", "入门/词元.md"), ("注意力权重", "核心组件/自注意力机制.md"), ("自注意力", "核心组件/自注意力机制.md")]
    assert g.by_term()["自注意力"].line == 4 and g.by_term()["自注意力"].hover == "Self-Attention：每个词按相关程度从所有词汇总信息。"


def test_a_term_defined_twice_is_reported_with_both_files():
    again = note("架构演进/原始Transformer.md", "原始", "- {term: 自注意力, en: Self-Attention, def: 另一种说法。}")
    g = collect_terms([ATT, again])
    assert g.problems == ["架构演进/原始Transformer.md:4: term '自注意力' is already defined in "
                          "核心组件/自注意力机制.md:4; define it in one note only"]
    assert [t.note for t in g.terms if t.term == "自注意力"] == ["核心组件/自注意力机制.md"]


@pytest.mark.parametrize("terms, fragment", [
    ("- {term: 空定义, en: Empty}", "needs 'term' and 'def'"),
    ("- 只是字符串", "needs 'term' and 'def'"),
])
def test_malformed_entries_name_file_and_line(terms, fragment):
    g = collect_terms([note("a.md", "A", terms)])
    assert len(g.problems) == 1 and g.problems[0].startswith("a.md:4: ") and fragment in g.problems[0]


def test_glossary_page_lists_term_english_definition_and_link():
    page = glossary_page(collect_terms([ATT, TOK]), "术语表.md", labels_for("zh"))
    assert page.startswith("# 术语表\n")
    assert "- **自注意力**（Self-Attention）：每个词按相关程度从所有词汇总信息。 —— 见 [自注意力机制](核心组件/自注意力机制.md)" in page
    sub = glossary_page(collect_terms([ATT]), "参考/术语表.md", labels_for("en"))
    assert sub.startswith("# Glossary\n") and "](../核心组件/自注意力机制.md)" in sub


def hover(text: str, page: str = "其他.md") -> str:
    ext = TermExtension()
    ext.set_terms(collect_terms([ATT, TOK]).terms)
    ext.set_page(page)
    return markdown.markdown(text, extensions=[ext, "pymdownx.superfences"])


def test_first_occurrence_only_gets_a_hover_definition():
    html = hover("自注意力让每个 token 看见全部。再说一次自注意力和 token。")
    assert html.count('<abbr class="kb-term"') == 2
    assert '<abbr class="kb-term" title="Self-Attention：每个词按相关程度从所有词汇总信息。">自注意力</abbr>让每个 ' \
           '<abbr class="kb-term" title="Token：模型读写的最小单位。">token</abbr> 看见全部。再说一次自注意力和 token。' in html


def test_never_in_code_links_headings_or_inside_words():
    text = ("## 自注意力\n\n`自注意力` 和 [自注意力](x.md)\n\n```\n自注意力\n```\n\ntokens 不是词元。\n\n"
            "*强调里的注意力权重*")
    html = hover(text)
    assert html.count("<abbr") == 1 and "<em>强调里的<abbr" in html


def test_defining_note_gets_no_hover_of_its_own_terms():
    html = hover("自注意力和 token", page="核心组件/自注意力机制.md")
    assert html.count("<abbr") == 1 and ">token</abbr>" in html


CONFIG = """
site_name: glossary fixture
use_directory_urls: false
theme: {name: material, language: zh}
plugins:
  - kbgen: {site: false, graph_page: "", tags_dir: "", local_graph: false, backlinks: false}
"""


def test_real_build_generates_the_page_and_hovers(tmp_path: Path) -> None:
    (tmp_path / "docs/核心组件").mkdir(parents=True)
    (tmp_path / "mkdocs.yml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "docs/核心组件/自注意力机制.md").write_text(ATT[3] + "# 自注意力机制\n\n自注意力是核心。\n", encoding="utf-8")
    (tmp_path / "docs/其他.md").write_text("# 其他\n\n这里用到自注意力。\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "site/术语表.html").read_text(encoding="utf-8")
    assert "<strong>自注意力</strong>（Self-Attention）" in page and f'href="{quote("核心组件/自注意力机制.html")}"' in page
    other = (tmp_path / "site/其他.html").read_text(encoding="utf-8")
    assert '<abbr class="kb-term" title="Self-Attention：每个词按相关程度从所有词汇总信息。">自注意力</abbr>' in other
    # Defined twice: a warning naming both files, which fails --strict.
    (tmp_path / "docs/其他.md").write_text(note("其他.md", "其他", "- {term: 自注意力, en: X, def: Y}")[3] + "# 其他\n",
                                          encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode != 0
    warning = next(line for line in r.stderr.splitlines() if "term '自注意力' is already defined" in line)
    assert "其他.md:4" in warning and "核心组件/自注意力机制.md:4" in warning


def test_placeholders_for_set_aside_html_are_never_split():
    ext = TermExtension()
    ext.set_terms([*collect_terms([ATT]).terms, *collect_terms([note("b.md", "B", "- {term: inline, en: Inline, def: 行内。}")]).terms])
    ext.set_page("其他.md")
    html = markdown.markdown("kbgeninline3x 和 kbgenhtml12x 之后 inline 与自注意力", extensions=[ext])
    assert "kbgeninline3x 和 kbgenhtml12x 之后 <abbr" in html
    assert '>inline</abbr> 与<abbr' in html


def test_one_character_terms_are_listed_but_never_hovered():
    one = note("c.md", "C", "- {term: 自, en: Self, def: 同一个序列。}")
    g = collect_terms([ATT, one])
    assert "自" in g.by_term()
    ext = TermExtension()
    ext.set_terms(g.terms)
    ext.set_page("其他.md")
    html = markdown.markdown("自己和自注意力", extensions=[ext])
    assert html.count("<abbr") == 1 and ">自注意力</abbr>" in html
