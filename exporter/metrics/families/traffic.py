"""What callers experience, from Cloud Monitor (`QCE/TI_MODEL`): per service group, and the budget.

Values describe the latest complete period Cloud Monitor returned for the group: a group without a point
in the window has no series (never a fake 0), and `..._monitor_period_end_timestamp_seconds` says how old
the figures are. The budget's figures are one object per region, labelled with the namespace asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from exporter.metrics.families.family import Family, Kind, Sample, SampleFamily
from exporter.metrics.families.fields import NONE, scalar
from exporter.tione import monitor_api
from exporter.tione.monitor import Budget, GroupTraffic
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.traffic import TRAFFIC

SCOPE = "service_group"
IDENTITY: tuple[str, ...] = ("region", "service_group_id")
BUDGET_SCOPE = "monitor"
BUDGET_IDENTITY: tuple[str, ...] = ("region", "namespace")


def _group(
    name: str, help_text: str, samples: Callable[[GroupTraffic], Sequence[Sample]]
) -> SampleFamily[GroupTraffic]:
    return SampleFamily(name, help_text, "gauge", (), samples, SCOPE, IDENTITY)


def _budget(name: str, help_text: str, samples: Callable[[Budget], Sequence[Sample]]) -> SampleFamily[Budget]:
    return SampleFamily(name, help_text, "gauge", (), samples, BUDGET_SCOPE, BUDGET_IDENTITY)


FAMILIES: tuple[Family[GroupTraffic], ...] = (
    _group(
        "tione_service_group_requests_per_second",
        "Calls to the service group per second in the latest complete Cloud Monitor period (Apicalltotal / period).",
        lambda t: scalar(t.requests_per_second),
    ),
    _group(
        "tione_service_group_failed_requests_per_second",
        "Failed calls per second in that period (Apicallerrortotal / period).",
        lambda t: scalar(t.errors_per_second),
    ),
    _group(
        "tione_service_group_throttled_requests_per_second",
        "Calls refused by the service's rate limit per second in that period (Apicalllimittotal / period).",
        lambda t: scalar(t.throttled_per_second),
    ),
    _group(
        "tione_service_group_response_time_seconds",
        "Average response time of the calls in that period, in seconds (Apiresponsetime / 1000).",
        lambda t: scalar(t.response_time_seconds),
    ),
    _group(
        "tione_service_group_monitor_period_end_timestamp_seconds",
        "End of the Cloud Monitor period the values above describe, in unix seconds.",
        lambda t: scalar(t.period_end) if t.period_end else NONE,
    ),
)

BUDGET_FAMILIES: tuple[Family[Budget], ...] = (
    _budget(
        "tione_exporter_monitor_interval_seconds",
        "Effective seconds between two Cloud Monitor collections of the region (--monitor.interval, "
        "lengthened to respect --monitor.max-requests-per-month).",
        lambda b: scalar(b.interval),
    ),
    _budget(
        "tione_exporter_monitor_requests_per_month",
        "Projected GetMonitorData requests a 31-day month for the whole process: every region's current fleet "
        "at the effective interval.",
        lambda b: scalar(b.requests_per_month),
    ),
    _budget(
        "tione_exporter_monitor_budget_requests_per_month",
        "Cloud Monitor requests a month at most, for the whole process (--monitor.max-requests-per-month).",
        lambda b: scalar(b.budget),
    ),
)


def _groups(snapshot: RegionSnapshot, _: RegionSnapshot) -> Iterable[tuple[str | None, GroupTraffic]]:
    return TRAFFIC.of(snapshot).groups.items()


def _budgets(snapshot: RegionSnapshot, _: RegionSnapshot) -> Iterable[tuple[str | None, Budget]]:
    budget = TRAFFIC.of(snapshot).budget
    return () if budget is None else ((monitor_api.NAMESPACE, budget),)


KIND: Kind[RegionSnapshot, GroupTraffic] = Kind("traffic", IDENTITY, FAMILIES, _groups, order=130)
BUDGET_KIND: Kind[RegionSnapshot, Budget] = Kind(
    "monitor_budget", BUDGET_IDENTITY, BUDGET_FAMILIES, _budgets, order=140
)
KINDS: tuple[Kind[RegionSnapshot, GroupTraffic] | Kind[RegionSnapshot, Budget], ...] = (KIND, BUDGET_KIND)
"""Both, in exposition order."""
