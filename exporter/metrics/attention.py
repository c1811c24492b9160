"""The on-call view of a region: one row per service that needs attention, made once per poll.

The poller builds the rows from the same snapshot as the series (`attention_rows`), so the status page's
"Needs attention" table and `/api/v1/attention` only format data and never walk the fleet per request.
Which services are listed, how severe and since when is `tione.attention`'s rule, the one the events
source uses to choose whose events to ask. Every string of a row is cleaned here as a label value is
(`clean_value`: no control characters or lone surrogates, no credentials or the exporter's own secrets,
bounded), so the page and the JSON only escape and encode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from exporter.metrics.families import service as services
from exporter.metrics.families import service_resources
from exporter.metrics.families.family import counted
from exporter.metrics.families.fields import GPU_HUNDREDTHS
from exporter.metrics.labels import clean_value, target_key
from exporter.tione.attention import SEVERITIES, Severity, Trouble, replicas, traffic_trouble, trouble
from exporter.tione.event_models import ServiceEvents
from exporter.tione.events import EVENTS
from exporter.tione.models import as_utc
from exporter.tione.monitor import GroupTraffic
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.text import MAX_TEXT
from exporter.tione.traffic import TRAFFIC

MAX_EVENTS = 5
"""Latest Warning events a row carries; the count of all of them is in `events_total`."""


def _seconds(moment: datetime | None) -> float | None:
    moment = as_utc(moment)
    return moment.timestamp() if moment is not None else None


def _text(value: str | None) -> str:
    """A message: cleaned, and cut with an ellipsis beyond `MAX_TEXT` characters."""
    text = clean_value(value, MAX_TEXT + 1)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _name(value: str | None) -> str:
    """A name, id or state: cleaned as the same value is in a label."""
    return clean_value(value)


@dataclass(frozen=True, slots=True)
class AttentionEvent:
    """One Warning event as the page and the JSON show it."""

    message: str
    count: int | None
    first_timestamp: float | None
    last_timestamp: float | None
    resource_kind: str
    resource_name: str

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "count": self.count,
            "first_timestamp": self.first_timestamp,
            "last_timestamp": self.last_timestamp,
            "resource_kind": self.resource_kind,
            "resource_name": self.resource_name,
        }


@dataclass(frozen=True, slots=True)
class AttentionRow:
    """One service that needs attention; times are Unix seconds."""

    region: str
    service_group_id: str
    service_group_name: str
    service_id: str
    model_name: str
    model_version: str
    status: str
    business_status: str
    desired_replicas: int | None
    available_replicas: int | None
    severity: Severity
    reason: str
    message: str
    since: float | None
    gpus: float | None
    """Physical GPU cards the service holds now, None for a service without GPUs."""
    events: tuple[AttentionEvent, ...] = ()
    events_total: int | None = None
    """Warning events of the last hour; None when they were not asked (yet, or over the per-poll bound)."""
    events_asked: float | None = None
    """When the events were asked (Unix seconds), the end of their one-hour window; None when not asked."""
    since_basis: str = ""
    """What `since` is (`tione.attention.SinceBasis`, or `event`: the first of the Warning events asked);
    the page says it on hover."""
    requests_per_second: float | None = None
    """The group's calls a second in Cloud Monitor's latest period; None when unknown (so are the next three)."""
    error_ratio: float | None = None
    throttled_per_second: float | None = None
    response_time_seconds: float | None = None
    account: str = ""
    """The YAML `accounts` entry the service is in ("" without accounts: then absent from the JSON)."""

    @property
    def where(self) -> str:
        """The region, after its account when accounts are set (`prod/ap-guangzhou`): what the page shows."""
        return target_key(self.account, self.region)

    def to_json(self) -> dict[str, Any]:
        named = {"account": self.account} if self.account else {}
        return named | {
            "region": self.region,
            "service_group_id": self.service_group_id,
            "service_group_name": self.service_group_name,
            "service_id": self.service_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "status": self.status,
            "business_status": self.business_status,
            "desired_replicas": self.desired_replicas,
            "available_replicas": self.available_replicas,
            "severity": self.severity,
            "reason": self.reason,
            "message": self.message,
            "since": self.since,
            "since_basis": self.since_basis,
            "gpus": self.gpus,
            "events_total": self.events_total,
            "events_asked": self.events_asked,
            "events": [event.to_json() for event in self.events],
            "requests_per_second": self.requests_per_second,
            "error_ratio": self.error_ratio,
            "throttled_per_second": self.throttled_per_second,
            "response_time_seconds": self.response_time_seconds,
        }


def _event(item: Any) -> AttentionEvent:
    return AttentionEvent(
        message=_text(item.message),
        count=item.count,
        first_timestamp=_seconds(item.first_timestamp),
        last_timestamp=_seconds(item.last_timestamp),
        resource_kind=_name(item.resource_kind),
        resource_name=_name(item.resource_name),
    )


def _gpus(s: services.ServiceInGroup) -> float | None:
    """Physical cards the service holds now. When the answer lists its pods, only those placed on a node
    count (a pod the scheduler cannot place holds nothing, however many replicas are asked for); else
    the replicas the workload reports, as `tione_service_allocated_physical_gpus` counts them."""
    info = s.service.service_info
    resources = info.resources if info is not None else None
    if info is None or resources is None or service_resources.is_cpu_only(resources):
        return None
    hundredths = sum(value for _, value in service_resources.physical_gpus(resources))
    if info.pod_infos is not None:
        placed = sum(1 for pod in info.pod_infos if pod.node_ip)
        return hundredths * placed / GPU_HUNDREDTHS
    held = service_resources.replicas_allocated(s)
    return None if held is None else hundredths * held / GPU_HUNDREDTHS


def _since(problem: Trouble, firsts: Iterable[float | None]) -> tuple[float | None, str]:
    """Since when the service is in its current trouble, and what says so.

    A failing condition's transition time says it exactly, and a state a change put the service in
    began at its `UpdateTime`. A service that went wrong by itself without a failing condition (a crash
    loop with enough replicas still available keeps `Available` True) can have an `UpdateTime` months old
    while the trouble began minutes ago: the first of its recent Warning events is then the better answer."""
    since = _seconds(problem.since)
    if problem.basis != "update":
        return since, problem.basis
    earliest = min((first for first in firsts if first is not None), default=None)
    if earliest is not None:
        return earliest, "event"
    return since, problem.basis


def _with_traffic(row: AttentionRow, traffic: GroupTraffic | None) -> AttentionRow:
    """`row` with its group's traffic, when Cloud Monitor gave any."""
    if traffic is None:
        return row
    return replace(
        row,
        requests_per_second=traffic.requests_per_second,
        error_ratio=traffic.error_ratio,
        throttled_per_second=traffic.throttled_per_second,
        response_time_seconds=traffic.response_time_seconds,
    )


def attention_rows(snapshot: RegionSnapshot) -> tuple[AttentionRow, ...]:
    """The region's services that need attention, most severe first, then the longest troubled; and the
    service groups whose callers fail or are throttled (Cloud Monitor), as rows without a `service_id`."""
    asked: Mapping[str, ServiceEvents] = {item.service_id: item for item in EVENTS.of(snapshot)}
    traffic = TRAFFIC.of(snapshot).groups
    rows: list[AttentionRow] = []
    flagged: set[str] = set()
    for group in snapshot.groups:
        group_id = group.service_group_id or ""
        figures = traffic.get(group_id)
        problem = traffic_trouble(figures) if figures is not None else None
        if problem is not None and group_id not in flagged:
            flagged.add(group_id)
            rows.append(_group_row(snapshot.region, group, problem, figures))
    for service_id, counted_service in counted(services.KIND, snapshot):
        service, group = counted_service
        problem = trouble(service)
        if problem is not None:
            found = asked.get(service.service_id or "")
            row = _service_row(snapshot.region, service_id, counted_service, problem, found)
            rows.append(_with_traffic(row, traffic.get(group.service_group_id or "")))
    if snapshot.account:
        rows = [replace(row, account=snapshot.account) for row in rows]
    return tuple(ordered(rows))


def _service_row(
    region: str,
    service_id: str,
    counted_service: services.ServiceInGroup,
    problem: Trouble,
    found: ServiceEvents | None,
) -> AttentionRow:
    service, group = counted_service
    info = service.service_info
    model = info.model_info if info is not None else None
    desired, available = replicas(service)
    latest = sorted((found.events if found else ()), key=lambda e: _seconds(e.last_timestamp) or 0.0, reverse=True)
    since, basis = _since(problem, (_seconds(item.first_timestamp) for item in latest))
    return AttentionRow(
        region=_name(region),
        service_group_id=_name(service.service_group_id or group.service_group_id),
        service_group_name=_name(service.service_group_name or group.service_group_name),
        service_id=service_id,
        model_name=_name(model.model_name if model else None),
        model_version=_name(model.model_version if model else None),
        status=_name(service.status),
        business_status=_name(service.business_status),
        desired_replicas=desired,
        available_replicas=available,
        severity=problem.severity,
        reason=_text(problem.reason),
        message=_text(problem.message),
        since=since,
        gpus=_gpus(counted_service),
        events=tuple(_event(item) for item in latest[:MAX_EVENTS]),
        events_total=found.total if found else None,
        events_asked=found.asked if found else None,
        since_basis=basis,
    )


def _group_row(region: str, group: ServiceGroup, problem: Trouble, figures: GroupTraffic | None) -> AttentionRow:
    """A service group whose callers fail or are throttled: its replicas may all be available, so the row
    is the group's (no `service_id`), with the group's desired and available replicas summed."""
    counts = [replicas(service) for service in group.services or ()]
    desired = [d for d, _ in counts if d is not None]
    available = [a for _, a in counts if a is not None]
    row = AttentionRow(
        region=_name(region),
        service_group_id=_name(group.service_group_id),
        service_group_name=_name(group.service_group_name),
        service_id="",
        model_name="",
        model_version="",
        status=_name(group.status),
        business_status="",
        desired_replicas=sum(desired) if desired else None,
        available_replicas=sum(available) if available else None,
        severity=problem.severity,
        reason=_text(problem.reason),
        message=_text(problem.message),
        since=None,
        gpus=None,
    )
    return _with_traffic(row, figures)


def ordered(rows: Iterable[AttentionRow]) -> list[AttentionRow]:
    """Most severe first, then the longest troubled (an unknown start last), then by region and id."""

    def key(row: AttentionRow) -> tuple[int, float, str, str]:
        since = row.since if row.since is not None else float("inf")
        return (SEVERITIES.index(row.severity), since, row.region, row.service_id)

    return sorted(rows, key=key)
