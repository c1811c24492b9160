"""The API's request rate limit, as a sliding one-second window over the whole server.

A request is admitted when fewer than `limit` requests were admitted during the second before it;
rejected requests do not count, so a client that backs off recovers as soon as the window slides.
A sliding window (rather than a token bucket) is what makes "20 per second" exact: no burst above
the limit is ever admitted within any one-second span.
"""

from __future__ import annotations

import math
from collections import deque


class SlidingWindow:
    """Not thread-safe: the simulator calls it under its lock. `limit=None` admits everything."""

    def __init__(self, limit: float | None) -> None:
        self._limit = limit
        self._admitted: deque[float] = deque()

    @property
    def limit(self) -> float | None:
        return self._limit

    def set_limit(self, limit: float | None) -> None:
        if limit is not None and (limit < 0 or math.isnan(limit)):
            raise ValueError("rate limit must be >= 0 or None")
        self._limit = limit

    def admit(self, now: float) -> bool:
        """Whether a request arriving at monotonic time `now` is within the limit (and count it if so)."""
        if self._limit is None:
            return True
        while self._admitted and self._admitted[0] <= now - 1.0:
            self._admitted.popleft()
        if len(self._admitted) >= self._limit:
            return False
        self._admitted.append(now)
        return True
