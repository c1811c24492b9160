"""What the poller runs: its targets (a region, or an account's region), each with its sources, and how often.

Without YAML `accounts` a target is a region and every target runs the same sources (`PollPlan.regions`
and `PollPlan.sources`); with accounts each account's regions run that account's sources, bound to its own
client (`PollPlan.targets`). The poller knows a target by its key (`metrics.labels.target_key`), the
region alone without accounts, so that the one-account paths are the same as ever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from exporter.metrics.labels import target_key
from exporter.metrics.options import RenderOptions
from exporter.tione.source import Source


@dataclass(frozen=True)
class PollTarget:
    """One region of one account, with the sources bound to that account's client."""

    region: str
    sources: tuple[Source[Any], ...]
    account: str = ""
    rate_limit: float | None = None
    """The account's requests per second (its own budget); None: the plan's `rate_limit`."""

    @property
    def key(self) -> str:
        return target_key(self.account, self.region)


@dataclass(frozen=True)
class PollPlan:
    """What to run and how often."""

    regions: tuple[str, ...]
    """Without accounts: the regions, each running `sources`. Ignored when `targets` are given."""
    sources: tuple[Source[Any], ...]
    """In the order they run in a poll; exactly one is primary."""
    options: RenderOptions = field(default_factory=RenderOptions)
    interval: float = 30.0
    timeout: float = 25.0
    max_staleness: float = 300.0
    rate_limit: float | None = None
    """The client's requests per second, shared by all regions; None: the request budget is not checked."""
    targets: tuple[PollTarget, ...] = ()
    """With accounts: every (account, region), each with its own sources and budget."""

    def all_targets(self) -> tuple[PollTarget, ...]:
        """The targets, in the order the page lists them: `targets`, or one per region."""
        if self.targets:
            return self.targets
        return tuple(PollTarget(region, self.sources) for region in self.regions)


class PollRecorder(Protocol):
    """The self-metrics the poller reports to (`exporter.metrics.self.SelfMetrics`)."""

    def record_poll(self, region: str, *, success: bool, duration: float, finished_at: float) -> None: ...

    def set_inventory(self, region: str, groups: int, services: int, unlisted_workspaces: int = 0) -> None: ...

    def record_skipped(self, region: str, kind: str, reason: str, count: int = 1) -> None: ...

    def forget_inventory(self, region: str) -> None: ...

    def requests_made(self, region: str) -> int: ...
