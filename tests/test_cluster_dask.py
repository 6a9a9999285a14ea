"""The Dask executor (``executor: dask``) against a real LocalCluster of 2 single-threaded
worker processes on 127.0.0.1: the same site as the local executor byte for byte, cache hits
submit nothing, a worker SIGKILLed mid-snippet (retry, then a clear failure, never a hang), a
worker whose checkout differs (rejected, naming the file, never cached), GPU-tagged snippets
with no GPU worker, and the building machine's own timeout on a worker that stops answering.

Skipped when ``distributed`` is not installed (``pip install -e '.[cluster]'``; ``make test``
installs it through the dev extra). The real-vault comparison is opt-in
(``KBGEN_DASK_REAL_VAULT=1``): two cold builds of the real vault take minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

distributed = pytest.importorskip("distributed", reason="executor: dask needs `distributed` (pip install -e '.[cluster]')")

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "reliability"))
from site_project import make_site_project  # noqa: E402
from snippets_helpers import SNIPPETS, engine, make_project, write  # noqa: E402

from kbgen.snippets.cache import HashMemo  # noqa: E402
from kbgen.snippets.dask_executor import THREADS_ENV, ClusterOptions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
#: Files a build log may differ in (see tests/test_reliability_site.py): the sitemap's date and
#: kbgen's two run reports (seconds, executed/cached, and here: where each snippet ran).
ALLOWED = {"sitemap.xml", "sitemap.xml.gz", "kbgen-report.json", "snippets/index.html"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """2 worker processes x 1 thread on 127.0.0.1; a worker that dies mid-task gets one retry."""
    from distributed import Client, LocalCluster

    lc = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      scheduler_kwargs={"allowed_failures": 1}, env={THREADS_ENV: "1"})
    client = Client(lc)
    try:
        yield client
    finally:
        client.close()
        lc.close()


def options(client: Any, **kw: Any) -> ClusterOptions:
    return ClusterOptions(scheduler=client.scheduler.address, **kw)


def transitions(client: Any) -> int:
    """Task transitions the scheduler has made so far (unchanged = nothing was submitted)."""
    return int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter))


def tree(site: Path) -> dict[str, bytes]:
    return {f.relative_to(site).as_posix(): f.read_bytes() for f in sorted(site.rglob("*")) if f.is_file()}


def mkdocs_build(root: Path, strict: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mkdocs", "build"] + (["--strict"] if strict else [])
    return subprocess.run(cmd, cwd=root, env=ENV, capture_output=True, text=True, timeout=600)


def use_dask(root: Path, address: str) -> None:
    cfg = (root / "mkdocs.yml").read_text(encoding="utf-8")
    assert "\n  - kbgen\n" in cfg
    cfg = cfg.replace("\n  - kbgen\n", f"\n  - kbgen:\n      executor: dask\n      dask_scheduler: {address}\n")
    (root / "mkdocs.yml").write_text(cfg, encoding="utf-8")


def test_site_is_byte_identical_to_the_local_executor(cluster: Any, tmp_path: Path) -> None:
    local = make_site_project(tmp_path / "local")
    dask = make_site_project(tmp_path / "elsewhere" / "dask")
    use_dask(dask, cluster.scheduler.address)
    for root in (local, dask):  # a failing snippet too: its error, shown in the page, is the same
        write(root / "snippets/s_fail.py", "# %% boom\nraise ValueError('no luck')\n")
        write(root / "docs/笔记/失败.md", "---\ntitle: 失败\n---\n\n# 失败\n\n![[s_fail.py]]\n")
        r = mkdocs_build(root, strict=False)
        assert r.returncode == 0, r.stderr[-4000:]
    a, b = tree(local / "site"), tree(dask / "site")
    assert len(a) > 50
    assert sorted(p for p in set(a) | set(b) if p not in ALLOWED and a.get(p) != b.get(p)) == []
    assert "plus_one = 42" in (dask / "site/笔记/全部输出.html").read_text(encoding="utf-8")
    # where each snippet ran: worker addresses of this cluster in the report and the run-times page
    workers = set(cluster.scheduler_info()["workers"])
    rep = json.loads((dask / "site/kbgen-report.json").read_text(encoding="utf-8"))
    assert {e["name"] for e in rep["snippets"] if e["status"] != "executed"} == {"s_fail.py"}
    assert "snippets/s_fail.py:2: ValueError: no luck" in (dask / "site/笔记/失败.html").read_text(encoding="utf-8")
    assert {e["ran_on"] for e in rep["snippets"]} <= workers and len({e["ran_on"] for e in rep["snippets"]}) == 2
    local_rep = json.loads((local / "site/kbgen-report.json").read_text(encoding="utf-8"))
    assert {e["ran_on"] for e in local_rep["snippets"]} == {"local"}
    page = (dask / "site/snippets/index.html").read_text(encoding="utf-8")
    assert "运行于" in page and any(w in page for w in workers)

    # a rebuild submits nothing: every snippet is a cache hit on the building machine
    before = transitions(cluster)
    (dask / "snippets/s_fail.py").unlink()  # failures are never cached: it would run again
    (dask / "docs/笔记/失败.md").unlink()
    r = mkdocs_build(dask, strict=False)
    assert r.returncode == 0, r.stderr[-4000:]
    rep = json.loads((dask / "site/kbgen-report.json").read_text(encoding="utf-8"))
    assert {e["status"] for e in rep["snippets"]} == {"cached"} and {e["ran_on"] for e in rep["snippets"]} == {None}
    assert transitions(cluster) == before


def test_cache_hits_submit_nothing_and_an_edit_submits_only_its_snippets(cluster: Any, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    e = engine(root, executor="dask", cluster=options(cluster))
    assert {o.status for o in e.execute().values()} == {"executed"}
    before = transitions(cluster)
    e = engine(root, executor="dask", cluster=options(cluster))
    assert {o.status for o in e.execute().values()} == {"cached"}
    assert e.executor.submitted == [] and transitions(cluster) == before
    write(root / "fakecore/b.py", "def base():\n    return 40\n")  # read by s_direct and s_trans
    e = engine(root, executor="dask", cluster=options(cluster))
    out = e.execute()
    assert sorted(e.executor.submitted) == ["s_direct.py", "s_trans.py"]
    assert "base = 40" in out["s_direct.py"].cell_result("value").text()


KILLABLE = """
# %% victim
import os, pathlib, time
marker = pathlib.Path({marker!r})
fork_server = os.getppid()
worker = int(pathlib.Path(f"/proc/{{fork_server}}/stat").read_text().rsplit(")", 1)[1].split()[1])
attempt = len(marker.read_text().split()) if marker.exists() else 0
with open(marker, "a") as f:  # the temp dir: outside the project, so the write guard allows it
    f.write(f"{{worker}} ")
if attempt < {kills}:
    time.sleep(120)  # killed (with its worker) before this ends
print("survived attempt", attempt)
"""


def _kill_workers(marker: Path, kills: int, stop: threading.Event) -> list[int]:
    """SIGKILL the Dask worker process named in ``marker`` each time a new one appears."""
    killed: list[int] = []
    while len(killed) < kills and not stop.is_set():
        pids = [int(p) for p in marker.read_text().split()] if marker.exists() else []
        if len(pids) > len(killed):
            time.sleep(0.5)  # mid-run
            os.kill(pids[len(killed)], signal.SIGKILL)
            killed.append(pids[len(killed)])
        time.sleep(0.1)
    return killed


def _run_with_killer(root: Path, cluster: Any, marker: Path, kills: int) -> tuple[dict, list[int]]:
    e = engine(root, executor="dask", cluster=options(cluster), timeout=150)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(e.execute()), daemon=True)
    stop = threading.Event()
    runner.start()
    killed = _kill_workers(marker, kills, stop)
    runner.join(timeout=240)
    stop.set()
    assert not runner.is_alive(), "the build hung after a worker was killed"
    return result, killed


def test_worker_killed_mid_snippet_is_retried_elsewhere(cluster: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pids"
    root = make_project(tmp_path / "p", {"victim.py": KILLABLE.format(marker=str(marker), kills=1),
                                         "bystander.py": "# %% x\nprint('fine')\n"})
    out, killed = _run_with_killer(root, cluster, marker, kills=1)
    assert len(killed) == 1
    o = out["victim.py"]
    assert o.status == "executed", o.message
    assert "survived attempt 1" in o.cell_result("victim").text()
    assert "(retried)" in o.where
    assert out["bystander.py"].status == "executed"
    cluster.wait_for_workers(2, timeout=300)  # the nanny restarts the killed worker


def test_worker_killed_on_every_attempt_is_reported_naming_the_worker(cluster: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pids"
    root = make_project(tmp_path / "p", {"victim.py": KILLABLE.format(marker=str(marker), kills=99)})
    out, killed = _run_with_killer(root, cluster, marker, kills=2)
    assert len(killed) == 2
    o = out["victim.py"]
    assert o.status == "failed"
    assert "snippets/victim.py: the Dask worker running it died" in o.message
    assert "tcp://127.0.0.1:" in o.message and o.where.startswith("tcp://127.0.0.1:")
    assert not any((root / ".cache/kbgen/entries").iterdir())  # nothing cached
    cluster.wait_for_workers(2, timeout=300)


@pytest.mark.parametrize("changed", ["fakecore/b.py", "data/values.txt", "data/"])
def test_worker_on_a_modified_copy_is_rejected_naming_the_file(cluster: Any, tmp_path: Path, changed: str) -> None:
    """Every kind of dependency (module, data file, folder listing) read on a worker whose
    checkout differs rejects that snippet's run, naming the path; nothing of it is cached."""
    snippets = {"s_list.py": "# %% ls\nimport os\nprint(sorted(os.listdir('data')))\n"}
    root = make_project(tmp_path / "here", {**SNIPPETS, **snippets})
    copy = tmp_path / "worker-checkout"
    shutil.copytree(root, copy)
    if changed == "data/":
        write(copy / "data/extra.txt", "new file on the worker only\n")
    else:
        with open(copy / changed, "a", encoding="utf-8") as f:
            f.write("\n# edited on the worker's copy\n" if changed.endswith(".py") else "4\n")
    checkout = str(copy)
    cluster.run(lambda: os.environ.update(KBGEN_PROJECT_ROOT=checkout))  # the workers run in the copy
    try:
        out = engine(root, executor="dask", cluster=options(cluster)).execute()
    finally:
        cluster.run(lambda: os.environ.pop("KBGEN_PROJECT_ROOT", None))
    users = {"fakecore/b.py": {"s_direct.py", "s_trans.py"}, "data/values.txt": {"s_data.py"},
             "data/": {"s_list.py"}}[changed]
    for name, o in out.items():
        if name in users:
            assert o.status == "failed", name
            assert o.message.startswith(f"snippets/{name}: rejected the run from Dask worker tcp://127.0.0.1:")
            assert f"it read {changed} with sha256" in o.message and "Not cached." in o.message
        else:
            assert o.status == "executed", (name, o.message)
    # never cached: the next build (workers back on this checkout) runs exactly those again
    e = engine(root, executor="dask", cluster=options(cluster))
    again = e.execute()
    assert set(e.executor.submitted) == users
    assert all(again[n].status == "executed" for n in users)


def test_worker_runs_the_snippet_bytes_of_the_building_machine(cluster: Any, tmp_path: Path) -> None:
    """The snippet's own bytes travel with the task: a worker whose copy of the snippet differs
    still runs (and the site shows) the building machine's version."""
    root = make_project(tmp_path / "here")
    copy = tmp_path / "worker-checkout"
    shutil.copytree(root, copy)
    write(copy / "snippets/s_other.py", "# %% value\nprint('the worker copy')\n")
    checkout = str(copy)
    cluster.run(lambda: os.environ.update(KBGEN_PROJECT_ROOT=checkout))
    try:
        out = engine(root, executor="dask", cluster=options(cluster)).execute()
    finally:
        cluster.run(lambda: os.environ.pop("KBGEN_PROJECT_ROOT", None))
    assert out["s_other.py"].status == "executed"
    assert out["s_other.py"].cell_result("value").text() == "c = c\n"


GPU_SNIPPET = "# kbgen: resources=GPU\n# %% where\nprint('ran')\n"  # line 2 (after make_project's BOOT line)


def test_gpu_snippet_without_a_gpu_worker_is_reported(cluster: Any, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"train.py": GPU_SNIPPET, "plain.py": "# %% x\nprint(1)\n"})
    out = engine(root, executor="dask", cluster=options(cluster)).execute()
    o = out["train.py"]
    assert o.status == "failed"
    assert o.message.startswith("snippets/train.py:2: declares `# kbgen: resources=GPU` but no worker")
    assert "--resources GPU=1" in o.message and "gpu_fallback: cpu" in o.message
    assert out["plain.py"].status == "executed"
    # the author allowed a CPU run
    out = engine(root, executor="dask", cluster=options(cluster, gpu_fallback="cpu")).execute()
    assert out["train.py"].status == "executed" and out["train.py"].where.endswith(" (CPU fallback)")
    bad = make_project(tmp_path / "q", {"bad.py": "# kbgen: resources=GPU=1\n# %% x\nprint(1)\n"})
    o = engine(bad, executor="dask", cluster=options(cluster)).execute()["bad.py"]
    assert o.status == "failed" and o.message.startswith("snippets/bad.py:2: bad `# kbgen: resources=GPU=1`")


@pytest.mark.parametrize("spec, wanted", [("GPU", {"GPU": 1.0}), ("GPU:2", {"GPU": 2.0}),
                                           ("GPU+FPGA:1.5", {"GPU": 1.0, "FPGA": 1.5}), ("", {})])
def test_resources_directive(tmp_path: Path, spec: str, wanted: dict) -> None:
    from kbgen.snippets.dask_executor import snippet_resources
    from kbgen.snippets.model import parse_snippet

    p = tmp_path / "x.py"
    p.write_text((f"# kbgen: timeout=5, resources={spec}\n" if spec else "") + "# %% a\nprint(1)\n")
    assert snippet_resources(parse_snippet(p)) == wanted


def test_gpu_snippet_runs_only_on_a_gpu_worker(cluster: Any, tmp_path: Path) -> None:
    """A third worker started with ``--resources GPU=1`` (the CLI a user runs) takes the GPU
    snippet; the others may run anywhere."""
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dask"), "worker", cluster.scheduler.address, "--nthreads", "1",
         "--resources", "GPU=1", "--host", "127.0.0.1", "--name", "gpu-worker", "--no-dashboard"],
        env={**ENV, THREADS_ENV: "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        cluster.wait_for_workers(3, timeout=300)
        gpu = [a for a, w in cluster.scheduler_info()["workers"].items() if w.get("resources", {}).get("GPU")]
        assert len(gpu) == 1
        root = make_project(tmp_path / "p", {f"train{i}.py": GPU_SNIPPET for i in range(3)})
        out = engine(root, executor="dask", cluster=options(cluster)).execute()
        assert {o.status for o in out.values()} == {"executed"}
        assert {o.where for o in out.values()} == set(gpu)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_building_machine_times_out_a_worker_that_stops_answering(cluster: Any, tmp_path: Path) -> None:
    """A worker frozen mid-snippet (SIGSTOP: no result, no death) cannot hold the build: the
    building machine gives up after the snippet's timeout + grace and reports it."""
    marker = tmp_path / "pids"
    root = make_project(tmp_path / "p", {"frozen.py": KILLABLE.format(marker=str(marker), kills=99)})
    e = engine(root, executor="dask", cluster=options(cluster, grace_s=3), timeout=2, load_scaling=False)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(e.execute()), daemon=True)
    runner.start()
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(marker.read_text().split()[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        runner.join(timeout=120)
        assert not runner.is_alive(), "the build waited for a frozen worker"
    finally:
        os.kill(pid, signal.SIGCONT)
    o = result["frozen.py"]
    assert o.status == "timeout"
    assert "snippets/frozen.py: no result from Dask worker tcp://127.0.0.1:" in o.message and "after 5 s" in o.message


def test_lost_scheduler_fails_the_build_once_and_caches_nothing_partial(tmp_path: Path) -> None:
    """A scheduler killed mid-build (its own process, as `dask scheduler` on another machine):
    one ClusterError naming it, no hang, and the snippet that was running is not cached."""
    from kbgen.snippets.dask_executor import ClusterError

    dask_cli = str(Path(sys.executable).parent / "dask")
    sched_file = tmp_path / "scheduler.json"
    env = {**ENV, THREADS_ENV: "1"}
    procs = [subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 120
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen([dask_cli, "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                                       "--no-dashboard"], env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        marker = tmp_path / "pids"
        root = make_project(tmp_path / "p", {"long.py": KILLABLE.format(marker=str(marker), kills=99)})
        e = engine(root, executor="dask", cluster=ClusterOptions(scheduler=address), timeout=150)
        errors: list[BaseException] = []

        def build() -> None:
            try:
                e.execute()
            except BaseException as exc:  # noqa: BLE001 - the test inspects it
                errors.append(exc)

        runner = threading.Thread(target=build, daemon=True)
        runner.start()
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "long.py never started"
        os.killpg(procs[0].pid, signal.SIGKILL)
        runner.join(timeout=120)
        assert not runner.is_alive(), "the build hung after the scheduler was lost"
        assert len(errors) == 1 and isinstance(errors[0], ClusterError), errors
        assert "lost the Dask scheduler" in str(errors[0]) and address.split("://")[1] in str(errors[0])
        assert e.cache.lookup(e.executor.key(e.snippets["long.py"]), HashMemo(root))[0] is None
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait(30)


@pytest.mark.skipif(not os.environ.get("KBGEN_DASK_REAL_VAULT"),
                    reason="two cold builds of the real vault: minutes on 2 cores; set KBGEN_DASK_REAL_VAULT=1")
def test_real_vault_builds_the_same_site_on_the_cluster(cluster: Any, tmp_path: Path) -> None:
    """Two clean copies of the tracked sources, cold, local executor vs the cluster: identical
    except the run reports and the pages of ``# kbgen: measured`` snippets (timings)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_reliability_site import measured_files

    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    sites = []
    for name in ("local", "dask"):
        dst = tmp_path / name
        for rel in filter(None, files.split("\0")):
            if (ROOT / rel).is_file():
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                (dst / rel).write_bytes((ROOT / rel).read_bytes())
        sites.append(dst)
    use_dask(sites[1], cluster.scheduler.address)
    for d in sites:
        r = mkdocs_build(d)
        assert r.returncode == 0, r.stderr[-4000:]
    a, b = tree(sites[0] / "site"), tree(sites[1] / "site")
    allowed = ALLOWED | measured_files(sites[0] / "site")
    assert sorted(p for p in set(a) | set(b) if p not in allowed and a.get(p) != b.get(p)) == []
