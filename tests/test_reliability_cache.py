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


def test_tampered_index_never_addresses_anything_outside_the_cache(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ids with ``/``, ``..`` and absolute paths, an entry that is a symlink, a manifest naming
    files outside its entry, recorded dependencies outside the project, a result naming a figure
    outside its folder: all discarded with a warning; a victim folder beside the project survives."""
    import os

    root = make_project(tmp_path / "p", SNIPS)
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "keep.txt").write_text("precious\n")
    (victim / "sub" / "result.json").write_text("{}")
    (victim / "manifest.json").write_text("{}")
    out = run(root)
    entries = cache(root) / "entries"
    rel_victim = os.path.relpath(victim, entries)
    indexes = sorted((cache(root) / "index").glob("*.json"))
    hostile_ids = [rel_victim, rel_victim + "/sub", "..", "../..", str(victim), "/" + "a" * 31, "a/" + "b" * 30,
                   "../../../" + victim.name, "0" * 31 + "/"]
    for p in indexes:
        ids = json.loads(p.read_text())["ids"]
        p.write_text(json.dumps({"ids": hostile_ids + ids}))
    # an entry id that is a well-formed hex digest but a symlink to the victim
    fake = "f" * 32
    os.symlink(victim, entries / fake)
    first = indexes[0]
    first.write_text(json.dumps({"ids": [fake] + json.loads(first.read_text())["ids"]}))
    # a manifest naming files outside its entry, dependencies outside the project
    e1, e2, e3 = (out[f"{n}.py"].dir for n in ("intact", "stray_file", "entry_deleted"))
    m = json.loads((e1 / "manifest.json").read_text())
    m["files"][f"../../../../{victim.name}/keep.txt"] = "0" * 64
    (e1 / "manifest.json").write_text(json.dumps(m))
    m = json.loads((e2 / "manifest.json").read_text())
    m["deps"]["files"] = {f"../{victim.name}/keep.txt": "0" * 64, str(victim / "keep.txt"): "0" * 64}
    (e2 / "manifest.json").write_text(json.dumps(m))
    # a result naming a figure outside its folder (checksums updated to match: only the name is wrong)
    res = json.loads((e3 / "result.json").read_text())
    res["cells"][0]["outputs"].append({"type": "image", "file": f"../../../../{victim.name}/keep.txt", "format": "svg"})
    (e3 / "result.json").write_text(json.dumps(res))
    import hashlib

    m = json.loads((e3 / "manifest.json").read_text())
    m["files"]["result.json"] = hashlib.sha256((e3 / "result.json").read_bytes()).hexdigest()
    (e3 / "manifest.json").write_text(json.dumps(m))
    # a symlink among the runs in progress of a dead build
    os.symlink(victim, cache(root) / "tmp" / "999999999-aaaaaaaaaaaa")

    caplog.set_level("WARNING")
    st = rerun(root)
    for n in ("intact.py", "stray_file.py", "entry_deleted.py"):
        assert st[n][0] == "executed", (n, st[n])
    assert sorted(p.relative_to(victim).as_posix() for p in victim.rglob("*")) == ["keep.txt", "manifest.json", "sub", "sub/result.json"]
    assert (victim / "keep.txt").read_text() == "precious\n"
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "discarded invalid ids" in warned and "discarded cache entry" in warned
    for p in (cache(root) / "index").glob("*.json"):  # the indexes are repaired
        assert all(len(i) == 32 and "/" not in i for i in json.loads(p.read_text())["ids"])
    assert set(rerun(root).values()) == {("cached", "")}
    assert (victim / "keep.txt").read_text() == "precious\n"


def _gate(sig: Path) -> str:
    return (
        "# %% wait\nimport pathlib, time\n"
        f"_sig = pathlib.Path({str(sig)!r})\n(_sig / 'started').touch()\n_t = time.monotonic()\n"
        "while not (_sig / 'go').exists():\n    assert time.monotonic() - _t < 60\n    time.sleep(0.01)\n\n"
    )


def _wait_for(path: Path, alive) -> None:
    import time

    t0 = time.monotonic()
    while not path.exists():
        assert alive() and time.monotonic() - t0 < 60, f"{path.name} never appeared"
        time.sleep(0.01)


def test_cache_removed_mid_build_fails_with_one_message_and_the_next_build_recovers(tmp_path: Path) -> None:
    import shutil
    import threading

    from kbgen.snippets.cache import CacheRemovedError

    sig = tmp_path / "sig"
    sig.mkdir()
    root = make_project(tmp_path / "p", {"gated.py": _gate(sig) + "# %% a\nprint('gated')\n",
                                         "plain.py": "# %% a\nprint('plain')\n"})
    caught: list[BaseException] = []

    def build() -> None:
        try:
            run(root)
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            caught.append(e)

    t = threading.Thread(target=build)
    t.start()
    _wait_for(sig / "started", t.is_alive)
    shutil.rmtree(root / ".cache")
    (sig / "go").touch()
    t.join(120)
    if caught:  # failing is allowed: with one clear message, no traceback of kbgen's
        assert isinstance(caught[0], CacheRemovedError), repr(caught[0])
        assert "was removed while this build was using it" in str(caught[0]) and "build again" in str(caught[0])
    st = rerun(root)  # the next build recovers
    assert {s for s, _ in st.values()} == {"executed"}
    assert {s for s, _ in rerun(root).values()} == {"cached"}


def test_cache_removed_mid_mkdocs_build_is_one_clear_message(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import threading

    sig = tmp_path / "sig"
    sig.mkdir()
    root = make_project(tmp_path / "p", {"gated.py": _gate(sig) + "# %% a\nprint('gated')\n"})
    (root / "mkdocs.yml").write_text("site_name: t\nplugins:\n  - kbgen:\n      site: false\n")
    cmd = [sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(root / "mkdocs.yml"), "-d", str(tmp_path / "site")]
    proc: dict[str, subprocess.CompletedProcess] = {}
    t = threading.Thread(target=lambda: proc.setdefault("p", subprocess.run(cmd, capture_output=True, text=True, cwd=root)))
    t.start()
    _wait_for(sig / "started", t.is_alive)
    shutil.rmtree(root / ".cache")
    (sig / "go").touch()
    t.join(300)
    p = proc["p"]
    if p.returncode != 0:
        assert "was removed while this build was using it" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr, p.stderr
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "site/snippets/gated/index.html").exists()


def test_lock_is_held_only_by_the_build_process(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A snippet that leaves a daemon behind (double fork + setsid escapes its process group)
    must not keep the cache lock: the next build starts at once."""
    import fcntl
    import os
    import signal

    sig = tmp_path / "sig"
    sig.mkdir()
    daemon = (
        "# %% a\nimport os, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        open({str(sig / 'daemon.pid')!r} + '.tmp', 'w').write(str(os.getpid()))\n"
        f"        os.rename({str(sig / 'daemon.pid')!r} + '.tmp', {str(sig / 'daemon.pid')!r})\n"
        "        time.sleep(120)\n    os._exit(0)\nos.wait()\nprint('done')\n"
    )
    root = make_project(tmp_path / "p", {"daemon.py": daemon})
    assert run(root)["daemon.py"].status == "executed"
    _wait_for(sig / "daemon.pid", lambda: True)
    pid = int((sig / "daemon.pid").read_text())
    try:
        assert Path(f"/proc/{pid}").exists()  # the daemon is alive...
        fd = os.open(cache(root) / "lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ...and does not hold the lock
        finally:
            os.close(fd)
        caplog.set_level("INFO")
        assert run(root)["daemon.py"].status == "cached"
        assert "waiting for" not in caplog.text
    finally:
        os.kill(pid, signal.SIGKILL)


def test_a_waiting_build_names_the_lock_holder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import fcntl
    import os
    import threading
    import time

    root = make_project(tmp_path / "p", {"a.py": "# %% a\nprint('a')\n"})
    run(root)
    fd = os.open(cache(root) / "lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    caplog.set_level("INFO")
    t = threading.Thread(target=lambda: run(root))
    t.start()
    try:
        t0 = time.monotonic()
        while "waiting for the build holding" not in caplog.text:
            assert time.monotonic() - t0 < 60
            time.sleep(0.01)
        assert f"pid {os.getpid()}" in caplog.text
    finally:
        os.close(fd)
        t.join(60)
