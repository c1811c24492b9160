"""What a service holds: its resources per replica and, times the replicas allocated now, in total; also
the subject of every service family (`ServiceInGroup`) and its accessors.

The rules here (`replicas_allocated`, `physical_gpus`, `is_cpu_only`) are shared with the attention table
(`metrics/attention.py`), so that a service's GPUs there are the ones its series say.
"""

from __future__ import annotations

from typing import NamedTuple

from exporter.metrics.families import group
from exporter.metrics.families.family import Declare, Family, Sample
from exporter.metrics.families.fields import (
    BYTES_PER_MIB,
    GPU_HUNDREDTHS,
    MILLICORES_PER_CORE,
    NONE,
    cpu_cores,
    memory_bytes,
    scalar,
)
from exporter.metrics.labels import clean_value
from exporter.tione.records import ResourceInfo, Service, ServiceGroup, ServiceInfo, WorkloadStatus

SCOPE = "service"
IDENTITY: tuple[str, ...] = (*group.IDENTITY, "service_id")
DIST = "DIST"


class ServiceInGroup(NamedTuple):
    """A service seen with the group that lists it (names and ids fall back to the group's)."""

    service: Service
    group: ServiceGroup


family: Declare[ServiceInGroup] = Declare(SCOPE, IDENTITY)


def info_of(s: ServiceInGroup) -> ServiceInfo | None:
    return s.service.service_info


def workload_of(s: ServiceInGroup) -> WorkloadStatus | None:
    info = s.service.service_info
    return info.status if info is not None else None


def resources_of(s: ServiceInGroup) -> ResourceInfo | None:
    info = s.service.service_info
    return info.resources if info is not None else None


def is_cpu_only(resources: ResourceInfo) -> bool:
    """No GPU: `Gpu` null, or 0 without a card model."""
    return resources.gpu is None or (resources.gpu == 0 and not resources.gpu_type)


def physical_gpus(resources: ResourceInfo) -> list[tuple[str, int]]:
    """(card model, hundredths of physical cards) per replica.

    `RealGpuDetailSet` is authoritative when it has entries (a model listed twice is summed, also when
    the two names are equal only as label values); else `RealGpu` of `GpuType`. A CPU-only service has none.
    """
    if is_cpu_only(resources):
        return []
    totals: dict[str, int] = {}
    for detail in resources.real_gpu_detail_set or ():
        if detail.value is not None:
            name = clean_value(detail.name)
            totals[name] = totals.get(name, 0) + detail.value
    if totals:
        return list(totals.items())
    if resources.real_gpu is not None:
        return [(resources.gpu_type or "", resources.real_gpu)]
    return []


def whole_number(text: str | None) -> int | None:
    """A count the API sends as a string (`Service.InstancePerReplicas`); None when it is not one."""
    if text is None:
        return None
    try:
        number = int(text.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def replicas_allocated(s: ServiceInGroup) -> int | None:
    """Instances holding resources now: `Status.Replicas`, times `InstancePerReplicas` for `DIST`.

    A `DIST` deployment without `InstancePerReplicas` (on the service or its `ServiceInfo`) has no
    known multiplier, so no allocation series rather than a wrong one.
    """
    workload = workload_of(s)
    if workload is None or workload.replicas is None:
        return None
    if s.service.deploy_type != DIST:
        return workload.replicas
    per_replica = whole_number(s.service.instance_per_replicas)
    if per_replica is None:
        info = info_of(s)
        per_replica = info.instance_per_replicas if info is not None else None
    if per_replica is None:
        return None
    return workload.replicas * per_replica


def _replica_gpus(s: ServiceInGroup) -> tuple[Sample, ...]:
    resources = resources_of(s)
    if resources is None or resources.gpu is None or is_cpu_only(resources):
        return NONE
    return (((resources.gpu_type or "",), resources.gpu / GPU_HUNDREDTHS),)


def _replica_physical_gpus(s: ServiceInGroup) -> list[Sample]:
    resources = resources_of(s)
    if resources is None:
        return []
    return [((model,), hundredths / GPU_HUNDREDTHS) for model, hundredths in physical_gpus(resources)]


def _allocated_cpu(s: ServiceInGroup) -> tuple[Sample, ...]:
    resources, replicas = resources_of(s), replicas_allocated(s)
    if resources is None or resources.cpu is None or replicas is None:
        return NONE
    return (((), resources.cpu * replicas / MILLICORES_PER_CORE),)


def _allocated_memory(s: ServiceInGroup) -> tuple[Sample, ...]:
    resources, replicas = resources_of(s), replicas_allocated(s)
    if resources is None or resources.memory is None or replicas is None:
        return NONE
    return (((), float(resources.memory * BYTES_PER_MIB * replicas)),)


def _allocated_physical_gpus(s: ServiceInGroup) -> list[Sample]:
    resources, replicas = resources_of(s), replicas_allocated(s)
    if resources is None or replicas is None:
        return []
    return [((model,), hundredths * replicas / GPU_HUNDREDTHS) for model, hundredths in physical_gpus(resources)]


def _replica_rdma(s: ServiceInGroup) -> tuple[Sample, ...]:
    resources = resources_of(s)
    return scalar(resources.rdma if resources is not None else None)


RESOURCE_FAMILIES: tuple[Family[ServiceInGroup], ...] = (
    family(
        "tione_service_replica_cpu_cores",
        "CPU cores per replica (Resources.Cpu / 1000).",
        "gauge",
        (),
        lambda s: cpu_cores(resources_of(s)),
    ),
    family(
        "tione_service_replica_memory_bytes",
        "Memory per replica in bytes (Resources.Memory MiB * 1048576).",
        "gauge",
        (),
        lambda s: memory_bytes(resources_of(s)),
    ),
    family(
        "tione_service_replica_gpus",
        "GPU cards per replica as the instance sees them, possibly virtual (Resources.Gpu / 100).",
        "gauge",
        ("gpu_type",),
        _replica_gpus,
    ),
    family(
        "tione_service_replica_physical_gpus",
        "Physical GPU cards per replica by card model (RealGpuDetailSet, else RealGpu, / 100).",
        "gauge",
        ("gpu_type",),
        _replica_physical_gpus,
    ),
    family(
        "tione_service_replica_rdma",
        "RDMA devices per replica (Resources.Rdma).",
        "gauge",
        (),
        _replica_rdma,
    ),
    family(
        "tione_service_allocated_cpu_cores",
        "CPU cores held by the service now: per replica * current replicas (* instances per replica for DIST).",
        "gauge",
        (),
        _allocated_cpu,
    ),
    family(
        "tione_service_allocated_memory_bytes",
        "Memory held by the service now in bytes: per replica * current replicas (* instances per replica for DIST).",
        "gauge",
        (),
        _allocated_memory,
    ),
    family(
        "tione_service_allocated_physical_gpus",
        "Physical GPU cards held by the service now by card model: per replica * current replicas (* instances "
        "per replica for DIST).",
        "gauge",
        ("gpu_type",),
        _allocated_physical_gpus,
    ),
)
"""In `service.FAMILIES`' order, where they stand among its families."""
