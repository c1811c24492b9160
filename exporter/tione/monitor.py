"""What callers experience, from Cloud Monitor: which groups to ask, how often, and what the answers mean.

Every `GetMonitorData` request is billed against a monthly allowance shared with the whole account, so the
logic here is about asking as little as possible: only groups with a running service (a stopped group has
no traffic), ten instances a request, one request per metric per batch, and an interval that follows from
the monthly budget rather than the other way round. Data arrive late, so a window ends `delay` before now
and only a period that ended inside it is read. Faults cost only this source: a key without the
permission stops the collection after one refusal (no retry storm); a batch refused because one
instance is unknown (a group deleted since the listing) is asked again without it.

The functions take a `Call` (`call(action, region, params, deadline) -> Response object`) rather than a
client, so that they are tested without one; `bind(client)` makes one from a `TencentCloudClient` for
service `monitor`.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from exporter.tencentcloud.errors import TencentCloudError, TransportError, is_permission_error
from exporter.tione import monitor_api as api
from exporter.tione.records import ServiceGroup

SECONDS_PER_MONTH = 31 * 86400
"""The longest month: a budget respected over 31 days is respected in every month."""
MIN_DELAY = 60.0
"""The least `--monitor.delay`: data arrive a minute or more late, an earlier window comes back empty."""
WINDOW_PERIODS = 5
"""Periods a window covers: a point that arrived later than `delay` is still found on the next collection."""
ASKED_STATUSES: frozenset[str] = frozenset({"Normal", "Abnormal", "Waiting", "Pending", "Stopping"})
"""Service statuses that may carry traffic (or failing calls). Stopped, failed or still-creating services
have none, and a group with only such services is not asked at all."""
KNOWN_DIMENSIONS: tuple[str, ...] = (api.GROUP_DIMENSION, "ServiceId")
"""Dimensions the exporter can fill from the listing; a metric is asked through a combination of these only."""
UNKNOWN_INSTANCE_CODES: tuple[str, ...] = ("FailedOperation", "InvalidParameter", "ResourceNotFound")
"""Families of the error that refuses a whole batch for one unknown or deleted instance (also
`InvalidParameterValue` when its message names one instance of the batch). Any other error costs its batch."""

T = TypeVar("T")
Pairs = tuple[tuple[str, str], ...]
"""An instance: its dimensions as sorted (name, value) pairs."""


class Call(Protocol):
    def __call__(self, action: str, region: str, params: dict[str, Any], deadline: float) -> Awaitable[dict[str, Any]]:
        """One request; returns the `Response` object of a successful answer, raises `TencentCloudError`."""
        ...


class _Client(Protocol):
    async def call(self, action: str, region: str, params: dict[str, Any], *, deadline: float) -> dict[str, Any]: ...


def bind(client: _Client) -> Call:
    """A `Call` through `client` (a `TencentCloudClient(service="monitor", version=VERSION, ...)`)."""

    async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        return await client.call(action, region, params, deadline=deadline)

    return call


# -- which instances --------------------------------------------------------------------------------


def is_asked(group: ServiceGroup) -> bool:
    """Whether a group may have traffic: one of its services is running (or, without the services listed,
    the API counts one running)."""
    services = group.services or ()
    if services:
        return any(service.status in ASKED_STATUSES for service in services)
    return (group.running_service_count or 0) > 0


def instances(groups: Iterable[ServiceGroup], dimensions: Sequence[str] = (api.GROUP_DIMENSION,)) -> list[Pairs]:
    """The instances to ask for a metric with `dimensions` (names in `KNOWN_DIMENSIONS`): one per asked group,
    or per running service of an asked group when `ServiceId` is among them. Each once, in listing order."""
    unknown = set(dimensions) - set(KNOWN_DIMENSIONS)
    if unknown:
        raise ValueError(f"cannot fill dimensions {sorted(unknown)}")
    found: dict[Pairs, None] = {}
    for group in groups:
        if not group.service_group_id or not is_asked(group):
            continue
        base = {api.GROUP_DIMENSION: group.service_group_id}
        if "ServiceId" not in dimensions:
            found[tuple(sorted(base.items()))] = None
            continue
        for service in group.services or ():
            if service.service_id and service.status in ASKED_STATUSES:
                found[tuple(sorted({**base, "ServiceId": service.service_id}.items()))] = None
    return list(found)


def batches(items: Sequence[T], size: int = api.MAX_INSTANCES) -> list[tuple[T, ...]]:
    """`items` in consecutive batches of at most `size` (Cloud Monitor's ten instances a request)."""
    return [tuple(items[start : start + size]) for start in range(0, len(items), size)]


# -- when -------------------------------------------------------------------------------------------


def iso(timestamp: float) -> str:
    """ISO 8601 with an offset, as `StartTime`/`EndTime` want it."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Window:
    """The time a collection asks about: whole periods, the last one ending at `end`."""

    start: float
    end: float
    period: int

    def params(self) -> dict[str, Any]:
        return {"Period": self.period, "StartTime": iso(self.start), "EndTime": iso(self.end)}


def window(now: float, *, period: int, delay: float, periods: int = WINDOW_PERIODS) -> Window:
    """The window of a collection at `now`: it ends at the last period boundary at least `delay` before now
    and covers `periods` periods."""
    if period <= 0 or periods <= 0:
        raise ValueError("period and periods must be positive")
    end = math.floor((now - delay) / period) * period
    return Window(start=end - periods * period, end=end, period=period)


def latest(points: Iterable[tuple[float, float]], window: Window) -> tuple[float, float] | None:
    """(end of period, value) of the latest complete period inside `window`, or None."""
    best: tuple[float, float] | None = None
    for start, value in points:
        end = start + window.period
        if start >= window.start and end <= window.end and (best is None or end > best[0]):
            best = (end, value)
    return best


# -- how often --------------------------------------------------------------------------------------


def requests_per_collection(instance_counts: Iterable[int]) -> int:
    """Requests of one collection: ceil(instances / 10) for each metric asked (`ceil(G / 10) x M` when each of
    M metrics is asked for the same G groups)."""
    return sum(math.ceil(count / api.MAX_INSTANCES) for count in instance_counts)


@dataclass(frozen=True, slots=True)
class Budget:
    """What a monthly budget allows: the effective interval and the requests a month it leads to."""

    requests_per_collection: int
    interval: float
    """Seconds between collections: the configured interval, lengthened when the budget needs it."""
    requests_per_month: float
    """Projected, at `interval`, with this fleet, over the longest month."""
    budget: int
    minimum: float = 0.0
    """The configured interval."""

    @property
    def lengthened(self) -> bool:
        return self.interval > self.minimum


def plan(requests: int, *, interval: float, budget: int) -> Budget:
    """The effective interval for `requests` per collection: `max(interval, requests x month / budget)`.

    `budget` must be positive (0, Cloud Monitor off, is the caller's to handle)."""
    if budget <= 0:
        raise ValueError("the monthly budget must be positive")
    if interval <= 0:
        raise ValueError("the interval must be positive")
    effective = max(interval, requests * SECONDS_PER_MONTH / budget)
    return Budget(requests, effective, requests * SECONDS_PER_MONTH / effective, budget, minimum=interval)


def budget_message(budget: Budget) -> str:
    """The log line when the interval changes, naming the settings that decide it."""
    if not budget.lengthened:
        return (
            f"Cloud Monitor collects every {budget.interval:g}s: {budget.requests_per_collection} requests a "
            f"collection, about {budget.requests_per_month:,.0f} a month (budget {budget.budget:,})"
        )
    return (
        f"Cloud Monitor interval lengthened from {budget.minimum:g}s to {budget.interval:g}s: "
        f"{budget.requests_per_collection} requests a collection would exceed --monitor.max-requests-per-month "
        f"{budget.budget:,} (raise it, or ask fewer metrics or groups)"
    )


# -- what the namespace offers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """One metric of a namespace as `DescribeBaseMetrics` lists it."""

    name: str
    unit: str = ""
    periods: tuple[int, ...] = ()
    statistics: tuple[str, ...] = ()
    combinations: tuple[tuple[str, ...], ...] = ()
    meaning: str = ""

    def dimensions(self) -> tuple[str, ...] | None:
        """The smallest listed combination the exporter can fill, or None (the metric cannot be asked)."""
        usable = [combo for combo in self.combinations if combo and set(combo) <= set(KNOWN_DIMENSIONS)]
        return min(usable, key=len) if usable else None

    def line(self) -> str:
        """`check`'s line: name, unit, periods, statistics, the dimension combinations."""
        combos = " | ".join(",".join(combo) for combo in self.combinations) or "none"
        periods = ",".join(str(p) for p in self.periods) or "?"
        stats = ",".join(self.statistics) or "?"
        return f"{self.name} ({self.unit or 'no unit'}; periods {periods}s; {stats}; dimensions {combos})"


def describe_params(namespace: str = api.NAMESPACE) -> dict[str, Any]:
    return {"Namespace": namespace}


def catalogue(answer: Any) -> dict[str, MetricInfo]:
    """The metrics of a `DescribeBaseMetrics` answer by name; raises `monitor_api.MalformedAnswerError`."""
    found: dict[str, MetricInfo] = {}
    for item in api.parse_base_metrics(answer).metric_set or ():
        if not item.metric_name:
            continue
        stats = {stat for entry in item.periods or () for stat in entry.stat_type or ()}
        found[item.metric_name] = MetricInfo(
            name=item.metric_name,
            unit=item.unit or "",
            periods=tuple(sorted(set(item.period or ()))),
            statistics=tuple(sorted(stats)),
            combinations=tuple(tuple(desc.dimensions or ()) for desc in item.dimensions or ()),
            meaning=(item.meaning.en or "") if item.meaning is not None else "",
        )
    return found


async def describe_metrics(
    call: Call, region: str, *, deadline: float, namespace: str = api.NAMESPACE
) -> dict[str, MetricInfo]:
    """What `namespace` offers in `region` (a malformed answer is a `TransportError` `MalformedResponse`)."""
    answer = await call(api.DESCRIBE_BASE_METRICS, region, describe_params(namespace), deadline)
    try:
        return catalogue(answer)
    except api.MalformedAnswerError as exc:
        raise TransportError("MalformedResponse", str(exc), region=region, action=api.DESCRIBE_BASE_METRICS) from None


# -- asking -----------------------------------------------------------------------------------------


def request(metric: str, batch: Sequence[Pairs], window: Window, namespace: str = api.NAMESPACE) -> dict[str, Any]:
    """The `GetMonitorData` body for one metric and one batch of at most ten instances."""
    if not 0 < len(batch) <= api.MAX_INSTANCES:
        raise ValueError(f"a request names 1 to {api.MAX_INSTANCES} instances, not {len(batch)}")
    return {
        "Namespace": namespace,
        "MetricName": metric,
        "Instances": [api.instance(pairs) for pairs in batch],
        **window.params(),
    }


@dataclass(frozen=True, slots=True)
class Query:
    """One metric asked for a set of instances."""

    metric: str
    instances: tuple[Pairs, ...]


@dataclass(frozen=True, slots=True)
class Sample:
    """The latest complete period of one metric for one instance."""

    metric: str
    dimensions: Pairs
    value: float
    """As Cloud Monitor gives it (a count per period, milliseconds, a percentage...)."""
    period_end: float
    period: int


@dataclass(frozen=True, slots=True)
class Collection:
    """What one collection found, and what it cost."""

    samples: tuple[Sample, ...] = ()
    requests: int = 0
    denied: str = ""
    """The permission error's code when the keys may not call Cloud Monitor ("" otherwise)."""
    errors: tuple[str, ...] = ()
    """The error code of each batch lost (other than to the permission error)."""
    unknown: tuple[Pairs, ...] = ()
    """Instances Cloud Monitor refused as unknown, left out of their batch."""


def samples_of(data: api.MonitorData, metric: str, window: Window, asked: Iterable[Pairs]) -> list[Sample]:
    """The latest complete point of each asked instance in an answer; an instance without one has none."""
    wanted = set(asked)
    found: list[Sample] = []
    for point in data.data_points or ():
        dimensions = api.dimensions_of(point)
        if dimensions not in wanted:
            # Cloud Monitor may answer with more dimensions than asked: keep the asked ones.
            dimensions = next((pairs for pairs in wanted if set(pairs) <= set(dimensions)), ())
            if not dimensions:
                continue
        best = latest(api.series(point), window)
        if best is not None:
            found.append(Sample(metric, dimensions, best[1], best[0], window.period))
    return found


def _is_unknown_instance(error: TencentCloudError) -> bool:
    return error.code.split(".", 1)[0] in UNKNOWN_INSTANCE_CODES


def _named(batch: Sequence[Pairs], message: str) -> Pairs | None:
    """The one instance of `batch` whose value the error message names, if exactly one."""
    named = [pairs for pairs in batch if any(value and value in message for _, value in pairs)]
    return named[0] if len(named) == 1 else None


class _DeniedError(Exception):
    """Stops the other workers of a collection; the code is kept in `_Run.denied`."""


@dataclass(slots=True)
class _Run:
    """One collection in progress: where it asks, and what it found so far."""

    call: Call
    region: str
    window: Window
    deadline: float
    requests: int = 0
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unknown: list[Pairs] = field(default_factory=list)
    denied: str = ""

    async def ask(self, metric: str, batch: tuple[Pairs, ...]) -> None:
        """One batch; refused for an unknown instance, it is asked again without it (or in halves, when the
        error does not say which), so that one deleted group costs only itself."""
        if self.denied:
            return
        self.requests += 1
        try:
            answer = await self.call(
                api.GET_MONITOR_DATA, self.region, request(metric, batch, self.window), self.deadline
            )
        except TencentCloudError as error:
            if is_permission_error(error.code):
                self.denied = self.denied or error.code
                raise _DeniedError from None
            await self._refused(metric, batch, error)
            return
        try:
            data = api.parse_monitor_data(answer)
        except api.MalformedAnswerError:
            self.errors.append("MalformedResponse")
            return
        self.samples.extend(samples_of(data, metric, self.window, batch))

    async def _refused(self, metric: str, batch: tuple[Pairs, ...], error: TencentCloudError) -> None:
        named = _named(batch, error.message)
        if not _is_unknown_instance(error) and not (named and error.code.startswith("InvalidParameterValue")):
            self.errors.append(error.code)
            return
        if len(batch) == 1:
            self.unknown.append(batch[0])
            return
        if named is not None:
            self.unknown.append(named)
            parts = [tuple(pairs for pairs in batch if pairs != named)]
        else:
            half = len(batch) // 2
            parts = [batch[:half], batch[half:]]
        for part in parts:
            if part:
                await self.ask(metric, part)


async def collect(
    call: Call,
    region: str,
    queries: Sequence[Query],
    window: Window,
    *,
    deadline: float,
    workers: int = 4,
) -> Collection:
    """Ask every query's instances in batches of ten, `workers` requests at a time; never raises for an API
    error (the outcome says what was lost). A permission error stops the collection at once."""
    jobs = iter([(query.metric, batch) for query in queries for batch in batches(query.instances)])
    run = _Run(call, region, window, deadline)

    async def worker() -> None:
        for metric, batch in jobs:
            await run.ask(metric, batch)

    count = min(workers, sum(len(batches(query.instances)) for query in queries))
    tasks = [asyncio.ensure_future(worker()) for _ in range(count)]
    try:
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, _DeniedError):
            raise result
    return Collection(
        samples=tuple(run.samples) if not run.denied else (),
        requests=run.requests,
        denied=run.denied,
        errors=tuple(run.errors),
        unknown=tuple(run.unknown),
    )


# -- what the answers mean --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupTraffic:
    """A service group's traffic in its latest complete period; None where Cloud Monitor gave no point."""

    service_group_id: str
    requests_per_second: float | None = None
    errors_per_second: float | None = None
    throttled_per_second: float | None = None
    response_time_seconds: float | None = None
    period_end: float = 0.0
    """The end of the latest period the values describe (unix seconds)."""

    @property
    def error_ratio(self) -> float | None:
        if not self.requests_per_second or self.errors_per_second is None:
            return None
        return self.errors_per_second / self.requests_per_second


_GROUP_FIELDS: Mapping[str, str] = {
    api.CALLS: "requests_per_second",
    api.ERRORS: "errors_per_second",
    api.THROTTLED: "throttled_per_second",
    api.RESPONSE_TIME: "response_time_seconds",
}


def converted(sample: Sample) -> float:
    """A group metric in the exporter's units: a count per period ÷ the period, milliseconds ÷ 1000."""
    if sample.metric in api.COUNT_METRICS:
        return sample.value / sample.period
    if sample.metric == api.RESPONSE_TIME:
        return sample.value / 1000.0
    return sample.value


def group_traffic(samples: Iterable[Sample]) -> dict[str, GroupTraffic]:
    """Each group's traffic from the samples of the group metrics (others are ignored), by group id."""
    values: dict[str, dict[str, Any]] = {}
    for sample in samples:
        name = _GROUP_FIELDS.get(sample.metric)
        group_id = dict(sample.dimensions).get(api.GROUP_DIMENSION)
        if name is None or not group_id:
            continue
        fields = values.setdefault(group_id, {"period_end": 0.0})
        fields[name] = converted(sample)
        fields["period_end"] = max(fields["period_end"], sample.period_end)
    return {group_id: GroupTraffic(group_id, **fields) for group_id, fields in values.items()}


_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def snake_case(name: str) -> str:
    """`DcgmFiDevFbUsed` -> `dcgm_fi_dev_fb_used`, `GPUUtil` -> `gpu_util`: a Prometheus-safe name part."""
    return "_".join(word.lower() for word in _WORD.findall(name))


def family_name(metric: str) -> str:
    """The family of an extra metric: `tione_monitor_<snake_case name>`."""
    return f"tione_monitor_{snake_case(metric)}"
