"""The run contract: what the build asks a child to run and what the child reports back.

One module of dataclasses, imported by the parent (executor, cache, engine, CLI) and the child
(worker) alike; nothing else passes result dicts around. JSON crosses the process boundary
(``RunRequest.to_json`` / ``from_json``, ``RunResult.to_json`` / ``from_json``).

The one cache key formula lives here (:func:`cache_key`): it covers the *bytes* of the snippet
that the child executes (they travel inside the request, so what runs is what was hashed), the
figure format and the versions that matter. Dependencies (modules, data files, folder listings)
are only known after a run; they are recorded per cache entry and validated on lookup.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Union

from kbgen.contracts import SnippetValue
from kbgen.snippets.model import Snippet

#: Bumped whenever the result layout changes; part of every cache key and every manifest.
FORMAT_VERSION = 3
RESULT_FILE = "result.json"
PROGRESS_FILE = "progress.json"
LOG_FILE = "log.txt"

#: Names of files a run writes into its output folder (figures, result, notebook): plain names
#: only, never a path. Anything read back from disk is checked against it.
SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,200}$")
_VERSIONED = ("torch", "numpy", "matplotlib")

Scalar = Union[bool, int, float, str]
RunStatus = Literal["ok", "failed"]


# -- hashing ---------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def listing_hash(names: list[str]) -> str:
    """Hash of a folder listing (the sorted entry names): adding or removing a file changes it."""
    return sha256_bytes("\n".join(sorted(names)).encode("utf-8", "surrogateescape"))


def _version(dist: str) -> str | None:
    # importlib.metadata: kbgen learns torch's version without importing torch.
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _fingerprint() -> str:
    return json.dumps(
        {"kbgen_format": FORMAT_VERSION, "python": sys.version, **{name: _version(name) for name in _VERSIONED}},
        sort_keys=True,
    )


def environment_fingerprint() -> dict[str, Any]:
    """Python/torch/numpy/matplotlib versions + kbgen's result format (metadata read once)."""
    result: dict[str, Any] = json.loads(_fingerprint())
    return result


def cache_key(source: bytes, fig_format: str, env: dict[str, Any] | None = None) -> str:
    """THE cache key of a snippet (64 hex digits): the exact bytes executed, the figure format
    and the environment fingerprint. Every caller (build, ``kbgen run``, ``kbgen check``) uses it."""
    payload = {
        "source": sha256_bytes(source),
        "fig_format": fig_format,
        "env": env if env is not None else environment_fingerprint(),
    }
    return sha256_bytes(json.dumps(payload, sort_keys=True).encode())


# -- request ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRequest:
    """One snippet to run. ``source`` is the exact bytes the parent read and keyed; the child
    executes them (never re-reading ``snippet``, which is only its name and ``__file__``)."""

    snippet: str  # absolute path of the .py (for __file__, sys.path and tracebacks)
    source: bytes
    out: str  # absolute path of the run's output folder
    root: str  # absolute project root
    fig_format: str = "svg"
    memory_mb: int | None = None
    output_limit: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "snippet": self.snippet, "source_b64": base64.b64encode(self.source).decode("ascii"),
            "out": self.out, "root": self.root, "fig_format": self.fig_format,
            "memory_mb": self.memory_mb, "output_limit": self.output_limit,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "RunRequest":
        return cls(
            snippet=str(d["snippet"]), source=base64.b64decode(d["source_b64"]), out=str(d["out"]),
            root=str(d["root"]), fig_format=str(d.get("fig_format", "svg")),
            memory_mb=d.get("memory_mb"), output_limit=d.get("output_limit"),
        )


# -- result ----------------------------------------------------------------------------------
@dataclass
class Output:
    """One output of a cell: text on a stream, or a figure file in the run's folder."""

    type: Literal["stream", "image"]
    name: str = ""  # stream: "stdout" | "stderr"
    text: str = ""  # stream text
    file: str = ""  # image: file name inside the run folder (SAFE_FILE_NAME)
    format: str = ""  # image: "svg" | "png"

    def to_json(self) -> dict[str, Any]:
        if self.type == "stream":
            return {"type": "stream", "name": self.name, "text": self.text}
        return {"type": "image", "file": self.file, "format": self.format}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Output":
        if d["type"] == "stream":
            return cls("stream", name=str(d["name"]), text=str(d["text"]))
        if d["type"] != "image" or not SAFE_FILE_NAME.match(str(d["file"])):
            raise ValueError(f"bad output entry {d!r}")
        return cls("image", file=str(d["file"]), format=str(d["format"]))


@dataclass
class RunError:
    """Why a run failed: exception name/value, the 1-based snippet line, the traceback (project
    paths relative), and the id of the cell it happened in."""

    ename: str
    evalue: str
    line: int
    traceback: str
    cell: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ename": self.ename, "evalue": self.evalue, "line": self.line, "traceback": self.traceback,
                "cell": self.cell}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "RunError":
        return cls(str(d["ename"]), str(d["evalue"]), int(d["line"]), str(d["traceback"]), d.get("cell"))


@dataclass
class Truncation:
    """Text output of a cell beyond the limit: the line that overflowed, characters kept/dropped."""

    line: int
    kept: int
    dropped: int

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "kept": self.kept, "dropped": self.dropped}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Truncation":
        return cls(int(d["line"]), int(d["kept"]), int(d["dropped"]))


@dataclass
class Exit:
    """The snippet ended itself with ``sys.exit(code)`` (code 0/None: a normal end)."""

    cell: str
    line: int
    code: int | str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "line": self.line, "code": self.code}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Exit":
        return cls(str(d["cell"]), int(d["line"]), d.get("code"))


@dataclass
class CellResult:
    """What one executed code cell produced. ``line``: 1-based first line in the .py;
    ``seconds``: wall time of the cell."""

    index: int
    id: str
    title: str | None
    line: int
    seconds: float
    outputs: list[Output] = field(default_factory=list)
    truncated: Truncation | None = None
    error: RunError | None = None
    exit: Exit | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index, "id": self.id, "title": self.title, "line": self.line,
            "seconds": self.seconds, "outputs": [o.to_json() for o in self.outputs],
        }
        if self.truncated:
            d["truncated"] = self.truncated.to_json()
        if self.error:
            d["error"] = self.error.to_json()
        if self.exit:
            d["exit"] = self.exit.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "CellResult":
        return cls(
            index=int(d["index"]), id=str(d["id"]), title=d.get("title"), line=int(d["line"]),
            seconds=float(d["seconds"]), outputs=[Output.from_json(o) for o in d["outputs"]],
            truncated=Truncation.from_json(d["truncated"]) if d.get("truncated") else None,
            error=RunError.from_json(d["error"]) if d.get("error") else None,
            exit=Exit.from_json(d["exit"]) if d.get("exit") else None,
        )

    def text(self, stream: str | None = None) -> str:
        """All stream text of the cell (or of one stream)."""
        return "".join(o.text for o in self.outputs if o.type == "stream" and (stream is None or o.name == stream))


@dataclass
class Dependencies:
    """The bytes a run used, as sha256 per project-relative path: modules imported, data files
    opened for reading, and folders listed (hash of the sorted names, see :func:`listing_hash`).
    Hashes are taken when first used; the parent re-verifies them before caching a result."""

    modules: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    listings: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"modules": dict(sorted(self.modules.items())), "files": dict(sorted(self.files.items())),
                "listings": dict(sorted(self.listings.items()))}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Dependencies":
        def table(x: Any) -> dict[str, str]:
            if not isinstance(x, dict):
                return {}
            return {str(k): str(v) for k, v in x.items()}

        return cls(table(d.get("modules")), table(d.get("files")), table(d.get("listings")))

    def paths(self) -> list[str]:
        """Every module and data file (not folders), project-relative."""
        return list(self.modules) + list(self.files)


@dataclass
class Spawn:
    """A process the snippet started: the snippet line and the command (first 200 chars)."""

    line: int | None
    cmd: str


@dataclass
class Leftovers:
    """Processes still running when the snippet ended (kbgen killed them)."""

    processes: list[str]
    spawns: list[Spawn]

    def to_json(self) -> dict[str, Any]:
        return {"processes": self.processes, "spawns": [{"line": s.line, "cmd": s.cmd} for s in self.spawns]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Leftovers":
        return cls([str(p) for p in d.get("processes", [])],
                   [Spawn(s.get("line"), str(s.get("cmd", ""))) for s in d.get("spawns", [])])


def check_value(value: Any) -> str | None:
    """None when ``value`` may be exported through KB_VALUES (a JSON scalar: bool, int, finite
    float, str), else what is wrong with it."""
    if isinstance(value, bool) or isinstance(value, str):
        return None
    if isinstance(value, int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a finite number"
    return f"a {type(value).__name__} is not a JSON scalar (int, float, str, bool)"


@dataclass
class RunResult:
    """Everything one run of one snippet produced (written by the child as ``result.json``).

    ``status``: "ok" (every cell ran, or the snippet ended with ``sys.exit(0)``) or "failed";
    ``seconds``: wall time of all cells; ``values``: what the snippet exported through
    ``KB_VALUES``, each with the cell that last assigned it; ``source_sha256``: hash of the
    bytes executed; ``torch_threads``: torch's thread count during the run (None: no torch)."""

    status: RunStatus
    seconds: float
    cells: list[CellResult]
    deps: Dependencies
    values: dict[str, SnippetValue] = field(default_factory=dict)
    error: RunError | None = None
    exit: Exit | None = None
    source_sha256: str = ""
    torch_threads: int | None = None
    leftovers: Leftovers | None = None
    format: int = FORMAT_VERSION

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def cell(self, cell_id: str) -> CellResult | None:
        for c in self.cells:
            if c.id == cell_id:
                return c
        return None

    def figures(self) -> list[str]:
        return [o.file for c in self.cells for o in c.outputs if o.type == "image"]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": self.format, "status": self.status, "seconds": self.seconds,
            "cells": [c.to_json() for c in self.cells], "deps": self.deps.to_json(),
            "values": {k: {"value": v.value, "cell": v.cell, "cell_title": v.cell_title, "line": v.line}
                       for k, v in self.values.items()},
            "error": self.error.to_json() if self.error else None,
            "exit": self.exit.to_json() if self.exit else None,
            "source_sha256": self.source_sha256, "torch_threads": self.torch_threads,
        }
        if self.leftovers:
            d["leftovers"] = self.leftovers.to_json()
        return d

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, d: dict[str, Any], snippet: str) -> "RunResult":
        """Parse (and validate) a result read from disk; ``snippet`` names it in its values.
        Raises ValueError/KeyError/TypeError on anything malformed."""
        if d.get("format") != FORMAT_VERSION:
            raise ValueError(f"result format {d.get('format')!r}, expected {FORMAT_VERSION}")
        status = d["status"]
        if status not in ("ok", "failed"):
            raise ValueError(f"bad status {status!r}")
        values: dict[str, SnippetValue] = {}
        for k, v in (d.get("values") or {}).items():
            if check_value(v["value"]) is not None:
                raise ValueError(f"bad value {k!r}")
            values[str(k)] = SnippetValue(snippet, str(k), v["value"], int(v["cell"]), str(v["cell_title"]),
                                          int(v["line"]))
        return cls(
            status=status, seconds=float(d["seconds"]), cells=[CellResult.from_json(c) for c in d["cells"]],
            deps=Dependencies.from_json(d.get("deps") or {}), values=values,
            error=RunError.from_json(d["error"]) if d.get("error") else None,
            exit=Exit.from_json(d["exit"]) if d.get("exit") else None,
            source_sha256=str(d.get("source_sha256", "")), torch_threads=d.get("torch_threads"),
            leftovers=Leftovers.from_json(d["leftovers"]) if d.get("leftovers") else None,
            format=int(d["format"]),
        )

    @classmethod
    def read(cls, run_dir: Path, snippet: str) -> "RunResult | None":
        """The result in ``run_dir`` (None: missing or malformed)."""
        try:
            data = json.loads((run_dir / RESULT_FILE).read_text(encoding="utf-8"))
            return cls.from_json(data, snippet)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class Progress:
    """The cell running now (written by the child; read by the parent on a timeout or crash)."""

    cell: str
    line: int
    exact: bool = False

    @classmethod
    def read(cls, run_dir: Path) -> "Progress | None":
        try:
            d = json.loads((run_dir / PROGRESS_FILE).read_text(encoding="utf-8"))
            return cls(str(d["cell"]), int(d["line"]), bool(d.get("exact", False)))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def dumps(self) -> str:
        return json.dumps({"cell": self.cell, "line": self.line, "exact": self.exact})


# -- outcome (parent side) -------------------------------------------------------------------
OutcomeStatus = Literal["executed", "cached", "failed", "timeout", "skipped"]


@dataclass
class Outcome:
    """What one build knows about one snippet. ``dir`` holds the result's figure files.

    ``seconds``: time this build spent on it; ``run_seconds``: execution time of the shown
    result (cached: of the run that made it)."""

    snippet: Snippet
    status: OutcomeStatus
    seconds: float
    result: RunResult | None  # partial for failures; None when nothing ran
    dir: Path | None
    message: str = ""  # failures: "snippets/x.py:12: ValueError: ..." + traceback
    reason: str = ""  # executed: why ("miss", "stale", "corrupt", "forced", "not cached: ...")
    run_seconds: float = 0.0
    where: str = ""  # where this build ran it: a Dask worker's address ("" = this machine, or not run)

    @property
    def ok(self) -> bool:
        return self.status in ("executed", "cached")

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "timeout")

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    def cell_result(self, cell_id: str) -> CellResult | None:
        return self.result.cell(cell_id) if self.result is not None else None

    def figures(self) -> list[str]:
        return self.result.figures() if self.result is not None else []

    @property
    def deps(self) -> Dependencies:
        """Dependencies of a successful run (empty otherwise)."""
        return self.result.deps if self.ok and self.result is not None else Dependencies()
