"""The project installs and its site builds with the real configuration."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_kbgen_plugin_is_registered() -> None:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="mkdocs.plugins")}
    assert "kbgen" in names


def test_cli_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "kbgen", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    assert "kbgen" in out.stdout
