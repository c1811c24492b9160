"""Typed models of the `DescribeEvents` answer, and what the events source keeps of it per service.

Apart from the source (`tione/events.py`) so that the snapshot can hold `ServiceEvents` without importing
the source, which stores into the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from exporter.tione.models import ApiModel, Timestamp, as_utc
from exporter.tione.text import KeptText


class Event(ApiModel):
    """One Kubernetes event of a service's pods or workload (`Event` in the SDK)."""

    id: str | None = None
    message: KeptText = None
    """Cut to `text.KEPT_TEXT` characters when read: the events cache keeps it for minutes."""
    first_timestamp: Timestamp = None
    last_timestamp: Timestamp = None
    count: int | None = None
    type: str | None = None
    resource_kind: str | None = None
    resource_name: str | None = None


class DescribeEventsResponse(ApiModel):
    """The contents of `{"Response": {...}}` for a successful `DescribeEvents`."""

    events: list[Event] | None = None
    total_count: int | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceEvents:
    """A troubled service's Warning events of the hour before `asked` (Unix seconds), newest first."""

    service_group_id: str
    service_id: str
    events: tuple[Event, ...]
    total: int
    """Warning events in the window (`TotalCount`; each event once, its `Count` not summed)."""
    asked: float

    @property
    def last_timestamp(self) -> datetime | None:
        times = [as_utc(event.last_timestamp) for event in self.events if event.last_timestamp is not None]
        return max((moment for moment in times if moment is not None), default=None)
