"""What callers experience, as a source: Cloud Monitor's `QCE/TI_MODEL` figures of the running groups.

A secondary source after the listing: it reads the listing's groups from the snapshot and asks Cloud
Monitor (another product: its own client, signed for service `monitor`, with its own token bucket at
`--monitor.rate-limit`, the TI-ONE client's credentials and hooks) through `tione/monitor.py`.

It runs every poll but collects only when its effective interval has passed: the interval follows from
the monthly budget (`monitor.plan`) and the requests the current fleet needs, so it can only be known
once the listing has run. In between, the last collection is served again. A change of the effective
interval is logged once. A key without Cloud Monitor permission costs one request, one warning per
region and these series only; it is asked again at most every `DENIED_RETRY` seconds. The TI-ONE poll
never sees a Cloud Monitor error: `collect` turns every API error into what was lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Protocol

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.errors import TencentCloudError, is_permission_error
from exporter.tencentcloud.ratelimit import DEFAULT_BURST, TokenBucket
from exporter.tione import monitor, monitor_extra
from exporter.tione import monitor_api as api
from exporter.tione.records import ServiceGroup
from exporter.tione.service_groups import count_groups
from exporter.tione.snapshot import RegionSnapshot, ResultKey
from exporter.tione.source import Sink, Source

log = logging.getLogger(__name__)

ACTION = api.GET_MONITOR_DATA
DENIED_RETRY = 3600.0
"""Seconds before a region whose keys were refused Cloud Monitor is asked again (one request each time)."""
KEEP_INTERVALS = 3
"""Effective intervals the last figures are kept for while every batch of the collections fails."""
MAX_SECONDS = 600.0
"""The longest a collection made beside the polls may take (its requests wait on `--monitor.rate-limit`)."""
FIT_SHARE = 0.5
"""The share of a poll's time for Cloud Monitor that a first collection, asked within the poll, may take."""
CATALOGUE_SECONDS = 86400.0
"""How long what `DescribeBaseMetrics` said (for `monitor.metrics`) is used before it is asked again."""


class MonitorConfig(Protocol):
    """The `--monitor.*` settings this source reads (`config.settings.MonitorSettings`)."""

    @property
    def endpoint(self) -> str: ...
    @property
    def max_requests_per_month(self) -> int: ...
    @property
    def interval(self) -> float: ...
    @property
    def period(self) -> float: ...
    @property
    def delay(self) -> float: ...
    @property
    def rate_limit(self) -> float: ...
    @property
    def metrics(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Traffic:
    """A region's last Cloud Monitor collection and what the budget allows."""

    groups: Mapping[str, monitor.GroupTraffic] = field(default_factory=lambda: MappingProxyType({}))
    """Each asked group's figures, by group id; a group without a point has no entry."""
    extras: tuple[monitor_extra.Figures, ...] = ()
    """The points of each extra metric (`monitor.metrics`) that can be asked."""
    budget: monitor.Budget | None = None
    permitted: bool = True
    collected_at: float = 0.0
    """Unix time of the collection (0 before the first)."""


TRAFFIC: ResultKey[Traffic] = ResultKey(ACTION, Traffic())
"""Read by the traffic families, the attention rows and the page."""
_Asked = tuple[list[monitor.Query], dict[str, dict[monitor.Pairs, str]], tuple[monitor_extra.Extra, ...]]
"""What one collection asks: the queries, each extra metric's instances with their groups, the extra metrics."""


@dataclass(slots=True)
class _Region:
    collected: float | None = None
    """`clock()` of the last collection."""
    result: Traffic = field(default_factory=Traffic)
    requests: int = 0
    """Requests one collection of this region needs with the current fleet."""
    warned: bool = False
    task: asyncio.Future[Traffic] | None = None
    """A collection running beside the polls, if any."""
    extras: tuple[monitor_extra.Extra, ...] = ()
    """The extra metrics that can be asked, as the region's catalogue last said."""
    described: float | None = None
    """`clock()` of the last `DescribeBaseMetrics` (or of its failure)."""


def _report_failure(task: asyncio.Future[Traffic]) -> None:
    """Log a collection that failed beside the polls (a fault of the exporter: API errors never raise)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("Cloud Monitor collection failed", exc_info=task.exception())


@dataclass(slots=True)
class Collector:
    """The source's state across polls: per region, the last collection and the requests it needs."""

    call: monitor.Call
    config: MonitorConfig
    tione: TencentCloudClient
    """The TI-ONE client (`check` counts the groups through it)."""
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], float] = time.time
    regions: dict[str, _Region] = field(default_factory=dict)
    interval: float | None = None
    """The effective interval last logged."""
    reported: set[str] = field(default_factory=set)
    """The extra metrics already warned about as impossible to ask (one warning each, per process), and
    `<region>/` for a region whose catalogue could not be read (one warning)."""

    def plan(self) -> monitor.Budget:
        """The effective interval for the requests every region's collection needs, together."""
        total = sum(state.requests for state in self.regions.values())
        budget = monitor.plan(total, interval=self.config.interval, budget=self.config.max_requests_per_month)
        if budget.interval != self.interval:
            self.interval = budget.interval
            log.info(monitor.budget_message(budget), extra={"action": ACTION})
        return budget

    async def fetch(self, region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> Traffic:
        state = self.regions.setdefault(region, _Region())
        started = self.clock()
        if state.collected is None:
            await self._describe(region, state, deadline)  # the first plan counts the extra metrics too
        # Only the instances go on to the collection, never the snapshot's groups: a collection beside the
        # polls would otherwise keep an older listing alive for as long as it runs.
        asked = self._queries(state, snapshot.groups)
        budget = self.plan()
        wait = budget.interval if state.result.permitted else max(budget.interval, DENIED_RETRY)
        if state.task is not None and not state.task.done():
            return replace(state.result, budget=budget)
        state.task = None
        if state.collected is not None and started - state.collected < wait:
            return replace(state.result, budget=budget)
        if state.collected is None and self._fits(state, deadline):
            # The first collection of a region is part of its first poll (and of `once`) when it fits there.
            return await self._collect(region, state, asked, started=started, deadline=deadline)
        # Later ones run beside the polls, and so does a first one too large for the poll: a poll never waits
        # for Cloud Monitor, and a large fleet's collection may take longer than a poll's share of time (at
        # most its interval, or `MAX_SECONDS`).
        state.collected = started
        own_deadline = time.monotonic() + min(budget.interval, MAX_SECONDS)
        state.task = asyncio.ensure_future(self._collect(region, state, asked, started=started, deadline=own_deadline))
        state.task.add_done_callback(_report_failure)
        return replace(state.result, budget=budget)

    async def _collect(
        self,
        region: str,
        state: _Region,
        asked: _Asked,
        *,
        started: float,
        deadline: float,
    ) -> Traffic:
        """One collection of the region: its result is also the region's last (`state.result`). A catalogue
        due again is read first; what it changes is asked from the next collection on."""
        queries, owners, extras = asked
        await self._describe(region, state, deadline)
        budget = self.plan()
        period = int(self.config.period)
        window = monitor.window(self.now(), period=period, delay=self.config.delay)
        found = await monitor.collect(self.call, region, queries, window, deadline=deadline)
        if found.denied:
            return self._denied(region, state, budget, found.denied, started)
        if found.errors:
            log.info(
                "Cloud Monitor batches lost", extra={"region": region, "codes": ",".join(sorted(set(found.errors)))}
            )
            if not found.samples and self.now() - state.result.collected_at < KEEP_INTERVALS * budget.interval:
                # Every batch lost (throttled, unreachable): the last figures stay, with their period's end,
                # for a few intervals, then go; the next attempt waits its interval like a collection.
                state.collected = started
                return replace(state.result, budget=budget)
        state.collected = started
        state.warned = False
        state.result = Traffic(
            groups=MappingProxyType(monitor.group_traffic(found.samples)),
            extras=monitor_extra.figures(extras, found.samples, owners),
            budget=budget,
            collected_at=self.now(),
        )
        return state.result

    def _fits(self, state: _Region, deadline: float) -> bool:
        """Whether a collection's requests, at `--monitor.rate-limit`, take at most `FIT_SHARE` of the time
        left before `deadline`. Cut off there, a first collection would be asked again at every poll, each
        time cut off again, and never collect anything."""
        return state.requests / self.config.rate_limit <= FIT_SHARE * (deadline - self.clock())

    def _queries(self, state: _Region, groups: Sequence[ServiceGroup]) -> _Asked:
        """The region's queries (the group metrics, then the extra ones), the extra instances' groups, the extra
        metrics asked, and the requests they need (`state.requests`): `ceil(G / 10)` per group metric,
        `ceil(I / 10)` per extra one."""
        asked = tuple(monitor.instances(groups))
        queries = [monitor.Query(metric, asked) for metric in api.GROUP_METRICS]
        owners = {extra.name: monitor_extra.asked(groups, extra.dimensions) for extra in state.extras}
        queries += [monitor.Query(name, tuple(instances)) for name, instances in owners.items()]
        state.requests = monitor.requests_per_collection(len(query.instances) for query in queries)
        return queries, owners, state.extras

    async def _describe(self, region: str, state: _Region, deadline: float) -> None:
        """Learn how to ask the extra metrics, at most once every `CATALOGUE_SECONDS` (an hour after a failure:
        the extra metrics are then asked as last learnt, or not at all)."""
        names = self.config.metrics
        since = None if state.described is None else self.clock() - state.described
        if not names or (since is not None and since < CATALOGUE_SECONDS):
            return
        state.described = self.clock() - CATALOGUE_SECONDS + DENIED_RETRY
        try:
            catalogue = await monitor.describe_metrics(self.call, region, deadline=deadline)
        except TencentCloudError as error:
            if f"{region}/" in self.reported:
                return
            self.reported.add(f"{region}/")
            hint = "allow monitor:DescribeBaseMetrics" if is_permission_error(error.code) else ""
            log.warning(
                "Cloud Monitor's catalogue could not be read: monitor.metrics are not asked for now",
                extra={"region": region, "action": api.DESCRIBE_BASE_METRICS, "code": error.code, "hint": hint},
            )
            return
        state.described = self.clock()
        state.extras, problems = monitor_extra.choose(names, catalogue, int(self.config.period))
        for name, problem in problems.items():
            if name not in self.reported:
                self.reported.add(name)
                log.warning(
                    "A monitor.metrics entry cannot be asked: no request, no series",
                    extra={"region": region, "metric": name, "reason": problem},
                )

    def _denied(self, region: str, state: _Region, budget: monitor.Budget, code: str, started: float) -> Traffic:
        if not state.warned:
            state.warned = True
            log.warning(
                "Cloud Monitor is not permitted: no traffic series for this region",
                extra={
                    "region": region,
                    "action": ACTION,
                    "code": code,
                    "hint": "allow monitor:GetMonitorData and monitor:DescribeBaseMetrics",
                },
            )
        state.collected = started
        state.result = Traffic(budget=budget, permitted=False)
        return state.result

    async def probe(self, region: str, deadline: float) -> str:
        """`check`: a summary, then detail lines: the projected requests for the region's groups (every group
        of the default workspace counted, an upper bound: stopped ones are not asked), what becomes of each
        of `monitor.metrics`, and what `QCE/TI_MODEL` offers, one metric a line, for choosing them."""
        catalogue = await monitor.describe_metrics(self.call, region, deadline=deadline)
        groups = await count_groups(self.tione, region, (None,), deadline=deadline)
        extras, problems = monitor_extra.choose(self.config.metrics, catalogue, int(self.config.period))
        metrics = len(api.GROUP_METRICS) + len(extras)
        requests = monitor.requests_per_collection([groups] * metrics)
        budget = monitor.plan(requests, interval=self.config.interval, budget=self.config.max_requests_per_month)
        per_service = " (a per-service metric asks one instance per running service: more)" if extras else ""
        projection = (
            f"    Cloud Monitor: {groups} service groups at most x {metrics} metrics = {requests} requests a "
            f"collection{per_service}, every {budget.interval:g}s: about {budget.requests_per_month:,.0f} "
            f"requests a month (--monitor.max-requests-per-month {budget.budget:,})"
        )
        chosen = [
            f"    monitor.metrics {extra.name}: exported as {extra.family} (dimensions {','.join(extra.dimensions)})"
            for extra in extras
        ]
        refused = [f"    monitor.metrics {name}: NOT ASKED, {problem}" for name, problem in problems.items()]
        offered = [f"    {info.line()}" for info in sorted(catalogue.values(), key=lambda item: item.name)]
        return "\n".join([f"{len(catalogue)} {api.NAMESPACE} metrics", projection, *chosen, *refused, *offered])


def source(client: TencentCloudClient, config: MonitorConfig) -> Source[Traffic]:
    """The Cloud Monitor source, after the listing; `client` is the TI-ONE client whose credentials, hooks and
    connection pool it shares (`config.max_requests_per_month` must be positive: 0 means no source)."""
    rate = config.rate_limit
    own = client.sibling(
        endpoint=config.endpoint,
        service=api.SERVICE,
        version=api.VERSION,
        rate_limiter=TokenBucket(rate, min(DEFAULT_BURST, max(1, int(rate)))),
    )
    collector = Collector(monitor.bind(own), config, client)
    without = "no Cloud Monitor series (tione_service_group_requests_per_second, ...)"
    return Source(ACTION, collector.fetch, TRAFFIC.stored, empty=TRAFFIC.empty, probe=collector.probe, without=without)
