"""What one poll of one region knows: the last result of every source, in one immutable value.

The poller assembles it from its sources and hands it to `metrics/`, which renders each kind it holds.
The listing's result (the primary source, read by most of `metrics/`) has fields of its own; every other
source's lives in `results` under its action, written and read through the source's `ResultKey` (the
source module declares it, its family module reads it), so a new source adds nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Generic, TypeVar, cast

from exporter.tione.decode import Skipped
from exporter.tione.records import ServiceGroup

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RegionSnapshot:
    """One region's objects as last read; replaced, never changed."""

    region: str
    groups: tuple[ServiceGroup, ...] = ()
    """Service groups with their services and pods (`DescribeModelServiceGroups`, the primary source)."""
    skipped: tuple[Skipped, ...] = ()
    """Objects of the listing's answers that could not be read and were left out."""
    group_workspaces: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The workspace (`TiProjectId`) each group was listed in, by group id, where known."""
    polled_workspaces: tuple[str, ...] = ()
    """The workspaces the listing read by id."""
    unlisted_workspaces: tuple[str, ...] = ()
    """Workspaces the listing ran out of time for ("" the default one): their groups, if any, are from an
    earlier poll, and the next poll lists them first."""
    unlisted_requests: int = 0
    """The requests listing those workspaces is expected to take (the poller's request budget)."""
    results: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    """Every other source's last result, by its action: read and written through its `ResultKey`."""
    account: str = ""
    """The YAML `accounts` entry whose fleet this is ("" without accounts): the `account` identity label."""


@dataclass(frozen=True, slots=True)
class ResultKey(Generic[T]):
    """Where one source's result lives in a snapshot, and its value before the first result (`empty`).

    The source module declares it (`workspaces.DISCOVERY`, ...) and stores through it; the family module
    that renders the result, and any source that reads it, read through it: one typed name per result."""

    action: str
    empty: T

    def of(self, snapshot: RegionSnapshot) -> T:
        """The result in `snapshot`, or `empty` before the first."""
        return cast("T", snapshot.results.get(self.action, self.empty))

    def stored(self, snapshot: RegionSnapshot, result: T) -> RegionSnapshot:
        """The snapshot with `result` as this source's (the source's `store`)."""
        return replace(snapshot, results=MappingProxyType({**snapshot.results, self.action: result}))
