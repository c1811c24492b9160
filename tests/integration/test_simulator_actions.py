"""`DescribeWorkspaces`, `DescribeEvents`, `DescribeBillingResourceGroups` and the incidents, over real HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from exporter.simulator import ACTION, INCIDENT_KINDS, SimulatorConfig, SimulatorServer
from tests.integration.test_simulator_api import call, error_code
from tests.sdk_types import answer_mismatches

REGION = "ap-guangzhou"
WORKSPACES, EVENTS, BILLING = "DescribeWorkspaces", "DescribeEvents", "DescribeBillingResourceGroups"
KEY = ("AKIDactions", "actions-key")
OTHER_KEY = ("AKIDreadonly", "readonly-key")
START = 1_767_225_600.0
"""2026-01-01T00:00:00Z, a minute 0 of simulated time (0 % 3 is not the outage minute)."""


def answer(server: SimulatorServer, action: str, body: Any = None, **options: Any) -> dict[str, Any]:
    """A successful answer's `Response`, checked against the SDK's documented types."""
    response = call(server, {} if body is None else body, action=action, **options)
    assert response.status_code == 200
    found: dict[str, Any] = response.json()["Response"]
    assert "Error" not in found, found
    uuid.UUID(found["RequestId"])
    assert answer_mismatches(found, f"{action}Response") == []
    return found


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def services(server: SimulatorServer, region: str = REGION, project_id: str | None = "") -> list[dict[str, Any]]:
    return [service for group in server.fleet(region, project_id) for service in group["Services"]]


def per_replica(service: dict[str, Any]) -> int:
    return int(service["InstancePerReplicas"] or 1) if service["DeployType"] == "DIST" else 1


def expected_use(server: SimulatorServer, region: str, group_id: str, *, placed_only: bool) -> dict[str, Any]:
    """What the replicas on a group hold, from the fleet: per-pod resources times pods (placed ones, or
    current replicas times instances per replica), plus the running training tasks and notebooks on it."""
    cpu = memory = 0
    gpus: dict[str, int] = {}
    for service in services(server, region, None):
        if service["ResourceGroupId"] != group_id:
            continue
        info = service["ServiceInfo"]
        if placed_only:
            pods = sum(1 for pod in info["PodInfos"] if pod["NodeIP"])
        else:
            pods = info["Status"]["Replicas"] * per_replica(service)
        cpu += info["Resources"]["Cpu"] * pods
        memory += info["Resources"]["Memory"] * pods
        for detail in info["Resources"]["RealGpuDetailSet"]:
            gpus[detail["Name"]] = gpus.get(detail["Name"], 0) + detail["Value"] * pods
    held = [
        (role, role["InstanceNum"])
        for task in server.training_tasks(region)
        if task["Status"] == "RUNNING" and task["ResourceGroupId"] == group_id
        for role in task["ResourceConfigInfos"]
    ]
    held += [
        (notebook["ResourceConf"], 1)
        for notebook in server.notebooks(region)
        if notebook["Status"] == "Running" and notebook["ResourceGroupId"] == group_id
    ]
    for resources, count in held:  # running training tasks and notebooks hold the group's capacity too
        cpu += resources["Cpu"] * count
        memory += resources["Memory"] * count
        if resources["Gpu"]:
            gpus[resources["GpuType"]] = gpus.get(resources["GpuType"], 0) + resources["Gpu"] * count
    return {"Cpu": cpu, "Memory": memory, "Gpus": {card: value for card, value in gpus.items() if value}}


def details(resource: dict[str, Any]) -> dict[str, int]:
    return {detail["Name"]: detail["Value"] for detail in resource["GpuDetailSet"]}


# -- DescribeWorkspaces -----------------------------------------------------------------------------


def test_workspaces_list_the_fleet_workspaces(simulator: SimulatorServer) -> None:
    found = answer(simulator, WORKSPACES)
    assert found["TotalCount"] == 2
    assert {ws["TiProjectId"] for ws in found["Workspaces"]} == set(simulator.workspaces(REGION))
    groups = {group["ResourceGroupId"] for group in simulator.resource_groups(REGION)}
    for workspace in found["Workspaces"]:
        assert workspace["Status"] == "Normal" and workspace["ActionType"] and workspace["Name"]
        seconds(workspace["CreateTime"])
        assert workspace["ResourceGroups"]
        for bound in workspace["ResourceGroups"]:
            assert bound["ResourceGroupId"] in groups and bound["Region"] == REGION
            placed = any(
                pod["NodeIP"]
                for service in services(simulator, REGION, workspace["TiProjectId"])
                if service["ResourceGroupId"] == bound["ResourceGroupId"]
                for pod in service["ServiceInfo"]["PodInfos"]
            )
            assert bound["Occupied"] is placed


def test_workspaces_page_order_and_limits(simulator: SimulatorServer) -> None:
    newest = answer(simulator, WORKSPACES)["Workspaces"]
    assert [seconds(ws["CreateTime"]) for ws in newest] == sorted(
        (seconds(ws["CreateTime"]) for ws in newest), reverse=True
    )
    assert answer(simulator, WORKSPACES, {"Order": "ASC"})["Workspaces"] == newest[::-1]
    page = answer(simulator, WORKSPACES, {"Offset": 1, "Limit": 1})
    assert page["TotalCount"] == 2 and page["Workspaces"] == newest[1:]
    assert answer(simulator, WORKSPACES, {"Limit": 100})["Workspaces"] == newest
    named = answer(simulator, WORKSPACES, {"Filters": [{"Name": "TiProjectId", "Values": [newest[0]["TiProjectId"]]}]})
    assert named["TotalCount"] == 1 and named["Workspaces"] == newest[:1]
    assert error_code(call(simulator, {"Limit": 101}, action=WORKSPACES)) == "InvalidParameterValue"
    assert error_code(call(simulator, {"Offset": -1}, action=WORKSPACES)) == "InvalidParameterValue"
    assert error_code(call(simulator, {"Limit": "5"}, action=WORKSPACES)) == "InvalidParameter"
    assert error_code(call(simulator, {"Page": 1}, action=WORKSPACES)) == "UnknownParameter"
    assert error_code(call(simulator, {"TiProjectId": "ws-nope"}, action=WORKSPACES)) == "ResourceNotFound"


def test_a_denied_action_is_refused_for_the_key_without_permission() -> None:
    config = SimulatorConfig(churn=False, secret_id=KEY[0], secret_key=KEY[1], credentials=((*OTHER_KEY, None),))
    with SimulatorServer(config) as server:
        server.deny(WORKSPACES, secret_id=OTHER_KEY[0])
        assert error_code(call(server, action=WORKSPACES, key=OTHER_KEY)) == "UnauthorizedOperation"
        assert answer(server, WORKSPACES, key=KEY)["TotalCount"] == 2
        assert answer(server, ACTION, key=OTHER_KEY)["TotalCount"] > 0
        # An unsigned request is refused for its signature first: permissions are checked after it.
        assert error_code(call(server, action=WORKSPACES)) == "AuthFailure.InvalidAuthorization"
        server.allow(WORKSPACES, secret_id=OTHER_KEY[0])
        assert answer(server, WORKSPACES, key=OTHER_KEY)["TotalCount"] == 2
        assert [record.code for record in server.requests][:2] == ["UnauthorizedOperation", ""]


def test_an_action_denied_for_everyone_by_config_or_at_run_time(simulator: SimulatorServer) -> None:
    simulator.deny(EVENTS, code="AuthFailure.UnauthorizedOperation")
    response = call(simulator, {"Service": "INFER", "ServiceId": "ms-x-1"}, action=EVENTS)
    assert error_code(response) == "AuthFailure.UnauthorizedOperation"
    assert "tione:DescribeEvents" in response.json()["Response"]["Error"]["Message"]
    simulator.allow(EVENTS)
    assert answer(simulator, EVENTS, {"Service": "INFER", "ServiceId": "ms-x-1"})["TotalCount"] == 0
    with pytest.raises(ValueError, match="unknown action"):
        simulator.deny("DescribeEverything")
    with SimulatorServer(SimulatorConfig(churn=False, denied=(WORKSPACES,))) as server:
        assert error_code(call(server, action=WORKSPACES)) == "UnauthorizedOperation"
        assert answer(server, BILLING)["TotalCount"] == 3


# -- DescribeBillingResourceGroups ------------------------------------------------------------------


def check_groups(server: SimulatorServer, region: str, *, placed_only: bool) -> list[dict[str, Any]]:
    groups = answer(server, BILLING, {"Limit": 100}, region=region)
    assert groups["TotalCount"] == len(groups["ResourceGroupSet"]) == 3
    for group in groups["ResourceGroupSet"]:
        used, total = group["UsedResource"], group["TotalResource"]
        truth = expected_use(server, region, group["ResourceGroupId"], placed_only=placed_only)
        assert (used["Cpu"], used["Memory"], details(used)) == (truth["Cpu"], truth["Memory"], truth["Gpus"])
        for resource in (used, total):
            assert resource["Gpu"] == sum(details(resource).values())
        assert used["Cpu"] <= total["Cpu"] and used["Memory"] <= total["Memory"]
        assert all(value <= details(total).get(card, 0) for card, value in details(used).items())
        nodes = group["InstanceSet"]
        assert len(nodes) == group["TotalInstance"] >= group["FreeInstance"] > 0
        assert sum(node["UsedResource"]["Cpu"] for node in nodes) == used["Cpu"]
        assert sum(node["TotalResource"]["Memory"] for node in nodes) == total["Memory"]
        assert sum(node["UsedResource"]["Gpu"] for node in nodes) == used["Gpu"]
    return list(groups["ResourceGroupSet"])


def test_used_is_what_the_placed_replicas_hold(simulator: SimulatorServer) -> None:
    for region in simulator.regions:
        check_groups(simulator, region, placed_only=False)
    simulator.churn_step(40)
    for region in simulator.regions:
        check_groups(simulator, region, placed_only=False)
    target = next(
        service
        for service in services(simulator)
        if service["ResourceGroupId"] and service["Status"] == "Normal" and service["ServiceInfo"]["Replicas"]
    )
    before = next(
        g
        for g in check_groups(simulator, REGION, placed_only=False)
        if g["ResourceGroupId"] == target["ResourceGroupId"]
    )
    simulator.set_service_status(REGION, target["ServiceId"], "Stopped")
    after = next(
        g
        for g in check_groups(simulator, REGION, placed_only=False)
        if g["ResourceGroupId"] == target["ResourceGroupId"]
    )
    pods = target["ServiceInfo"]["Status"]["Replicas"] * per_replica(target)
    assert (
        before["UsedResource"]["Cpu"] - after["UsedResource"]["Cpu"] == target["ServiceInfo"]["Resources"]["Cpu"] * pods
    )


def test_one_group_is_nearly_full_and_one_has_no_gpus(simulator: SimulatorServer) -> None:
    groups = check_groups(simulator, REGION, placed_only=False)
    no_gpu = [group for group in groups if group["TotalResource"]["Gpu"] == 0]
    assert no_gpu and no_gpu[0]["TotalResource"]["GpuDetailSet"] == [] and no_gpu[0]["TotalResource"]["Cpu"] > 0
    full = []
    for group in groups:
        on_it = [s for s in services(simulator, REGION, None) if s["ResourceGroupId"] == group["ResourceGroupId"]]
        if not on_it or not group["UsedResource"]["Gpu"]:
            continue
        largest = max(on_it, key=lambda s: s["ServiceInfo"]["Resources"]["Gpu"] * per_replica(s))
        free = {
            card: value - details(group["UsedResource"]).get(card, 0)
            for card, value in details(group["TotalResource"]).items()
        }
        replica = {
            d["Name"]: d["Value"] * per_replica(largest)
            for d in largest["ServiceInfo"]["Resources"]["RealGpuDetailSet"]
        }
        if replica and all(free.get(card, 0) < need for card, need in replica.items()):
            full.append(group["ResourceGroupName"])
    assert "rg-gpu-prod" in full


def test_resource_groups_page_filter_and_hide_nodes(simulator: SimulatorServer) -> None:
    every = answer(simulator, BILLING)["ResourceGroupSet"]
    assert [g["ResourceGroupName"] for g in every] == ["rg-gpu-prod", "rg-infer-shared", "rg-cpu-general"]
    assert all(tag.keys() == {"TagKey", "TagValue"} for g in every for tag in g["TagSet"])
    page = answer(simulator, BILLING, {"Offset": 1, "Limit": 1, "DontShowInstanceSet": True})
    assert page["TotalCount"] == 3 and [g["ResourceGroupId"] for g in page["ResourceGroupSet"]] == [
        every[1]["ResourceGroupId"]
    ]
    assert page["ResourceGroupSet"][0]["InstanceSet"] is None
    assert page["ResourceGroupSet"][0]["UsedResource"] == every[1]["UsedResource"]
    by_id = answer(
        simulator, BILLING, {"Filters": [{"Name": "ResourceGroupId", "Values": [every[2]["ResourceGroupId"]]}]}
    )
    assert [g["ResourceGroupName"] for g in by_id["ResourceGroupSet"]] == ["rg-cpu-general"]
    fuzzy = answer(simulator, BILLING, {"Filters": [{"Name": "ResourceGroupName", "Values": ["INFER"], "Fuzzy": True}]})
    assert [g["ResourceGroupName"] for g in fuzzy["ResourceGroupSet"]] == ["rg-infer-shared"]
    assert answer(simulator, BILLING, {"SearchWord": "gpu-p"})["TotalCount"] == 1
    assert answer(simulator, BILLING, {"SearchWord": every[1]["ResourceGroupId"][-4:]})["TotalCount"] >= 1
    tag = every[0]["TagSet"][0]
    tagged = answer(simulator, BILLING, {"TagFilters": [{"TagKey": tag["TagKey"], "TagValues": [tag["TagValue"]]}]})
    assert [g["ResourceGroupId"] for g in tagged["ResourceGroupSet"]] == [every[0]["ResourceGroupId"]]
    second = simulator.workspaces(REGION)[1]
    assert answer(simulator, BILLING, {"TiProjectId": second})["TotalCount"] == 2
    assert error_code(call(simulator, {"Limit": 101}, action=BILLING)) == "InvalidParameterValue"
    assert error_code(call(simulator, {"DontShowInstanceSet": "yes"}, action=BILLING)) == "InvalidParameter"
    assert (
        error_code(call(simulator, {"Filters": [{"Name": "Zone", "Values": []}]}, action=BILLING))
        == "InvalidParameterValue"
    )
    assert error_code(call(simulator, {"TiProjectId": "ws-nope"}, action=BILLING)) == "ResourceNotFound"


# -- DescribeEvents ---------------------------------------------------------------------------------


def events_of(server: SimulatorServer, service_id: str, region: str = REGION, **body: Any) -> dict[str, Any]:
    return answer(server, EVENTS, {"Service": "INFER", "ServiceId": service_id, **body}, region=region)


def unwell(service: dict[str, Any]) -> bool:
    info = service["ServiceInfo"]
    status = info["Status"]
    return (
        service["Status"] in ("Abnormal", "CREATE_FAILED", "Pending", "Waiting", "CREATING")
        or service["BusinessStatus"] == "ARREARS_STOP"
        or status["AvailableReplicas"] < info["Replicas"]
        or any(condition["Status"] == "False" for condition in status["Conditions"])
    )


def test_events_fit_every_service_state(simulator: SimulatorServer) -> None:
    simulator.churn_step(10)
    seen = set()
    stuck: set[str] = set()
    for service in services(simulator):
        # From an hour before the service's last change: its current state's events, however long ago.
        since = seconds(service["UpdateTime"]) - 3600
        found = events_of(simulator, service["ServiceId"], StartTime=datetime.fromtimestamp(since, UTC).isoformat())
        assert found["TotalCount"] == len(found["Events"])
        kinds = {event["Type"] for event in found["Events"]}
        messages = " ".join(event["Message"] for event in found["Events"])
        assert kinds <= {"Normal", "Warning"}
        if unwell(service):
            assert "Warning" in kinds, service["ServiceId"]
        else:
            assert kinds <= {"Normal"}, service["ServiceId"]
        if (
            service["Status"] == "Abnormal"
            and service["ServiceInfo"]["Status"]["ReadyReplicas"] < service["ServiceInfo"]["Replicas"]
        ):
            assert "Back-off restarting failed container" in messages
        for pod in service["ServiceInfo"]["PodInfos"]:
            if pod["Status"] == "Running" and all(c["Status"]["Ready"] for c in pod["ContainerInfos"]):
                mine = [event for event in found["Events"] if event["ResourceName"] == pod["Name"]]
                assert {event["Type"] for event in mine} <= {"Normal"}
                if seconds(pod["CreateTime"]) >= since:
                    assert any(event["Message"].startswith("Started container") for event in mine)
        for pod in service["ServiceInfo"]["PodInfos"]:
            if pod["Status"] == "ContainerCreating" and seconds(pod["CreateTime"]) < simulator.now() - 300:
                stuck.add(service["ServiceId"])
                assert "timed out waiting for the condition" in messages
        for event in found["Events"]:
            assert event["Count"] >= 1 and seconds(event["FirstTimestamp"]) <= seconds(event["LastTimestamp"])
            assert event["ResourceKind"] in ("Pod", "Deployment")
        seen.add(service["Status"])
    assert {"Normal", "Stopped", "Abnormal"} <= seen


def test_pods_stuck_creating_keep_warning() -> None:
    """A pod still creating long after it was placed warns until now, so the last day shows it."""
    with SimulatorServer(SimulatorConfig(groups=100, churn=False)) as server:
        stuck = [
            service
            for service in services(server)
            if any(
                pod["Status"] == "ContainerCreating" and seconds(pod["CreateTime"]) < server.now() - 3600
                for pod in service["ServiceInfo"]["PodInfos"]
            )
        ]
        assert stuck
        for service in stuck:
            warnings = events_of(server, service["ServiceId"], Filters=[{"Name": "Type", "Values": ["Warning"]}])
            assert warnings["Events"], service["ServiceId"]
            latest = warnings["Events"][0]
            assert latest["Message"].endswith("timed out waiting for the condition")
            assert seconds(latest["LastTimestamp"]) > server.now() - 120


def test_events_window_order_paging_and_filters() -> None:
    config = SimulatorConfig(churn=False, incidents=True, start_time=START)
    with SimulatorServer(config) as server:
        crash = server.incidents()["crash_loop"]
        every = events_of(server, crash)
        stamps = [seconds(event["LastTimestamp"]) for event in every["Events"]]
        assert stamps == sorted(stamps, reverse=True)
        start, end = server.now() - 3600, server.now() - 1800
        window = events_of(
            server, crash, StartTime=datetime.fromtimestamp(start, UTC).isoformat(), EndTime="2025-12-31T23:30:00Z"
        )
        assert window["Events"] and all(e["Type"] == "Warning" for e in window["Events"])
        for event in window["Events"]:
            first, last = seconds(event["FirstTimestamp"]), seconds(event["LastTimestamp"])
            assert start <= first <= last <= end
            assert event["Count"] == (last - first) // 300 + 1
        ids = {event["Id"] for event in every["Events"]}
        assert {event["Id"] for event in window["Events"]} <= ids
        warnings = events_of(server, crash, Filters=[{"Name": "Type", "Values": ["Warning"]}])
        assert warnings["TotalCount"] == sum(1 for e in every["Events"] if e["Type"] == "Warning") > 0
        pods = events_of(server, crash, Filters=[{"Name": "ResourceKind", "Values": ["pod"]}])
        assert {e["ResourceKind"] for e in pods["Events"]} == {"Pod"}
        both = events_of(server, crash, Filters=[{"Name": "Type", "Values": ["Warning", "Normal"]}])
        assert both["TotalCount"] == 0
        page = events_of(server, crash, Offset=2, Limit=3)
        assert page["TotalCount"] == every["TotalCount"] and page["Events"] == every["Events"][2:5]
        ascending = events_of(server, crash, Order="ASC", OrderField="FirstTimestamp")["Events"]
        firsts = [seconds(event["FirstTimestamp"]) for event in ascending]
        assert firsts == sorted(firsts)
        assert events_of(server, crash)["Events"] == every["Events"]
        day_ago = events_of(server, crash, EndTime="2025-12-30T00:00:00Z")
        assert day_ago["TotalCount"] == 0


def test_events_errors_and_unknown_services(simulator: SimulatorServer) -> None:
    known = services(simulator)[0]["ServiceId"]
    assert events_of(simulator, "ms-doesnotexist-1")["TotalCount"] == 0
    assert answer(simulator, EVENTS, {"Service": "TRAIN", "ServiceId": known})["Events"] == []
    other = services(simulator, REGION, simulator.workspaces(REGION)[1])[0]["ServiceId"]
    assert events_of(simulator, other)["TotalCount"] == 0
    wide = {"StartTime": "2020-01-01T00:00:00Z"}
    assert events_of(simulator, other, **wide)["TotalCount"] == 0
    assert events_of(simulator, other, TiProjectId=simulator.workspaces(REGION)[1], **wide)["TotalCount"] > 0
    body = {"Service": "INFER", "ServiceId": known}
    cases = [
        ({"ServiceId": known}, "MissingParameter"),
        ({"Service": "INFER"}, "MissingParameter"),
        ({**body, "Service": "SERVING"}, "InvalidParameterValue"),
        ({**body, "Limit": 101}, "InvalidParameterValue"),
        ({**body, "StartTime": "yesterday"}, "InvalidParameterValue"),
        ({**body, "StartTime": "2026-01-01 00:00:00"}, "InvalidParameterValue"),
        ({**body, "StartTime": "2026-01-02T00:00:00Z", "EndTime": "2026-01-01T00:00:00Z"}, "InvalidParameterValue"),
        ({**body, "OrderField": "Count"}, "InvalidParameterValue"),
        ({**body, "Filters": [{"Name": "Reason", "Values": ["BackOff"]}]}, "InvalidParameterValue"),
        ({**body, "TiProjectId": "ws-nope"}, "ResourceNotFound"),
        ({**body, "Region": REGION}, "UnknownParameter"),
    ]
    for request, code in cases:
        assert error_code(call(simulator, request, action=EVENTS)) == code, request


# -- incidents --------------------------------------------------------------------------------------


def by_id(server: SimulatorServer, region: str = REGION) -> dict[str, dict[str, Any]]:
    return {service["ServiceId"]: service for service in services(server, region, None)}


def test_incidents_hold_through_churn_and_their_events_fit() -> None:
    config = SimulatorConfig(churn=False, incidents=True, start_time=START, rate_limit=None)
    with SimulatorServer(config) as server:
        incidents = server.incidents()
        assert set(incidents) == set(INCIDENT_KINDS) and server.incident_region == REGION
        for step in (0, 60):
            server.churn_step(step)
            fleet = by_id(server)
            stuck = fleet[incidents["unschedulable"]]
            assert stuck["Status"] == "Pending" and stuck["ServiceInfo"]["Replicas"] == 2
            assert stuck["ServiceInfo"]["Status"]["AvailableReplicas"] == 0
            assert stuck["ServiceInfo"]["Resources"]["Gpu"] > 0
            assert all(pod["NodeIP"] == "" and pod["Phase"] == "Pending" for pod in stuck["ServiceInfo"]["PodInfos"])
            group = next(g for g in server.resource_groups(REGION) if g["ResourceGroupId"] == stuck["ResourceGroupId"])
            free = {c: v - details(group["UsedResource"]).get(c, 0) for c, v in details(group["TotalResource"]).items()}
            assert all(
                free.get(d["Name"], 0) < d["Value"] for d in stuck["ServiceInfo"]["Resources"]["RealGpuDetailSet"]
            )
            scheduling = [e for e in server.events(REGION, stuck["ServiceId"]) if e["Type"] == "Warning"]
            nodes = group["TotalInstance"]
            assert scheduling and {e["Message"] for e in scheduling} == {
                f"0/{nodes} nodes are available: {nodes} Insufficient nvidia.com/gpu."
            }
            assert {pod["Message"] for pod in stuck["ServiceInfo"]["PodInfos"]} == {e["Message"] for e in scheduling}
            crash = fleet[incidents["crash_loop"]]
            assert crash["Status"] == "Abnormal"
            restarts = [
                c["Status"]["RestartCount"]
                for pod in crash["ServiceInfo"]["PodInfos"]
                for c in pod["ContainerInfos"]
                if c["Status"]["Reason"] == "CrashLoopBackOff"
            ]
            assert restarts and min(restarts) > 0
            backoff = [e for e in server.events(REGION, crash["ServiceId"]) if "Back-off restarting" in e["Message"]]
            assert len(backoff) == len(restarts)
            failed = fleet[incidents["create_failed"]]
            assert failed["Status"] == "CREATE_FAILED" and "ErrImagePull" in failed["CreateFailedReason"]
            assert any(e["Message"] == "Error: ErrImagePull" for e in server.events(REGION, failed["ServiceId"]))
            arrears = fleet[incidents["arrears_stop"]]
            assert arrears["BusinessStatus"] == "ARREARS_STOP" and arrears["Status"] == "Stopped"
            assert any(e["Type"] == "Warning" for e in server.events(REGION, arrears["ServiceId"]))
        # Restarts keep coming while the loop lasts.
        assert min(restarts) > 1


def test_without_incidents_the_fleet_is_unchanged() -> None:
    plain = SimulatorServer(SimulatorConfig(churn=False, start_time=START))
    with_incidents = SimulatorServer(SimulatorConfig(churn=False, start_time=START, incidents=True))
    assert plain.incidents() == {} and plain.outage_region is None
    incident_groups = {sid.rpartition("-")[0] for sid in with_incidents.incidents().values()}
    kept = [g for g in with_incidents.fleet(REGION) if g["ServiceGroupId"] not in incident_groups]
    assert kept == plain.fleet(REGION)
    assert with_incidents.fleet("ap-shanghai") == plain.fleet("ap-shanghai")


def test_the_outage_region_fails_every_third_minute() -> None:
    config = SimulatorConfig(churn=False, incidents=True, start_time=START, churn_interval=20.0, rate_limit=None)
    with SimulatorServer(config) as server:
        down = server.outage_region
        assert down == "ap-shanghai"
        seen = []
        for _ in range(9):  # three steps a minute: minutes 0, 1, 2
            seen.append(
                (server.region_down(down), error_code(call(server, region=down)) if server.region_down(down) else "")
            )
            assert answer(server, ACTION, region=REGION)["TotalCount"] > 0
            server.churn_step()
        assert seen == [(False, "")] * 6 + [(True, "InternalError")] * 3
        server.set_region_outage(down, False)
        assert answer(server, BILLING, region=down)["TotalCount"] == 3
        server.set_region_outage(REGION, True, code="ResourceUnavailable")
        assert error_code(call(server, action=WORKSPACES)) == "ResourceUnavailable"
        server.set_region_outage(REGION, None)
        assert answer(server, WORKSPACES)["TotalCount"] == 2


# -- the shared front door --------------------------------------------------------------------------


def test_new_actions_meet_faults_rate_limit_signatures_and_records() -> None:
    config = SimulatorConfig(churn=False, secret_id=KEY[0], secret_key=KEY[1], rate_limit=None)
    with SimulatorServer(config) as server:
        assert error_code(call(server, action=BILLING)) == "AuthFailure.InvalidAuthorization"
        assert error_code(call(server, action=BILLING, key=(KEY[0], "wrong"))) == "AuthFailure.SignatureFailure"
        server.inject("error=InternalError")
        assert error_code(call(server, action=WORKSPACES, key=KEY)) == "InternalError"
        server.inject("http503")
        assert call(server, {"Service": "INFER", "ServiceId": "ms-x-1"}, action=EVENTS, key=KEY).status_code == 503
        server.set_rate_limit(0)
        assert error_code(call(server, action=BILLING, key=KEY)) == "RequestLimitExceeded"
        server.set_rate_limit(None)
        assert answer(server, BILLING, key=KEY)["TotalCount"] == 3
        assert error_code(call(server, action="DescribeModelServiceCallInfo", key=KEY)) == "InvalidAction"
        actions = [(record.action, record.code) for record in server.requests]
        assert actions == [
            (BILLING, "AuthFailure.InvalidAuthorization"),
            (BILLING, "AuthFailure.SignatureFailure"),
            (WORKSPACES, "InternalError"),
            (EVENTS, ""),
            (BILLING, "RequestLimitExceeded"),
            (BILLING, ""),
            ("DescribeModelServiceCallInfo", "InvalidAction"),
        ]
        assert server.requests[3].body == {"Service": "INFER", "ServiceId": "ms-x-1"}
