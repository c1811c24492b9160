"""Cloud Monitor for the simulated fleet: `DescribeBaseMetrics` and `GetMonitorData` of `QCE/TI_MODEL`.

Traffic follows the fleet: a group without a service serving replicas has no points at all (an empty
list, as Cloud Monitor answers for an instance without data), a crash-looping service fails a share of
its calls, a healthy one almost none. A test plants exact figures (`Traffic`) for a group. The real
limits hold: ten instances a request, 1,440 points, data only up to `LAG` seconds before now (a window
ending later comes back empty), and one unknown group refuses the whole request. Only the metrics the
documentation names are served, unless `extra_metric` adds `TEST_METRIC`, which no real API has.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exporter.simulator import params
from exporter.simulator.fleet import RegionFleet
from exporter.simulator.params import ParameterError
from exporter.simulator.workload import JSON
from exporter.tione import monitor_api as api

LAG = 60.0
"""Seconds a period's point takes to arrive after the period ends."""
DEFAULT_PERIOD = 300
TEST_METRIC = "SimulatedTestGpuUtil"
"""The test-only per-service metric (`SimulatorConfig.monitor_test_metric`): a name no real namespace has."""
SERVICE_DIMENSION = "ServiceId"
UNKNOWN_INSTANCE = "FailedOperation"

_GROUP_COMBINATIONS = [{"Dimensions": [api.GROUP_DIMENSION]}, {"Dimensions": list(api.GROUP_DIMENSIONS)}]
_UNITS = {api.RESPONSE_TIME: "ms"}
_MEANINGS = {
    api.CALLS: ("Calls to the service group", "调用总数"),
    api.SUCCESSES: ("Successful calls", "调用成功数"),
    api.ERRORS: ("Failed calls", "调用失败数"),
    api.THROTTLED: ("Calls refused by the rate limit", "调用限流数"),
    api.RESPONSE_TIME: ("Average response time", "平均响应时间"),
    TEST_METRIC: ("Simulated GPU utilisation of a service (test only)", "模拟 GPU 利用率"),
}
_DATA_KEYS = frozenset({"Namespace", "MetricName", "Instances", "Period", "StartTime", "EndTime", "SpecifyStatistics"})
_CRASH_ERROR_SHARE = 0.3
_HEALTHY_ERROR_SHARE = 0.002


@dataclass(frozen=True, slots=True)
class Traffic:
    """A group's planted traffic, per second; the points are these times the period (600 calls a minute for
    10 per second), exactly, in every period."""

    calls_per_second: float
    errors_per_second: float = 0.0
    throttled_per_second: float = 0.0
    response_ms: float = 100.0

    def value(self, metric: str, period: int) -> float:
        return {
            api.CALLS: self.calls_per_second * period,
            api.SUCCESSES: (self.calls_per_second - self.errors_per_second - self.throttled_per_second) * period,
            api.ERRORS: self.errors_per_second * period,
            api.THROTTLED: self.throttled_per_second * period,
            api.RESPONSE_TIME: self.response_ms,
        }[metric]


@dataclass(frozen=True, slots=True)
class _Asked:
    metric: str
    period: int
    start: float
    end: float
    now: float


@dataclass(slots=True)
class MonitorState:
    """What Cloud Monitor holds beyond the fleet: the planted traffic and whether the test metric is served."""

    seed: int
    test_metric: bool = False
    planted: dict[tuple[str, str], Traffic] = field(default_factory=dict)
    """(region, group id) -> planted traffic."""

    def metrics(self) -> tuple[str, ...]:
        served = (api.CALLS, api.SUCCESSES, api.ERRORS, api.THROTTLED, api.RESPONSE_TIME)
        return (*served, TEST_METRIC) if self.test_metric else served

    def describe(self, action: str, body: Mapping[str, Any], fleet: RegionFleet, now: float) -> JSON:
        if action == api.DESCRIBE_BASE_METRICS:
            return self._base_metrics(body)
        return self._monitor_data(body, fleet, now)

    # -- DescribeBaseMetrics ----------------------------------------------------------------------

    def _base_metrics(self, body: Mapping[str, Any]) -> JSON:
        params.check_keys(body, frozenset({"Namespace", "MetricName", "Dimensions"}))
        namespace = params.string(body.get("Namespace"), "Namespace") if "Namespace" in body else ""
        if not namespace:
            raise ParameterError("MissingParameter", "The request is missing a required parameter `Namespace`.")
        wanted = params.string(body.get("MetricName", ""), "MetricName")
        dimensions = set(params.strings(body.get("Dimensions", []), "Dimensions"))
        found = []
        for metric in self.metrics() if namespace == api.NAMESPACE else ():
            entry = _metric_set(metric)
            combos = [set(item["Dimensions"]) for item in entry["Dimensions"]]
            if (not wanted or wanted == metric) and (not dimensions or any(dimensions <= c for c in combos)):
                found.append(entry)
        return {"MetricSet": found}

    # -- GetMonitorData ---------------------------------------------------------------------------

    def _monitor_data(self, body: Mapping[str, Any], fleet: RegionFleet, now: float) -> JSON:
        params.check_keys(body, _DATA_KEYS)
        namespace = params.string(body.get("Namespace", ""), "Namespace")
        if namespace != api.NAMESPACE:
            raise ParameterError("InvalidParameterValue", f"The namespace {namespace!r} is not supported.")
        metric = params.string(body.get("MetricName", ""), "MetricName")
        if metric not in self.metrics():
            raise ParameterError("InvalidParameterValue", f"The metric {metric!r} does not exist in {namespace}.")
        instances = _instances(body)
        period = params.integer(body, "Period", DEFAULT_PERIOD, 1, None)
        if period not in api.PERIODS:
            raise ParameterError("InvalidParameterValue", f"The period {period} is not supported by {metric}.")
        end = _time(body, "EndTime", now)
        start = _time(body, "StartTime", end - 3600)
        if start > end:
            raise ParameterError("InvalidParameterValue", "StartTime must not be later than EndTime.")
        if (end - start) / period + 1 > api.MAX_POINTS:
            raise ParameterError(
                "InvalidParameterValue", f"The request would return more than {api.MAX_POINTS} points."
            )
        for dimensions in instances:
            group_id = dimensions.get(api.GROUP_DIMENSION, "")
            if group_id and group_id not in fleet.groups:
                raise ParameterError(UNKNOWN_INSTANCE, "Unauthorized operation or the instance has been destroyed.")
        statistics = params.integer(body, "SpecifyStatistics", 0, 0, 7)
        asked = _Asked(metric, period, start, end, now)
        points = [self._point(fleet, asked, dimensions) for dimensions in instances]
        for point in points:
            for bit, name in ((1, "AvgValues"), (2, "MaxValues"), (4, "MinValues")):
                if statistics & bit:
                    point[name] = list(point["Values"])
        return {
            "Period": period,
            "MetricName": metric,
            "DataPoints": points,
            "StartTime": body.get("StartTime", ""),
            "EndTime": body.get("EndTime", ""),
            "Msg": "",
        }

    def _point(self, fleet: RegionFleet, asked: _Asked, dimensions: dict[str, str]) -> JSON:
        """One instance's points: none at all when the window ends less than `LAG` before now (the data have
        not arrived), else each period that started in the window and whose point has arrived."""
        wire = [{"Name": name, "Value": value} for name, value in dimensions.items()]
        timestamps: list[float] = []
        values: list[float] = []
        period, arrived = asked.period, asked.now - LAG
        if asked.end <= arrived:
            first = math.ceil(asked.start / period) * period
            for stamp in range(int(first), int(asked.end) + 1, period):
                if stamp + period > arrived:
                    break
                value = self.value(fleet, asked.metric, dimensions, period, stamp)
                if value is None:
                    break
                timestamps.append(float(stamp))
                values.append(value)
        return {"Dimensions": wire, "Timestamps": timestamps, "Values": values}

    def value(
        self, fleet: RegionFleet, metric: str, dimensions: Mapping[str, str], period: int, stamp: int
    ) -> float | None:
        """The point of `metric` for an instance in the period starting at `stamp`; None when it has no data
        (not a combination the metric lists, or nothing serving)."""
        group = fleet.groups.get(dimensions.get(api.GROUP_DIMENSION, ""))
        if group is None:
            return None
        if metric == TEST_METRIC:
            service = next((s for s in group["Services"] if s["ServiceId"] == dimensions.get(SERVICE_DIMENSION)), None)
            if set(dimensions) != {api.GROUP_DIMENSION, SERVICE_DIMENSION} or service is None or not _serving(service):
                return None
            return float(random.Random(f"{self.seed}/{service['ServiceId']}/{stamp}").randint(20, 95))
        if set(dimensions) not in ({api.GROUP_DIMENSION}, set(api.GROUP_DIMENSIONS)):
            return None
        traffic = self.planted.get((fleet.region, group["ServiceGroupId"])) or self._traffic(group, stamp)
        return None if traffic is None else traffic.value(metric, period)

    def _traffic(self, group: JSON, stamp: int) -> Traffic | None:
        """A group's drawn traffic in one period: from the replicas serving, errors from crash loops."""
        serving = [service for service in group["Services"] if _serving(service)]
        if not serving:
            return None
        base = random.Random(f"{self.seed}/{group['ServiceGroupId']}/traffic")
        per_replica, latency = base.uniform(0.5, 8.0), base.uniform(30.0, 250.0)
        jitter = random.Random(f"{self.seed}/{group['ServiceGroupId']}/{stamp}").uniform(0.9, 1.1)
        replicas = sum(service["ServiceInfo"]["Status"].get("ReadyReplicas") or 0 for service in serving)
        calls = round(per_replica * max(1, replicas) * jitter, 2)
        crashing = any(service["Status"] == "Abnormal" for service in serving)
        share = _CRASH_ERROR_SHARE if crashing else _HEALTHY_ERROR_SHARE
        return Traffic(calls, round(calls * share, 2), 0.0, round(latency * jitter, 1))


def _serving(service: JSON) -> bool:
    """Whether a service takes calls: running, with a replica ready (or crash-looping: it takes and fails them)."""
    status = service["Status"]
    ready = service["ServiceInfo"]["Status"].get("ReadyReplicas") or 0
    return status == "Abnormal" or (status == "Normal" and ready > 0)


def _metric_set(metric: str) -> JSON:
    stat = "avg" if metric in (api.RESPONSE_TIME, TEST_METRIC) else "sum"
    english, chinese = _MEANINGS[metric]
    combos = (
        [{"Dimensions": [api.GROUP_DIMENSION, SERVICE_DIMENSION]}] if metric == TEST_METRIC else _GROUP_COMBINATIONS
    )
    unit = "%" if metric == TEST_METRIC else _UNITS.get(metric, "count")
    return {
        "Namespace": api.NAMESPACE,
        "MetricName": metric,
        "Unit": unit,
        "UnitCname": unit,
        "Period": list(api.PERIODS),
        "Periods": [{"Period": str(period), "StatType": [stat]} for period in api.PERIODS],
        "Meaning": {"En": english, "Zh": chinese},
        "Dimensions": [dict(item) for item in combos],
        "MetricCName": chinese,
        "MetricEName": english,
    }


def _instances(body: Mapping[str, Any]) -> list[dict[str, str]]:
    items = body.get("Instances")
    if not isinstance(items, list) or not items:
        raise ParameterError("MissingParameter", "The request is missing a required parameter `Instances`.")
    if len(items) > api.MAX_INSTANCES:
        raise ParameterError(
            "InvalidParameterValue", f"At most {api.MAX_INSTANCES} instances may be queried at once, not {len(items)}."
        )
    found = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or set(item) - {"Dimensions"}:
            raise ParameterError("InvalidParameter", f"`Instances.{index}` is not an Instance.")
        dimensions = {}
        for position, dimension in enumerate(params.objects(item, "Dimensions", frozenset({"Name", "Value"}))):
            where = f"Instances.{index}.Dimensions.{position}"
            dimensions[params.string(dimension.get("Name"), f"{where}.Name")] = params.string(
                dimension.get("Value"), f"{where}.Value"
            )
        found.append(dimensions)
    return found


def _time(body: Mapping[str, Any], key: str, default: float) -> float:
    if key not in body:
        return default
    text = params.string(body[key], key)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ParameterError("InvalidParameterValue", f"`{key}` must be an ISO 8601 time with an offset, not {text!r}.")
    return parsed.timestamp()
