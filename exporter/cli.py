"""Command-line entry point: dispatches to `run`, `check`, `once` and `simulate`."""

from __future__ import annotations

import sys

from exporter import __version__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--version"]:
        print(f"tione-exporter {__version__}")
        return 0
    if args[:1] == ["simulate"]:
        from exporter.simulator.command import main as simulate  # noqa: PLC0415 - only this command needs it

        return simulate(args[1:])
    print("tione-exporter: not implemented yet", file=sys.stderr)
    return 2
