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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from exporter.tione.snapshot import RegionSnapshot

T = TypeVar("T")

Fetch = Callable[[str, RegionSnapshot, float], Awaitable[T]]
"""`(region, snapshot so far, deadline)` to the result; the deadline is a `time.monotonic()` value."""
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
