"""Build the fixture vault with a real ``mkdocs build`` and check the HTML it produces.

Every internal link, image and ``#fragment`` on every page must land on an existing file and
id; the Obsidian features must show up as the site renders them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "vault"
MKDOCS = [sys.executable, "-m", "mkdocs"]


def build(tmp: Path, extra_config: str = "", strict: bool = False) -> tuple[subprocess.CompletedProcess, Path]:
    proj = tmp / "vault"
    shutil.copytree(FIXTURE, proj)
    if extra_config:
        cfg = proj / "mkdocs.yml"
        cfg.write_text(cfg.read_text(encoding="utf-8") + extra_config, encoding="utf-8")
    cmd = MKDOCS + ["build", "-v"] + (["--strict"] if strict else [])
    out = subprocess.run(cmd, cwd=proj, capture_output=True, text=True, timeout=300,
                         env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    return out, proj / "site"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str]] = []  # (tag, url)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key) is not None:
                self.refs.append((tag, a[key]))


def parse_site(site: Path) -> dict[Path, Page]:
    pages = {}
    for f in site.rglob("*.html"):
        p = Page()
        p.feed(f.read_text(encoding="utf-8"))
        pages[f] = p
    return pages


def broken_links(site: Path) -> list[str]:
    pages = parse_site(site)
    bad = []
    for f, page in pages.items():
        if f.name == "404.html" and f.parent == site:
            continue  # MkDocs writes the 404 page with root-absolute URLs on purpose
        for tag, url in page.refs:
            parts = urlsplit(url)
            if parts.scheme or url.startswith("//") or tag == "link" and "fonts" in url:
                continue
            path = unquote(parts.path)
            target = (f.parent / path).resolve() if path else f
            if path.endswith("/") or target.is_dir():
                target = target / "index.html"
            if site.resolve() not in target.parents and target != site.resolve():
                bad.append(f"{f.relative_to(site)}: {url} leaves the site")
                continue
            if not target.exists():
                bad.append(f"{f.relative_to(site)}: {url} -> missing {target}")
                continue
            frag = unquote(parts.fragment)
            if frag and target.suffix == ".html" and frag not in pages[target].ids:
                bad.append(f"{f.relative_to(site)}: {url} -> no id {frag!r}")
    return bad


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out, site = build(tmp_path_factory.mktemp("default"))
    assert out.returncode == 0, out.stderr[-3000:]
    return out, site


def read(site: Path, rel: str) -> str:
    return (site / rel).read_text(encoding="utf-8")


def test_every_internal_link_and_fragment_resolves(built) -> None:
    _, site = built
    assert broken_links(site) == []


def test_directory_urls_links_resolve_too(tmp_path) -> None:
    # (snippets off here: the default build covers them, and the engine's start-up is slow)
    out, site = build(tmp_path, "\nuse_directory_urls: true\nplugins:\n  - kbgen:\n      snippets_dir: none\n")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (site / "核心组件" / "自注意力机制" / "index.html").exists()
    assert broken_links(site) == []


def test_wikilinks_render_as_links_with_chinese_ids(built) -> None:
    _, site = built
    html = unquote(read(site, "笔记 with spaces.html"))
    assert 'href="核心组件/自注意力机制.html#计算过程">计算</a>' in html
    assert 'href="核心组件/自注意力机制.html#为什么要除以-d_k">缩放</a>' in html
    assert 'href="核心组件/自注意力机制.html">Self-Attention</a>' in html
    assert 'id="计算过程"' in read(site, "核心组件/自注意力机制.html")
    assert "自注意力（表格）</a>" in html  # escaped pipe inside a table
    assert re.search(r'<span class="kb-unresolved"[^>]*>不存在的笔记</span>', html)
    assert 'type="checkbox"' in html  # task list


def test_code_is_left_alone(built) -> None:
    _, site = built
    html = read(site, "核心组件/自注意力机制.html")
    assert "[[不要解析]]" in html and "[[也不要解析]]" in html and "[[波浪线围栏里]]" in html
    assert "#notatag" in html


def test_callouts_fold_nest_and_fall_back(built) -> None:
    _, site = built
    html = read(site, "标注.html")
    assert '<div class="admonition abstract">' in html
    assert re.search(r'<details class="tip">\s*<summary>折叠（默认关闭）</summary>', html)
    assert re.search(r'<details class="question faq" open="open">|<details class="faq question" open="open">|'
                     r'<details class="faq[^"]*" open="open">', html)
    outer = html.index("外层内容")
    inner = html.index("内层内容")
    assert '<div class="admonition warning">' in html[outer:inner]
    assert html.index('<div class="admonition note">') < outer
    assert re.search(r'class="admonition tldr abstract', html)
    assert re.search(r'class="admonition custom-type note', html)
    assert '<div class="admonition info">' in html  # callout inside a list item


def test_embeds_images_and_cycles(built) -> None:
    out, site = built
    html = unquote(read(site, "嵌入.html"))
    assert "A-COLLISION" in html and "SECTION-DETAIL" in html and "SCALE-BODY" in html
    section = html[html.index("第一步"):]
    assert section.index("SECTION-DETAIL") < section.index("</div>")
    assert "SCALE-BODY" not in section[: section.index("</div>")]
    assert re.search(r'<img[^>]*src="附件/图片/小图.png"[^>]*width="120"', html)
    assert (site / "附件" / "图片" / "小图.png").exists()
    assert "HELLO-FROM-SNIPPET" in html and "OTHER-CELL" in html
    assert "HELLO-FROM-SNIPPET" in read(site, "核心组件/自注意力机制.html")
    assert "OTHER-CELL" not in read(site, "核心组件/自注意力机制.html")  # only the cell asked for
    assert "embed cycle ![[循环A]]" in out.stderr or "embed cycle ![[循环B]]" in out.stderr
    assert "kb-unresolved" in read(site, "循环/循环A.html")


def test_unresolved_and_errors_reported_with_file_and_line(built) -> None:
    out, _ = built
    log = out.stderr
    assert "INFO    -  kbgen: 笔记 with spaces.md:17: unresolved link [[不存在的笔记]]" in log
    assert "根.md:3: '同名' is ambiguous: a/同名.md, b/同名.md" in log
    assert "ERROR   -  kbgen: 空文件夹/子/深处.md:3: snippet reference '../secret.py' escapes the snippets folder" in log
    assert "must never run" not in log


def test_unresolved_warn_makes_strict_fail(tmp_path) -> None:
    out, _ = build(tmp_path, "\nplugins:\n  - kbgen:\n      unresolved: warn\n      snippets_dir: none\n", strict=True)
    assert out.returncode != 0
    assert "WARNING -  kbgen: 笔记 with spaces.md:17: unresolved link [[不存在的笔记]]" in out.stderr


def test_tags_backlinks_graph_home_and_folders(built) -> None:
    _, site = built
    sa = unquote(read(site, "核心组件/自注意力机制.html"))
    assert '<a class="kb-tag" href="../tags/transformer/核心组件.html">#Transformer/核心组件</a>' in sa
    assert 'href="../tags/ai学习.html">#AI学习</a>' in sa
    tag_page = read(site, "tags/transformer/核心组件.html")
    assert "自注意力机制" in tag_page
    assert "Transformer" in read(site, "tags/index.html")
    backlinks = sa[sa.index('id="kb-backlinks"'):]
    assert "笔记 with spaces" in backlinks and "嵌入" in backlinks
    assert 'data-node="核心组件/自注意力机制.md"' in sa
    data = read(site, "assets/kbgen/graph-data.js")
    assert data.startswith("window.kbgenGraph = ") and "核心组件/自注意力机制.html" in data
    assert "kb-global-graph" in read(site, "graph.html")
    assert 'src="../assets/kbgen/graph.js"' in sa  # relative: works from file://
    home = read(site, "index.html")  # the vault has no index.md
    assert "自注意力机制" in home and "kb-global-graph" in home
    assert (site / "空文件夹" / "index.html").exists() and (site / "空文件夹" / "子" / "index.html").exists()
    assert "深处" in read(site, "空文件夹/子/index.html")


def test_snippet_page_lists_notes_using_it(built) -> None:
    _, site = built
    page = read(site, "snippets/hello.html")
    assert "自注意力机制" in page and "嵌入" in page


@pytest.mark.parametrize("strict", [False, True])
def test_heap_is_handed_back_to_the_collector_after_a_build(tmp_path, monkeypatch, strict: bool) -> None:
    """kbgen sets the build's long-lived objects aside from the garbage collector while pages
    render (gc.freeze); after the build, passed or failed, nothing stays frozen (serve rebuilds
    must not accumulate memory)."""
    import gc

    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config

    proj = tmp_path / "vault"
    shutil.copytree(FIXTURE, proj)
    cfg = proj / "mkdocs.yml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\nplugins:\n  - kbgen:\n      unresolved: warn\n      snippets_dir: none\n",
                   encoding="utf-8")
    monkeypatch.chdir(proj)
    frozen = []
    import kbgen.plugin

    original = kbgen.plugin.KbgenPlugin._freeze_heap

    def spy(self) -> None:
        original(self)
        frozen.append(gc.get_freeze_count())

    monkeypatch.setattr(kbgen.plugin.KbgenPlugin, "_freeze_heap", spy)
    config = load_config(str(cfg), strict=strict)
    if strict:
        with pytest.raises(SystemExit):
            mkdocs_build(config)  # strict aborts on the unresolved-link warning
    else:
        mkdocs_build(config)
    assert frozen and frozen[0] > 1000
    assert gc.get_freeze_count() == 0
