"""Cloud Monitor's logic through a real client, signed for service `monitor`, against the simulator on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec
import pytest

from exporter.simulator import SimulatorConfig, SimulatorServer, Traffic
from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione import monitor
from exporter.tione import monitor_api as api
from exporter.tione.records import ServiceGroup

REGION = "ap-guangzhou"
SECRET_ID, SECRET_KEY = "AKIDmonitor000000000000000000001", "monitor-secret-key"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        groups=0,
        regions=(REGION,),
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        churn=False,
        rate_limit=None,
        monitor_rate_limit=None,
        monitor_test_metric=True,
    )
    with SimulatorServer(config) as server:
        yield server


def fleet(sim: SimulatorServer, running: int, stopped: int) -> tuple[list[ServiceGroup], list[str], list[str]]:
    """`running` groups all Normal and `stopped` groups all Stopped; the listing's records, and the two id lists."""
    ids = sim.add_groups(REGION, running + stopped)
    for index, group_id in enumerate(ids):
        group = next(g for g in sim.fleet(REGION) if g["ServiceGroupId"] == group_id)
        for service in group["Services"]:
            status = "Normal" if index < running else "Stopped"
            sim.set_service_status(REGION, service["ServiceId"], status, replicas=1 if status == "Normal" else None)
    records = [msgspec.convert(g, ServiceGroup, strict=False) for g in sim.fleet(REGION)]
    return records, ids[:running], ids[running:]


def collect(sim: SimulatorServer, groups: list[ServiceGroup], metrics: tuple[str, ...] = api.GROUP_METRICS) -> Any:
    async def go() -> monitor.Collection:
        client = TencentCloudClient(
            endpoint=sim.url,
            service=api.SERVICE,
            version=api.VERSION,
            credentials=Credentials(SECRET_ID, SECRET_KEY),
            rate_limiter=TokenBucket(rate=200, burst=20),
            backoff_base=0.02,
            backoff_cap=0.1,
        )
        try:
            queries = [monitor.Query(metric, tuple(monitor.instances(groups))) for metric in metrics]
            window = monitor.window(time.time(), period=60, delay=120)
            return await monitor.collect(monitor.bind(client), REGION, queries, window, deadline=time.monotonic() + 20)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_only_running_groups_are_asked_in_batches_of_ten_with_exact_planted_figures(sim: SimulatorServer) -> None:
    groups, running, stopped = fleet(sim, 10, 13)
    sim.set_traffic(REGION, running[0], Traffic(calls_per_second=10, errors_per_second=2, response_ms=120))
    sim.clear_requests()
    started = time.time()
    found = collect(sim, groups)
    asked = [r for r in sim.requests if r.action == api.GET_MONITOR_DATA]
    assert found.requests == len(asked) == 4 and found.errors == () and found.denied == ""
    for request in asked:
        assert request.status == 200 and request.code == ""
        assert request.headers["x-tc-version"] == api.VERSION
        assert 0 < len(request.body["Instances"]) <= 10
        end = datetime.fromisoformat(request.body["EndTime"])
        assert end.utcoffset() is not None and started - end.timestamp() >= 60
    names = {item["Dimensions"][0]["Value"] for r in asked for item in r.body["Instances"]}
    assert names == set(running) and not names & set(stopped)
    traffic = monitor.group_traffic(found.samples)
    assert set(traffic) == set(running)
    planted = traffic[running[0]]
    assert planted.requests_per_second == 10.0 and planted.errors_per_second == 2.0
    assert planted.response_time_seconds == 0.12 and planted.throttled_per_second == 0.0
    assert planted.period_end % 60 == 0 and started - planted.period_end >= 120


def test_a_key_without_the_permission_gets_one_refusal(sim: SimulatorServer) -> None:
    groups, _, _ = fleet(sim, 25, 0)
    sim.deny(api.GET_MONITOR_DATA, "AuthFailure.UnauthorizedOperation")
    sim.clear_requests()
    found = collect(sim, groups)
    assert found.denied == "AuthFailure.UnauthorizedOperation" and found.samples == ()
    refused = [r for r in sim.requests if r.action == api.GET_MONITOR_DATA]
    assert 1 <= len(refused) <= 4 and {r.code for r in refused} == {"AuthFailure.UnauthorizedOperation"}


def test_a_deleted_group_costs_only_itself(sim: SimulatorServer) -> None:
    groups, running, _ = fleet(sim, 10, 0)
    sim.delete_group(REGION, running[4])
    found = collect(sim, groups, (api.CALLS,))
    assert found.unknown == (((api.GROUP_DIMENSION, running[4]),),)
    assert set(monitor.group_traffic(found.samples)) == set(running) - {running[4]}
    assert found.errors == () and found.requests <= 8


def test_a_signature_for_tione_is_refused_by_monitor(sim: SimulatorServer) -> None:
    async def go() -> str:
        client = TencentCloudClient(
            endpoint=sim.url, service="tione", version=api.VERSION, credentials=Credentials(SECRET_ID, SECRET_KEY)
        )
        try:
            await client.call(
                api.DESCRIBE_BASE_METRICS, REGION, monitor.describe_params(), deadline=time.monotonic() + 5
            )
        except Exception as exc:
            return getattr(exc, "code", "")
        finally:
            await client.aclose()
        return ""

    assert asyncio.run(go()) == "AuthFailure.SignatureFailure"


def test_the_catalogue_and_the_test_metric_through_the_generic_path(sim: SimulatorServer) -> None:
    groups, running, _ = fleet(sim, 3, 2)

    async def describe() -> dict[str, monitor.MetricInfo]:
        client = TencentCloudClient(
            endpoint=sim.url, service=api.SERVICE, version=api.VERSION, credentials=Credentials(SECRET_ID, SECRET_KEY)
        )
        try:
            return await monitor.describe_metrics(monitor.bind(client), REGION, deadline=time.monotonic() + 5)
        finally:
            await client.aclose()

    catalogue = asyncio.run(describe())
    assert {*api.GROUP_METRICS, api.SUCCESSES} < set(catalogue)
    assert catalogue[api.CALLS].dimensions() == (api.GROUP_DIMENSION,)
    extra = next(info for name, info in catalogue.items() if name not in (*api.GROUP_METRICS, api.SUCCESSES))
    dimensions = extra.dimensions()
    assert dimensions == ("ServiceGroupId", "ServiceId") and extra.unit == "%"
    found = collect(sim, groups, ())
    assert found.requests == 0
    queries = [monitor.Query(extra.name, tuple(monitor.instances(groups, dimensions)))]

    async def go() -> monitor.Collection:
        client = TencentCloudClient(
            endpoint=sim.url, service=api.SERVICE, version=api.VERSION, credentials=Credentials(SECRET_ID, SECRET_KEY)
        )
        try:
            window = monitor.window(time.time(), period=60, delay=120)
            return await monitor.collect(monitor.bind(client), REGION, queries, window, deadline=time.monotonic() + 10)
        finally:
            await client.aclose()

    samples = asyncio.run(go()).samples
    assert {dict(s.dimensions)["ServiceGroupId"] for s in samples} == set(running)
    assert all(0 <= s.value <= 100 and dict(s.dimensions)["ServiceId"] for s in samples)
    assert monitor.family_name(extra.name).startswith("tione_monitor_")


def test_a_window_ending_too_close_to_now_is_empty_and_more_than_ten_instances_is_refused(sim: SimulatorServer) -> None:
    import httpx

    _, running, _ = fleet(sim, 11, 0)
    sim.remove_credentials(SECRET_ID)
    headers = {"X-TC-Action": api.GET_MONITOR_DATA, "X-TC-Version": api.VERSION, "X-TC-Region": REGION}
    batch = [((api.GROUP_DIMENSION, group_id),) for group_id in running]
    late = monitor.request(api.CALLS, batch[:10], monitor.window(time.time(), period=60, delay=0))
    answer = httpx.post(sim.url, json=late, headers=headers, timeout=10).json()["Response"]
    assert len(answer["DataPoints"]) == 10 and all(point["Values"] == [] for point in answer["DataPoints"])
    body = {**late, "Instances": late["Instances"] + [api.instance(batch[10])]}
    answer = httpx.post(sim.url, json=body, headers=headers, timeout=10).json()["Response"]
    assert answer["Error"]["Code"] == "InvalidParameterValue"
