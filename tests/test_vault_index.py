"""The vault index and the page renderer, without MkDocs: resolution rules, ids, tags, code."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbgen.contracts import SnippetRefError
from kbgen.vault import VaultIndex, parse_note
from kbgen.vault.render import Renderer

FIXTURE = Path(__file__).parent / "fixtures" / "vault"


class FakeSnippets:
    """A SnippetProvider with one snippet ``hello.py`` (cells ``greet``, ``other``)."""

    def is_snippet(self, target: str) -> bool:
        return target.rsplit("/", 1)[-1] == "hello.py"

    def page_src_uri(self, name: str) -> str:
        return "snippets/hello.md"

    def embed_html(self, name: str, cell: str | None, *, page_url: str, note: str, line: int) -> str:
        if cell not in (None, "greet", "other"):
            raise SnippetRefError(f"{note}:{line}: no cell {cell!r}")
        return f'<figure class="fake">{name}#{cell}@{page_url}</figure>'


@pytest.fixture(scope="module")
def index() -> VaultIndex:
    return VaultIndex.from_dir(FIXTURE / "docs", snippets=FakeSnippets())


def note(*lines: str, path: str = "n.md"):
    return parse_note(path, "\n".join(lines))


def test_index_reads_notes_attachments_frontmatter(index: VaultIndex) -> None:
    sa = index.notes["核心组件/自注意力机制.md"]
    assert sa.title == "自注意力机制" and sa.aliases == ["Self-Attention", "自注意力"]
    assert sa.frontmatter["level"] == "入门级"
    assert "附件/图片/小图.png" in index.attachments
    assert [r.path for r in index.frontmatter_links("核心组件/自注意力机制.md", "prerequisites")] == ["笔记 with spaces.md"]
    # A frontmatter link is a link: the prerequisite gets a backlink.
    assert "核心组件/自注意力机制.md" in index.backlinks("笔记 with spaces.md")


def test_headings_keep_chinese_and_lines(index: VaultIndex) -> None:
    sa = index.notes["核心组件/自注意力机制.md"]
    got = [(h.level, h.id, h.line) for h in sa.headings]
    assert got[:4] == [(1, "自注意力机制", 10), (2, "计算过程", 14), (3, "细节小节", 18), (2, "为什么要除以-d_k", 22)]
    # Headings inside fenced code are not headings.
    assert all("不是标签" not in h.text for h in sa.headings)


def test_duplicate_headings_get_toc_suffixes() -> None:
    n = note("# A", "## 同", "## 同", "## {#x}", "## B {#custom}")
    assert [h.id for h in n.headings][:3] == ["a", "同", "同_1"]
    assert n.headings[-1].id == "custom"


@pytest.mark.parametrize(
    ("target", "from_note", "expected"),
    [
        ("自注意力机制", "根.md", "核心组件/自注意力机制.md"),  # unique name anywhere
        ("自注意力机制.md", "根.md", "核心组件/自注意力机制.md"),  # with extension
        ("核心组件/自注意力机制", "根.md", "核心组件/自注意力机制.md"),  # exact path
        ("self-attention", "根.md", "核心组件/自注意力机制.md"),  # alias, case-insensitive
        ("笔记 WITH spaces", "根.md", "笔记 with spaces.md"),  # spaces, case-insensitive
        ("同名", "a/链接同名.md", "a/同名.md"),  # same folder wins
        ("同名", "b/同名.md", "b/同名.md"),
        ("b/同名", "a/链接同名.md", "b/同名.md"),  # path disambiguates
        ("唯一名", "核心组件/自注意力机制.md", "唯一名.md"),  # shortest path
        ("y/唯一名", "根.md", "x/y/唯一名.md"),  # path suffix
        ("小图.png", "嵌入.md", "附件/图片/小图.png"),  # attachment anywhere
    ],
)
def test_resolution_order(index: VaultIndex, target: str, from_note: str, expected: str) -> None:
    res = index.resolve(target, from_note)
    assert res.path == expected, res
    assert not res.ambiguous


def test_tie_reports_both_candidates(index: VaultIndex) -> None:
    res = index.resolve("同名", "根.md")
    assert res.kind == "note" and res.path == "a/同名.md"
    assert res.candidates == ["a/同名.md", "b/同名.md"]
    assert "a/同名.md" in res.message and "b/同名.md" in res.message


def test_unresolved_snippets_and_escapes(index: VaultIndex) -> None:
    assert index.resolve("不存在的笔记", "根.md").kind == "unresolved"
    assert index.resolve("hello.py", "根.md").kind == "snippet"
    assert index.resolve("nothere.py", "根.md").kind == "unresolved"
    for bad in ("../secret.py", "a/../../secret.py", "/etc/x.py"):
        assert index.resolve(bad, "空文件夹/子/深处.md").kind == "error", bad


def test_links_tags_and_code_are_separated(index: VaultIndex) -> None:
    sa = index.notes["核心组件/自注意力机制.md"]
    targets = {l.target for l in sa.links}
    assert "不要解析" not in targets and "也不要解析" not in targets and "波浪线围栏里" not in targets
    assert sa.tags == ["Transformer/核心组件", "AI学习"]
    assert "notatag" not in sa.tags and "frag" not in sa.tags and "不是标签" not in sa.tags
    tags = index.tags()
    assert "核心组件/自注意力机制.md" in tags["Transformer"]  # nested tags count for parents
    assert set(tags) >= {"Transformer", "Transformer/核心组件", "AI学习", "测试", "测试/嵌入"}


def test_link_lines_are_file_lines(index: VaultIndex) -> None:
    n = index.notes["笔记 with spaces.md"]
    lines = {l.target: l.line for l in n.links}
    assert lines["不存在的笔记"] == 17
    assert lines["Self-Attention"] == 3


def render(index: VaultIndex, page: str) -> tuple[str, Renderer]:
    r = Renderer(index, snippets=FakeSnippets())
    n = index.notes[page]
    return r.render(n.body, page, line_offset=n.body_offset, page_url=page[:-3] + ".html"), r


def test_render_links_relative_with_heading_ids(index: VaultIndex) -> None:
    out, r = render(index, "笔记 with spaces.md")
    assert "[计算](核心组件/自注意力机制.md#计算过程)" in out
    assert "[缩放](核心组件/自注意力机制.md#为什么要除以-d_k)" in out
    assert "[第二节](#第二节)" in out
    # Table cell: escaped pipe resolved as an alias, the table keeps its columns.
    assert "| 自注意力 | [自注意力（表格）](核心组件/自注意力机制.md){ .kb-link } |" in out
    assert 'class="kb-unresolved"' in out and ">不存在的笔记<" in out
    problems = {(p.line, p.level) for p in r.problems}
    assert (17, "unresolved") in problems


def test_render_leaves_code_alone(index: VaultIndex) -> None:
    out, _ = render(index, "核心组件/自注意力机制.md")
    assert "`[[不要解析]]`" in out and "# [[也不要解析]] #不是标签" in out and "[[波浪线围栏里]]" in out
    assert "https://example.com/page#frag" in out
    assert '<figure class="fake">hello.py#greet@核心组件/自注意力机制.html</figure>' in out
    assert "[hello.py](../snippets/hello.md)" in out


def test_section_embed_stops_at_next_heading_of_same_level(index: VaultIndex) -> None:
    out, _ = render(index, "嵌入.md")
    assert "SECTION-DETAIL" in out  # the ### subsection belongs to the section
    assert "SCALE-BODY" in out  # from the second embed (inside the callout)
    start = out.index("第一步")
    assert "SCALE-BODY" not in out[start: out.index("</div>", start)]
    # The embed inside the callout keeps the blockquote prefix on every line.
    callout = out[out.index("> [!note] 标注里的嵌入"):]
    block = callout[: callout.index("## 代码片段")].strip().split("\n")
    assert all(l.startswith(">") for l in block), block
    assert "A-COLLISION" in out
    assert '![小图](附件/图片/小图.png){ width="120" .kb-image }' in out


def test_embed_cycles_are_cut(index: VaultIndex) -> None:
    out, r = render(index, "循环/循环A.md")
    assert [p.level for p in r.problems] == ["cycle"]
    assert "循环/循环A.md -> 循环/循环B.md -> 循环/循环A.md" in r.problems[0].message


def test_bad_snippet_cell_is_an_error_with_line() -> None:
    idx = VaultIndex([note("x", "![[hello.py#nope]]", "![[../secret.py]]")], snippets=FakeSnippets())
    r = Renderer(idx, snippets=FakeSnippets())
    out = r.render(idx.notes["n.md"].body, "n.md")
    assert [(p.level, p.line) for p in r.problems] == [("error", 2), ("error", 3)]
    assert out.count("kb-error") == 2


def test_extension_works_in_plain_python_markdown(index: VaultIndex) -> None:
    """Outside MkDocs (e.g. Zensical): the extension alone renders links, tags and callouts."""
    import markdown

    from kbgen.vault.mdext import VaultExtension

    ext = VaultExtension(Renderer(index, snippets=FakeSnippets()))
    ext.set_page("根.md")
    html = markdown.markdown(
        "见 [[自注意力机制#计算过程|计算]] #标签\n\n> [!faq]- 问题\n> 答案 ![[hello.py#greet]]\n\n> [!weird] 未知\n> x\n",
        extensions=[ext, "pymdownx.quotes", "attr_list", "md_in_html"],
        extension_configs={"pymdownx.quotes": {"callouts": True}},
    )
    assert '<a class="kb-link" href="核心组件/自注意力机制.md#计算过程">计算</a>' in html
    assert '<a class="kb-tag" href="tags/标签.md">#标签</a>' in html
    assert '<details class="faq question callout-faq">' in html and "<summary>问题</summary>" in html
    assert '<figure class="fake">hello.py#greet@</figure>' in html
    assert 'class="admonition weird note callout-weird"' in html


def test_inline_links_bypass_raw_html_parsing_but_render_the_same(index: VaultIndex) -> None:
    """With final URLs (as under MkDocs), inline links are stashed out of Markdown's raw-HTML
    parsers and put back after rendering: a link alone keeps its paragraph, links in tables and
    callout titles render, and heading links stay in the heading for the toc."""
    import markdown

    from kbgen.vault.mdext import VaultExtension

    urls = {"核心组件/自注意力机制.md": "core/self/", "tags/标签.md": "tags/t/"}
    ext = VaultExtension(Renderer(index, url_for=lambda target, page: urls.get(target)))
    ext.set_page("根.md")
    md = markdown.Markdown(extensions=[ext, "toc", "tables", "pymdownx.quotes", "attr_list", "md_in_html"],
                           extension_configs={"pymdownx.quotes": {"callouts": True}})
    html = md.convert(
        "## 标题 [[自注意力机制]]\n\n[[自注意力机制|单独]]\n\n| a | b |\n|---|---|\n| [[自注意力机制\\|表格]] | #标签 |\n\n"
        "> [!tip] 见 [[自注意力机制|标题里]]\n> 正文\n"
    )
    assert "kbgeninline" not in html and "kbgenhtml" not in html
    assert sum(k.startswith("kbgeninline") for k in ext.stashed) == 4  # all but the heading's link
    assert '<p><a class="kb-link" href="core/self/">单独</a></p>' in html
    assert '<td><a class="kb-link" href="core/self/">表格</a></td>' in html
    assert '<td><a class="kb-tag" href="tags/t/">#标签</a></td>' in html
    assert '<p class="admonition-title">见 <a class="kb-link" href="core/self/">标题里</a></p>' in html
    assert md.toc_tokens[0]["name"] == "标题 自注意力机制"


def test_body_scan_rebased_onto_the_body_mkdocs_hands_over() -> None:
    """MkDocs strips the blank lines after the frontmatter; the index's scan, re-based, equals a
    fresh scan of that text, and any other text is scanned afresh."""
    from kbgen.vault.scan import BodyScan

    body = "\n\n# 标题 #tag\n\n见 [[a#b|c]] #标签 `[[code]]`\n\n```\n[[no]]\n```\n![[x.py#cell]]\n"
    found = BodyScan.of(body)
    stripped = body.lstrip("\n")
    assert found.for_text(stripped) == BodyScan.of(stripped)
    assert found.for_text(body) is found
    assert found.for_text(stripped.replace("标签", "别的")) is None
    assert found.for_text("x" + stripped[1:]) is None
    assert [r.target for r in found.refs] == ["a", "x.py"] and [t for t, _, _ in found.tags] == ["tag", "标签"]
