"""Command line: ``python -m kbgen run <snippet>`` and ``python -m kbgen check``."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def _engine(args: argparse.Namespace):  # -> SnippetEngine (imported lazily: --help stays fast)
    from kbgen.snippets import SnippetEngine

    return SnippetEngine.from_options(
        args.root, args.snippets, args.cache, jobs=args.jobs, timeout=args.timeout, docs_dir=Path(args.root, args.docs)
    )


def _find(engine, name: str):
    engine.load()
    key = Path(name).name
    if not key.endswith(".py"):
        key += ".py"
    if key not in engine.snippets:
        raise SystemExit(f"kbgen: no snippet {name!r} in {engine.snippets_dir} (known: {', '.join(sorted(engine.snippets))})")
    return engine.snippets[key]


def cmd_run(args: argparse.Namespace) -> int:
    """Run one snippet exactly as the build does; write its outputs to a folder."""
    from kbgen.snippets import render

    engine = _engine(args)
    s = _find(engine, args.snippet)
    outcome = engine.executor.run([s], force=not args.cached)[s.name]
    out = Path(args.out) if args.out else Path(args.root, args.cache, "out", s.stem)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for fig in outcome.figures():
        if outcome.dir is not None and (outcome.dir / fig).exists():
            shutil.copyfile(outcome.dir / fig, out / fig)
    (out / f"{s.stem}.ipynb").write_text(render.notebook_json(s, outcome), encoding="utf-8")
    if outcome.result is not None:
        (out / "result.json").write_text(outcome.result.dumps(), encoding="utf-8")
    for cell in outcome.result.cells if outcome.result is not None else []:
        for o in cell.outputs:
            if o.type == "stream":
                print(f"[{cell.id}] " + o.text.rstrip("\n").replace("\n", f"\n[{cell.id}] "))
            else:
                print(f"[{cell.id}] figure {out / o.file}")
    for v in (outcome.result.values.values() if outcome.result is not None and outcome.ok else []):
        print(f"[{s.cells[v.cell].cell_id}] KB_VALUES[{v.name!r}] = {v.value!r}")
    print(f"kbgen: {s.name} {outcome.status} in {outcome.seconds:.2f} s -> {out}")
    if not outcome.ok:
        print(outcome.message, file=sys.stderr)
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Stale, failing and unused snippets and broken snippet references, without a site build."""
    from kbgen.snippets.cache import HashMemo
    from kbgen.snippets.model import validate
    from kbgen.vault.problems import vault_problems

    engine = _engine(args)
    engine.load()
    if args.run:
        engine.execute()
    hashes = HashMemo(engine.root)
    last = {e["name"]: e for e in engine.cache.read_state("last-report.json").get("snippets", [])}
    index, docs, file_problems = _vault_index(args, engine)
    engine.set_references(index.snippet_users())
    refs = index.snippet_references()
    used = {r.name.rsplit("/", 1)[-1] for r in refs}
    problems = 0
    lines: list[str] = []
    for name, s in sorted(engine.snippets.items()):
        for p in validate(s):
            lines.append(f"invalid   {p}")
            problems += 1
        o = engine.outcomes.get(name)
        if o is not None and not o.ok:
            lines.append(f"failing   {o.message.splitlines()[0]}")
            problems += 1
            continue
        entry, reason = engine.cache.lookup(engine.executor.key(s), hashes, name)
        if entry is None:
            prev = last.get(name, {})
            if prev.get("status") in ("failed", "timeout"):
                lines.append(f"failing   {(prev.get('error') or name).splitlines()[0]} (last build)")
                problems += 1
            else:
                lines.append(f"stale     {engine.snippet_rel(s)} ({reason}: will execute on the next build)")
        if name not in used:
            lines.append(f"unused    {engine.snippet_rel(s)} (no note links or embeds it)")
    for path, note in index.notes.items():  # [[x.py]] to no snippet: not a reference, broken
        for link in note.links:
            res = index.resolve(link.target, path)
            if res.kind == "unresolved" and link.target.lower().endswith(".py"):
                lines.append(f"broken    {docs}/{path}:{link.line}: [[{link.target}]] names no snippet in "
                             f"{engine.snippets_dir.name}/")
                problems += 1
    for r in refs:
        s = engine.snippets.get(r.name.rsplit("/", 1)[-1])
        if s is not None and r.cell and s.cell(r.cell) is None:
            titles = ", ".join(c.title for c in s.code_cells if c.title)
            lines.append(f"broken    {docs}/{r.note}:{r.line}: {r.name} has no cell titled {r.cell!r} (titles: {titles})")
            problems += 1
    # Everything the build reports about the notes, from the same index and renderer.
    found = sorted(file_problems + vault_problems(index, engine), key=lambda p: (p.note, p.line))
    for problem in found:
        lines.append(f"{problem.level:<9} {docs}/{problem}")
    problems += sum(problem.level in ("error", "cycle", "depth", "invalid") for problem in found)
    print("\n".join(lines) if lines else "kbgen check: all snippets fresh, used and referenced correctly")
    from kbgen.site.prose import uncited_report

    uncited = uncited_report({path: note.source for path, note in index.notes.items()}, docs)
    print("\n".join(uncited + [f"kbgen check: {len(uncited)} number(s) in prose neither bound nor cited "
                                "(a report, not a failure)"]))
    print(f"kbgen check: {len(engine.snippets)} snippets, {len(index.notes)} notes, {len(refs)} snippet references, "
          f"{len(found)} vault problem(s), {problems} problem(s)")
    return 1 if problems else 0


def _vault_index(args: argparse.Namespace, engine):  # -> (VaultIndex, docs folder as written, [Problem])
    """The vault index exactly as ``mkdocs build`` makes it: the project's ``mkdocs.yml`` (its
    docs_dir, exclusions and toc slugify) when there is one, else ``--docs`` with kbgen's defaults."""
    from kbgen.vault.index import VaultIndex

    config_file = Path(args.root, "mkdocs.yml")
    if config_file.is_file():
        from mkdocs.config import load_config
        from mkdocs.structure.files import get_files

        from kbgen.plugin import KbgenPlugin, heading_slugify, read_vault_files

        config = load_config(str(config_file))
        kbgen = next((p for p in config.plugins.values() if isinstance(p, KbgenPlugin)), None)
        if kbgen is not None and kbgen.config.markdown_defaults:
            from kbgen.vault.slug import default_slugify

            config.mdx_configs.setdefault("toc", {}).setdefault("slugify", default_slugify)
        found = read_vault_files(get_files(config), *heading_slugify(config), docs_dir=config.docs_dir,
                                 outside_symlinks=kbgen.config.outside_symlinks if kbgen else "follow")
        docs = Path(config.docs_dir).resolve()
        root = Path(args.root).resolve()
        shown = docs.relative_to(root).as_posix() if docs.is_relative_to(root) else str(docs)
        return VaultIndex(found.notes, found.attachments, engine), shown, found.problems
    return VaultIndex.from_dir(Path(args.root, args.docs), snippets=engine), args.docs, []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kbgen", description="kbgen: executable snippets for an Obsidian-style vault.")
    parser.add_argument("--root", default=".", help="project root (default: .)")
    parser.add_argument("--snippets", default="snippets", help="snippets folder, relative to the root")
    parser.add_argument("--docs", default="docs", help="notes folder, relative to the root")
    parser.add_argument("--cache", default=".cache/kbgen", help="cache folder, relative to the root")
    parser.add_argument("--jobs", type=int, default=None, help="parallel snippets (default: cores)")
    parser.add_argument("--timeout", type=float, default=60.0, help="default per-snippet timeout, s")
    sub = parser.add_subparsers(dest="cmd")
    run = sub.add_parser("run", help="run one snippet as the build does and write its outputs to a folder")
    run.add_argument("snippet", help="name or path, e.g. self_attention or snippets/self_attention.py")
    run.add_argument("--out", help="output folder (default: <cache>/out/<name>)")
    run.add_argument("--cached", action="store_true", help="reuse a valid cache entry instead of executing")
    check = sub.add_parser("check", help="report stale, failing, unused snippets and broken snippet references")
    check.add_argument("--run", action="store_true", help="execute stale snippets first (through the cache)")
    zb = sub.add_parser("build", help="run stale snippets, then build the site with Zensical (see kbgen.zensical)")
    zb.add_argument("-f", "--config-file", default="mkdocs.yml", help="the project's MkDocs config (default: mkdocs.yml)")
    zb.add_argument("--build-dir", help="generated docs + config for Zensical (default: <root>/build/zensical)")
    zb.add_argument("--strict", action="store_true", help="fail on snippet failures and kbgen errors")
    zb.add_argument("--no-execute", action="store_true", help="run no snippet; embeds show what the cache holds")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        from kbgen.zensical import cmd_build

        return cmd_build(args)
    if args.cmd == "run":
        return cmd_run(args)
    if args.cmd == "check":
        return cmd_check(args)
    parser.print_help()
    return 0
