"""The Cloud Monitor source without a network: when it collects, what the budget makes of the interval,
and what a refused key costs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import pytest

from exporter.tencentcloud.errors import APIError
from exporter.tione import monitor
from exporter.tione import monitor_api as api
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import NoSink
from exporter.tione.traffic import DENIED_RETRY, TRAFFIC, Collector, Traffic

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


def fetch(source: Collector, snapshot: RegionSnapshot) -> Traffic:
    """One poll's fetch on the collector's own event loop (a collection it starts beside the polls runs
    there), then a moment for such a collection to finish."""
    runner = RUNNERS.setdefault(id(source), asyncio.Runner())

    async def poll() -> Traffic:
        result = await source.fetch(REGION, snapshot, 1e12, NoSink())
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
    assert len([r for r in caplog.records if "lengthened" in r.getMessage()]) == 1


def test_a_refused_key_costs_one_warning_and_is_asked_again_only_after_an_hour(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call, clock = FakeMonitor(denied="AuthFailure.UnauthorizedOperation"), Clock()
    source = collector(call, clock)
    snapshot = RegionSnapshot(REGION, groups(3, 0))
    with caplog.at_level(logging.WARNING, logger="exporter.tione.traffic"):
        for _ in range(10):
            result = fetch(source, snapshot)
            clock.now += 60
    assert not result.permitted and result.groups == {}
    assert 1 <= len(call.asked) <= 4
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    clock.now += DENIED_RETRY
    fetch(source, snapshot)
    assert len(call.asked) > 1


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
