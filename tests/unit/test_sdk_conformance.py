"""What the exporter reads, the simulator and the fixtures against the official SDK's documented types.

The real API sends what the SDK documents, so a record or model that rejects a value of the documented type
turns a perfectly valid answer into a lost object, and a simulator or fixture that sends another type hides
it. The service group records (`exporter.tione.records`) are what a poll reads; the documented objects of
`tests/api_models.py` must model every documented field (but those `IGNORED`), so that fixtures and
simulated answers parsed with them lose nothing.
"""

from __future__ import annotations

import json
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from pydantic import create_model

from exporter.simulator import ACTION, VERSION, SimulatorServer
from exporter.tione.event_models import DescribeEventsResponse
from exporter.tione.holder_records import NotebooksAnswer, SpecsPriceAnswer, TrainingTasksAnswer
from exporter.tione.models import as_utc
from exporter.tione.records import ResourceGroupsAnswer, ServiceGroupsAnswer, WorkspacesAnswer
from exporter.tione.records import ServiceGroup as ServiceGroupRecord
from tests.api_models import DescribeModelServiceGroupsResponse, HpaMetric, Service, ServiceInfo
from tests.conftest import LOCAL_FIXTURES
from tests.sdk_types import (
    answer_mismatches,
    documented_fields,
    mismatches,
    model_pairs,
    record_mismatches,
    record_wire_names,
)

RESPONSE = "DescribeModelServiceGroupsResponse"

IGNORED: dict[str, frozenset[str]] = {
    # Where services may be scheduled: nothing the exporter reports on.
    "Service": frozenset({"ResourceGroupSWType", "SchedulingPolicy", "ExternalResourceGroups"}),
    # Start commands may carry credentials; probes, storage and networking are configuration, not state.
    "ServiceInfo": frozenset(
        {
            "Command",
            "PreStopCommand",
            "ServiceEIP",
            "HealthProbe",
            "VolumeMounts",
            "SchedulingStrategy",
        }
    ),
    "VolumeMount": frozenset({"PublicDataSource"}),
    "Pod": frozenset({"CrossTenantENIInfo"}),
    "ModelInfo": frozenset({"GooseFSx", "PublicDataSource"}),
    # Component environment variables may hold secrets; the sidecar spec is configuration.
    "SmartRouterResourceConfig": frozenset({"Env", "Sidecar"}),
}
"""SDK fields the models leave out on purpose (unknown keys are ignored when parsing)."""


def test_every_model_accepts_the_sdk_documented_types() -> None:
    assert mismatches(DescribeModelServiceGroupsResponse, RESPONSE, IGNORED) == []


def test_the_records_a_poll_keeps_accept_the_sdk_documented_types() -> None:
    """The cut-down records the listing decodes (`exporter.tione.records`), read from bytes and from JSON."""
    problems, reached = record_mismatches(ServiceGroupsAnswer, RESPONSE, frozenset({"Error"}))
    assert problems == []
    assert {"ServiceGroup", "Service", "ServiceInfo", "WorkloadStatus", "StatefulSetCondition", "Pod"} <= reached
    assert {"Container", "ResourceInfo", "SmartRouterComponent", "RollingUpdate", "NumOrPercent"} <= reached


def test_the_record_check_catches_an_int_the_record_types_as_str() -> None:
    import msgspec

    class Option(msgspec.Struct, rename="pascal"):
        value: str | None = None

    problems, _ = record_mismatches(Option, "Option")
    assert any(problem.startswith("Option.Value (int): Option rejects 0") for problem in problems), problems


def test_a_record_time_documented_as_a_string_is_read_or_unknown() -> None:
    import msgspec

    for text, expected in (("2023-08-05 05:46:58", "2023-08-05T05:46:58+00:00"), ("not a time", None), (5, None)):
        record = msgspec.convert({"CreateTime": text}, ServiceGroupRecord, strict=False)
        parsed = as_utc(record.create_time)
        assert (parsed.isoformat() if parsed is not None else None) == expected


def test_the_workspaces_records_accept_the_sdk_documented_types() -> None:
    problems, reached = record_mismatches(WorkspacesAnswer, "DescribeWorkspacesResponse", frozenset({"Error"}))
    assert problems == []
    assert {"Workspace", "ResourceGroupInWorkspace"} <= reached


def test_the_walk_reaches_every_object_of_the_answer() -> None:
    reached = {sdk_name for _, sdk_name in model_pairs(DescribeModelServiceGroupsResponse, RESPONSE)}
    assert {
        "ServiceGroup",
        "Service",
        "ServiceInfo",
        "WorkloadStatus",
        "StatefulSetCondition",
        "Option",
        "Pod",
        "Container",
        "ResourceInfo",
        "SmartRouter",
        "SmartRouterComponent",
        "RollingUpdate",
        "NumOrPercent",
    } <= reached


def test_ignored_fields_are_real_sdk_fields_we_do_not_model() -> None:
    """A stale entry would hide nothing, but would say something false about the SDK."""
    for sdk_name, fields in IGNORED.items():
        assert fields <= set(documented_fields(sdk_name)), sdk_name


def _with_field(model: type[Any], name: str, annotation: Any) -> type[Any]:
    return create_model(model.__name__, __base__=model, **{name: (annotation, None)})


def test_the_check_catches_an_int_the_model_types_as_str() -> None:
    """The type that once blacked out a region: `Option.Value` is an int, the model said str."""
    old = _with_field(HpaMetric, "value", str | None)
    problems = mismatches(old, "Option", {})
    assert any(problem.startswith("Option.Value (int): HpaMetric rejects 0") for problem in problems), problems


def test_the_check_catches_a_str_the_model_types_as_int() -> None:
    old = _with_field(Service, "instance_per_replicas", int | None)
    problems = mismatches(old, "Service", IGNORED)
    assert any(problem.startswith("Service.InstancePerReplicas (str): Service rejects ''") for problem in problems)


def test_the_check_catches_a_documented_field_left_out() -> None:
    problems = mismatches(ServiceInfo, "ServiceInfo", {"ServiceInfo": IGNORED["ServiceInfo"] - {"Command"}})
    assert "ServiceInfo.Command (str) is not modelled by ServiceInfo" in problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-08-05T05:46:58Z", "2023-08-05T05:46:58+00:00"),
        ("2023-08-08T22:27:01+08:00", "2023-08-08T14:27:01+00:00"),
        ("2023-08-05 05:46:58", "2023-08-05T05:46:58+00:00"),
        ("2023-08-05T05:46:58.123456Z", "2023-08-05T05:46:58.123456+00:00"),
        ("", None),
        ("   ", None),
        ("not a time", None),
        ("2023-13-45 99:99:99", None),
        ("0000-00-00 00:00:00", None),
    ],
)
def test_times_documented_as_strings_are_read_or_unknown(text: str, expected: str | None) -> None:
    parsed = as_utc(Service.model_validate({"CreateTime": text}).create_time)
    assert (parsed.astimezone(UTC).isoformat() if parsed is not None else None) == expected


def test_a_time_of_another_json_type_is_unknown_not_an_error() -> None:
    assert Service.model_validate({"UpdateTime": 1700000000}).update_time is None


def test_the_answer_check_names_a_wrong_type_with_its_path() -> None:
    answer = {
        "TotalCount": 1,
        "ServiceGroups": [
            {
                "ServiceGroupId": "ms-1",
                "Services": [{"ServiceInfo": {"HorizontalPodAutoscaler": {"HpaMetrics": [{"Value": "60"}]}}}],
            }
        ],
    }
    assert answer_mismatches(answer, RESPONSE) == [
        "ServiceGroups[0].Services[0].ServiceInfo.HorizontalPodAutoscaler.HpaMetrics[0].Value: str '60' where the SDK documents int"
    ]


def test_simulator_pages_have_the_sdk_documented_types(simulator: SimulatorServer) -> None:
    """Every page of a simulated fleet, over HTTP, after churn has changed it."""
    simulator.churn_step(20)
    for region in simulator.regions:
        offset, total = 0, 1
        while offset < total:
            answer = httpx.post(
                simulator.url,
                json={"Offset": offset, "Limit": 100},
                headers={"X-TC-Action": ACTION, "X-TC-Version": VERSION, "X-TC-Region": region},
                timeout=10,
            ).json()["Response"]
            assert answer["ServiceGroups"], answer
            assert answer_mismatches(answer, RESPONSE) == []
            total, offset = answer["TotalCount"], offset + 100


def test_fixtures_have_the_sdk_documented_types() -> None:
    seed = json.loads((LOCAL_FIXTURES / "seed.json").read_text())["Response"]
    assert answer_mismatches(seed, RESPONSE) == []
    for path in sorted(Path(LOCAL_FIXTURES / "metrics" / "cases").glob("*.json")):
        case = json.loads(path.read_text())
        problems = [p for group in case.get("groups", []) for p in answer_mismatches(group, "ServiceGroup", path.stem)]
        problems += [p for item in case.get("workspaces", []) for p in answer_mismatches(item, "Workspace", path.stem)]
        problems += [p for item in case.get("resource_groups", []) for p in answer_mismatches(item, "ResourceGroup")]
        assert problems == [], path.name


def _post(server: SimulatorServer, action: str, region: str, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(
        server.url,
        json=body,
        headers={"X-TC-Action": action, "X-TC-Version": VERSION, "X-TC-Region": region},
        timeout=10,
    ).json()["Response"]
    assert "Error" not in answer, answer
    return answer


def test_simulator_workspaces_have_the_sdk_documented_types(simulator: SimulatorServer) -> None:
    for region in simulator.regions:
        answer = _post(simulator, "DescribeWorkspaces", region, {"Limit": 100})
        assert answer["Workspaces"] and answer["Workspaces"][0]["ResourceGroups"]
        assert answer_mismatches(answer, "DescribeWorkspacesResponse") == []


def test_simulator_events_have_the_sdk_documented_types(simulator: SimulatorServer) -> None:
    """The events of every service, over their whole history, after churn has changed the fleet."""
    simulator.churn_step(20)
    seen = 0
    for group in simulator.fleet("ap-guangzhou"):
        for service in group["Services"]:
            body = {"Service": "INFER", "ServiceId": service["ServiceId"], "StartTime": "2000-01-01T00:00:00Z"}
            body["TiProjectId"] = simulator.workspace_of("ap-guangzhou", group["ServiceGroupId"])
            answer = _post(simulator, "DescribeEvents", "ap-guangzhou", body)
            seen += len(answer["Events"])
            assert answer_mismatches(answer, "DescribeEventsResponse") == []
    assert seen > 100


def test_simulator_resource_groups_have_the_sdk_documented_types(simulator: SimulatorServer) -> None:
    simulator.churn_step(20)
    for region in simulator.regions:
        answer = _post(simulator, "DescribeBillingResourceGroups", region, {"Limit": 100})
        assert answer["ResourceGroupSet"] and answer["ResourceGroupSet"][0]["InstanceSet"]
        assert answer_mismatches(answer, "DescribeBillingResourceGroupsResponse") == []


def test_the_events_models_accept_the_sdk_documented_types() -> None:
    assert mismatches(DescribeEventsResponse, "DescribeEventsResponse", {}) == []
    reached = {sdk_name for _, sdk_name in model_pairs(DescribeEventsResponse, "DescribeEventsResponse")}
    assert reached == {"DescribeEventsResponse", "Event"}


def test_the_simulator_events_parse_into_the_events_models(simulator: SimulatorServer) -> None:
    for group in simulator.fleet("ap-guangzhou", ""):
        for service in group["Services"]:
            body = {"Service": "INFER", "ServiceId": service["ServiceId"], "StartTime": "2000-01-01T00:00:00Z"}
            answer = _post(simulator, "DescribeEvents", "ap-guangzhou", body)
            parsed = DescribeEventsResponse.model_validate(answer)
            assert parsed.total_count == len(answer["Events"])
            assert all(
                event.last_timestamp is not None and event.last_timestamp.tzinfo is UTC for event in parsed.events or ()
            )


# --- DescribeBillingResourceGroups ---------------------------------------------------------------

CAPACITY_RESPONSE = "DescribeBillingResourceGroupsResponse"
CAPACITY_IGNORED: dict[str, frozenset[str]] = {
    # The per-node list: the exporter asks for none (DontShowInstanceSet) and reports the group's totals.
    "ResourceGroup": frozenset({"InstanceSet"}),
}
"""SDK fields of the capacity answer the models leave out on purpose."""


def test_the_capacity_records_accept_the_sdk_documented_types() -> None:
    problems, reached = record_mismatches(ResourceGroupsAnswer, CAPACITY_RESPONSE, frozenset({"Error"}))
    assert problems == []
    assert {"ResourceGroup", "GroupResource", "GpuDetail", "Tag"} <= reached
    assert "InstanceSet" not in record_wire_names(ResourceGroupsAnswer)
    for sdk_name, fields in CAPACITY_IGNORED.items():
        assert fields <= set(documented_fields(sdk_name)), sdk_name


def test_the_capacity_source_reads_the_simulated_answer_without_the_node_list(simulator: SimulatorServer) -> None:
    """What the source asks for (no node list) fits the SDK's types and the models, group by group."""
    from exporter.tione.resource_groups import params

    answer = _post(simulator, "DescribeBillingResourceGroups", "ap-guangzhou", params(0))
    assert answer_mismatches(answer, CAPACITY_RESPONSE) == []
    parsed = msgspec.convert(answer, ResourceGroupsAnswer, strict=False)
    assert parsed.resource_group_set
    assert all(item.get("InstanceSet") is None for item in answer["ResourceGroupSet"])
    assert [group.resource_group_id for group in parsed.resource_group_set] == [
        group["ResourceGroupId"] for group in simulator.resource_groups("ap-guangzhou")
    ]


# --- Cloud Monitor (QCE/TI_MODEL) ----------------------------------------------------------------


def _full_records(record: type[Any], sdk_name: str) -> list[str]:
    """Every SDK field of `sdk_name` (and the classes it reaches) that the Cloud Monitor records leave out:
    their answers are small, so the records model them whole."""
    import typing

    import msgspec

    from tests.sdk_types import monitor_sdk, record_of

    missing: list[str] = []
    todo, seen = [(record, sdk_name)], set()
    while todo:
        ours, theirs = todo.pop()
        if theirs in seen:
            continue
        seen.add(theirs)
        names = {field.encode_name: field for field in msgspec.structs.fields(ours)}
        for name, kind in documented_fields(theirs, monitor_sdk).items():
            if name == "RequestId" and name not in names:
                continue
            if name not in names:
                missing.append(f"{theirs}.{name}")
            elif kind.is_object:
                todo.append((record_of(typing.get_type_hints(ours)[names[name].name]), kind.name))
    return missing


def test_the_monitor_records_accept_the_sdk_documented_types() -> None:
    from exporter.tione.monitor_api import BaseMetrics, MonitorData
    from tests.sdk_types import monitor_sdk

    problems, reached = record_mismatches(MonitorData, "GetMonitorDataResponse", models=monitor_sdk)
    assert problems == [] and reached == {"GetMonitorDataResponse", "DataPoint", "Dimension"}
    problems, reached = record_mismatches(BaseMetrics, "DescribeBaseMetricsResponse", models=monitor_sdk)
    assert problems == []
    assert reached == {"DescribeBaseMetricsResponse", "MetricSet", "PeriodsSt", "MetricObjectMeaning", "DimensionsDesc"}
    assert _full_records(MonitorData, "GetMonitorDataResponse") == []
    assert _full_records(BaseMetrics, "DescribeBaseMetricsResponse") == []


def test_the_monitor_requests_have_the_sdk_documented_types() -> None:
    from exporter.tione import monitor
    from tests.sdk_types import monitor_sdk

    window = monitor.window(1_800_000_000, period=60, delay=120)
    batch = [(("ServiceGroupId", f"ms-{n}"),) for n in range(10)]
    body = monitor.request("Apicalltotal", batch, window)
    assert answer_mismatches(body, "GetMonitorDataRequest", models=monitor_sdk) == []
    assert set(body) == {"Namespace", "MetricName", "Instances", "Period", "StartTime", "EndTime"}
    assert answer_mismatches(monitor.describe_params(), "DescribeBaseMetricsRequest", models=monitor_sdk) == []


def _monitor_post(server: SimulatorServer, action: str, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(
        server.url,
        json=body,
        headers={"X-TC-Action": action, "X-TC-Version": "2018-07-24", "X-TC-Region": "ap-guangzhou"},
        timeout=10,
    ).json()["Response"]
    assert "Error" not in answer, answer
    return answer


def test_simulator_monitor_answers_have_the_sdk_documented_types() -> None:
    import time

    from exporter.simulator import SimulatorConfig
    from exporter.tione import monitor
    from tests.sdk_types import monitor_sdk

    config = SimulatorConfig(churn=False, rate_limit=None, monitor_test_metric=True, regions=("ap-guangzhou",))
    with SimulatorServer(config) as server:
        metrics = _monitor_post(server, "DescribeBaseMetrics", {"Namespace": "QCE/TI_MODEL"})
        assert len(metrics["MetricSet"]) == 6
        assert answer_mismatches(metrics, "DescribeBaseMetricsResponse", models=monitor_sdk) == []
        groups = [(("ServiceGroupId", group["ServiceGroupId"]),) for group in server.fleet("ap-guangzhou")[:10]]
        body = monitor.request("Apicalltotal", groups, monitor.window(time.time(), period=60, delay=120))
        answer = _monitor_post(server, "GetMonitorData", {**body, "SpecifyStatistics": 7})
        assert any(point["Values"] for point in answer["DataPoints"])
        assert answer_mismatches(answer, "GetMonitorDataResponse", models=monitor_sdk) == []


# --- DescribeTrainingTasks, DescribeNotebooks, DescribeBillingSpecsPrice -------------------------

HOLDER_ANSWERS = (
    (TrainingTasksAnswer, "DescribeTrainingTasksResponse", {"TrainingTaskSetItem", "ResourceConfigInfo"}),
    (NotebooksAnswer, "DescribeNotebooksResponse", {"NotebookSetItem", "ResourceConf"}),
    (SpecsPriceAnswer, "DescribeBillingSpecsPriceResponse", {"SpecPrice"}),
)
NEVER_READ = {"Envs", "CallbackUrl", "SSHConfig", "EnvVar", "Value", "LoginCommand", "PublicKey", "PodSSHInfo"}
"""Fields of a task or notebook that may hold secrets (and the fields inside them): no record declares them,
so the decoder skips them unread."""


@pytest.mark.parametrize(("record", "sdk_name", "objects"), HOLDER_ANSWERS)
def test_the_holder_and_price_records_accept_the_sdk_documented_types(
    record: type[Any], sdk_name: str, objects: set[str]
) -> None:
    problems, reached = record_mismatches(record, sdk_name, frozenset({"Error"}))
    assert problems == []
    assert objects <= reached


def test_no_holder_record_declares_a_field_that_may_hold_a_secret() -> None:
    for record, _, _ in HOLDER_ANSWERS:
        assert record_wire_names(record) & NEVER_READ == set(), record.__name__
    assert {"Envs", "CallbackUrl"} <= set(documented_fields("TrainingTaskSetItem"))
    assert "SSHConfig" in documented_fields("NotebookSetItem")


def test_simulator_holders_and_prices_have_the_sdk_documented_types(simulator: SimulatorServer) -> None:
    from exporter.tione.holders import notebook_params, training_params
    from exporter.tione.prices import request

    for region in simulator.regions:
        for project_id in simulator.workspaces(region):
            body = training_params(project_id)(0, 50)
            body.pop("Filters")
            tasks = _post(simulator, "DescribeTrainingTasks", region, body)
            assert answer_mismatches(tasks, "DescribeTrainingTasksResponse") == []
            body = notebook_params(project_id)(0, 100)
            body.pop("Filters")
            notebooks = _post(simulator, "DescribeNotebooks", region, body)
            assert answer_mismatches(notebooks, "DescribeNotebooksResponse") == []
            assert tasks["TrainingTaskSet"] and notebooks["NotebookSet"]
            assert all(item["Envs"] and item["CallbackUrl"] for item in tasks["TrainingTaskSet"])
            assert all(item["SSHConfig"]["LoginCommand"] for item in notebooks["NotebookSet"])
        specs = ["TI.GN7.2XLARGE32.POST", "TI.GNV4.7XLARGE88.POST"]
        prices = _post(simulator, "DescribeBillingSpecsPrice", region, request(specs))
        assert answer_mismatches(prices, "DescribeBillingSpecsPriceResponse") == []
        assert [item["SpecName"] for item in prices["SpecsPrice"]] == specs


# --- STS AssumeRole (several accounts) -----------------------------------------------------------


def test_the_assume_role_types_are_the_sdks() -> None:
    """What the provider sends and reads, against `tencentcloud-sdk-python-sts`: every field documented,
    every documented value accepted, every field of the answer read."""
    import msgspec
    import tencentcloud.sts.v20180813.models as sts_models

    from exporter.tencentcloud.assume_role import AssumeRoleRequest, AssumeRoleResponse, TemporaryKeys

    problems, reached = record_mismatches(AssumeRoleResponse, "AssumeRoleResponse", models=sts_models)
    assert problems == [] and reached == {"AssumeRoleResponse", "Credentials"}
    documented = documented_fields("AssumeRoleRequest", sts_models)
    sent = {field.encode_name: field.type for field in msgspec.structs.fields(AssumeRoleRequest)}
    assert {name: str(documented[name]) for name in sent} == {
        "RoleArn": "str",
        "RoleSessionName": "str",
        "DurationSeconds": "int",
        "ExternalId": "str",
    }
    assert sent == {"RoleArn": str, "RoleSessionName": str, "DurationSeconds": int, "ExternalId": str | None}
    for ours, theirs in ((AssumeRoleResponse, "AssumeRoleResponse"), (TemporaryKeys, "Credentials")):
        read = {field.encode_name for field in msgspec.structs.fields(ours)}
        assert read == set(documented_fields(theirs, sts_models)), theirs


def test_the_simulated_assume_role_answer_has_the_sdk_documented_types() -> None:
    import tencentcloud.sts.v20180813.models as sts_models

    from exporter.simulator import AccountConfig, SimulatorConfig, SimulatorServer
    from exporter.tencentcloud.request import encode_body, request_headers

    config = SimulatorConfig(
        groups=1,
        regions=("ap-guangzhou",),
        secret_id="AKIDcaller01",
        secret_key="caller-key",
        churn=False,
        accounts=(AccountConfig("other"),),
    )
    with SimulatorServer(config) as server:
        body = encode_body({"RoleArn": server.role_arn("other"), "RoleSessionName": "conformance"})
        headers = request_headers(
            service="sts",
            action="AssumeRole",
            version="2018-08-13",
            region="ap-guangzhou",
            host=server.endpoint,
            timestamp=int(time.time()),
            body=body,
            secret_id="AKIDcaller01",
            secret_key="caller-key",
        )
        answer = httpx.post(server.url, content=body, headers=headers, timeout=10).json()["Response"]
    assert "Error" not in answer, answer
    assert answer_mismatches(answer, "AssumeRoleResponse", models=sts_models) == []
    assert set(answer) == set(documented_fields("AssumeRoleResponse", sts_models))
