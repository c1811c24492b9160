"""Resource-group capacity end to end: the exporter against the simulator over loopback HTTP.

The capacity call is a secondary source: its series must equal what the simulator's groups hold, in base
units, and its failure (permission denied, throttled) must leave `tione_up` and every service series as
they would be without it, visible only in the API error counter and a log line.
"""

from __future__ import annotations

import pytest

from exporter.simulator.server import SimulatorServer
from exporter.tione.resource_groups import ACTION
from tests.integration.test_exporter_simulator import (
    REGIONS,
    Samples,
    running_exporter,
    simulator,
    value,
)

__all__ = ["simulator"]  # the fixture, shared with the other exporter tests

FAST = {"--capacity.interval": "1s"}


def errors(samples: Samples, region: str, code: str) -> float:
    found = value(samples, "tione_exporter_api_errors_total", region=region, action=ACTION, code=code)
    return found or 0.0


def polled(samples: Samples, region: str) -> float:
    return value(samples, "tione_exporter_polls_total", region=region) or 0.0


def has_capacity(samples: Samples, region: str) -> bool:
    return any(name == "tione_resource_group_nodes" and ("region", region) in labels for name, labels in samples)


NO_MONITOR = {"--monitor.max-requests-per-month": "0"}
"""Cloud Monitor off where two runs' series are compared: its figures follow the simulated clock."""


def service_series(samples: Samples) -> Samples:
    """Every TI-ONE series but the capacity families (not the exporter's own, nor its process's)."""
    return {
        key: number
        for key, number in samples.items()
        if key[0].startswith("tione_") and not key[0].startswith(("tione_exporter_", "tione_resource_group_"))
    }


async def test_capacity_series_are_the_groups_in_base_units(simulator: SimulatorServer) -> None:
    region = REGIONS[0]
    async with running_exporter(simulator) as running:
        samples = await running.wait_for(
            lambda s: all(has_capacity(s, region) for region in REGIONS), "capacity series of both regions"
        )
    groups = simulator.resource_groups(region)
    assert len(groups) == 3
    for group in groups:
        ids = {"region": region, "resource_group_id": group["ResourceGroupId"]}
        total, used = group["TotalResource"], group["UsedResource"]
        name = group["ResourceGroupName"]
        assert value(samples, "tione_resource_group_info", resource_group_name=name, **ids) == 1.0
        assert value(samples, "tione_resource_group_nodes", **ids) == group["TotalInstance"]
        assert value(samples, "tione_resource_group_free_nodes", **ids) == group["FreeInstance"]
        assert value(samples, "tione_resource_group_capacity_cpu_cores", **ids) == total["Cpu"] / 1000
        assert value(samples, "tione_resource_group_used_cpu_cores", **ids) == used["Cpu"] / 1000
        assert value(samples, "tione_resource_group_capacity_memory_bytes", **ids) == total["Memory"] * 1048576
        assert value(samples, "tione_resource_group_used_memory_bytes", **ids) == used["Memory"] * 1048576
        for detail in total["GpuDetailSet"]:
            cards = value(samples, "tione_resource_group_capacity_gpus", gpu_type=detail["Name"], **ids)
            assert cards == detail["Value"] / 100
        for detail in used["GpuDetailSet"]:
            cards = value(samples, "tione_resource_group_used_gpus", gpu_type=detail["Name"], **ids)
            assert cards == detail["Value"] / 100
    asked = [request.body for request in simulator.requests if request.action == ACTION]
    assert asked and all(body["Limit"] == 100 and body["DontShowInstanceSet"] is True for body in asked)
    assert all("TiProjectId" not in body for body in asked)


@pytest.mark.parametrize("code", ["UnauthorizedOperation", "RequestLimitExceeded"])
async def test_a_failing_capacity_call_leaves_every_service_series_and_tione_up_alone(
    simulator: SimulatorServer, code: str
) -> None:
    async with running_exporter(simulator, **{"--capacity.interval": "0", **NO_MONITOR}) as running:
        await running.wait_for(
            lambda s: all(value(s, "tione_up", region=region) == 1.0 for region in REGIONS), "the reference polls"
        )
        reference = service_series(await running.scrape())
    simulator.deny(ACTION, code=code)
    async with running_exporter(simulator, **FAST, **NO_MONITOR) as running:
        samples = await running.wait_for(
            lambda s: all(errors(s, region, code) >= 2 and polled(s, region) >= 2 for region in REGIONS),
            f"two polls of each region with {code} counted",
        )
        assert all(value(samples, "tione_up", region=region) == 1.0 for region in REGIONS)
        assert all(value(samples, "tione_exporter_poll_errors_total", region=region) == 0.0 for region in REGIONS)
        assert service_series(samples) == reference
        assert not [name for name, _ in samples if name.startswith("tione_resource_group_")]
        assert f"action={ACTION}" in running.logs.getvalue()


async def test_capacity_series_outlive_a_failure_within_the_staleness_window(simulator: SimulatorServer) -> None:
    region = REGIONS[0]
    async with running_exporter(simulator, **FAST) as running:
        before = await running.wait_for(lambda s: has_capacity(s, region), "the capacity series")
        simulator.deny(ACTION)
        polls = polled(before, region)
        after = await running.wait_for(
            lambda s: errors(s, region, "UnauthorizedOperation") >= 2 and polled(s, region) >= polls + 2,
            "the denied calls counted",
        )
        assert value(after, "tione_up", region=region) == 1.0
        kept = {key: number for key, number in after.items() if key[0].startswith("tione_resource_group_")}
        assert kept == {key: number for key, number in before.items() if key[0].startswith("tione_resource_group_")}


async def test_capacity_series_go_after_the_staleness_window_while_the_region_stays_up(
    simulator: SimulatorServer,
) -> None:
    region = REGIONS[0]
    flags = FAST | {"--poll.max-staleness": "2s"}
    async with running_exporter(simulator, **flags) as running:
        await running.wait_for(lambda s: has_capacity(s, region), "the capacity series")
        simulator.deny(ACTION)
        samples = await running.wait_for(lambda s: not has_capacity(s, region), "the capacity series to go")
        assert errors(samples, region, "UnauthorizedOperation") >= 1
        assert value(samples, "tione_up", region=region) == 1.0
        assert any(name == "tione_service_info" and ("region", region) in labels for name, labels in samples)
        simulator.allow(ACTION)
        await running.wait_for(lambda s: has_capacity(s, region), "the capacity series to come back")
