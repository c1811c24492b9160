"""What one poll of one region knows: the last result of every source, in one immutable value.

The poller assembles it from its sources and hands it to `metrics/`, which renders each kind it holds.
A new kind of object is a new field here, with an empty default so that every other source and every
renderer that does not know it carries on unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from exporter.tione.decode import Skipped
from exporter.tione.event_models import ServiceEvents
from exporter.tione.models import ResourceGroup, Workspace
from exporter.tione.records import ServiceGroup


@dataclass(frozen=True, slots=True)
class Discovery:
    """What discovery found in a region: the workspaces, or that it may not be asked (`permitted` False)."""

    workspaces: tuple[Workspace, ...] = ()
    permitted: bool = True


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
    discovery: Discovery = field(default_factory=Discovery)
    """The workspaces `DescribeWorkspaces` found (`tione/workspaces.py`), read by the listing."""
    resource_groups: tuple[ResourceGroup, ...] = ()
    """Dedicated resource groups with their capacity and usage (`DescribeBillingResourceGroups`)."""
    events: tuple[ServiceEvents, ...] = ()
    """Warning events of the services that need attention (`DescribeEvents`, a secondary source)."""
