"""Which services need attention, how badly, and since when: one rule for the events source and the page.

A service needs attention when it is not deliberately stopped and any of: its `Status` is a failure
state (`Abnormal`, `CREATE_FAILED`, `TIMEOUT_EXCEPTION`), its `BusinessStatus` is `ARREARS_STOP`, fewer
replicas are available than desired, or a workload condition is `False`. A service stopped by its owner
never does. The events source asks `DescribeEvents` only about these services, and the on-call page lists
exactly them, so both must read the rule from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from exporter.tione.monitor import GroupTraffic
from exporter.tione.records import Condition, Service, WorkloadStatus

FAILURE_STATUSES: frozenset[str] = frozenset({"Abnormal", "CREATE_FAILED", "TIMEOUT_EXCEPTION"})
STOPPED_STATUSES: frozenset[str] = frozenset({"Stopped", "Stopping"})
ARREARS_STOP = "ARREARS_STOP"

Severity = Literal["critical", "warning"]
SinceBasis = Literal["condition", "changed", "update", "creation", ""]
"""Where `Trouble.since` comes from: `condition`, a failing condition's `LastTransitionTime` (the moment
the trouble began); `changed`, the service's `UpdateTime` when its trouble is the state a change put it in
(stopped for arrears, creation failed, still creating or pending); `update`, the `UpdateTime` of a service
that went wrong by itself (a crash loop): only an upper bound, which its Warning events can narrow;
`creation`, its `CreateTime`; empty when the API gives no time."""
CHANGED_INTO: frozenset[str] = frozenset({"CREATE_FAILED", "TIMEOUT_EXCEPTION", "CREATING", "Pending"})
"""States a service enters by a change (its creation, a start), so its `UpdateTime` says when."""
ERROR_RATIO = 0.05
"""A service group failing more than this share of its calls needs attention (TIONEServiceGroupErrorRatioHigh)..."""
MIN_REQUESTS_PER_SECOND = 0.1
"""...when it has at least this many calls a second (6 a minute): one failed call of a quiet group is no news."""
THROTTLED_PER_SECOND = 0.1
"""A group refusing more calls a second than this with its rate limit needs attention (TIONEServiceGroupThrottled)."""
HIGH_ERROR_RATIO = "HighErrorRatio"
THROTTLED = "Throttled"
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")
"""Most severe first: `critical` serves nothing (no replica available, creation failed, stopped for
arrears); `warning` still serves, short of replicas or with a failing condition."""


@dataclass(frozen=True, slots=True)
class Trouble:
    """Why a service needs attention: severity, the failing condition's (or state's) reason and message,
    and since when it has been so (the earliest known moment, None when the API gives none)."""

    severity: Severity
    reason: str
    message: str
    since: datetime | None
    basis: SinceBasis = ""


def _desired_available(service: Service) -> tuple[int | None, int | None]:
    info = service.service_info
    if info is None:
        return None, None
    workload = info.status
    available = workload.available_replicas if workload is not None else None
    if workload is not None and available is None and workload.ready_replicas is not None:
        available = workload.ready_replicas
    return info.replicas, available


def replicas(service: Service) -> tuple[int | None, int | None]:
    """(desired, available) replicas as far as the API says (`ServiceInfo.Replicas`, `AvailableReplicas`)."""
    return _desired_available(service)


def workload_conditions(workload: WorkloadStatus | None) -> Sequence[Condition]:
    """A workload's conditions: `Conditions`, else `StatefulSetCondition` (what a StatefulSet reports
    instead); the families of conditions read them here too."""
    if workload is None:
        return ()
    return workload.conditions or workload.stateful_set_condition or ()


def _failing_conditions(service: Service) -> list[Condition]:
    info = service.service_info
    listed = workload_conditions(info.status if info is not None else None)
    return [condition for condition in listed if (condition.status or "").lower() == "false"]


def deliberately_stopped(service: Service) -> bool:
    return service.status in STOPPED_STATUSES and service.business_status != ARREARS_STOP


def trouble(service: Service) -> Trouble | None:
    """What is wrong with `service`, or None when nothing needs attention."""
    if deliberately_stopped(service):
        return None
    desired, available = _desired_available(service)
    short = desired is not None and available is not None and available < desired
    failing = _failing_conditions(service)
    arrears = service.business_status == ARREARS_STOP
    failed = service.status in FAILURE_STATUSES
    if not (arrears or failed or short or failing):
        return None
    serves_nothing = arrears or service.status in ("CREATE_FAILED", "TIMEOUT_EXCEPTION")
    serves_nothing = serves_nothing or (desired is not None and desired > 0 and not available)
    severity: Severity = "critical" if serves_nothing else "warning"
    info = service.service_info
    workload = info.status if info is not None else None
    if arrears:
        reason, message = ARREARS_STOP, "stopped because the account is in arrears"
    elif service.status == "CREATE_FAILED" and service.create_failed_reason:
        reason, message = "CREATE_FAILED", service.create_failed_reason
    elif failing:
        reason = failing[0].reason or failing[0].type or "ConditionFalse"
        message = failing[0].message or ""
    elif workload is not None and workload.reason:
        reason, message = workload.reason, ""
    else:
        reason = service.status or "unknown"
        message = f"{available if available is not None else '?'} of {desired} replicas available" if short else ""
    times = [condition.last_transition_time for condition in failing if condition.last_transition_time is not None]
    if times:
        return Trouble(severity, reason, message, min(times), "condition")
    if service.update_time is not None:
        changed = arrears or service.status in CHANGED_INTO
        return Trouble(severity, reason, message, service.update_time, "changed" if changed else "update")
    if service.create_time is not None:
        return Trouble(severity, reason, message, service.create_time, "creation")
    return Trouble(severity, reason, message, None)


def traffic_trouble(traffic: GroupTraffic) -> Trouble | None:
    """Why a service group needs attention from what its callers experience (Cloud Monitor), whatever its
    replicas say: more than `ERROR_RATIO` of enough calls failing, or callers throttled. The same thresholds
    as the traffic alerts; since when is not known (the figures describe one period)."""
    calls = traffic.requests_per_second or 0.0
    ratio = traffic.error_ratio
    if ratio is not None and ratio > ERROR_RATIO and calls >= MIN_REQUESTS_PER_SECOND:
        message = f"{ratio:.0%} of {calls:.3g} calls a second failed (Cloud Monitor, latest period)"
        return Trouble("warning", HIGH_ERROR_RATIO, message, None)
    throttled = traffic.throttled_per_second
    if throttled is not None and throttled > THROTTLED_PER_SECOND:
        message = f"{throttled:.3g} calls a second refused by the service's rate limit (Cloud Monitor, latest period)"
        return Trouble("warning", THROTTLED, message, None)
    return None
