"""Churn: deterministic per seed and step, realistic transitions, and the fleet stays consistent."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from exporter.simulator import Simulator, SimulatorConfig
from exporter.simulator.workload import iso_cst
from tests.unit.test_simulator_fleet import START, assert_group_consistent, condition

REGION = "ap-guangzhou"


def make(seed: int = 1, groups: int = 40) -> Simulator:
    return Simulator(SimulatorConfig(groups=groups, seed=seed, churn=False, start_time=START, churn_interval=2.0))


def services_by_id(simulator: Simulator) -> dict[str, dict[str, Any]]:
    return {s["ServiceId"]: s for group in simulator.fleet(REGION) for s in group["Services"]}


def test_same_seed_gives_the_same_fleet_after_the_same_steps() -> None:
    first, second = make(), make()
    first.churn_step(25)
    for _ in range(25):
        second.churn_step()
    assert first.fleet(REGION) == second.fleet(REGION)
    assert first.fleet("ap-shanghai") == second.fleet("ap-shanghai")
    assert first.fleet(REGION) != make().fleet(REGION), "25 steps changed nothing"


def test_different_seeds_churn_differently() -> None:
    first, second = make(seed=1), make(seed=2)
    first.churn_step(5)
    second.churn_step(5)
    assert first.fleet(REGION) != second.fleet(REGION)


def test_invariants_hold_through_many_steps() -> None:
    simulator = make(seed=5, groups=60)
    seen_statuses: set[str] = set()
    for _ in range(60):
        simulator.churn_step()
        fleet = simulator.fleet(REGION)
        for group in fleet:
            assert_group_consistent(group)
            seen_statuses.update(service["Status"] for service in group["Services"])
        assert 30 <= len(fleet) + len(simulator.fleet(REGION, simulator.workspaces(REGION)[1])) <= 100
    assert {"Normal", "Stopped", "Abnormal", "Pending"} <= seen_statuses


def test_groups_appear_and_disappear() -> None:
    simulator = make(groups=40)
    before = {group["ServiceGroupId"] for group in simulator.fleet(REGION)}
    simulator.churn_step(40)
    after = {group["ServiceGroupId"] for group in simulator.fleet(REGION)}
    assert after - before, "no group appeared"
    assert before - after, "no group disappeared"
    fresh = [group for group in simulator.fleet(REGION) if group["ServiceGroupId"] in after - before]
    assert all(group["CreateTime"] > "2025-10-09T08:53:20Z" for group in fresh)


def test_scale_up_is_a_rollout_then_settles() -> None:
    simulator = make(seed=3, groups=80)
    rollouts: dict[str, int] = {}
    for _ in range(30):
        simulator.churn_step()
        for service_id, service in services_by_id(simulator).items():
            workload = service["ServiceInfo"]["Status"]
            if service["Status"] == "Normal" and workload["ReadyReplicas"] < workload["Replicas"]:
                rollouts.setdefault(service_id, service["ServiceInfo"]["Replicas"])
                assert condition(service, "Progressing")["Reason"] == "ReplicaSetUpdated"
    assert rollouts, "no rollout seen"
    simulator.churn_step(20)
    final = services_by_id(simulator)
    settled = [sid for sid in rollouts if sid in final and final[sid]["Status"] == "Normal"]
    assert any(
        final[sid]["ServiceInfo"]["Status"]["ReadyReplicas"] == final[sid]["ServiceInfo"]["Replicas"] for sid in settled
    )


def test_failure_flips_available_with_a_new_transition_time() -> None:
    simulator = make(seed=2, groups=60)
    before = services_by_id(simulator)
    for step in range(1, 40):
        simulator.churn_step()
        after = services_by_id(simulator)
        for service_id, service in after.items():
            old = before.get(service_id)
            if old is not None and old["Status"] == "Normal" and service["Status"] == "Abnormal":
                available = condition(service, "Available")
                assert available["Status"] == "False"
                assert available["LastTransitionTime"] == iso_cst(START + step * 2.0)
                assert condition(old, "Available")["LastTransitionTime"] != available["LastTransitionTime"]
                return
        before = after
    raise AssertionError("no service went from Normal to Abnormal in 40 steps")


def test_set_service_status_keeps_group_and_pods_consistent() -> None:
    simulator = make(groups=20)
    group = next(g for g in simulator.fleet(REGION) if g["Services"][0]["Status"] == "Normal")
    service_id = group["Services"][0]["ServiceId"]
    simulator.set_service_status(REGION, service_id, "Stopped")
    stopped = services_by_id(simulator)[service_id]
    assert stopped["Status"] == "Stopped" and stopped["ServiceInfo"]["Replicas"] == 0
    assert stopped["ServiceInfo"]["PodInfos"] == []
    simulator.set_service_status(REGION, service_id, "Normal", replicas=3)
    running = services_by_id(simulator)[service_id]
    assert running["ServiceInfo"]["Replicas"] == 3 and running["ServiceInfo"]["Status"]["ReadyReplicas"] == 3
    simulator.set_service_status(REGION, service_id, "Abnormal")
    for refreshed in simulator.fleet(REGION):
        assert_group_consistent(refreshed)
    abnormal = services_by_id(simulator)[service_id]
    assert abnormal["ServiceInfo"]["Status"]["ReadyReplicas"] == 2
    assert condition(abnormal, "Available")["Status"] == "False"
    simulator.set_service_status(REGION, service_id, "ARREARS_STOP")
    assert services_by_id(simulator)[service_id]["BusinessStatus"] == "ARREARS_STOP"


def test_add_and_delete_groups() -> None:
    simulator = make(groups=5)
    added = simulator.add_groups(REGION, 3, history=True)
    single = simulator.add_group(REGION, simulator.workspaces(REGION)[1])
    ids = {group["ServiceGroupId"] for group in simulator.fleet(REGION)}
    assert set(added) | {single} <= ids
    assert simulator.workspace_of(REGION, single) == simulator.workspaces(REGION)[1]
    times = {g["ServiceGroupId"]: g["CreateTime"] for g in simulator.fleet(REGION)}
    assert all(times[group_id] < "2025-10-09T08:53:20Z" for group_id in added), "like the initial fleet: in the past"
    assert times[single] == "2025-10-09T08:53:20Z", "created now"
    simulator.delete_group(REGION, added[0])
    assert added[0] not in {group["ServiceGroupId"] for group in simulator.fleet(REGION)}
    for group in simulator.fleet(REGION):
        assert_group_consistent(group)


def test_without_a_pinned_start_changes_are_stamped_when_they_happen() -> None:
    simulator = Simulator(SimulatorConfig(groups=10, churn=False))
    service = next(s for s in services_by_id(simulator).values() if s["Status"] == "Normal")
    simulator.set_service_status(REGION, service["ServiceId"], "Abnormal")
    stamp = condition(services_by_id(simulator)[service["ServiceId"]], "Available")["LastTransitionTime"]
    assert abs(datetime.fromisoformat(stamp).timestamp() - time.time()) < 5
    new_group = simulator.add_group(REGION, "")
    created = next(g["CreateTime"] for g in simulator.fleet(REGION) if g["ServiceGroupId"] == new_group)
    assert abs(datetime.fromisoformat(created).timestamp() - time.time()) < 5
