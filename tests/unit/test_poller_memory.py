"""A poll that does not finish keeps nothing of what it built: polls that time out one after another hold
no more memory than one, and none of the pages they formatted.

Memory is traced (`tracemalloc`): exact, so the limits hold on a busy machine; nothing here is timed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from exporter import poller as poller_module
from exporter.metrics.self import SelfMetrics
from exporter.poller import Poller, PollPlan
from exporter.simulator import Simulator, SimulatorConfig
from exporter.tencentcloud.gcpause import paused_gc
from exporter.tione.decode import decode_groups
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import Sink, Source

REGION = "ap-guangzhou"
PAGES = 6


def pages_of_fleet() -> list[str]:
    """The fleet's pages as the API's JSON: each poll decodes its own objects afresh, as a real one does."""
    simulator = Simulator(SimulatorConfig(groups=600, regions=(REGION,), churn=False, seed=5))
    fleet = simulator.fleet(REGION)
    size = len(fleet) // PAGES
    return [json.dumps(fleet[start : start + size]) for start in range(0, size * PAGES, size)]


async def _probe(region: str, deadline: float) -> str:
    return "scripted"


def listing(pages: list[str], *, finish: bool) -> Source[Any]:
    """A primary source that hands every page to the sink as it reads it, then (unless `finish`) never ends."""

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        groups: list[ServiceGroup] = []
        for page in pages:
            decoded = decode_groups(json.loads(page)).groups
            sink.service_groups(decoded, "")
            groups += decoded
            await asyncio.sleep(0)
        if not finish:
            await asyncio.sleep(60)
        return tuple(groups)

    def store(snapshot: RegionSnapshot, groups: tuple[ServiceGroup, ...]) -> RegionSnapshot:
        return dataclasses.replace(snapshot, groups=groups)

    return Source("DescribeModelServiceGroups", fetch, store, empty=(), probe=_probe, primary=True)


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def held(*, collect: bool = True) -> int:
    """Bytes traced as allocated right now; with `collect`, after a full collection (what nothing frees)."""
    if collect:
        gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def test_polls_that_time_out_keep_nothing_of_what_they_built(
    traced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller_module, "DEADLINE_GRACE", 0.0)
    pages = pages_of_fleet()
    # What one poll of these pages builds and holds when it succeeds: the yardstick.
    good = Poller(PollPlan(regions=(REGION,), sources=(listing(pages, finish=True),)), SelfMetrics((REGION,)))
    before_good = held()
    tracemalloc.reset_peak()
    assert (await good.poll(REGION)).outcome == "success"
    built = tracemalloc.get_traced_memory()[1] - before_good
    assert built > 2_000_000, "the poll must build enough for the comparison to mean something"
    del good

    plan = PollPlan(regions=(REGION,), sources=(listing(pages, finish=False),), interval=2.0, timeout=0.2)
    poller = Poller(plan, SelfMetrics((REGION,)), pause=paused_gc)
    before = held()
    status = await poller.poll(REGION)
    assert (status.outcome, status.error_code) == ("failure", "Timeout")
    at_once = held(collect=False)  # as the poll returns, before anything else runs
    after_one = held()
    for _ in range(4):
        status = await poller.poll(REGION)
        assert status.outcome == "failure"
    after_five = held()
    # Nothing of the pages is left after a poll that timed out, and nothing accumulates over several.
    assert at_once - before < built * 0.05, (before, at_once, built)
    assert after_one - before < built * 0.05, (before, after_one, built)
    assert after_five - after_one < built * 0.02, (after_one, after_five, built)


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if not was:
            gc.disable()


async def test_a_poll_that_times_out_resumes_the_collector(collector_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poller_module, "DEADLINE_GRACE", 0.0)
    plan = PollPlan(regions=(REGION,), sources=(listing(pages_of_fleet()[:1], finish=False),), timeout=0.05)
    poller = Poller(plan, SelfMetrics((REGION,)), pause=paused_gc)
    assert (await poller.poll(REGION)).error_code == "Timeout"
    assert gc.isenabled()
