"""Reliability: cache faults beyond a corrupted entry. Every damaged piece of cache state makes
the affected snippet re-execute (never a crash, never a wrong result), and a failed run never
replaces the last good entry.

Covered elsewhere (not repeated): a figure corrupted or ``result.json`` truncated inside an entry
(checksum; ``test_snippets_cache.py::test_corrupted_entry_is_detected_and_reexecuted``), a failure
never cached and the last good entry kept (``::test_failure_is_never_cached_and_keeps_last_good_entry``),
a SIGKILL-ed engine (``::test_sigkilled_build_leaves_a_usable_cache``), two engines on one cache
(``::test_concurrent_builds_serialise_on_the_lock``); the same faults through whole ``mkdocs build``
runs are in ``test_reliability_site.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import engine, make_project  # noqa: E402

DAMAGES = ("index_garbage", "index_not_a_list", "manifest_garbage", "manifest_missing", "entry_deleted",
           "result_not_json", "stray_file")
#: One snippet per kind of damage, plus one left alone; each prints its own name.
SNIPS = {f"{n}.py": f"# %% a\nprint({n!r})\n" for n in (*DAMAGES, "intact")}


@pytest.fixture()
def warm(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "p", SNIPS)
    assert {o.status for o in run(root).values()} == {"executed"}
    return root


def run(root: Path):
    return engine(root, preload=()).execute()  # nothing to preload: these snippets import nothing


def cache(root: Path) -> Path:
    return root / ".cache/kbgen"


def rerun(root: Path) -> dict[str, tuple[str, str]]:
    out = run(root)
    for o in out.values():
        assert o.ok, o.message
        assert o.cell_result("a").outputs[0].text == o.snippet.stem + "\n"  # the right output
    return {n: (o.status, o.reason) for n, o in out.items()}


def damage(e: Path, index: Path, kind: str) -> None:
    if kind == "index_garbage":
        index.write_bytes(b"\x00\xffnot json")
    elif kind == "index_not_a_list":
        index.write_text(json.dumps({"ids": "abc"}))
    elif kind == "manifest_garbage":
        (e / "manifest.json").write_text("{")
    elif kind == "manifest_missing":
        (e / "manifest.json").unlink()
    elif kind == "entry_deleted":
        for f in e.iterdir():
            f.unlink()
        e.rmdir()
    elif kind == "result_not_json":
        (e / "result.json").write_text("[1, 2")
    elif kind == "stray_file":  # a stray file in an entry is ignored, not trusted
        (e / "stray.svg").write_text("<svg/>")


def test_damaged_cache_state_reexecutes_only_the_damaged_snippets(warm: Path) -> None:
    out = run(warm)
    indexes = {p: p.read_text() for p in (cache(warm) / "index").glob("*.json")}
    for kind in DAMAGES:
        e = out[f"{kind}.py"].dir
        damage(e, next(p for p, text in indexes.items() if e.name in text), kind)
    st = rerun(warm)
    assert st.pop("intact.py") == ("cached", "")
    assert st.pop("stray_file.py") == ("cached", "")
    for name, (status, reason) in st.items():
        assert status == "executed" and reason in ("miss", "corrupt"), (name, status, reason)
    assert {s for s, _ in rerun(warm).values()} == {"cached"}  # the repaired entries are used again


def test_damaged_shared_state_and_dead_runs_are_ignored(warm: Path) -> None:
    for name in ("timings.json", "last-report.json"):
        (cache(warm) / name).write_text("{not json")
    (cache(warm) / "lock").write_text("garbage")  # the lock is a flock: its content is irrelevant
    junk = cache(warm) / "tmp" / "999999999-deadbeef0000"  # a run of a build whose pid is gone
    junk.mkdir()
    (junk / "result.json").write_text('{"status": "ok"}')
    assert set(rerun(warm).values()) == {("cached", "")}
    # dead runs are swept when a build next executes something
    (warm / "snippets/intact.py").write_text((warm / "snippets/intact.py").read_text() + "\n")
    assert rerun(warm)["intact.py"][0] == "executed"
    assert not junk.exists()
