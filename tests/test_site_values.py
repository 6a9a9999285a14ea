"""Values bound into prose: formats, the Markdown extension (with a small fake provider)."""

from __future__ import annotations

import markdown
import pytest

from kbgen.contracts import SnippetRefError, SnippetValue
from kbgen.site.numformat import FormatError, find_numbers, format_value, is_notable, typed_matches
from kbgen.site.values import ValueRenderer, ValuesExtension, find_bindings


# -- formats ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value, fmt, expected", [
    (124_439_808, None, "124,439,808"),
    (-1234, None, "-1,234"),
    (7, None, "7"),
    (6.28912, None, "6.289"),
    (0.58341, None, "0.5834"),
    (1234.567, None, "1,235"),
    (2.5, None, "2.5"),
    (3.0, None, "3"),
    (0.0, None, "0"),
    (3.14e23, None, "3.14×10²³"),
    (0.0000123, None, "1.23×10⁻⁵"),
    ("copy", None, "copy"),
    (124_439_808, "亿", "1.24 亿"),
    (124_439_808, ".1亿", "1.2 亿"),
    (12_443_980_800, "亿", "124 亿"),
    (100_000_000, "亿", "1 亿"),
    (52_345, "万", "5.23 万"),
    (49_752, "万", "4.98 万"),
    (3.214, "x", "3.2×"),
    (12.5, "x", "12×"),
    (3.214, ".2x", "3.21×"),
    (3.14e23, "sci", "3.14×10²³"),
    (2.6e11, ".1sci", "2.6×10¹¹"),
    (9.999e5, "sci", "1.00×10⁶"),
    (1.5, "sci", "1.50"),
    (124_439_808, ",", "124,439,808"),
    (0.5834, ".2f", "0.58"),
    (0.5834, ".1%", "58.3%"),
    (1234.5, ",.0f", "1,234"),
    (0.000123456, ".3g", "0.000123"),
])
def test_format_value(value, fmt, expected):
    assert format_value(value, fmt) == expected


@pytest.mark.parametrize("value, fmt", [("abc", "亿"), (True, "x"), (1.5, "q"), ("abc", ".2f")])
def test_format_errors_say_what_exists(value, fmt):
    with pytest.raises(FormatError, match="format"):
        format_value(value, fmt)


# -- numbers typed by hand -------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [
    ("参数量为 124,439,808 个", 124_439_808),
    ("约 1.24 亿参数", 124_439_808),
    ("约 1.24亿参数", 124_439_808),
    ("损失 0.58。", 0.5834),
    ("准确率 58%", 0.5834),
    ("快 3.2× 左右", 3.214),
    ("快 3.2 倍", 3.214),
    ("约 2.6e11 FLOPs", 2.63e11),
    ("约 3.14×10²³ FLOPs", 3.14e23),
    ("约 124M 参数", 124_439_808),
    ("约 13k 条", 12_983),
])
def test_typed_numbers_match_the_value(text, value):
    found = [n for n in find_numbers(text) if is_notable(n)]
    assert found and any(typed_matches(n, value) for n in found), (text, found)


@pytest.mark.parametrize("text, value", [
    ("第 8 步", 8),            # small plain integers are not compared
    ("约 1.25 亿参数", 124_439_808),
    ("损失 0.59", 0.5834),
    ("GPT-2 的结构", 2),
    ("0.5 倍", 0.5),            # one significant digit identifies nothing
    ("d_model512", 512),
    ("5×5 的格子", 5.0),       # a size, not a ratio
    ("温度如 2.0", 1.993),     # two digits with one decimal match by chance
    ("温度如 2.0", 2),         # whole numbers below 1000 are settings and counts
    ("准确率 100%", 1.0),
    ("为 60.0%", 60),
    ("小 16 倍", 16),
    ("约 5.1 万", float("nan")),
])
def test_typed_numbers_that_do_not_match(text, value):
    assert not any(is_notable(n) and typed_matches(n, value) for n in find_numbers(text))


def test_find_numbers_offsets_and_units():
    text = "共 1.24 亿参数，快 3.2×，占 58%。"
    nums = find_numbers(text)
    assert [text[n.start:n.end] for n in nums] == ["1.24 亿", "3.2×", "58%"]
    assert nums[0].value == pytest.approx(1.24e8)


# -- bindings in Markdown --------------------------------------------------------------------
class FakeProvider:
    """A SnippetProvider with a fixed table of values (cells 0..n)."""

    VALUES = {
        ("gpt.py", "n_params"): SnippetValue("gpt.py", "n_params", 124_439_808, 2, "参数量", 30),
        ("gpt.py", "loss"): SnippetValue("gpt.py", "loss", 0.5834, 3, "训练", 41),
        ("gpt.py", "diminishing"): SnippetValue("gpt.py", "diminishing", True, 3, "训练", 41),
        ("gpt.py", "faster"): SnippetValue("gpt.py", "faster", False, 4, "速度", 50),
    }

    def is_snippet(self, target: str) -> bool:
        return target == "gpt.py"

    def page_src_uri(self, name: str) -> str:
        return f"snippets/{name[:-3]}.md"

    def embed_html(self, name, cell, *, page_url, note, line):  # pragma: no cover - unused
        return ""

    def value(self, name: str, key: str) -> SnippetValue:
        if name != "gpt.py":
            raise SnippetRefError(f"no snippet named {name!r}")
        try:
            return self.VALUES[(name, key)]
        except KeyError:
            raise SnippetRefError(f"{name} exports no value {key!r} (exported: n_params, loss)") from None

    def cell_url(self, name: str, cell: int, *, page_url: str) -> str:
        return f"../snippets/{name[:-3]}.html#cell-{cell}"


def render(text: str, executed: bool = True) -> tuple[str, ValuesExtension]:
    ext = ValuesExtension(ValueRenderer(FakeProvider(), executed=executed))
    ext.set_page("notes/a.md", text, "notes/a.html")
    html = markdown.markdown(text, extensions=[ext, "tables", "pymdownx.superfences", "pymdownx.arithmatex"],
                             extension_configs={"pymdownx.arithmatex": {"generic": True}})
    return html, ext


def test_value_renders_with_a_mark_linking_the_cell():
    html, ext = render("GPT-2 有 {{gpt.py:n_params}} 个参数（约 {{gpt.py:n_params|亿}}）。")
    assert ext.problems == []
    assert "124,439,808" in html and "1.24 亿" in html
    assert 'href="../snippets/gpt.html#cell-2"' in html
    assert 'title="由 gpt.py 计算：n_params' in html
    assert "{{" not in html


def test_claim_true_renders_checked_mark():
    html, ext = render("收益递减 {{gpt.py:diminishing}}。")
    assert ext.problems == []
    assert 'class="kb-claim kb-claim--ok"' in html and "✓ 已验证" in html and "#cell-3" in html


def test_false_claim_is_a_problem_at_the_notes_line_and_visible():
    text = "---\ntitle: x\n---\n\n第一段。\n\n至少快 5 倍 {{gpt.py:faster}}。\n"
    body = text.split("---\n", 2)[2]
    ext = ValuesExtension(ValueRenderer(FakeProvider()))
    ext.set_page("notes/a.md", text, "notes/a.html")
    html = markdown.markdown(body, extensions=[ext])
    assert [str(p) for p in ext.problems] == [
        "notes/a.md:7: claim {{gpt.py:faster}} is false: gpt.py computed faster = False "
        "(cell at gpt.py:50); rewrite the sentence or fix the experiment"]
    assert "✗ 未通过" in html and "kb-claim--failed" in html


@pytest.mark.parametrize("binding, message", [
    ("{{nope.py:x}}", "no snippet named 'nope.py'"),
    ("{{gpt.py:nothing}}", "exports no value 'nothing'"),
    ("{{gpt.py:loss|zz}}", "format 'zz'"),
    ("{{gpt.py:diminishing|亿}}", "a claim takes no format"),
])
def test_missing_or_bad_binding_names_file_and_line(binding, message):
    html, ext = render(f"行一\n\n行三 {binding}\n")
    assert len(ext.problems) == 1
    p = ext.problems[0]
    assert (p.note, p.line) == ("notes/a.md", 3) and message in p.message
    assert "kb-value--error" in html


def test_nothing_is_bound_in_code_or_math():
    text = "`{{gpt.py:loss}}`\n\n```\n{{gpt.py:nothing}}\n```\n\n$a {{gpt.py:nothing}}$ 和 {{gpt.py:loss}}\n"
    html, ext = render(text)
    assert ext.problems == []
    assert html.count("class=\"kb-value\"") == 1  # only the prose one
    assert "<code>{{gpt.py:loss}}</code>" in html


def test_binding_in_a_table_with_escaped_pipe():
    html, ext = render("| 模型 | 参数 |\n|---|---|\n| GPT-2 | {{gpt.py:n_params\\|亿}} |\n")
    assert ext.problems == []
    assert "<td><span class=\"kb-value\">1.24 亿" in html


def test_repeated_bindings_get_their_own_lines():
    html, ext = render("{{gpt.py:nope}}\n\n{{gpt.py:nope}}\n")
    assert [p.line for p in ext.problems] == [1, 3]


def test_not_executed_shows_pending_without_problem():
    html, ext = render("值 {{gpt.py:loss}}", executed=False)
    assert ext.problems == [] and "kb-value--pending" in html


def test_find_bindings_skips_code():
    text = "a {{x.py:k}}\n```\n{{x.py:no}}\n```\n`{{x.py:no}}` {{x.py:k2|亿}}\n"
    assert [(b.key, b.fmt, b.line) for b in find_bindings(text)] == [("k", None, 1), ("k2", "亿", 5)]


def test_binding_from_an_embedded_note_is_located_in_that_note():
    class Note:
        def __init__(self, source: str) -> None:
            self.source = source

    from kbgen.site.values import locate_binding

    notes = {"a.md": Note("# A\n\n`{{gpt.py:nope}}`\n"), "b.md": Note("# B\n\n正文\n\n值 {{gpt.py:nope}}\n")}
    assert locate_binding("{{gpt.py:nope}}", notes) == ("b.md", 5)
    ext = ValuesExtension(ValueRenderer(FakeProvider()), locate=lambda raw: locate_binding(raw, notes))
    ext.set_page("host.md", "# host\n\n![[b]]\n", "host.html")
    markdown.markdown("# host\n\n值 {{gpt.py:nope}}\n", extensions=[ext])
    assert [(p.note, p.line) for p in ext.problems] == [("b.md", 5)]


def test_binding_in_callout_list_and_emphasis():
    html, ext = render("> [!note] 标题\n> 参数 **{{gpt.py:n_params|亿}}**\n\n- 损失 *{{gpt.py:loss|.2f}}*\n",)
    assert ext.problems == [] and "<strong><span class=\"kb-value\">1.24 亿" in html and "0.58" in html
