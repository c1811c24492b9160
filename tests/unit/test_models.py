from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests import api_models as m


def test_seed_round_trips_without_loss(seed_response: dict[str, Any]) -> None:
    parsed = m.DescribeModelServiceGroupsResponse.model_validate(seed_response)
    assert parsed.to_api() == seed_response


def test_seed_fields_are_typed(seed_response: dict[str, Any]) -> None:
    parsed = m.DescribeModelServiceGroupsResponse.model_validate(seed_response)
    group = parsed.service_groups[0]  # type: ignore[index]
    service = group.services[0]  # type: ignore[index]
    info = service.service_info
    assert info is not None and info.resources is not None and info.status is not None
    assert group.create_time == datetime(2023, 8, 5, 5, 46, 58, tzinfo=UTC)
    assert info.resources.cpu == 12000
    assert info.resources.real_gpu_detail_set == [m.GpuDetail(name="A10", value=100)]
    condition = info.status.conditions[0]  # type: ignore[index]
    assert condition.last_transition_time == datetime(2023, 8, 8, 22, 27, 1, tzinfo=timezone(timedelta(hours=8)))
    assert condition.last_transition_time == datetime(2023, 8, 8, 14, 27, 1, tzinfo=UTC)
    assert service.status == "Stopped" and info.horizontal_pod_autoscaler is None


def _null_everything(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: None for key in value}
    return value


def test_null_in_every_field_is_accepted(seed_response: dict[str, Any]) -> None:
    """Replace, level by level, every value with null: each object must still parse."""

    def walk(obj: Any, path: list[Any]) -> None:
        if isinstance(obj, dict):
            for key in obj:
                mutated = json.loads(json.dumps(seed_response))
                target = mutated
                for step in path:
                    target = target[step]
                target[key] = None
                parsed = m.DescribeModelServiceGroupsResponse.model_validate(mutated)
                assert parsed.to_api() == mutated
                walk(obj[key], [*path, key])
        elif isinstance(obj, list):
            for index, item in enumerate(obj):
                walk(item, [*path, index])

    walk(seed_response, [])
    assert m.DescribeModelServiceGroupsResponse.model_validate(_null_everything(seed_response)).service_groups is None


def test_unknown_fields_are_ignored(seed_response: dict[str, Any]) -> None:
    data = json.loads(json.dumps(seed_response))
    data["BrandNewField"] = {"x": 1}
    data["ServiceGroups"][0]["Services"][0]["ServiceInfo"]["Resources"]["Npu"] = 8
    parsed = m.DescribeModelServiceGroupsResponse.model_validate(data)
    assert parsed.to_api() == seed_response


def test_unknown_enum_values_are_kept(seed_response: dict[str, Any]) -> None:
    data = json.loads(json.dumps(seed_response))
    data["ServiceGroups"][0]["Services"][0]["Status"] = "Hibernating"
    parsed = m.DescribeModelServiceGroupsResponse.model_validate(data)
    assert parsed.service_groups[0].services[0].status == "Hibernating"  # type: ignore[index]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-08-05T05:46:58Z", datetime(2023, 8, 5, 5, 46, 58, tzinfo=UTC)),
        ("2023-08-05T13:46:58+08:00", datetime(2023, 8, 5, 5, 46, 58, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_timestamps(raw: str | None, expected: datetime | None) -> None:
    service = m.Service.model_validate({"CreateTime": raw})
    assert service.create_time == expected


def test_naive_time_is_utc() -> None:
    service = m.Service.model_validate({"CreateTime": "2023-08-05 05:46:58"})
    assert m.as_utc(service.create_time) == datetime(2023, 8, 5, 5, 46, 58, tzinfo=UTC)


def test_secrets_are_masked_unless_revealed() -> None:
    group = m.ServiceGroup.model_validate(
        {
            "AuthTokens": [{"Base": {"Value": "tok-SECRET-1", "Name": "default"}}],
            "Services": [
                {
                    "ServiceInfo": {
                        "ImageInfo": {"ImageSecret": {"Username": "u-SECRET", "Password": "p-SECRET"}},
                        "Env": [{"Name": "API_KEY", "Value": "env-SECRET", "IsPrivate": True}],
                    }
                }
            ],
        }
    )
    for text in (repr(group), str(group), group.model_dump_json(), json.dumps(group.model_dump(mode="json"))):
        assert "SECRET" not in text
    revealed = json.dumps(group.to_api())
    for secret in ("tok-SECRET-1", "u-SECRET", "p-SECRET", "env-SECRET"):
        assert secret in revealed
