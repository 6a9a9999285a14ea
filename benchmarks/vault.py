"""Build time of a generated vault with kbgen vs. plain MkDocs (same notes, same theme).

    .venv/bin/python benchmarks/vault.py [--notes 2000] [--links 20000] [--repeat 3] [--nav compact|full]

The vault: ``notes`` notes in 20 folders, each with frontmatter (title, aliases, tags), three
headings, inline tags, a callout, and ``links`` wikilinks in total (plain, aliased, heading
links, path links). Prints both build times and the ratio (target: < 2x). kbgen runs with
its vault features (index, links, tags pages, backlinks, graphs) and without the snippet
engine and the reader's-site plugin, which have their own benchmarks.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kbgen.plugin import DEFAULT_EXTENSIONS

BASE = """site_name: bench
docs_dir: docs
site_dir: {site}
use_directory_urls: false
theme:
  name: material
  language: zh
"""


def make_vault(root: Path, n_notes: int, n_links: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    names = [f"主题{i:04d} note" for i in range(n_notes)]
    folders = [f"分区{i % 20:02d}" for i in range(n_notes)]
    per_note = n_links // n_notes
    for i, (name, folder) in enumerate(zip(names, folders)):
        links = []
        for k in range(per_note):
            j = rng.randrange(n_notes)
            kind = k % 4
            if kind == 0:
                links.append(f"[[{names[j]}]]")
            elif kind == 1:
                links.append(f"[[{names[j]}|别名{j}]]")
            elif kind == 2:
                links.append(f"[[{names[j]}#第二节 细节]]")
            else:
                links.append(f"[[{folders[j]}/{names[j]}]]")
        body = [
            "---", f"title: 标题 {i}", f"aliases: [A{i}]", f"tags: [分区/{folders[i]}]", "---", "",
            f"# {name}", "", f"第一段 #标签{i % 50} 文字。" + " ".join(links[: per_note // 2]), "",
            "## 第一节 概览", "", "> [!tip] 提示", "> 提示内容 " + " ".join(links[per_note // 2:]), "",
            "## 第二节 细节", "", "```python", "x = '[[不是链接]]'", "```", "", "### 小节", "", "- [ ] 待办", "",
        ]
        p = root / "docs" / folder / f"{name}.md"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(body), encoding="utf-8")
    (root / "docs" / "index.md").write_text("# bench\n", encoding="utf-8")


def build(root: Path, config: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the build process) of one ``mkdocs build``."""
    cfg = root / "mkdocs.yml"
    cfg.write_text(config, encoding="utf-8")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(cfg)], cwd=root,
                         capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notes", type=int, default=2000)
    ap.add_argument("--links", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the best of each build counts")
    ap.add_argument("--nav", choices=("compact", "full"), default="full",
                    help="full: Material's automatic nav of every page; compact: nav lists only the home page")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kbgen-bench-"))
    try:
        make_vault(root, args.notes, args.links)
        site = root / "site"
        plain = BASE.format(site=site) + "plugins: []\n"
        kbgen = BASE.format(site=site) + "plugins:\n  - kbgen:\n      snippets_dir: none\n      site: false\n"
        if args.nav == "compact":
            # A vault this size is browsed by search, tags and graph; Material renders the
            # whole nav into every page (quadratic in pages), which would swamp both builds.
            plain += "nav:\n  - index.md\n"
            kbgen += "nav:\n  - index.md\n"
        # The same Markdown extensions kbgen adds by default (callouts need pymdownx.quotes, etc.).
        plain_ext = plain + "markdown_extensions:\n" + "".join(
            f"  - {name}: {json.dumps(opts)}\n" if opts else f"  - {name}\n" for name, opts in DEFAULT_EXTENSIONS.items()
        )
        # Interleaved rounds, best of each: a shared machine's speed drifts between minutes,
        # and every round measures the three builds under the same conditions.
        samples: dict[str, list[tuple[float, float]]] = {"plain": [], "ext": [], "kbgen": []}
        for r in range(args.repeat):
            for name, cfg in (("plain", plain), ("ext", plain_ext), ("kbgen", kbgen)):
                samples[name].append(build(root, cfg))
            print(f"round {r + 1}: " + ", ".join(f"{n} {s[-1][0]:.2f} s" for n, s in samples.items()), flush=True)
        p_wall, p_cpu = min(samples["plain"])
        e_wall, e_cpu = min(samples["ext"])
        k_wall, k_cpu = min(samples["kbgen"])
        pages = len(list(site.rglob("*.html")))
        print(f"vault: {args.notes} notes, {args.links} wikilinks, nav={args.nav} ({pages} HTML pages with kbgen)")
        print(f"plain mkdocs build               : {p_wall:7.2f} s wall, {p_cpu:7.2f} s CPU")
        print(f"plain + kbgen's Markdown defaults: {e_wall:7.2f} s wall, {e_cpu:7.2f} s CPU")
        print(f"mkdocs build + kbgen             : {k_wall:7.2f} s wall, {k_cpu:7.2f} s CPU")
        print(f"ratio vs plain                   : {k_wall / p_wall:7.2f}x wall, {k_cpu / p_cpu:5.2f}x CPU (target < 2x)")
        print(f"ratio vs plain + same extensions : {k_wall / e_wall:7.2f}x wall, {k_cpu / e_cpu:5.2f}x CPU")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
