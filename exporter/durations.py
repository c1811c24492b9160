"""Go-style durations (`500ms`, `1h30m`), as Prometheus and its exporters spell them in flags and files.

One parser and one formatter for the exporter's settings, its status page and the simulator's flags;
each caller adds its own range rule (the exporter wants positive times, the simulator allows zero).
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go-style duration or a plain number of seconds; the sign and range are the caller's to check.

    Raises ValueError naming the text, so that a flag parser can show it as is.
    """
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isnan(seconds):
        return seconds
    position, seconds = 0, 0.0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value) or position == 0:
        raise ValueError(f"invalid duration {text!r} (use e.g. 500ms, 2s, 1m)")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest Go-style spelling of a duration, for messages and help (`30s`, `5m`, `1h30m`, `500ms`)."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{int(hours)}h" if hours else "", f"{int(minutes)}m" if minutes else "", f"{secs:g}s" if secs else ""]
    return "".join(parts)
