"""``kbgen check`` reads the vault through the build's own index and renderer: on the fixture
vault it reports exactly the problems ``mkdocs build`` reports, and never a reference the
build ignores (inside inline code, math, nested fences or raw HTML)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.test_vault_build import FIXTURE, build

LEVELS = ("unresolved", "ambiguous", "cycle", "depth", "error", "invalid")
BUILD_LINE = re.compile(r"kbgen: (\S[^:\n]*\.md:\d+: .*)$", re.M)
CHECK_LINE = re.compile(rf"^(?:{'|'.join(LEVELS)})\s+docs/(\S[^:\n]*\.md:\d+: .*)$", re.M)


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kbgen", "--root", str(root), "--jobs", "1", "check"],
                          cwd=root, capture_output=True, text=True, timeout=300)


def test_check_and_build_report_the_same_problems(tmp_path: Path) -> None:
    out, _site = build(tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    built = set(BUILD_LINE.findall(out.stderr + out.stdout))
    checked = check(tmp_path / "vault")
    found = set(CHECK_LINE.findall(checked.stdout))
    assert built, "the fixture vault has known problems; the build reported none"
    assert found == built, f"only in check: {sorted(found - built)}\nonly in build: {sorted(built - found)}"
    assert "循环/循环A.md" in " ".join(found)  # the embed cycle is among them


def test_check_ignores_references_the_build_ignores(tmp_path: Path) -> None:
    proj = tmp_path / "vault"
    shutil.copytree(FIXTURE, proj)
    (proj / "docs" / "代码示例.md").write_text(
        "# 代码示例\n\n"
        "Inline `[[gone.py]]`, math $[[gone2.py]]$, and HTML <span title='[[gone3.py]]'>x</span>.\n\n"
        "````markdown\n```python\n[[gone4.py]]\n```\n![[gone5.py]]\n````\n\n"
        "Real: [[missing.py]] and ![[hello.py#nope]]\n",
        encoding="utf-8",
    )
    r = check(proj)
    for ignored in ("gone.py", "gone2.py", "gone3.py", "gone4.py", "gone5.py"):
        assert ignored not in r.stdout, r.stdout
    assert "broken    docs/代码示例.md:12: [[missing.py]] names no snippet" in r.stdout
    assert "docs/代码示例.md:12: hello.py has no cell titled 'nope'" in r.stdout
    assert r.returncode == 1
