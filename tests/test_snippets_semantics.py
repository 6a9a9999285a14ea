"""A snippet under the build behaves as ``python snippets/x.py``: sys.exit, odd output, PEP 263
encodings; and whatever goes wrong is reported as ``snippet:line: message`` with project paths."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kbgen.labels import labels_for

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import engine, make_project  # noqa: E402

from kbgen.snippets import render  # noqa: E402


def lines_of(root: Path, name: str) -> list[str]:
    return (root / "snippets" / name).read_text(encoding="utf-8", errors="replace").splitlines()


@pytest.mark.parametrize("call", ["sys.exit(0)", "sys.exit()", "raise SystemExit", "exit(0)"])
def test_sys_exit_zero_ends_the_snippet_normally(tmp_path: Path, call: str) -> None:
    body = f"# %% first\nimport sys\nprint('one')\n\n# %% stop\nprint('two')\n{call}\nprint('not printed')\n\n# %% later\nprint('never')\n"
    root = make_project(tmp_path / "p", {"ex.py": body})
    e = engine(root, preload=())
    o = e.execute()["ex.py"]
    assert o.status == "executed", o.message
    stop = o.cell_result("stop")
    assert stop is not None and stop.text() == "two\n"
    line = lines_of(root, "ex.py").index(call) + 1
    assert stop.exit is not None and stop.exit.line == line
    assert o.cell_result("later") is None  # later cells do not run
    page = render.snippet_page_markdown(e.snippets["ex.py"], o, fig_url=str, snippet_rel="snippets/ex.py", references=[],
                                        labels=labels_for("zh"))
    assert f"代码片段在第 {line} 行调用" in page and "之后的单元格没有执行" in page
    english = render.snippet_page_markdown(e.snippets["ex.py"], o, fig_url=str, snippet_rel="snippets/ex.py", references=[])
    assert f"ended itself at line {line}" in english
    assert engine(root, preload=()).execute()["ex.py"].status == "cached"


@pytest.mark.parametrize("call, shown", [("sys.exit(3)", "SystemExit: 3"), ("sys.exit('bad input')", "SystemExit: bad input")])
def test_sys_exit_nonzero_fails_at_its_line(tmp_path: Path, call: str, shown: str) -> None:
    body = f"# %% stop\nimport sys\n{call}\n\n# %% later\nprint('never')\n"
    root = make_project(tmp_path / "p", {"ex.py": body})
    o = engine(root, preload=()).execute()["ex.py"]
    line = lines_of(root, "ex.py").index(call) + 1
    assert o.status == "failed"
    assert o.message.splitlines()[0].startswith(f"snippets/ex.py:{line}: {shown}"), o.message
    assert o.cell_result("later") is None


def test_unencodable_output_is_escaped_not_fatal(tmp_path: Path) -> None:
    body = ("# %% odd\nimport sys\nprint('before')\nprint('bad \\udcff surrogate')\n"
            "sys.stderr.write('err \\ud800\\n')\nprint('after')\n\n# %% next\nprint('still runs')\n")
    root = make_project(tmp_path / "p", {"odd.py": body})
    o = engine(root, preload=()).execute()["odd.py"]
    assert o.status == "executed", o.message
    odd = o.cell_result("odd")
    assert odd is not None
    assert odd.text("stdout") == "before\nbad \\udcff surrogate\nafter\n"
    assert odd.text("stderr") == "err \\ud800\n"
    assert o.cell_result("next") is not None
    assert engine(root, preload=()).execute()["odd.py"].status == "cached"


def test_unencodable_exception_message_is_reported(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"odd.py": "# %% a\nprint('x')\nraise ValueError('bad \\udcff')\n"})
    o = engine(root, preload=()).execute()["odd.py"]
    assert o.status == "failed"
    line = lines_of(root, "odd.py").index("raise ValueError('bad \\udcff')") + 1
    assert o.message.splitlines()[0] == f"snippets/odd.py:{line}: ValueError: bad \\udcff (cell 'a')", o.message
    assert o.cell_result("a") is not None and o.cell_result("a").text() == "x\n"  # outputs kept
    assert str(root) not in o.message and "kbgen/snippets" not in o.message


def test_pep263_coding_cookie_is_honoured(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {})
    src = "# -*- coding: latin-1 -*-\n# %% a\ns = 'café'\nprint(s, len(s))\n"
    (root / "snippets").mkdir(exist_ok=True)
    (root / "snippets/latin.py").write_bytes(src.encode("latin-1"))
    e = engine(root, preload=())
    o = e.execute()["latin.py"]
    assert o.status == "executed", o.message
    assert o.cell_result("a").text() == "café 4\n"
    assert "café" in e.snippets["latin.py"].text  # the page shows the decoded source
    assert engine(root, preload=()).execute()["latin.py"].status == "cached"


@pytest.mark.parametrize(
    "data, line, shown",
    [
        (b"# -*- coding: no-such-codec -*-\n# %% a\nprint(1)\n", 1, "unknown encoding"),
        (b"# %% a\nprint(1)\nx = '\xff\xfe'\n", 3, "not valid utf-8"),
    ],
)
def test_undecodable_snippet_fails_with_file_and_line(tmp_path: Path, data: bytes, line: int, shown: str) -> None:
    root = make_project(tmp_path / "p", {"fine.py": "# %% a\nprint('fine')\n"})
    (root / "snippets/bad.py").write_bytes(data)
    out = engine(root, preload=()).execute()
    o = out["bad.py"]
    assert o.status == "failed"
    first = o.message.splitlines()[0]
    assert first.startswith(f"snippets/bad.py:{line}: SyntaxError:") and shown in first, first
    assert "Traceback" not in o.message and str(root) not in o.message
    assert out["fine.py"].status == "executed"


def test_an_engine_fault_is_reported_at_the_snippet_not_as_a_traceback(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"a.py": "# %% a\nprint('a')\n", "b.py": "# %% b\nprint('b')\n"})
    e = engine(root, preload=(), jobs=1)

    def broken(snippet, result, run_dir) -> None:  # a fault of kbgen's own, for one snippet
        if snippet.name == "a.py":
            raise OSError(f"disk trouble at {root}/.cache/kbgen/x")

    e.executor.finalize = broken
    out = e.execute()
    assert out["a.py"].status == "failed"
    assert out["a.py"].message == "snippets/a.py:1: kbgen could not run or record this snippet (OSError: disk trouble at .cache/kbgen/x)\n"
    assert out["b.py"].status == "executed"
