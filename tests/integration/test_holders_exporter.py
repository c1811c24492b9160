"""Who holds the GPUs, and what they cost, end to end: the exporter against the simulator over loopback HTTP.

The simulator's resource groups count what their services' placed pods, running training tasks and
running notebooks hold, so /metrics must account for every used card: per group and card model, the
services' cards (`tione_service_allocated_physical_gpus` on the group `tione_service_info` names), the
tasks', the notebooks' and the unattributed ones add up to `tione_resource_group_used_gpus` exactly.
"""

from __future__ import annotations

from collections import defaultdict

from exporter.simulator.holders import EIGHT_A100, TASK_SPEC, Role
from exporter.simulator.server import SimulatorServer
from tests.integration.test_exporter_simulator import REGIONS, Samples, running_exporter, simulator, value

__all__ = ["simulator"]  # the fixture, shared with the other exporter tests

REGION = REGIONS[0]


def labels_of(samples: Samples, name: str, region: str = REGION) -> list[tuple[dict[str, str], float]]:
    return [
        (dict(labels), number) for (n, labels), number in samples.items() if n == name and ("region", region) in labels
    ]


def by_group(samples: Samples, region: str = REGION) -> dict[str, dict[str, dict[str, float]]]:
    """Per resource group and card model, cards used and held by each kind of holder, read from /metrics."""
    table: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    for labels, number in labels_of(samples, "tione_resource_group_used_gpus", region):
        table[labels["resource_group_id"]][labels["gpu_type"]]["used"] += number
    for labels, number in labels_of(samples, "tione_resource_group_unattributed_gpus", region):
        table[labels["resource_group_id"]][labels["gpu_type"]]["unattributed"] += number
    holders = (
        ("service", "tione_service_info", "service_id", "tione_service_allocated_physical_gpus"),
        ("training_task", "tione_training_task_info", "training_task_id", "tione_training_task_allocated_gpus"),
        ("notebook", "tione_notebook_info", "notebook_id", "tione_notebook_allocated_gpus"),
    )
    for kind, info, key, held in holders:
        group_of = {labels[key]: labels["resource_group_id"] for labels, _ in labels_of(samples, info, region)}
        for labels, number in labels_of(samples, held, region):
            group = group_of.get(labels[key], "")
            if group:
                table[group][labels["gpu_type"]][kind] += number
    return table


def has_attribution(samples: Samples) -> bool:
    """The first poll of both regions read the groups and the holders (unattributed cards have no series)."""
    families = ("tione_resource_group_used_gpus", "tione_training_task_info", "tione_notebook_info")
    return all(labels_of(samples, family, region) for region in REGIONS for family in families)


async def test_every_used_gpu_is_attributed_or_shown_unattributed_exactly(simulator: SimulatorServer) -> None:
    group_id = simulator.resource_groups(REGION)[1]["ResourceGroupId"]
    planted = simulator.add_training_task(REGION, [EIGHT_A100], resource_group_id=group_id, name="planted-8")
    async with running_exporter(simulator) as running:
        samples = await running.wait_for(has_attribution, "the groups and holders of both regions")
    for region in REGIONS:
        table = by_group(samples, region)
        assert len(table) == 2, "the groups with GPUs (the third is CPU-only)"
        for group, cards in table.items():
            for card, held in cards.items():
                kinds = held["service"] + held["training_task"] + held["notebook"]
                assert held["used"] == kinds + held["unattributed"], (region, group, card, dict(held))
                assert held["unattributed"] == 0.0, "the simulator's every holder is listed: no series"
        assert any(cards[card]["training_task"] for cards in table.values() for card in cards)
        assert any(cards[card]["notebook"] for cards in table.values() for card in cards)
    # the planted task: 2 instances x 4 A100 = 8 cards, on the group it was planted on
    ids = {"region": REGION, "training_task_id": planted}
    assert value(samples, "tione_training_task_allocated_gpus", gpu_type="A100", **ids) == 8.0
    assert value(samples, "tione_training_task_info", resource_group_id=group_id, **ids) == 1.0
    asked = [r for r in simulator.requests if r.action in {"DescribeTrainingTasks", "DescribeNotebooks"}]
    assert {r.body.get("TiProjectId") for r in asked if r.region == REGION} == set(simulator.workspaces(REGION))


async def test_a_holder_in_a_workspace_not_polled_shows_as_unattributed(simulator: SimulatorServer) -> None:
    default, second = simulator.workspaces(REGION)
    notebook = simulator.add_notebook(
        REGION,
        Role(1, 300, "A100", 8000, 32768),
        resource_group_id=simulator.resource_groups(REGION)[0]["ResourceGroupId"],
        project_id=second,
    )
    group_id = simulator.resource_groups(REGION)[0]["ResourceGroupId"]
    async with running_exporter(simulator, regions=(REGION,), **{"--tione.project-ids": default}) as running:
        samples = await running.wait_for(
            lambda s: bool(labels_of(s, "tione_resource_group_unattributed_gpus")), "unattributed GPUs"
        )
    assert value(samples, "tione_notebook_info", notebook_id=notebook) is None
    unattributed = value(samples, "tione_resource_group_unattributed_gpus", resource_group_id=group_id, gpu_type="A100")
    assert unattributed == 3.0, "the notebook of the workspace not polled holds 3 A100"
    for group, cards in by_group(samples).items():
        for card, held in cards.items():
            kinds = held["service"] + held["training_task"] + held["notebook"]
            assert held["used"] == kinds + held["unattributed"], (group, card, dict(held))


async def test_planted_prices_are_exact_in_yuan_and_asked_once_per_batch(simulator: SimulatorServer) -> None:
    simulator.set_spec_price(TASK_SPEC, 1234, 987)
    async with running_exporter(simulator, regions=(REGION,)) as running:
        samples = await running.wait_for(
            lambda s: bool(labels_of(s, "tione_spec_hourly_price_yuan")), "the prices of the specs in use"
        )
    assert value(samples, "tione_spec_hourly_price_yuan", spec=TASK_SPEC, price="list") == 12.34
    assert value(samples, "tione_spec_hourly_price_yuan", spec=TASK_SPEC, price="discounted") == 9.87
    priced = {labels["spec"] for labels, _ in labels_of(samples, "tione_spec_hourly_price_yuan")}
    paid_by_hour = {
        service["ServiceInfo"]["InstanceType"]
        for group in simulator.fleet(REGION)
        for service in group["Services"]
        if service["ChargeType"] in {"POSTPAID_BY_HOUR", "HYBRID_PAID"} and service["ServiceInfo"].get("InstanceType")
    }
    assert paid_by_hour <= priced and TASK_SPEC in priced
    task_specs = {labels["spec"] for labels, _ in labels_of(samples, "tione_training_task_instances")}
    notebook_specs = {labels["spec"] for labels, _ in labels_of(samples, "tione_notebook_instances")}
    assert TASK_SPEC in task_specs and (task_specs | notebook_specs) <= priced
    calls = [r for r in simulator.requests if r.action == "DescribeBillingSpecsPrice"]
    assert len(calls) == -(-len(priced) // 20), "one call per batch of 20, once an hour"


async def test_the_holder_and_price_calls_can_be_switched_off(simulator: SimulatorServer) -> None:
    flags = {"--holders.interval": "0", "--prices.interval": "0"}
    async with running_exporter(simulator, regions=(REGION,), **flags) as running:
        samples = await running.wait_for(lambda s: value(s, "tione_up", region=REGION) == 1.0, "the first poll")
    names = {name for name, _ in samples}
    assert not {name for name in names if name.startswith(("tione_training_task", "tione_notebook", "tione_spec_"))}
    assert "tione_resource_group_unattributed_gpus" not in names
    assert not [
        r
        for r in simulator.requests
        if r.action.startswith(("DescribeTraining", "DescribeNotebooks", "DescribeBillingSpecs"))
    ]
