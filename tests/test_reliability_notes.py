"""Reliability: bad notes. Each gives one clear message with file and line, the rest of the site
builds, and nothing outside the vault and the snippets folder is ever read or embedded.

The fixture (``tests/fixtures/reliability/bad_vault``) holds one bad note per fault next to good
notes; the build runs under an audit hook (``audited_mkdocs.py``) that records every file the
build process opens in the forbidden folders (``outside/`` beside the vault, and two
``etc/passwd`` sentinels where ``![[../../etc/passwd]]`` could land).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "reliability"
SENTINEL = "SENTINEL-OUTSIDE-VAULT-7f3a"


@pytest.fixture(scope="module")
def bad_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path, Path]:
    work = tmp_path_factory.mktemp("bad")
    proj = work / "proj"
    shutil.copytree(FIXTURES / "bad_vault", proj)
    for etc in (work / "etc", proj / "etc"):  # where ../../etc/passwd would land from docs/坏笔记/
        etc.mkdir()
        (etc / "passwd").write_text(SENTINEL + "\n")
    audit = work / "audit.log"
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        # mkdocs.yml is the positive control: the build must read it, so the hook must see it.
        "KBGEN_FORBIDDEN": os.pathsep.join(
            str(p) for p in (proj / "outside", proj / "etc", work / "etc", Path("/etc/passwd"), proj / "mkdocs.yml")
        ),
        "KBGEN_AUDIT_LOG": str(audit),
    }
    out = subprocess.run(
        [sys.executable, str(FIXTURES / "audited_mkdocs.py"), "build"],
        cwd=proj, capture_output=True, text=True, timeout=600, env=env,
    )
    return out, proj / "site", audit


def messages(log: str, needle: str) -> list[str]:
    return [ln for ln in log.splitlines() if needle in ln]


def one_message(log: str, where: str, pattern: str) -> str:
    """Exactly one log line names ``where`` (``file:line:``) and it matches ``pattern``."""
    lines = messages(log, f"kbgen: {where}")
    assert len(lines) == 1, (where, lines, log[-3000:])
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def test_the_rest_of_the_site_builds(bad_build) -> None:
    out, site, _ = bad_build
    assert out.returncode == 0, out.stderr[-4000:]
    good = (site / "正常笔记.html").read_text(encoding="utf-8")
    assert "GOOD-NOTE-BODY" in good and "SNIPPET-OK-OUTPUT" in good
    for page, marker in (
        ("坏的前言", "MALFORMED-FRONTMATTER-BODY"),
        ("未闭合的代码块", "UNCLOSED-FENCE-TAIL"),
        ("循环甲", "CYCLE-A"),
        ("奇怪的前言", "ODD-FRONTMATTER-BODY"),
    ):
        assert marker in (site / "坏笔记" / f"{page}.html").read_text(encoding="utf-8"), page
    assert (site / "坏笔记/越界.html").is_file() and (site / "坏笔记/断开的链接.html").is_file()
    report = json.loads((site / "kbgen-report.json").read_text(encoding="utf-8"))
    assert [(e["name"], e["status"]) for e in report["snippets"]] == [("ok.py", "executed")]


def test_malformed_frontmatter(bad_build) -> None:
    one_message(bad_build[0].stderr, "坏笔记/坏的前言.md:", r"坏的前言\.md:\d+: .*frontmatter")


def test_odd_frontmatter_types_do_not_break_the_build(bad_build) -> None:
    # title: [1, 2], aliases: 3, tags: {a: 1}, prerequisites: 7 ... are reported, never a crash
    out = bad_build[0]
    assert "Traceback" not in out.stderr
    assert messages(out.stderr, "坏笔记/奇怪的前言.md:")


def test_unclosed_fence(bad_build) -> None:
    one_message(bad_build[0].stderr, "坏笔记/未闭合的代码块.md:9:", r"unclosed code fence")


def test_wikilink_to_nothing_missing_image_and_missing_heading(bad_build) -> None:
    log = bad_build[0].stderr
    one_message(log, "坏笔记/断开的链接.md:7:", r"\[\[根本不存在的笔记\]\]")
    one_message(log, "坏笔记/断开的链接.md:11:", r"不存在的图片\.png")
    one_message(log, "坏笔记/断开的链接.md:15:", r"no heading '不存在的标题'")


def test_embed_cycle(bad_build) -> None:
    out, site, _ = bad_build
    one_message(out.stderr, "坏笔记/循环甲.md:9:", r"embed cycle")
    page = (site / "坏笔记/循环甲.html").read_text(encoding="utf-8")
    assert page.count("CYCLE-A") >= 1 and "kb-unresolved" in page


def test_paths_escaping_the_vault_or_snippets(bad_build) -> None:
    log = bad_build[0].stderr
    one_message(log, "坏笔记/越界.md:7:", r"outside the vault")
    one_message(log, "坏笔记/越界.md:9:", r"outside the vault")
    one_message(log, "坏笔记/越界.md:11:", r"/etc/passwd")
    for line in (13, 15, 17):
        one_message(log, f"坏笔记/越界.md:{line}:", r"escapes the snippets folder")


def test_nothing_outside_the_vault_is_read_or_embedded(bad_build) -> None:
    out, site, audit = bad_build
    assert out.returncode == 0
    opened = audit.read_text(encoding="utf-8").splitlines() if audit.exists() else []
    assert any(line.endswith("/mkdocs.yml") for line in opened), "the audit hook saw nothing"
    assert [line for line in opened if not line.endswith("/mkdocs.yml")] == []
    for f in site.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert SENTINEL.encode() not in data, f
            assert b"root:x:0:0" not in data, f
    assert not list(site.rglob("secret*")) and not list(site.rglob("passwd"))
