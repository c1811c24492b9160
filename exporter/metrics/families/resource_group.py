"""Dedicated resource groups: what each holds and uses, labelled `resource_group_id`.

Capacity and usage come in base units (cores, bytes, cards) so that headroom is a plain subtraction in
PromQL, and GPUs by card model (`gpu_type`), because a free T4 does not help a service that needs an
A100. A service names its group in `tione_service_info{resource_group_id}`, which is how rules and
dashboards join the two.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.metrics.families.family import Declare, Family, Kind, Sample, TagFamily
from exporter.metrics.families.fields import (
    GPU_HUNDREDTHS,
    cpu_cores,
    memory_bytes,
    scalar,
)
from exporter.metrics.labels import REGION_LABEL, clean_value
from exporter.tione.records import GroupResource, ResourceGroup
from exporter.tione.resource_groups import RESOURCE_GROUPS
from exporter.tione.snapshot import RegionSnapshot

SCOPE = "resource_group"
IDENTITY: tuple[str, ...] = (REGION_LABEL, "resource_group_id")

_family: Declare[ResourceGroup] = Declare(SCOPE, IDENTITY)


def gpus_by_type(resource: GroupResource | None) -> dict[str, int] | None:
    """Hundredths of cards by card model, or None when the answer says nothing about GPUs.

    A model listed twice (also when the two names are equal only as label values) is summed; an entry
    without a value is left out. An empty `GpuDetailSet`, or a `Gpu` of 0 without one, is a group with no
    cards: `{}`, not None.
    """
    if resource is None:
        return None
    if resource.gpu_detail_set is None:
        return {} if resource.gpu == 0 else None
    totals: dict[str, int] = {}
    for detail in resource.gpu_detail_set:
        if detail.value is not None:
            name = clean_value(detail.name)
            totals[name] = totals.get(name, 0) + detail.value
    return totals


def _capacity_gpus(g: ResourceGroup) -> list[Sample]:
    total = gpus_by_type(g.total_resource) or {}
    return [((card,), hundredths / GPU_HUNDREDTHS) for card, hundredths in total.items()]


def _used_gpus(g: ResourceGroup) -> list[Sample]:
    """Used cards by model; a model the group has but the answer does not list as used is 0 used, so that
    every card type with capacity has its usage (and headroom) whenever usage is known at all."""
    used = gpus_by_type(g.used_resource)
    if used is None:
        return []
    for card in gpus_by_type(g.total_resource) or {}:
        used.setdefault(card, 0)
    return [((card,), hundredths / GPU_HUNDREDTHS) for card, hundredths in used.items()]


FAMILIES: tuple[Family[ResourceGroup], ...] = (
    _family(
        "tione_resource_group_info",
        "A dedicated resource group and its name (value 1).",
        "gauge",
        ("resource_group_name",),
        lambda g: (((g.resource_group_name or "",), 1.0),),
    ),
    _family(
        "tione_resource_group_nodes",
        "Nodes in the resource group (TotalInstance).",
        "gauge",
        (),
        lambda g: scalar(g.total_instance),
    ),
    _family(
        "tione_resource_group_free_nodes",
        "Nodes of the resource group running and available (FreeInstance).",
        "gauge",
        (),
        lambda g: scalar(g.free_instance),
    ),
    _family(
        "tione_resource_group_capacity_cpu_cores",
        "CPU cores the resource group holds (TotalResource.Cpu / 1000).",
        "gauge",
        (),
        lambda g: cpu_cores(g.total_resource),
    ),
    _family(
        "tione_resource_group_used_cpu_cores",
        "CPU cores of the resource group in use (UsedResource.Cpu / 1000).",
        "gauge",
        (),
        lambda g: cpu_cores(g.used_resource),
    ),
    _family(
        "tione_resource_group_capacity_memory_bytes",
        "Memory the resource group holds, in bytes (TotalResource.Memory MB * 1048576).",
        "gauge",
        (),
        lambda g: memory_bytes(g.total_resource),
    ),
    _family(
        "tione_resource_group_used_memory_bytes",
        "Memory of the resource group in use, in bytes (UsedResource.Memory MB * 1048576).",
        "gauge",
        (),
        lambda g: memory_bytes(g.used_resource),
    ),
    _family(
        "tione_resource_group_capacity_gpus",
        "GPU cards the resource group holds by card model (TotalResource.GpuDetailSet Value / 100).",
        "gauge",
        ("gpu_type",),
        _capacity_gpus,
    ),
    _family(
        "tione_resource_group_used_gpus",
        "GPU cards of the resource group in use by card model (UsedResource.GpuDetailSet Value / 100).",
        "gauge",
        ("gpu_type",),
        _used_gpus,
    ),
    TagFamily(
        "tione_resource_group_tags",
        "Allow-listed tags of the resource group as tag_<key> labels (value 1).",
        lambda g: g.tag_set,
        SCOPE,
        IDENTITY,
    ),
)


def _groups(snapshot: RegionSnapshot, _: RegionSnapshot) -> Iterable[tuple[str | None, ResourceGroup]]:
    return ((group.resource_group_id, group) for group in RESOURCE_GROUPS.of(snapshot))


KIND: Kind[RegionSnapshot, ResourceGroup] = Kind(SCOPE, IDENTITY, FAMILIES, _groups, order=80)
