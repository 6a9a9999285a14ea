"""The real vault: no number a snippet computes is typed by hand in a note (issue #16).

Reads every exported value from the built site's ``kbgen-report.json`` (per snippet:
``"values": {key: value}``) and every number typed in the notes' prose (outside code, math,
bindings and footnote definitions), compared at the precision and unit typed
(``124,439,808`` / ``1.24 亿`` / ``0.58`` / ``58%`` / ``3.2×``). Each match should be a binding
``{{x.py:key|fmt}}`` instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbgen.site.prose import handtyped_values

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.slow


def exported_values(site: Path) -> dict[str, dict]:
    report = json.loads((site / "kbgen-report.json").read_text(encoding="utf-8"))
    entries = report["snippets"]
    if not any("values" in e for e in entries):
        pytest.skip("kbgen-report.json lists no snippet values yet (the engine's KB_VALUES, #13)")
    return {e["name"]: e.get("values") or {} for e in entries}


def test_no_computed_value_is_typed_by_hand(built_site: Path) -> None:
    exported = exported_values(built_site)
    found = []
    for path in sorted(DOCS.rglob("*.md")):
        note = path.relative_to(ROOT).as_posix()
        found += handtyped_values(path.read_text(encoding="utf-8"), note, exported)
    assert not found, f"{len(found)} computed value(s) typed by hand:\n" + "\n".join(map(str, found))
