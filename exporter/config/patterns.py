"""`metrics.exclude` and `metrics.include`: regular expressions checked before they are used.

A user's pattern is matched against every metric family's name at each render, so one that backtracks
catastrophically would stall every poll with no message. Each is bounded in count and length, refused when
it nests a repetition in a repetition, and timed against the real names once at start-up.
"""

from __future__ import annotations

import importlib
import re
import signal
import threading
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from exporter.config.values import shown
from exporter.durations import format_duration
from exporter.metrics.families import SNAPSHOT_FAMILIES

MAX_PATTERNS = 100
"""Regular expressions in `metrics.exclude` or `metrics.include` at most: there are fewer metric families."""
MAX_PATTERN_LENGTH = 1000
"""Characters of one such regular expression at most: a family name is under 100; this also bounds nesting."""
PATTERN_SECONDS = 0.5
"""CPU seconds one such regular expression may take to be matched against every metric family's name at
start-up. A pattern that needs longer backtracks catastrophically and would stall every poll's render."""


def _patterns(value: object) -> tuple[re.Pattern[str], ...]:
    """Regular expressions matched against metric family names, each checked before it is used: a pattern
    that backtracks catastrophically would stall every poll's render with no message (see `_pattern`)."""
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_PATTERNS:
        raise PydanticCustomError(
            "regex", "at most {high} regular expressions, not {count}", {"high": MAX_PATTERNS, "count": len(items)}
        )
    return tuple(_pattern(item) for item in items)


def _pattern(item: object) -> re.Pattern[str]:
    if not isinstance(item, str):
        raise PydanticCustomError(
            "regex", 'expected a regular expression string, not "{value}"', {"value": shown(item)}
        )
    if len(item) > MAX_PATTERN_LENGTH:
        raise PydanticCustomError(
            "regex",
            'regular expression "{value}" is longer than {high} characters',
            {"value": shown(item), "high": MAX_PATTERN_LENGTH},
        )
    try:
        pattern = re.compile(item)
        nested = _nested_repeat(_PARSER.parse(item))
    except (re.error, OverflowError, RecursionError) as error:  # Overflow: `a{99999999999}`
        reason = str(error) if not isinstance(error, RecursionError) else "nested too deeply"
        raise PydanticCustomError(
            "regex", 'invalid regular expression "{value}": {error}', {"value": shown(item), "error": reason}
        ) from None
    if nested:
        raise PydanticCustomError(
            "regex",
            'regular expression "{value}" has a repetition inside a repetition (like "(a+)+"), which can take '
            "exponential time to match; write it without the nesting",
            {"value": shown(item)},
        )
    if not _matches_in_time(pattern, FAMILY_NAMES, PATTERN_SECONDS):
        raise PydanticCustomError(
            "regex",
            'regular expression "{value}" takes over {seconds} to match the metric names (catastrophic '
            "backtracking); simplify it",
            {"value": shown(item), "seconds": format_duration(PATTERN_SECONDS)},
        )
    return pattern


_PARSER: Any = importlib.import_module("re._parser")  # the standard library's own parser; it has no stubs
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT"})  # POSSESSIVE_REPEAT never backtracks
FAMILY_NAMES: tuple[str, ...] = tuple(family.name for family in SNAPSHOT_FAMILIES)
"""What `metrics.exclude` and `metrics.include` are ever matched against."""


def _nested_repeat(tree: Any, outer: bool = False) -> bool:
    """Whether a variable repetition (`+`, `*`, `{n,m}` with 1 < m != n) sits inside a repetition (`(\\w+)+`).

    Star height above one is what makes a backtracking engine exponential: `(\\w+)+!` on a name without
    `!` tries every split of it. A fixed count inside (`(a{2})+`) splits one way only. Alternatives that
    overlap (`(a|a)*`) are left to `_matches_in_time`.
    """
    for op, argument in tree:
        name = str(op)
        if name in _REPEATS:
            low, high, body = argument
            if outer and high > 1 and high != low:
                return True
            found = _nested_repeat(body, outer or high > 1)
        elif name == "SUBPATTERN" or name in ("ASSERT", "ASSERT_NOT"):
            found = _nested_repeat(argument[-1], outer)
        elif name == "ATOMIC_GROUP":
            found = _nested_repeat(argument, outer)
        elif name == "BRANCH":
            found = any(_nested_repeat(branch, outer) for branch in argument[1])
        else:
            found = False
        if found:
            return True
    return False


class _TimeUpError(Exception):
    """The CPU time allowed for matching a pattern is used up."""


def _matches_in_time(pattern: re.Pattern[str], names: Sequence[str], seconds: float) -> bool:
    """Whether `pattern` is matched against every name within `seconds` of CPU time.

    The bound is a `SIGVTALRM` timer (the regex engine checks for signals while it backtracks; a thread
    could not interrupt it), so it applies on the main thread only, where the commands load their
    settings; elsewhere the match runs unbounded. A virtual (CPU-time) timer leaves `SIGALRM` to others.
    """
    if threading.current_thread() is not threading.main_thread():
        for name in names:
            pattern.fullmatch(name)
        return True
    armed = True

    def expire(_signum: int, _frame: object) -> None:
        if armed:
            raise _TimeUpError

    previous = signal.signal(signal.SIGVTALRM, expire)
    try:
        signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
        try:
            for name in names:
                pattern.fullmatch(name)
        finally:
            armed = False
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    except _TimeUpError:
        return False
    finally:
        signal.signal(signal.SIGVTALRM, previous)
    return True


Patterns = Annotated[tuple[re.Pattern[str], ...], BeforeValidator(_patterns)]
