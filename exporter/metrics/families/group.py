"""Service groups: one series set per `ServiceGroup` of the listing, labelled `service_group_id`."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.metrics.families.family import Declare, Family, Kind, Sample, TagFamily
from exporter.metrics.families.fields import scalar, state_set, timestamp
from exporter.metrics.labels import REGION_LABEL
from exporter.tione.models import SERVICE_STATUSES, ServiceGroup
from exporter.tione.snapshot import RegionSnapshot

SCOPE = "group"
IDENTITY: tuple[str, ...] = (REGION_LABEL, "service_group_id")


_family: Declare[ServiceGroup] = Declare(SCOPE, IDENTITY)


def _group_info(g: ServiceGroup) -> tuple[Sample, ...]:
    return (((g.service_group_name or "", g.created_by or "", g.create_source or "", g.latest_version or ""), 1.0),)


FAMILIES: tuple[Family[ServiceGroup], ...] = (
    _family(
        "tione_service_group_info",
        "Static facts about a service group (value 1).",
        "gauge",
        ("service_group_name", "created_by", "create_source", "latest_version"),
        _group_info,
    ),
    _family(
        "tione_service_group_services",
        "Services (versions) in the group (ServiceCount).",
        "gauge",
        (),
        lambda g: scalar(g.service_count),
    ),
    _family(
        "tione_service_group_running_services",
        "Running services in the group (RunningServiceCount).",
        "gauge",
        (),
        lambda g: scalar(g.running_service_count),
    ),
    _family(
        "tione_service_group_replicas",
        "Pods running in the group (ReplicasCount).",
        "gauge",
        (),
        lambda g: scalar(g.replicas_count),
    ),
    _family(
        "tione_service_group_status",
        "Status of the service group: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("status",),
        lambda g: state_set(g.status, SERVICE_STATUSES),
        states=SERVICE_STATUSES,
    ),
    _family(
        "tione_service_group_created_timestamp_seconds",
        "When the service group was created, in unix seconds.",
        "gauge",
        (),
        lambda g: timestamp(g.create_time),
    ),
    TagFamily(
        "tione_service_group_tags",
        "Allow-listed tags of the service group as tag_<key> labels (value 1).",
        lambda g: g.tags,
        SCOPE,
        IDENTITY,
    ),
)


def _groups(snapshot: RegionSnapshot, _: RegionSnapshot) -> Iterable[tuple[str | None, ServiceGroup]]:
    return ((group.service_group_id, group) for group in snapshot.groups)


KIND: Kind[RegionSnapshot, ServiceGroup] = Kind(SCOPE, IDENTITY, FAMILIES, _groups)
