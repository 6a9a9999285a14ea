"""Reliability under ``mkdocs serve``: a snippet edited to raise shows its error in the page and
the server keeps running; fixing it restores the output. The config is strict, as the real
``mkdocs.yml`` is: ``serve`` must not die on a failing snippet (``build --strict`` still fails)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import BOOT, make_project, write  # noqa: E402

CONFIG = """
site_name: serve 测试
use_directory_urls: false
strict: true
theme:
  name: material
  language: zh
plugins:
  - kbgen:
      site: false
      graph_page: ""
      tags_dir: ""
"""
GOOD = BOOT + "# %% value\nprint('SERVE-OUTPUT-' + str(6 * 7))\n"
BAD = BOOT + "# %% value\nraise ValueError('SERVE-BROKEN')\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode("utf-8")
    except (urllib.error.URLError, OSError):
        return None


def wait_for(url: str, proc: subprocess.Popen, want: str, timeout: float = 240) -> str:
    deadline = time.time() + timeout
    page = None
    while time.time() < deadline:
        assert proc.poll() is None, "mkdocs serve exited"
        page = fetch(url)
        if page is not None and want in page:
            return page
        time.sleep(0.5)
    raise AssertionError(f"{want!r} never appeared at {url}; last page: {(page or '')[-1500:]}")


def test_serve_shows_snippet_errors_and_recovers(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"live.py": GOOD[len(BOOT):]})
    write(root / "mkdocs.yml", CONFIG)
    write(root / "docs/index.md", "---\ntitle: 首页\n---\n\n# 首页\n\n![[live.py#value]]\n")
    snippet = root / "snippets/live.py"
    snippet.write_text(BAD)  # broken from the start: serve must still come up
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "serve", "--dev-addr", f"127.0.0.1:{port}"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    url = f"http://127.0.0.1:{port}/index.html"
    try:
        page = wait_for(url, proc, "SERVE-BROKEN")
        assert "kb-error" in page and "snippets/live.py:" in page
        time.sleep(1.5)  # let the watcher settle so the edit is seen as a change
        snippet.write_text(GOOD)
        wait_for(url, proc, "SERVE-OUTPUT-42")
        time.sleep(1.5)
        snippet.write_text(BAD.replace("SERVE-BROKEN", "SERVE-BROKEN-AGAIN"))
        page = wait_for(url, proc, "SERVE-BROKEN-AGAIN")
        assert "SERVE-OUTPUT-42" not in page
        time.sleep(1.5)
        snippet.write_text(GOOD)
        wait_for(url, proc, "SERVE-OUTPUT-42")
        assert proc.poll() is None
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    # and the same failure still fails a strict build
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root, capture_output=True, text=True,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300)
    assert r.returncode == 0  # the last edit fixed it
    snippet.write_text(BAD)
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=root, capture_output=True, text=True,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300)
    assert r.returncode != 0 and "snippets/live.py:" in r.stderr
