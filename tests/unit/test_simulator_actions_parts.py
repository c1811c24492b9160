"""The parts behind the simulator's newer actions, without sockets: events' windows, capacity, flags."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import exporter.tione
from exporter.simulator import ACTIONS, Simulator, SimulatorConfig
from exporter.simulator.capacity import Usage, group_resource
from exporter.simulator.command import build_parser
from exporter.simulator.events import Series


def source_actions() -> dict[str, str]:
    """Every action a module of `exporter.tione` calls: its `ACTION`, or `<WHAT>_ACTION` when it calls more
    than one (`holders.py`), or the `ACTIONS` of another product's identity (`monitor_api.py`)."""
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(exporter.tione.__path__):
        module = importlib.import_module(f"exporter.tione.{info.name}")
        for name, value in vars(module).items():
            if (name == "ACTION" or name.endswith("_ACTION")) and isinstance(value, str):
                found[value] = f"{info.name}.{name}"
            elif name == "ACTIONS" and isinstance(value, tuple):
                found.update((action, f"{info.name}.ACTIONS") for action in value)
    return found


def test_the_simulator_serves_every_action_a_source_calls() -> None:
    """The simulator spells its actions itself, as the real API does; an action a source calls that it
    does not serve would leave that source untested end to end."""
    actions = source_actions()
    assert {"DescribeModelServiceGroups", "DescribeEvents", "DescribeWorkspaces"} <= set(actions), "the scan finds them"
    assert {action: where for action, where in actions.items() if action not in ACTIONS} == {}


def test_a_recurring_event_is_clipped_to_the_window() -> None:
    backoff = Series("BackOff", "Warning", "Pod", "pod", "Back-off", first=1000, last=4000, period=300)
    assert backoff.clip(0, 10_000) == (1000, 4000, 11)
    assert backoff.clip(1001, 1900) == (1300, 1900, 3)
    assert backoff.clip(1001, 1899) == (1300, 1600, 2)
    assert backoff.clip(1001, 1299) is None
    assert backoff.clip(4001, 5000) is None
    once = Series("Scheduled", "Normal", "Pod", "pod", "Assigned", first=1000, last=1000)
    assert once.clip(1000, 1000) == (1000, 1000, 1)
    assert once.clip(1001, 2000) is None
    assert backoff.event_id("ms-a-1") == backoff.event_id("ms-a-1") != backoff.event_id("ms-b-1")


def test_group_resource_gpu_is_the_sum_of_its_details() -> None:
    resource = group_resource(Usage(1000, 2048, {"T4": 25, "A100": 800}))
    assert resource == {
        "Cpu": 1000,
        "Memory": 2048,
        "Gpu": 825,
        "GpuDetailSet": [{"Name": "A100", "Value": 800}, {"Name": "T4", "Value": 25}],
    }


def test_usage_never_exceeds_capacity_through_churn() -> None:
    simulator = Simulator(SimulatorConfig(churn=False, groups=60, seed=7, start_time=1_767_225_600.0))
    for _ in range(5):
        simulator.churn_step(20)
        for region in simulator.regions:
            for group in simulator.resource_groups(region):
                used, total = group["UsedResource"], group["TotalResource"]
                assert used["Cpu"] <= total["Cpu"] and used["Memory"] <= total["Memory"]
                totals = {d["Name"]: d["Value"] for d in total["GpuDetailSet"]}
                assert all(d["Value"] <= totals[d["Name"]] for d in used["GpuDetailSet"])


def test_same_seed_same_resource_groups_and_events() -> None:
    config = SimulatorConfig(churn=False, incidents=True, start_time=1_767_225_600.0)
    one, two = Simulator(config), Simulator(config)
    one.churn_step(15)
    two.churn_step(15)
    assert one.resource_groups("ap-guangzhou") == two.resource_groups("ap-guangzhou")
    for service_id in one.incidents().values():
        assert one.events("ap-guangzhou", service_id) == two.events("ap-guangzhou", service_id)


def test_simulate_flags_for_incidents_and_denials() -> None:
    args = build_parser().parse_args(["--incidents", "--deny", "DescribeWorkspaces", "--deny", "DescribeEvents"])
    assert args.incidents is True and args.deny == ["DescribeWorkspaces", "DescribeEvents"]
    defaults = build_parser().parse_args([])
    assert defaults.incidents is False and defaults.deny == []
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--deny", "DescribeEverything"])
    assert set(ACTIONS) == {
        "DescribeModelServiceGroups",
        "DescribeWorkspaces",
        "DescribeEvents",
        "DescribeBillingResourceGroups",
        "GetMonitorData",
        "DescribeBaseMetrics",
        "DescribeTrainingTasks",
        "DescribeNotebooks",
        "DescribeBillingSpecsPrice",
    }
