"""Command-line entry point: dispatches to `run`, `check`, `once` and `simulate`."""

from __future__ import annotations

import sys

from exporter import __version__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--version"]:
        print(f"tione-exporter {__version__}")
        return 0
    print("tione-exporter: not implemented yet", file=sys.stderr)
    return 2
