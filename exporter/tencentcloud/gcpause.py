"""Pause Python's cyclic garbage collector around a burst of allocation: a whole poll (decoding its
answers, formatting its samples), decoding one large answer, or building a large fleet in the simulator.

A poll of a large region allocates millions of container objects, and every few hundred allocations
the cyclic collector runs, its older generations walking every object the process holds (the listing
so far, the previous snapshot). Measured on a poll of 10,000 services that was 40 % of its CPU, and
pausing only around each page's decode merely moved the collections to the first allocations after it
(`bench/bench_decode.py`). Decoded answers, records and sample lines hold no reference cycles, so
reference counting frees them anyway; the collector is off while any poll runs, and back on, with its
allocation counters intact, when the last one ends.

The pause is one for the whole process, counted: polls of several regions overlap (in one event loop
or in threads), and the collector comes back only when none is running, and only if it was on when the
first began. So that overlapping polls that never all end at once cannot starve it, a pause that has
lasted `MAX_PAUSE_SECONDS` runs one full collection when a holder leaves, and starts over.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_PAUSE_SECONDS = 120.0
"""The longest the collector stays off without a collection, however the pauses overlap."""

_lock = threading.Lock()
_holders = 0
_resume = False
"""Whether the collector was on when the first holder came, and so goes back on after the last."""
_since = 0.0
"""When the collector was paused, or last made up for a long pause by a full collection."""


def _enter() -> None:
    global _holders, _resume, _since  # noqa: PLW0603 - one pause for the whole process
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            _since = time.monotonic()
            gc.disable()
        _holders += 1


def _leave() -> None:
    global _holders, _since  # noqa: PLW0603 - one pause for the whole process
    with _lock:
        _holders -= 1
        if _holders == 0:
            if _resume:
                gc.enable()
            return
        overdue = _resume and time.monotonic() - _since > MAX_PAUSE_SECONDS
        if overdue:
            _since = time.monotonic()
    if overdue:
        gc.collect()


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector for the block (re-entrant, thread-safe, and off stays off)."""
    _enter()
    try:
        yield
    finally:
        _leave()


def pause_depth() -> int:
    """How many pauses are being held right now (for tests and diagnostics)."""
    return _holders
