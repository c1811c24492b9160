"""Cloud Monitor's identity and answers: what the exporter asks `QCE/TI_MODEL` and the records it reads back.

Cloud Monitor is another product than TI-ONE (its own host, version, signing service name and limits),
so its identity lives here rather than in `api.py`; the simulator imports it so that it answers exactly
what the exporter asks. The records follow the SDK `tencentcloud-sdk-python-monitor` (held to it by the
conformance test) and are lenient: every field optional, and an answer is read item by item, so that one
point or metric that does not fit costs itself only, never the rest of the answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from exporter.tione.records import Record

SERVICE = "monitor"
VERSION = "2018-07-24"
ENDPOINT = "https://monitor.tencentcloudapi.com"
NAMESPACE = "QCE/TI_MODEL"

GET_MONITOR_DATA = "GetMonitorData"
DESCRIBE_BASE_METRICS = "DescribeBaseMetrics"
ACTIONS: tuple[str, ...] = (GET_MONITOR_DATA, DESCRIBE_BASE_METRICS)

MAX_INSTANCES = 10
"""Instances one `GetMonitorData` request may name."""
MAX_POINTS = 1440
"""Data points one `GetMonitorData` request may return."""
PERIODS: tuple[int, ...] = (10, 60, 300, 3600, 86400)
"""The statistic periods `QCE/TI_MODEL` documents for its service-group metrics."""

GROUP_DIMENSION = "ServiceGroupId"
GROUP_DIMENSIONS: tuple[str, ...] = (GROUP_DIMENSION, "Source", "SubUin")
"""The documented dimensions of the service-group metrics."""

CALLS = "Apicalltotal"
SUCCESSES = "Apicallsuccesstotal"
ERRORS = "Apicallerrortotal"
THROTTLED = "Apicalllimittotal"
RESPONSE_TIME = "Apiresponsetime"
COUNT_METRICS: tuple[str, ...] = (CALLS, SUCCESSES, ERRORS, THROTTLED)
"""Counts per period (statistic `sum`)."""
GROUP_METRICS: tuple[str, ...] = (CALLS, ERRORS, THROTTLED, RESPONSE_TIME)
"""What the exporter asks for every running group (successes are calls less errors: not worth a request)."""


T = TypeVar("T")


class Dimension(Record, frozen=True):
    name: str | None = None
    value: str | None = None


class DataPoint(Record, frozen=True):
    dimensions: list[Dimension] | None = None
    timestamps: list[float] | None = None
    values: list[float] | None = None
    max_values: list[float] | None = None
    min_values: list[float] | None = None
    avg_values: list[float] | None = None


class MonitorData(Record, frozen=True):
    """The `Response` of `GetMonitorData`, with the points that fit (`data_points`)."""

    period: int | None = None
    metric_name: str | None = None
    data_points: list[DataPoint] | None = None
    start_time: str | None = None
    end_time: str | None = None
    msg: str | None = None
    request_id: str | None = None


class PeriodsSt(Record, frozen=True):
    period: str | None = None
    stat_type: list[str] | None = None


class MetricObjectMeaning(Record, frozen=True):
    en: str | None = None
    zh: str | None = None


class DimensionsDesc(Record, frozen=True):
    dimensions: list[str] | None = None


class MetricSet(Record, frozen=True):
    namespace: str | None = None
    metric_name: str | None = None
    unit: str | None = None
    unit_cname: str | None = None
    period: list[int] | None = None
    periods: list[PeriodsSt] | None = None
    meaning: MetricObjectMeaning | None = None
    dimensions: list[DimensionsDesc] | None = None
    metric_c_name: str | None = msgspec.field(default=None, name="MetricCName")
    metric_e_name: str | None = msgspec.field(default=None, name="MetricEName")


class BaseMetrics(Record, frozen=True):
    """The `Response` of `DescribeBaseMetrics`, with the metrics that fit (`metric_set`)."""

    metric_set: list[MetricSet] | None = None
    request_id: str | None = None


class MalformedAnswerError(ValueError):
    """An answer whose envelope does not fit at all (not an object, or a list that is not a list)."""


def _each(items: Any, kind: type[T]) -> list[T]:
    """The items of a JSON list that fit `kind`; the others are left out."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise MalformedAnswerError(f"a list of {kind.__name__} expected, got {type(items).__name__}")
    kept: list[T] = []
    for item in items:
        try:
            kept.append(msgspec.convert(item, kind, strict=False))
        except msgspec.ValidationError:
            continue
    return kept


def _envelope(answer: Any, kind: type[T], items: str) -> tuple[T, Any]:
    if not isinstance(answer, dict):
        raise MalformedAnswerError(f"the answer is a {type(answer).__name__}, not an object")
    rest = {key: value for key, value in answer.items() if key != items}
    try:
        return msgspec.convert(rest, kind, strict=False), answer.get(items)
    except msgspec.ValidationError as exc:
        raise MalformedAnswerError(f"the answer does not fit {kind.__name__}: {exc}") from None


def parse_monitor_data(answer: Any) -> MonitorData:
    """A `GetMonitorData` answer; raises `MalformedAnswerError` only when its envelope does not fit."""
    envelope, points = _envelope(answer, MonitorData, "DataPoints")
    return msgspec.structs.replace(envelope, data_points=_each(points, DataPoint))


def parse_base_metrics(answer: Any) -> BaseMetrics:
    """A `DescribeBaseMetrics` answer; raises `MalformedAnswerError` only when its envelope does not fit."""
    envelope, metrics = _envelope(answer, BaseMetrics, "MetricSet")
    return msgspec.structs.replace(envelope, metric_set=_each(metrics, MetricSet))


def dimensions_of(point: DataPoint) -> tuple[tuple[str, str], ...]:
    """A point's dimensions as sorted (name, value) pairs; ones without a name or value are left out."""
    pairs = {(item.name, item.value) for item in point.dimensions or () if item.name and item.value is not None}
    return tuple(sorted(pairs))


def series(point: DataPoint) -> list[tuple[float, float]]:
    """(timestamp, value) pairs of a point, in time order; a pair missing either half, or not finite, is
    left out (lists of different lengths are read as far as both go)."""
    pairs = zip(point.timestamps or (), point.values or (), strict=False)
    return sorted((t, v) for t, v in pairs if math.isfinite(t) and math.isfinite(v))


def instance(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """An `Instance` of a request: its dimensions by name and value."""
    return {"Dimensions": [{"Name": name, "Value": value} for name, value in pairs]}
