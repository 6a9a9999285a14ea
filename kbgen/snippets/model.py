"""Snippet source model: jupytext percent-format parsing (cells, titles, line numbers, directives)."""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

_MARKER = re.compile(r"^#\s?%%(?P<rest>.*)$")
_TYPE = re.compile(r"\[(?P<type>[A-Za-z]+)\]")
_DIRECTIVE = re.compile(r"^#\s*kbgen:\s*(?P<body>.+)$")
_TITLE_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class Cell:
    """One cell. ``line`` is the 1-based line in the .py of the cell's first source line;
    ``start`` is the 0-based index of that line (used to compile the cell at its real lines)."""

    index: int
    kind: str  # "code" | "markdown"
    title: str | None
    source: str  # as shown in a notebook (markdown: comment prefix removed)
    exec_source: str  # code cells: raw lines, blank lines kept, for exec
    line: int
    start: int

    @property
    def cell_id(self) -> str:
        """Stable id used for figure file names and page anchors."""
        return self.title if self.title else f"cell{self.index}"


@dataclass
class Snippet:
    """A parsed ``snippets/<name>.py``; ``name`` includes ``.py`` (``self_attention.py``)."""

    path: Path
    name: str
    text: str
    cells: list[Cell]
    options: dict[str, str] = field(default_factory=dict)
    #: The exact bytes read from disk: what is hashed (``cache_key``) and what the child runs.
    source: bytes = b""
    #: Why the bytes could not be decoded (``"3: SyntaxError: ..."``, line first), else None.
    problem: str | None = None

    @property
    def stem(self) -> str:
        return self.name[:-3] if self.name.endswith(".py") else self.name

    @property
    def code_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.kind == "code"]

    def cell(self, title: str) -> Cell | None:
        for c in self.cells:
            if c.kind == "code" and (c.title == title or c.cell_id == title):
                return c
        return None

    @property
    def title(self) -> str:
        """First Markdown H1 of the snippet, else its file name."""
        for c in self.cells:
            if c.kind == "markdown":
                for ln in c.source.splitlines():
                    if ln.startswith("# "):
                        return ln[2:].strip()
                break
        return self.name

    @property
    def measured(self) -> bool:
        """Declared ``# kbgen: measured`` (first 5 lines): its outputs are timings measured at
        build time, so two cold executions cannot give the same bytes (the cache still does)."""
        return self.options.get("measured") == "true"

    def timeout(self, default: float) -> float:
        try:
            return float(self.options.get("timeout", default))
        except ValueError:
            return default


def _uncomment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    if line.startswith("#"):
        return line[1:]
    return line


def _parse_marker(rest: str) -> tuple[str, str | None]:
    """``' heatmap'`` -> ("code", "heatmap"); ``' [markdown]'`` -> ("markdown", None)."""
    kind = "code"
    m = _TYPE.search(rest)
    if m:
        t = m.group("type").lower()
        kind = "markdown" if t in ("markdown", "md") else ("raw" if t == "raw" else "code")
        rest = rest[: m.start()]
    # jupytext allows metadata after the title (key="value"); the title is the first word.
    words = rest.strip().split()
    title = words[0] if words and "=" not in words[0] else None
    return kind, title


def _directives(lines: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    for ln in lines[:5]:
        m = _DIRECTIVE.match(ln.strip())
        if not m:
            continue
        for part in re.split(r"[,\s]+", m.group("body").strip()):
            if "=" in part:
                k, v = part.split("=", 1)
                opts[k.strip()] = v.strip()
            elif part:  # a flag, e.g. `# kbgen: measured`
                opts[part] = "true"
    return opts


def _trim(lines: list[str]) -> str:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "\n".join(lines)


def decode_source(data: bytes) -> str:
    """Decode a .py as Python does (PEP 263: BOM or ``# -*- coding: x -*-`` in the first two
    lines, else UTF-8). Raises SyntaxError (with ``lineno``) for an unknown encoding or bytes
    that are not valid in it."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as e:
        bad = SyntaxError(f"{e.msg or e} (PEP 263 encoding declaration)")
        bad.lineno = e.lineno or 1
        raise bad from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as e:
        start = getattr(e, "start", 0)
        err = SyntaxError(f"the file is not valid {encoding} ({e.__class__.__name__}: {e}); "
                          f"save it as UTF-8 or declare its encoding (PEP 263)")
        err.lineno = data[:start].count(b"\n") + 1
        raise err from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def load_snippet(path: Path, data: bytes | None = None) -> Snippet:
    """Read ``path`` once (or take ``data``, its bytes) and parse it. Bytes that cannot be
    decoded give a snippet with ``problem`` set (it fails at run time with that message)."""
    if data is None:
        data = path.read_bytes()
    problem = None
    try:
        text = decode_source(data)
    except SyntaxError as e:
        text = data.decode("utf-8", "replace")
        problem = f"{e.lineno or 1}: SyntaxError: {e.msg}"
    s = parse_snippet(path, text)
    s.source, s.problem = data, problem
    return s


def parse_snippet(path: Path, text: str | None = None) -> Snippet:
    """Parse a percent-format script into cells. Text before the first ``# %%`` marker becomes
    an untitled code cell when it holds anything but comments (e.g. the sys.path bootstrap)."""
    if text is None:
        return load_snippet(path)
    lines = text.splitlines()
    cells: list[Cell] = []
    # (kind, title, first line index of the body, body lines)
    blocks: list[tuple[str, str | None, int, list[str]]] = []
    cur: tuple[str, str | None, int, list[str]] = ("header", None, 0, [])
    for i, ln in enumerate(lines):
        m = _MARKER.match(ln)
        if m:
            blocks.append(cur)
            kind, title = _parse_marker(m.group("rest"))
            cur = (kind, title, i + 1, [])
        else:
            cur[3].append(ln)
    blocks.append(cur)

    for kind, title, start, body in blocks:
        if kind == "header":
            meaningful = [b for b in body if b.strip() and not b.lstrip().startswith("#")]
            if not meaningful:
                continue
            kind = "code"
        if kind == "raw":
            continue
        if kind == "markdown":
            src = _trim([_uncomment(b) for b in body])
            exec_src = ""
        else:
            src = _trim(body)
            exec_src = "\n".join(body)
        first = start
        while first < start + len(body) and not lines[first].strip():
            first += 1
        cells.append(Cell(len(cells), kind, title, src, exec_src, line=first + 1, start=start))
    return Snippet(path=path, name=path.name, text=text, cells=cells, options=_directives(lines),
                   source=text.encode("utf-8"))


def validate(snippet: Snippet) -> list[str]:
    """Problems with cell titles (duplicates, not snake_case ASCII)."""
    problems: list[str] = []
    seen: set[str] = set()
    for c in snippet.code_cells:
        if c.title is None:
            continue
        if not _TITLE_OK.match(c.title):
            problems.append(f"{snippet.name}:{c.line - 1}: cell title {c.title!r} is not ASCII snake_case")
        if c.title in seen:
            problems.append(f"{snippet.name}:{c.line - 1}: duplicate cell title {c.title!r}")
        seen.add(c.title)
    return problems
