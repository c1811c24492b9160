"""Training tasks, notebooks and prices read by the real client from the simulator over loopback HTTP.

The simulator's running tasks and notebooks hold their resource group's capacity, so the GPUs a group
reports as used are exactly what its services' placed pods, training tasks and notebooks hold: what the
exporter reads must account for every card, and a holder it does not list shows as unattributed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import msgspec
import pytest

from exporter.simulator import SimulatorServer
from exporter.simulator.holders import EIGHT_A100, NOTEBOOK_SPEC, TASK_SPEC, Role
from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione.holders import Holders, list_holders
from exporter.tione.holdings import group_gpus
from exporter.tione.prices import HourlyPrice, read_prices, specs_in_use
from exporter.tione.records import ServiceGroup
from exporter.tione.resource_groups import list_resource_groups
from tests.conftest import signed_simulator

REGION = "ap-guangzhou"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with signed_simulator((REGION,), groups=40, seed=3) as server:
        yield server


def client(sim: SimulatorServer) -> TencentCloudClient:
    assert sim.config.secret_id is not None and sim.config.secret_key is not None
    return TencentCloudClient(
        endpoint=sim.url,
        service="tione",
        version="2021-11-11",
        credentials=Credentials(sim.config.secret_id, sim.config.secret_key),
        rate_limiter=TokenBucket(rate=200, burst=20),
    )


def soon() -> float:
    return time.monotonic() + 20


async def read(sim: SimulatorServer, workspaces: tuple[str, ...] | None = None) -> Holders:
    async with client(sim) as api:
        return await list_holders(api, REGION, workspaces or sim.workspaces(REGION), deadline=soon())


def services_by_group(sim: SimulatorServer) -> dict[str, dict[str, int]]:
    """1/100 cards the placed pods of each group's services hold (`RealGpuDetailSet` x pods on a node)."""
    held: dict[str, dict[str, int]] = {}
    for group in sim.fleet(REGION):
        for service in group["Services"]:
            pods = sum(1 for pod in service["ServiceInfo"]["PodInfos"] if pod.get("NodeIP"))
            if not service["ResourceGroupId"] or not pods:
                continue
            cards = held.setdefault(service["ResourceGroupId"], {})
            for detail in service["ServiceInfo"]["Resources"]["RealGpuDetailSet"] or ():
                cards[detail["Name"]] = cards.get(detail["Name"], 0) + detail["Value"] * pods
    return held


async def used_by_group(sim: SimulatorServer) -> dict[str, dict[str, int]]:
    async with client(sim) as api:
        groups = await list_resource_groups(api, REGION, deadline=soon())
    return {
        group.resource_group_id or "": {
            detail.name or "": detail.value or 0
            for detail in (group.used_resource.gpu_detail_set if group.used_resource else None) or ()
        }
        for group in groups
    }


async def test_unfinished_tasks_and_notebooks_are_listed_with_the_status_filter(sim: SimulatorServer) -> None:
    found = await read(sim)
    unfinished = {"SUBMITTING", "PENDING", "STARTING", "RUNNING", "STOPPING", "Starting", "Running", "Stopping"}
    every_task, every_notebook = sim.training_tasks(REGION), sim.notebooks(REGION)
    assert {item["Status"] for item in every_task} - unfinished, "the fleet has finished tasks to leave out"
    assert {item["Status"] for item in every_notebook} - unfinished, "and stopped notebooks"
    assert [task.id for task in found.training_tasks] == [t["Id"] for t in every_task if t["Status"] in unfinished]
    assert [nb.id for nb in found.notebooks] == [n["Id"] for n in every_notebook if n["Status"] in unfinished]
    for project_id in sim.workspaces(REGION):
        for item in [*sim.training_tasks(REGION, project_id), *sim.notebooks(REGION, project_id)]:
            if item["Status"] in unfinished:
                assert found.workspaces[item["Id"]] == project_id
    asked = [record for record in sim.requests if record.action in {"DescribeTrainingTasks", "DescribeNotebooks"}]
    assert len(asked) == 2 * len(sim.workspaces(REGION))
    assert all(record.code == "" and record.body["Filters"][0]["Name"] == "Status" for record in asked)
    by_id = {task.id: task for task in found.training_tasks}
    big = next(t for t in every_task if t["Name"] == "llm-sft-qwen7b")
    assert by_id[big["Id"]].resource_group_id == big["ResourceGroupId"] != ""


async def test_every_used_gpu_is_attributed_exactly(sim: SimulatorServer) -> None:
    found = await read(sim)
    attribution = group_gpus(await used_by_group(sim), services_by_group(sim), found.training_tasks, found.notebooks)
    assert len(attribution) == 3
    for group in attribution.values():
        assert group.unattributed == dict.fromkeys(group.used, 0)
        assert group.attributed == {card: value for card, value in group.used.items() if value}
    production = next(group for group in attribution.values() if group.training_tasks)
    assert production.training_tasks == {"A100": 800}, "2 instances x 4 A100, the pending task holds nothing"
    assert any(group.notebooks == {"A10": 200} for group in attribution.values())


async def test_a_planted_task_is_eight_gpus_and_a_holder_not_listed_is_unattributed(sim: SimulatorServer) -> None:
    group_id = sim.resource_groups(REGION)[1]["ResourceGroupId"]
    before = (await used_by_group(sim))[group_id]
    planted = sim.add_training_task(REGION, [EIGHT_A100], resource_group_id=group_id)
    used = await used_by_group(sim)
    assert used[group_id]["A100"] - before.get("A100", 0) == 800
    found = await read(sim)
    attribution = group_gpus(used, services_by_group(sim), found.training_tasks, found.notebooks)
    assert planted in {task.id for task in found.training_tasks}
    assert attribution[group_id].unattributed == dict.fromkeys(used[group_id], 0)
    # The second workspace's running task and starting notebook are not read: its task shows as unattributed.
    default_only = await read(sim, (sim.workspaces(REGION)[0],))
    partial = group_gpus(used, services_by_group(sim), default_only.training_tasks, default_only.notebooks)
    assert partial[group_id].unattributed == {**dict.fromkeys(used[group_id], 0), "A10": 100}
    sim.add_notebook(REGION, Role(1, 25, "T4", 4000, 20480), resource_group_id=group_id, status="Stopping")
    assert (await used_by_group(sim)) == used, "a stopping notebook holds nothing"


async def test_no_planted_secret_is_decoded(sim: SimulatorServer) -> None:
    secrets = sim.holder_secrets(REGION)
    sent = repr(sim.training_tasks(REGION)) + repr(sim.notebooks(REGION))
    assert len(secrets) >= 10 and all(secret in sent for secret in secrets), "the simulator plants them"
    found = await read(sim)
    decoded = repr(found) + msgspec.json.encode([found.training_tasks, found.notebooks]).decode()
    assert [secret for secret in secrets if secret in decoded] == []


async def test_prices_of_the_pay_as_you_go_specs_in_use(sim: SimulatorServer) -> None:
    sim.set_spec_price(TASK_SPEC, 1234, 987)
    found = await read(sim)
    groups = [msgspec.convert(group, ServiceGroup, strict=False) for group in sim.fleet(REGION)]
    specs = specs_in_use(groups, found.training_tasks, found.notebooks)
    assert TASK_SPEC in specs and NOTEBOOK_SPEC in specs
    async with client(sim) as api:
        priced = await read_prices(api, REGION, specs, deadline=soon())
    assert priced[TASK_SPEC] == HourlyPrice(TASK_SPEC, 12.34, 9.87)
    assert set(priced) == set(specs)
    calls = [record for record in sim.requests if record.action == "DescribeBillingSpecsPrice"]
    assert len(calls) == -(-len(specs) // 20)
    assert all(price.list_yuan is not None and price.discounted_yuan is not None for price in priced.values())
