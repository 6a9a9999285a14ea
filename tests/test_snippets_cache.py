"""The cache's invalidation rules, integrity and crash safety (temporary projects)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import BOOT, engine, make_project, statuses, write  # noqa: E402

HELPERS = Path(__file__).parent / "fixtures" / "snippets_project"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "proj")
    assert set(statuses(root).values()) == {"executed"}
    return root


def out_text(outcome, cell: str) -> str:
    return outcome.cell_result(cell).text()


def executed(st: dict[str, str]) -> set[str]:
    return {n for n, s in st.items() if s == "executed"}


def test_warm_build_executes_nothing(project: Path) -> None:
    assert set(statuses(project).values()) == {"cached"}


def test_prose_edit_reexecutes_nothing(project: Path) -> None:
    note = project / "docs/index.md"
    note.write_text(note.read_text(encoding="utf-8") + "\n更多说明。\n", encoding="utf-8")
    assert executed(statuses(project)) == set()


def test_snippet_edit_reexecutes_only_it(project: Path) -> None:
    p = project / "snippets/s_other.py"
    p.write_text(p.read_text() + "print('more')\n")
    assert executed(statuses(project)) == {"s_other.py"}


def test_module_edit_reexecutes_exactly_its_importers(project: Path) -> None:
    # b is imported by s_direct directly and by s_trans through a: both, and nothing else.
    write(project / "fakecore/b.py", "def base():\n    return 42\n")
    st = engine(project).execute()
    assert executed({n: o.status for n, o in st.items()}) == {"s_direct.py", "s_trans.py"}
    assert "plus_one = 43" in out_text(st["s_trans.py"], "value")
    # a is only reached from s_trans.
    write(project / "fakecore/a.py", "from fakecore.b import base\n\ndef plus_one():\n    return base() + 2\n")
    assert executed(statuses(project)) == {"s_trans.py"}


def test_manifest_records_transitive_modules_and_data(project: Path) -> None:
    out = engine(project).execute()
    assert set(out["s_trans.py"].result.deps.modules) == {"fakecore/__init__.py", "fakecore/a.py", "fakecore/b.py"}
    assert set(out["s_direct.py"].result.deps.modules) == {"fakecore/__init__.py", "fakecore/b.py"}
    assert out["s_data.py"].result.deps.files == {
        "data/values.txt": __import__("hashlib").sha256(b"1 2 3\n").hexdigest()
    }


def test_data_file_edit_reexecutes_its_readers(project: Path) -> None:
    write(project / "data/values.txt", "4 5 6\n")
    st = engine(project).execute()
    assert executed({n: o.status for n, o in st.items()}) == {"s_data.py"}
    assert out_text(st["s_data.py"], "load") == "4 5 6\n"


def test_revert_hits_the_previous_entry(project: Path) -> None:
    b = project / "fakecore/b.py"
    old = b.read_text()
    write(b, "def base():\n    return 7\n")
    assert executed(statuses(project)) == {"s_direct.py", "s_trans.py"}
    b.write_text(old)
    assert executed(statuses(project)) == set()


def test_corrupted_entry_is_detected_and_reexecuted(project: Path) -> None:
    e = engine(project)
    out = e.execute()
    entry = out["s_plot.py"].dir
    fig = next(entry.glob("heatmap-1.*"))
    fig.write_bytes(fig.read_bytes()[:-40] + b"garbage")
    e2 = engine(project)
    st = e2.execute()
    assert st["s_plot.py"].status == "executed" and st["s_plot.py"].reason == "corrupt"
    assert {n for n, o in st.items() if o.status == "executed"} == {"s_plot.py"}
    # and a truncated result.json (half-written entry) is never read
    res = st["s_plot.py"].dir / "result.json"
    res.write_text(res.read_text()[:50])
    assert engine(project).execute()["s_plot.py"].status == "executed"


def test_failure_is_never_cached_and_keeps_last_good_entry(project: Path) -> None:
    good = engine(project).execute()["s_direct.py"].dir
    write(project / "fakecore/b.py", "def base():\n    raise RuntimeError('broken')\n")
    st = engine(project).execute()
    assert st["s_direct.py"].status == "failed"
    assert good.is_dir() and (good / "manifest.json").is_file()
    assert engine(project).execute()["s_direct.py"].status == "failed"  # not served from cache
    write(project / "fakecore/b.py", "def base():\n    return 41\n")
    st = engine(project).execute()
    assert st["s_direct.py"].status == "cached" and st["s_direct.py"].dir == good


def test_figures_are_byte_identical_across_builds(tmp_path: Path) -> None:
    a = make_project(tmp_path / "a")
    b = make_project(tmp_path / "b")
    oa = engine(a).execute()["s_plot.py"]
    ob = engine(b).execute()["s_plot.py"]
    figs = oa.figures()
    assert figs == ["heatmap-1.svg", "line-1.svg"]
    for f in figs:
        da, db = (oa.dir / f).read_bytes(), (ob.dir / f).read_bytes()
        assert da == db
        assert b"<dc:date>" not in da
    # and a forced re-execution in the same project rewrites the same bytes
    oc = engine(a).executor.run([engine(a).load()["s_plot.py"]], force=True)["s_plot.py"]
    assert all((oc.dir / f).read_bytes() == (oa.dir / f).read_bytes() for f in figs)


_KILL_DRIVER = """
import sys
sys.path.insert(0, {tests!r})
from snippets_helpers import engine
from pathlib import Path
engine(Path({root!r}), jobs=2).execute()
"""


def test_sigkilled_build_leaves_a_usable_cache(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        {
            "fast.py": "# %% a\nprint('fast')\n",
            "slow.py": "# %% a\nprint('placeholder')\n",
        },
    )
    pidfile = tmp_path / "slow.pid"  # outside the project: snippets may not write into it
    write(root / "snippets/slow.py", BOOT + f"# %% a\nimport os, time\nopen({str(pidfile)!r},'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    drv = subprocess.Popen(
        [sys.executable, "-c", _KILL_DRIVER.format(tests=str(HELPERS), root=str(root))],
        cwd=root,
    )
    deadline = time.time() + 60
    while not pidfile.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert pidfile.exists()
    time.sleep(1.0)  # fast.py finishes and commits meanwhile
    drv.send_signal(signal.SIGKILL)
    drv.wait()
    # the orphaned snippet is killed by the fork server once its build is gone
    pid = int(pidfile.read_text())
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("snippet of the killed build still running")
    # next build: fast.py comes from the cache, slow.py is re-run (now fixed), no junk used
    write(root / "snippets/slow.py", BOOT + "# %% a\nprint('slow done')\n")
    st = engine(root).execute()
    assert st["fast.py"].status == "cached"
    assert st["slow.py"].status == "executed"
    assert list((root / ".cache/kbgen/tmp").iterdir()) == []


def test_concurrent_builds_serialise_on_the_lock(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"one.py": "# %% a\nimport time\ntime.sleep(1)\nprint(1)\n"})
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _KILL_DRIVER.format(tests=str(HELPERS), root=str(root))], cwd=root
        )
        for _ in range(2)
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    index = list((root / ".cache/kbgen/index").glob("*.json"))
    assert len(index) == 1 and len(json.loads(index[0].read_text())["ids"]) == 1
    assert statuses(root) == {"one.py": "cached"}
