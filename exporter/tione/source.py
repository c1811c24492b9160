"""A source: one kind of API call the poller runs for each region, and where its result goes.

Each source module in `tione/` (the listing of service groups, and any other call) owns its action, its
request, paging and parsing, and offers a `source(...)` function that binds those to the client and the
settings and returns a `Source`. The poller knows nothing else about it: it runs the sources due in a
region in their order, each seeing the snapshot built so far (so a source may use what an earlier one
found, e.g. the workspaces to list), and stores each result in the region's `RegionSnapshot`.

A *primary* source's failure fails the region's poll (its `tione_up` goes to 0 and the whole previous
snapshot is kept, for a while). A *secondary* source's failure is logged and counted by the client's
hooks, never fails the region: its own last result is kept under the same staleness rule, then emptied.
It may spend at most half of what is left of the poll's deadline (its `deadline` says when), so that a
slow or throttled secondary call never makes the poll overrun.

The poller runs a source through `Source.run` only: it hands every source a `Sink` for parts of the
result as they arrive (the listing's pages, formatted while it waits for the next one), and sees every
failure of a call as a `SourceError`, whatever client the source uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from exporter.tencentcloud.errors import TIMEOUT, TencentCloudError
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot

T = TypeVar("T")

SOURCE_TIMEOUT = TIMEOUT
"""The code of a source, or a whole poll, that ran out of time."""


class Sink(Protocol):
    """Where a source hands on parts of its result as it reads them, while it waits for the rest.

    One method per kind of part; a source hands on what it has a method for, or nothing. What is
    handed on is what was read (pages read twice come twice): the result says what the source kept.
    """

    def service_groups(self, groups: Sequence[ServiceGroup], workspace: str) -> None:
        """Groups as read in `workspace` ("" the default one, asked without naming it)."""


class NoSink:
    """A sink that keeps nothing, for a fetch whose parts no one formats early (`check`, tests)."""

    def service_groups(self, groups: Sequence[ServiceGroup], workspace: str) -> None:
        return None


class SourceError(Exception):
    """A source's failure as the poller sees it: the API's code, message and RequestId, whether asking
    again may help; never a request header or a credential (nor does the client's error it is made from)."""

    def __init__(self, code: str, message: str, *, retryable: bool, request_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retryable = retryable


Fetch = Callable[[str, RegionSnapshot, float, Sink], Awaitable[T]]
"""`(region, snapshot so far, deadline, sink)` to the result; the deadline is a `time.monotonic()` value."""
Store = Callable[[RegionSnapshot, T], RegionSnapshot]
"""The snapshot with the result in its field (`dataclasses.replace`)."""
Probe = Callable[[str, float], Awaitable[str]]
"""`(region, deadline)` to a short summary such as "25 service groups", from one cheap call (`check`)."""


@dataclass(frozen=True, slots=True)
class Source(Generic[T]):
    """One call the poller makes per region, bound to the client; see the module docstring."""

    action: str
    """The API action, also the `action` label of the self-metrics."""
    fetch: Fetch[T]
    store: Store[T]
    empty: T
    """The result stored when the last one is too old to keep (and before the first)."""
    probe: Probe
    primary: bool = False
    interval: float | None = None
    """Seconds between two runs in a region; None: every poll. The first poll (and `once`) runs every source."""
    without: str = ""
    """What the exporter does when the keys may not call this secondary source, for `check` to say."""

    async def run(self, region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> T:
        """`fetch`, with the client's errors as `SourceError`: what the poller calls."""
        try:
            return await self.fetch(region, snapshot, deadline, sink)
        except TencentCloudError as error:
            raise SourceError(
                error.code, error.message, request_id=error.request_id, retryable=error.retryable
            ) from error
