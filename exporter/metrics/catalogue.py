"""Every metric family the exporter exposes, declared as data.

A snapshot family is a name, a help text, a type, its extra labels (after the identity labels of its
scope) and a pure function from one API object to samples. Adding a metric means adding one entry
here and one row to `docs/metrics.md`; rendering, docs and tests iterate over these tuples.

Conventions (see the design): a null field gives no series, never a fake 0; enumerations are state
sets with one series per known value plus the current one if it is unknown; names, images and models
live only on `_info` series; units are converted to base units here and nowhere else.

Names and states are compared as they will be rendered (`clean_value`): two raw values that differ only
in characters a label value cannot hold, or beyond its length cap, are one label value, so they must be
one name or one state here too, or a family would show the same label set twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, NamedTuple, TypeVar

from exporter.metrics.labels import clean_value
from exporter.tione.models import (
    POD_PHASES,
    SERVICE_BUSINESS_STATUSES,
    SERVICE_STATUSES,
    WORKLOAD_STATUSES,
    Container,
    Pod,
    ResourceInfo,
    ScheduledAction,
    Service,
    ServiceGroup,
    ServiceInfo,
    Tag,
    WorkloadStatus,
    as_utc,
)

MetricType = Literal["gauge", "counter", "histogram"]
Scope = Literal["group", "service", "pod", "exporter"]

Sample = tuple[tuple[str, ...], float]
"""(values of the family's extra labels, in order; value)."""

MILLICORES_PER_CORE = 1000
BYTES_PER_MIB = 1048576
GPU_HUNDREDTHS = 100
DIST = "DIST"

CONDITION_STATES: tuple[str, ...] = ("true", "false", "unknown")

SCOPE_LABELS: dict[Scope, tuple[str, ...]] = {
    "group": ("region", "service_group_id"),
    "service": ("region", "service_group_id", "service_id"),
    "pod": ("region", "service_group_id", "service_id", "pod_name"),
    "exporter": (),
}

T = TypeVar("T")
_Named = TypeVar("_Named", Pod, Container)


class ServiceInGroup(NamedTuple):
    """A service seen with the group that lists it (names and ids fall back to the group's)."""

    service: Service
    group: ServiceGroup


class PodOfService(NamedTuple):
    """A pod of a service; its series carry the service's identity and `pod_name`."""

    pod: Pod
    service: Service
    group: ServiceGroup


@dataclass(frozen=True)
class Family(Generic[T]):
    """One metric family.

    `samples` maps one object to its samples; tag families instead name the object's tags in `tags`
    and the renderer turns the allow-listed ones into `tag_<key>` labels (`labels` then documents
    the pattern). Exporter families (scope `exporter`) have neither: `SelfMetrics` keeps them live.
    """

    name: str
    help: str
    type: MetricType
    labels: tuple[str, ...]
    samples: Callable[[T], Sequence[Sample]] | None = None
    scope: Scope = "service"
    tags: Callable[[T], Sequence[Tag] | None] | None = None
    states: tuple[str, ...] = ()
    """Known values of a state set (documentation and tests; the sample function emits them)."""

    @property
    def identity_labels(self) -> tuple[str, ...]:
        return SCOPE_LABELS[self.scope]

    @property
    def pods(self) -> bool:
        """Per-pod series, left out when the `pod_series` option is off."""
        return self.scope == "pod"

    @property
    def openmetrics_name(self) -> str:
        """OpenMetrics names a counter family without the `_total` its samples carry."""
        if self.type == "counter" and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        return self.name


# --- sample helpers -------------------------------------------------------------------------------

_NONE: tuple[Sample, ...] = ()
_stateset_cache: dict[tuple[tuple[str, ...], str], tuple[Sample, ...]] = {}
"""Every object in the same state gets the same samples: built once per known state, then shared."""


def scalar(value: float | None) -> tuple[Sample, ...]:
    """One unlabelled sample, or none for a null field."""
    if value is None:
        return _NONE
    return (((), float(value)),)


def timestamp(value: datetime | None) -> tuple[Sample, ...]:
    """Unix seconds of an API time; a naive time is UTC."""
    moment = as_utc(value)
    if moment is None:
        return _NONE
    return (((), moment.timestamp()),)


def state_set(current: str | None, known: tuple[str, ...], *prefix: str) -> tuple[Sample, ...]:
    """1 for `current`, 0 for every other known value; an unknown `current` is added, never dropped.

    `current` is compared as rendered (`clean_value`): `Normal` followed by a NUL byte is the known
    `Normal`. Null or blank (once cleaned) means the API has no value: no series at all. `prefix` are
    label values that come before the state label, for a family with more labels than the state.
    """
    current = clean_value(current)
    if not current.strip():
        return _NONE
    if not prefix:
        cached = _stateset_cache.get((known, current))
        if cached is not None:
            return cached
    samples = [((*prefix, value), 1.0 if value == current else 0.0) for value in known]
    if current not in known:
        samples.append(((*prefix, current), 1.0))
    result = tuple(samples)
    if not prefix and current in known:
        _stateset_cache[(known, current)] = result
    return result


def condition_state(status: str | None) -> str | None:
    """Kubernetes condition status as a label value; an odd value is `unknown`, null is no value."""
    status = clean_value(status)
    if not status.strip():
        return None
    lowered = status.strip().lower()
    return lowered if lowered in CONDITION_STATES else "unknown"


# --- field access ---------------------------------------------------------------------------------


def _info(s: ServiceInGroup) -> ServiceInfo | None:
    return s.service.service_info


def _workload(s: ServiceInGroup) -> WorkloadStatus | None:
    info = s.service.service_info
    return info.status if info is not None else None


def _resources(s: ServiceInGroup) -> ResourceInfo | None:
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
    workload = _workload(s)
    if workload is None or workload.replicas is None:
        return None
    if s.service.deploy_type != DIST:
        return workload.replicas
    per_replica = whole_number(s.service.instance_per_replicas)
    if per_replica is None:
        info = _info(s)
        per_replica = info.instance_per_replicas if info is not None else None
    if per_replica is None:
        return None
    return workload.replicas * per_replica


def scheduled_action(s: ServiceInGroup) -> ScheduledAction | None:
    """The service's own `ScheduledAction`, else the one inside `ServiceInfo`."""
    if s.service.scheduled_action is not None:
        return s.service.scheduled_action
    info = _info(s)
    return info.scheduled_action if info is not None else None


def pods(service: Service) -> list[Pod]:
    """`PodInfos`, else the legacy single `Pods` object; a pod without a name or seen twice is skipped.

    Names are compared as label values: one that is empty once cleaned counts as no name.
    """
    info = service.service_info
    if info is None:
        return []
    return _named_once(info.pod_infos or ([info.pods] if info.pods is not None else []))


def containers(pod: Pod) -> list[Container]:
    """`ContainerInfos`, else the legacy single `Containers` object; unnamed or repeated ones skipped.

    Names are compared as label values, like pod names.
    """
    return _named_once(pod.container_infos or ([pod.containers] if pod.containers is not None else []))


def _named_once(items: Sequence[_Named]) -> list[_Named]:
    """The items with a name that is not empty once cleaned, the first of each cleaned name."""
    seen: set[str] = set()
    unique: list[_Named] = []
    for item in items:
        name = clean_value(item.name)
        if name and name not in seen:
            seen.add(name)
            unique.append(item)
    return unique


def conditions(s: ServiceInGroup) -> list[tuple[str, str | None, datetime | None]]:
    """(type as a label value, status, last transition) of each workload condition.

    A type repeated (as a label value) keeps its first; one empty once cleaned is left out.
    """
    workload = _workload(s)
    if workload is None:
        return []
    listed = workload.conditions or workload.stateful_set_condition or []
    seen: set[str] = set()
    result: list[tuple[str, str | None, datetime | None]] = []
    for condition in listed:
        kind = clean_value(condition.type)
        if kind and kind not in seen:
            seen.add(kind)
            result.append((kind, condition.status, condition.last_transition_time))
    return result


_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[+._-][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}")
"""The `algorithm:hex` after an `@` that pins an image by digest (`sha256:...`)."""


def image_url(url: str | None) -> str | None:
    """An image reference without any `user:password@` before its registry, whatever its form.

    TI-ONE references are mostly scheme-less (`ccr.ccs.tencentyun.com/ns/img:1`), so credentials can
    stand at the very start (`robot:pw@reg.example.com:5000/ns/img`) as well as after a scheme. The
    only `@` that survives is a digest's (`img@sha256:...`), which follows the repository path.
    """
    if url is None:
        return None
    scheme, separator, rest = url.rpartition("://") if "://" in url else ("", "", url)
    head, slash, path = rest.partition("/")
    if slash:
        head = head.rpartition("@")[2]
    else:
        before, at, after = head.rpartition("@")
        if at and not _DIGEST.fullmatch(after):
            head = after
        elif at:
            head = f"{before.rpartition('@')[2]}@{after}"
    return f"{scheme}{separator}{head}{slash}{path}"


# --- service group families -----------------------------------------------------------------------


def _group_info(g: ServiceGroup) -> tuple[Sample, ...]:
    return (((g.service_group_name or "", g.created_by or "", g.create_source or "", g.latest_version or ""), 1.0),)


GROUP_FAMILIES: tuple[Family[ServiceGroup], ...] = (
    Family(
        "tione_service_group_info",
        "Static facts about a service group (value 1).",
        "gauge",
        ("service_group_name", "created_by", "create_source", "latest_version"),
        _group_info,
        scope="group",
    ),
    Family(
        "tione_service_group_services",
        "Services (versions) in the group (ServiceCount).",
        "gauge",
        (),
        lambda g: scalar(g.service_count),
        scope="group",
    ),
    Family(
        "tione_service_group_running_services",
        "Running services in the group (RunningServiceCount).",
        "gauge",
        (),
        lambda g: scalar(g.running_service_count),
        scope="group",
    ),
    Family(
        "tione_service_group_replicas",
        "Pods running in the group (ReplicasCount).",
        "gauge",
        (),
        lambda g: scalar(g.replicas_count),
        scope="group",
    ),
    Family(
        "tione_service_group_status",
        "Status of the service group: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("status",),
        lambda g: state_set(g.status, SERVICE_STATUSES),
        scope="group",
        states=SERVICE_STATUSES,
    ),
    Family(
        "tione_service_group_created_timestamp_seconds",
        "When the service group was created, in unix seconds.",
        "gauge",
        (),
        lambda g: timestamp(g.create_time),
        scope="group",
    ),
    Family(
        "tione_service_group_tags",
        "Allow-listed tags of the service group as tag_<key> labels (value 1).",
        "gauge",
        ("tag_<key>",),
        scope="group",
        tags=lambda g: g.tags,
    ),
)


# --- service families -----------------------------------------------------------------------------


def _service_info(s: ServiceInGroup) -> tuple[Sample, ...]:
    service = s.service
    info = service.service_info
    model = info.model_info if info is not None else None
    image = info.image_info if info is not None else None
    values = (
        service.service_group_name or s.group.service_group_name or "",
        service.version or "",
        (model.model_id if model else None) or "",
        (model.model_name if model else None) or "",
        (model.model_version if model else None) or "",
        (model.model_version_id if model else None) or "",
        (model.model_source if model else None) or "",
        (model.model_format if model else None) or "",
        (model.algorithm_framework if model else None) or "",
        (image.image_type if image else None) or "",
        image_url(image.image_url if image else None) or "",
        (info.instance_type if info else None) or "",
        service.charge_type or "",
        service.resource_group_id or "",
        service.resource_group_name or "",
        service.cluster_id or "",
        service.namespace or "",
        service.deploy_type or "",
        (info.scale_mode if info else None) or "",
        service.create_source or "",
    )
    return ((values, 1.0),)


def _workload_field(field: str) -> Callable[[ServiceInGroup], tuple[Sample, ...]]:
    def samples(s: ServiceInGroup) -> tuple[Sample, ...]:
        workload = _workload(s)
        value: int | None = getattr(workload, field) if workload is not None else None
        return scalar(value)

    return samples


def _spec_replicas(s: ServiceInGroup) -> tuple[Sample, ...]:
    info = _info(s)
    return scalar(info.replicas if info is not None else None)


def _workload_status(s: ServiceInGroup) -> tuple[Sample, ...]:
    workload = _workload(s)
    return state_set(workload.status if workload is not None else None, WORKLOAD_STATUSES)


def _condition_status(s: ServiceInGroup) -> list[Sample]:
    samples: list[Sample] = []
    for kind, status, _ in conditions(s):
        current = condition_state(status)
        if current is not None:
            samples.extend(((kind, state), 1.0 if state == current else 0.0) for state in CONDITION_STATES)
    return samples


def _condition_transition(s: ServiceInGroup) -> list[Sample]:
    samples: list[Sample] = []
    for kind, _, moment in conditions(s):
        for _, value in timestamp(moment):
            samples.append(((kind,), value))
    return samples


def _replica_cpu(s: ServiceInGroup) -> tuple[Sample, ...]:
    resources = _resources(s)
    if resources is None or resources.cpu is None:
        return _NONE
    return (((), resources.cpu / MILLICORES_PER_CORE),)


def _replica_memory(s: ServiceInGroup) -> tuple[Sample, ...]:
    resources = _resources(s)
    if resources is None or resources.memory is None:
        return _NONE
    return (((), float(resources.memory * BYTES_PER_MIB)),)


def _replica_gpus(s: ServiceInGroup) -> tuple[Sample, ...]:
    resources = _resources(s)
    if resources is None or resources.gpu is None or is_cpu_only(resources):
        return _NONE
    return (((resources.gpu_type or "",), resources.gpu / GPU_HUNDREDTHS),)


def _replica_physical_gpus(s: ServiceInGroup) -> list[Sample]:
    resources = _resources(s)
    if resources is None:
        return []
    return [((model,), hundredths / GPU_HUNDREDTHS) for model, hundredths in physical_gpus(resources)]


def _allocated_cpu(s: ServiceInGroup) -> tuple[Sample, ...]:
    resources, replicas = _resources(s), replicas_allocated(s)
    if resources is None or resources.cpu is None or replicas is None:
        return _NONE
    return (((), resources.cpu * replicas / MILLICORES_PER_CORE),)


def _allocated_memory(s: ServiceInGroup) -> tuple[Sample, ...]:
    resources, replicas = _resources(s), replicas_allocated(s)
    if resources is None or resources.memory is None or replicas is None:
        return _NONE
    return (((), float(resources.memory * BYTES_PER_MIB * replicas)),)


def _allocated_physical_gpus(s: ServiceInGroup) -> list[Sample]:
    resources, replicas = _resources(s), replicas_allocated(s)
    if resources is None or replicas is None:
        return []
    return [((model,), hundredths * replicas / GPU_HUNDREDTHS) for model, hundredths in physical_gpus(resources)]


def _autoscaling(field: str) -> Callable[[ServiceInGroup], tuple[Sample, ...]]:
    def samples(s: ServiceInGroup) -> tuple[Sample, ...]:
        info = _info(s)
        hpa = info.horizontal_pod_autoscaler if info is not None else None
        value: int | None = getattr(hpa, field) if hpa is not None else None
        return scalar(value)

    return samples


def _scheduled_stop(s: ServiceInGroup) -> tuple[Sample, ...]:
    action = scheduled_action(s)
    if action is None or action.schedule_stop is not True:
        return _NONE
    return timestamp(action.schedule_stop_time)


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


SERVICE_INFO_LABELS: tuple[str, ...] = (
    "service_group_name",
    "version",
    "model_id",
    "model_name",
    "model_version",
    "model_version_id",
    "model_source",
    "model_format",
    "algorithm_framework",
    "image_type",
    "image_url",
    "instance_type",
    "charge_type",
    "resource_group_id",
    "resource_group_name",
    "cluster_id",
    "tione_namespace",
    "deploy_type",
    "scale_mode",
    "create_source",
)

SERVICE_FAMILIES: tuple[Family[ServiceInGroup], ...] = (
    Family(
        "tione_service_info",
        "Static facts about a service: names, model, image, instance type, placement (value 1).",
        "gauge",
        SERVICE_INFO_LABELS,
        _service_info,
    ),
    Family(
        "tione_service_status",
        "Status of the service: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("status",),
        lambda s: state_set(s.service.status, SERVICE_STATUSES),
        states=SERVICE_STATUSES,
    ),
    Family(
        "tione_service_business_status",
        "Business (billing) status of the service: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("business_status",),
        lambda s: state_set(s.service.business_status, SERVICE_BUSINESS_STATUSES),
        states=SERVICE_BUSINESS_STATUSES,
    ),
    Family(
        "tione_service_workload_status",
        "Status of the service's workload: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("status",),
        _workload_status,
        states=WORKLOAD_STATUSES,
    ),
    Family(
        "tione_service_spec_replicas",
        "Desired replicas (ServiceInfo.Replicas).",
        "gauge",
        (),
        _spec_replicas,
    ),
    Family(
        "tione_service_status_replicas",
        "Current replicas of the workload (Status.Replicas).",
        "gauge",
        (),
        _workload_field("replicas"),
    ),
    Family(
        "tione_service_status_replicas_ready",
        "Ready replicas of the workload (Status.ReadyReplicas).",
        "gauge",
        (),
        _workload_field("ready_replicas"),
    ),
    Family(
        "tione_service_status_replicas_available",
        "Available replicas of the workload (Status.AvailableReplicas).",
        "gauge",
        (),
        _workload_field("available_replicas"),
    ),
    Family(
        "tione_service_status_replicas_unavailable",
        "Unavailable replicas of the workload (Status.UnavailableReplicas).",
        "gauge",
        (),
        _workload_field("unavailable_replicas"),
    ),
    Family(
        "tione_service_status_replicas_updated",
        "Replicas running the latest revision (Status.UpdatedReplicas).",
        "gauge",
        (),
        _workload_field("updated_replicas"),
    ),
    Family(
        "tione_service_status_condition",
        "Workload condition: 1 on its current status (true, false or unknown), 0 on the other two.",
        "gauge",
        ("condition", "status"),
        _condition_status,
        states=CONDITION_STATES,
    ),
    Family(
        "tione_service_status_condition_last_transition_timestamp_seconds",
        "When the workload condition last changed status, in unix seconds.",
        "gauge",
        ("condition",),
        _condition_transition,
    ),
    Family(
        "tione_service_replica_cpu_cores",
        "CPU cores per replica (Resources.Cpu / 1000).",
        "gauge",
        (),
        _replica_cpu,
    ),
    Family(
        "tione_service_replica_memory_bytes",
        "Memory per replica in bytes (Resources.Memory MiB * 1048576).",
        "gauge",
        (),
        _replica_memory,
    ),
    Family(
        "tione_service_replica_gpus",
        "GPU cards per replica as the instance sees them, possibly virtual (Resources.Gpu / 100).",
        "gauge",
        ("gpu_type",),
        _replica_gpus,
    ),
    Family(
        "tione_service_replica_physical_gpus",
        "Physical GPU cards per replica by card model (RealGpuDetailSet, else RealGpu, / 100).",
        "gauge",
        ("gpu_type",),
        _replica_physical_gpus,
    ),
    Family(
        "tione_service_allocated_cpu_cores",
        "CPU cores held by the service now: per replica * current replicas (* instances per replica for DIST).",
        "gauge",
        (),
        _allocated_cpu,
    ),
    Family(
        "tione_service_allocated_memory_bytes",
        "Memory held by the service now in bytes: per replica * current replicas (* instances per replica for DIST).",
        "gauge",
        (),
        _allocated_memory,
    ),
    Family(
        "tione_service_allocated_physical_gpus",
        "Physical GPU cards held by the service now by card model: per replica * current replicas (* instances "
        "per replica for DIST).",
        "gauge",
        ("gpu_type",),
        _allocated_physical_gpus,
    ),
    Family(
        "tione_service_weight",
        "Traffic weight of the service in its group (Service.Weight).",
        "gauge",
        (),
        lambda s: scalar(s.service.weight),
    ),
    Family(
        "tione_service_autoscaling_min_replicas",
        "Lower replica bound of the autoscaler (HorizontalPodAutoscaler.MinReplicas).",
        "gauge",
        (),
        _autoscaling("min_replicas"),
    ),
    Family(
        "tione_service_autoscaling_max_replicas",
        "Upper replica bound of the autoscaler (HorizontalPodAutoscaler.MaxReplicas).",
        "gauge",
        (),
        _autoscaling("max_replicas"),
    ),
    Family(
        "tione_service_created_timestamp_seconds",
        "When the service was created, in unix seconds.",
        "gauge",
        (),
        lambda s: timestamp(s.service.create_time),
    ),
    Family(
        "tione_service_updated_timestamp_seconds",
        "When the service was last updated, in unix seconds.",
        "gauge",
        (),
        lambda s: timestamp(s.service.update_time),
    ),
    Family(
        "tione_service_scheduled_stop_timestamp_seconds",
        "When the service is scheduled to stop, in unix seconds (only while a stop is scheduled).",
        "gauge",
        (),
        _scheduled_stop,
    ),
    Family(
        "tione_service_tags",
        "Allow-listed tags of the service as tag_<key> labels (value 1).",
        "gauge",
        ("tag_<key>",),
        tags=lambda s: s.service.tags,
    ),
)

POD_FAMILIES: tuple[Family[PodOfService], ...] = (
    Family(
        "tione_service_pod_phase",
        "Phase of each pod of the service: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("phase",),
        _pod_phase,
        scope="pod",
        states=POD_PHASES,
    ),
    Family(
        "tione_service_pod_container_restarts_total",
        "Restarts of each container of each pod of the service (RestartCount).",
        "counter",
        ("container",),
        _container_restarts,
        scope="pod",
    ),
    Family(
        "tione_service_pod_container_ready",
        "Whether each container of each pod of the service is ready (1) or not (0).",
        "gauge",
        ("container",),
        _container_ready,
        scope="pod",
    ),
)

SNAPSHOT_FAMILIES: tuple[Family[ServiceGroup] | Family[ServiceInGroup] | Family[PodOfService], ...] = (
    GROUP_FAMILIES + SERVICE_FAMILIES + POD_FAMILIES
)
"""Exposition order of the families built from the API's answer."""


# --- the exporter's own families (kept live by `SelfMetrics`) -------------------------------------


def _own(name: str, help_text: str, kind: MetricType, labels: tuple[str, ...] = ()) -> Family[None]:
    return Family(name, help_text, kind, labels, scope="exporter")


SELF_FAMILIES: tuple[Family[None], ...] = (
    _own("tione_up", "1 when the region's last poll succeeded, 0 when it failed.", "gauge", ("region",)),
    _own(
        "tione_exporter_build_info",
        "Version of the exporter and of Python running it (value 1).",
        "gauge",
        ("version", "python_version"),
    ),
    _own(
        "tione_exporter_last_poll_timestamp_seconds",
        "When the region's last poll finished, whatever its outcome, in unix seconds.",
        "gauge",
        ("region",),
    ),
    _own(
        "tione_exporter_last_poll_success_timestamp_seconds",
        "When the region's last successful poll finished, in unix seconds.",
        "gauge",
        ("region",),
    ),
    _own(
        "tione_exporter_poll_duration_seconds",
        "Duration of a region's poll, all pages and retries included.",
        "histogram",
        ("region",),
    ),
    _own("tione_exporter_polls_total", "Polls of the region, successful or not.", "counter", ("region",)),
    _own("tione_exporter_poll_errors_total", "Polls of the region that failed.", "counter", ("region",)),
    _own(
        "tione_exporter_api_requests_total",
        "Requests sent to the Tencent Cloud API, retries included.",
        "counter",
        ("region", "action"),
    ),
    _own(
        "tione_exporter_api_errors_total",
        "Failed API requests by error code (the API's code, or NetworkError, Timeout, HTTPError, MalformedResponse).",
        "counter",
        ("region", "action", "code"),
    ),
    _own("tione_exporter_api_retries_total", "API requests retried.", "counter", ("region", "action")),
    _own(
        "tione_exporter_api_request_duration_seconds",
        "Duration of one API request attempt, network included.",
        "histogram",
        ("action",),
    ),
    _own(
        "tione_exporter_api_throttle_wait_seconds_total",
        "Time spent waiting for the process-wide API rate limiter.",
        "counter",
    ),
    _own(
        "tione_exporter_service_groups",
        "Service groups of the region in the current snapshot.",
        "gauge",
        ("region",),
    ),
    _own("tione_exporter_services", "Services of the region in the current snapshot.", "gauge", ("region",)),
    _own(
        "tione_exporter_skipped_objects_total",
        "Objects of API answers that could not be read and were left out, by kind and reason.",
        "counter",
        ("region", "kind", "reason"),
    ),
)


def self_family(name: str) -> Family[None]:
    """The declaration of one of the exporter's own families."""
    for family in SELF_FAMILIES:
        if family.name == name:
            return family
    raise KeyError(name)
