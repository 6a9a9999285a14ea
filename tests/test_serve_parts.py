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
    html = ('<p>x</p><figure class="kb-embed" data-snippet="rag.py">\n<pre>old</pre></figure>'
            '<figure class="kb-embed" data-snippet="other.py">\n<pre>o</pre></figure>'
            '<figure class="kb-embed" data-snippet="rag.py">\n<pre>again</pre></figure>')
    out = mark_updating(html, ["rag.py"], "zh")
    assert out.count("kb-updating") == 2 and "更新中" in out
    assert out.index("kb-updating") > out.index('data-snippet="rag.py"')
    assert 'data-snippet="other.py">\n<pre>o</pre>' in out  # untouched
    assert "Updating" in mark_updating(html, ["other.py"], "en") and mark_updating(html, [], "zh") == html


def _index(texts: dict[str, str]):
    from kbgen.vault.index import VaultIndex, parse_note

    return VaultIndex([parse_note(p, t) for p, t in texts.items()])


def _graph(index) -> dict:
    return {p: (index.outlinks(p), index.backlinks(p), index.notes[p].title,
                [(r.kind, r.path, r.note.title if r.note else None)
                 for r in (index.resolve(l.target, p) for l in index.notes[p].links)])
            for p in index.notes}


def test_patched_index_equals_a_rebuilt_one() -> None:
    from kbgen.serve.reindex import PATCHABLE, with_note
    from kbgen.vault.index import parse_note

    texts = {
        "a.md": "---\naliases: [甲]\n---\n# A\n\n[[b]] [[c#二]] [[甲]]\n",
        "b.md": "# B\n\n[[a]] [[d/e]]\n",
        "c.md": "# C\n\n## 二\n\n[[a|x]] [[#二]]\n",
        "d/e.md": "# E\n\n[[甲]]\n",
    }
    edits = {
        "c.md": "---\ntitle: 新标题\n---\n# C\n\n## 三\n\n[[b]] [[d/e]] [[#三]]\n",  # links, title, heading
        "b.md": "# B\n\nno links any more\n",
        "a.md": "---\naliases: [乙]\n---\n# A\n\n[[b]]\n",  # aliases changed: rebuilt, same result
        "d/e.md": "# E\n\n[[乙]] [[c]] [[c]]\n",
    }
    index = _index(texts)
    assert set(vars(index)) == PATCHABLE, "VaultIndex changed its attributes: update kbgen.serve.reindex"
    _graph(index)  # warm every cache the patch carries over
    for path, text in edits.items():
        before = _graph(index)
        patched = with_note(index, parse_note(path, text))
        texts[path] = text
        assert _graph(patched) == _graph(_index(texts)), path
        assert _graph(index) == before  # the old index is left as it was
        index = patched
