"""The web server's one log line about its bounds: connections refused, evicted or timed out and malformed
requests, counted and logged at most once an interval, never once per socket (a flood is news once a
minute). uvicorn's own line per malformed request is turned into a count here too (`UvicornLog`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("exporter.web.connections")
"""The connections' logger: these lines are about them."""

ACCEPT_LOG_INTERVAL = 60.0
"""Seconds between two log lines about connections refused or closed by the bounds (each line gives the
counts since the last): a flood is news once a minute, not once per socket."""


class Tally:
    """Counts of connections refused, evicted or timed out and of malformed requests, logged as one line at
    most every interval.

    Quiet counts (connections that opened and never sent a byte, as a browser's preconnect sockets do) are
    reported in the next line but never cause one: they are normal.
    """

    def __init__(self, interval: float = ACCEPT_LOG_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._counts: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._quiet: dict[str, int] = {}
        self._logged: float | None = None

    def count(self, what: str, error: str | None = None, *, quiet: bool = False) -> None:
        counts = self._quiet if quiet else self._counts
        counts[what] = counts.get(what, 0) + 1
        if error is not None:
            self._errors[error] = self._errors.get(error, 0) + 1
        self.flush()

    def flush(self, *, force: bool = False) -> None:
        if not self._counts:
            return
        now = self._clock()
        if not force and self._logged is not None and now - self._logged < self.interval:
            return
        self._logged = now
        fields: dict[str, object] = dict(sorted({**self._quiet, **self._counts}.items()))
        if self._errors:
            fields["errors"] = ",".join(f"{name}:{count}" for name, count in sorted(self._errors.items()))
        fields["interval"] = f"{self.interval:g}s"
        log.warning("connections refused or closed by the web server's limits", extra=fields)
        self._counts.clear()
        self._errors.clear()
        self._quiet.clear()


MALFORMED = "Invalid HTTP request received."
"""What uvicorn logs, once per request, for bytes that are not HTTP/1.1."""


class UvicornLog(logging.Logger):
    """uvicorn's logger as the connections use it: a malformed request is counted in the tally (so logged at
    most once an interval, with the count) instead of logged each time; anything else goes to uvicorn's own
    logger as before."""

    def __init__(self, tally: Tally) -> None:
        parent = logging.getLogger("uvicorn.error")
        super().__init__(parent.name)
        self.parent = parent
        self.tally = tally

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        if msg == MALFORMED:
            self.tally.count("malformed_requests")
            return
        super().warning(msg, *args, **kwargs)
