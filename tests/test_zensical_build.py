"""The fixture vault built by Zensical (``python -m kbgen build`` and the bare extension).

Real builds: the fixture vault (``tests/fixtures/vault``) plus a note with block ids and a
snippet that draws a figure is copied into a temporary project and built with Zensical; the
tests read the HTML. Skipped only when Zensical cannot be imported
(``pip install -e '.[zensical]'``).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from kbgen.vault.render import tag_slug

pytest.importorskip("zensical", reason="Zensical is not installed: pip install -e '.[zensical]'")

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "vault"

BLOCK_NOTE = """# 块

普通段落。

被引用的一段 BLOCK-TEXT。 ^blk

另一段 OTHER-PARA。

块链接：[[块#^blk]]，嵌入块：

![[块#^blk]]
"""

FIGURE_SNIPPET = """# %% [markdown]
# # 画图

# %% plot
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.rcParams["svg.hashsalt"] = "kbgen"
fig, ax = plt.subplots(figsize=(2, 1))
ax.plot([0, 1], [0, 1])
plt.show()
KB_VALUES = {}
KB_VALUES["n_params"] = 124_439_808
KB_VALUES["rises"] = True
assert KB_VALUES["rises"]
"""

FIGURE_NOTE = "---\nterms:\n  - {term: 自注意力, en: Self-Attention, def: 每个位置看所有位置}\n---\n# 图\n\n参数量 {{figure.py:n_params|亿}}，曲线上升 {{figure.py:rises}}；`{{figure.py:n_params}}` 不绑定。自注意力很重要。\n\n![[figure.py#plot]]\n\n行内 $a^2+b^2$，展示：\n\n$$\n\\frac{QK^T}{\\sqrt{d_k}}\n$$\n"

BROKEN_SNIPPET = "# %% boom\nraise ValueError('BROKEN-ON-PURPOSE')\n"
BROKEN_NOTE = "# 坏\n\n![[broken.py]]\n"

LEVEL_PAGE = "# 入门级\n\n1. [[根]] — 第一步\n2. [[唯一名]] — 第二步\n"


def _project(tmp: Path) -> Path:
    root = tmp / "proj"
    shutil.copytree(FIXTURE, root)
    (root / "docs" / "块.md").write_text(BLOCK_NOTE, encoding="utf-8")
    (root / "docs" / "图.md").write_text(FIGURE_NOTE, encoding="utf-8")
    (root / "snippets" / "figure.py").write_text(FIGURE_SNIPPET, encoding="utf-8")
    (root / "snippets" / "broken.py").write_text(BROKEN_SNIPPET, encoding="utf-8")
    (root / "docs" / "坏.md").write_text(BROKEN_NOTE, encoding="utf-8")
    (root / "docs" / "学习路径").mkdir()
    (root / "docs" / "学习路径" / "入门级.md").write_text(LEVEL_PAGE, encoding="utf-8")
    return root


def _kbgen_build(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbgen", "build", *args], cwd=root, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    root = _project(tmp_path_factory.mktemp("zensical"))
    proc = _kbgen_build(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc


def kb_classes(text: str) -> str:
    """``text`` with kbgen's CSS classes under their one prefix ``kb-`` (older kbgen: ``kbgen-``)."""
    return re.sub(r"\bkbgen-(?=[a-z])", "kb-", text)


def page(root: Path, rel: str) -> str:
    return kb_classes((root / "site" / rel).read_text(encoding="utf-8"))


def links(text: str, cls: str = "kb-link") -> list[tuple[str, str]]:
    """(href, text) of the ``<a class="{cls}">`` links in ``text``."""
    return [(html.unescape(h), html.unescape(t)) for h, t in
            re.findall(rf'<a class="{cls}" href="([^"]*)">(.*?)</a>', text)]


def check_links(site: Path) -> int:
    """Assert that every relative href/src in every page's article reaches a file (and its
    anchor); returns how many were checked."""
    checked = 0
    for f in site.rglob("*.html"):
        text = f.read_text(encoding="utf-8")
        article = text[text.find("<article"): text.find("</article>")]
        for attr, value in re.findall(r'\s(href|src)="([^"]+)"', article):
            value = html.unescape(value)
            parts = urlsplit(value)
            if parts.scheme or value.startswith(("#", "/")) or not parts.path:
                continue
            target = (f.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            assert target.is_file(), f"{f.relative_to(site)}: {attr}={value} -> missing {target}"
            if parts.fragment and target.suffix == ".html":
                ids = set(re.findall(r'id="([^"]+)"', target.read_text(encoding="utf-8")))
                assert unquote(parts.fragment) in ids, f"{f.relative_to(site)}: {value}: no such anchor"
            checked += 1
    return checked


def test_every_relative_link_and_image_reaches_a_file_and_its_anchor(built):
    """The class of all links kbgen writes: each relative href/src resolves in the built site."""
    root, _ = built
    assert check_links(root / "site") > 50


def test_links_hold_with_directory_urls_too(built, tmp_path):
    root = tmp_path / "dirs"
    shutil.copytree(built[0], root, ignore=shutil.ignore_patterns("site", "build", "broken.py", "坏.md"))
    config = root / "mkdocs.yml"
    config.write_text(config.read_text(encoding="utf-8").replace("use_directory_urls: false",
                                                                 "use_directory_urls: true"), encoding="utf-8")
    proc = _kbgen_build(root)
    assert proc.returncode == 0, proc.stderr
    assert check_links(root / "site") > 50
    assert ("../核心组件/自注意力机制/#计算过程", "计算") in links(page(root, "笔记 with spaces/index.html"))
    data = (root / "site" / "assets" / "kbgen" / "graph-data.js").read_text(encoding="utf-8")
    assert '"u":"核心组件/自注意力机制/"' in data


def test_wikilinks_resolve_as_obsidian_does(built):
    root, _ = built
    assert ("唯一名.html", "唯一名") in links(page(root, "根.html"))
    assert ("同名.html", "同名") in links(page(root, "a/链接同名.html"))  # same folder first
    assert ("../b/同名.html", "同名") in links(page(root, "a/链接同名.html"))
    spaces = links(page(root, "笔记 with spaces.html"))
    assert ("核心组件/自注意力机制.html", "Self-Attention") in spaces  # alias
    assert ("核心组件/自注意力机制.html", "自注意力机制") in spaces  # [[x.md]]


def test_heading_links_land_on_unicode_ids(built):
    root, _ = built
    target = page(root, "核心组件/自注意力机制.html")
    for heading_id in ("计算过程", "为什么要除以-d_k", "细节小节"):
        assert f'id="{heading_id}"' in target
    spaces = links(page(root, "笔记 with spaces.html"))
    assert ("核心组件/自注意力机制.html#计算过程", "计算") in spaces
    assert ("核心组件/自注意力机制.html#为什么要除以-d_k", "缩放") in spaces
    assert ("#第二节", "第二节") in spaces  # [[#heading]] on the same page
    assert 'id="公式与-粗体-和-code_1"' in page(root, "标注.html")  # duplicate heading


def test_block_links_and_block_embeds(built):
    root, _ = built
    text = page(root, "块.html")
    # [[块#^blk]]: to the block's id where kbgen gives blocks ids, else to the note (as with MkDocs);
    # the anchor itself is checked by the link test.
    assert any(href in ("块.html", "#^blk", "块.html#^blk") for href, _ in links(text))
    embed = text[text.index('class="kb-note-embed"'):]
    body = embed[embed.index("</a></p>"): embed.index("</div>")]
    assert "BLOCK-TEXT" in body and "OTHER-PARA" not in body and "^blk" not in body


def test_note_section_and_image_embeds(built):
    root, _ = built
    text = page(root, "嵌入.html")
    assert text.count('class="kb-note-embed"') >= 3
    assert "A-COLLISION" in text  # whole note
    assert "SECTION-DETAIL" in text and "SCALE-BODY" in text  # section, and the one inside the callout
    section = text[text.index("一节（到下一个同级标题为止）"):text.index('id="图片"')]
    assert "SECTION-DETAIL" in section and "SCALE-BODY" not in section
    assert re.search(r'<img[^>]*src="附件/图片/小图.png"[^>]*width="120"|<img[^>]*width="120"[^>]*src="附件/图片/小图.png"', text)


def test_callouts_become_admonitions_with_obsidian_types(built):
    root, _ = built
    text = page(root, "标注.html")
    assert 'class="admonition abstract"' in text
    assert re.search(r'<details class="tip"', text) and re.search(r'<details class="faq question[^"]*" open', text)
    assert 'class="admonition tldr abstract callout-tldr"' in text
    assert 'class="admonition custom-type note callout-custom-type"' in text
    assert text.index('class="admonition warning"') > text.index('class="admonition note"')  # nested


def test_inline_and_frontmatter_tags_link_to_generated_tag_pages(built):
    root, _ = built
    text = page(root, "核心组件/自注意力机制.html")
    tags = links(text, "kb-tag")
    assert (f"../tags/{tag_slug('AI学习')}.html", "#AI学习") in tags
    assert (f"../tags/{tag_slug('Transformer/核心组件')}.html", "#Transformer/核心组件") in tags  # frontmatter
    assert "#notatag" in text and ("../tags/notatag.html", "#notatag") not in tags  # code stays code
    tag_page = page(root, f"tags/{tag_slug('AI学习')}.html")
    assert "自注意力机制" in tag_page and (root / "site" / "tags" / "index.html").is_file()


def test_unresolved_links_are_marked_and_errors_reported_with_file_and_line(built):
    root, proc = built
    text = page(root, "笔记 with spaces.html")
    assert re.search(r'<span class="kb-unresolved" title="[^"]*">不存在的笔记</span>', text)
    assert "空文件夹/子/深处.md:3: snippet reference '../secret.py' escapes the snippets folder" in proc.stderr
    assert "SECRET" not in page(root, "空文件夹/子/深处.html")


def test_snippet_outputs_come_from_the_cache_per_cell(built):
    root, _ = built
    text = page(root, "核心组件/自注意力机制.html")
    assert "HELLO-FROM-SNIPPET" in text and "OTHER-CELL" not in text  # ![[hello.py#greet]]
    assert ("../snippets/hello.html", "hello.py") in links(text, "kb-link kb-snippet-link")
    assert 'href="../snippets/hello.html#cell-greet"' in text
    whole = page(root, "嵌入.html")
    assert "HELLO-FROM-SNIPPET" in whole and "OTHER-CELL" in whole  # ![[hello.py]]
    snippet_page = page(root, "snippets/hello.html")
    assert 'id="cell-greet"' in snippet_page and "OTHER-CELL" in snippet_page
    assert (root / "site" / "snippets" / "hello.ipynb").is_file() and (root / "site" / "kbgen-report.json").is_file()
    figure = page(root, "图.html")
    src = re.search(r'<img src="([^"]+)" alt="figure.py#plot"', figure).group(1)
    assert src.startswith("snippets/figure/") and src.endswith(".svg") and (root / "site" / src).is_file()


def test_a_failing_snippet_shows_its_error_in_place_and_fails_strict(built, tmp_path):
    root, proc = built
    text = page(root, "坏.html")
    assert 'class="admonition failure kb-error"' in text
    assert "snippets/broken.py:2: ValueError: BROKEN-ON-PURPOSE" in text
    assert "HELLO" in page(root, "嵌入.html")  # the rest of the site built
    strict = tmp_path / "strict-broken"
    shutil.copytree(root, strict, ignore=shutil.ignore_patterns("site", "build"))
    failed = _kbgen_build(strict, "--strict")
    assert failed.returncode != 0 and "snippets/broken.py:2: ValueError: BROKEN-ON-PURPOSE" in failed.stderr


def test_backlinks_graph_and_home_page(built):
    root, _ = built
    text = page(root, "唯一名.html")
    back = text[text.index('class="kb-backlinks"'):]
    assert 'href="根.html"' in back and 'href="标注.html"' in back
    assert 'data-node="唯一名.md"' in text
    data = (root / "site" / "assets" / "kbgen" / "graph-data.js").read_text(encoding="utf-8")
    assert '"u":"核心组件/自注意力机制.html"' in data
    assert (root / "site" / "index.html").is_file() and (root / "site" / "graph.html").is_file()
    assert "unpkg.com" not in page(root, "index.html")


def test_a_change_in_another_note_reaches_cached_pages(built, tmp_path):
    """Zensical caches pages by their own text; kbgen's fingerprint makes a target's edit count."""
    root = tmp_path / "copy"
    shutil.copytree(built[0], root, ignore=shutil.ignore_patterns("site", "build", "broken.py", "坏.md"))
    assert _kbgen_build(root).returncode == 0  # Zensical's page cache now holds every page
    assert "#计算过程" in page(root, "笔记 with spaces.html")
    note = root / "docs" / "核心组件" / "自注意力机制.md"
    note.write_text(note.read_text(encoding="utf-8").replace("## 计算过程", "## 计算步骤"), encoding="utf-8")
    proc = _kbgen_build(root)
    assert proc.returncode == 0, proc.stderr
    spaces = page(root, "笔记 with spaces.html")  # its own text did not change
    assert re.search(r'<span class="kb-unresolved"[^>]*>|核心组件/自注意力机制.html">计算</a>', spaces)
    assert "#计算过程" not in spaces


def test_strict_fails_on_a_kbgen_error_naming_file_and_line(built, tmp_path):
    root = tmp_path / "strict"
    shutil.copytree(built[0], root, ignore=shutil.ignore_patterns("site", "build", "broken.py", "坏.md"))
    proc = _kbgen_build(root, "--strict")
    assert proc.returncode != 0
    assert "空文件夹/子/深处.md:3: snippet reference '../secret.py' escapes the snippets folder" in proc.stderr


def test_strict_passes_when_kbgen_finds_nothing(built, tmp_path):
    """`[[note.md]]` in another folder: resolved by kbgen; Zensical's source link check
    misreads it, so its warning must not fail a strict build."""
    root = tmp_path / "clean"
    shutil.copytree(built[0], root, ignore=shutil.ignore_patterns("site", "build", "空文件夹", "循环", "broken.py", "坏.md"))
    config = root / "mkdocs.yml"
    config.write_text("strict: true\n" + config.read_text(encoding="utf-8"), encoding="utf-8")  # as this repo's
    note = root / "docs" / "唯一名.md"
    note.write_text(note.read_text(encoding="utf-8") + "\n## 会找对“它”吗\n\n见 [[#会找对“它”吗]]。\n", encoding="utf-8")
    proc = _kbgen_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr
    assert ("核心组件/自注意力机制.html", "自注意力机制") in links(page(root, "笔记 with spaces.html"))
    assert ("#会找对它吗", "会找对“它”吗") in links(page(root, "唯一名.html"))


def test_the_bare_extension_under_plain_zensical(built, tmp_path):
    """No wrapper: ``markdown_extensions: [kbgen.vault]`` in a hand-written config; the snippet
    outputs are read from the cache the wrapper filled; figures inline; tags stay text."""
    root = tmp_path / "bare"
    shutil.copytree(built[0], root, ignore=shutil.ignore_patterns("site", "build"))
    (root / "zensical.yml").write_text(
        "site_name: bare\ndocs_dir: docs\nsite_dir: out\nuse_directory_urls: true\n"
        "markdown_extensions:\n  - toc:\n      slugify: !!python/object/apply:pymdownx.slugs.slugify {kwds: {case: lower}}\n"
        "  - kbgen.vault\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "zensical", "build", "-f", "zensical.yml"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = root / "out"
    text = kb_classes((out / "笔记 with spaces" / "index.html").read_text(encoding="utf-8"))
    assert ("../核心组件/自注意力机制/#计算过程", "计算") in links(text)  # directory URLs
    sa = kb_classes((out / "核心组件" / "自注意力机制" / "index.html").read_text(encoding="utf-8"))
    assert "HELLO-FROM-SNIPPET" in sa and "#AI学习" in sa and not links(sa, "kb-tag")
    fig = (out / "图" / "index.html").read_text(encoding="utf-8")
    assert 'src="data:image/svg+xml;base64,' in fig


def test_learning_path_becomes_the_nav(built):
    """kbgen-site's nav (path first, then folders), written into the config Zensical reads."""
    root, _ = built
    config = (root / "build" / "zensical" / "mkdocs.yml").read_text(encoding="utf-8")
    assert 'nav: [' in config and '{"入门级": ["学习路径/入门级.md", "根.md", "唯一名.md"]}' in config
    nav = page(root, "标注.html")
    titles = re.findall(r'<span class="md-ellipsis">\s*([^<\s][^<]*?)\s*</span>', nav[nav.index('<nav class="md-nav md-nav--primary"'):])
    assert titles.index("入门级") < titles.index("根") < titles.index("唯一名（根）") < titles.index("标注")


def test_math_becomes_mathml_at_build_time(built):
    root, _ = built
    text = page(root, "图.html")
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline"' in text
    assert 'display="block"' in text and "\\frac" in text  # TeX kept as the annotation
    assert 'class="arithmatex"' not in text


def test_learning_path_banner_progress_and_tick_boxes(built):
    root, _ = built
    step = page(root, "根.html")
    banner = step[step.index('class="kb-path"'):]
    banner = banner[: banner.index("</div>")]
    assert "第 1 步 / 共 2 步" in banner and '下一步：<a href="唯一名.html">唯一名</a>' in banner
    assert 'data-kb-step="根.md"' in banner and 'data-kb-src="根.md"' in step
    note = page(root, "核心组件/自注意力机制.html")
    assert '前置知识：<a href="../笔记%20with%20spaces.html">笔记 with spaces</a>' in note
    level = page(root, "学习路径/入门级.html")
    assert "data-kb-progress" in level
    assert level.count('<label class="kb-step"><input type="checkbox" data-kb-step=') == 2
    assert (root / "site" / "assets" / "kbgen" / "kb.js").is_file()


def test_same_sources_give_a_byte_identical_site_elsewhere(built, tmp_path):
    """A second project at another path, Zensical's page cache empty: the same bytes, except
    this build's run times (the report and the run-times page, by design, as with MkDocs)."""
    root = tmp_path / "elsewhere" / "proj"
    shutil.copytree(built[0], root, ignore=shutil.ignore_patterns("site", "build"))
    assert _kbgen_build(root).returncode == 0
    first, second = built[0] / "site", root / "site"
    files = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    differ = [f for f in files if (first / f).read_bytes() != (second / f).read_bytes()]
    assert set(differ) <= {"kbgen-report.json", "snippets/index.html"}


def test_values_claims_and_glossary_terms(built):
    """`{{x.py:key}}` from the cached result, claims marked, code untouched; terms explained."""
    root, _ = built
    text = page(root, "图.html")
    value = re.search(r'<span class="kb-value">([^<]*)<a class="kb-value__src" href="([^"]+)"', text)
    assert value is not None and value.group(1) == "1.24 亿" and value.group(2) == "snippets/figure.html#cell-plot"
    assert re.search(r'<a class="kb-claim kb-claim--ok" href="snippets/figure.html#cell-plot"', text)
    assert "<code>{{figure.py:n_params}}</code>" in text
    other = page(root, "核心组件/自注意力机制.html")  # a term is explained on the other notes
    assert re.search(r'<abbr[^>]*title="[^"]*每个位置看所有位置[^"]*"[^>]*>自注意力</abbr>', other)
    glossary = page(root, "术语表.html")
    assert "Self-Attention" in glossary and "每个位置看所有位置" in glossary
