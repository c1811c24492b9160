"""Whether the polls of all regions need more API requests than the rate limit lets through in time.

It stays true poll after poll once it is, and looks like an API outage (polls partial, or failing on
their timeout) while it is a setting: one warning, at most every `BUDGET_LOG_INTERVAL`, says what to change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from exporter.durations import format_duration

log = logging.getLogger("exporter.poller")

BUDGET_LOG_INTERVAL = 600.0
"""Seconds between two warnings that the polls need more requests than the rate limit lets through within
the poll timeout: it stays true poll after poll, and one line says what to change."""


def budget_message(needed: int, rate: float, timeout: float, interval: float) -> str:
    """The one line that says a poll needs more requests than the settings let through, and which to change
    (also `check`'s)."""
    return (
        f"polls need about {needed} API requests, but --api.rate-limit {rate:g} lets {int(rate * timeout)} "
        f"through in --poll.timeout {format_duration(timeout)} (--poll.interval {format_duration(interval)}): "
        "workspaces not reached are listed at a later poll; raise --poll.interval or --api.rate-limit"
    )


class RequestBudget:
    """The requests the last poll of each region needed, against what the rate limit allows in a poll."""

    def __init__(self, rate: float | None, timeout: float, interval: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        """The client's requests per second, shared by all regions; None: nothing is checked."""
        self.timeout = timeout
        self.interval = interval
        self._clock = clock
        self._needed: dict[str, int] = {}
        self._logged: float | None = None

    def check(self, region: str, requests: int) -> None:
        """Note what a poll of `region` needs, and warn when all regions together need more than allowed.

        `requests` is what a poll needs, not what it made: a poll stops at its deadline, and the
        workspaces it did not reach count at what they took when last listed."""
        self._needed[region] = requests
        if self.rate is None:
            return
        needed = sum(self._needed.values())
        allowed = int(self.rate * self.timeout)
        if needed <= allowed:
            return
        now = self._clock()
        if self._logged is not None and now - self._logged < BUDGET_LOG_INTERVAL:
            return
        self._logged = now
        log.warning(
            budget_message(needed, self.rate, self.timeout, self.interval),
            extra={
                "requests": needed,
                "allowed": allowed,
                "rate_limit": self.rate,
                "timeout": format_duration(self.timeout),
                "interval": format_duration(self.interval),
            },
        )
