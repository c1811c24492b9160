"""Reading groups one by one: what each odd object costs, and that the fields declared as read are all
the catalogue and the status page actually read."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.metrics.reads import READ_FIELDS
from exporter.metrics.render import RenderOptions, collect_region
from exporter.simulator import Simulator, SimulatorConfig
from exporter.tione import models
from exporter.tione.decode import Skipped, decode_groups
from exporter.tione.models import ApiModel, ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from tests.conftest import LOCAL_FIXTURES


def group(group_id: str = "ms-1", services: int = 2) -> dict[str, Any]:
    return {
        "ServiceGroupId": group_id,
        "ServiceCount": services,
        "BillingInfo": "",
        "Services": [
            {
                "ServiceId": f"{group_id}-{index}",
                "Status": "Normal",
                "ServiceInfo": {
                    "Replicas": 2,
                    "Env": [{"Name": "TOKEN", "Value": "s3cr3t-value"}],
                    "HorizontalPodAutoscaler": {"MinReplicas": 1, "HpaMetrics": [{"Name": "cpu", "Value": 60}]},
                },
            }
            for index in range(1, services + 1)
        ],
    }


def ids(groups: list[ServiceGroup]) -> dict[str, list[str]]:
    return {g.service_group_id or "": [s.service_id or "" for s in g.services or ()] for g in groups}


def test_valid_groups_are_read_as_they_are() -> None:
    decoded = decode_groups([group("ms-1"), group("ms-2", 1)], READ_FIELDS)
    assert ids(decoded.groups) == {"ms-1": ["ms-1-1", "ms-1-2"], "ms-2": ["ms-2-1"]}
    assert decoded.skipped == [] and decoded.dropped == 0


def edited(path: list[str | int], value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    document = copy.deepcopy(base or group())
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "kept", "skipped"),
    [
        # Fields nobody reads: dropped, the object kept whole.
        (["BillingInfo"], {"odd": 1}, {"ms-1": ["ms-1-1", "ms-1-2"]}, []),
        (["Services", 0, "ServiceInfo", "Env"], "not-a-list", {"ms-1": ["ms-1-1", "ms-1-2"]}, []),
        (["Services", 0, "ServiceInfo", "Env", 0, "Value"], 12345, {"ms-1": ["ms-1-1", "ms-1-2"]}, []),
        (
            ["Services", 1, "ServiceInfo", "HorizontalPodAutoscaler", "HpaMetrics", 0, "Value"],
            "sixty",
            {"ms-1": ["ms-1-1", "ms-1-2"]},
            [],
        ),
        # A field read inside a service: that service goes, the group and its other services stay.
        (
            ["Services", 1, "ServiceInfo", "Replicas"],
            "two",
            {"ms-1": ["ms-1-1"]},
            [Skipped("service", "ms-1-2", "ms-1", "Services[1].ServiceInfo.Replicas", "wrong_type")],
        ),
        (
            ["Services", 0, "ServiceInfo", "HorizontalPodAutoscaler", "MinReplicas"],
            [1],
            {"ms-1": ["ms-1-2"]},
            [
                Skipped(
                    "service",
                    "ms-1-1",
                    "ms-1",
                    "Services[0].ServiceInfo.HorizontalPodAutoscaler.MinReplicas",
                    "wrong_type",
                )
            ],
        ),
        (
            ["Services", 0, "ServiceInfo"],
            "not-an-object",
            {"ms-1": ["ms-1-2"]},
            [Skipped("service", "ms-1-1", "ms-1", "Services[0].ServiceInfo", "not_an_object")],
        ),
        (
            ["Services", 1],
            ["not", "a", "service"],
            {"ms-1": ["ms-1-1"]},
            [Skipped("service", "", "ms-1", "Services[1]", "not_an_object")],
        ),
        # A field of the group's own that is read: the group goes.
        (["ServiceCount"], "two", {}, [Skipped("service_group", "ms-1", "ms-1", "ServiceCount", "wrong_type")]),
        (["Services"], {"a": 1}, {}, [Skipped("service_group", "ms-1", "ms-1", "Services", "wrong_type")]),
        # A time that cannot be read is unknown, never a skip.
        (["Services", 0, "CreateTime"], "yesterday", {"ms-1": ["ms-1-1", "ms-1-2"]}, []),
    ],
)
def test_what_one_odd_field_costs(
    path: list[str | int], value: Any, kept: dict[str, list[str]], skipped: list[Skipped]
) -> None:
    decoded = decode_groups([group("ms-0", 1), edited(path, value), group("ms-2", 1)], READ_FIELDS)
    assert ids(decoded.groups) == {"ms-0": ["ms-0-1"], **kept, "ms-2": ["ms-2-1"]}
    assert decoded.skipped == skipped


def test_an_unread_field_that_is_dropped_takes_nothing_else_with_it() -> None:
    decoded = decode_groups([edited(["Services", 0, "ServiceInfo", "Env"], "not-a-list")], READ_FIELDS)
    service = decoded.groups[0].services[0]  # type: ignore[index]
    assert service.service_info is not None
    assert service.service_info.env is None and service.service_info.replicas == 2
    assert service.service_info.horizontal_pod_autoscaler is not None
    assert decoded.dropped == 1


def test_without_a_declaration_of_reads_every_field_counts() -> None:
    decoded = decode_groups([edited(["BillingInfo"], {"odd": 1})])
    assert decoded.groups == []
    assert decoded.skipped == [Skipped("service_group", "ms-1", "ms-1", "BillingInfo", "wrong_type")]


def test_objects_that_cannot_be_told_apart_are_left_out() -> None:
    anonymous_service = edited(["Services", 0, "ServiceId"], None)
    decoded = decode_groups([group(""), anonymous_service, "a string", None], READ_FIELDS)
    assert ids(decoded.groups) == {"ms-1": ["ms-1-2"]}
    assert decoded.skipped == [
        Skipped("service_group", "", "", "ServiceGroupId", "no_id"),
        Skipped("service", "", "ms-1", "Services[0].ServiceId", "no_id"),
        Skipped("service_group", "", "", "", "not_an_object"),
        Skipped("service_group", "", "", "", "not_an_object"),
    ]


def test_the_input_is_not_changed_by_a_repair() -> None:
    document = edited(["Services", 0, "ServiceInfo", "Env"], "not-a-list")
    original = copy.deepcopy(document)
    decode_groups([document], READ_FIELDS)
    assert document == original


def _fleet_and_fixtures() -> Iterator[ServiceGroup]:
    for path in sorted((LOCAL_FIXTURES / "metrics" / "cases").glob("*.json")):
        for item in json.loads(path.read_text()).get("groups", []):
            yield ServiceGroup.model_validate(item)
    simulator = Simulator(SimulatorConfig(groups=80, churn=False, seed=5))
    simulator.churn_step(40)
    for region in simulator.regions:
        for item in simulator.fleet(region):
            yield ServiceGroup.model_validate(item)


def test_every_field_the_exporter_reads_is_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the catalogue (every family, tags and pods on, with the status page's counts) over every fixture
    and a churned simulated fleet, recording each model field they touch."""
    groups = list(_fleet_and_fixtures())
    touched: set[tuple[type[ApiModel], str]] = set()
    original = ApiModel.__getattribute__

    def recording(self: ApiModel, name: str) -> Any:
        cls = type(self)
        if name in cls.model_fields:
            touched.add((cls, name))
        return original(self, name)

    monkeypatch.setattr(ApiModel, "__getattribute__", recording)
    collect_region(RegionSnapshot("r", tuple(groups)), RenderOptions(tag_labels=("*",)))
    monkeypatch.undo()

    assert len(touched) > 60
    undeclared = sorted(f"{cls.__name__}.{name}" for cls, name in touched if name not in READ_FIELDS.get(cls, ()))
    assert undeclared == []


def test_an_unread_field_below_a_read_list_is_dropped_not_the_service() -> None:
    """`PodInfos` is read, a pod's `Uid` is not: the list index on the way must not end the search."""
    broken = edited(["Services", 0, "ServiceInfo", "PodInfos"], [{"Name": "p-1", "Uid": {"odd": 1}}])
    decoded = decode_groups([broken], READ_FIELDS)
    assert ids(decoded.groups) == {"ms-1": ["ms-1-1", "ms-1-2"]}
    assert decoded.skipped == [] and decoded.dropped == 1


def test_the_same_unread_field_broken_twice_is_dropped_once() -> None:
    broken = edited(["Services", 0, "ServiceInfo", "Env"], [{"Name": "A", "Value": 1}, {"Name": "B", "Value": 2}])
    decoded = decode_groups([broken, edited(["BillingInfo"], [1])], READ_FIELDS)
    assert ids(decoded.groups) == {"ms-1": ["ms-1-1", "ms-1-2"]}
    assert decoded.dropped == 3, "two in the first group, one in the second"


def test_a_model_reached_through_read_fields_without_a_declaration_is_read_whole() -> None:
    """Forgetting a class in the declaration must cost an object, never hide a broken field."""
    reads = {
        ServiceGroup: frozenset({"service_group_id", "services"}),
        models.Service: frozenset({"service_id", "service_info"}),
        models.ServiceInfo: frozenset({"status"}),
    }
    broken = edited(["Services", 1, "ServiceInfo", "Status"], {"Replicas": 1, "Reason": ["not", "text"]})
    decoded = decode_groups([broken], reads)
    assert ids(decoded.groups) == {"ms-1": ["ms-1-1"]}
    assert decoded.skipped == [
        Skipped("service", "ms-1-2", "ms-1", "Services[1].ServiceInfo.Status.Reason", "wrong_type")
    ]


def test_an_id_that_is_not_text_is_not_quoted() -> None:
    broken = edited(["ServiceCount"], "two", {**group(), "ServiceGroupId": 12345})
    decoded = decode_groups([broken], READ_FIELDS)
    assert decoded.skipped == [Skipped("service_group", "", "", "ServiceGroupId", "wrong_type")]
    assert decoded.dropped == 0


def test_a_repair_that_does_not_hold_leaves_the_group_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net: should a repair ever fail to remove what does not fit, the group is not trusted."""
    from exporter.tione import decode

    monkeypatch.setattr(decode, "_delete", lambda document, keys: None)
    decoded = decode_groups([group("ms-0", 1), edited(["BillingInfo"], {"odd": 1})], READ_FIELDS)
    assert ids(decoded.groups) == {"ms-0": ["ms-0-1"]}
    assert decoded.skipped == [Skipped("service_group", "ms-1", "ms-1", "BillingInfo", "wrong_type")]
    assert decoded.dropped == 0
