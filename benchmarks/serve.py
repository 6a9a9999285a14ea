"""Save -> visible latency of ``mkdocs serve``: how long after a note is saved the served page shows it.

    .venv/bin/python benchmarks/serve.py [--edits 3] [--notes 2000] [--links 20000]
                                         [--scenarios vault,generated,generated-plain]

Each scenario copies a project to a temporary folder, starts ``mkdocs serve`` on a free
127.0.0.1 port, waits until the page answers, then ``--edits`` times: appends a unique marker
line to one note, polls the served page (every 20 ms) until it contains the marker, and
records the seconds from the save. Before the next edit it waits until the server has
settled (kbgen: its background build ended; plain MkDocs: the page is visible once its
rebuild ended), and records that time too. Scenarios, all in the same run:

- ``vault``: this repository's vault (docs/, snippets/, transformer_core/, the snippet cache
  in .cache/ if present), editing 核心组件/多头注意力.md;
- ``generated``: the vault of benchmarks/vault.py (``--notes`` notes, ``--links`` wikilinks)
  with kbgen (vault features, no snippets, no reader's-site plugin, as there; ``--nav compact``
  by default, as the README's build benchmark: the nav lists the home page only);
- ``generated-plain``: the same notes with plain MkDocs and the same Markdown extensions;
- ``vault-slow`` / ``generated-slow`` (opt-in baselines): the same with kbgen's
  ``fast_serve: false``, i.e. MkDocs' own full rebuild on every save.

Prints the median latency of each scenario and the ratio generated / generated-plain
(targets: vault <= 1.0 s; generated <= 2.0 s and <= 0.5x plain), and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vault import BASE, make_vault  # noqa: E402

from kbgen.plugin import DEFAULT_EXTENSIONS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETTLED = ("kbgen serve: site rebuilt in the background", "kbgen serve: background build failed")


@dataclass
class Scenario:
    """A project to serve and the note to edit (``url``: the note's page under the server root)."""

    name: str
    root: Path
    note: Path
    urls: list[str]
    kbgen: bool
    latencies: list[float] = field(default_factory=list)  # save -> marker visible, seconds
    settle: list[float] = field(default_factory=list)  # save -> server idle again, seconds
    startup: float = 0.0  # serve start -> first page answered, seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError):
        return None


def page_urls(rel: str) -> list[str]:
    """The note's page with and without ``use_directory_urls`` (the one that answers is used)."""
    stem = rel[:-3]
    return [quote(stem + ".html"), quote(stem + "/")]


def this_vault(tmp: Path, fast: bool = True) -> Scenario:
    root = tmp / ("vault" if fast else "vault-slow")
    root.mkdir()
    for name in ("docs", "snippets", "transformer_core"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    if not fast:
        config = config.replace("\n  - kbgen\n", "\n  - kbgen:\n      fast_serve: false\n")
        assert "fast_serve: false" in config, "mkdocs.yml lists kbgen with options: update this benchmark"
    (root / "mkdocs.yml").write_text(config, encoding="utf-8")
    if (ROOT / ".cache" / "kbgen").is_dir():
        shutil.copytree(ROOT / ".cache" / "kbgen", root / ".cache" / "kbgen")
    (root / ".venv").symlink_to(ROOT / ".venv")  # snippets run with the project's interpreter
    rel = "核心组件/多头注意力.md"
    return Scenario(root.name, root, root / "docs" / rel, page_urls(rel), kbgen=fast)


def generated(tmp: Path, notes: int, links: int, plain: bool, fast: bool = True, nav: str = "compact") -> Scenario:
    name = "generated-plain" if plain else "generated" if fast else "generated-slow"
    root = tmp / name
    make_vault(root, notes, links)
    config = BASE.format(site="site")
    if nav == "compact":  # as benchmarks/vault.py --nav compact: Material's full nav is quadratic in pages
        config += "nav:\n  - index.md\n"
    if plain:
        config += "plugins: []\nmarkdown_extensions:\n" + "".join(
            f"  - {n}: {json.dumps(o)}\n" if o else f"  - {n}\n" for n, o in DEFAULT_EXTENSIONS.items())
    else:
        config += "plugins:\n  - kbgen:\n      snippets_dir: none\n      site: false\n"
        if not fast:
            config += "      fast_serve: false\n"
    (root / "mkdocs.yml").write_text(config, encoding="utf-8")
    rel = "分区07/主题0007 note.md"
    return Scenario(name, root, root / "docs" / rel, page_urls(rel), kbgen=fast and not plain)


def run(s: Scenario, edits: int, timeout: float) -> None:
    port = free_port()
    log_path = s.root / "serve.log"
    log = log_path.open("w")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mkdocs", "serve", "--dev-addr", f"127.0.0.1:{port}"],
                            cwd=s.root, stdout=log, stderr=subprocess.STDOUT, env=env)
    urls = [f"http://127.0.0.1:{port}/{u}" for u in s.urls]
    try:
        deadline = time.time() + timeout
        while fetch(f"http://127.0.0.1:{port}/") is None:
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"{s.name}: mkdocs serve did not come up:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        url = next((u for u in urls if fetch(u) is not None), None)
        if url is None:
            raise SystemExit(f"{s.name}: none of {urls} is served")
        s.startup = time.perf_counter() - t0
        time.sleep(1.5)  # the watcher's first poll has seen the tree
        for _ in range(edits):
            settled_before = _settled_count(log_path)
            marker = f"kbmark{uuid.uuid4().hex[:12]}"
            with s.note.open("a", encoding="utf-8") as f:
                f.write(f"\n\n{marker}\n")
            saved = time.perf_counter()
            while True:
                page = fetch(url)
                if page is not None and marker in page:
                    break
                if proc.poll() is not None or time.perf_counter() - saved > timeout:
                    raise SystemExit(f"{s.name}: the edit never showed:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.02)
            s.latencies.append(time.perf_counter() - saved)
            if s.kbgen:
                while _settled_count(log_path) == settled_before:
                    if proc.poll() is not None or time.perf_counter() - saved > timeout:
                        raise SystemExit(f"{s.name}: the server never settled:\n{log_path.read_text()[-3000:]}")
                    time.sleep(0.05)
            s.settle.append(time.perf_counter() - saved)
            print(f"  {s.name}: visible after {s.latencies[-1]:.2f} s, settled after {s.settle[-1]:.2f} s",
                  flush=True)
            time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: serve removes its temporary folders
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _settled_count(log_path: Path) -> int:
    text = log_path.read_text(encoding="utf-8", errors="replace")
    return sum(text.count(m) for m in SETTLED)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edits", type=int, default=3)
    ap.add_argument("--notes", type=int, default=2000)
    ap.add_argument("--links", type=int, default=20000)
    ap.add_argument("--nav", choices=("compact", "full"), default="compact",
                    help="generated vaults: compact (nav lists the home page only) or Material's full nav")
    ap.add_argument("--scenarios", default="vault,generated,generated-plain")
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed for startup and for each edit")
    args = ap.parse_args()
    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="kbgen-serve-bench-"))
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    results: dict[str, Scenario] = {}
    try:
        for name in wanted:
            if name in ("vault", "vault-slow"):
                s = this_vault(tmp, fast=name == "vault")
            elif name in ("generated", "generated-plain", "generated-slow"):
                s = generated(tmp, args.notes, args.links, plain=name.endswith("plain"), fast=name == "generated",
                              nav=args.nav)
            else:
                raise SystemExit(f"unknown scenario {name!r}")
            run(s, args.edits, args.timeout)
            results[name] = s
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for fast, slow in (("vault", "vault-slow"), ("generated", "generated-slow")):
        if fast in results and slow in results:
            f, sl = (statistics.median(results[n].latencies) for n in (fast, slow))
            print(f"{fast} with fast_serve vs without: {f:.2f} s vs {sl:.2f} s ({f / sl:.3f}x)")
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for name, s in results.items():
        print(f"{name:16s}: save -> visible median {statistics.median(s.latencies):6.2f} s "
              f"(all: {', '.join(f'{x:.2f}' for x in s.latencies)}); settled median "
              f"{statistics.median(s.settle):6.2f} s; first build {s.startup:.1f} s")
    if "generated" in results and "generated-plain" in results:
        k = statistics.median(results["generated"].latencies)
        p = statistics.median(results["generated-plain"].latencies)
        print(f"generated vs plain mkdocs serve: {k / p:.3f}x (target <= 0.5x and <= 2.0 s)")
    if "vault" in results:
        print(f"this vault: {statistics.median(results['vault'].latencies):.2f} s (target <= 1.0 s)")


if __name__ == "__main__":
    main()
