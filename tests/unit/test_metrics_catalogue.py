"""Golden tests of the metric catalogue: API objects beside the exact exposition lines they must give.

Each case is a pair in tests/fixtures/metrics/cases/: `<name>.json` (service groups as the API sends
them, the render options, and the families the case is about) and `<name>.prom` (exactly the sample
lines those families must have, in order; `#` lines are explanations).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.metrics.families import SNAPSHOT_FAMILIES, service_resources
from exporter.metrics.families import group as group_kind
from exporter.metrics.families import pod as pod_kind
from exporter.metrics.families import service as service_kind
from exporter.metrics.families.family import SampleFamily, TagFamily
from exporter.metrics.families.fields import condition_state, state_set
from exporter.metrics.families.group import ListedGroup
from exporter.metrics.families.pod import PodOfService, pods
from exporter.metrics.families.service import ServiceInGroup
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import collect_region, render
from exporter.tione import holders, monitor, records
from exporter.tione.event_models import Event, ServiceEvents
from exporter.tione.events import EVENTS
from exporter.tione.holder_records import Notebook, SpecPrice, TrainingTask
from exporter.tione.holders import NOTEBOOKS_OF, TASKS_OF, Listed
from exporter.tione.listing import dedupe
from exporter.tione.models import ApiModel
from exporter.tione.prices import PRICES, HourlyPrice, hourly_price
from exporter.tione.records import ResourceGroup, Workspace
from exporter.tione.resource_groups import RESOURCE_GROUPS
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.traffic import TRAFFIC, Traffic
from exporter.tione.workspaces import DISCOVERY, Discovery
from tests import render_helpers as rendered
from tests.api_models import (
    Condition,
    Container,
    HorizontalPodAutoscaler,
    ImageInfo,
    ModelInfo,
    NumOrPercent,
    Pod,
    ResourceInfo,
    ScheduledAction,
    Service,
    ServiceGroup,
    ServiceInfo,
    WorkloadStatus,
)
from tests.conftest import LOCAL_FIXTURES

GROUP_FAMILIES = group_kind.FAMILIES
SERVICE_FAMILIES = service_kind.FAMILIES
POD_FAMILIES = pod_kind.FAMILIES

CASES = LOCAL_FIXTURES / "metrics" / "cases"
REGION = "ap-guangzhou"


def load_case(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((CASES / f"{name}.json").read_text())
    if case.get("source") == "seed":
        case["groups"] = json.loads((LOCAL_FIXTURES / "seed.json").read_text())["Response"]["ServiceGroups"]
    if "from" in case:
        case["groups"] = load_case(case["from"])["groups"]
    return case


def options_of(case: dict[str, Any]) -> RenderOptions:
    """A case's options: every family in full (`render_helpers.everything()`), the selection the cases were
    written for, unless it says `"selection": "default"` (the exporter's defaults); then its own settings."""
    raw = case.get("options", {})
    base = RenderOptions() if raw.get("selection") == "default" else rendered.everything()
    return replace(
        base,
        tag_labels=tuple(raw.get("tag_labels", base.tag_labels)),
        exclude=tuple(re.compile(pattern) for pattern in raw.get("exclude", ())),
        pod_series=raw.get("pod_series", base.pod_series),
        state_sets=raw.get("state_sets", base.state_sets),
        include=tuple(re.compile(pattern) for pattern in raw["include"]) if "include" in raw else base.include,
    )


def expected_lines(name: str) -> list[str]:
    text = (CASES / f"{name}.prom").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def metric_name(line: str) -> str:
    return re.split(r"[{ ]", line, maxsplit=1)[0]


def sample_lines(text: str, families: list[str] | None = None) -> list[str]:
    """The sample lines of the exposition (of the given families only, when given), in order."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    if families is None:
        return lines
    return [line for line in lines if metric_name(line) in families]


def service_events(items: list[dict[str, Any]]) -> tuple[ServiceEvents, ...]:
    """A case's `events`: per troubled service, `DescribeEvents`' answer (`TotalCount`, `Events`)."""
    return tuple(
        ServiceEvents(
            item["ServiceGroupId"],
            item["ServiceId"],
            tuple(Event.model_validate(event) for event in item.get("Events") or ()),
            item.get("TotalCount", len(item.get("Events") or ())),
            0.0,
        )
        for item in items
    )


def read_groups(items: list[Any]) -> list[records.ServiceGroup]:
    """The groups as the records a poll reads, every one of them kept (even one without an id, which the
    listing leaves out, so that the catalogue's own defences are tested too)."""
    return [msgspec.convert(item, records.ServiceGroup, strict=False) for item in items]


def snapshot_of(case: dict[str, Any], region: str = REGION) -> RegionSnapshot:
    """A region's snapshot from a case: its `groups` as listed; optionally `workspaces` (as
    `DescribeWorkspaces` sends them, all polled), `listed_in` (group id -> the workspace it was listed in),
    `resource_groups` (as `DescribeBillingResourceGroups` sends them), `events` (per troubled service,
    `DescribeEvents`' answer with the service's `ServiceGroupId` and `ServiceId`), `training_tasks` and
    `notebooks` (as `DescribeTrainingTasks` / `DescribeNotebooks` send them, with `holders_in`: id -> the
    workspace it was listed in) and `spec_prices` (`DescribeBillingSpecsPrice`'s `SpecsPrice`)."""
    workspaces = tuple(msgspec.convert(item, Workspace, strict=False) for item in case.get("workspaces", ()))
    listed = RegionSnapshot(
        region,
        tuple(read_groups(case.get("groups", []))),
        group_workspaces=dict(case.get("listed_in", {})),
        polled_workspaces=tuple(item.ti_project_id or "" for item in workspaces),
    )
    snapshot = with_results(
        listed,
        Discovery(workspaces),
        tuple(msgspec.convert(item, ResourceGroup, strict=False) for item in case.get("resource_groups", ())),
        service_events(case.get("events", [])),
        holders_of(case),
    )
    return TRAFFIC.stored(snapshot, traffic_of(case["traffic"])) if "traffic" in case else snapshot


def traffic_of(raw: dict[str, Any]) -> Traffic:
    """A case's `traffic`: Cloud Monitor's latest points (`samples`: metric, group, value as sent, end of
    period, period) and the budget (`requests`, `interval`, `budget`), through the source's own arithmetic."""
    samples = [
        monitor.Sample(item["metric"], (("ServiceGroupId", item["group"]),), item["value"], item["end"], item["period"])
        for item in raw.get("samples", ())
    ]
    budget = raw.get("budget")
    planned = monitor.plan(budget["requests"], interval=budget["interval"], budget=budget["budget"]) if budget else None
    return Traffic(groups=monitor.group_traffic(samples), budget=planned)


def holders_of(case: dict[str, Any]) -> HolderResults | None:
    """A case's training tasks, notebooks and prices, or None when it has none of them (sources off)."""
    if not {"training_tasks", "notebooks", "spec_prices"} & case.keys():
        return None
    where = MappingProxyType(dict(case.get("holders_in", {})))
    tasks = tuple(msgspec.convert(item, TrainingTask, strict=False) for item in case.get("training_tasks", ()))
    notebooks = tuple(msgspec.convert(item, Notebook, strict=False) for item in case.get("notebooks", ()))
    priced = (hourly_price(msgspec.convert(item, SpecPrice, strict=False)) for item in case.get("spec_prices", ()))
    return HolderResults(Listed(tasks, where), Listed(notebooks, where), tuple(p for p in priced if p is not None))


@dataclass(frozen=True)
class HolderResults:
    tasks: Listed[TrainingTask]
    notebooks: Listed[Notebook]
    prices: tuple[HourlyPrice, ...]


def with_results(
    snapshot: RegionSnapshot,
    discovery: Discovery,
    resource_groups: tuple[ResourceGroup, ...] = (),
    events: tuple[ServiceEvents, ...] = (),
    holders: HolderResults | None = None,
) -> RegionSnapshot:
    """`snapshot` with the secondary sources' results, stored as the sources store them."""
    snapshot = DISCOVERY.stored(snapshot, discovery)
    snapshot = EVENTS.stored(RESOURCE_GROUPS.stored(snapshot, resource_groups), events)
    if holders is not None:
        snapshot = TASKS_OF.stored(NOTEBOOKS_OF.stored(snapshot, holders.notebooks), holders.tasks)
        snapshot = PRICES.stored(snapshot, holders.prices)
    return snapshot


def render_case(case: dict[str, Any], options: RenderOptions | None = None) -> str:
    """The case's exposition; with `"dedupe": true` its groups first go through the listing's `dedupe`,
    as a group read twice across pages does."""
    snapshot = snapshot_of(case)
    if case.get("dedupe"):
        snapshot = replace(snapshot, groups=tuple(dedupe(snapshot.groups)))
    return rendered.text(render([collect_region(snapshot, options or rendered.everything())])).decode()


def render_groups(groups: list[dict[str, Any]], options: RenderOptions | None = None) -> str:
    """The groups' exposition, every family in full unless `options` says otherwise."""
    return render_case({"groups": groups}, options)


CASE_NAMES = sorted(path.stem for path in CASES.glob("*.json"))


def test_every_case_has_its_expected_lines() -> None:
    assert CASE_NAMES, "no cases found"
    assert sorted(path.stem for path in CASES.glob("*.prom")) == CASE_NAMES


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_gives_exactly_the_expected_lines(name: str) -> None:
    case = load_case(name)
    families = case.get("families")
    if families is not None:
        unknown = set(families) - {family.name for family in SNAPSHOT_FAMILIES}
        assert not unknown, f"case {name} names families that do not exist: {unknown}"
    text = render_case(case, options_of(case))
    assert sample_lines(text, families) == expected_lines(name)


# --- every field null -----------------------------------------------------------------------------


def all_null(model: type[ApiModel]) -> dict[str, Any]:
    """The model's every field, by its wire name, as null."""
    return {field.alias or name: None for name, field in model.model_fields.items()}


def test_objects_with_every_field_null_give_only_their_identity_and_info_series() -> None:
    service = all_null(Service) | {
        "ServiceId": "ms-n1-1",
        "ServiceInfo": all_null(ServiceInfo)
        | {
            "Resources": all_null(ResourceInfo),
            "Status": all_null(WorkloadStatus) | {"Conditions": [all_null(Condition)]},
            "HorizontalPodAutoscaler": all_null(HorizontalPodAutoscaler),
            "ScheduledAction": all_null(ScheduledAction),
            "ModelInfo": all_null(ModelInfo),
            "ImageInfo": all_null(ImageInfo),
            "PodInfos": [all_null(Pod) | {"Name": "pod-0", "ContainerInfos": [all_null(Container)]}],
        },
        "ScheduledAction": all_null(ScheduledAction),
    }
    group = all_null(ServiceGroup) | {"ServiceGroupId": "ms-n1", "Services": [service]}
    text = render_groups([group], RenderOptions(tag_labels=("*",)))
    empty_info = ",".join(f'{label}=""' for label in GROUP_FAMILIES[0].labels)
    service_info = next(family for family in SERVICE_FAMILIES if family.name == "tione_service_info")
    empty_service_info = ",".join(f'{label}=""' for label in service_info.labels)
    assert sample_lines(text) == [
        f'tione_service_group_info{{region="ap-guangzhou",service_group_id="ms-n1",{empty_info}}} 1.0',
        'tione_service_group_tags{region="ap-guangzhou",service_group_id="ms-n1"} 1.0',
        f'tione_service_info{{region="ap-guangzhou",service_group_id="ms-n1",service_id="ms-n1-1",{empty_service_info}}} 1.0',
        'tione_service_tags{region="ap-guangzhou",service_group_id="ms-n1",service_id="ms-n1-1"} 1.0',
    ]


def test_a_service_without_service_info_gives_its_info_series_only() -> None:
    text = render_groups([{"ServiceGroupId": "g", "Services": [{"ServiceId": "g-1", "Status": None}]}])
    assert [metric_name(line) for line in sample_lines(text)] == ["tione_service_group_info", "tione_service_info"]


# --- the identity of objects ----------------------------------------------------------------------


def test_objects_without_an_id_or_listed_twice_are_skipped() -> None:
    groups = [
        {"ServiceGroupId": "g1", "ServiceCount": 1, "Services": [{"ServiceId": "g1-1", "Weight": 1}]},
        {"ServiceGroupId": None, "ServiceCount": 7, "Services": [{"ServiceId": "orphan-1", "Weight": 7}]},
        {"ServiceGroupId": "", "ServiceCount": 8},
        {"ServiceGroupId": "g1", "ServiceCount": 9, "Services": [{"ServiceId": "g1-1", "Weight": 9}]},
        {
            "ServiceGroupId": "g2",
            "ServiceCount": 2,
            "Services": [{"ServiceId": None, "Weight": 5}, {"ServiceId": "g1-1", "Weight": 6}],
        },
    ]
    text = render_groups(groups)
    assert sample_lines(text, ["tione_service_group_services", "tione_service_weight"]) == [
        'tione_service_group_services{region="ap-guangzhou",service_group_id="g1"} 1.0',
        'tione_service_group_services{region="ap-guangzhou",service_group_id="g2"} 2.0',
        'tione_service_weight{region="ap-guangzhou",service_group_id="g1",service_id="g1-1"} 1.0',
    ]


def test_the_service_group_name_falls_back_to_the_group() -> None:
    text = render_groups(
        [{"ServiceGroupId": "g", "ServiceGroupName": "from-group", "Services": [{"ServiceId": "g-1"}]}]
    )
    (line,) = sample_lines(text, ["tione_service_info"])
    assert 'service_group_name="from-group"' in line


def test_the_service_group_id_label_is_the_listing_group_not_the_service_field() -> None:
    text = render_groups([{"ServiceGroupId": "g", "Services": [{"ServiceId": "g-1", "ServiceGroupId": "other"}]}])
    (line,) = sample_lines(text, ["tione_service_info"])
    assert line.startswith('tione_service_info{region="ap-guangzhou",service_group_id="g",service_id="g-1",')


# --- the pieces -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("Normal", [("Normal", 1.0), ("Stopped", 0.0)]),
        ("Stopped", [("Normal", 0.0), ("Stopped", 1.0)]),
        ("Gone", [("Normal", 0.0), ("Stopped", 0.0), ("Gone", 1.0)]),
        (None, []),
        ("", []),
        (" ", []),
    ],
)
def test_state_set(current: str | None, expected: list[tuple[str, float]]) -> None:
    samples = state_set(current, ("Normal", "Stopped"))
    assert [(values[0], value) for values, value in samples] == expected


def test_state_set_with_a_leading_label() -> None:
    assert state_set("Up", ("Up", "Down"), "pod-0") == ((("pod-0", "Up"), 1.0), (("pod-0", "Down"), 0.0))
    assert state_set("Gone", ("Up",), "pod-0") == ((("pod-0", "Up"), 0.0), (("pod-0", "Gone"), 1.0))


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("True", "true"),
        ("False", "false"),
        ("Unknown", "unknown"),
        ("true", "true"),
        (" FALSE ", "false"),
        ("Maybe", "unknown"),
        (None, None),
        ("", None),
    ],
)
def test_condition_state(status: str | None, state: str | None) -> None:
    assert condition_state(status) == state


# --- the declarations -----------------------------------------------------------------------------


def test_families_follow_the_naming_conventions() -> None:
    names = [family.name for family in SNAPSHOT_FAMILIES]
    assert len(names) == len(set(names))
    for family in SNAPSHOT_FAMILIES:
        assert family.type in {"gauge", "counter"}, family.name
        assert re.fullmatch(r"tione_[a-z0-9_]+", family.name), family.name
        assert (family.type == "counter") == family.name.endswith("_total"), family.name
        assert family.help and not re.search(r'[\\"\n]', family.help), family.name
        identity = set(family.identity_labels)
        assert not identity & set(family.labels), family.name
        assert isinstance(family, SampleFamily) != isinstance(family, TagFamily), family.name
        for label in family.labels:
            assert label not in {"namespace", "pod", "service", "endpoint", "instance", "job"}, family.name
    assert all(family.scope == "group" for family in GROUP_FAMILIES)
    assert all(family.scope == "service" for family in SERVICE_FAMILIES)
    assert all(family.scope == "pod" and family.pods for family in POD_FAMILIES)
    assert not any(family.pods for family in GROUP_FAMILIES + SERVICE_FAMILIES)


def test_names_images_and_models_appear_only_on_info_series() -> None:
    text_labels = {"service_group_name", "model_name", "image_url", "model_id", "created_by"}
    for family in SNAPSHOT_FAMILIES:
        if not family.name.endswith("_info"):
            assert not text_labels & set(family.labels), family.name


def test_state_set_families_declare_the_known_values_of_the_models() -> None:
    declared = {family.name: family.states for family in SNAPSHOT_FAMILIES if family.states}
    assert declared == {
        "tione_service_group_status": records.SERVICE_STATUSES,
        "tione_service_group_component_status": records.SERVICE_STATUSES,
        "tione_service_group_component_business_status": records.COMPONENT_BUSINESS_STATUSES,
        "tione_service_status": records.SERVICE_STATUSES,
        "tione_service_business_status": records.SERVICE_BUSINESS_STATUSES,
        "tione_service_workload_status": records.WORKLOAD_STATUSES,
        "tione_service_status_condition": ("true", "false", "unknown"),
        "tione_service_pod_phase": records.POD_PHASES,
        "tione_training_task_status": holders.TRAINING_UNFINISHED,
        "tione_notebook_status": holders.NOTEBOOK_UNFINISHED,
    }


def test_sample_functions_are_pure() -> None:
    groups = load_case("pods")["groups"] + load_case("seed")["groups"]
    parsed = [ServiceGroup.model_validate(group) for group in groups]
    for group in parsed:
        listed = ListedGroup(group, "ws-1")
        for family in GROUP_FAMILIES:
            if isinstance(family, SampleFamily):
                assert family.samples(listed) == family.samples(listed)
        for service in group.services or ():
            subject = ServiceInGroup(service, group)
            for service_family in SERVICE_FAMILIES:
                if isinstance(service_family, SampleFamily):
                    assert service_family.samples(subject) == service_family.samples(subject)
            for pod in pods(service):
                pod_subject = PodOfService(pod, service, group)
                for pod_family in POD_FAMILIES:
                    assert isinstance(pod_family, SampleFamily)
                    assert pod_family.samples(pod_subject) == pod_family.samples(pod_subject)
    assert [group.to_api() for group in parsed] == [ServiceGroup.model_validate(g).to_api() for g in groups]


@pytest.mark.parametrize(
    ("on_service", "on_info", "expected"),
    [
        ("4", 2, 12),  # the service's string wins
        (" 4 ", None, 12),
        ("", 2, 6),  # an empty string is no value: ServiceInfo's integer applies
        ("four", 2, 6),
        ("-1", None, None),
        (None, None, None),
    ],
)
def test_dist_instances_per_replica_as_the_sdk_types_them(
    on_service: str | None, on_info: int | None, expected: int | None
) -> None:
    """`Service.InstancePerReplicas` is a string, `ServiceInfo.InstancePerReplicas` an integer."""
    from exporter.metrics.families.service_resources import ServiceInGroup, replicas_allocated

    service = Service.model_validate(
        {
            "ServiceId": "ms-1-1",
            "DeployType": "DIST",
            "InstancePerReplicas": on_service,
            "ServiceInfo": {"InstancePerReplicas": on_info, "Status": {"Replicas": 3}},
        }
    )
    assert replicas_allocated(ServiceInGroup(service, ServiceGroup())) == expected


# --- single fields of a service -------------------------------------------------------------------


def _labels_of(text: str, family: str) -> list[dict[str, str]]:
    return [dict(sample.labels) for parsed in parse_text(text) if parsed.name == family for sample in parsed.samples]


def test_every_info_label_carries_its_own_field() -> None:
    """Each label of `tione_service_info` from a service whose fields all differ: a label fed by the wrong
    field, or by none, shows."""
    service = {
        "ServiceId": "ms-i-1",
        "ServiceGroupName": "own-name",
        "Version": "v-ver",
        "ChargeType": "POSTPAID_BY_HOUR",
        "ResourceGroupId": "trsg-1",
        "ResourceGroupName": "rg-name",
        "ClusterId": "cls-1",
        "Namespace": "ns-1",
        "DeployType": "STANDARD",
        "CreateSource": "AUTO_ML",
        "ServiceInfo": {
            "InstanceType": "TI.S.1",
            "ScaleMode": "AUTO",
            "ModelInfo": {
                "ModelId": "m-id",
                "ModelName": "m-name",
                "ModelVersion": "m-ver",
                "ModelVersionId": "m-ver-id",
                "ModelSource": "COS",
                "ModelFormat": "PYTORCH",
                "AlgorithmFramework": "PYTORCH",
            },
            "ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": "u:p@reg.example.com/ns/img:1"},
        },
    }
    text = render_groups([{"ServiceGroupId": "ms-i", "ServiceGroupName": "group-name", "Services": [service]}])
    [labels] = _labels_of(text, "tione_service_info")
    assert labels == {
        "region": REGION,
        "service_group_id": "ms-i",
        "service_id": "ms-i-1",
        "service_group_name": "own-name",
        "version": "v-ver",
        "model_id": "m-id",
        "model_name": "m-name",
        "model_version": "m-ver",
        "model_version_id": "m-ver-id",
        "model_source": "COS",
        "model_format": "PYTORCH",
        "algorithm_framework": "PYTORCH",
        "image_type": "CUSTOM",
        "image_url": "reg.example.com/ns/img:1",
        "instance_type": "TI.S.1",
        "charge_type": "POSTPAID_BY_HOUR",
        "resource_group_id": "trsg-1",
        "resource_group_name": "rg-name",
        "cluster_id": "cls-1",
        "tione_namespace": "ns-1",
        "deploy_type": "STANDARD",
        "scale_mode": "AUTO",
        "create_source": "AUTO_ML",
    }


def test_a_card_model_not_given_is_an_empty_label_not_a_made_up_one() -> None:
    service = {
        "ServiceId": "ms-g-1",
        "ServiceInfo": {"Resources": {"Cpu": 1000, "Gpu": 50, "RealGpu": 100}, "Status": {"Replicas": 2}},
    }
    text = render_groups([{"ServiceGroupId": "ms-g", "Services": [service]}])
    for family, value in (
        ("tione_service_replica_gpus", 0.5),
        ("tione_service_replica_physical_gpus", 1.0),
        ("tione_service_allocated_physical_gpus", 2.0),
    ):
        samples = [
            (dict(sample.labels).get("gpu_type"), sample.value)
            for parsed in parse_text(text)
            if parsed.name == family
            for sample in parsed.samples
        ]
        assert samples == [("", value)], family


@pytest.mark.parametrize(("text", "number"), [("0", 0), (" 3 ", 3), ("-1", None), ("x", None), (None, None)])
def test_whole_number(text: str | None, number: int | None) -> None:
    assert service_resources.whole_number(text) == number


@pytest.mark.parametrize(
    ("step", "desired", "down", "up"),
    [
        (None, 4, None, None),
        ({"Type": "Num", "Value": 2}, None, 2, 2),
        ({"Type": " NUM ", "Value": 0}, 4, 0, 0),
        ({"Type": "Num", "Value": -1}, 4, None, None),
        ({"Type": "Num", "Value": None}, 4, None, None),
        ({"Type": None, "Value": 2}, 4, None, None),
        ({"Type": "Percent", "Value": 100}, 1, 1, 1),
        ({"Type": "Percent", "Value": 1}, 101, 1, 2),
        ({"Type": "Percent", "Value": 25}, 10, 2, 3),
        ({"Type": "Percent", "Value": 25}, None, None, None),
        ({"Type": "Percent", "Value": -25}, 10, None, None),
    ],
)
def test_rollout_budget_reads_num_and_percent_as_kubernetes_does(
    step: dict[str, Any] | None, desired: int | None, down: int | None, up: int | None
) -> None:
    parsed = None if step is None else NumOrPercent.model_validate(step)
    assert service_kind.rollout_budget(parsed, desired, round_up=False) == down
    assert service_kind.rollout_budget(parsed, desired, round_up=True) == up


def test_state_sets_with_and_without_a_leading_label_never_share_their_samples() -> None:
    """Samples of a state set are shared between objects in the same state, but only without a leading
    label: one of another pod, or none, must never come back from the cache."""
    known = ("Up-cache", "Down-cache")
    assert state_set("Up-cache", known) == ((("Up-cache",), 1.0), (("Down-cache",), 0.0))
    assert state_set("Up-cache", known, "pod-0") == ((("pod-0", "Up-cache"), 1.0), (("pod-0", "Down-cache"), 0.0))
    assert state_set("Down-cache", known, "pod-1") == ((("pod-1", "Up-cache"), 0.0), (("pod-1", "Down-cache"), 1.0))
    assert state_set("Down-cache", known) == ((("Up-cache",), 0.0), (("Down-cache",), 1.0))


def test_a_pod_without_containers_has_its_pod_series_only() -> None:
    service = {
        "ServiceId": "ms-p-1",
        "ServiceInfo": {"PodInfos": [{"Name": "pod-a", "Phase": "Running", "ContainerInfos": None}]},
    }
    text = render_groups([{"ServiceGroupId": "ms-p", "Services": [service]}])
    assert 'pod_name="pod-a",phase="Running"} 1.0' in text
    assert "container" not in text.replace("ContainerInfos", "")


def test_services_are_tallied_by_status_and_one_without_is_unknown() -> None:
    groups = [
        {"ServiceGroupId": "ms-t", "Services": [{"ServiceId": "ms-t-1", "Status": "Normal"}, {"ServiceId": "ms-t-2"}]}
    ]
    collected = collect_region(snapshot_of({"groups": groups}))
    assert dict(collected.services_by_status) == {"Normal": 1, "unknown": 1}
