"""What one poll of one region knows: the last result of every source, in one immutable value.

The poller assembles it from its sources and hands it to `metrics/`, which renders each kind it holds.
A new kind of object is a new field here, with an empty default so that every other source and every
renderer that does not know it carries on unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.tione.decode import Skipped
from exporter.tione.event_models import ServiceEvents
from exporter.tione.models import ServiceGroup


@dataclass(frozen=True, slots=True)
class RegionSnapshot:
    """One region's objects as last read; replaced, never changed."""

    region: str
    groups: tuple[ServiceGroup, ...] = ()
    """Service groups with their services and pods (`DescribeModelServiceGroups`, the primary source)."""
    skipped: tuple[Skipped, ...] = ()
    """Objects of the listing's answers that could not be read and were left out."""
    events: tuple[ServiceEvents, ...] = ()
    """Warning events of the services that need attention (`DescribeEvents`, a secondary source)."""
