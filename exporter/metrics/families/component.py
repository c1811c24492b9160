"""Gateway and scheduler components of a service group (`SmartRouter.ComponentList`).

A group with a smart router sends its traffic through these components: a gateway that is down takes
every service of the group with it, however healthy the services are. They are described like services
(status, replicas, what each replica holds), labelled `component` (its `Name`, `{ServiceGroupId}-gateway`)
after the group's identity.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.metrics.families import group
from exporter.metrics.families.family import Declare, Family, Kind, Sample
from exporter.metrics.families.fields import cpu_cores, memory_bytes, scalar, state_set
from exporter.tione.records import COMPONENT_BUSINESS_STATUSES, SERVICE_STATUSES, SmartRouterComponent
from exporter.tione.snapshot import RegionSnapshot

SCOPE = "component"
IDENTITY: tuple[str, ...] = (*group.IDENTITY, "component")


_family: Declare[SmartRouterComponent] = Declare(SCOPE, IDENTITY)


def _info(c: SmartRouterComponent) -> tuple[Sample, ...]:
    config, spec = c.resource_config, c.resource_spec
    return (
        (
            (
                c.type or "",
                config.instance_type or "" if config is not None else "",
                spec.charge_type or "" if spec is not None else "",
                spec.resource_group_id or "" if spec is not None else "",
            ),
            1.0,
        ),
    )


FAMILIES: tuple[Family[SmartRouterComponent], ...] = (
    _family(
        "tione_service_group_component_info",
        "A gateway or scheduler of the group's smart router: its type, instance type, charge type and resource "
        "group (value 1).",
        "gauge",
        ("type", "instance_type", "charge_type", "resource_group_id"),
        _info,
    ),
    _family(
        "tione_service_group_component_status",
        "Status of the component: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("status",),
        lambda c: state_set(c.status, SERVICE_STATUSES),
        states=SERVICE_STATUSES,
    ),
    _family(
        "tione_service_group_component_business_status",
        "Business (billing) status of the component: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("business_status",),
        lambda c: state_set(c.business_status, COMPONENT_BUSINESS_STATUSES),
        states=COMPONENT_BUSINESS_STATUSES,
    ),
    _family(
        "tione_service_group_component_replicas",
        "Replicas of the component (ResourceConfig.Replicas).",
        "gauge",
        (),
        lambda c: scalar(c.resource_config.replicas if c.resource_config is not None else None),
    ),
    _family(
        "tione_service_group_component_replica_cpu_cores",
        "CPU cores per replica of the component (ResourceConfig.Cpu / 1000).",
        "gauge",
        (),
        lambda c: cpu_cores(c.resource_config),
    ),
    _family(
        "tione_service_group_component_replica_memory_bytes",
        "Memory per replica of the component in bytes (ResourceConfig.Memory MiB * 1048576).",
        "gauge",
        (),
        lambda c: memory_bytes(c.resource_config),
    ),
)


def _components(_: RegionSnapshot, listed: group.ListedGroup) -> Iterable[tuple[str | None, SmartRouterComponent]]:
    router = listed.group.smart_router
    return ((component.name, component) for component in (router.component_list or () if router else ()))


KIND: Kind[group.ListedGroup, SmartRouterComponent] = Kind(
    SCOPE, IDENTITY, FAMILIES, _components, order=30, parent=group.KIND, unique_per_parent=True
)
