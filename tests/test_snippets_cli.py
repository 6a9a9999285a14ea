"""``python -m kbgen run`` and ``python -m kbgen check`` on a temporary project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import make_project, write  # noqa: E402


def kbgen(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kbgen", "--root", str(root), "--jobs", "2", *args],
                          cwd=root, capture_output=True, text=True, timeout=300)


def test_run_writes_outputs_and_check_reports(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    write(root / "docs/other.md", "# 其他\n\n![[s_plot.py#nope]] 和 [[gone.py]]\n\n```\n[[in_code.py]]\n```\n")

    r = kbgen(root, "check")
    assert r.returncode == 1
    assert "stale     snippets/s_plot.py (miss" in r.stdout
    assert "unused    snippets/s_other.py" in r.stdout
    assert "broken    docs/other.md:3: s_plot.py has no cell titled 'nope' (titles: setup, heatmap, line)" in r.stdout
    assert "broken    docs/other.md:3: [[gone.py]] names no snippet" in r.stdout
    assert "in_code.py" not in r.stdout  # references inside code blocks are examples

    out = tmp_path / "out"
    r = kbgen(root, "run", "s_plot", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "[heatmap] x < y & z" in r.stdout
    assert (out / "heatmap-1.svg").is_file() and (out / "s_plot.ipynb").is_file()

    r = kbgen(root, "check", "--run")
    assert "stale" not in r.stdout  # everything executed and cached now


def test_run_failing_snippet_exits_nonzero(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"bad.py": "# %% a\nprint('x')\n1 / 0\n"})
    r = kbgen(root, "run", "snippets/bad.py")
    assert r.returncode == 1
    assert "snippets/bad.py:4: ZeroDivisionError" in r.stderr
