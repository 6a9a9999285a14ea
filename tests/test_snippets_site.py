"""The real site's snippet output (uses the shared ``built_site`` fixture: one build per session)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNIPPETS = sorted(p.stem for p in (ROOT / "snippets").glob("*.py") if not p.name.startswith("_"))

pytestmark = pytest.mark.slow


def _page(site: Path, stem: str) -> Path:
    for cand in (site / "snippets" / f"{stem}.html", site / "snippets" / stem / "index.html"):
        if cand.is_file():
            return cand
    raise AssertionError(f"no page for snippet {stem}")


def test_report_lists_every_snippet_ok(built_site: Path) -> None:
    rep = json.loads((built_site / "kbgen-report.json").read_text(encoding="utf-8"))
    assert sorted(e["name"][:-3] for e in rep["snippets"]) == SNIPPETS
    assert all(e["status"] in ("executed", "cached") for e in rep["snippets"])
    assert re.fullmatch(r"kbgen: \d+ snippets, \d+ executed, \d+ cached, 0 failed", rep["line"])


@pytest.mark.parametrize("stem", SNIPPETS)
def test_snippet_page_is_light_and_complete(built_site: Path, stem: str) -> None:
    html = _page(built_site, stem).read_text(encoding="utf-8")
    assert len(html.encode()) < 150_000, f"{stem}: {len(html.encode())} bytes"
    assert "jp-Notebook" not in html and "data:image" not in html
    assert f".venv/bin/python snippets/{stem}.py" in re.sub(r"<[^>]+>", "", html)
    assert f'href="{stem}.py"' in html and f'href="{stem}.ipynb"' in html
    assert not re.search(r'<h[1-6] id=""', html)
    assert (built_site / "snippets" / f"{stem}.ipynb").is_file()
