"""Bad notes in a vault: each gives one ``file:line`` message, no traceback, and the rest of the
site builds. ``kbgen check`` reports the same."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import build_site

LAUGHS = "\n".join(
    [f'a0: &a0 [{", ".join(["lol"] * 9)}]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
)
CONFIG = """site_name: Bad
use_directory_urls: false
theme: {name: material}
plugins:
  - kbgen:
      outside_symlinks: OPTION
"""


def make(root: Path, option: str) -> Path:
    docs = root / "docs"
    docs.mkdir(parents=True)
    (root / "mkdocs.yml").write_text(CONFIG.replace("OPTION", option), encoding="utf-8")
    (docs / "good.md").write_text("# Good\n\n[[bomb]] [[latin1]]\n", encoding="utf-8")
    (docs / "latin1.md").write_bytes("# Latin-1\n\nline two\ncaf\u00e9 here\n".encode("latin-1"))
    (docs / "bomb.md").write_text(f"---\ntitle: Bomb\n{LAUGHS}\n---\n# Bomb body\n", encoding="utf-8")
    os.symlink(root / "nowhere.md", docs / "dangling.md")
    os.symlink(root / "missing.png", docs / "dangling.png")
    (root / "outside").mkdir()
    (root / "outside" / "secret.md").write_text("# SECRET-OUTSIDE\n", encoding="utf-8")
    os.symlink(root / "outside" / "secret.md", docs / "linked.md")
    return root


def kbgen_lines(log: str) -> list[str]:
    return re.findall(r"kbgen: (\S[^\n]*)", log)


@pytest.fixture(scope="module", params=["follow", "refuse"])
def built(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path, str]:
    root = make(tmp_path_factory.mktemp(request.param), request.param)
    proc = build_site(root / "site", config=root / "mkdocs.yml", cwd=root, strict=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return request.param, root, root / "site", proc.stdout + proc.stderr


def test_one_message_each_no_traceback_rest_built(built) -> None:
    option, root, site, log = built
    assert "Traceback" not in log
    lines = kbgen_lines(log)
    expected = {
        "latin1.md:4: not UTF-8 (byte 0xe9": 1,
        "dangling.md:1: dangling symlink": 1,
        "dangling.png:1: dangling symlink": 1,
        "bomb.md:3: frontmatter refused: its YAML aliases would expand to more than 10,000 values": 1,
        "linked.md:1: symlink leading out of the vault": 1 if option == "refuse" else 0,
    }
    for start, count in expected.items():
        assert sum(l.startswith(start) for l in lines) == count, (start, lines)
    assert (site / "good.html").is_file() and (site / "bomb.html").is_file()
    assert "Bomb body" in (site / "bomb.html").read_text(encoding="utf-8")
    assert not (site / "latin1.html").exists() and not (site / "dangling.html").exists()
    assert (site / "linked.html").exists() is (option == "follow")
    if option == "refuse":
        assert not any("SECRET-OUTSIDE" in p.read_text(errors="replace") for p in site.rglob("*.html"))


def test_check_reports_the_same(built) -> None:
    option, root, _site, log = built
    r = subprocess.run([sys.executable, "-m", "kbgen", "--root", str(root), "check"],
                       cwd=root, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr
    checked = set(re.findall(r"^(?:invalid|unresolved)\s+docs/(\S[^\n]*)$", r.stdout, re.M))
    built_lines = {l for l in kbgen_lines(log) if re.match(r"\S+\.(?:md|png):\d+: ", l)}
    assert checked == built_lines
