"""``mkdocs serve`` with a fast path: the edited note first, the whole site in the background.

MkDocs' own serve loop rebuilds the whole site on every save (snippets included) and holds
every request until that build ends. Under serve, kbgen takes over the rebuild step
(``server.builder``, from the ``on_serve`` event):

1. On a save, the watched sources are compared with the previous stat snapshot. When only
   notes changed (no note added or deleted, no snippet, module or config edited), each edited
   note is parsed again, the vault index is reassembled around it
   (:func:`kbgen.serve.reindex.refresh_note`) and its page alone is re-rendered with MkDocs'
   own page steps (:func:`kbgen.serve.page.render_page`) from the previous build's files, nav
   and theme, and written atomically into the served folder. The browsers reload: the edit is
   visible. Snippet outputs on that page are the previous build's; those of snippets that read
   the edited note (their recorded dependencies) carry an "updating" notice
   (:mod:`kbgen.serve.notice`).
2. Then, always, a normal full ``mkdocs build`` runs in a background thread into a second
   folder (snippets re-run there exactly as the cache decides). When it ends the server is
   pointed at that folder in one step and the browsers reload again. So once the saves stop,
   what is served *is* a clean build of the final sources: the fast path is a preview of it,
   never a different result.
3. A save while the background build runs supersedes it: the build stops at its next check
   (the start of the build, each page read, the end of page reading, each page written), the
   new fast path renders from the last *complete* page-reading phase (the plugins' attributes
   recorded then are put back first), and a fresh background build starts. Snippet execution
   is not interrupted: a save during it waits for the runs to end.

Nothing of this runs for ``mkdocs build`` or ``mkdocs serve --clean`` / ``--no-livereload``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.nav import Navigation

from kbgen.serve.notice import mark_updating, stale_snippets
from kbgen.serve.page import render_page, write_atomically
from kbgen.serve.reindex import refresh_note
from kbgen.serve.sources import Changes, Stamp, compare, snapshot

log = logging.getLogger("mkdocs.plugins.kbgen.serve")

SUPERSEDED = "kbgen serve: build superseded by a newer save"


class BuildSuperseded(Exception):
    """Raised inside a background build that a newer save made stale (nothing of it is served)."""

    def __init__(self) -> None:
        super().__init__(SUPERSEDED)


class _DropSuperseded(logging.Filter):
    """MkDocs logs the page it was on when a build stops; a superseded build is not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return SUPERSEDED not in record.getMessage()


@dataclass
class BuildState:
    """What a finished page-reading phase leaves: enough to render any of its pages again."""

    config: MkDocsConfig
    files: Files
    nav: Navigation
    env: jinja2.Environment
    #: Each plugin's attributes at that point (``vars(plugin)``, shallow): plugins that live
    #: across rebuilds (``kbgen``) are mid-way through a newer build after a superseded one.
    plugin_states: dict[str, dict[str, Any]]


#: Attributes left as they are when a plugin's state is put back (process-wide bookkeeping).
KEEP_ATTRIBUTES = frozenset({"live", "_frozen"})


def plugin_states(config: MkDocsConfig) -> dict[str, dict[str, Any]]:
    return {name: dict(vars(plugin)) for name, plugin in config.plugins.items()}


def restore_plugin_states(config: MkDocsConfig, states: dict[str, dict[str, Any]]) -> None:
    for name, plugin in config.plugins.items():
        saved = states.get(name)
        if saved is not None:
            vars(plugin).update({k: v for k, v in saved.items() if k not in KEEP_ATTRIBUTES})


Outcome = Literal["served", "superseded", "failed"]


class LiveServe:
    """Owned by the ``kbgen`` plugin under ``mkdocs serve``; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one user of the plugins' state at a time: fast path or build
        self._cv = threading.Condition()  # guards the generation counters below
        self._generation = 0  # one per detected change
        self._wanted = 0  # newest generation whose fast path is done: build the site for it
        self._done = 0  # newest generation whose background build ended
        self._building: int | None = None  # generation of the running background build
        self._shutdown = False
        self._nav: Navigation | None = None
        self.state: BuildState | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._config_file = ""
        self._serve_url = ""
        self._overrides: dict[str, Any] = {}
        self._docs = Path()
        self._dirs: list[Path] = []
        self._own_dir: Path | None = None
        self._snapshot: dict[str, Stamp] = {}
        self._observer: Any = None
        for name in ("mkdocs.commands.build", "mkdocs.plugins"):
            logging.getLogger(name).addFilter(_DropSuperseded())

    # -- hooks, called by the kbgen plugin in every build ------------------------------------
    def on_build_start(self) -> None:
        self.check_superseded()

    def on_nav(self, nav: Navigation) -> None:
        self._nav = nav

    def on_env(self, env: jinja2.Environment, config: MkDocsConfig, files: Files) -> None:
        if self._nav is not None:
            self.state = BuildState(config, files, self._nav, env, plugin_states(config))
        self.check_superseded()

    def check_superseded(self) -> None:
        """In the background build only: stop when a newer save arrived."""
        if self._building is not None and threading.current_thread() is self._thread:
            with self._cv:
                stale = self._building != self._generation or self._shutdown
            if stale:
                raise BuildSuperseded()

    # -- taking over the server ------------------------------------------------------------
    def attach(self, server: Any, config: MkDocsConfig) -> None:
        """Called from ``on_serve`` (after the first build): route the server's rebuilds here."""
        self._server = server
        self._config_file = str(config.config_file_path or "mkdocs.yml")
        self._serve_url = str(config.site_url or "")
        self._overrides = _command_line_options(config)
        self._docs = Path(config.docs_dir).resolve()
        self._own_dir = Path(tempfile.mkdtemp(prefix="kbgen_serve_"))
        self._dirs = [Path(server.root), self._own_dir]
        self._snapshot = snapshot(self._watched(config))
        server.builder = self.on_change
        server.error_handler = self._error_page
        self._notify_at_once(config)
        self._thread = threading.Thread(target=self._build_loop, name="kbgen-serve-build", daemon=True)
        self._thread.start()

    def _notify_at_once(self, config: MkDocsConfig) -> None:
        """MkDocs polls the watched folders every 0.5 s; an inotify watch on the same folders
        wakes its rebuild loop as soon as a file is saved (the poll still runs; a change it
        reports again finds nothing new, see :meth:`on_change`). Without inotify: polling only."""
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer

            server = self._server

            class Wake(FileSystemEventHandler):
                def on_any_event(self, event: FileSystemEvent) -> None:
                    path = os.fsdecode(event.src_path)
                    if event.is_directory or "/__pycache__/" in path or "/." in path:
                        return
                    with server._rebuild_cond:
                        server._want_rebuild = True
                        server._rebuild_cond.notify_all()

            observer = Observer()
            for p in self._watched(config):
                if p.is_dir():
                    observer.schedule(Wake(), str(p), recursive=True)
            observer.daemon = True
            observer.start()
            self._observer = observer
        except Exception as e:  # no inotify (limits, platform): MkDocs' polling alone
            log.debug(f"kbgen serve: no inotify watch ({e})")

    def _watched(self, config: MkDocsConfig | None = None) -> list[Path]:
        paths = [Path(p) for p in getattr(self._server, "_watched_paths", {})]
        if config is not None:
            paths += [Path(config.docs_dir), Path(self._config_file)]
        return sorted({p.resolve() for p in paths})

    def _error_page(self, code: int) -> bytes | None:
        page = Path(self._server.root) / f"{code}.html"
        return page.read_bytes() if code in (404, 500) and page.is_file() else None

    def shutdown(self) -> None:
        with self._cv:
            self._shutdown = True
            self._cv.notify_all()
        if self._observer is not None:
            self._observer.stop()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    # -- a save ------------------------------------------------------------------------------
    def on_change(self) -> None:
        """The server's builder: fast path for edited notes, then ask for a background build."""
        fresh = snapshot(self._watched())
        changes = compare(self._snapshot, fresh)
        self._snapshot = fresh
        with self._cv:
            if not changes and self._wanted > self._done:
                # Nothing changed since the last save's snapshot, and the build asked for then
                # (which reads every file after that snapshot) is queued or running: this is
                # the same save reported twice (inotify, then MkDocs' poll).
                return
            self._generation += 1
            gen = self._generation
        pages = self._fast_pages(changes)
        if pages:
            t0 = time.perf_counter()
            with self._lock:
                try:
                    self._render(pages)
                except Exception as e:  # the background build shows the real error
                    log.info(f"kbgen serve: fast re-render skipped ({type(e).__name__}: {e})")
                else:
                    log.info(f"kbgen serve: re-rendered {', '.join(f.src_uri for f in pages)} in "
                             f"{time.perf_counter() - t0:.2f} s; rebuilding the site in the background")
        with self._cv:
            self._wanted = gen
            self._cv.notify_all()

    def _fast_pages(self, changes: Changes) -> list[File]:
        """The edited notes' files when the fast path applies (only existing notes modified)."""
        state = self.state
        if state is None or changes.added or changes.deleted or not changes.modified:
            return []
        out = []
        for path in sorted(changes.modified):
            try:
                rel = Path(path).relative_to(self._docs).as_posix()
            except ValueError:  # a snippet, module, config or theme file: the full build only
                return []
            f = state.files.get_file_from_path(rel)
            if f is None or f.page is None or not f.is_documentation_page() or f.generated_by is not None:
                return []
            out.append(f)
        return out

    def _render(self, pages: list[File]) -> None:
        state = self.state
        assert state is not None
        root = Path(self._server.root)
        kb = state.config.plugins.get("kbgen")
        stale = stale_snippets(getattr(kb, "engine", None), [Path(f.abs_src_path or "") for f in pages])
        if stale:
            log.info(f"kbgen serve: re-running in the background: {', '.join(stale)}")
        language = state.config.theme.get("language") if state.config.theme else None
        restore_plugin_states(state.config, state.plugin_states)
        for f in pages:
            assert f.page is not None
            refresh_note(state.config, f.src_uri, f.content_string)
            html = render_page(f.page, state.config, state.files, state.nav, state.env)
            html = mark_updating(html, stale, language)
            write_atomically(root / f.dest_uri, html.encode("utf-8", errors="xmlcharrefreplace"))
        state.plugin_states = plugin_states(state.config)  # with the edited notes in the index

    # -- the background build ----------------------------------------------------------------
    def _build_loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._shutdown or (self._wanted > self._done
                                                             and self._wanted == self._generation))
                if self._shutdown:
                    return
                gen = self._wanted
            with self._lock:
                with self._cv:
                    if gen != self._generation:
                        continue
                    self._building = gen
                try:
                    outcome = self._full_build(self._dirs[1])
                finally:
                    self._building = None
                if outcome == "served":
                    self._dirs.reverse()
                    self._server.root = str(self._dirs[0])
            if outcome == "superseded":
                continue
            with self._cv:
                self._done = max(self._done, gen)
            if outcome == "served":
                self._reload_browsers()

    def _full_build(self, site_dir: Path) -> Outcome:
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import Abort

        t0 = time.perf_counter()
        try:
            config = load_config(config_file=self._config_file, site_dir=str(site_dir), **self._overrides)
            config.site_url = self._serve_url
            build(config, serve_url=self._serve_url)
        except BuildSuperseded:
            log.info(SUPERSEDED)
            return "superseded"
        except Abort as e:
            if "strict mode" not in str(e):  # strict warnings: the site is complete, serve it
                log.error(f"kbgen serve: background build failed: {e}")
                return "failed"
            log.warning(f"kbgen serve: {e} (`mkdocs build` would fail)")
        except Exception as e:
            log.exception(f"kbgen serve: background build failed: {e}")
            return "failed"
        log.info(f"kbgen serve: site rebuilt in the background in {time.perf_counter() - t0:.2f} s "
                 f"(serving {site_dir})")
        return "served"

    def _reload_browsers(self) -> None:
        """Tell the livereload clients a new version is out (unless MkDocs' loop is mid-rebuild:
        it announces one itself when that ends)."""
        s = self._server
        with s._epoch_cond:
            if s._visible_epoch == s._wanted_epoch:
                s._wanted_epoch = s._visible_epoch = max(s._visible_epoch + 1, round(time.monotonic() * 1000))
                s._epoch_cond.notify_all()


def _command_line_options(config: MkDocsConfig) -> dict[str, Any]:
    """The options ``mkdocs serve`` passed over mkdocs.yml (``--strict``, ``--theme``, ...), for
    loading the configuration again as serve's own rebuild does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        layers = list(config.user_configs)
    options: dict[str, Any] = {}
    for layer in layers[1:]:
        options.update(layer)
    for key in ("site_dir", "config_file_path"):
        options.pop(key, None)
    return options
