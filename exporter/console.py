"""What the commands say on the terminal, and the exit codes that are part of the interface.

0 success (and a clean stop on a signal), 1 a region failed, `run` cannot listen on its address or
something unexpected happened, 2 the configuration is wrong, 141 standard output was closed early.
Problems are short lines prefixed with the program's name, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

PROG = "tione-exporter"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_OUTPUT_CLOSED = 141
"""Standard output was closed by its reader (`--help | head`): 128 + SIGPIPE, what `cat` and `seq` give."""

MAX_PROBLEMS = 20
"""Problem lines printed at most for one configuration."""


class ConfigError(Exception):
    """The configuration (settings, or a file they name) cannot be used; exit code 2.

    Each entry of `problems` is one line naming the flag, variable, key or file, never a secret.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        if len(problems) > MAX_PROBLEMS:  # a file of thousands of bad entries: the first say what is wrong
            problems = [*problems[: MAX_PROBLEMS - 1], f"... and {len(problems) - MAX_PROBLEMS + 1} more problems"]
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def print_problems(problems: Sequence[str], stream: TextIO | None = None) -> None:
    """One `tione-exporter: problem` line each, on standard error unless told otherwise."""
    out = stream or sys.stderr
    for problem in problems:
        print(f"{PROG}: {problem}", file=out)
