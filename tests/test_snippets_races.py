"""What a page shows is what the code beside it computed, even when files change during a build.

Each race uses a first cell that waits for the test (no sleeps guessed in seconds): the snippet
signals ``started`` and blocks until the test, having edited a file, creates ``go``. Then the
files are restored and the project is built again: every build must show the output of the
code on disk at that build, never a result cached under another version's key.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import engine, make_project, write  # noqa: E402

from kbgen.snippets.contract import Outcome  # noqa: E402


def gate(sig: Path) -> str:
    """A first cell that waits until the test says go (at most 60 s, then fails loudly)."""
    return (
        "# %% wait\n"
        "import pathlib, time\n"
        f"_sig = pathlib.Path({str(sig)!r})\n"
        "(_sig / 'started').touch()\n"
        "_t = time.monotonic()\n"
        "while not (_sig / 'go').exists():\n"
        "    assert time.monotonic() - _t < 60, 'the test never said go'\n"
        "    time.sleep(0.01)\n"
        "\n"
    )


def build_racing(root: Path, sig: Path, edit) -> dict[str, Outcome]:
    """Build in a thread; once the gated snippet started, ``edit()`` and let it go on."""
    for f in ("started", "go"):
        (sig / f).unlink(missing_ok=True)
    result: dict[str, dict[str, Outcome]] = {}
    t = threading.Thread(target=lambda: result.setdefault("out", engine(root, preload=()).execute()))
    t.start()
    t0 = time.monotonic()
    while not (sig / "started").exists():
        assert t.is_alive() and time.monotonic() - t0 < 60, "the gated snippet never started"
        time.sleep(0.01)
    edit()
    (sig / "go").touch()
    t.join(120)
    assert "out" in result
    return result["out"]


def build(root: Path, sig: Path) -> dict[str, Outcome]:
    (sig / "go").touch()  # the gate opens at once
    return engine(root, preload=()).execute()


def text(o: Outcome, cell: str = "show") -> str:
    assert o.ok, o.message
    res = o.cell_result(cell)
    assert res is not None
    return res.text()


@pytest.fixture()
def sig(tmp_path: Path) -> Path:
    d = tmp_path / "sig"  # outside the project: snippets may write there
    d.mkdir()
    return d


def test_snippet_edited_while_it_runs(tmp_path: Path, sig: Path) -> None:
    a = gate(sig) + "# %% show\nprint('version A')\n"
    root = make_project(tmp_path / "p", {"race.py": a})
    path = root / "snippets/race.py"
    original = path.read_text()

    out = build_racing(root, sig, lambda: path.write_text(original.replace("version A", "version B")))
    o = out["race.py"]
    assert text(o) == "version A\n"  # the bytes that were read and keyed ran...
    assert "version A" in o.snippet.text  # ...and the page shows those bytes beside it
    assert "not cached" in o.reason

    assert text(build(root, sig)["race.py"]) == "version B\n"  # version B on disk: B's output
    path.write_text(original)
    again = build(root, sig)["race.py"]
    assert text(again) == "version A\n"
    assert text(build(root, sig)["race.py"]) == "version A\n"


def test_module_edited_while_an_importer_runs(tmp_path: Path, sig: Path) -> None:
    body = "# %% imp\nfrom fakecore.b import base\n\n" + gate(sig) + "# %% show\nprint(base())\n"
    root = make_project(tmp_path / "p", {"imp.py": body, "other.py": "# %% show\nfrom fakecore.c import C\nprint(C)\n"})
    mod = root / "fakecore/b.py"
    old = mod.read_text()

    out = build_racing(root, sig, lambda: mod.write_text(old.replace("41", "42")))
    assert text(out["imp.py"]) == "41\n"  # imported before the edit
    assert "not cached" in out["imp.py"].reason  # its module changed meanwhile: nothing cached

    second = build(root, sig)
    assert second["imp.py"].status == "executed" and text(second["imp.py"]) == "42\n"
    assert second["other.py"].status == "cached"  # c.py did not change
    mod.write_text(old)
    third = build(root, sig)
    assert text(third["imp.py"]) == "41\n"
    assert text(build(root, sig)["imp.py"]) == "41\n"


LISTINGS = {
    "glob": "import glob\nnames = sorted(p.rsplit('/', 1)[-1] for p in glob.glob('data/*.txt'))",
    "listdir": "import os\nnames = sorted(os.listdir('data'))",
    "scandir": "import os\nwith os.scandir('data') as it:\n    names = sorted(e.name for e in it)",
    "iterdir": "from pathlib import Path\nnames = sorted(p.name for p in Path('data').iterdir())",
    "path_glob": "from pathlib import Path\nnames = sorted(p.name for p in Path('data').glob('*.txt'))",
    "rglob": "from pathlib import Path\nnames = sorted(p.name for p in Path('data').rglob('*.txt'))",
}


@pytest.mark.parametrize("how", sorted(LISTINGS))
def test_file_added_to_a_listed_folder_reruns_exactly_that_snippet(tmp_path: Path, sig: Path, how: str) -> None:
    lister = f"# %% show\n{LISTINGS[how]}\nprint(names)\n"
    root = make_project(tmp_path / "p", {"lister.py": lister, "other.py": "# %% show\nfrom fakecore.c import C\nprint(C)\n"})
    first = build(root, sig)
    assert text(first["lister.py"]) == "['values.txt']\n"
    assert build(root, sig)["lister.py"].status == "cached"

    write(root / "data/added.txt", "new\n")
    (root / "snippets/unrelated.py").write_text("# %% show\nprint(1)\n")  # a new snippet: no listing of ours
    second = build(root, sig)
    assert second["lister.py"].status == "executed"
    assert text(second["lister.py"]) == "['added.txt', 'values.txt']\n"
    assert second["other.py"].status == "cached"  # it listed nothing (imports do not count)

    (root / "data/added.txt").unlink()
    (root / "snippets/unrelated.py").unlink()
    third = build(root, sig)
    assert text(third["lister.py"]) == "['values.txt']\n"  # back to the first entry's listing
    assert third["other.py"].status == "cached"


def test_file_added_to_a_listed_folder_during_the_run(tmp_path: Path, sig: Path) -> None:
    body = "# %% names\nimport os\nnames = sorted(os.listdir('data'))\n\n" + gate(sig) + "# %% show\nprint(names)\n"
    root = make_project(tmp_path / "p", {"lister.py": body})
    out = build_racing(root, sig, lambda: write(root / "data/added.txt", "new\n"))
    assert text(out["lister.py"]) == "['values.txt']\n"
    assert "not cached" in out["lister.py"].reason
    second = build(root, sig)["lister.py"]
    assert second.status == "executed" and text(second) == "['added.txt', 'values.txt']\n"
    (root / "data/added.txt").unlink()
    assert text(build(root, sig)["lister.py"]) == "['values.txt']\n"


def test_nested_folder_change_under_rglob(tmp_path: Path, sig: Path) -> None:
    lister = "# %% show\nfrom pathlib import Path\nprint(sorted(p.name for p in Path('data').rglob('*.txt')))\n"
    root = make_project(tmp_path / "p", {"lister.py": lister})
    write(root / "data/sub/deep.txt", "x\n")
    assert text(build(root, sig)["lister.py"]) == "['deep.txt', 'values.txt']\n"
    write(root / "data/sub/deeper.txt", "y\n")
    assert text(build(root, sig)["lister.py"]) == "['deep.txt', 'deeper.txt', 'values.txt']\n"


def test_import_machinery_listings_are_not_dependencies(tmp_path: Path, sig: Path) -> None:
    body = ("# %% show\nimport importlib.metadata, pkgutil\n"
            "print(len(list(importlib.metadata.distributions())) > 0)\n"
            "print(sorted(m.name for m in pkgutil.iter_modules(['fakecore'])))\n")
    root = make_project(tmp_path / "p", {"meta.py": body})
    first = build(root, sig)["meta.py"]
    assert text(first) == "True\n['a', 'b', 'c']\n"
    assert first.result is not None and list(first.result.deps.listings) == ["fakecore"]  # the explicit listing only
    (root / "snippets/new_one.py").write_text("# %% a\nprint(1)\n")
    (root / "notes.txt").write_text("a new file in the project root\n")
    assert build(root, sig)["meta.py"].status == "cached"
    (root / "fakecore/d.py").write_text("D = 1\n")
    again = build(root, sig)["meta.py"]
    assert again.status == "executed" and text(again) == "True\n['a', 'b', 'c', 'd']\n"
