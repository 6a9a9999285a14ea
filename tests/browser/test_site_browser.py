"""The reader's site in a real browser (issue 7's acceptance list), served on localhost and
opened from ``file://``: every page is visited once per variant (``crawl``) and the checks read
that record; interactive checks (search, tasks, graph, lightbox, palettes) drive the page."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VARIANTS = ["http", "file"]
SEARCHES = {  # query -> the note that must come first
    "多头注意力": "核心组件/多头注意力.html",
    "位置编码": "核心组件/位置编码.html",
    "残差": "核心组件/残差连接与层归一化.html",
}
NOTE = "核心组件/自注意力机制.html"
LEVEL_PAGE = "学习路径/入门级.html"
HUB = "技术-Transformer架构.html"
# TeX that escaped rendering: a backslash command or $$ left in the visible text (code excluded).
RAW_TEX = re.compile(r"\\(?:frac|sqrt|mathrm|text|sum|left|right|cdot|times|top|mathbb|operatorname|begin|alpha|theta|log|exp|max)\b|\$\$")

VISIBLE_TEXT_JS = """() => {
  const root = document.querySelector('article') || document.body;
  const clone = root.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, math, .kb-math-error').forEach(e => e.remove());
  const errors = root.querySelectorAll('.kb-math-error').length;
  return {text: clone.textContent, mathErrors: errors, math: root.querySelectorAll('math').length};
}"""

WAIT_IMAGES_JS = """async () => {
  document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; });
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 5000);
  })));
  return imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'));
}"""


@dataclass
class Visit:
    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    raw_tex: list[str] = field(default_factory=list)
    math: int = 0
    broken_images: list[str] = field(default_factory=list)
    images: int = 0
    requests: int = 0


def base_url(variant: str, built_site: Path, server: str) -> str:
    return server if variant == "http" else built_site.resolve().as_uri() + "/"


def is_local(url: str, base: str) -> bool:
    scheme = urlsplit(url).scheme
    if scheme in ("data", "blob", "about"):
        return True
    return url.startswith(base) if base.startswith("http") else scheme == "file"


def new_context(browser, base: str, external: list[str], scheme: str = "light"):  # noqa: ANN001, ANN201
    """A fresh context (empty localStorage) that aborts and records every non-local request."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)

    def route(r) -> None:  # noqa: ANN001
        if is_local(r.request.url, base):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    return ctx


def site_pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


@pytest.fixture(scope="session", params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def crawl(variant: str, browser, built_site: Path, site_server: str) -> dict[str, Visit]:  # noqa: ANN001
    """Every page of the site visited once: requests, console errors, math, images."""
    base = base_url(variant, built_site, site_server)
    external: list[str] = []
    ctx = new_context(browser, base, external)
    page = ctx.new_page()
    visits: dict[str, Visit] = {}
    current: dict[str, Visit] = {}
    page.on("console", lambda m: m.type == "error" and current["v"].console_errors.append(m.text))
    page.on("pageerror", lambda e: current["v"].console_errors.append(str(e)))
    page.on("request", lambda r: setattr(current["v"], "requests", current["v"].requests + 1))
    for rel in site_pages(built_site):
        if variant == "file" and rel == "404.html":
            continue  # served by a web server for unknown URLs (root-absolute links); never from file://
        v = current["v"] = visits[rel] = Visit()
        before = len(external)
        page.goto(base + rel, wait_until="load")
        v.broken_images = page.evaluate(WAIT_IMAGES_JS)
        v.images = page.evaluate("document.images.length")
        info = page.evaluate(VISIBLE_TEXT_JS)
        v.math = info["math"]
        v.raw_tex = sorted(set(RAW_TEX.findall(info["text"]))) + ["kb-math-error"] * info["mathErrors"]
        page.wait_for_timeout(50)  # late console errors from scripts run after load
        v.external = external[before:]
    ctx.close()
    return visits


def test_site_has_the_expected_pages(built_site: Path) -> None:
    pages = site_pages(built_site)
    for rel in [NOTE, LEVEL_PAGE, HUB, "index.html", *SEARCHES.values()]:
        assert rel in pages


def test_no_request_leaves_the_machine(crawl: dict[str, Visit]) -> None:
    leaks = {rel: v.external for rel, v in crawl.items() if v.external}
    assert not leaks, f"requests to other hosts: {leaks}"


def test_no_console_errors(crawl: dict[str, Visit]) -> None:
    errors = {rel: v.console_errors for rel, v in crawl.items() if v.console_errors}
    assert not errors, f"console errors: {errors}"


def test_formulas_are_rendered(crawl: dict[str, Visit]) -> None:
    raw = {rel: v.raw_tex for rel, v in crawl.items() if v.raw_tex}
    assert not raw, f"raw TeX visible: {raw}"
    assert crawl[NOTE].math > 0 and crawl[LEVEL_PAGE].math > 0
    assert any(v.math for rel, v in crawl.items() if rel.startswith("snippets/")), "math in snippet pages"


def test_offline_numbers_are_recorded(crawl: dict[str, Visit], variant: str, built_site: Path, artifacts: Path) -> None:
    """Requests per page and page sizes, for the record (test-artifacts/offline-<variant>.json)."""
    rows = {
        rel: {"requests": v.requests, "html_bytes": (built_site / rel).stat().st_size, "images": v.images, "math": v.math}
        for rel, v in crawl.items()
    }
    (artifacts / f"offline-{variant}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    assert all(r["requests"] > 0 for r in rows.values())


def test_every_image_loads(crawl: dict[str, Visit]) -> None:
    broken = {rel: v.broken_images for rel, v in crawl.items() if v.broken_images}
    assert not broken, f"images that did not load: {broken}"
    assert sum(v.images for v in crawl.values()) > 10  # the figures really are there


SEARCH_READY_JS = """() => {
  const meta = document.querySelector('.md-search-result__meta');
  return meta && meta.textContent.trim() && !meta.textContent.includes(%s);
}"""


def _search(page, query: str) -> list[str]:  # noqa: ANN001
    # Material builds the index when search is first opened; from file:// that happens on the
    # page's own thread (iframe-worker), and a query typed before it is ready is dropped.
    initializing = page.eval_on_selector(".md-search-result__meta", "e => e.textContent").strip() or "…"
    page.locator("label.md-search__icon, .md-search__input").first.click()
    page.wait_for_function(SEARCH_READY_JS % json.dumps(initializing), timeout=60000)
    page.fill("input.md-search__input", query)
    page.press("input.md-search__input", "End")  # Material queries on keyup, which fill() does not send
    page.wait_for_selector(".md-search-result__item a", timeout=15000)
    time.sleep(0.3)  # results stream in; take the settled list
    hrefs = page.eval_on_selector_all(".md-search-result__item > a", "els => els.map(e => e.href)")
    return [unquote(urlsplit(h).path) for h in hrefs]


@pytest.mark.parametrize("query", list(SEARCHES))
def test_chinese_search_finds_the_note_first(query: str, variant: str, browser, built_site: Path, site_server: str) -> None:  # noqa: ANN001
    base = base_url(variant, built_site, site_server)
    external: list[str] = []
    ctx = new_context(browser, base, external)
    page = ctx.new_page()
    page.goto(base + "index.html")
    results = _search(page, query)
    ctx.close()
    assert results, f"no results for {query}"
    assert results[0].split("#")[0].endswith(SEARCHES[query]), f"{query}: first results {results[:5]}"
    assert not external


FIRST_RESULT_JS = """(expected) => {
  const a = document.querySelector('.md-search-result__item > a');
  return !!a && decodeURIComponent(new URL(a.href).pathname).endsWith(expected);
}"""


def test_search_typed_at_once_finds_the_note(variant: str, browser, built_site: Path, site_server: str) -> None:  # noqa: ANN001
    """A reader who opens search and types immediately (before the index is ready) is served."""
    base = base_url(variant, built_site, site_server)
    ctx = new_context(browser, base, [])
    page = ctx.new_page()
    page.goto(base + NOTE)
    page.locator("label.md-search__icon, .md-search__input").first.click()
    page.keyboard.type("多头注意力")
    page.wait_for_function(FIRST_RESULT_JS, arg=SEARCHES["多头注意力"], timeout=20000)
    ctx.close()


def test_ticked_tasks_survive_a_reload(variant: str, browser, built_site: Path, site_server: str) -> None:  # noqa: ANN001
    base = base_url(variant, built_site, site_server)
    ctx = new_context(browser, base, [])
    page = ctx.new_page()
    page.goto(base + LEVEL_PAGE)
    steps = page.locator("input[data-kb-step]")
    total = steps.count()
    assert total >= 5, "the level page lists its steps with tick boxes"
    assert page.inner_text(".kb-progress__count") == f"0 / {total}"
    steps.nth(0).check(force=True)
    steps.nth(2).check(force=True)
    assert page.inner_text(".kb-progress__count") == f"2 / {total}"
    page.reload()
    steps = page.locator("input[data-kb-step]")
    assert steps.nth(0).is_checked() and steps.nth(2).is_checked() and not steps.nth(1).is_checked()
    assert page.inner_text(".kb-progress__count") == f"2 / {total}"
    # The first step's note shows the same state in its banner.
    first = page.get_attribute("input[data-kb-step] >> nth=0", "data-kb-step")
    page.goto(base + first.replace(".md", ".html"))
    assert page.is_checked(".kb-path input[data-kb-step]")
    # A task list elsewhere (the hub's "下一步行动") persists too.
    page.goto(base + HUB)
    task = page.locator(".task-list-control input[type=checkbox]").first
    assert task.is_enabled()
    task.check(force=True)
    page.reload()
    assert page.locator(".task-list-control input[type=checkbox]").first.is_checked()
    ctx.close()


def test_note_banner_shows_level_prerequisites_and_next_step(variant: str, browser, built_site: Path, site_server: str) -> None:  # noqa: ANN001
    base = base_url(variant, built_site, site_server)
    ctx = new_context(browser, base, [])
    page = ctx.new_page()
    page.goto(base + "核心组件/多头注意力.html")
    banner = page.inner_text(".kb-path")
    assert "入门级" in banner and "前置知识" in banner and "自注意力机制" in banner and "下一步" in banner
    page.click(".kb-next a")
    assert unquote(page.url).endswith("核心组件/位置编码.html")
    ctx.close()


FIND_NODES_JS = """() => {
  const cv = document.querySelector('.kb-global-graph canvas');
  if (!cv) return null;
  const ctx = cv.getContext('2d');
  const {data, width, height} = ctx.getImageData(0, 0, cv.width, cv.height);
  const dpr = cv.width / cv.getBoundingClientRect().width;
  const pts = [];
  const solid = (x, y) => data[(y * width + x) * 4 + 3] > 250;
  for (let y = 3; y < height - 3; y += 3) for (let x = 3; x < width - 3; x += 3) {
    if (solid(x, y) && solid(x - 3, y) && solid(x + 3, y) && solid(x, y - 3) && solid(x, y + 3)) pts.push([x, y]);
  }
  const blobs = [];  // cluster the solid points: each cluster is a node's disc
  for (const [x, y] of pts) {
    const b = blobs.find(b => Math.abs(b.x - x) < 12 * dpr && Math.abs(b.y - y) < 12 * dpr);
    if (b) { b.n++; } else { blobs.push({x, y, n: 1}); }
  }
  const r = cv.getBoundingClientRect();
  return blobs.map(b => [r.left + b.x / dpr, r.top + b.y / dpr]);
}"""


def _settled_nodes(page, timeout_s: float = 20.0) -> list[list[float]]:  # noqa: ANN001
    """Node centres once the force layout has stopped moving (two samples 400 ms apart agree)."""
    deadline = time.monotonic() + timeout_s
    before = page.evaluate(FIND_NODES_JS) or []
    while time.monotonic() < deadline:
        page.wait_for_timeout(400)
        now = page.evaluate(FIND_NODES_JS) or []
        if now and len(now) == len(before) and all(abs(a[0] - b[0]) + abs(a[1] - b[1]) < 1 for a, b in zip(now, before)):
            return now
        before = now
    return before


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_graph_draws_nodes_and_a_click_opens_the_note(scheme: str, variant: str, browser, built_site: Path, site_server: str) -> None:  # noqa: ANN001
    base = base_url(variant, built_site, site_server)
    graphs = [p for p in site_pages(built_site) if re.search(r"(^|/)(graph|图谱)[^/]*\.html$", p)]
    assert graphs, "the site has a graph page"
    ctx = new_context(browser, base, [], scheme=scheme)
    page = ctx.new_page()
    page.goto(base + graphs[0])
    page.wait_for_selector(".kb-global-graph canvas")
    nodes = _settled_nodes(page)
    assert nodes and len(nodes) >= 10, f"graph shows {len(nodes or [])} nodes"
    for x, y in nodes:
        page.mouse.move(x, y)
        page.wait_for_timeout(30)
        tip = page.locator(".kb-graph-tip")
        if tip.is_visible() and tip.inner_text().strip():
            title = tip.inner_text().strip()
            with page.expect_navigation():
                page.mouse.click(x, y)
            assert unquote(page.url) != base + graphs[0]
            assert page.title().startswith(title) or title in page.inner_text("h1")
            break
    else:
        pytest.fail("no node of the graph answered the pointer")
    ctx.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_and_palettes(scheme: str, variant: str, browser, built_site: Path, site_server: str, artifacts: Path) -> None:  # noqa: ANN001
    base = base_url(variant, built_site, site_server)
    ctx = new_context(browser, base, [], scheme=scheme)
    page = ctx.new_page()
    expected = "slate" if scheme == "dark" else "default"
    for rel, name in [("index.html", "home"), (NOTE, "note")]:
        page.goto(base + rel)
        page.evaluate(WAIT_IMAGES_JS)
        assert page.get_attribute("body", "data-md-color-scheme") == expected
        page.screenshot(path=str(artifacts / f"{variant}-{name}-{scheme}.png"), full_page=False)
    # The toggle switches palettes.
    page.locator("form[data-md-component=palette] label:visible").first.click()
    other = "default" if expected == "slate" else "slate"
    assert page.get_attribute("body", "data-md-color-scheme") == other
    ctx.close()


def test_images_open_larger_and_code_has_copy_buttons(variant: str, browser, built_site: Path, site_server: str) -> None:  # noqa: ANN001
    base = base_url(variant, built_site, site_server)
    ctx = new_context(browser, base, [])
    page = ctx.new_page()
    page.goto(base + NOTE)
    page.evaluate(WAIT_IMAGES_JS)
    img = page.locator("article img.kb-zoomable").first
    img.scroll_into_view_if_needed()
    img.click()
    big = page.locator(".kb-lightbox img")
    assert big.is_visible()
    assert big.bounding_box()["width"] > img.bounding_box()["width"]
    page.keyboard.press("Escape")
    assert page.locator(".kb-lightbox").count() == 0
    assert page.locator("article pre button.md-clipboard, article .md-code__nav button, article button.md-code__button").count() > 0
    ctx.close()


def test_logo_favicon_and_site_name(built_site: Path) -> None:
    html = (built_site / "index.html").read_text(encoding="utf-8")
    assert "assets/kbgen/logo.svg" in html and 'rel="icon"' in html
    assert "Transformer 架构知识库" in html
    assert (built_site / "assets/kbgen/logo.svg").read_text().startswith("<svg")
