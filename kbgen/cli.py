"""Command line: ``python -m kbgen run <snippet>`` and ``python -m kbgen check``."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kbgen", description=__doc__)
    parser.parse_args(argv)
    return 0
