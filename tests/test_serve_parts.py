"""The parts of kbgen.serve that need no server: what changed on disk, which snippets an edit
makes stale, and the "updating" notice on their embeds."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

from kbgen.serve.notice import mark_updating, stale_snippets
from kbgen.serve.sources import compare, snapshot
from kbgen.snippets.contract import Dependencies


def test_snapshot_compare_sees_modified_added_deleted_and_skips_hidden(tmp_path: Path) -> None:
    (tmp_path / "docs/a").mkdir(parents=True)
    (tmp_path / "docs/.obsidian").mkdir()
    for rel in ("docs/a/x.md", "docs/y.md", "docs/.obsidian/ws.json", "mkdocs.yml"):
        (tmp_path / rel).write_text("1")
    roots = [tmp_path / "docs", tmp_path / "mkdocs.yml", tmp_path / "missing"]
    before = snapshot(roots)
    assert str(tmp_path / "docs/.obsidian/ws.json") not in before and str(tmp_path / "mkdocs.yml") in before
    (tmp_path / "docs/a/x.md").write_text("22")  # size changes
    y = tmp_path / "docs/y.md"
    os.utime(y, ns=(before[str(y)][0] + 1_000_000, before[str(y)][0] + 1_000_000))  # same size, newer
    (tmp_path / "docs/z.md").write_text("new")
    (tmp_path / "mkdocs.yml").unlink()
    ch = compare(before, snapshot(roots))
    assert ch.modified == {str(tmp_path / "docs/a/x.md"), str(y)}
    assert ch.added == {str(tmp_path / "docs/z.md")} and ch.deleted == {str(tmp_path / "mkdocs.yml")}
    assert not compare(before, before)


def _outcome(files: dict[str, str], modules: dict[str, str] | None = None) -> SimpleNamespace:
    return SimpleNamespace(result=SimpleNamespace(deps=Dependencies(modules or {}, files, {})))


def test_stale_snippets_are_those_that_read_an_edited_file(tmp_path: Path) -> None:
    engine = SimpleNamespace(root=tmp_path.resolve(), outcomes={
        "rag.py": _outcome({"docs/a.md": "h", "docs/b.md": "h"}),
        "other.py": _outcome({"data/x.txt": "h"}, {"core/m.py": "h"}),
        "failed.py": SimpleNamespace(result=None),
    })
    assert stale_snippets(engine, [tmp_path / "docs/b.md"]) == ["rag.py"]
    assert stale_snippets(engine, [tmp_path / "docs/c.md", Path("/elsewhere/docs/a.md")]) == []
    assert stale_snippets(None, [tmp_path / "docs/b.md"]) == []


def test_updating_notice_goes_on_the_stale_embeds_only() -> None:
    html = ('<p>x</p><figure class="kbgen-embed" data-snippet="rag.py">\n<pre>old</pre></figure>'
            '<figure class="kbgen-embed" data-snippet="other.py">\n<pre>o</pre></figure>'
            '<figure class="kbgen-embed" data-snippet="rag.py">\n<pre>again</pre></figure>')
    out = mark_updating(html, ["rag.py"], "zh")
    assert out.count("kbgen-updating") == 2 and "更新中" in out
    assert out.index("kbgen-updating") > out.index('data-snippet="rag.py"')
    assert 'data-snippet="other.py">\n<pre>o</pre>' in out  # untouched
    assert "Updating" in mark_updating(html, ["other.py"], "en") and mark_updating(html, [], "zh") == html
