"""Service groups: one series set per `ServiceGroup` of the listing, labelled `service_group_id`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from exporter.metrics.families.family import Declare, Family, Kind, Sample, TagFamily
from exporter.metrics.families.fields import scalar, state_set, timestamp
from exporter.metrics.labels import REGION_LABEL
from exporter.tione.records import SERVICE_STATUSES, ServiceGroup
from exporter.tione.snapshot import RegionSnapshot

SCOPE = "group"
IDENTITY: tuple[str, ...] = (REGION_LABEL, "service_group_id")


class ListedGroup(NamedTuple):
    """A group with the workspace (`TiProjectId`) it was listed in, "" where that is not known."""

    group: ServiceGroup
    project_id: str


_declare: Declare[ListedGroup] = Declare(SCOPE, IDENTITY)


def _group_info(listed: ListedGroup) -> tuple[Sample, ...]:
    g = listed.group
    labels = (g.service_group_name or "", g.created_by or "", g.create_source or "", g.latest_version or "")
    return (((*labels, listed.project_id), 1.0),)


FAMILIES: tuple[Family[ListedGroup], ...] = (
    _declare(
        "tione_service_group_info",
        "Static facts about a service group and the workspace it was listed in (value 1).",
        "gauge",
        ("service_group_name", "created_by", "create_source", "latest_version", "tione_project_id"),
        _group_info,
    ),
    _declare(
        "tione_service_group_services",
        "Services (versions) in the group (ServiceCount).",
        "gauge",
        (),
        lambda listed: scalar(listed.group.service_count),
    ),
    _declare(
        "tione_service_group_running_services",
        "Running services in the group (RunningServiceCount).",
        "gauge",
        (),
        lambda listed: scalar(listed.group.running_service_count),
    ),
    _declare(
        "tione_service_group_replicas",
        "Pods running in the group (ReplicasCount).",
        "gauge",
        (),
        lambda listed: scalar(listed.group.replicas_count),
    ),
    _declare(
        "tione_service_group_status",
        "Status of the service group: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("status",),
        lambda listed: state_set(listed.group.status, SERVICE_STATUSES),
        states=SERVICE_STATUSES,
    ),
    _declare(
        "tione_service_group_created_timestamp_seconds",
        "When the service group was created, in unix seconds.",
        "gauge",
        (),
        lambda listed: timestamp(listed.group.create_time),
        opt_in=True,
    ),
    TagFamily(
        "tione_service_group_tags",
        "Allow-listed tags of the service group as tag_<key> labels (value 1).",
        lambda listed: listed.group.tags,
        SCOPE,
        IDENTITY,
    ),
)


def _groups(snapshot: RegionSnapshot, _: RegionSnapshot) -> Iterable[tuple[str | None, ListedGroup]]:
    workspaces = snapshot.group_workspaces
    return (
        (group.service_group_id, ListedGroup(group, workspaces.get(group.service_group_id or "", "")))
        for group in snapshot.groups
    )


KIND: Kind[RegionSnapshot, ListedGroup] = Kind(SCOPE, IDENTITY, FAMILIES, _groups, order=20)
