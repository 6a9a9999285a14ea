"""The local graph (kbgen/assets/graph.js) in node with a stand-in canvas: neighbours only, a cap
on nodes, labels that never overlap. Skipped without ``node``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def run(spec: dict) -> dict:
    proc = subprocess.run([NODE, str(ROOT / "tests/js/graph_harness.js"), str(ROOT / "kbgen/assets/graph.js"),
                           json.dumps(spec, ensure_ascii=False)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def star(n_neighbours: int, extra: int = 10) -> dict:
    """Node 0 linked to ``n_neighbours`` notes with long Chinese titles; ``extra`` unrelated notes."""
    nodes = [{"id": "中心.md", "t": "自注意力机制", "u": "中心.html"}]
    links = []
    for i in range(1, n_neighbours + 1):
        nodes.append({"id": f"n{i}.md", "t": f"相邻笔记标题很长的第{i}篇", "u": f"n{i}.html"})
        links.append([0, i])
        if i % 3 == 0:  # some neighbours are better linked
            links.append([i, i - 1])
    for j in range(extra):
        nodes.append({"id": f"far{j}.md", "t": f"无关{j}", "u": f"far{j}.html"})
        links.append([len(nodes) - 1, 1])
    return {"nodes": nodes, "links": links}


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def test_local_graph_keeps_neighbours_only_and_caps_them():
    out = run({**star(40), "center": "中心.md", "max": 12})
    assert len(out["nodes"]) == 13 and "中心.md" in out["nodes"]
    assert not any(n.startswith("far") for n in out["nodes"])
    assert out["omitted"] == 28 and "28 more linked notes not shown" in out["aria"]
    assert "+28" in out["texts"]


@pytest.mark.parametrize("spec", [
    {"center": "中心.md", "max": 24, "width": 390, "height": 300},
    {"center": "中心.md", "max": 24, "width": 680, "height": 300},
    {"width": 900, "height": 640},  # the global graph too
])
def test_labels_never_overlap_and_the_current_note_is_labelled(spec):
    out = run({**star(30), **spec})
    boxes = out["labels"]
    assert boxes, "no label drawn"
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not overlaps(a, b), (a, b)
    if spec.get("center"):
        assert boxes[0]["id"] == "中心.md"
