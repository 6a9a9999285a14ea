"""Numbers in prose: bound, cited, typed by hand (``kbgen.site.prose``)."""

from __future__ import annotations

from pathlib import Path

from kbgen.cli import main
from kbgen.site.prose import handtyped_values, prose_numbers, uncited_numbers

NOTE = """---
title: 例子
minutes: 20
---

# 例子

GPT-3 有 1750 亿参数[^brown2020]。原论文用了 96 层，训练花了 3.14e23 FLOPs。

我们的模型有 {{gpt.py:n_params}} 个参数，损失 `0.5834` 在代码里。

- 上下文窗口 2048 个 token[^brown2020]
- 模型宽度 12288 维

| 模型 | 参数 |
|---|---|
| GPT-2 | 15 亿[^radford2019] |
| BERT | 3.4 亿 |

1. 第 12 步，共 3 个头。
2. 原 Transformer 发表于 2017 年。[^vaswani2017]

$$
d_{model} = 512
$$

## 参考文献

1. Vaswani et al. *Attention Is All You Need*. NeurIPS 2017. arXiv:1706.03762

## 下一节

见 arXiv:2005.14165 的 96 层（§5.1）。

[^brown2020]: Brown et al., 2020, Table 2.1, 175B.
[^radford2019]: Radford et al., 2019.
[^vaswani2017]: Vaswani et al., 2017, §3.2.2.
"""


def by_text(items):
    return {p.text: p for p in items}


def test_cited_in_sentence_item_row_and_after_the_full_stop():
    nums = by_text(prose_numbers(NOTE, "例子.md"))
    assert nums["1750 亿"].cited and nums["1750 亿"].line == 8
    assert nums["2048"].cited and nums["15 亿"].cited and nums["2017"].cited
    assert not nums["96"].cited and not nums["3.14e23"].cited  # the sentence after the cited one
    assert not nums["12288"].cited and not nums["3.4 亿"].cited


def test_nothing_from_code_math_bindings_frontmatter_footnotes_or_numbering():
    texts = [p.text for p in prose_numbers(NOTE, "例子.md")]
    for absent in ("0.5834", "512", "20", "2.1", "175B", "3.2.2", "1706.03762", "2005.14165", "5.1"):
        assert absent not in texts, absent
    assert texts.count("2020") == 0  # only in footnote definitions


def test_uncited_report_lists_unbound_uncited_numbers_only():
    report = [(p.line, p.text) for p in uncited_numbers(NOTE, "例子.md")]
    assert report == [(8, "96"), (8, "3.14e23"), (13, "12288"), (18, "3.4 亿"), (33, "96")]
    # not "第 12 步", "3 个头", the references section or arXiv ids


def test_handtyped_values_name_the_snippet_key_and_line():
    exported = {"gpt.py": {"n_params": 124_439_808, "width": 12288, "heads": 3, "ok": True},
                "bert.py": {"params": 340_000_000.0}}
    found = [str(h) for h in handtyped_values(NOTE, "例子.md", exported)]
    assert len(found) == 2
    assert found[0].startswith("例子.md:13: '12288' is gpt.py:width = 12288 typed by hand; bind it: {{gpt.py:width}}")
    assert found[1].startswith("例子.md:18: '3.4 亿' is bert.py:params")


def test_kbgen_check_prints_the_report(tmp_path: Path, capsys) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "snippets").mkdir()
    (tmp_path / "docs/例子.md").write_text(NOTE, encoding="utf-8")
    rc = main(["--root", str(tmp_path), "check"])
    out = capsys.readouterr().out
    assert "uncited   docs/例子.md:8: 96 — " in out
    assert "5 number(s) in prose neither bound nor cited" in out
    assert rc == 0
