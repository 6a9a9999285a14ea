"""Obsidian rules that real vaults rely on, each built with a real ``mkdocs build`` of a small
vault (``plugins: [kbgen]`` only) and checked in the HTML."""

from __future__ import annotations

import json
import re
import unicodedata
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import build_site
from tests.test_vault_build import broken_links

CONFIG = """site_name: Rules
use_directory_urls: false
theme:
  name: material
plugins:
  - kbgen
"""

BLOCKS = """# Blocks

A paragraph that
ends with an id ^para

- one
- two ^item
- three

> a quote
> on two lines

^quote

| a | b |
|---|---|
| 1 | 2 |

^table

> [!note] A callout
> inside it

^callout
"""

EMBEDS = """# Embeds

![[Blocks#^para]]

![[Blocks#^item]]

![[Blocks#^quote]]

![[Blocks#^table]]

![[Blocks#^callout]]

Links: [[Blocks#^table|to the table]] and [[Blocks#^missing]].

![[Headings]]

## Own section
"""

HEADINGS = """# Headings

## What is attention?

text

# A

## Same

a-same

# B

## Same

b-same
"""

HEADING_LINKS = "# Heading links\n\n[[Headings#What is attention]] [[Headings#B#Same]] [[Headings#A#Same]]\n"

DOTS = "# Dots\n\n[[Bug目录/6.10-Bug-02 远程显示]] and [[6.10-Bug-02 远程显示]] and [[v1.2 notes]]\n"

CASES = "# Cases\n\n[[café]] [[STRASSE]] [[ΣΊΣΥΦΟΣ]]\n"

FOOTNOTES = """# Footnotes

A claim^[An inline note with [[Headings]] in it.] and a citation[^v].

`^[not a footnote]`

[^v]: Vaswani et al., 2017.
"""

HTML_BLOCK = """# HTML

<svg viewBox="0 0 10 10"><style>.a { fill: #4B5563; stroke: #Fff; }</style>
<text>[[Headings]] #svgtag</text>
</svg>

<div>
#divtag [[InsideDiv]]
</div>

After: #realtag
"""

TAGS = """---
tags: [c++, "c#", Project]
---
# Tags

#c #project #PROJECT #nested/Deep/tag #""" + "long" * 60 + """

[bad](javascript:alert(1)) <a href="JaVaScRiPt&#58;alert(2)">raw</a> [ok](https://example.org/a:b)
"""

MD_LINKS = """# Markdown links

[plain](Headings.md) [section](Headings.md#What%20is%20attention) [folder](Bug目录/6.10-Bug-02%20远程显示.md)
[encoded](Q%26A%20(draft)%20'v2'!.md) ![picture](pic.png#interface) [web](https://example.org)

![missing picture](nowhere.png) [missing note](Nowhere.md) `[in code](Nowhere.md)`
"""

NOTEBOOK = json.dumps({
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Demo notebook\n", "\n", "Intro text."]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": ["x = 41 + 1\n", "print(x)"]},
        {"cell_type": "markdown", "metadata": {}, "source": ["## Second part\n", "\n", "NOTEBOOK-SECOND-PART"]},
    ],
    "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
    "nbformat": 4, "nbformat_minor": 5,
})

ODD = "# Odd\n\n[[Q&A (draft) 'v2'!]] #odd\n"


def chain(n: int) -> dict[str, str]:
    """``deep/d0`` embeds ``d1`` embeds ... ``d{n-1}``: deep, but no cycle."""
    return {f"deep/d{i}.md": f"# d{i}\n\n" + (f"![[d{i + 1}]]\n" if i + 1 < n else "bottom\n") for i in range(n)}


def write(root: Path, files: dict[str, str]) -> None:
    (root / "mkdocs.yml").write_text(CONFIG, encoding="utf-8")
    for rel, text in files.items():
        path = root / "docs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("rules")
    files = {
        "index.md": "# Home\n",
        "Blocks.md": BLOCKS,
        "Embeds.md": EMBEDS,
        "Headings.md": HEADINGS,
        "Heading links.md": HEADING_LINKS,
        "Bug目录/6.10-Bug-02 远程显示.md": "# 6.10\n",
        "v1.2 notes.md": "# v1.2\n",
        "Dots.md": DOTS,
        "Cases.md": CASES,
        "Footnotes.md": FOOTNOTES,
        "HTML.md": HTML_BLOCK,
        "Tags.md": TAGS,
        "Odd.md": ODD,
        "Markdown links.md": MD_LINKS,
        "attachments/pic.png": "not really a png",
        "notebooks/Demo notebook.ipynb": NOTEBOOK,
        "Uses notebook.md": "# Uses notebook\n\n[[Demo notebook]] [[Demo notebook.ipynb#Second part]]\n\n![[Demo notebook#Second part]]\n",
        "Q&A (draft) 'v2'!.md": "---\ntags: [odd]\n---\n# Q&A (draft) 'v2'!\n\nBack to [[Odd]].\n",
        unicodedata.normalize("NFD", "Café.md"): "# Café (NFD file name)\n",
        "Straße.md": "# Straße\n",
        "Σίσυφος.md": "# Σίσυφος\n",
        **chain(12),
    }
    write(root, files)
    proc = build_site(root / "site", config=root / "mkdocs.yml", cwd=root, strict=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "site", proc.stderr


def page(site: Path, rel: str) -> str:
    return (site / rel).read_text(encoding="utf-8")


def content(html: str) -> str:
    return html.split('<article', 1)[1].split("</article>", 1)[0]


def test_every_link_and_fragment_lands(built) -> None:
    site, _ = built
    assert broken_links(site) == []


def test_block_ids_name_exactly_their_block(built) -> None:
    site, _ = built
    html = content(page(site, "Blocks.html"))
    assert re.search(r'<p id="\^para">A paragraph that\s+ends with an id</p>', html)
    assert '<li id="^item">two</li>' in html
    for tag, block in (("blockquote", "quote"), ("table", "table"), ("div", "callout")):
        assert re.search(rf'<{tag}[^>]* id="\^{block}"', html), block
    assert "^" not in re.sub(r'id="\^\w+"', "", html)  # no marker shows as text

    embeds = content(page(site, "Embeds.html"))
    boxes = re.findall(r'<div class="kb-note-embed">(.*?)</div>\s*(?=<div class="kb-note-embed">|<p>Links)', embeds, re.S)
    assert "A paragraph that" in boxes[0] and "one" not in boxes[0]
    assert "<li>two</li>" in boxes[1] and "one" not in boxes[1] and "three" not in boxes[1]
    assert "<blockquote>" in boxes[2] and "<table>" not in boxes[2] and "A paragraph" not in boxes[2]
    assert "<table>" in boxes[3] and "quote" not in boxes[3]
    assert "admonition note" in boxes[4] and "inside it" in boxes[4] and "<table>" not in boxes[4]
    assert 'href="Blocks.html#^table">to the table</a>' in embeds


def test_missing_block_is_reported_with_file_and_line(built) -> None:
    _, log = built
    assert "Embeds.md:13: no block ^missing in Blocks.md" in log


def test_heading_links_ignore_question_marks_and_follow_nesting(built) -> None:
    site, log = built
    html = content(page(site, "Heading links.html"))
    hrefs = re.findall(r'href="Headings.html#([^"]+)"', html)
    assert hrefs == ["what-is-attention", "same_1", "same"]
    assert "Heading links.md" not in log  # nothing unresolved


def test_note_names_with_dots_and_folders(built) -> None:
    site, log = built
    html = content(page(site, "Dots.html"))
    assert html.count('href="Bug%E7%9B%AE%E5%BD%95/6.10-Bug-02%20%E8%BF%9C%E7%A8%8B%E6%98%BE%E7%A4%BA.html"') == 2 \
        or html.count("6.10-Bug-02") >= 2 and "kb-unresolved" not in html
    assert 'href="v1.2%20notes.html"' in html or 'href="v1.2 notes.html"' in html
    assert "kb-unresolved" not in html and "Dots.md" not in log


def test_unicode_normalisation_and_case_folding(built) -> None:
    site, log = built
    html = content(page(site, "Cases.html"))
    assert "kb-unresolved" not in html, html
    hrefs = [unicodedata.normalize("NFC", unquote(h)) for h in re.findall(r'class="kb-link" href="([^"]+)"', html)]
    assert hrefs == ["Café.html", "Straße.html", "Σίσυφος.html"]


def test_deep_embed_chain_is_a_depth_limit_not_a_cycle(built) -> None:
    site, log = built
    assert "cycle" not in log
    lines = [l for l in log.splitlines() if "not expanded" in l]
    assert lines and all("nested deeper than 8 levels" in l for l in lines)
    assert re.search(r"deep/d\d+\.md:3: embed !\[\[d\d+\]\] not expanded", lines[0])
    assert "bottom" not in page(site, "deep/d0.html") and "d8" in page(site, "deep/d0.html")


def test_embedded_headings_stay_out_of_the_toc_with_unique_ids(built) -> None:
    site, _ = built
    html = page(site, "Embeds.html")
    toc = html.split("md-nav--secondary", 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'href="([^"]*)"', toc) == ["#own-section"]  # not the embedded note's headings
    ids = re.findall(r'\sid="([^"]+)"', content(html))
    assert len(ids) == len(set(ids))
    assert "What is attention?" in content(html)  # the embedded headings are still shown


def test_footnotes_work_with_just_kbgen(built) -> None:
    site, _ = built
    html = content(page(site, "Footnotes.html"))
    refs = re.findall(r'<sup id="fnref:([^"]+)"><a class="footnote-ref" href="#fn:[^"]+">(\d)</a>', html)
    assert [n for _, n in refs] == ["1", "2"]  # numbered as read: the inline note first
    assert 'An inline note with <a class="kb-link" href="Headings.html">Headings</a>' in html
    assert "Vaswani et al., 2017." in html and "<code>^[not a footnote]</code>" in html


def test_nothing_in_raw_html_blocks_is_a_tag_or_link(built) -> None:
    site, log = built
    html = content(page(site, "HTML.html"))
    assert "fill: #4B5563;" in html and "#svgtag" in html and "#divtag [[InsideDiv]]" in html
    assert "tags/4b5563" not in html and "tags/fff" not in html and "InsideDiv" not in log
    assert 'href="tags/realtag.html"' in html
    assert not (site / "tags" / "4b5563.html").exists() and not (site / "tags" / "svgtag.html").exists()


def test_tags_are_case_insensitive_with_collision_free_slugs(built) -> None:
    site, _ = built
    tags = {p.relative_to(site / "tags").as_posix() for p in (site / "tags").rglob("*.html")}
    assert {"c.html", "c.2b.2b.html", "c.23.html", "project.html", "nested.html", "nested/deep.html",
            "nested/deep/tag.html"} <= tags
    assert "Project.html" not in tags and "PROJECT.html" not in tags
    long = [t for t in tags if t.startswith("longlong")]
    assert len(long) == 1 and len(long[0].encode()) < 140
    project = content(page(site, "tags/project.html"))
    assert project.count('href="../Tags.html"') == 1  # one tag, one page, one entry
    assert (site / "tags/c.2b.2b.html").read_text(encoding="utf-8").count("#c++") >= 1


def test_no_script_urls_anywhere(built) -> None:
    site, _ = built
    for f in site.rglob("*.html"):
        text = unescape(f.read_text(encoding="utf-8")).lower()
        assert not re.search(r"""(?:href|src)\s*=\s*["']?\s*(?:java|vb)script\s*:""", text), f
    assert 'href="https://example.org/a:b"' in page(site, "Tags.html")


def test_odd_names_work_in_links_tags_graph_and_backlinks(built) -> None:
    site, _ = built
    odd = content(page(site, "Odd.html"))
    m = re.search(r'class="kb-link" href="([^"]+)">Q&amp;A \(draft\) &#x27;v2&#x27;!</a>', odd) or \
        re.search(r'class="kb-link" href="([^"]+)">Q&amp;A \(draft\) \'v2\'!</a>', odd)
    assert m, odd
    assert (site / unquote(m.group(1))).is_file()
    target = page(site, unquote(m.group(1)))
    assert 'href="Odd.html"' in target  # backlink / link back
    assert "Q&amp;A (draft) &#x27;v2&#x27;!" in page(site, "tags/odd.html") or "Q&amp;A (draft) 'v2'!" in page(site, "tags/odd.html")
    data = (site / "assets/kbgen/graph-data.js").read_text(encoding="utf-8")
    assert "Q&A (draft) 'v2'!.md" in data


def test_nothing_loads_from_the_internet(built) -> None:
    site, _ = built
    for f in [*site.rglob("*.html")]:
        text = f.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text, f
        assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//', text), f


def test_markdown_links_and_images_resolve_like_wikilinks(built) -> None:
    site, log = built
    html = content(page(site, "Markdown links.html"))
    hrefs = [unquote(h) for h in re.findall(r'<a class="kb-link" href="([^"]+)"', html)]
    assert hrefs == ["Headings.html", "Headings.html#what-is-attention", "Bug目录/6.10-Bug-02 远程显示.html",
                     "Q&A (draft) 'v2'!.html"]
    assert re.search(r'<img alt="picture" src="attachments/pic.png#interface"', html)
    assert '<span class="kb-unresolved" title="no note or file named &#x27;nowhere.png&#x27;">missing picture</span>' in html
    assert '<span class="kb-unresolved" title="no note or file named &#x27;Nowhere.md&#x27;">missing note</span>' in html
    assert "<code>[in code](Nowhere.md)</code>" in html
    assert "Markdown links.md:6: unresolved image ![missing picture](nowhere.png)" in log
    assert "Markdown links.md:6: unresolved link [missing note](Nowhere.md)" in log
    assert "Markdown links" in content(page(site, "Headings.html"))  # a backlink, like a wikilink's


def test_hover_previews_carry_the_opening_of_notes_and_linked_sections(built) -> None:
    site, _ = built
    import json

    data = (site / "assets/kbgen/graph-data.js").read_text(encoding="utf-8")
    graph = json.loads(data[len("window.kbgenGraph = "):].rstrip().rstrip(";"))
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["Blocks.md"]["x"].startswith("A paragraph that ends with an id one two")  # no markup, no ^ids
    headings = nodes["Headings.md"]
    assert headings["s"]["what-is-attention"] == "text"  # a linked section: its own opening
    assert headings["s"]["same_1"] == "b-same" and headings["s"]["same"] == "a-same"
    assert "Headings" not in headings["x"].split()[0:1]  # the title heading is not repeated
    assert "kb-preview__text" in (site / "assets/kbgen/graph.js").read_text(encoding="utf-8")


def test_notebooks_become_pages_linkable_and_embeddable(built) -> None:
    site, log = built
    nb_page = site / "notebooks" / "Demo notebook.html"
    assert nb_page.is_file() and "Intro text." in nb_page.read_text(encoding="utf-8")
    html = content(page(site, "Uses notebook.html"))
    hrefs = [unquote(h) for h in re.findall(r'class="kb-link" href="([^"]+)"', html)]
    assert hrefs[:2] == ["notebooks/Demo notebook.html", "notebooks/Demo notebook.html#second-part"]
    assert "NOTEBOOK-SECOND-PART" in html and "Intro text." not in html  # the embedded section only
    assert "Uses notebook.md" not in log
    assert "Uses notebook" in nb_page.read_text(encoding="utf-8")  # backlink on the notebook page
