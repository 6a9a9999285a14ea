"""Shared fixtures.

``built_site`` (session scope) is the real vault (``docs/`` + ``snippets/``) built once per test
session with the project's own ``mkdocs.yml`` and ``--strict``, into a temporary folder; it
returns that folder (a ``pathlib.Path`` holding ``index.html``, ``search/``, ...). Any test that
needs the built site should take this fixture instead of building again. The snippet cache
(``.cache/kbgen``) is shared with ``make site``, so a warm cache makes it quick; a cold build runs
every snippet (minutes).

Set ``KBGEN_BUILT_SITE=/path/to/site`` to reuse an existing build (for iterating on tests);
the fixture then only checks that it looks like a built site.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def build_site(dest: Path, config: Path | None = None, cwd: Path = ROOT, strict: bool = True) -> subprocess.CompletedProcess:
    """Run ``mkdocs build`` (same interpreter) into ``dest``; returns the finished process."""
    cmd = [sys.executable, "-m", "mkdocs", "build", "--site-dir", str(dest)]
    if config is not None:
        cmd += ["--config-file", str(config)]
    if strict:
        cmd.append("--strict")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real site, built once per session (see module docstring)."""
    reuse = os.environ.get("KBGEN_BUILT_SITE")
    if reuse:
        site = Path(reuse)
        assert (site / "index.html").is_file(), f"KBGEN_BUILT_SITE={reuse} has no index.html"
        return site
    site = tmp_path_factory.mktemp("built_site") / "site"
    proc = build_site(site)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return site
