"""Integration: real ``mkdocs build --strict`` of a small fixture vault with snippets."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import make_project, write  # noqa: E402

MKDOCS = [sys.executable, "-m", "mkdocs", "build", "--strict"]

CONFIG = """
site_name: kbgen snippets fixture
use_directory_urls: false
theme:
  name: material
  language: zh
plugins:
  - search
  - kbgen:
      site: false
      graph_page: ""
      tags_dir: ""
      local_graph: false
markdown_extensions:
  - toc:
      permalink: true
"""

NOTE = """---
title: 注意力笔记
---

# 注意力笔记

正文 $x$，见 [[s_direct.py]]。

![[s_plot.py#heatmap]]

![[s_data.py]]

## 动手运行

```bash
.venv/bin/python snippets/s_plot.py
```
"""


def build(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(MKDOCS, cwd=root, capture_output=True, text=True, timeout=300)


def report(root: Path) -> dict:
    return json.loads((root / "site/kbgen-report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("vault"))
    write(root / "mkdocs.yml", CONFIG)
    write(root / "docs/笔记/注意力.md", NOTE)
    return root


def test_build_report_pages_and_embeds(vault: Path) -> None:
    r = build(vault)
    assert r.returncode == 0, r.stderr
    assert "kbgen: 5 snippets, 5 executed, 0 cached, 0 failed" in r.stderr
    rep = report(vault)
    assert {e["status"] for e in rep["snippets"]} == {"executed"}
    by = {e["name"]: e for e in rep["snippets"]}
    assert set(by["s_trans.py"]["deps"]["modules"]) == {"fakecore/__init__.py", "fakecore/a.py", "fakecore/b.py"}
    assert "笔记/注意力.md" in by["s_plot.py"]["references"]

    site = vault / "site"
    note = (site / "笔记/注意力.html").read_text(encoding="utf-8")
    # embed: escaped text, figure as a file with a relative URL (works from file://), caption
    assert "x &lt; y &amp; z" in note
    m = re.search(r'<img src="([^"]+heatmap-1\.svg)"', note)
    assert m and m.group(1) == "../snippets/s_plot/heatmap-1.svg"
    assert (site / "笔记" / m.group(1)).resolve().is_file()
    assert "data:image" not in note
    assert ".venv/bin/python snippets/s_plot.py" in note
    assert 'href="../snippets/s_plot.html#cell-heatmap"' in note

    page = (site / "snippets/s_direct.html").read_text(encoding="utf-8")
    assert len(page.encode()) < 150_000
    assert 'id="直接导入"' in page  # a real id on a Chinese heading
    assert "jp-Notebook" not in page and "In&nbsp;[" not in page
    assert 'href="s_direct.py"' in page and 'href="s_direct.ipynb"' in page
    assert "注意力笔记" in page  # the note that links it is listed
    assert "$a_i = b^2$" in page  # math in Markdown cells passes through untouched
    nb = json.loads((site / "snippets/s_plot.ipynb").read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4 and any(o.get("output_type") == "display_data" for c in nb["cells"] for o in c.get("outputs", []))
    assert (site / "snippets/index.html").is_file()  # run-times page
    search = (site / "search/search_index.json").read_text(encoding="utf-8")
    assert "base64" not in search


def test_second_build_executes_nothing_then_rules_hold(vault: Path) -> None:
    r = build(vault)
    assert r.returncode == 0, r.stderr
    assert "kbgen: 5 snippets, 0 executed, 5 cached, 0 failed" in r.stderr
    # prose edit -> nothing; module edit -> exactly its importers
    note = vault / "docs/笔记/注意力.md"
    note.write_text(note.read_text(encoding="utf-8") + "\n补充一句。\n", encoding="utf-8")
    write(vault / "fakecore/a.py", "from fakecore.b import base\n\ndef plus_one():\n    return base() + 100\n")
    r = build(vault)
    assert r.returncode == 0, r.stderr
    st = {e["name"]: e["status"] for e in report(vault)["snippets"]}
    assert st == {"s_direct.py": "cached", "s_trans.py": "executed", "s_other.py": "cached", "s_data.py": "cached", "s_plot.py": "cached"}


def test_raising_snippet_fails_strict_with_path_line_and_note(vault: Path, tmp_path: Path) -> None:
    bad = vault / "snippets/s_data.py"
    old = bad.read_text()
    try:
        bad.write_text(old + "\n# %% explode\nraise RuntimeError('数据不对')\n")
        line = len(bad.read_text().splitlines())
        r = build(vault)
        assert r.returncode != 0
        assert f"snippets/s_data.py:{line}: RuntimeError: 数据不对" in r.stderr
        assert "笔记/注意力.md" in r.stderr and "Traceback" in r.stderr
        # without --strict: the error is shown in place (escaped) and the rest builds
        r = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=vault, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "kbgen: 5 snippets, 0 executed, 4 cached, 1 failed" in r.stderr
        note = (vault / "site/笔记/注意力.html").read_text(encoding="utf-8")
        assert "kb-error" in note and "RuntimeError: 数据不对" in note
    finally:
        bad.write_text(old)


def test_execute_false_runs_nothing_and_pages_show_source(tmp_path: Path) -> None:
    """``execute: false``: no snippet runs (not even a raising one), the cache is neither read
    nor written, pages keep the source and say why there is no output; --strict passes."""
    root = make_project(tmp_path)
    write(root / "mkdocs.yml", CONFIG.replace("      site: false\n", "      site: false\n      execute: false\n"))
    write(root / "docs/笔记/注意力.md", NOTE)
    bad = root / "snippets/s_data.py"
    bad.write_text(bad.read_text() + "\n# %% explode\nraise RuntimeError('数据不对')\n")
    r = build(root)
    assert r.returncode == 0, r.stderr
    assert "kbgen: 5 snippets, 0 executed, 0 cached, 0 failed, 5 skipped (execute: false)" in r.stderr
    assert not list((root / ".cache/kbgen").glob("entries/*"))
    assert {e["status"] for e in report(root)["snippets"]} == {"skipped"}
    assert all("error" not in e for e in report(root)["snippets"])
    site = root / "site"
    page = (site / "snippets/s_plot.html").read_text(encoding="utf-8")
    assert "execute: false" in page and "plt" in page and "<img" not in page
    assert "s_plot.ipynb（未执行的 notebook）" in page
    note = (site / "笔记/注意力.html").read_text(encoding="utf-8")
    assert note.count('class="kb-skipped"') == 2 and "kb-error" not in note
    assert 'href="../snippets/s_plot.html#cell-heatmap"' in note
    nb = json.loads((site / "snippets/s_plot.ipynb").read_text(encoding="utf-8"))
    assert not any(c.get("outputs") for c in nb["cells"])
