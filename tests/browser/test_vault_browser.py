"""The graph in a real browser (Debian chromium via playwright), opened from ``file://``.

Checks what a reader does: the global and local graphs draw, a wheel zooms, dragging moves a
node, a click opens the note, the palette follows Material's dark scheme, previews show.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "vault"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    proj = tmp_path_factory.mktemp("browser") / "vault"
    shutil.copytree(FIXTURE, proj)
    cfg = proj / "mkdocs.yml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "plugins:\n  - kbgen:\n      snippets_dir: none\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=proj, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return proj / "site"


@pytest.fixture(scope="module")
def page(site, browser):  # noqa: ANN001 - playwright objects
    """One page in the session's shared browser (a second sync_playwright would clash)."""
    pg = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    pg.close()


def wait_settled(page, selector: str) -> None:
    page.wait_for_function(
        f"() => {{ const el = document.querySelector({selector!r}); return el && el.kbgenGraph && !el.kbgenGraph.running; }}",
        timeout=20000,
    )


def node_screen_pos(page, selector: str, node_id: str) -> tuple[float, float]:
    return page.evaluate(
        """([sel, id]) => { const el = document.querySelector(sel), g = el.kbgenGraph, r = g.canvas.getBoundingClientRect();
            const n = g.nodes.find(n => n.id === id); return [r.left + g.tx + n.x * g.scale, r.top + g.ty + n.y * g.scale]; }""",
        [selector, node_id],
    )


def test_global_graph_draws_zooms_drags_and_opens(page, site: Path) -> None:
    page.goto((site / "graph.html").as_uri())
    sel = ".kb-global-graph"
    wait_settled(page, sel)
    info = page.evaluate(f"""() => {{ const g = document.querySelector({sel!r}).kbgenGraph;
        const c = g.canvas, ctx = c.getContext('2d'), px = ctx.getImageData(0, 0, c.width, c.height).data;
        let ink = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) ink++;
        return {{nodes: g.nodes.length, links: g.links.length, w: c.width, ink: ink, scale: g.scale}}; }}""")
    assert info["nodes"] >= 12 and info["links"] >= 8 and info["w"] > 100 and info["ink"] > 500, info

    # Dragging a node moves it.
    x, y = node_screen_pos(page, sel, "唯一名.md")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 40, steps=5)
    page.mouse.up()
    nx, ny = node_screen_pos(page, sel, "唯一名.md")
    assert abs(nx - x) + abs(ny - y) > 20

    # Wheel zoom around the cursor changes the scale.
    box = page.locator(f"{sel} canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    assert page.evaluate(f"() => document.querySelector({sel!r}).kbgenGraph.scale") > info["scale"]

    # A click (no drag) opens the note, from file://.
    page.reload()
    wait_settled(page, sel)
    x, y = node_screen_pos(page, sel, "核心组件/自注意力机制.md")
    page.mouse.click(x, y)
    page.wait_for_url("**/%E8%87%AA%E6%B3%A8%E6%84%8F%E5%8A%9B%E6%9C%BA%E5%88%B6.html", timeout=10000)
    assert page.title().startswith("自注意力机制")
    assert page.errors == []


def test_local_graph_and_dark_palette(page, site: Path) -> None:
    page.goto((site / "核心组件" / "自注意力机制.html").as_uri())
    sel = ".kb-local-graph"
    wait_settled(page, sel)
    ids = page.evaluate(f"() => document.querySelector({sel!r}).kbgenGraph.nodes.map(n => n.id)")
    # The note, what it links to, and what links to it; nothing else.
    assert "核心组件/自注意力机制.md" in ids and "笔记 with spaces.md" in ids and "嵌入.md" in ids
    assert "唯一名.md" not in ids
    light = page.evaluate(f"() => document.querySelector({sel!r}).kbgenGraph.c.text")
    page.evaluate("() => document.body.setAttribute('data-md-color-scheme', 'slate')")
    page.wait_for_function(f"() => document.querySelector({sel!r}).kbgenGraph.c.text !== {light!r}", timeout=5000)
    assert page.errors == []


def test_hover_preview_shows_description(page, site: Path) -> None:
    page.goto((site / "笔记 with spaces.html").as_uri())
    page.hover("a.kb-link >> text=Self-Attention")
    preview = page.locator(".kb-preview")
    preview.wait_for(state="visible", timeout=5000)
    assert "自注意力机制" in preview.inner_text() and "每个词看所有词" in preview.inner_text()
