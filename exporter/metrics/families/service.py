"""Services: one series set per service of a group, labelled `service_id` after the group's identity.

Besides the families, the domain rules they share: what a service holds now (`replicas_allocated`,
`physical_gpus`), its conditions, its scheduled stop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from operator import attrgetter

from exporter.metrics.families import group
from exporter.metrics.families.family import Family, Kind, Sample, TagFamily
from exporter.metrics.families.fields import (
    CONDITION_STATES,
    NONE,
    condition_state,
    named_once,
    scalar,
    state_set,
    timestamp,
)
from exporter.metrics.families.service_resources import (
    IDENTITY,
    RESOURCE_FAMILIES,
    SCOPE,
    ServiceInGroup,
    info_of,
    workload_of,
)
from exporter.metrics.families.service_resources import family as _family
from exporter.metrics.labels import clean_value
from exporter.tione.attention import workload_conditions
from exporter.tione.records import (
    POD_PHASES,
    SERVICE_BUSINESS_STATUSES,
    SERVICE_STATUSES,
    WORKLOAD_STATUSES,
    HorizontalPodAutoscaler,
    NumOrPercent,
    Pod,
    RollingUpdate,
    ScheduledAction,
    Service,
    WorkloadStatus,
)
from exporter.tione.snapshot import RegionSnapshot

__all__ = ["FAMILIES", "IDENTITY", "KIND", "SCOPE", "SERVICE_INFO_LABELS", "ServiceInGroup"]


def scheduled_action(s: ServiceInGroup) -> ScheduledAction | None:
    """The service's own `ScheduledAction`, else the one inside `ServiceInfo`."""
    if s.service.scheduled_action is not None:
        return s.service.scheduled_action
    info = info_of(s)
    return info.scheduled_action if info is not None else None


def conditions(s: ServiceInGroup) -> list[tuple[str, str | None, datetime | None]]:
    """(type as a label value, status, last transition) of each workload condition.

    A type repeated (as a label value) keeps its first; one empty once cleaned is left out.
    """
    seen: set[str] = set()
    result: list[tuple[str, str | None, datetime | None]] = []
    for condition in workload_conditions(workload_of(s)):
        kind = clean_value(condition.type)
        if kind and kind not in seen:
            seen.add(kind)
            result.append((kind, condition.status, condition.last_transition_time))
    return result


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
        (image.image_url if image else None) or "",  # credentials removed by clean_value, as in any label
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


def _workload_count(read: Callable[[WorkloadStatus], int | None]) -> Callable[[ServiceInGroup], tuple[Sample, ...]]:
    """Samples of one count of the workload's status (`read` picks it), none without a status."""

    def samples(s: ServiceInGroup) -> tuple[Sample, ...]:
        workload = workload_of(s)
        return scalar(read(workload) if workload is not None else None)

    return samples


def pods(service: Service) -> list[Pod]:
    """`PodInfos`, else the legacy single `Pods` object; a pod without a name or seen twice is skipped.

    Names are compared as label values: one that is empty once cleaned counts as no name.
    """
    info = service.service_info
    if info is None:
        return []
    return named_once(info.pod_infos or ([info.pods] if info.pods is not None else []))


def _pods_by_phase(s: ServiceInGroup) -> list[Sample]:
    """Pods by phase, only the phases some pod is in (known phases first): one series per service, where
    per-pod phases cost one per pod and known phase. A pod without a phase is not counted."""
    counts: dict[str, int] = dict.fromkeys(POD_PHASES, 0)
    for pod in pods(s.service):
        phase = clean_value(pod.phase)
        if phase.strip():
            counts[phase] = counts.get(phase, 0) + 1
    return [((phase,), float(count)) for phase, count in counts.items() if count]


def _spec_replicas(s: ServiceInGroup) -> tuple[Sample, ...]:
    info = info_of(s)
    return scalar(info.replicas if info is not None else None)


def _workload_status(s: ServiceInGroup) -> tuple[Sample, ...]:
    workload = workload_of(s)
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


def rollout_budget(step: NumOrPercent | None, desired: int | None, *, round_up: bool) -> int | None:
    """Replicas a rolling update may take down (`MaxUnavailable`, rounded down) or add (`MaxSurge`, rounded
    up), as Kubernetes reads `Num` and `Percent` of the desired replicas; None when it cannot be known."""
    if step is None or step.value is None or step.value < 0:
        return None
    kind = (step.type or "").strip().lower()
    if kind == "num":
        return step.value
    if kind != "percent" or desired is None:
        return None
    return -(-step.value * desired // 100) if round_up else step.value * desired // 100


def _rollout(
    read: Callable[[RollingUpdate], NumOrPercent | None], *, round_up: bool
) -> Callable[[ServiceInGroup], tuple[Sample, ...]]:
    def samples(s: ServiceInGroup) -> tuple[Sample, ...]:
        info = info_of(s)
        rolling = info.rolling_update if info is not None else None
        if info is None or rolling is None:
            return NONE
        return scalar(rollout_budget(read(rolling), info.replicas, round_up=round_up))

    return samples


def _autoscaling(
    read: Callable[[HorizontalPodAutoscaler], int | None],
) -> Callable[[ServiceInGroup], tuple[Sample, ...]]:
    """Samples of one bound of the autoscaler (`read` picks it), none without an autoscaler."""

    def samples(s: ServiceInGroup) -> tuple[Sample, ...]:
        info = info_of(s)
        hpa = info.horizontal_pod_autoscaler if info is not None else None
        return scalar(read(hpa) if hpa is not None else None)

    return samples


def _scheduled_stop(s: ServiceInGroup) -> tuple[Sample, ...]:
    action = scheduled_action(s)
    if action is None or action.schedule_stop is not True:
        return NONE
    return timestamp(action.schedule_stop_time)


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

WORKLOAD_COUNTS: tuple[tuple[str, str], ...] = (
    ("replicas", "Current replicas of the workload"),
    ("ready_replicas", "Ready replicas of the workload"),
    ("available_replicas", "Available replicas of the workload"),
    ("unavailable_replicas", "Unavailable replicas of the workload"),
    ("updated_replicas", "Replicas running the latest revision"),
)
"""The replica counts of the workload's status: the field of `WorkloadStatus` and the start of its help. The
family is `tione_service_status_replicas_<first word>` (`tione_service_status_replicas` for `replicas`)."""


def _count_family(field: str, text: str) -> Family[ServiceInGroup]:
    first = field.removesuffix("replicas").rstrip("_")
    name = "tione_service_status_replicas" + (f"_{first}" if first else "")
    status_field = "".join(word.capitalize() for word in field.split("_"))
    return _family(name, f"{text} (Status.{status_field}).", "gauge", (), _workload_count(attrgetter(field)))


FAMILIES: tuple[Family[ServiceInGroup], ...] = (
    _family(
        "tione_service_info",
        "Static facts about a service: names, model, image, instance type, placement (value 1).",
        "gauge",
        SERVICE_INFO_LABELS,
        _service_info,
    ),
    _family(
        "tione_service_status",
        "Status of the service: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("status",),
        lambda s: state_set(s.service.status, SERVICE_STATUSES),
        states=SERVICE_STATUSES,
    ),
    _family(
        "tione_service_business_status",
        "Business (billing) status of the service: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("business_status",),
        lambda s: state_set(s.service.business_status, SERVICE_BUSINESS_STATUSES),
        states=SERVICE_BUSINESS_STATUSES,
    ),
    _family(
        "tione_service_workload_status",
        "Status of the service's workload: 1 for the current value, 0 for the other known values.",
        "gauge",
        ("status",),
        _workload_status,
        states=WORKLOAD_STATUSES,
        opt_in=True,
    ),
    _family(
        "tione_service_spec_replicas",
        "Desired replicas (ServiceInfo.Replicas).",
        "gauge",
        (),
        _spec_replicas,
    ),
    *(_count_family(field, text) for field, text in WORKLOAD_COUNTS),
    _family(
        "tione_service_pods",
        "Pods of the service by phase (PodInfos), for the phases some pod is in.",
        "gauge",
        ("phase",),
        _pods_by_phase,
    ),
    _family(
        "tione_service_status_condition",
        "Workload condition: 1 on its current status (true, false or unknown), 0 on the other two.",
        "gauge",
        ("condition", "status"),
        _condition_status,
        states=CONDITION_STATES,
    ),
    _family(
        "tione_service_status_condition_last_transition_timestamp_seconds",
        "When the workload condition last changed status, in unix seconds.",
        "gauge",
        ("condition",),
        _condition_transition,
        opt_in=True,
    ),
    *RESOURCE_FAMILIES,
    _family(
        "tione_service_weight",
        "Traffic weight of the service in its group (Service.Weight).",
        "gauge",
        (),
        lambda s: scalar(s.service.weight),
    ),
    _family(
        "tione_service_autoscaling_min_replicas",
        "Lower replica bound of the autoscaler (HorizontalPodAutoscaler.MinReplicas).",
        "gauge",
        (),
        _autoscaling(lambda hpa: hpa.min_replicas),
    ),
    _family(
        "tione_service_autoscaling_max_replicas",
        "Upper replica bound of the autoscaler (HorizontalPodAutoscaler.MaxReplicas).",
        "gauge",
        (),
        _autoscaling(lambda hpa: hpa.max_replicas),
    ),
    _family(
        "tione_service_rolling_update_max_unavailable_replicas",
        "Replicas a rolling update may take down at once (RollingUpdate.MaxUnavailable; a percentage of the "
        "desired replicas, rounded down).",
        "gauge",
        (),
        _rollout(lambda rolling: rolling.max_unavailable, round_up=False),
        opt_in=True,
    ),
    _family(
        "tione_service_rolling_update_max_surge_replicas",
        "Replicas a rolling update may add above the desired ones (RollingUpdate.MaxSurge; a percentage of the "
        "desired replicas, rounded up).",
        "gauge",
        (),
        _rollout(lambda rolling: rolling.max_surge, round_up=True),
        opt_in=True,
    ),
    _family(
        "tione_service_created_timestamp_seconds",
        "When the service was created, in unix seconds.",
        "gauge",
        (),
        lambda s: timestamp(s.service.create_time),
        opt_in=True,
    ),
    _family(
        "tione_service_updated_timestamp_seconds",
        "When the service was last updated, in unix seconds.",
        "gauge",
        (),
        lambda s: timestamp(s.service.update_time),
    ),
    _family(
        "tione_service_scheduled_stop_timestamp_seconds",
        "When the service is scheduled to stop, in unix seconds (only while a stop is scheduled).",
        "gauge",
        (),
        _scheduled_stop,
    ),
    TagFamily(
        "tione_service_tags",
        "Allow-listed tags of the service as tag_<key> labels (value 1).",
        lambda s: s.service.tags,
        SCOPE,
        IDENTITY,
    ),
)


def _services(_: RegionSnapshot, listed: group.ListedGroup) -> Iterable[tuple[str | None, ServiceInGroup]]:
    return ((service.service_id, ServiceInGroup(service, listed.group)) for service in listed.group.services or ())


def _status(s: ServiceInGroup) -> str:
    return s.service.status or "unknown"


KIND: Kind[group.ListedGroup, ServiceInGroup] = Kind(
    SCOPE, IDENTITY, FAMILIES, _services, order=40, parent=group.KIND, tally=_status
)
