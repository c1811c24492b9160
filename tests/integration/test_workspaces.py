"""Workspaces are discovered, not guessed: the whole exporter against the simulator over loopback HTTP."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from exporter.simulator.server import SimulatorServer
from tests.conftest import signed_simulator
from tests.integration.test_exporter_simulator import Samples, running_exporter, value

REGION = "ap-guangzhou"
DISCOVER = "DescribeWorkspaces"


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with signed_simulator((REGION,), groups=40, seed=5) as server:
        yield server


def group_workspaces(samples: Samples) -> dict[str, str]:
    return {
        dict(labels)["service_group_id"]: dict(labels)["tione_project_id"]
        for (name, labels), _ in samples.items()
        if name == "tione_service_group_info"
    }


def first_poll(samples: Samples) -> bool:
    return (value(samples, "tione_exporter_polls_total", region=REGION) or 0) >= 1


async def test_every_workspace_is_exported_each_group_once(simulator: SimulatorServer) -> None:
    default, other = simulator.workspaces(REGION)
    in_other = {group["ServiceGroupId"] for group in simulator.fleet(REGION, other)}
    assert in_other, "the simulated fleet has groups outside the default workspace"
    async with running_exporter(simulator, regions=(REGION,)) as running:
        samples = await running.wait_for(first_poll, "the first poll")
        listed = group_workspaces(samples)
        expected = {
            group["ServiceGroupId"]: simulator.workspace_of(REGION, group["ServiceGroupId"])
            for group in simulator.fleet(REGION)
        }
        assert listed == expected
        assert {project for project in listed.values()} == {default, other}
        assert value(samples, "tione_up", region=REGION) == 1.0
        assert value(samples, "tione_exporter_service_groups", region=REGION) == len(expected)
        infos = {
            dict(labels)["tione_project_id"]: dict(labels)
            for (name, labels), v in samples.items()
            if name == "tione_workspace_info" and v == 1.0
        }
        assert set(infos) == {default, other}
        assert all(info["workspace_name"] and info["status"] == "Normal" for info in infos.values())
        assert value(samples, "tione_exporter_api_requests_total", region=REGION, action=DISCOVER) == 1.0
        requests = [r for r in simulator.requests if r.action == "DescribeModelServiceGroups"]
        assert {r.body.get("TiProjectId") for r in requests} == {default, other}, "each workspace asked by its id"


async def test_without_permission_to_list_workspaces_the_default_one_is_polled(simulator: SimulatorServer) -> None:
    simulator.deny(DISCOVER)
    default, _ = simulator.workspaces(REGION)
    async with running_exporter(simulator, regions=(REGION,)) as running:
        samples = await running.wait_for(
            lambda s: (value(s, "tione_exporter_polls_total", region=REGION) or 0) >= 3, "three polls"
        )
        assert value(samples, "tione_up", region=REGION) == 1.0
        listed = group_workspaces(samples)
        assert set(listed) == {group["ServiceGroupId"] for group in simulator.fleet(REGION, default)}
        assert set(listed.values()) == {""}, "read as the default workspace, without its id"
        assert value(samples, "tione_workspace_info") is None
        errors = value(
            samples, "tione_exporter_api_errors_total", region=REGION, action=DISCOVER, code="UnauthorizedOperation"
        )
        assert errors is not None and errors >= 1
        logs = running.logs.getvalue()
        assert logs.count("workspaces cannot be listed") == 1, "one clear warning, not one per poll"
        assert "allow tione:DescribeWorkspaces" in logs


async def test_a_workspace_that_cannot_be_read_costs_only_itself(simulator: SimulatorServer) -> None:
    default, other = simulator.workspaces(REGION)
    missing = "ws-" + secrets.token_hex(4)
    flags = {"--tione.project-ids": f"{missing},{other}"}
    async with running_exporter(simulator, regions=(REGION,), **flags) as running:
        samples = await running.wait_for(first_poll, "the first poll")
        assert value(samples, "tione_up", region=REGION) == 1.0
        listed = group_workspaces(samples)
        assert set(listed) == {group["ServiceGroupId"] for group in simulator.fleet(REGION, other)}
        assert set(listed.values()) == {other}
        assert (
            value(
                samples, "tione_exporter_skipped_objects_total", region=REGION, kind="workspace", reason="not_readable"
            )
            or 0
        ) >= 1
        page = (await running.http.get("/")).text
        assert missing in page
        assert default not in {info for info in listed.values()}


async def test_when_no_workspace_can_be_read_the_region_fails(simulator: SimulatorServer) -> None:
    flags = {"--tione.project-ids": "ws-nope1,ws-nope2"}
    async with running_exporter(simulator, regions=(REGION,), **flags) as running:
        samples = await running.wait_for(first_poll, "the first poll")
        assert value(samples, "tione_up", region=REGION) == 0.0
