"""The generated fleet: realistic, self-consistent, valid against the models, and the same for the same seed."""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

import pytest

from exporter.simulator import Simulator, SimulatorConfig
from exporter.simulator.api import Query, select
from exporter.simulator.fleet import RegionFleet
from tests.api_models import DescribeModelServiceGroupsResponse

START = 1_760_000_000.0
GROUP_ID = re.compile(r"^ms-[a-z0-9]{8}$")
SERVICE_ID = re.compile(r"^ms-[a-z0-9]{8}-[1-3]$")
CST_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RUNNING = {"Normal", "Abnormal"}


def pods_per_replica(service: dict[str, Any]) -> int:
    return int(service["InstancePerReplicas"]) if service["DeployType"] == "DIST" else 1


def condition(service: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = service["ServiceInfo"]["Status"]["Conditions"]
    matching = [item for item in conditions if item["Type"] == kind]
    assert len(matching) == 1, conditions
    found: dict[str, Any] = matching[0]
    return found


def assert_service_consistent(service: dict[str, Any]) -> None:
    info = service["ServiceInfo"]
    workload = info["Status"]
    pods = info["PodInfos"]
    per_replica = pods_per_replica(service)
    status = service["Status"]
    assert SERVICE_ID.match(service["ServiceId"]), service["ServiceId"]
    assert service["ServiceId"] == f"{service['ServiceGroupId']}-{service['Version']}"
    assert len(pods) == workload["Replicas"] * per_replica
    ready_pods = [pod for pod in pods if all(c["Status"]["Ready"] for c in pod["ContainerInfos"])]
    assert len(ready_pods) == workload["ReadyReplicas"] * per_replica
    assert all(pod["Phase"] == "Running" for pod in ready_pods)
    assert workload["AvailableReplicas"] + workload["UnavailableReplicas"] == workload["Replicas"]
    assert 0 <= workload["ReadyReplicas"] <= workload["Replicas"]
    if status == "CREATE_FAILED":
        assert workload["Replicas"] == 0 and service["BusinessStatus"] == "CREATE_FAILED"
    else:
        assert workload["Replicas"] == info["Replicas"]
    if status == "Stopped":
        assert info["Replicas"] == 0 and pods == []
        assert service["BusinessStatus"] in ("CREATE_SUCCEED", "ARREARS_STOP")
    if status == "Normal":
        assert info["Replicas"] >= 1 and workload["ReadyReplicas"] >= 1
        assert condition(service, "Available")["Status"] == "True"
    if status == "Abnormal":
        assert condition(service, "Available")["Status"] == "False"
        assert workload["ReadyReplicas"] < workload["Replicas"]
    for kind in ("Available", "Progressing"):
        found = condition(service, kind)
        assert CST_TIME.match(found["LastTransitionTime"]) and CST_TIME.match(found["LastUpdateTime"])
    assert UTC_TIME.match(service["CreateTime"]) and UTC_TIME.match(service["UpdateTime"])
    hpa = info["HorizontalPodAutoscaler"]
    if info["ScaleMode"] == "AUTO":
        assert hpa is not None and hpa["MinReplicas"] <= hpa["MaxReplicas"]
        if status in RUNNING:
            assert hpa["MinReplicas"] <= info["Replicas"] <= hpa["MaxReplicas"]
    else:
        assert hpa is None


def assert_group_consistent(group: dict[str, Any]) -> None:
    services = group["Services"]
    statuses = [service["Status"] for service in services]
    assert GROUP_ID.match(group["ServiceGroupId"])
    assert 1 <= len(services) <= 3
    assert group["ServiceCount"] == len(services)
    assert group["RunningServiceCount"] == sum(status in RUNNING for status in statuses)
    assert group["ReplicasCount"] == sum(s["ServiceInfo"]["Status"]["Replicas"] for s in services)
    assert group["AvailableReplicasCount"] == sum(s["ServiceInfo"]["Status"]["AvailableReplicas"] for s in services)
    assert sum(service["Weight"] for service in services) == 100
    assert group["LatestVersion"] == str(len(services))
    if len(set(statuses)) == 1:
        assert group["Status"] == statuses[0]
    elif "Abnormal" in statuses:
        assert group["Status"] == "Abnormal"
    else:
        assert group["Status"] in statuses
    assert group["AuthorizationEnable"] == bool(group["AuthTokens"])
    for service in services:
        assert service["ServiceGroupId"] == group["ServiceGroupId"]
        assert service["ServiceGroupName"] == group["ServiceGroupName"]
        assert_service_consistent(service)


@pytest.fixture(scope="module")
def big_fleet() -> list[dict[str, Any]]:
    return list(RegionFleet("ap-guangzhou", 7, 600, START).groups.values())


def test_every_group_is_consistent(big_fleet: list[dict[str, Any]]) -> None:
    for group in big_fleet:
        assert_group_consistent(group)


def test_fleet_is_what_the_models_accept_without_loss(big_fleet: list[dict[str, Any]]) -> None:
    """Every key generated is a field of the models, every value has the model's type: nothing is dropped."""
    payload = {"TotalCount": len(big_fleet), "ServiceGroups": big_fleet, "RequestId": "r"}
    assert DescribeModelServiceGroupsResponse.model_validate(payload).to_api() == payload


def test_ids_and_names_are_unique(big_fleet: list[dict[str, Any]]) -> None:
    ids = [group["ServiceGroupId"] for group in big_fleet]
    names = [group["ServiceGroupName"] for group in big_fleet]
    assert len(set(ids)) == len(ids) and len(set(names)) == len(names)
    assert any(re.fullmatch(r"llm-chat-prod", name) for name in names)


def test_fleet_covers_the_cases_an_exporter_must_handle(big_fleet: list[dict[str, Any]]) -> None:
    services = [service for group in big_fleet for service in group["Services"]]
    resources = [service["ServiceInfo"]["Resources"] for service in services]
    statuses = Counter(service["Status"] for service in services)
    assert statuses["Normal"] > len(services) / 2
    for status in ("Stopped", "Abnormal", "Pending", "CREATING", "CREATE_FAILED"):
        assert statuses[status] > 0, status
    assert any(service["BusinessStatus"] == "ARREARS_STOP" for service in services)
    assert {r["GpuType"] for r in resources} >= {"T4", "V100", "A10", "A100", "L20", "H20", ""}
    assert any(r["Gpu"] == 100 and r["RealGpu"] == 25 for r in resources), "quarter cards"
    assert any(len({d["Name"] for d in r["RealGpuDetailSet"]}) > 1 for r in resources), "mixed card types"
    assert any(r["Gpu"] == 0 and r["RealGpuDetailSet"] == [] for r in resources), "CPU-only services"
    for r in resources:
        assert r["RealGpu"] == sum(d["Value"] for d in r["RealGpuDetailSet"])
    dist = [s for s in services if s["DeployType"] == "DIST"]
    assert dist and all(s["InstancePerReplicas"] in ("2", "4") for s in dist)
    assert any(s["DeployType"] == "DIST" and s["ServiceInfo"]["PodInfos"] for s in dist)
    assert any(s["ServiceInfo"]["ScaleMode"] == "AUTO" for s in services)
    assert any(s["ServiceInfo"]["CronScaleJobs"] for s in services)
    scheduled = [s["ScheduledAction"] for s in services if s["ScheduledAction"]]
    assert scheduled and all(CST_TIME.match(action["ScheduleStopTime"]) for action in scheduled)
    assert {s["ChargeType"] for s in services} == {"POSTPAID_BY_HOUR", "PREPAID", "HYBRID_PAID"}
    assert any(s["ClusterId"].startswith("cls-") and s["ResourceGroupId"].startswith("trsg-") for s in services)
    assert {s["ServiceInfo"]["ImageInfo"]["ImageType"] for s in services} == {"PRE_SET", "TCR", "CCR", "CUSTOM"}
    assert any(s["ServiceInfo"]["ModelInfo"] is None for s in services)
    models = [s["ServiceInfo"]["ModelInfo"] for s in services if s["ServiceInfo"]["ModelInfo"]]
    for model in models:
        assert model["ModelId"].startswith("m-") and model["ModelVersionId"].startswith("mv-v")
        assert model["ModelName"] and model["ModelFormat"] and model["AlgorithmFramework"] and model["ModelSource"]


def test_secrets_are_present_for_the_exporter_to_hide(big_fleet: list[dict[str, Any]]) -> None:
    services = [service for group in big_fleet for service in group["Services"]]
    tokens = [token["Base"]["Value"] for group in big_fleet for token in group["AuthTokens"]]
    assert tokens and all(len(token) == 32 for token in tokens)
    secrets = [s["ServiceInfo"]["ImageInfo"].get("ImageSecret") for s in services]
    with_secret = [s for s in services if s["ServiceInfo"]["ImageInfo"].get("ImageSecret")]
    assert any(secrets)
    assert {s["ServiceInfo"]["ImageInfo"]["ImageType"] for s in with_secret} == {"TCR", "CUSTOM"}
    for service in with_secret:
        secret = service["ServiceInfo"]["ImageInfo"]["ImageSecret"]
        assert secret["Username"] and secret["Password"]
    private = [env for s in services for env in s["ServiceInfo"]["Env"] if env["IsPrivate"]]
    assert private and all(len(env["Value"]) == 40 for env in private)


def test_tags_include_awkward_keys(big_fleet: list[dict[str, Any]]) -> None:
    keys = {tag["TagKey"] for group in big_fleet for tag in group["Tags"]}
    assert {"team-name", "cost.center", "1st"} <= keys
    for group in big_fleet:
        for service in group["Services"]:
            assert service["Tags"] == group["Tags"]


def test_pods_carry_containers_with_restart_counts(big_fleet: list[dict[str, Any]]) -> None:
    abnormal = [
        s for g in big_fleet for s in g["Services"] if s["Status"] == "Abnormal" and s["ServiceInfo"]["PodInfos"]
    ]
    assert abnormal
    restarts = [
        container["Status"]["RestartCount"]
        for service in abnormal
        for pod in service["ServiceInfo"]["PodInfos"]
        for container in pod["ContainerInfos"]
        if not container["Status"]["Ready"]
    ]
    assert restarts and min(restarts) >= 1
    for group in big_fleet:
        for service in group["Services"]:
            for pod in service["ServiceInfo"]["PodInfos"]:
                assert pod["Name"].startswith(service["ServiceId"] + "-")
                assert pod["ContainerInfos"][0]["Name"] == "model-server"
                assert pod["ContainerInfos"][0]["Image"] == service["ServiceInfo"]["ImageInfo"]["ImageUrl"]


def test_same_seed_same_fleet_other_seed_other_fleet() -> None:
    first = RegionFleet("ap-guangzhou", 3, 50, START).groups
    again = RegionFleet("ap-guangzhou", 3, 50, START).groups
    other_seed = RegionFleet("ap-guangzhou", 4, 50, START).groups
    other_region = RegionFleet("ap-shanghai", 3, 50, START).groups
    assert first == again
    assert set(first).isdisjoint(other_seed) and set(first).isdisjoint(other_region)


def test_groups_spread_over_two_workspaces() -> None:
    simulator = Simulator(SimulatorConfig(groups=200, churn=False, start_time=START))
    default, other = simulator.workspaces("ap-guangzhou")
    assert default.startswith("ws-") and other.startswith("ws-") and default != other
    in_default = simulator.fleet("ap-guangzhou", "")
    in_other = simulator.fleet("ap-guangzhou", other)
    assert in_default and in_other and len(in_default) > len(in_other)
    assert len(in_default) + len(in_other) == len(simulator.fleet("ap-guangzhou")) == 200


def test_group_times_are_ordered_and_in_the_past() -> None:
    for group in RegionFleet("ap-guangzhou", 1, 100, START).groups.values():
        assert group["CreateTime"] <= group["UpdateTime"]
        for service in group["Services"]:
            assert group["CreateTime"] <= service["CreateTime"] <= service["UpdateTime"] <= group["UpdateTime"]
        assert group["UpdateTime"] <= "2025-10-09T08:53:20Z"  # START


def test_the_listing_order_kept_between_pages_follows_every_change_of_the_fleet() -> None:
    """The order is sorted once per change of the fleet, not per page: each change must show on the next page."""
    fleet = RegionFleet("ap-guangzhou", 5, 30, START)
    by_update = Query(project_id="", limit=100, order_field="UpdateTime", descending=True)

    def ids() -> list[str]:
        total, page = select(fleet, by_update)
        assert total == len(page)
        return [group["ServiceGroupId"] for group in page]

    first = ids()
    assert ids() == first and len(first) == len(fleet.orders[(fleet.default_workspace, "UpdateTime", True)][1])
    last = first[-1]
    service_id = fleet.groups[last]["Services"][0]["ServiceId"]
    fleet.set_service_status(service_id, "Normal", 1, START + 10_000)  # touched: now the latest changed
    assert ids()[0] == last
    created = fleet.create_group(random.Random(1), START + 20_000, birth="new", workspace=fleet.default_workspace)
    assert ids()[0] == created and len(ids()) == len(first) + 1
    fleet.delete_group(created)
    assert created not in ids() and len(ids()) == len(first)
