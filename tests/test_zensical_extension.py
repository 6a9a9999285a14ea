"""``kbgen.vault`` as a plain Python-Markdown extension (no site generator, no Zensical needed):
options, page discovery, the shared per-build index and its refresh."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import markdown
import pytest
from pymdownx.slugs import slugify

from kbgen import standalone
from kbgen.standalone import StandaloneVaultExtension, VaultConfigError
from kbgen.vault.render import tag_slug

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "vault"


@pytest.fixture()
def vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("snippets"))
    monkeypatch.setattr(standalone, "_BUILDS", {})
    return root


UNICODE_TOC = {"slugify": slugify(case="lower")}


def convert(root: Path, page: str, toc: dict | None = None, **options: object) -> str:
    text = (root / "docs" / page).read_text(encoding="utf-8")
    if text.startswith("---"):
        text = text.split("---\n", 2)[-1]
    out = markdown.markdown(text, extensions=["toc", "kbgen.vault"], extension_configs={
        "toc": UNICODE_TOC if toc is None else toc,
        "kbgen.vault": {"project_root": str(root), "docs_dir": "docs", "page": page, **options}})
    return re.sub(r"\bkbgen-(?=[a-z])", "kb-", out)  # kbgen's one CSS prefix (older kbgen: kbgen-)


def test_links_resolve_from_the_page_given_as_option(vault):
    out = convert(vault, "a/链接同名.md")
    assert 'href="同名.md"' in out and 'href="../b/同名.md"' in out
    out = convert(vault, "笔记 with spaces.md")
    assert '<a class="kb-link" href="核心组件/自注意力机制.md#计算过程">计算</a>' in out  # attr_list added
    assert '<span class="kb-unresolved"' in out
    assert 'class="admonition' in convert(vault, "标注.md")  # pymdownx.quotes callouts


def test_heading_links_use_the_ids_of_the_pages_toc(vault):
    """Whatever slugify the toc has, a heading link carries the id that toc gives the heading."""
    ascii_toc = convert(vault, "核心组件/自注意力机制.md", toc={})
    ids = [i for i in ("_1", "_2", "_3", "d_k") if f'id="{i}"' in ascii_toc]
    out = convert(vault, "笔记 with spaces.md", toc={})
    target = out.split('核心组件/自注意力机制.md#', 1)[1].split('"', 1)[0]
    assert f'id="{target}"' in ascii_toc and ids
    assert 'id="计算过程"' in convert(vault, "核心组件/自注意力机制.md")


def test_no_page_leaves_the_text_alone_and_says_why(vault, capsys):
    out = markdown.markdown("见 [[唯一名]]", extensions=["kbgen.vault"],
                            extension_configs={"kbgen.vault": {"project_root": str(vault)}})
    assert "[[唯一名]]" in out
    assert "no page context" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    ({"tagsdir": "tags"}, "unknown option(s) tagsdir"),
    ({"figures": "svg"}, "figures must be inline or files"),
    ({"backlinks": "yes"}, "backlinks must be true or false"),
    ({"unresolved": "error"}, "unresolved must be info or warn"),
])
def test_bad_options_fail_with_a_message_naming_them(options, message):
    with pytest.raises(VaultConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        StandaloneVaultExtension(**options)


def test_missing_vault_folder_is_a_clear_error(vault):
    with pytest.raises(VaultConfigError, match="does not exist; set docs_dir"):
        convert(vault, "根.md", docs_dir="nope")


def test_one_index_per_build_rebuilt_when_a_note_changes(vault, monkeypatch):
    convert(vault, "根.md")
    convert(vault, "唯一名.md")
    assert len(standalone._BUILDS) == 1
    build = next(iter(standalone._BUILDS.values()))
    assert "根.md" in build.index.notes
    assert convert(vault, "根.md").count("kb-unresolved") == 0
    monkeypatch.setattr(standalone, "RECHECK_SECONDS", 0.0)
    (vault / "docs" / "唯一名.md").unlink()
    (vault / "docs" / "x" / "y" / "唯一名.md").unlink()
    out = convert(vault, "根.md")
    assert next(iter(standalone._BUILDS.values())) is not build
    assert '<span class="kb-unresolved" title="no note or file named &#x27;唯一名&#x27;">唯一名</span>' in out


def test_strict_raises_on_errors_with_file_and_line(vault):
    with pytest.raises(standalone.VaultBuildError, match=r"空文件夹/子/深处.md:3: snippet reference"):
        convert(vault, "空文件夹/子/深处.md", strict=True)


def test_backlinks_and_tag_links_when_asked(vault):
    out = convert(vault, "唯一名.md", backlinks=True)
    assert 'class="kb-backlinks"' in out and 'href="根.md"' in out
    out = convert(vault, "核心组件/自注意力机制.md", tags_dir="tags")
    href = f'href="../tags/{tag_slug("AI学习")}.md"'
    assert href in out and 'class="kb-tags"' in out
    assert href not in convert(vault, "核心组件/自注意力机制.md")


def test_problems_name_the_source_line_after_display_math(vault, capsys):
    note = vault / "docs" / "公式.md"
    note.write_text("---\ntitle: 公式\n---\n# 公式\n\n$$\na\n+ b\n$$\n\n见 [[不存在]]\n", encoding="utf-8")
    out = convert(vault, "公式.md", math=True, unresolved="warn")
    assert "公式.md:11: unresolved link [[不存在]]" in capsys.readouterr().err
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block"' in out


def test_kbgen_build_without_zensical_says_how_to_install(tmp_path, monkeypatch, capsys):
    import importlib.util

    from kbgen import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "zensical" else real(name, *a))
    assert cli.main(["--root", str(tmp_path), "build"]) == 1
    assert "pip install -e '.[zensical]'" in capsys.readouterr().err


@pytest.mark.parametrize("path, directory_urls, url", [
    ("a/b.md", True, "a/b/"), ("a/b.md", False, "a/b.html"),
    ("a/index.md", True, "a/"), ("a/index.md", False, "a/index.html"),
    ("README.md", True, "./"), ("README.md", False, "index.html"),
    ("index.md", False, "index.html"), ("笔记 with spaces.md", True, "笔记 with spaces/"),
])
def test_graph_node_urls_follow_zensicals_url_scheme(path, directory_urls, url):
    from kbgen.zensical import page_url

    assert page_url(path, directory_urls) == url
