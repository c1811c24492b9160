"""What the poller publishes about each region: its status, and the one object the web server reads.

The web server reads from another thread than the poller's: `Published` is immutable and replaced whole
after each change, so a reader always sees one state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from exporter.metrics.attention import AttentionRow
from exporter.metrics.labels import target_key
from exporter.metrics.render import Exposition
from exporter.tione.decode import Skipped

Outcome = Literal["pending", "success", "failure"]

UNEXPECTED_ERROR = "ExporterError"
"""The code recorded for a poll that failed with something other than a source's error (`SourceError`)
or its timeout: a fault of the exporter, logged at error level."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a poll, or one source in it, failed: what the status page and the log line say."""

    code: str
    message: str
    request_id: str = ""


@dataclass(frozen=True)
class RegionStatus:
    """What the landing page and the logs say about one region; replaced, never changed, after each poll."""

    region: str
    outcome: Outcome = "pending"
    polls: int = 0
    last_poll: float | None = None
    """Wall-clock time (Unix seconds) at which the last poll finished."""
    last_success: float | None = None
    duration: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    service_groups: int | None = None
    """Counts in the samples currently served (None when the region has none)."""
    services: int | None = None
    services_by_status: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    stale: bool = False
    """The served samples are from an earlier poll than the last one (which failed)."""
    unlisted_workspaces: tuple[str, ...] = ()
    """Workspaces the last successful poll ran out of time to list: their series are from an earlier poll."""
    skipped: tuple[Skipped, ...] = ()
    """Objects the last successful poll could not read and left out."""
    attention: tuple[AttentionRow, ...] = ()
    """The services of the served snapshot that need attention, made with its samples (once per poll)."""
    account: str = ""
    """The YAML `accounts` entry polled in `region` ("" without accounts)."""

    @property
    def where(self) -> str:
        """The region, after its account when accounts are set (`prod/ap-guangzhou`): what the page shows."""
        return target_key(self.account, self.region)


@dataclass(frozen=True)
class Published:
    """What the web server reads, as one object: replaced (one reference assignment), never changed."""

    exposition: Exposition
    statuses: tuple[RegionStatus, ...]

    @property
    def ready(self) -> bool:
        """True once every region's first poll has finished, whatever its outcome."""
        return all(status.polls > 0 for status in self.statuses)
