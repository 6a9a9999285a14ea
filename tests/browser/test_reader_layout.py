"""The reader's layout in a real browser (issue #17): at a phone width (390 px) and a desktop
width (1280 px), on localhost and from ``file://``:

- no element of the page content is wider than the viewport, and the page itself never
  scrolls sideways (``scrollWidth`` of the document <= its width);
- nothing is clipped: an element that hides its overflow (``overflow-x: hidden | clip``) has no
  content wider than its box (``scrollWidth > clientWidth``); wide content scrolls instead;
- the local graph draws labels that do not overlap;
- values bound into prose show their origin, no binding failed;
- a phone-width screenshot of the hub and of a note lands in ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = [390, 1280]
#: Pages checked from file:// too (every page is checked on localhost).
FILE_PAGES = ["index.html", "技术-Transformer架构.html", "核心组件/自注意力机制.html", "学习路径/入门级.html",
              "snippets/index.html", "snippets/self_attention.html", "术语表.html"]
SCREENSHOTS = {"hub": "技术-Transformer架构.html", "note": "核心组件/自注意力机制.html"}

LAYOUT_JS = """() => {
  const vw = document.documentElement.clientWidth;
  const root = document.querySelector('article.md-content__inner') || document.body;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const insideScrollBox = el => {
    for (let a = el.parentElement; a && a !== root.parentElement; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  const wide = [], clipped = [];
  for (const el of root.querySelectorAll('*')) {
    const cs = getComputedStyle(el);
    if (cs.display === 'none' || cs.visibility === 'hidden' || cs.position === 'fixed') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if ((r.right > vw + 1 || r.left < -1) && !insideScrollBox(el))
      wide.push(`${name(el)} [${Math.round(r.left)}, ${Math.round(r.right)}] > ${vw}`);
    // Clipped: content cut off by a box that hides its overflow (overflow 'visible' content is
    // not cut; when it leaves the viewport, the check above reports it).
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1 && ['hidden', 'clip'].includes(cs.overflowX)
        && !insideScrollBox(el))
      clipped.push(`${name(el)} scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}, overflow-x: ${cs.overflowX}`);
  }
  return {vw, pageWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 8), clipped: clipped.slice(0, 8)};
}"""


def base_url(variant: str, built_site: Path, server: str) -> str:
    return server if variant == "http" else built_site.resolve().as_uri() + "/"


def content_pages(site: Path) -> list[str]:
    """Every page a reader opens (tag pages and 404 aside: they hold lists only)."""
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    return [p for p in pages if not p.startswith(("tags/", "assets/")) and p != "404.html"]


def offline_context(browser, base: str, width: int):  # noqa: ANN001, ANN201
    """A context at ``width`` px that aborts every request leaving the site."""
    ctx = browser.new_context(viewport={"width": width, "height": 860}, device_scale_factor=1)
    local = (lambda u: u.startswith(base)) if base.startswith("http") else (lambda u: u.startswith(("file:", "data:", "blob:")))
    ctx.route("**/*", lambda r: r.continue_() if local(r.request.url) else r.abort())
    return ctx


def layout_problems(page, base: str, rel: str) -> list[str]:  # noqa: ANN001
    page.goto(base + quote(rel), wait_until="load")
    info = page.evaluate(LAYOUT_JS)
    problems = []
    if info["pageWidth"] > info["vw"] + 1:
        problems.append(f"the page scrolls sideways: {info['pageWidth']} px > {info['vw']} px")
    problems += [f"wider than the viewport: {w}" for w in info["wide"]]
    problems += [f"clipped: {c}" for c in info["clipped"]]
    return [f"{rel} @ {info['vw']} px: {p}" for p in problems]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_its_width_and_clips_nothing_on_localhost(browser, built_site: Path, site_server: str,
                                                                  width: int) -> None:
    ctx = offline_context(browser, site_server, width)
    page = ctx.new_page()
    problems: list[str] = []
    for rel in content_pages(built_site):
        problems += layout_problems(page, site_server, rel)
    ctx.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_key_pages_fit_from_file_urls(browser, built_site: Path, width: int) -> None:
    base = base_url("file", built_site, "")
    ctx = offline_context(browser, base, width)
    page = ctx.new_page()
    problems: list[str] = []
    for rel in FILE_PAGES:
        if (built_site / rel).is_file():
            problems += layout_problems(page, base, rel)
    ctx.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("variant", ["http", "file"])
def test_phone_screenshots(browser, built_site: Path, site_server: str, artifacts: Path, variant: str) -> None:
    base = base_url(variant, built_site, site_server)
    ctx = offline_context(browser, base, 390)
    page = ctx.new_page()
    for name, rel in SCREENSHOTS.items():
        page.goto(base + quote(rel), wait_until="load")
        path = artifacts / f"phone-{name}-{variant}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
    ctx.close()


def test_local_graph_labels_do_not_overlap(browser, built_site: Path, site_server: str) -> None:
    ctx = offline_context(browser, site_server, 1280)
    page = ctx.new_page()
    page.goto(site_server + quote("技术-Transformer架构.html"), wait_until="load")
    page.wait_for_function("() => { const g = document.querySelector('.kb-graph[data-node]');"
                           " return g && g.kbgenGraph && g.kbgenGraph.labels && !g.kbgenGraph.running; }", timeout=15000)
    info = page.evaluate("""() => { const g = document.querySelector('.kb-graph[data-node]').kbgenGraph;
      return {labels: g.labels, nodes: g.nodes.length, center: g.center}; }""")
    ctx.close()
    boxes = info["labels"]
    assert boxes and boxes[0]["id"] == info["center"] and info["nodes"] <= 25
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                        and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]), (a, b)


def test_bound_values_show_their_origin_and_none_failed(browser, built_site: Path, site_server: str) -> None:
    ctx = offline_context(browser, site_server, 1280)
    page = ctx.new_page()
    failed, bound = [], 0
    for rel in content_pages(built_site):
        page.goto(site_server + quote(rel), wait_until="load")
        info = page.evaluate("""() => ({
          failed: [...document.querySelectorAll('.kb-value--error, .kb-claim--failed')].map(e => e.title),
          values: [...document.querySelectorAll('.kb-value:not(.kb-value--error) .kb-value__src, a.kb-claim--ok')]
                    .map(a => ({href: a.getAttribute('href'), title: a.title}))})""")
        failed += [f"{rel}: {t}" for t in info["failed"]]
        for v in info["values"]:
            bound += 1
            assert "#cell-" in v["href"] and ".py" in v["title"], (rel, v)
    ctx.close()
    assert not failed, "\n".join(failed)
    if bound == 0:
        pytest.skip("no note binds a value yet")
