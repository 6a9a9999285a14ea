"""Problems in a note's source that rendering cannot repair, each with its 1-based file line:
malformed or unclosed frontmatter, frontmatter fields of the wrong type, unclosed code fences.

The build reports them (``file:line: message``, warnings) and still renders the note."""

from __future__ import annotations

import re

import yaml

from kbgen.vault import scan

#: Frontmatter fields Obsidian (and kbgen) read as a text or a list of texts.
_LIST_FIELDS = ("aliases", "tags", "prerequisites", "cssclasses")
_TEXT_FIELDS = ("title", "description", "level")


def _key_line(lines: list[str], key: str) -> int:
    for i, line in enumerate(lines[1:], 2):
        if re.match(rf"^{re.escape(key)}\s*:", line):
            return i
        if line.strip() in ("---", "..."):
            break
    return 1


def _frontmatter(text: str, lines: list[str], parsed: dict | None = None) -> list[tuple[int, str]]:
    """``parsed``: the frontmatter already read by the index (a non-empty dict); it spares
    a second YAML parse, which only a malformed or empty block needs (to locate the error)."""
    if not re.match(r"---[ \t]*\n", text):
        return []
    m = scan._FRONTMATTER.match(text)
    if not m:
        return [(1, "frontmatter opened with '---' is never closed; it is shown as text")]
    bomb = scan.yaml_alias_bomb(m.group(1) or "")
    if bomb is not None:
        return [(bomb[0] + 1, bomb[1])]
    try:
        meta = parsed if parsed else yaml.load(m.group(1) or "", Loader=scan._YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = 2 + mark.line if mark is not None else 1
        why = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return [(line, f"malformed YAML frontmatter ({why}); it is shown as text and its title, tags and aliases are ignored")]
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return [(2, f"frontmatter is a YAML {type(meta).__name__}, not key: value pairs; it is ignored")]
    out = []
    for key in _LIST_FIELDS:
        v = meta.get(key)
        if v is not None and not isinstance(v, str) and not (
            isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v)
        ):
            out.append((_key_line(lines, key), f"frontmatter '{key}' should be a text or a list of texts, not {type(v).__name__}"))
    for key in _TEXT_FIELDS:
        v = meta.get(key)
        if v is not None and not isinstance(v, (str, int, float)):
            out.append((_key_line(lines, key), f"frontmatter '{key}' should be a text, not {type(v).__name__}"))
    return out


def _unclosed_fence(body: str, offset: int) -> list[tuple[int, str]]:
    """The opening line of a fence still open at the end of the body (same rules as
    :func:`kbgen.vault.scan.fenced_line_mask`, which masks everything after it as code)."""
    fence: tuple[str, int, int] | None = None  # (char, length, line index)
    for i, line in enumerate(body.split("\n")):
        if fence is None:
            m = scan._FENCE_OPEN.match(line)
            if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
                fence = (m.group(2)[0], len(m.group(2)), i)
        else:
            stripped = line.strip().lstrip(">").strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= fence[1]:
                fence = None
    if fence is None:
        return []
    mark = fence[0] * fence[1]
    return [(offset + fence[2] + 1, f"unclosed code fence {mark}: links, tags and embeds after it are left as text; close it with {mark}")]


def note_problems(text: str, parsed: tuple[dict, int] | None = None) -> list[tuple[int, str]]:
    """``[(line, message)]`` for the note source ``text``, in line order. ``parsed``:
    (frontmatter, body offset in lines) when the caller has split the note already."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if parsed is None:
        meta, body, offset = scan.split_frontmatter(text)
    else:
        meta, offset = parsed
        body = text.split("\n", offset)[-1] if offset else text
    return sorted(_frontmatter(text, lines, meta) + _unclosed_fence(body, offset))
