"""Build performance of kbgen's snippet engine vs mkdocs-jupyter (``execute: true``).

Runs on a temporary copy of the project (the real tree is never edited) and prints one table:
serial plain runs of every snippet, kbgen cold / warm / prose-edit / module-edit builds, a plain
``mkdocs build`` with snippet execution off, and mkdocs-jupyter building the same snippets
(cache cleared), plus whether each system's cache goes stale after a ``transformer_core`` edit.

    .venv/bin/python benchmarks/build.py [--cpus 0,1] [--skip-jupyter] [--json out.json]

``--cpus`` pins every process to those cores (``taskset``) to reproduce the 2-core target.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", ".git", "site", ".cache", "node_modules", "tests", "benchmarks", "build", "test-artifacts", ".pytest_cache"}
MARKER = "KBGEN_BENCH_MARKER_7f3a"
SUMMARY = re.compile(r"kbgen: (\d+) snippets, (\d+) executed, (\d+) cached, (\d+) failed")


def copy_project(dest: Path, only: list[str] | None) -> Path:
    """A copy of the project (kbgen included: the builds run this copy, so editing the real
    tree during a run changes nothing). ``only``: keep just these snippets."""

    def ignore(d: str, names: list[str]) -> set[str]:
        return {n for n in names if (Path(d) == ROOT and n in SKIP) or n == "__pycache__" or n.endswith(".egg-info")}

    shutil.copytree(ROOT, dest, ignore=ignore)
    if only:
        keep = {n if n.endswith(".py") else n + ".py" for n in only}
        for p in (dest / "snippets").glob("*.py"):
            if p.name not in keep and not p.name.startswith("_"):
                p.unlink()
    return dest


def prefix(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - t0, r


def mkdocs(proj: Path, cpus: str | None, config: str = "mkdocs.yml", site: str = "site") -> tuple[float, str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = prefix(cpus) + [sys.executable, "-m", "mkdocs", "build", "--no-strict", "-f", config, "-d", site]
    dt, r = timed(cmd, proj, env)
    if r.returncode != 0:
        print(r.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"mkdocs build failed ({config})")
    m = SUMMARY.search(r.stderr)
    return dt, m.group(0) if m else "(no kbgen summary)"


def serial_runs(proj: Path, cpus: str | None, timeout: float) -> dict[str, tuple[float, int]]:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    out = {}
    for p in sorted((proj / "snippets").glob("*.py")):
        if p.name.startswith("_"):
            continue
        try:
            dt, r = timed(prefix(cpus) + [sys.executable, f"snippets/{p.name}"], proj, env, timeout)
            out[p.name] = (dt, r.returncode)
        except subprocess.TimeoutExpired:
            out[p.name] = (timeout, -9)
    return out


def kbgen_variant(proj: Path, name: str, **options: object) -> str:
    """A copy of ``mkdocs.yml`` with these kbgen options; returns its file name."""
    cfg = yaml.safe_load((proj / "mkdocs.yml").read_text(encoding="utf-8"))
    plugins = []
    for p in cfg.get("plugins", []):
        if p == "kbgen" or (isinstance(p, dict) and "kbgen" in p):
            p = {"kbgen": {**(dict(p["kbgen"] or {}) if isinstance(p, dict) else {}), **options}}
        plugins.append(p)
    cfg["plugins"] = plugins
    (proj / name).write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return name


def jupyter_project(proj: Path, dest: Path) -> Path:
    (dest / "docs/snippets").mkdir(parents=True)
    for p in sorted((proj / "snippets").glob("*.py")):
        if not p.name.startswith("_"):
            shutil.copyfile(p, dest / "docs/snippets" / p.name)
    (dest / "docs/index.md").write_text("# mkdocs-jupyter baseline\n", encoding="utf-8")
    cfg = {
        "site_name": "baseline",
        "theme": {"name": "material", "language": "zh"},
        "plugins": [{"mkdocs-jupyter": {"execute": True, "include": ["*.py"], "allow_errors": True,
                                         "cache": True, "cache_dir": str(dest / ".cache/mkdocs-jupyter")}}],
    }
    (dest / "mkdocs.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return dest


def jupyter_build(jdir: Path, proj: Path, cpus: str | None) -> float:
    # The kernel imports the copy's transformer_core (PYTHONPATH before the editable install).
    env = {**os.environ, "PYTHONPATH": str(proj), "NO_MKDOCS_2_WARNING": "1"}
    dt, r = timed(prefix(cpus) + [sys.executable, "-m", "mkdocs", "build", "-d", "site"], jdir, env)
    if r.returncode != 0:
        print(r.stderr[-3000:], file=sys.stderr)
        raise SystemExit("mkdocs-jupyter build failed")
    return dt


def _executed(proj: Path, edited: str) -> str:
    """The snippets the last build executed, each marked with whether it had read ``edited``
    (a snippet that reads the vault, e.g. to check the learning path, must run again)."""
    report = json.loads((proj / "site/kbgen-report.json").read_text(encoding="utf-8"))
    names = [f"{e['name']}{' reads it' if edited in e['deps']['files'] else ''}"
             for e in report["snippets"] if e["status"] == "executed"]
    return ", ".join(names)


def marker_in(site: Path) -> bool:
    return any(MARKER in p.read_text(encoding="utf-8", errors="ignore") for p in site.rglob("*.html"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpus", help="pin to these cores, e.g. 0,1")
    ap.add_argument("--skip-jupyter", action="store_true")
    ap.add_argument("--skip-serial", action="store_true", help="skip the plain serial runs")
    ap.add_argument("--timeout", type=float, default=600, help="per plain run, s")
    ap.add_argument("--module", default="transformer_core/attention.py", help="module to edit")
    ap.add_argument("--note", default="docs/技术-Transformer架构.md", help="note to edit")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved warm / execution-off rounds (best counts)")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--only", nargs="*", help="benchmark just these snippets (names)")
    ap.add_argument("--executor", choices=("local", "dask"), default="local",
                    help="dask: only compare a cold build on a 2-worker LocalCluster with the local fork server")
    ap.add_argument("--cold-rounds", type=int, default=1,
                    help="--executor dask: cold build pairs, in ABBA order (local, dask, dask, local, ...); best counts")
    args = ap.parse_args()
    if args.executor == "dask":
        return dask_comparison(args)

    cores = len(os.sched_getaffinity(0)) if not args.cpus else len(args.cpus.split(","))
    rows: list[tuple[str, float, str]] = []

    class Rows(list):
        def append(self, row: tuple[str, float, str]) -> None:  # print as measured
            super().append(row)
            print(f"  {row[0]:44s} {row[1]:8.2f} s  {row[2]}", flush=True)

    rows = Rows()
    with tempfile.TemporaryDirectory(prefix="kbgen-bench-") as tmp:
        proj = copy_project(Path(tmp) / "proj", args.only)
        n = len([p for p in (proj / "snippets").glob("*.py") if not p.name.startswith("_")])
        print(f"kbgen build benchmark: {n} snippets, {cores} cores, load {os.getloadavg()[0]:.1f}", flush=True)

        serial = {} if args.skip_serial else serial_runs(proj, args.cpus, args.timeout)
        serial_sum = sum(dt for dt, _ in serial.values())
        for name, (dt, rc) in sorted(serial.items()):
            print(f"  plain run {name:32s} {dt:7.2f} s  rc={rc}", flush=True)
        if serial:
            rows.append(("serial plain runs (sum)", serial_sum, f"{sum(rc == 0 for _, rc in serial.values())}/{n} ok"))

        cold, s_cold = mkdocs(proj, args.cpus)
        rows.append(("kbgen cold build", cold, s_cold))
        # Warm rebuild vs execution off: both are a few seconds, so they run in interleaved
        # rounds and the best of each counts (a shared machine's speed drifts between runs).
        # The target's baseline: the same pages (notes and snippet pages) with execution off.
        # For reference, also the notes alone (no snippets folder: no snippet pages, no embeds).
        cfg = kbgen_variant(proj, "mkdocs.noexec.yml", execute=False)
        cfg_bare = kbgen_variant(proj, "mkdocs.nosnippets.yml", snippets_dir="_no_snippets_")
        warms, noexecs, bares, s_warm = [], [], [], ""
        for _ in range(args.rounds):
            dt, s_warm = mkdocs(proj, args.cpus)
            warms.append(dt)
            noexecs.append(mkdocs(proj, args.cpus, cfg, "site_noexec")[0])
            bares.append(mkdocs(proj, args.cpus, cfg_bare, "site_nosnippets")[0])
        warm, noexec, bare = min(warms), min(noexecs), min(bares)
        rows.append(("kbgen warm rebuild", warm, f"{s_warm}; best of {', '.join(f'{x:.2f}' for x in warms)}"))
        rows.append(("mkdocs build, execution off", noexec, f"execute: false; best of {', '.join(f'{x:.2f}' for x in noexecs)}"))
        rows.append(("mkdocs build, notes only", bare, f"no snippet pages; best of {', '.join(f'{x:.2f}' for x in bares)}"))
        note = proj / args.note
        note.write_text(note.read_text(encoding="utf-8") + "\n基准测试追加的一句话。\n", encoding="utf-8")
        prose, s_prose = mkdocs(proj, args.cpus)
        rerun = _executed(proj, args.note)
        rows.append(("kbgen after prose edit", prose, s_prose + (f" ({rerun})" if rerun else "")))


        jdir = None
        if not args.skip_jupyter:
            jdir = jupyter_project(proj, Path(tmp) / "jup")
            jcold = jupyter_build(jdir, proj, args.cpus)
            rows.append(("mkdocs-jupyter execute:true, cold", jcold, f"{n} notebooks, serial"))

        mod = proj / args.module
        mod.write_text(mod.read_text(encoding="utf-8") + f"\nprint({MARKER!r})\n", encoding="utf-8")
        medit, s_medit = mkdocs(proj, args.cpus)
        report = json.loads((proj / "site/kbgen-report.json").read_text(encoding="utf-8"))
        users = sorted(e["name"] for e in report["snippets"] if args.module in e["deps"]["modules"] or e["status"] == "executed")
        ours_fresh = marker_in(proj / "site/snippets")
        rows.append((f"kbgen after editing {args.module}", medit, f"{s_medit}; fresh output: {ours_fresh}"))
        if jdir is not None:
            jwarm = jupyter_build(jdir, proj, args.cpus)
            j_fresh = marker_in(jdir / "site")
            rows.append(("mkdocs-jupyter after the same edit", jwarm, f"cache hit, fresh output: {j_fresh}"))

    print()
    print(f"| {'step':44s} | {'seconds':>8s} | notes |")
    print(f"| {'-' * 44} | {'-' * 8}: | ----- |")
    for name, dt, note_ in rows:
        print(f"| {name:44s} | {dt:8.2f} | {note_} |")
    d = {name: dt for name, dt, _ in rows}
    print()
    print(f"executed after the module edit: {', '.join(users)}")
    ratios = {"warm / execution-off build (target <= 1.3)": warm / noexec, "warm / notes-only build": warm / bare}
    if serial_sum:
        ratios["cold / serial plain runs (target <= 0.65)"] = cold / serial_sum
    if "mkdocs-jupyter execute:true, cold" in d:
        ratios["cold / mkdocs-jupyter cold (target <= 0.5)"] = cold / d["mkdocs-jupyter execute:true, cold"]
    for k, v in ratios.items():
        print(f"ratio {k}: {v:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "ratios": ratios, "cores": cores}, indent=1, ensure_ascii=False))


# -- executor: dask (README "Building on a cluster") ----------------------------------------
def _cold(proj: Path, cpus: str | None, config: str, site: str) -> tuple[float, str, dict]:
    shutil.rmtree(proj / ".cache", ignore_errors=True)
    dt, summary = mkdocs(proj, cpus, config, site)
    return dt, summary, json.loads((proj / site / "kbgen-report.json").read_text(encoding="utf-8"))


def _site_differences(a: Path, b: Path, report: dict) -> tuple[list[str], list[str]]:
    """Files that differ between two sites, except the run reports and the sitemap's date:
    (those carrying outputs of ``# kbgen: measured`` snippets, all others)."""
    ta = {p.relative_to(a).as_posix(): p.read_bytes() for p in a.rglob("*") if p.is_file()}
    tb = {p.relative_to(b).as_posix(): p.read_bytes() for p in b.rglob("*") if p.is_file()}
    allowed = {"sitemap.xml", "sitemap.xml.gz", "kbgen-report.json", "snippets/index.html"}
    diff = sorted(p for p in set(ta) | set(tb) if p not in allowed and ta.get(p) != tb.get(p))
    measured = set()
    for e in report["snippets"]:
        if e.get("measured"):
            stem = e["name"][:-3]
            measured |= {p for p in diff if p.startswith(f"snippets/{stem}") or
                         any(p == n[:-3] + ".html" or p == n[:-3] + "/index.html" for n in e["references"])}
    return sorted(measured), [p for p in diff if p not in measured]


def dask_comparison(args: argparse.Namespace) -> None:
    """The real vault cold, on a LocalCluster of 2 single-threaded worker processes vs the local
    fork server with 2 jobs, on the same cores, in one run; plus the build-time model
    max(longest snippet, sum of snippet times / workers) + the build with execution off."""
    with tempfile.TemporaryDirectory(prefix="kbgen-bench-dask-") as tmp:
        proj = copy_project(Path(tmp) / "proj", args.only)
        n = len([p for p in (proj / "snippets").glob("*.py") if not p.name.startswith("_")])
        print(f"kbgen executor benchmark: {n} snippets cold, load {os.getloadavg()[0]:.1f}", flush=True)
        local_cfg = kbgen_variant(proj, "mkdocs.local.yml", executor="local")
        dask_cfg = kbgen_variant(proj, "mkdocs.dask.yml", executor="dask", dask_workers=2)
        noexec_cfg = kbgen_variant(proj, "mkdocs.noexec.yml", execute=False)
        times: dict[str, list[float]] = {"local": [], "dask": []}
        order = [k for r in range(max(1, args.cold_rounds)) for k in (("local", "dask") if r % 2 == 0 else ("dask", "local"))]
        for kind in order:  # ABBA: a machine whose speed drifts favours neither
            cfg, site = (local_cfg, "site_local") if kind == "local" else (dask_cfg, "site_dask")
            dt, summary, rep = _cold(proj, args.cpus, cfg, site)
            times[kind].append(dt)
            if kind == "dask":
                report = rep
            print(f"  {kind:5s} cold {dt:8.2f} s  {summary}  (load {os.getloadavg()[0]:.1f})", flush=True)
        local, dask = min(times["local"]), min(times["dask"])
        measured, other = _site_differences(proj / "site_local", proj / "site_dask", report)
        plain = min(mkdocs(proj, args.cpus, noexec_cfg, "site_noexec")[0] for _ in range(2))
        print(f"  execution off (plain build) {plain:8.2f} s", flush=True)
        load = os.getloadavg()
    runs = [e for e in report["snippets"] if e["status"] == "executed"]
    total = sum(e["run_seconds"] for e in runs)
    longest = max(runs, key=lambda e: e["run_seconds"]) if runs else None
    workers = sorted({str(e["ran_on"]).split(" ")[0] for e in runs})
    per_worker = {w: sum(e["run_seconds"] for e in runs if str(e["ran_on"]).startswith(w)) for w in workers}
    model = max(longest["run_seconds"] if longest else 0.0, total / max(1, len(workers))) + plain
    print()
    print(f"snippet time (sum of run_seconds) {total:.1f} s over {len(runs)} snippets; longest "
          f"{longest['name'] if longest else '-'} {longest['run_seconds'] if longest else 0:.1f} s")
    for w, sec in per_worker.items():
        print(f"  on {w}: {sec:.1f} s")
    print(f"model max(longest, sum / {len(workers)} workers) + plain build = {model:.1f} s; measured {dask:.1f} s")
    print(f"site local vs dask: {len(other)} files differ beyond the run reports"
          f"{' (' + ', '.join(other[:10]) + ')' if other else ''}; {len(measured)} more carry measured outputs")
    print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"ratio dask LocalCluster cold / local fork server cold (target <= 1.15): {dask / local:.2f}"
          f" (best of {len(times['local'])} each: local {', '.join(f'{x:.1f}' for x in times['local'])}; "
          f"dask {', '.join(f'{x:.1f}' for x in times['dask'])})")
    if args.json:
        Path(args.json).write_text(json.dumps({"local": local, "dask": dask, "plain": plain, "sum": total,
                                               "model": model, "ratio": dask / local}, indent=1))


if __name__ == "__main__":
    main()
