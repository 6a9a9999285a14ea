"""The knowledge base itself: snippets run as plain scripts, notes sit on the learning path,
and the built site shows snippet outputs with every wikilink resolved.

Generic over the whole vault (every ``snippets/*.py``, every note in ``docs/``), so it covers the
notes of both content issues; the issue-5 notes get the stricter built-site checks.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tempfile
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
APPENDIX = "附录"  # level of notes about the site itself, kept off the learning path
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


# Runs a snippet as ``__main__`` (what ``python snippets/x.py`` does) and, when it finished,
# writes the KB_VALUES it exported as JSON to the path in argv[2].
_RUN_AND_DUMP = (
    "import json, runpy, sys\n"
    "g = runpy.run_path(sys.argv[1], run_name='__main__')\n"
    "json.dump(g.get('KB_VALUES', {}), open(sys.argv[2], 'w', encoding='utf-8'))\n"
)


def _run_plain(snippet: Path, values_path: Path | None = None,
               source: str | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """``python snippets/<name>.py`` from the repository root, as a reader runs it.

    With ``values_path`` the run also leaves the snippet's ``KB_VALUES`` there as JSON; with
    ``source`` that text runs instead of the file (a mutated copy in a temporary folder).
    """
    # One BLAS/OpenMP thread per process: the runs go in parallel, one per core, and tiny
    # models train far slower when two processes each spin two threads on two cores.
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    path = f"snippets/{snippet.name}"
    with tempfile.TemporaryDirectory() as tmp:
        if source is not None:
            # Outside snippets/ (a build running meanwhile must not see it); the project stays importable.
            mutated = Path(tmp) / "snippets" / snippet.name
            mutated.parent.mkdir()
            mutated.write_text(source, encoding="utf-8")
            path = str(mutated)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
        cmd = [sys.executable, path] if values_path is None else [sys.executable, "-c", _RUN_AND_DUMP, path, str(values_path)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SNIPPET_TIMEOUT_S)
    return proc, time.perf_counter() - start


@pytest.fixture(scope="module")
def values_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kb_values")


@pytest.fixture(scope="module")
def plain_runs(values_dir: Path) -> dict[str, tuple[subprocess.CompletedProcess, float]]:
    """Every snippet run as a plain script, one process per core at a time (KB_VALUES kept in ``values_dir``)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        runs = pool.map(lambda p: _run_plain(p, values_dir / f"{p.name}.json"), SNIPPETS)
        return dict(zip((p.name for p in SNIPPETS), runs))


@pytest.fixture(scope="module")
def snippet_values(plain_runs, values_dir: Path) -> dict[str, dict]:  # noqa: ANN001
    """``{"x.py": KB_VALUES}`` for every snippet that ran to the end."""
    return {name: json.loads((values_dir / f"{name}.json").read_text(encoding="utf-8"))
            for name in plain_runs if (values_dir / f"{name}.json").is_file()}


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
    if level == APPENDIX:  # about the site itself: off the path, reached from the home page
        assert all(note not in _path_steps(lv) for lv in LEVELS), f"{note}: an appendix is not a step of the path"
        assert f"[[{note}]]" in (DOCS / "index.md").read_text(encoding="utf-8"), f"{note}: link the appendix from index.md"
        return
    assert level in LEVELS, f"{note}: level {level!r} is not one of {LEVELS} (or {APPENDIX!r})"
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


# --- (4) values bound into prose, claims, hand-typed numbers --------------------------------------

BINDING = re.compile(r"\{\{\s*([\w.-]+\.py)\s*:\s*([A-Za-z_][\w]*)\s*(?:\|([^}]*))?\}\}")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
EXPORT = re.compile(r"""KB_VALUES\[\s*["']([A-Za-z_]\w*)["']\s*\]\s*=(?!=)\s*(.*)""")


def _prose(path: Path) -> str:
    """A note's text without frontmatter and code (what the reader sees as prose)."""
    text = path.read_text(encoding="utf-8")
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        text = "\n" * text[:end + 4].count("\n") + text[end + 4:] if end > 0 else text
    return CODE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def _bindings() -> list[tuple[str, int, str, str, str | None]]:
    """(note, line, snippet, key, format) for every ``{{x.py:key|fmt}}`` in the notes' prose."""
    out = []
    for path in sorted(DOCS.rglob("*.md")):
        for lineno, line in enumerate(_prose(path).splitlines(), 1):
            for m in BINDING.finditer(line):
                out.append((path.relative_to(DOCS).as_posix(), lineno, m.group(1), m.group(2), m.group(3)))
    return out


def _exports(snippet: Path) -> dict[str, str]:
    """``{key: right-hand side}`` of every ``KB_VALUES["key"] = ...`` in a snippet's source.

    Tuple targets (``KB_VALUES["a"], KB_VALUES["b"] = ...``) count too; their right-hand side
    is the whole tuple's source (never a single claim).
    """
    src = snippet.read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for node in ast.walk(ast.parse(src)):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            elts = target.elts if isinstance(target, ast.Tuple) else [target]
            for elt in elts:
                if (isinstance(elt, ast.Subscript) and isinstance(elt.value, ast.Name) and elt.value.id == "KB_VALUES"
                        and isinstance(elt.slice, ast.Constant) and isinstance(elt.slice.value, str)):
                    rhs = ast.get_source_segment(src, node.value) or ""
                    out[elt.slice.value] = rhs if len(elts) == 1 else f"({rhs})"
    return out


def test_every_bound_value_is_exported_by_its_snippet() -> None:
    """Static: each ``{{x.py:key}}`` names an existing snippet that assigns ``KB_VALUES["key"]``."""
    missing = []
    for note, line, snippet, key, _ in _bindings():
        path = ROOT / "snippets" / snippet
        if not path.is_file() or key not in _exports(path):
            missing.append(f"{note}:{line}: {{{{{snippet}:{key}}}}}")
    assert _bindings(), "no note binds a snippet value"
    assert not missing, "values bound in notes that no snippet exports:\n" + "\n".join(missing)


def test_every_exported_claim_is_asserted_in_its_snippet() -> None:
    """Static: a bool export (a claim) is followed by ``assert KB_VALUES["key"]`` in the same snippet."""
    unasserted = []
    for path in SNIPPETS:
        src = path.read_text(encoding="utf-8")
        for key, rhs in _exports(path).items():
            if rhs.startswith("bool(") or rhs.strip() in ("True", "False"):
                assert rhs.strip() not in ("True", "False"), f"{path.name}: {key} is a hard-coded claim"
                if not re.search(rf"""assert\s+(?:\w+\s+and\s+)*KB_VALUES\[["']{key}["']\]""", src):
                    unasserted.append(f"{path.name}: {key}")
    assert not unasserted, "claims exported without an assert:\n" + "\n".join(unasserted)


def test_claims_cited_in_notes_are_bools() -> None:
    """Static: a claim cited without a format is a bool export (so the page can mark it as checked)."""
    wrong = []
    for note, line, snippet, key, fmt in _bindings():
        rhs = _exports(ROOT / "snippets" / snippet).get(key, "")
        looks_like_claim = key.startswith(("is_", "has_")) or rhs.startswith("bool(")
        if rhs.startswith("bool(") and fmt:
            wrong.append(f"{note}:{line}: claim {key} formatted with {fmt!r}")
        if looks_like_claim and not rhs.startswith("bool("):
            wrong.append(f"{note}:{line}: {key} reads like a claim but is not a bool export")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_bound_values_exist_and_cited_claims_hold(snippet_values: dict[str, dict]) -> None:
    """Every value a note binds was exported by the run; every cited bool claim is true."""
    problems = []
    for note, line, snippet, key, _ in _bindings():
        values = snippet_values.get(snippet)
        if values is None:
            problems.append(f"{note}:{line}: {snippet} did not run to the end")
        elif key not in values:
            problems.append(f"{note}:{line}: {snippet} exported no {key!r}")
        elif values[key] is False:
            problems.append(f"{note}:{line}: claim {snippet}:{key} is false")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_scaling_experiment_shows_a_trend_beyond_seed_noise(snippet_values: dict[str, dict]) -> None:
    values = snippet_values["scaling_laws.py"]
    assert values["n_seeds"] >= 3 and values["n_sizes"] >= 4
    assert values["bigger_is_better"] and values["diminishing_returns"] and values["alpha_positive_every_seed"]
    assert values["val_loss_smallest"] - values["val_loss_largest"] > 10 * values["max_seed_std"]
    assert values["corpus_kb"] == round(values["corpus_bytes"] / 1000) < 100  # "约 50 KB", not "几百 KB"


@pytest.mark.slow
def test_pronoun_demo_finds_the_referent(snippet_values: dict[str, dict]) -> None:
    values = snippet_values["pronoun.py"]
    assert values["trained_head_finds_referent"]
    assert values["pronoun_frac_trained"] > 0.5 > values["pronoun_frac_untrained"] - 0.25
    assert values["pronoun_n_test"] >= 20


@pytest.mark.slow
@pytest.mark.parametrize("snippet, original, broken", [
    ("pronoun.py", "frac_trained > 0.9 and", "frac_trained > 1.5 and"),
])
def test_breaking_a_claim_fails_the_snippet(snippet: str, original: str, broken: str) -> None:
    """Tightening a claim's threshold past what the output shows makes the snippet's assert fail."""
    path = ROOT / "snippets" / snippet
    source = path.read_text(encoding="utf-8")
    assert source.count(original) == 1, f"{snippet}: the claim's condition changed; update this test"
    proc, _ = _run_plain(path, source=source.replace(original, broken))
    assert proc.returncode != 0 and "AssertionError" in proc.stderr, proc.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("snippet", SNIPPETS, ids=[p.name for p in SNIPPETS])
def test_snippet_output_has_no_pytorch_warning(snippet: Path, plain_runs) -> None:  # noqa: ANN001
    """A PyTorch warning in a snippet's output is a cause to fix (e.g. a layout mismatch), not noise."""
    proc, _ = plain_runs[snippet.name]
    torch_warnings = [line for line in proc.stderr.splitlines()
                      if "Warning" in line and re.search(r"[/\\]torch[/\\]", line)]
    assert not torch_warnings, f"{snippet.name}:\n" + "\n".join(torch_warnings)
