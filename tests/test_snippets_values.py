"""KB_VALUES: values a snippet exports, recorded with the cell that last assigned them, kept in
the cache, offered by ``SnippetEngine.value()`` and listed in the report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import engine, make_project  # noqa: E402

from kbgen.contracts import SnippetRefError, SnippetValue  # noqa: E402

VALUES = """
# %% [markdown]
# # 导出数值

# %% setup
KB_VALUES = {}
KB_VALUES["n_params"] = 124_439_808
KB_VALUES["ratio"] = 0.5

# %% count
KB_VALUES["ratio"] = 0.25  # changed here: attributed to this cell
KB_VALUES["name"] = "GPT-2"
KB_VALUES["n_params"] = 124_439_808  # same value again: stays with `setup`

# %% claim
KB_VALUES["fits"] = 0.25 < 1
assert KB_VALUES["fits"]
"""


def test_values_are_recorded_per_cell_and_cached(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"vals.py": VALUES})
    e = engine(root)
    o = e.execute()["vals.py"]
    assert o.status == "executed", o.message
    lines = (root / "snippets/vals.py").read_text().splitlines()
    setup_line = lines.index("KB_VALUES = {}") + 1
    count_line = lines.index("KB_VALUES[\"ratio\"] = 0.25  # changed here: attributed to this cell") + 1
    s = e.snippets["vals.py"]
    setup, count = s.cell("setup"), s.cell("count")
    assert setup is not None and count is not None and setup.line == setup_line and count.line == count_line
    assert e.value("vals.py", "n_params") == SnippetValue("vals.py", "n_params", 124_439_808, setup.index, "setup", setup_line)
    assert e.value("vals.py", "ratio") == SnippetValue("vals.py", "ratio", 0.25, count.index, "count", count_line)
    assert e.value("vals.py", "name").value == "GPT-2"
    fits = e.value("vals.py", "fits")
    assert fits.value is True and fits.cell_title == "claim"
    assert e.report()["snippets"][0]["values"] == {"fits": True, "n_params": 124_439_808, "name": "GPT-2", "ratio": 0.25}

    again = engine(root)
    assert again.execute()["vals.py"].status == "cached"
    assert again.value("vals.py", "ratio") == e.value("vals.py", "ratio")  # values come back from the cache


def test_value_errors_say_what_to_do(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"vals.py": VALUES, "bad.py": "# %% a\nraise RuntimeError('no')\n"})
    e = engine(root)
    e.execute()
    with pytest.raises(SnippetRefError, match=r"exports no value 'missing' \(exported: fits, n_params, name, ratio\)"):
        e.value("vals.py", "missing")
    with pytest.raises(SnippetRefError, match="no snippet named 'nope.py'"):
        e.value("nope.py", "x")
    with pytest.raises(SnippetRefError, match="bad.py failed"):
        e.value("bad.py", "x")
    skipped = engine(root, execution=False)
    skipped.execute()
    with pytest.raises(SnippetRefError, match="not executed"):
        skipped.value("vals.py", "ratio")


@pytest.mark.parametrize(
    "assignment, problem",
    [
        ("KB_VALUES['xs'] = [1, 2]", "list is not a JSON scalar"),
        ("KB_VALUES['d'] = {'a': 1}", "dict is not a JSON scalar"),
        ("KB_VALUES['none'] = None", "NoneType is not a JSON scalar"),
        ("KB_VALUES['nan'] = float('nan')", "not a finite number"),
        ("KB_VALUES[3] = 1", "keys must be strings"),
    ],
)
def test_non_scalar_values_fail_at_their_line(tmp_path: Path, assignment: str, problem: str) -> None:
    body = f"# %% ok\nKB_VALUES = {{'fine': 1}}\n\n# %% bad\nx = 1\n{assignment}\nprint('after')\n"
    root = make_project(tmp_path / "p", {"bad.py": body})
    o = engine(root).execute()["bad.py"]
    line = (root / "snippets/bad.py").read_text().splitlines().index(assignment) + 1
    assert o.status == "failed"
    first = o.message.splitlines()[0]
    assert problem in first, first
    if "keys" not in problem:
        assert first.startswith(f"snippets/bad.py:{line}: ValueError: KB_VALUES"), first
    else:
        assert first.startswith("snippets/bad.py:"), first
    assert "kbgen/snippets" not in o.message
