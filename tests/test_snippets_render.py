"""Embeds, snippet pages, notebooks and the provider contract (no site build)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from mkdocs.config.defaults import MkDocsConfig

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import engine, make_project, site_files  # noqa: E402

from kbgen.contracts import SnippetProvider, SnippetRefError  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = make_project(tmp_path_factory.mktemp("render"))
    cfg = MkDocsConfig()
    cfg.load_dict({"site_name": "t", "docs_dir": str(root / "docs"), "site_dir": str(root / "site"), "use_directory_urls": True})
    cfg.validate()
    cfg.plugins._current_plugin = "kbgen"  # what MkDocs sets while a plugin's event runs
    e = engine(root)
    files = site_files(e, cfg, REFS)
    return SimpleNamespace(root=root, engine=e, files=files, cfg=cfg)


REFS = {"s_direct.py": [("index.md", "首页")], "s_plot.py": [("index.md", "首页")]}


def test_engine_is_a_snippet_provider(built) -> None:
    e = built.engine
    provider: SnippetProvider = e
    assert provider.is_snippet("s_plot.py") and not provider.is_snippet("nope.py")
    assert provider.page_src_uri("s_plot.py") == "snippets/s_plot.md"


def test_generated_files(built) -> None:
    uris = {f.src_uri for f in built.files}
    assert {"snippets/s_plot.md", "snippets/s_plot.py", "snippets/s_plot.ipynb", "snippets/s_plot/heatmap-1.svg", "snippets/index.md"} <= uris
    nb = nbformat.reads(built.files.get_file_from_path("snippets/s_plot.ipynb").content_string, as_version=4)
    nbformat.validate(nb)
    assert [c["id"] for c in nb.cells] == [f"cell-{i}" for i in range(len(nb.cells))]  # deterministic


def test_embed_cell_outputs_escaped_with_relative_urls_and_caption(built) -> None:
    html = built.engine.embed_html("s_plot.py", "heatmap", page_url="核心组件/自注意力机制/", note="核心组件/自注意力机制.md", line=3)
    assert "x &lt; y &amp; z" in html and "x < y" not in html
    assert '<img src="../../snippets/s_plot/heatmap-1.svg"' in html
    assert 'href="../../snippets/s_plot/#cell-heatmap"' in html
    assert ".venv/bin/python snippets/s_plot.py" in html
    assert "line-1.svg" not in html  # only the requested cell


def test_embed_all_outputs(built) -> None:
    html = built.engine.embed_html("s_plot.py", None, page_url="", note="index.md", line=1)
    assert "heatmap-1.svg" in html and "line-1.svg" in html


def test_unknown_snippet_or_cell_raises(built) -> None:
    with pytest.raises(SnippetRefError, match=r"index.md:7: .*no snippet named 'missing.py'"):
        built.engine.embed_html("missing.py", None, page_url="", note="index.md", line=7)
    with pytest.raises(SnippetRefError, match=r"no cell titled 'nope' \(titles: setup, heatmap, line\)"):
        built.engine.embed_html("s_plot.py", "nope", page_url="", note="index.md", line=7)


def test_page_lists_references_and_keeps_math(built) -> None:
    e = built.engine
    page = built.files.get_file_from_path("snippets/s_direct.md")
    assert "首页" in page.content_string  # pushed by the plugin from the vault index
    e.set_references({"s_direct.py": [("核心组件/RAG (检索增强生成).md", "RAG")]})
    text = e.pages()["snippets/s_direct.md"]
    assert "[RAG](../%E6%A0%B8%E5%BF%83%E7%BB%84%E4%BB%B6/RAG%20%28%E6%A3%80%E7%B4%A2%E5%A2%9E%E5%BC%BA%E7%94%9F%E6%88%90%29.md)" in text
    assert "$a_i = b^2$" in text
    assert text.count("# 直接导入") == 1
    assert "<pre class=\"kb-output kb-stdout\"><code>base = 41</code></pre>" in text


def test_failed_snippet_embeds_escaped_error(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"bad.py": "# %% c\nraise ValueError('<script>alert(1)</script>')\n"})
    e = engine(root)
    e.execute()
    e.references = {"bad.py": [("n.md", "笔记N")]}
    html = e.embed_html("bad.py", "c", page_url="", note="n.md", line=1)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "snippets/bad.py:3" in html  # line 1 is the sys.path bootstrap and "笔记N" in html


def test_report_and_summary(built, tmp_path: Path) -> None:
    e = built.engine
    site = tmp_path / "site"
    site.mkdir()
    e.write_report(site)
    rep = json.loads((site / "kbgen-report.json").read_text(encoding="utf-8"))
    assert rep["line"] == e.summary()
    assert {x["name"] for x in rep["snippets"]} == {"s_data.py", "s_direct.py", "s_other.py", "s_plot.py", "s_trans.py"}
    assert all(x["status"] in ("executed", "cached") for x in rep["snippets"])
    runtimes = built.files.get_file_from_path("snippets/index.md").content_string
    assert "s_plot.py" in runtimes and "Time (s)" in runtimes  # English: no theme.language here


def test_watch_paths(built) -> None:
    paths = {p.name for p in built.engine.watch_paths()}
    assert {"snippets", "fakecore", "data"} <= paths


def test_pages_identical_whether_executed_or_cached(built) -> None:
    e2 = engine(built.root)
    files2 = site_files(e2, built.cfg, REFS)
    assert {o.status for o in e2.outcomes.values()} == {"cached"}
    built.engine.set_references(REFS)  # an earlier test replaced them
    for uri, text in built.engine.pages().items():
        built.files.get_file_from_path(uri).content_string = text
    for uri in ("snippets/s_plot.md", "snippets/s_direct.md", "snippets/s_plot.ipynb"):
        assert files2.get_file_from_path(uri).content_string == built.files.get_file_from_path(uri).content_string
