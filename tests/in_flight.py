"""A mock-transport handler that counts the requests in flight, for tests of how many a source sends at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx


class InFlight:
    """Wraps `handler`, holding each request `pause` seconds so that concurrent ones overlap; `most` is the
    largest number seen at once."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response], pause: float) -> None:
        self._handler = handler
        self._pause = pause
        self._now = 0
        self.most = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self._now += 1
        self.most = max(self.most, self._now)
        await asyncio.sleep(self._pause)
        self._now -= 1
        return self._handler(request)
