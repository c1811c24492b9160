"""Pods: one series set per pod of a service, labelled `pod_name` after the service's identity.

Left out as a whole unless the `pod_series` option is on: a large fleet has many pods, and their
containers more. Without them, `tione_service_pods` (a service family) still counts a service's pods
by phase.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from exporter.metrics.families import service as services
from exporter.metrics.families.family import POD_SCOPE, Declare, Family, Kind, Sample
from exporter.metrics.families.fields import named_once, state_set
from exporter.metrics.families.service import pods
from exporter.tione.records import POD_PHASES, Container, Pod, Service, ServiceGroup
from exporter.tione.snapshot import RegionSnapshot

SCOPE = POD_SCOPE
IDENTITY: tuple[str, ...] = (*services.IDENTITY, "pod_name")


class PodOfService(NamedTuple):
    """A pod of a service; its series carry the service's identity and `pod_name`."""

    pod: Pod
    service: Service
    group: ServiceGroup


_family: Declare[PodOfService] = Declare(SCOPE, IDENTITY)


def containers(pod: Pod) -> list[Container]:
    """`ContainerInfos`, else the legacy single `Containers` object; unnamed or repeated ones skipped.

    Names are compared as label values, like pod names.
    """
    return named_once(pod.container_infos or ([pod.containers] if pod.containers is not None else []))


def _pod_phase(p: PodOfService) -> tuple[Sample, ...]:
    return state_set(p.pod.phase, POD_PHASES)


def _container_restarts(p: PodOfService) -> list[Sample]:
    samples: list[Sample] = []
    for container in containers(p.pod):
        status = container.status
        if status is not None and status.restart_count is not None and status.restart_count >= 0:
            samples.append(((container.name or "",), float(status.restart_count)))
    return samples


def _container_ready(p: PodOfService) -> list[Sample]:
    samples: list[Sample] = []
    for container in containers(p.pod):
        status = container.status
        if status is not None and status.ready is not None:
            samples.append(((container.name or "",), 1.0 if status.ready else 0.0))
    return samples


FAMILIES: tuple[Family[PodOfService], ...] = (
    _family(
        "tione_service_pod_phase",
        "Phase of each pod of the service: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("phase",),
        _pod_phase,
        states=POD_PHASES,
    ),
    _family(
        "tione_service_pod_container_restarts_total",
        "Restarts of each container of each pod of the service (RestartCount).",
        "counter",
        ("container",),
        _container_restarts,
    ),
    _family(
        "tione_service_pod_container_ready",
        "Whether each container of each pod of the service is ready (1) or not (0).",
        "gauge",
        ("container",),
        _container_ready,
    ),
)


def _pods(_: RegionSnapshot, s: services.ServiceInGroup) -> Iterable[tuple[str | None, PodOfService]]:
    return ((pod.name, PodOfService(pod, s.service, s.group)) for pod in pods(s.service))


KIND: Kind[services.ServiceInGroup, PodOfService] = Kind(
    SCOPE, IDENTITY, FAMILIES, _pods, order=50, parent=services.KIND, unique_per_parent=True, optional=True
)
