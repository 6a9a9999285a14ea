"""Temporary projects for the snippet-engine tests: a tiny fake package stands in for
transformer_core so the tests are fast and independent of the real content."""

from __future__ import annotations

import textwrap
from pathlib import Path

from kbgen.snippets import SnippetEngine

BOOT = 'import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")\n'
LIGHT = ("numpy", "matplotlib", "matplotlib.pyplot")  # no torch: tests stay fast

SNIPPETS = {
    "s_direct.py": """
        # %% [markdown]
        # # 直接导入
        # 公式 $a_i = b^2$ 原样保留。

        # %% value
        from fakecore.b import base
        print("base =", base())
        """,
    "s_trans.py": """
        # %% value
        from fakecore.a import plus_one
        print("plus_one =", plus_one())
        """,
    "s_other.py": """
        # %% value
        from fakecore import c
        print("c =", c.C)
        """,
    "s_data.py": """
        # %% load
        from pathlib import Path
        print(Path("data/values.txt").read_text().strip())
        """,
    "s_plot.py": """
        # %% [markdown]
        # # 画图

        # %% setup
        import numpy as np
        import matplotlib.pyplot as plt

        # %% heatmap
        rng = np.random.default_rng(0)
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.imshow(rng.random((4, 4)))
        ax.set_title("<b>&")
        plt.show()
        print("x < y & z")

        # %% line
        plt.plot([0, 1, 2], [0, 1, 4])
        """,
}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def make_project(root: Path, snippets: dict[str, str] | None = None) -> Path:
    write(root / "fakecore/__init__.py", "")
    write(root / "fakecore/a.py", "from fakecore.b import base\n\ndef plus_one():\n    return base() + 1\n")
    write(root / "fakecore/b.py", "def base():\n    return 41\n")
    write(root / "fakecore/c.py", "C = 'c'\n")
    write(root / "data/values.txt", "1 2 3\n")
    write(root / "docs/index.md", "---\ntitle: 首页\n---\n\n# 首页\n\n见 [[s_direct.py]]，输出：\n\n![[s_plot.py#heatmap]]\n")
    for name, body in (SNIPPETS if snippets is None else snippets).items():
        write(root / "snippets" / name, BOOT + textwrap.dedent(body))
    return root


def engine(root: Path, **kw) -> SnippetEngine:
    kw.setdefault("preload", LIGHT)
    kw.setdefault("jobs", 2)
    kw.setdefault("timeout", 30)
    return SnippetEngine.from_options(root, docs_dir=root / "docs", **kw)


def statuses(root: Path, **kw) -> dict[str, str]:
    e = engine(root, **kw)
    return {name: o.status for name, o in e.execute().items()}
