"""Warning events of the services that need attention (`DescribeEvents`), by service.

The snapshot holds one `ServiceEvents` per troubled service the events source asked about; its series
carry the service's identity labels only. An event's message is free text and never becomes a label: the
status page and `/api/v1/attention` show it. Services are grouped by their group here so that the
identity labels come out in the usual order (`region`, `service_group_id`, `service_id`).
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.metrics.families import group, service
from exporter.metrics.families.family import Declare, Family, Kind, Sample
from exporter.metrics.families.fields import timestamp
from exporter.tione.event_models import ServiceEvents
from exporter.tione.events import EVENTS
from exporter.tione.snapshot import RegionSnapshot

SCOPE = service.SCOPE
GROUP_IDENTITY: tuple[str, ...] = group.IDENTITY
IDENTITY: tuple[str, ...] = service.IDENTITY
_family: Declare[ServiceEvents] = Declare(SCOPE, IDENTITY)


def _count(s: ServiceEvents) -> tuple[Sample, ...]:
    return (((), float(s.total)),)


FAMILIES: tuple[Family[ServiceEvents], ...] = (
    _family(
        "tione_service_warning_events",
        "Warning events DescribeEvents returned for a service that needs attention, in the last hour "
        "(each event once, its Count not summed).",
        "gauge",
        (),
        _count,
    ),
    _family(
        "tione_service_last_warning_event_timestamp_seconds",
        "When the latest of those Warning events last happened (LastTimestamp), in unix seconds.",
        "gauge",
        (),
        lambda s: timestamp(s.last_timestamp),
    ),
)


def _groups(snapshot: RegionSnapshot, _: RegionSnapshot) -> Iterable[tuple[str | None, tuple[ServiceEvents, ...]]]:
    by_group: dict[str, list[ServiceEvents]] = {}
    for item in EVENTS.of(snapshot):
        by_group.setdefault(item.service_group_id, []).append(item)
    return ((group_id, tuple(items)) for group_id, items in by_group.items())


def _services(_: RegionSnapshot, items: tuple[ServiceEvents, ...]) -> Iterable[tuple[str | None, ServiceEvents]]:
    return ((item.service_id, item) for item in items)


GROUP_KIND: Kind[RegionSnapshot, tuple[ServiceEvents, ...]] = Kind(
    "warning_events_group", GROUP_IDENTITY, (), _groups, order=60, optional=True
)
"""The groups of the services with events: no series of their own, only the identity's middle label."""
KIND: Kind[tuple[ServiceEvents, ...], ServiceEvents] = Kind(
    "warning_events", IDENTITY, FAMILIES, _services, order=70, parent=GROUP_KIND, optional=True
)
