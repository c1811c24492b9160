"""Reading groups: what each odd object costs, that the one-pass read of a page agrees with the
object-by-object one, and that the records' fields (the one declaration of what is read) are exactly what
the metric families, the status page and the listing read."""

from __future__ import annotations

import copy
import json
import re
import types
import typing
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from exporter.metrics.attention import attention_rows
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import collect_region
from exporter.simulator import Simulator, SimulatorConfig
from exporter.tione.decode import Skipped, decode_answer, decode_groups
from exporter.tione.listing import dedupe
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.text import KEPT_TEXT
from tests import api_models
from tests.api_models import ApiModel
from tests.conftest import LOCAL_FIXTURES
from tests.sdk_types import record_of


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
    decoded = decode_groups([group("ms-1"), group("ms-2", 1)])
    assert ids(decoded.groups) == {"ms-1": ["ms-1-1", "ms-1-2"], "ms-2": ["ms-2-1"]}
    assert decoded.skipped == []


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
    decoded = decode_groups([group("ms-0", 1), edited(path, value), group("ms-2", 1)])
    assert ids(decoded.groups) == {"ms-0": ["ms-0-1"], **kept, "ms-2": ["ms-2-1"]}
    assert decoded.skipped == skipped
    typed = decode_answer(body([group("ms-0", 1), edited(path, value), group("ms-2", 1)]))
    if skipped:
        assert typed is None, "a page with an object that does not fit is read object by object"
    else:
        assert typed is not None and ids(typed.service_groups or []) == ids(decoded.groups)


def body(groups: list[Any]) -> bytes:
    return json.dumps({"Response": {"TotalCount": len(groups), "ServiceGroups": groups, "RequestId": "r"}}).encode()


def test_the_one_pass_read_gives_what_the_object_by_object_read_gives() -> None:
    items = [group(f"ms-{index}", index % 3 + 1) for index in range(5)]
    typed = decode_answer(body(items))
    assert typed is not None and typed.total_count == 5 and typed.request_id == "r"
    assert typed.service_groups == decode_groups(items).groups


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"Response": {"Error": {"Code": "AuthFailure", "Message": "no"}, "RequestId": "r"}}',
        b'{"Response": {"TotalCount": "many"}}',
        b'{"Response": {"GlobalTotalCount": "yesterday"}}',
        b'{"NoResponse": {}}',
        b'{"Response": {"TotalCount": 1, "ServiceGroups": {"odd": 1}}}',
    ],
)
def test_an_answer_the_one_pass_read_cannot_take_is_left_to_the_untyped_path(content: bytes) -> None:
    assert decode_answer(content) is None


def test_a_time_that_cannot_be_read_is_unknown_and_costs_nothing() -> None:
    item = group() | {"CreateTime": 1700000000, "UpdateTime": "2024-01-02 03:04:05"}
    item["Services"][0]["CreateTime"] = ["not", "a", "time"]
    (decoded,) = decode_groups([item]).groups
    assert decoded.create_time is None
    assert decoded.update_time is not None and decoded.update_time.isoformat() == "2024-01-02T03:04:05"
    assert decoded.services is not None and decoded.services[0].create_time is None


def test_an_unread_field_that_is_dropped_takes_nothing_else_with_it() -> None:
    decoded = decode_groups([edited(["Services", 0, "ServiceInfo", "Env"], "not-a-list")])
    service = decoded.groups[0].services[0]  # type: ignore[index]
    assert service.service_info is not None
    assert not hasattr(service.service_info, "env") and service.service_info.replicas == 2
    assert service.service_info.horizontal_pod_autoscaler is not None
    assert decoded.skipped == []


def test_objects_that_cannot_be_told_apart_are_left_out() -> None:
    anonymous_service = edited(["Services", 0, "ServiceId"], None)
    decoded = decode_groups([group(""), anonymous_service, "a string", None])
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
    decode_groups([document])
    assert document == original


def _fleet_and_fixtures() -> Iterator[api_models.ServiceGroup]:
    for path in sorted((LOCAL_FIXTURES / "metrics" / "cases").glob("*.json")):
        for item in json.loads(path.read_text()).get("groups", []):
            yield api_models.ServiceGroup.model_validate(item)
    simulator = Simulator(SimulatorConfig(groups=80, churn=False, seed=5))
    simulator.churn_step(40)
    for region in simulator.regions:
        for item in simulator.fleet(region):
            yield api_models.ServiceGroup.model_validate(item)


def records_below(record: type[msgspec.Struct]) -> dict[str, type[msgspec.Struct]]:
    """`record` and every record its fields reach, by class name."""
    found = {record.__name__: record}
    for annotation in typing.get_type_hints(record).values():
        nested = record_of(annotation)
        if nested is not None and nested.__name__ not in found:
            found |= records_below(nested)
    return found


def read_fields() -> dict[str, frozenset[str]]:
    """Per object kind, the Python names of the fields read: the records' fields (a time kept as sent,
    `<name>_sent`, is read as `<name>`)."""
    return {
        name: frozenset(field.name.removesuffix("_sent") for field in msgspec.structs.fields(record))
        for name, record in records_below(ServiceGroup).items()
    }


def test_the_records_hold_exactly_the_fields_the_exporter_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the catalogue (every family in full, tags and pods on), the status page's
    table of services needing attention and the listing's de-duplication over every fixture and a churned
    simulated fleet parsed into the documented models, recording each field they touch: every one is a
    record's field, and every record's field is touched (none is decoded for nothing)."""
    groups = list(_fleet_and_fixtures())
    touched: set[tuple[str, str]] = set()
    original = ApiModel.__getattribute__

    def recording(self: ApiModel, name: str) -> Any:
        cls = type(self)
        if name in cls.model_fields:
            touched.add((cls.__name__, name))
        return original(self, name)

    monkeypatch.setattr(ApiModel, "__getattribute__", recording)
    snapshot = RegionSnapshot("r", tuple(groups))  # type: ignore[arg-type]
    every = RenderOptions(tag_labels=("*",), pod_series=True, state_sets="full", include=(re.compile(".*"),))
    collect_region(snapshot, every)
    assert attention_rows(snapshot)
    dedupe(groups + groups)  # type: ignore[arg-type]
    monkeypatch.undo()

    declared = {(kind, name) for kind, names in read_fields().items() for name in names}
    assert len(touched) > 60
    assert sorted(f"{kind}.{name}" for kind, name in touched - declared) == []
    assert sorted(f"{kind}.{name}" for kind, name in declared - touched) == []


def test_an_unread_field_below_a_read_list_is_dropped_not_the_service() -> None:
    """`PodInfos` is read, a pod's `Uid` is not: the list index on the way must not end the search."""
    broken = edited(["Services", 0, "ServiceInfo", "PodInfos"], [{"Name": "p-1", "Uid": {"odd": 1}}])
    decoded = decode_groups([broken])
    assert ids(decoded.groups) == {"ms-1": ["ms-1-1", "ms-1-2"]}
    assert decoded.skipped == []


def _model_of(annotation: Any) -> type[ApiModel] | None:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, typing.Annotated):
        found = [_model_of(arg) for arg in typing.get_args(annotation)]
        return next((item for item in found if item is not None), None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, ApiModel) else None


def test_each_record_reads_the_documented_object_under_its_names() -> None:
    """Each record is the documented object (`tests/api_models.py`) cut down to the fields read: same
    Python name, same name on the wire, and a nested record where the object nests one."""
    for name, record in records_below(ServiceGroup).items():
        model = getattr(api_models, name)
        hints = typing.get_type_hints(record)
        for field in msgspec.structs.fields(record):
            read = field.name.removesuffix("_sent")
            info = model.model_fields[read]
            assert field.encode_name == (info.alias or read), f"{name}.{read}"
            nested, expected = record_of(hints[field.name]), _model_of(info.annotation)
            assert (nested.__name__ if nested else None) == (expected.__name__ if expected else None), read
            assert getattr(record, read) is not None  # a time read through its property


def test_an_id_that_is_not_text_is_not_quoted() -> None:
    broken = edited(["ServiceCount"], "two", {**group(), "ServiceGroupId": 12345})
    decoded = decode_groups([broken])
    assert decoded.skipped == [Skipped("service_group", "", "", "ServiceGroupId", "wrong_type")]


LONG = "x" * (1 << 20)
"""A megabyte of text, as the platform may send in a message."""


def test_long_free_text_is_kept_cut_and_costs_nothing_else() -> None:
    """The one-pass read refuses a page with free text longer than the records keep; the object-by-object
    read cuts it to `KEPT_TEXT` characters and keeps the object, without changing the answer."""
    item = edited(["Services", 0, "CreateFailedReason"], LONG)
    status = {"Conditions": [{"Type": "Available", "Status": "False", "Message": LONG}, {"Message": "short"}]}
    item["Services"][1]["ServiceInfo"]["Status"] = status
    original = copy.deepcopy(item)
    assert decode_answer(body([item, group("ms-2")])) is None
    decoded = decode_groups([item, group("ms-2")])
    assert decoded.skipped == []
    assert ids(decoded.groups) == {"ms-1": ["ms-1-1", "ms-1-2"], "ms-2": ["ms-2-1", "ms-2-2"]}
    first, second = decoded.groups[0].services  # type: ignore[misc]
    assert first.create_failed_reason == "x" * KEPT_TEXT
    conditions = second.service_info.status.conditions  # type: ignore[union-attr]
    assert [condition.message for condition in conditions] == ["x" * KEPT_TEXT, "short"]  # type: ignore[union-attr]
    assert item == original


def test_free_text_up_to_what_is_kept_takes_the_one_pass_read() -> None:
    item = edited(["Services", 0, "CreateFailedReason"], "x" * KEPT_TEXT)
    typed = decode_answer(body([item]))
    assert typed is not None and typed.service_groups is not None
    assert typed.service_groups[0].services[0].create_failed_reason == "x" * KEPT_TEXT  # type: ignore[index]


def test_a_long_text_where_the_records_keep_no_text_is_still_a_wrong_type() -> None:
    decoded = decode_groups([edited(["Services", 0, "ServiceInfo", "Replicas"], LONG)])
    assert [(item.path, item.reason) for item in decoded.skipped] == [
        ("Services[0].ServiceInfo.Replicas", "wrong_type")
    ]
