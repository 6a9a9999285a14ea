"""The knowledge base itself: snippets run as plain scripts, notes sit on the learning path,
and the built site shows snippet outputs with every wikilink resolved.

Generic over the whole vault (every ``snippets/*.py``, every note in ``docs/``), so it covers the
notes of both content issues; the issue-5 notes get the stricter built-site checks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urljoin

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SNIPPETS = sorted((ROOT / "snippets").glob("*.py"))
LEVELS = ("入门级", "进阶级", "专家级")
PATH_DIR = "学习路径"
# The notes of issue 5 (hub, core components, the three classic architectures).
ISSUE5_NOTES = [
    "技术-Transformer架构",
    "核心组件/自注意力机制",
    "核心组件/多头注意力",
    "核心组件/位置编码",
    "核心组件/前馈神经网络",
    "核心组件/残差连接与层归一化",
    "架构演进/原始Transformer",
    "架构演进/BERT",
    "架构演进/GPT系列",
]
SNIPPET_TIMEOUT_S = 600  # generous: the limit is for hangs, the 2-core budget is in the report
WIKILINK = re.compile(r"!?\[\[([^\]|#]+)(?:#[^\]|]*)?(?:\\?\|[^\]]*)?\]\]")


def _frontmatter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    if end < 0:
        return {}
    return yaml.safe_load(text[4:end]) or {}


def _notes() -> list[str]:
    """Vault-relative note names (no .md) except the home page and the learning-path pages."""
    out = []
    for p in sorted(DOCS.rglob("*.md")):
        rel = p.relative_to(DOCS).with_suffix("").as_posix()
        if rel == "index" or rel.startswith(PATH_DIR + "/"):
            continue
        out.append(rel)
    return out


def _path_steps(level: str) -> list[str]:
    """The ordered wikilink targets of the numbered steps on a level page."""
    text = (DOCS / PATH_DIR / f"{level}.md").read_text(encoding="utf-8")
    steps = []
    for line in text.splitlines():
        m = re.match(r"\s*\d+\.\s+(.*)", line)
        if m:
            link = WIKILINK.search(m.group(1))
            assert link, f"{level}: step without a wikilink: {line!r}"
            steps.append(link.group(1).strip())
    return steps


def _resolve(target: str, names: list[str]) -> str:
    """A wikilink target as Obsidian matches it: an exact vault path, else a unique note name."""
    target = target.removesuffix(".md")
    if target in names:
        return target
    same = [n for n in names if n.split("/")[-1].lower() == target.lower()]
    return same[0] if len(same) == 1 else target


# --- (1) every snippet runs as a plain script -------------------------------------------------


def _run_plain(snippet: Path) -> tuple[subprocess.CompletedProcess, float]:
    """``python snippets/<name>.py`` from the repository root, as a reader runs it."""
    # One BLAS/OpenMP thread per process: the runs go in parallel, one per core, and tiny
    # models train far slower when two processes each spin two threads on two cores.
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, f"snippets/{snippet.name}"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=SNIPPET_TIMEOUT_S)
    return proc, time.perf_counter() - start


@pytest.fixture(scope="module")
def plain_runs() -> dict[str, tuple[subprocess.CompletedProcess, float]]:
    """Every snippet run as a plain script, one process per core at a time."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(zip((p.name for p in SNIPPETS), pool.map(_run_plain, SNIPPETS)))


@pytest.mark.slow
@pytest.mark.parametrize("snippet", SNIPPETS, ids=[p.name for p in SNIPPETS])
def test_snippet_runs_as_plain_script(snippet: Path, plain_runs) -> None:  # noqa: ANN001
    proc, seconds = plain_runs[snippet.name]
    assert proc.returncode == 0, f"{snippet.name} exited {proc.returncode} after {seconds:.1f} s:\n{proc.stderr[-4000:]}"
    assert proc.stdout.strip(), f"{snippet.name} printed nothing"


def test_snippets_exist_for_issue5() -> None:
    names = {p.name for p in SNIPPETS}
    for needed in ("transformer_2017.py", "bert.py", "gpt.py", "architecture_diagrams.py"):
        assert needed in names


# --- (2) frontmatter and the learning path ------------------------------------------------------


def test_path_pages_have_frontmatter() -> None:
    for level in LEVELS:
        fm = _frontmatter(DOCS / PATH_DIR / f"{level}.md")
        assert fm.get("title") and fm.get("level") == level, level


@pytest.mark.parametrize("note", _notes())
def test_note_frontmatter_and_place_on_path(note: str) -> None:
    fm = _frontmatter(DOCS / f"{note}.md")
    assert fm.get("title"), f"{note}: frontmatter has no title"
    level = fm.get("level")
    assert level in LEVELS, f"{note}: level {level!r} is not one of {LEVELS}"
    assert note in _path_steps(level), f"{note} (level {level}) is missing from {PATH_DIR}/{level}.md"


def test_path_lists_only_existing_notes_and_respects_prerequisites() -> None:
    order = [step for level in LEVELS for step in _path_steps(level)]
    assert len(order) == len(set(order)), "a note appears twice on the learning path"
    for step in order:
        assert (DOCS / f"{step}.md").is_file(), f"learning path names a missing note: {step}"
    position = {name: i for i, name in enumerate(order)}
    for name in order:
        for pre in _frontmatter(DOCS / f"{name}.md").get("prerequisites") or []:
            target = _resolve(WIKILINK.search(pre).group(1).strip(), order)
            assert target in position, f"{name}: prerequisite {target} is not on the path"
            assert position[target] < position[name], f"{name}: prerequisite {target} comes after it on the path"


def test_every_note_has_a_run_section_and_references() -> None:
    for note in ISSUE5_NOTES:
        text = (DOCS / f"{note}.md").read_text(encoding="utf-8")
        assert "## 动手运行" in text and "snippets/" in text, f"{note}: no 动手运行 section with a command"
        assert "## 参考文献" in text, f"{note}: no references"
        assert "![[" in text and ".py" in text, f"{note}: embeds no snippet output"


# --- (3) the built site -------------------------------------------------------------------------


def _page(site: Path, note: str) -> Path:
    """The built page of a note, with or without ``use_directory_urls``."""
    flat = site / f"{note}.html"
    return flat if flat.is_file() else site / note / "index.html"


def _note_of_url(path: str) -> str:
    """``架构演进/BERT.html`` or ``架构演进/BERT/`` -> ``架构演进/BERT``."""
    path = unquote(path).removesuffix("index.html").rstrip("/")
    return path.removesuffix(".html")


@pytest.mark.slow
@pytest.mark.parametrize("note", ISSUE5_NOTES)
def test_built_note_shows_snippet_output(built_site: Path, note: str) -> None:
    html = _page(built_site, note).read_text(encoding="utf-8")
    assert "kb-figure" in html or "kb-output" in html, f"{note}: no snippet output in the built page"
    assert "kb-error" not in html, f"{note}: a snippet error is shown in the page"


@pytest.mark.slow
def test_no_unresolved_wikilinks_anywhere(built_site: Path) -> None:
    bad = [p.relative_to(built_site).as_posix() for p in built_site.rglob("*.html")
           if "kb-unresolved" in p.read_text(encoding="utf-8")]
    assert not bad, f"unresolved wikilinks on: {bad}"


@pytest.mark.slow
def test_learning_path_pages_link_every_issue5_note(built_site: Path) -> None:
    linked: set[str] = set()
    for level in LEVELS:
        page = _page(built_site, f"{PATH_DIR}/{level}")
        base = "http://site/" + page.relative_to(built_site).as_posix()
        for href in re.findall(r'href="([^"#]+)', page.read_text(encoding="utf-8")):
            url = urljoin(base, href)
            if url.startswith("http://site/"):
                linked.add(_note_of_url(url[len("http://site/"):]))
    missing = [n for n in ISSUE5_NOTES if n not in linked]
    assert not missing, f"learning-path pages do not link: {missing}"
