"""What the commands say on the terminal, and the exit codes that are part of the interface.

0 success (and a clean stop on a signal), 1 a region failed or something unexpected happened, 2 the
configuration is wrong. Problems are short lines prefixed with the program's name, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

PROG = "tione-exporter"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def print_problems(problems: Sequence[str], stream: TextIO | None = None) -> None:
    """One `tione-exporter: problem` line each, on standard error unless told otherwise."""
    out = stream or sys.stderr
    for problem in problems:
        print(f"{PROG}: {problem}", file=out)
