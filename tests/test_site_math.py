"""Build-time math: TeX -> MathML, Obsidian-style display math, notebook-HTML dollars."""

from __future__ import annotations

from kbgen.site.math import (
    MathErrors,
    render_arithmatex,
    render_dollar_math,
    restore_display_math,
    stash_display_math,
    tex_to_mathml,
)

SOFTMAX = r"\mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V"


def test_softmax_formula_becomes_mathml_with_its_tex_kept() -> None:
    out = tex_to_mathml(SOFTMAX, display=True)
    assert out.startswith("<math") and 'display="block"' in out
    assert "<mfrac>" in out and "<msqrt>" in out and "<msup>" in out
    assert f'<annotation encoding="application/x-tex">{SOFTMAX}</annotation>' in out


def test_arithmatex_markup_is_replaced_and_failures_are_reported() -> None:
    html = (
        '<p>a <span class="arithmatex">\\(x &lt; \\sqrt{d_k}\\)</span></p>'
        '<div class="arithmatex">\\[\\sum_i x_i\\]</div>'
        '<p><span class="arithmatex">\\(\\frac{1}{\\)</span></p>'
    )
    errors = MathErrors()
    out = render_arithmatex(html, errors)
    assert "arithmatex" not in out
    assert out.count("<math") == 2 and '<div class="kb-math-block">' in out
    assert "<mo>&#x0003C;</mo>" in out  # the unescaped "<" is a real operator
    assert [tex for tex, _ in errors.items] == ["\\frac{1}{"]
    assert '<span class="kb-math-error"' in out


def test_display_math_inside_paragraphs_lists_and_callouts_is_lifted_out() -> None:
    md = (
        "text `$$code$$` and $$a+b$$ inline\n"
        "```python\nx = '$$not math$$'\n```\n"
        "> [!tip]\n> $$c\n> +d$$\n\n"
        "- item\n  $$\n  e\n  $$\n  more\n"
        '<pre class="kb-output"><code>$$ printed $$</code></pre>\n'
    )
    out, stash = stash_display_math(md)
    assert stash == ["a+b", "c\n+d", "e"]
    assert "`$$code$$`" in out and "'$$not math$$'" in out and "$$ printed $$" in out
    html = restore_display_math(f"<p>{out.splitlines()[0]}</p><p>KBGENMATHDISPLAY1X</p>", stash)
    assert html.count('class="kb-math-block"') == 2 and "KBGENMATH" not in html
    assert html.startswith("<p>text")


def test_dollar_math_in_notebook_html_skips_code() -> None:
    out = render_dollar_math("<p>cost $5, $x^2$ and <code>$y$</code> then $$\\frac{a}{b}$$</p>")
    assert out.count("<math") == 2
    assert "<code>$y$</code>" in out and "cost $5," in out
