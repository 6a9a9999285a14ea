"""Integration: values and claims bound into prose, in a real ``mkdocs build --strict``.

A fixture project: one snippet exporting ``KB_VALUES`` (a count, a loss, a claim backed by an
assert), one note binding them. Flipping the claim (the data changes, or the threshold) fails
the build with the note's ``file:line``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kbgen.snippets import SnippetEngine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(SnippetEngine, "value"), reason="the snippet engine has no value() yet (#13)"),
]

CONFIG = """
site_name: values fixture
use_directory_urls: false
theme:
  name: material
  language: zh
plugins:
  - kbgen:
      site: false
      graph_page: ""
      tags_dir: ""
      local_graph: false
      backlinks: false
"""

SNIPPET = '''
# %% data
LOSSES = [6.30, 6.21, 6.02, 5.91]
THRESHOLD = 0.0
KB_VALUES = {}
KB_VALUES["n_params"] = 124_439_808
KB_VALUES["final_loss"] = LOSSES[-1]

# %% claim
drops = [a - b for a, b in zip(LOSSES, LOSSES[1:])]
KB_VALUES["loss_falls"] = all(d > THRESHOLD for d in drops)
print("drops:", drops)
'''

NOTE = """---
title: 规模
---

# 规模

模型有 {{scale.py:n_params}} 个参数，约 {{scale.py:n_params|亿}}。

最终损失为 {{scale.py:final_loss|.2f}}，损失随规模下降 {{scale.py:loss_falls}}。

`{{scale.py:not_bound_in_code}}`
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def build(root: Path, strict: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mkdocs", "build"] + (["--strict"] if strict else [])
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    write(tmp_path / "mkdocs.yml", CONFIG)
    write(tmp_path / "snippets/scale.py", SNIPPET)
    write(tmp_path / "docs/规模.md", NOTE)
    return tmp_path


def test_values_and_claim_render_with_links_to_their_cells(project: Path) -> None:
    r = build(project)
    assert r.returncode == 0, r.stderr[-3000:]
    html = (project / "site/规模.html").read_text(encoding="utf-8")
    assert "124,439,808" in html and "1.24 亿" in html and "5.91" in html
    assert "✓ 已验证" in html and 'class="kb-claim kb-claim--ok"' in html
    assert "snippets/scale.html#cell-" in html
    assert "<code>{{scale.py:not_bound_in_code}}</code>" in html
    assert "{{scale.py:n_params" not in html


@pytest.mark.parametrize("change", [
    ("LOSSES = [6.30, 6.21, 6.02, 5.91]", "LOSSES = [6.30, 6.21, 6.25, 5.91]"),  # the data
    ("THRESHOLD = 0.0", "THRESHOLD = 0.15"),  # the threshold
])
def test_breaking_the_claim_fails_the_build_at_the_notes_line(project: Path, change: tuple[str, str]) -> None:
    path = project / "snippets/scale.py"
    path.write_text(path.read_text(encoding="utf-8").replace(*change), encoding="utf-8")
    r = build(project)
    assert r.returncode != 0
    assert "规模.md:9: claim {{scale.py:loss_falls}} is false" in r.stderr
    # Without --strict the build goes through and the page says so.
    r = build(project, strict=False)
    html = (project / "site/规模.html").read_text(encoding="utf-8")
    assert "✗ 未通过" in html and "✓ 已验证" not in html


def test_asserted_claim_that_breaks_fails_at_the_notes_line(project: Path) -> None:
    """The usual form: the snippet asserts its claim, so breaking it fails the snippet too."""
    path = project / "snippets/scale.py"
    text = path.read_text(encoding="utf-8") + 'assert KB_VALUES["loss_falls"], drops\n'
    path.write_text(text.replace("THRESHOLD = 0.0", "THRESHOLD = 0.15"), encoding="utf-8")
    r = build(project)
    assert r.returncode != 0
    assert "规模.md:9: {{scale.py:loss_falls}}" in r.stderr


def test_missing_key_and_snippet_fail_with_file_and_line(project: Path) -> None:
    write(project / "docs/其他.md", "# 其他\n\n一 {{scale.py:nope}}\n\n二 {{gone.py:x}}\n")
    r = build(project)
    assert r.returncode != 0
    assert "其他.md:3: {{scale.py:nope}}" in r.stderr
    assert "其他.md:5: {{gone.py:x}}" in r.stderr


def test_drafting_without_execution_shows_pending_values(project: Path) -> None:
    config = project / "mkdocs.yml"
    config.write_text(config.read_text(encoding="utf-8").replace("      site: false", "      site: false\n      execute: false"),
                      encoding="utf-8")
    r = build(project)
    assert r.returncode == 0, r.stderr[-3000:]
    html = (project / "site/规模.html").read_text(encoding="utf-8")
    assert html.count("kb-value--pending") == 4 and "✓ 已验证" not in html
