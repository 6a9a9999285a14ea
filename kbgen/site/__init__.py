"""The reader's site: learning-path navigation and checks, build-time math, offline assets.

MkDocs plugin ``kbgen-site`` (:class:`kbgen.site.plugin.KbSitePlugin`); ``kbgen`` adds it with
its defaults through :func:`ensure_site_plugin` when mkdocs.yml does not list it.

What it does to a build (options in :class:`kbgen.site.plugin.SiteConfig`):

- **Learning path** (option ``path_dir``, default ``learning-path``): every page directly in that
  folder is a level; its top-level ordered list of wikilinks is the path. The nav is generated
  from it (home, levels with their steps, then every other page by folder; ``path_nav``,
  ``section_titles``, ``nav_index_only``), each
  note gets a banner (level and step, ``prerequisites`` from frontmatter, next step;
  ``banner``), level pages get a tick box per step and a progress bar (local storage), and the
  build fails with ``file:line`` when a prerequisite comes at or after its note on the path
  (``check_prerequisites``). A vault without the folder gets none of this.
- **Math** (``math``): ``$...$`` / ``$$...$$`` (via ``pymdownx.arithmatex`` generic mode, added
  when missing) become MathML at build time (``kbgen.site.math``): no JavaScript, works offline
  and from ``file://``. Notebook HTML's ``$...$`` in rendered Markdown cells too.
- **Search**: elements whose class is in ``search_exclude_classes`` (snippet outputs
  ``kb-output`` and captions ``kb-caption`` from :mod:`kbgen.snippets`, nbconvert's
  ``jp-OutputArea``), formulas and the banner get ``data-search-exclude``, which Material's
  search honours. Or set that attribute yourself.
- **Offline**: the iframe-worker shim that Material's ``offline`` plugin needs for search
  from ``file://`` is served from the site (``extra.polyfills``), not unpkg.com.
- **Reader's JS/CSS** (``assets/kbgen/kb.js``/``kb.css``): persistent task lists
  (``- [ ]`` ticks survive reloads), level progress, click-to-enlarge images, banner styles.

Page hooks for other kbgen parts: every page carries ``<span hidden data-kb-src="<src_uri>">``
(the key kb.js stores ticks under).
"""

from typing import Any

__all__ = ["KbSitePlugin", "SiteConfig", "ensure_site_plugin"]


def __getattr__(name: str) -> Any:
    # Lazy: kbgen.plugin imports kbgen.site's modules (values, glossary), and kbgen.site.plugin
    # imports kbgen.plugin; importing the plugin here eagerly would make that a cycle.
    if name in __all__:
        from kbgen.site import plugin

        return getattr(plugin, name)
    raise AttributeError(f"module 'kbgen.site' has no attribute {name!r}")
