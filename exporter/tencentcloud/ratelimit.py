"""The process-wide request budget: an async token bucket, first come first served.

The API's limit (20 requests per second per action) is shared with whatever else the account runs, so
the exporter stays under a configurable, lower rate instead of discovering the limit through errors.
Waiters are served strictly in arrival order (an `asyncio.Lock` hands itself over FIFO), so one busy
region cannot starve another, and a waiter that is cancelled gives its place to the next one without
consuming a token.
"""

from __future__ import annotations

import asyncio
import time

DEFAULT_RATE = 10.0
DEFAULT_BURST = 2


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; `acquire()` takes one, waiting if needed."""

    def __init__(self, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = int(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> float:
        """Take one token; returns the seconds spent waiting (0.0 when one was ready)."""
        start = time.monotonic()
        async with self._lock:
            while True:
                now = time.monotonic()
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return now - start
                await asyncio.sleep((1.0 - self._tokens) / self.rate)

    @property
    def available(self) -> float:
        """Tokens that could be taken right now (for diagnostics and tests)."""
        self._refill(time.monotonic())
        return self._tokens
