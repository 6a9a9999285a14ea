"""Plain-text tables for printed results (monospace output, CJK characters count double)."""

from __future__ import annotations

import unicodedata


def print_table(lines: list[str]) -> None:
    """Print Markdown pipe-table rows aligned for a monospace view (CJK characters count double)."""
    def width(s: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)

    rows = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines]
    widths = [max(width(r[i]) for r in rows) for i in range(len(rows[0]))]
    fmt = lambda r: "| " + " | ".join(c + " " * (w - width(c)) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print("\n".join([fmt(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in rows[1:]]))
