"""Giving the memory a poll used back to the system once the poll has landed.

A poll allocates a great deal for a short while (a page's decoded objects, a region's lines as they are
formatted) and keeps much less (the lines and their gzip forms). glibc's allocator keeps what was freed in
its arenas for reuse, and a worker thread's arena is trimmed only from its top, so without help the
process stays at its peak: measured at 10,000 services, resident memory 2 to 3 times the live data.
`malloc_trim(0)` returns the free pages of every arena (docs/performance.md, "Memory"). Elsewhere (musl,
macOS, no C library found) there is nothing to call and trimming does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    function: Callable[[int], int] = trim
    return function


_malloc_trim = _find_malloc_trim()


def can_trim() -> bool:
    """True where the C library has `malloc_trim` (glibc)."""
    return _malloc_trim is not None


def trim() -> bool:
    """Return freed heap memory to the system; True when something was returned.

    Takes a few milliseconds for a heap of hundreds of megabytes; call it once after a poll, off the
    event loop if the heap is large (it holds the allocator's locks while it runs).
    """
    if _malloc_trim is None:
        return False
    try:
        return bool(_malloc_trim(0))
    except OSError:  # ctypes reports a failed foreign call this way; the process keeps its memory, nothing else
        log.debug("malloc_trim failed", exc_info=True)
        return False
