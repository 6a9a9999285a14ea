"""Execution: parsing, isolation, failures with real line numbers, timeouts, torch after fork."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import BOOT, engine, make_project  # noqa: E402

from kbgen.snippets.model import parse_snippet, validate  # noqa: E402


def test_parse_cells_titles_and_lines(tmp_path: Path) -> None:
    p = tmp_path / "x.py"
    p.write_text(
        "# kbgen: timeout=120\n"  # 1
        + BOOT  # 2
        + "\n"  # 3
        + "# %% [markdown]\n"  # 4
        + "# # 标题\n"  # 5
        + "# 正文 $x$\n"  # 6
        + "\n"  # 7
        + "# %% heatmap\n"  # 8
        + "\n"  # 9
        + "a = 1\n"  # 10
        + "# %% second_one [markdown]\n"  # 11 (jupytext: title before the type)
        + "# text\n"  # 12
    )
    s = parse_snippet(p)
    kinds = [(c.kind, c.title, c.line) for c in s.cells]
    assert kinds == [("code", None, 1), ("markdown", None, 5), ("code", "heatmap", 10), ("markdown", "second_one", 12)]
    assert s.cells[1].source == "# 标题\n正文 $x$"
    assert s.timeout(60) == 120.0
    assert s.title == "标题"
    assert s.cell("heatmap") is s.cells[2]


def test_validate_titles(tmp_path: Path) -> None:
    p = tmp_path / "x.py"
    p.write_text("# %% a\n1\n# %% a\n2\n# %% Bad-Title!\n3\n")
    problems = validate(parse_snippet(p))
    assert any("duplicate cell title 'a'" in m for m in problems)
    assert any("Bad-Title!" in m for m in problems)


def test_failure_names_file_real_line_and_traceback(tmp_path: Path) -> None:
    body = "# %% ok\nprint('fine')\n\n# %% boom\nx = 1\n\ndef f():\n    raise ValueError('bad <value>')\n\nf()\n\n# %% never\nprint('not reached')\n"
    root = make_project(tmp_path / "p", {"bad.py": body})
    text = (root / "snippets/bad.py").read_text().splitlines()
    raise_line = next(i for i, ln in enumerate(text, 1) if "raise ValueError" in ln)
    o = engine(root).execute()["bad.py"]
    assert o.status == "failed"
    first = o.message.splitlines()[0]
    assert first.startswith(f"snippets/bad.py:{raise_line}: ValueError: bad <value>"), first
    assert "Traceback (most recent call last)" in o.message
    assert f'bad.py", line {raise_line}, in f' in o.message
    assert "kbgen/snippets/worker.py" not in o.message  # the engine's own frames are dropped
    assert "fine" in o.cell_result("ok").outputs[0].text
    assert o.cell_result("never") is None
    assert list((root / ".cache/kbgen/index").glob("*.json")) == []  # never cached


def test_syntax_error_line(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"syn.py": "# %% a\nx = 1\n\n# %% b\ny = (\n"})
    o = engine(root).execute()["syn.py"]
    n = len((root / "snippets/syn.py").read_text().splitlines())
    assert o.status == "failed" and o.message.startswith(f"snippets/syn.py:{n}: SyntaxError")


def test_sleeping_snippet_is_killed_at_its_timeout(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        {
            "sleepy.py": "# kbgen: timeout=2\n# %% nap\nimport time\ntime.sleep(300)\n",
            "quick.py": "# %% a\nprint('ok')\n",
        },
    )
    t0 = time.perf_counter()
    out = engine(root, timeout=30, load_scaling=False).execute()
    elapsed = time.perf_counter() - t0
    assert out["sleepy.py"].status == "timeout"
    assert out["quick.py"].status == "executed"
    assert elapsed < 25, elapsed
    msg = out["sleepy.py"].message
    assert "snippets/sleepy.py:5: timed out after 2 s in cell 'nap'" in msg, msg
    e = engine(root, timeout=30)
    e.execute()
    assert e.counts() == {"snippets": 2, "executed": 0, "cached": 1, "failed": 1, "timeout": 1, "skipped": 0}
    assert e.summary() == "kbgen: 2 snippets, 0 executed, 1 cached, 1 failed"


def test_crash_is_isolated(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        {"crash.py": "# %% a\nimport os\nprint('before')\nos.kill(os.getpid(), 9)\n", "fine.py": "# %% a\nprint(1)\n"},
    )
    out = engine(root).execute()
    assert out["crash.py"].status == "failed" and "died" in out["crash.py"].message
    assert out["fine.py"].status == "executed"


def test_streams_order_and_figure_capture(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    o = engine(root).execute()["s_plot.py"]
    outs = o.cell_result("heatmap").outputs
    assert [x.type for x in outs] == ["image", "stream"]  # plt.show() came before print
    assert o.cell_result("line").outputs[0].file == "line-1.svg"  # open figure at cell end


def test_torch_thread_pool_works_after_fork(tmp_path: Path) -> None:
    body = (
        "# %% threads\n"
        "import torch\n"
        "n = torch.get_num_threads()\n"
        "a = torch.randn(512, 512)\n"
        "b = a @ a\n"  # an intra-op parallel kernel: would hang if the pool were broken by fork
        "torch.set_num_threads(2)\n"
        "c = (a @ a).sum()\n"
        "x = torch.randn(1 << 20); y = torch.sort(x).values\n"
        "import os\n"
        "tasks = len(os.listdir('/proc/self/task'))\n"  # the OpenMP pool really started in the child
        "print('threads', n, torch.get_num_threads(), tasks >= 2, bool(torch.isfinite(c)))\n"
    )
    root = make_project(tmp_path / "p", {"t.py": body})
    e = engine(root, preload=("torch", "numpy", "matplotlib.pyplot"), jobs=1, timeout=60)
    o = e.execute()["t.py"]
    assert o.status == "executed", o.message
    text = o.cell_result("threads").outputs[0].text
    n = int(text.split()[1])
    assert n >= 1 and text.split()[2:] == ["2", "True", "True"], text
