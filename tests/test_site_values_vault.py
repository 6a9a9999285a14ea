"""The real vault: no number a snippet computes is typed by hand in a note (issue #16).

Reads every exported value from the built site's ``kbgen-report.json`` (per snippet:
``"values": {key: value}``) and every number typed in the notes' prose (outside code, math,
bindings and footnote definitions), compared at the precision and unit typed
(``124,439,808`` / ``1.24 亿`` / ``0.58`` / ``58%`` / ``3.2×``). Each match should be a binding
``{{x.py:key|fmt}}`` instead.
"""

from __future__ import annotations

import json
import re
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


#: ``x.py`` named by a note: bound (``{{x.py:key}}``), linked or embedded (``[[x.py…]]``).
USED_SNIPPET = re.compile(r"(?:\{\{|\[\[)([\w.-]+\.py)\b")


def test_no_computed_value_is_typed_by_hand(built_site: Path) -> None:
    """A number in a note that equals a value one of *its* snippets (those it binds, links or
    embeds) exports must be bound. A number with a citation in its sentence is an external fact
    (a paper's 117M may equal our 116.5M counted at three digits) and is left alone."""
    exported = exported_values(built_site)
    found = []
    for path in sorted(DOCS.rglob("*.md")):
        note = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        used = {m.group(1) for m in USED_SNIPPET.finditer(text)}
        own = {name: values for name, values in exported.items() if name in used}
        found += [h for h in handtyped_values(text, note, own) if not h.number.cited]
    assert not found, f"{len(found)} computed value(s) typed by hand:\n" + "\n".join(map(str, found))


def test_the_check_finds_every_bound_value_if_it_were_typed_by_hand(built_site: Path) -> None:
    """The detector against the real notes: replace each binding by the text it renders (what an
    author would have typed) and the value must be reported at that note."""
    from kbgen.site.numformat import find_numbers, format_value, is_distinctive, is_notable
    from kbgen.site.values import find_bindings

    exported = exported_values(built_site)
    missed, checked = [], 0
    for path in sorted(DOCS.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        for b in find_bindings(text):
            value = exported.get(b.snippet, {}).get(b.key)
            if not is_distinctive(value):
                continue
            typed = format_value(value, b.fmt)
            if not any(is_notable(n) for n in find_numbers(typed)):
                continue  # e.g. "+0.6%": one digit identifies nothing
            checked += 1
            found = handtyped_values(text.replace(b.raw, typed, 1), path.name, exported)
            if not any(h.snippet == b.snippet and h.key == b.key for h in found):
                missed.append(f"{path.relative_to(ROOT)}:{b.line}: {b.raw} typed as {typed!r} is not detected")
    assert not missed, "\n".join(missed)
    if checked == 0:
        pytest.skip("no note binds a distinctive value yet")
