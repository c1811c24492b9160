"""The Cloud Monitor source without a network: when it collects, what the budget makes of the interval,
and what a refused key costs."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import pytest

from exporter.simulator import Traffic as SimulatedTraffic
from exporter.simulator.monitor import TEST_METRIC
from exporter.simulator.server import SimulatorServer
from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import APIError
from exporter.tione import api as tione_api
from exporter.tione import monitor, traffic
from exporter.tione import monitor_api as api
from exporter.tione.decode import decode_groups
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import NoSink
from exporter.tione.traffic import CATALOGUE_SECONDS, DENIED_RETRY, TRAFFIC, Collector, Traffic
from tests.conftest import signed_simulator

REGION = "ap-guangzhou"


@dataclass(frozen=True)
class Config:
    endpoint: str = api.ENDPOINT
    max_requests_per_month: int = 300_000
    interval: float = 60.0
    period: float = 60.0
    delay: float = 120.0
    rate_limit: float = 10.0
    metrics: tuple[str, ...] = ()


class FakeMonitor:
    """Answers every instance with one point per period of the window: 600 calls, 120 failed, 150 ms."""

    VALUES = {api.CALLS: 600.0, api.ERRORS: 120.0, api.THROTTLED: 0.0, api.RESPONSE_TIME: 150.0}

    def __init__(self, denied: str = "") -> None:
        self.denied = denied
        self.asked: list[dict[str, Any]] = []

    async def __call__(self, action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        self.asked.append(params)
        if self.denied:
            raise APIError(self.denied, "no", region=region, action=action)
        start = datetime.fromisoformat(params["StartTime"]).timestamp()
        end = datetime.fromisoformat(params["EndTime"]).timestamp()
        stamps = [float(t) for t in range(int(start), int(end), params["Period"])]
        value = self.VALUES[params["MetricName"]]
        points = [
            {"Dimensions": item["Dimensions"], "Timestamps": stamps, "Values": [value] * len(stamps)}
            for item in params["Instances"]
        ]
        return {"Period": params["Period"], "MetricName": params["MetricName"], "DataPoints": points}


def groups(running: int, stopped: int) -> tuple[ServiceGroup, ...]:
    wire = [
        {"ServiceGroupId": f"ms-{n}", "Services": [{"ServiceId": f"ms-{n}-1", "Status": status}]}
        for n, status in enumerate(["Normal"] * running + ["Stopped"] * stopped)
    ]
    return tuple(msgspec.convert(item, ServiceGroup) for item in wire)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def collector(call: FakeMonitor, clock: Clock, **config: Any) -> Collector:
    return Collector(call, Config(**config), None, clock=clock, now=lambda: 1_800_000_000.0 + clock.now)  # type: ignore[arg-type]


RUNNERS: dict[int, asyncio.Runner] = {}


def fetch(source: Collector, snapshot: RegionSnapshot, deadline: float = 1e12) -> Traffic:
    """One poll's fetch on the collector's own event loop (a collection it starts beside the polls runs
    there), then a moment for such a collection to finish."""
    runner = RUNNERS.setdefault(id(source), asyncio.Runner())

    async def poll() -> Traffic:
        result = await source.fetch(snapshot.region, snapshot, deadline, NoSink())
        await asyncio.sleep(0.01)
        return result

    return runner.run(poll())


@pytest.fixture(autouse=True)
def _close_runners() -> Iterator[None]:
    yield
    for runner in RUNNERS.values():
        runner.close()
    RUNNERS.clear()


def test_figures_of_running_groups_only_and_the_collection_served_until_the_interval_passed() -> None:
    call, clock = FakeMonitor(), Clock()
    source = collector(call, clock, max_requests_per_month=1_000_000)  # 8 requests every 60 s fit
    snapshot = RegionSnapshot(REGION, groups(12, 13))
    first = fetch(source, snapshot)
    assert len(call.asked) == 4 * 2  # 12 groups: two batches for each of four metrics
    assert set(first.groups) == {f"ms-{n}" for n in range(12)}
    traffic = first.groups["ms-0"]
    assert (traffic.requests_per_second, traffic.errors_per_second, traffic.response_time_seconds) == (10.0, 2.0, 0.15)
    assert traffic.error_ratio == 0.2
    clock.now += 59
    assert fetch(source, snapshot).groups == first.groups and len(call.asked) == 8
    clock.now += 1
    served = fetch(source, snapshot)  # starts the next collection beside the poll, serves the last one
    assert served.collected_at == first.collected_at and len(call.asked) == 16
    assert fetch(source, snapshot).collected_at > first.collected_at  # the next poll serves the new one
    assert TRAFFIC.of(TRAFFIC.stored(snapshot, first)) is first


def test_a_budget_too_small_for_the_interval_lengthens_it_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    call, clock = FakeMonitor(), Clock()
    # 4 requests a collection, one collection every 300 s at most: 4 x 2,678,400 / 300
    source = collector(call, clock, max_requests_per_month=int(4 * monitor.SECONDS_PER_MONTH / 300))
    snapshot = RegionSnapshot(REGION, groups(10, 13))
    with caplog.at_level(logging.INFO, logger="exporter.tione.traffic"):
        for _ in range(20):  # 10 minutes of polls every 30 s
            result = fetch(source, snapshot)
            clock.now += 30
    assert result.budget is not None and result.budget.interval >= 300.0
    assert result.budget.requests_per_month <= result.budget.budget
    assert len(call.asked) <= 3 * 4
    (lengthened,) = [r for r in caplog.records if "lengthened" in r.getMessage()]
    assert lengthened.action == api.GET_MONITOR_DATA  # type: ignore[attr-defined]


def test_a_refused_key_costs_one_warning_and_is_asked_again_only_after_an_hour(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call, clock = Monitor(denied="AuthFailure.UnauthorizedOperation"), Clock()
    source = collector(call, clock)
    snapshot = RegionSnapshot(REGION, groups(3, 0))
    with caplog.at_level(logging.WARNING, logger="exporter.tione.traffic"):
        first = fetch(source, snapshot)
        for _ in range(10):
            clock.now += 60
            result = fetch(source, snapshot)
        clock.now += DENIED_RETRY
        fetch(source, snapshot)  # asked again, refused again: no second warning
    assert first.permitted is False and first.budget is not None and first.budget.requests_per_collection == 4
    assert result.permitted is False and result.groups == {}
    assert len(call.asked) == 2
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "not permitted" in warning.getMessage()
    fields = {name: getattr(warning, name, None) for name in ("region", "action", "code", "hint")}
    assert fields == {
        "region": REGION,
        "action": api.GET_MONITOR_DATA,
        "code": "AuthFailure.UnauthorizedOperation",
        "hint": "allow monitor:GetMonitorData and monitor:DescribeBaseMetrics",
    }


def test_a_key_refused_again_after_a_permitted_collection_is_warned_about_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call, clock = Monitor(), Clock()
    source = collector(call, clock)
    snapshot = RegionSnapshot(REGION, groups(3, 0))
    with caplog.at_level(logging.WARNING, logger="exporter.tione.traffic"):
        assert fetch(source, snapshot).permitted
        call.denied = "UnauthorizedOperation"
        clock.now += 60
        fetch(source, snapshot)
        assert fetch(source, snapshot).permitted is False
    assert len(records_of(caplog, logging.WARNING, "not permitted")) == 1


def test_no_running_group_asks_nothing() -> None:
    call, clock = FakeMonitor(), Clock()
    result = fetch(collector(call, clock), RegionSnapshot(REGION, groups(0, 5)))
    assert call.asked == [] and result.groups == {} and result.budget is not None


def test_a_first_collection_too_large_for_the_poll_runs_beside_it_and_is_not_asked_again_each_poll() -> None:
    """1,000 running groups need 400 requests: 40 s at 10 a second, more than half of a 25 s poll. Asked
    within the poll, the collection would be cut off at every poll and never finish."""
    call, clock = FakeMonitor(), Clock()
    source = collector(call, clock, max_requests_per_month=100_000_000)
    snapshot = RegionSnapshot(REGION, groups(1_000, 0))
    runner = RUNNERS.setdefault(id(source), asyncio.Runner())

    async def poll(deadline: float) -> tuple[Traffic, int]:
        result = await source.fetch(REGION, snapshot, deadline, NoSink())
        asked_in_poll = len(call.asked)
        await asyncio.sleep(0.05)  # the collection beside the poll (the fake answers at once)
        return result, asked_in_poll

    first, asked_in_poll = runner.run(poll(clock.now + 25.0))
    assert first.groups == {} and asked_in_poll == 0  # the poll did not wait for it
    assert len(call.asked) == 4 * 100  # it ran, whole, beside the poll
    second, _ = runner.run(poll(clock.now + 25.0))
    assert len(second.groups) == 1_000 and len(call.asked) == 400  # served, not asked again
    # A fleet whose collection fits is asked within its first poll (and `once` gets its figures).
    small = collector(FakeMonitor(), Clock())
    assert len(fetch(small, RegionSnapshot(REGION, groups(10, 0))).groups) == 10


# -- where, when and how each request is asked ---------------------------------------------------------------

OTHER = "ap-shanghai"
GROUP_MEMORY = "GroupMem"
CATALOGUE = [
    {"MetricName": GROUP_MEMORY, "Unit": "MB", "Period": [60, 300], "Dimensions": [{"Dimensions": ["ServiceGroupId"]}]},
    {"MetricName": "PodOnly", "Unit": "%", "Period": [60], "Dimensions": [{"Dimensions": ["PodName"]}]},
]


class Monitor(FakeMonitor):
    """`FakeMonitor` that records each request's action, region and deadline, lists `CATALOGUE`, and can be
    made to hold its answers (`gate`), to lose every batch (`lost`: a code per metric) or to fail as no API
    error does (`fault`)."""

    VALUES = {**FakeMonitor.VALUES, GROUP_MEMORY: 512.0}

    def __init__(self, denied: str = "") -> None:
        super().__init__(denied)
        self.calls: list[tuple[str, str, float]] = []
        self.gate: asyncio.Event | None = None
        self.lost: dict[str, str] = {}
        self.fault: Exception | None = None
        self.catalogue_error = ""

    async def __call__(self, action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        self.calls.append((action, region, deadline))
        if self.gate is not None:
            await self.gate.wait()
        if self.fault is not None:
            raise self.fault
        if action == api.DESCRIBE_BASE_METRICS:
            if self.catalogue_error:
                raise APIError(self.catalogue_error, "no", region=region, action=action)
            return {"MetricSet": CATALOGUE}
        if params["MetricName"] in self.lost:
            self.asked.append(params)
            raise APIError(self.lost[params["MetricName"]], "lost", region=region, action=action)
        return await super().__call__(action, region, params, deadline)

    def catalogues(self) -> int:
        return len([call for call in self.calls if call[0] == api.DESCRIBE_BASE_METRICS])


def run(source: Collector, step: Any) -> Any:
    """Run `step` (a coroutine) on the collector's own event loop, where its collections beside the polls run."""
    return RUNNERS.setdefault(id(source), asyncio.Runner()).run(step)


async def settle() -> None:
    await asyncio.sleep(0.01)


def records_of(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == level and text in r.getMessage()]


def test_each_request_goes_to_its_region_before_the_poll_deadline_or_the_collections_own() -> None:
    """Within a poll, the catalogue and a first collection are asked before the poll's deadline; a collection
    beside the polls gets its own, one interval from its start; the catalogue is read again after a day."""
    call, clock = Monitor(), Clock()
    source = collector(call, clock, metrics=(GROUP_MEMORY,), max_requests_per_month=10_000_000)
    snapshot = RegionSnapshot(REGION, groups(3, 0))
    first = fetch(source, snapshot, deadline=5e6)
    assert set(first.groups) == {"ms-0", "ms-1", "ms-2"} and first.extras[0].points
    assert call.calls[0][0] == api.DESCRIBE_BASE_METRICS and len(call.calls) == 1 + 5
    assert {(region, deadline) for _, region, deadline in call.calls} == {(REGION, 5e6)}
    clock.now += 60
    started = time.monotonic()
    fetch(source, snapshot, deadline=5e6)  # the next collection runs beside the poll
    beside = call.calls[6:]
    assert len(beside) == 5 and {region for _, region, _ in beside} == {REGION}
    assert all(started + 59 < deadline < time.monotonic() + 61 for _, _, deadline in beside)
    assert call.catalogues() == 1
    clock.now = 1_000.0 + CATALOGUE_SECONDS  # a day after the catalogue was read: it is read again
    fetch(source, snapshot, deadline=5e6)
    assert call.catalogues() == 2 and call.calls[11][0] == api.DESCRIBE_BASE_METRICS
    assert call.calls[11][1] == REGION and call.calls[11][2] > time.monotonic() + 59


def test_regions_are_collected_apart_and_their_requests_budgeted_together(caplog: pytest.LogCaptureFixture) -> None:
    call, clock = Monitor(), Clock()
    source = collector(call, clock, metrics=("PodOnly",), max_requests_per_month=10_000_000)
    with caplog.at_level(logging.WARNING, logger="exporter.tione.traffic"):
        here = fetch(source, RegionSnapshot(REGION, groups(10, 0)))
        there = fetch(source, RegionSnapshot(OTHER, groups(20, 0)))
    assert len(here.groups) == 10 and len(there.groups) == 20  # each region's first poll collects its own
    assert here.budget is not None and here.budget.requests_per_collection == 4
    assert there.budget is not None and there.budget.requests_per_collection == 4 + 8
    assert {region for _, region, _ in call.calls[: len(call.calls) // 3]} == {REGION}
    assert {region for _, region, _ in call.calls[-8:]} == {OTHER}
    # A metric that cannot be asked is warned about once, in the first region that read the catalogue.
    (warning,) = records_of(caplog, logging.WARNING, "cannot be asked")
    assert (warning.region, warning.metric) == (REGION, "PodOnly")  # type: ignore[attr-defined]
    assert warning.reason.startswith("no dimension combination")  # type: ignore[attr-defined]


def test_a_poll_serves_the_last_figures_with_the_budget_of_the_fleet_it_sees() -> None:
    """The figures come from the last collection; the budget (the interval and the requests a month, on the
    page and in the self-metrics) from the fleet of this poll, while a collection runs and between two."""
    call, clock = Monitor(), Clock()
    source = collector(call, clock, max_requests_per_month=10_000_000)
    fetch(source, RegionSnapshot(REGION, groups(10, 0)))
    call.gate = asyncio.Event()  # the next collection beside the polls waits for its answers
    clock.now += 60
    started = fetch(source, RegionSnapshot(REGION, groups(30, 0)))
    clock.now += 1
    running = fetch(source, RegionSnapshot(REGION, groups(30, 0)))
    for served in (started, running):
        assert len(served.groups) == 10 and served.budget is not None
        assert served.budget.requests_per_collection == 4 * 3
    gate = call.gate
    call.gate = None
    run(source, settle_after(gate.set))
    clock.now += 1
    between = fetch(source, RegionSnapshot(REGION, groups(50, 0)))
    assert len(between.groups) == 30 and between.budget is not None
    assert between.budget.requests_per_collection == 4 * 5


def settle_after(step: Any) -> Any:
    async def stepped() -> None:
        step()
        await settle()

    return stepped()


def test_a_first_collection_that_takes_at_most_half_the_poll_is_asked_within_it() -> None:
    """At `--monitor.rate-limit` 10, 8 requests take 0.8 s and 400 take 40 s: within a 25-s poll the first
    fit, and 400 fit a poll of 80 s exactly."""
    small = fetch(collector(Monitor(), Clock()), RegionSnapshot(REGION, groups(12, 0)), deadline=1_000.0 + 25)
    assert len(small.groups) == 12
    clock = Clock()
    large = collector(Monitor(), clock, max_requests_per_month=100_000_000)
    assert len(fetch(large, RegionSnapshot(REGION, groups(1_000, 0)), deadline=clock.now + 80).groups) == 1_000


def test_lost_batches_are_logged_with_their_codes_and_keep_the_last_figures_for_a_few_intervals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call, clock = Monitor(), Clock()
    source = collector(call, clock, max_requests_per_month=10_000_000)
    snapshot = RegionSnapshot(REGION, groups(12, 0))
    first = fetch(source, snapshot)
    call.lost = {api.CALLS: "RequestLimitExceeded", api.ERRORS: "InternalError"}
    call.lost |= {api.THROTTLED: "RequestLimitExceeded", api.RESPONSE_TIME: "InternalError"}
    with caplog.at_level(logging.INFO, logger="exporter"):
        clock.now += 60
        fetch(source, snapshot)
        asked = len(call.asked)
        clock.now += 1  # the next attempt waits its interval, like a collection
        assert fetch(source, snapshot).groups == first.groups and len(call.asked) == asked
        clock.now += 59
        assert fetch(source, snapshot).groups == first.groups and len(call.asked) == 2 * asked - 8
        clock.now += 60  # KEEP_INTERVALS intervals after the last figures' collection: they go
        fetch(source, snapshot)
        assert fetch(source, snapshot).groups == {}
    lost = records_of(caplog, logging.INFO, "batches lost")
    assert len(lost) == 3
    assert {(r.region, r.codes) for r in lost} == {(REGION, "InternalError,RequestLimitExceeded")}  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # lost batches are no fault of the exporter


def test_a_collection_failing_beside_the_polls_is_logged_with_its_error_and_waits_its_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fault of the exporter (API errors never raise) is an error line with its traceback; the region is
    asked again at its next interval, not at every poll."""
    call, clock = Monitor(), Clock()
    source = collector(call, clock)
    snapshot = RegionSnapshot(REGION, groups(3, 0))
    first = fetch(source, snapshot)
    fault = RuntimeError("a fault of the exporter")
    call.fault = fault
    with caplog.at_level(logging.ERROR):
        clock.now += 60
        fetch(source, snapshot)
        asked = len(call.calls)
        clock.now += 1
        assert fetch(source, snapshot).groups == first.groups and len(call.calls) == asked
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.name == "exporter.tione.traffic" and "collection failed" in error.getMessage()
    assert error.exc_info is not None and error.exc_info[1] is fault


def test_a_collection_cancelled_beside_the_polls_is_no_error(caplog: pytest.LogCaptureFixture) -> None:
    call, clock = Monitor(), Clock()
    source = collector(call, clock)
    snapshot = RegionSnapshot(REGION, groups(3, 0))
    fetch(source, snapshot)
    call.gate = asyncio.Event()
    clock.now += 60
    with caplog.at_level(logging.DEBUG):
        fetch(source, snapshot)
        task = source.regions[REGION].task
        assert task is not None and not task.done()
        run(source, settle_after(task.cancel))
        assert task.cancelled()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("code", "hint"), [("UnauthorizedOperation", "allow monitor:DescribeBaseMetrics"), ("InternalError", "")]
)
def test_an_unreadable_catalogue_is_one_warning_naming_the_permission_only_when_refused(
    code: str, hint: str, caplog: pytest.LogCaptureFixture
) -> None:
    call, clock = Monitor(), Clock()
    call.catalogue_error = code
    source = collector(call, clock, metrics=(GROUP_MEMORY,))
    with caplog.at_level(logging.WARNING, logger="exporter.tione.traffic"):
        result = fetch(source, RegionSnapshot(REGION, groups(3, 0)))
    assert len(result.groups) == 3 and result.extras == ()
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "catalogue could not be read" in warning.getMessage()
    fields = {name: getattr(warning, name, None) for name in ("region", "action", "code", "hint")}
    assert fields == {"region": REGION, "action": api.DESCRIBE_BASE_METRICS, "code": code, "hint": hint}


# -- the source, against the simulator over loopback ------------------------------------------------------


def tione_client(sim: SimulatorServer) -> TencentCloudClient:
    keys = Credentials(sim.config.secret_id, sim.config.secret_key)
    return TencentCloudClient(endpoint=sim.url, service=tione_api.SERVICE, version=tione_api.VERSION, credentials=keys)


def sibling_spy(client: TencentCloudClient) -> list[TencentCloudClient]:
    """The clients `client.sibling` makes, recorded (the real method makes them)."""
    made: list[TencentCloudClient] = []
    real = client.sibling

    def sibling(**kwargs: Any) -> TencentCloudClient:
        made.append(real(**kwargs))
        return made[-1]

    client.sibling = sibling  # type: ignore[method-assign]
    return made


async def test_the_source_asks_cloud_monitor_signed_with_the_tione_keys_through_its_own_bucket() -> None:
    with signed_simulator((REGION,), groups=0, seed=3, monitor_rate_limit=None, monitor_test_metric=True) as sim:
        ids = sim.add_groups(REGION, 3, "")
        for group in sim.fleet(REGION):
            for service in group["Services"]:
                sim.set_service_status(REGION, service["ServiceId"], "Normal", replicas=1)
        sim.set_traffic(REGION, ids[0], SimulatedTraffic(calls_per_second=10, errors_per_second=2, response_ms=120))
        client = tione_client(sim)
        made = sibling_spy(client)
        source = traffic.source(client, Config(endpoint=sim.url, rate_limit=50.0))
        (own,) = made
        assert own.rate_limiter is not client.rate_limiter
        assert (own.rate_limiter.rate, own.rate_limiter.burst) == (50.0, 2)
        traffic.source(client, Config(endpoint=sim.url, rate_limit=1.5))
        assert (made[1].rate_limiter.rate, made[1].rate_limiter.burst) == (1.5, 1)  # no burst above the rate
        assert source.action == api.GET_MONITOR_DATA and not source.primary and source.empty == Traffic()
        assert source.without.startswith("no Cloud Monitor series (tione_service_group_requests_per_second")
        snapshot = RegionSnapshot(REGION, tuple(decode_groups(json.loads(json.dumps(sim.fleet(REGION)))).groups))
        found = await source.run(REGION, snapshot, time.monotonic() + 5, NoSink())
        assert TRAFFIC.of(source.store(snapshot, found)) is found
        assert found.permitted and set(found.groups) == set(ids)
        planted = found.groups[ids[0]]
        assert (planted.requests_per_second, planted.errors_per_second, planted.response_time_seconds) == (10, 2, 0.12)
        asked = [r for r in sim.requests if r.action == api.GET_MONITOR_DATA]
        assert len(asked) == 4 and {r.code for r in asked} == {""}
        await client.aclose()


async def test_check_projects_the_requests_a_month_and_says_what_becomes_of_each_extra_metric() -> None:
    with signed_simulator((REGION,), groups=0, seed=3, monitor_rate_limit=None, monitor_test_metric=True) as sim:
        sim.add_groups(REGION, 12, "")
        client = tione_client(sim)
        metrics = (TEST_METRIC, "Missing")
        config = Config(endpoint=sim.url, max_requests_per_month=1_000_000, rate_limit=100.0, metrics=metrics)
        with_extras = traffic.source(client, config)
        lines = (await with_extras.probe(REGION, time.monotonic() + 5)).split("\n")
        # 12 groups: 2 requests for each of 4 group metrics and the extra one, one collection a minute
        month = f"{10 * monitor.SECONDS_PER_MONTH / 60:,.0f}"
        assert lines[:3] == [
            f"6 {api.NAMESPACE} metrics",
            "    Cloud Monitor: 12 service groups at most x 5 metrics = 10 requests a collection (a per-service "
            f"metric asks one instance per running service: more), every 60s: about {month} requests a month "
            "(--monitor.max-requests-per-month 1,000,000)",
            f"    monitor.metrics {TEST_METRIC}: exported as tione_monitor_simulated_test_gpu_util "
            "(dimensions ServiceGroupId,ServiceId)",
        ]
        assert lines[3].startswith("    monitor.metrics Missing: NOT ASKED, not offered by")  # monitor_extra's reason
        offered = sorted([api.CALLS, api.SUCCESSES, api.ERRORS, api.THROTTLED, api.RESPONSE_TIME, TEST_METRIC])
        assert [line.split(" ")[4] for line in lines[4:]] == offered
        assert lines[4].startswith(f"    {offered[0]} (count; periods ")
        plain = traffic.source(client, Config(endpoint=sim.url, rate_limit=100.0, max_requests_per_month=100_000))
        projection = (await plain.probe(REGION, time.monotonic() + 5)).split("\n")[1]
        # 8 requests a collection: a budget of 100,000 lengthens the minute to 214.272 s
        assert projection == (
            "    Cloud Monitor: 12 service groups at most x 4 metrics = 8 requests a collection, every 214.272s: "
            "about 100,000 requests a month (--monitor.max-requests-per-month 100,000)"
        )
        await client.aclose()
