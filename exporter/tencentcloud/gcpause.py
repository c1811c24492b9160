"""Pause Python's cyclic garbage collector around a burst of allocation: decoding one large answer,
or building a large fleet in the simulator.

A page of `DescribeModelServiceGroups` is close to a megabyte of JSON; decoding and validating it
allocates hundreds of thousands of container objects, and every few thousand allocations the cyclic
collector runs, its older generations walking every object the process holds (the listing so far, the
previous snapshot). Measured on the listing benchmark that was two thirds of the client's CPU time.
Decoded JSON and the models built from it hold no reference cycles, so reference counting frees them
anyway; the collector is paused only for the synchronous decode and resumes right after, with its
allocation counters intact, so any real cycles are still collected at the next pass.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector for the block; leave it as found (re-entrant, and off stays off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
