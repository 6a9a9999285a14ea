"""``mkdocs serve`` with kbgen's fast path (kbgen.serve): after a scripted sequence of edits (a note,
a heading others link to, a new note, a deleted note, a tag added, a snippet edited, a module
edited), the served site equals a clean ``mkdocs build`` of the final sources, file for file
(the run report aside); and each edit became visible in the served page on the way."""

from __future__ import annotations

import difflib
import gzip
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import make_project, write  # noqa: E402

pytestmark = pytest.mark.slow

CONFIG = """
site_name: 增量 serve
use_directory_urls: false
theme:
  name: material
  language: zh
plugins:
  - search
  - kbgen
"""
SNIPPET = "# %% value\nfrom fakecore.b import base\nprint('VALUE-' + str(base()))\n"
# Reads a note: editing that note makes it stale (re-run in the background, "updating" meanwhile).
READER = "# %% size\nfrom pathlib import Path\nprint('SIZE-' + str(len(Path('docs/甲.md').read_text(encoding='utf-8'))))\n"
NOTES = {
    "index.md": "---\ntitle: 首页\n---\n\n# 首页\n\n![[val.py#value]]\n\n见 [[甲]] 与 [[乙]]。\n",
    "甲.md": "---\ntitle: 甲\ntags: [旧标签]\n---\n\n# 甲\n\n第一段 ALPHA-0。\n\n![[reader.py#size]]\n\n## 细节\n\n细节内容。\n",
    "乙.md": "# 乙\n\n参见 [[甲#细节]] 和 [[丙]]。\n",
    "丙.md": "# 丙\n\n丙的内容，链接 [[甲]]。\n",
}
SETTLED = re.compile(r"kbgen serve: site rebuilt in the background in [\d.]+ s \(serving (.+)\)")
REPORTS = {"kbgen-report.json", "snippets/index.html"}  # run report and its page (run times)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode("utf-8")
    except (urllib.error.URLError, OSError):
        return None


class Served:
    """A running ``mkdocs serve`` of ``root`` and its log."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root, self.log_path = root, log
        self.port = free_port()
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "serve", "--dev-addr", f"127.0.0.1:{self.port}"],
            cwd=root, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def page(self, rel: str) -> str | None:
        return fetch(f"http://127.0.0.1:{self.port}/{urllib.request.quote(rel)}")

    def wait_for(self, rel: str, want: str | None, timeout: float = 120) -> None:
        """Until page ``rel`` contains ``want`` (None: until it is gone)."""
        deadline = time.time() + timeout
        page = None
        while time.time() < deadline:
            assert self.proc.poll() is None, f"mkdocs serve exited:\n{self.log()[-3000:]}"
            page = self.page(rel)
            if (want is None and page is None) or (want is not None and page is not None and want in page):
                return
            time.sleep(0.2)
        raise AssertionError(f"{want!r} never appeared in {rel}:\n{(page or '')[-800:]}\n{self.log()[-3000:]}")

    def settled_dir(self, timeout: float = 180) -> Path:
        """The served folder once the background build that follows the last change has ended."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = self.log()
            last_change = log.rfind("Detected file changes")
            done = list(SETTLED.finditer(log, max(last_change, 0)))
            if done and "kbgen serve: build superseded" not in log[done[-1].end():]:
                time.sleep(1.5)  # nothing pending: no new change detected since
                if self.log() == log:
                    return Path(done[-1].group(1))
            time.sleep(0.3)
        raise AssertionError(f"the server never settled:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # as Ctrl-C: serve removes its temporary folders
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def tree(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in REPORTS:
            data = p.read_bytes()
            out[rel] = gzip.decompress(data) if rel.endswith(".gz") else data  # gzip headers carry a time
    return out


def touch_later(path: Path, text: str) -> None:
    """Write ``text``; a poll of the watcher sees each edit as a change."""
    time.sleep(0.6)
    write(path, text)


def test_served_site_equals_clean_build_after_edits(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"val.py": SNIPPET, "reader.py": READER})
    write(root / "mkdocs.yml", CONFIG)
    for rel, text in NOTES.items():
        write(root / "docs" / rel, text)
    docs = root / "docs"
    srv = Served(root, tmp_path / "serve.log")
    try:
        srv.wait_for("index.html", "VALUE-41", timeout=240)
        time.sleep(1.5)  # the watcher's first poll has seen the tree
        # 1. a note's text
        touch_later(docs / "甲.md", NOTES["甲.md"].replace("ALPHA-0", "ALPHA-1"))
        srv.wait_for("甲.html", "ALPHA-1")
        # 2. a heading another note links to
        touch_later(docs / "甲.md", NOTES["甲.md"].replace("ALPHA-0", "ALPHA-1").replace("## 细节", "## 详情"))
        srv.wait_for("甲.html", "详情")
        # 3. a new note (links to 甲: its backlinks change)
        touch_later(docs / "丁.md", "# 丁\n\n新笔记 DELTA，链接 [[甲#详情]]。\n")
        srv.wait_for("丁.html", "DELTA")
        # 4. a deleted note (乙 links to it)
        time.sleep(0.6)
        (docs / "丙.md").unlink()
        srv.wait_for("丙.html", None)
        # 5. a tag added
        touch_later(docs / "甲.md", (docs / "甲.md").read_text(encoding="utf-8").replace("[旧标签]", "[旧标签, 新标签]"))
        srv.wait_for("tags/新标签.html", "甲")
        # 6. the snippet, 7. the module it imports
        touch_later(root / "snippets/val.py", SNIPPET.replace("'VALUE-'", "'VALUE2-'"))
        srv.wait_for("index.html", "VALUE2-41")
        touch_later(root / "fakecore/b.py", "def base():\n    return 43\n")
        srv.wait_for("index.html", "VALUE2-43")
        served = srv.settled_dir()
        served_files = tree(served)
        log = srv.log()
    finally:
        srv.stop()
    assert "re-rendered 甲.md in" in log  # the note edits took the fast path
    assert "re-running in the background: reader.py" in log  # its page said "updating" meanwhile
    final = (docs / "甲.md").read_text(encoding="utf-8")
    # A clean build of the final sources, with the URL serve gives the site.
    write(root / "mkdocs.yml", CONFIG + f"site_url: http://127.0.0.1:{srv.port}/\nsite_dir: clean\n")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root, capture_output=True, text=True,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    clean = tree(root / "clean")
    assert sorted(served_files) == sorted(clean)
    differ = [rel for rel in clean if served_files[rel] != clean[rel]]
    assert not differ, f"served files differ from a clean build: {differ}\n" + "\n".join(
        "".join(difflib.unified_diff(clean[rel].decode(errors="replace").splitlines(True),
                                     served_files[rel].decode(errors="replace").splitlines(True), n=1))[:3000]
        for rel in differ)
    assert "VALUE2-43" in clean["index.html"].decode() and "新标签" in clean["甲.html"].decode()
    assert f"SIZE-{len(final)}" in clean["甲.html"].decode()
