"""The whole exporter with Cloud Monitor on, against the simulator over loopback HTTP.

10 running and 13 stopped groups: only running ones are asked, ten a request, windows well behind now,
planted figures exact; a budget that allows one collection every 5 s with `--monitor.interval 500ms`
(the same rule as one every 5 minutes with `1m`, in CI time) lengthens the interval and bounds the
requests; keys without the permission lose only these series, with one warning line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from exporter.simulator import Traffic
from exporter.simulator.server import SimulatorServer
from exporter.tione import monitor
from exporter.tione import monitor_api as api
from tests.conftest import signed_simulator
from tests.integration.test_exporter_simulator import running_exporter, value

REGION = "ap-guangzhou"
RUNNING, STOPPED = 10, 13
EVERY = 5.0
"""Seconds between collections the budget allows: 4 requests a collection (10 groups, 4 metrics)."""
BUDGET = int(4 * monitor.SECONDS_PER_MONTH / EVERY)


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with signed_simulator((REGION,), groups=0, seed=3, monitor_rate_limit=None) as server:
        yield server


def fleet(sim: SimulatorServer) -> tuple[list[str], list[str]]:
    """`RUNNING` groups all Normal, `STOPPED` all Stopped, in the default workspace."""
    ids = sim.add_groups(REGION, RUNNING + STOPPED, "")
    for index, group_id in enumerate(ids):
        group = next(g for g in sim.fleet(REGION) if g["ServiceGroupId"] == group_id)
        for service in group["Services"]:
            status = "Normal" if index < RUNNING else "Stopped"
            sim.set_service_status(REGION, service["ServiceId"], status, replicas=1 if status == "Normal" else None)
    return ids[:RUNNING], ids[RUNNING:]


def monitor_flags(sim: SimulatorServer, budget: int = BUDGET) -> dict[str, str]:
    return {
        "--monitor.endpoint": sim.url,
        "--monitor.interval": "500ms",
        "--monitor.max-requests-per-month": str(budget),
        "--monitor.rate-limit": "100",
        "--poll.timeout": "2s",
        "--poll.interval": "2500ms",
    }


def asked(sim: SimulatorServer) -> list[dict[str, object]]:
    return [r.body for r in sim.requests if r.action == api.GET_MONITOR_DATA]


async def test_running_groups_only_exact_figures_and_an_interval_the_budget_affords(sim: SimulatorServer) -> None:
    running, stopped = fleet(sim)
    sim.set_traffic(REGION, running[0], Traffic(calls_per_second=10, errors_per_second=2, response_ms=120))
    started = time.time()
    async with running_exporter(sim, (REGION,), **monitor_flags(sim)) as run:
        samples = await run.wait_for(
            lambda s: value(s, "tione_service_group_requests_per_second", service_group_id=running[0]) is not None,
            "the planted group's traffic",
        )
        group = {"service_group_id": running[0]}
        assert value(samples, "tione_service_group_requests_per_second", **group) == 10.0
        assert value(samples, "tione_service_group_failed_requests_per_second", **group) == 2.0
        assert value(samples, "tione_service_group_response_time_seconds", **group) == 0.12
        assert value(samples, "tione_exporter_monitor_interval_seconds", region=REGION) == EVERY
        assert value(samples, "tione_exporter_monitor_budget_requests_per_month", region=REGION) == BUDGET
        assert value(samples, "tione_up", region=REGION) == 1.0
        for group_id in stopped:
            assert value(samples, "tione_service_group_requests_per_second", service_group_id=group_id) is None
        await asyncio.sleep(2 * EVERY + 1)
        elapsed = time.time() - started
        samples = await run.scrape()
        counted = value(samples, "tione_exporter_api_requests_total", region=REGION, action=api.GET_MONITOR_DATA)
    bodies = asked(sim)
    collections = int(elapsed // EVERY) + 1
    assert 4 <= len(bodies) <= 4 * collections
    assert len(bodies) <= counted <= len(bodies) + 4, "counted as sent: at most one batch still in flight at the scrape"
    names = set()
    for body in bodies:
        instances = body["Instances"]
        assert isinstance(instances, list) and 0 < len(instances) <= api.MAX_INSTANCES
        names |= {item["Dimensions"][0]["Value"] for item in instances}
        end = datetime.fromisoformat(str(body["EndTime"])).timestamp()
        assert end <= time.time() - 120 and end >= started - 300
    assert names == set(running)


async def test_without_the_permission_only_these_series_go_with_one_warning(sim: SimulatorServer) -> None:
    running, stopped = fleet(sim)
    sim.deny(api.GET_MONITOR_DATA, "AuthFailure.UnauthorizedOperation")
    async with running_exporter(sim, (REGION,), **monitor_flags(sim)) as run:
        samples = await run.wait_for(
            lambda s: value(s, "tione_exporter_monitor_interval_seconds", region=REGION) is not None, "the budget"
        )
        await asyncio.sleep(2 * EVERY)
        samples = await run.scrape()
        logs = run.logs.getvalue()
    assert value(samples, "tione_up", region=REGION) == 1.0
    for group_id in running + stopped:
        assert value(samples, "tione_service_group_info", service_group_id=group_id) == 1.0
    assert not [name for name, _ in samples if name.startswith("tione_service_group_requests")]
    warnings = [line for line in logs.splitlines() if "Cloud Monitor is not permitted" in line]
    assert len(warnings) == 1 and "level=warn" in warnings[0]
    assert 1 <= len(asked(sim)) <= 4  # one collection (its four workers), not asked again within the hour
    assert "source failed" not in logs


async def test_a_group_failing_a_fifth_of_its_calls_is_on_the_page_and_in_the_json(sim: SimulatorServer) -> None:
    running, _ = fleet(sim)
    sim.set_traffic(REGION, running[3], Traffic(calls_per_second=10, errors_per_second=2, response_ms=120))
    async with running_exporter(sim, (REGION,), **monitor_flags(sim)) as run:
        started = time.monotonic()
        await run.wait_for(
            lambda s: value(s, "tione_service_group_requests_per_second", service_group_id=running[3]) is not None,
            "the first collection",
        )
        answer = (await run.http.get("/api/v1/attention")).json()
        page = (await run.http.get("/")).text
    rows = [row for row in answer["services"] if row["service_group_id"] == running[3]]
    assert len(rows) == 1 and time.monotonic() - started < 15
    row = rows[0]
    assert (row["reason"], row["service_id"], row["error_ratio"], row["requests_per_second"]) == (
        "HighErrorRatio",
        "",
        0.2,
        10.0,
    )
    assert row["available_replicas"] == row["desired_replicas"] and row["response_time_seconds"] == 0.12
    assert "HighErrorRatio" in page and running[3] in page
