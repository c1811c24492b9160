"""`DescribeModelServiceGroups` over real HTTP on loopback: paging, order, filters, workspaces, errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from exporter.simulator import ACTION, VERSION, SimulatorConfig, SimulatorServer
from exporter.tencentcloud.signing import authorization
from tests.api_models import DescribeModelServiceGroupsResponse

REGION = "ap-guangzhou"
HTTP = httpx.Client()
"""One client for the module: a new client per request would build a TLS context each time (25 ms)."""


def call(
    server: SimulatorServer,
    body: Any = None,
    *,
    region: str | None = REGION,
    action: str | None = ACTION,
    version: str | None = VERSION,
    method: str = "POST",
    path: str = "/",
    raw: bytes | None = None,
    key: tuple[str, str] | None = None,
    token: str | None = None,
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """One request the way an API client sends it; signed when `key` (secret id, secret key) is given."""
    payload = raw if raw is not None else json.dumps({} if body is None else body).encode()
    headers = {"Content-Type": "application/json"}
    for name, value in (("X-TC-Region", region), ("X-TC-Action", action), ("X-TC-Version", version)):
        if value is not None:
            headers[name] = value
    if key is not None:
        import time

        stamp = int(time.time()) if timestamp is None else timestamp
        headers["X-TC-Timestamp"] = str(stamp)
        headers["Authorization"] = authorization(
            secret_id=key[0], secret_key=key[1], service="tione", host=server.endpoint, timestamp=stamp, body=payload
        )
    if token is not None:
        headers["X-TC-Token"] = token
    return HTTP.request(method, server.url + path, content=payload, headers=headers, timeout=timeout)


def ok(response: httpx.Response) -> dict[str, Any]:
    """The `Response` of a successful answer, checked against the exporter's models (nothing unknown, nothing lost)."""
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()["Response"]
    assert "Error" not in answer, answer
    uuid.UUID(answer["RequestId"])
    assert DescribeModelServiceGroupsResponse.model_validate(answer).to_api() == answer
    return answer  # type: ignore[no-any-return]


def error_code(response: httpx.Response, status: int = 200) -> str:
    """The code of an error envelope, after checking the envelope's shape."""
    assert response.status_code == status
    answer = response.json()["Response"]
    assert set(answer) == {"Error", "RequestId"}, answer
    uuid.UUID(answer["RequestId"])
    assert answer["Error"]["Message"]
    return answer["Error"]["Code"]  # type: ignore[no-any-return]


def ids(answer: dict[str, Any]) -> list[str]:
    return [group["ServiceGroupId"] for group in answer["ServiceGroups"]]


@pytest.fixture(scope="module")
def big() -> Iterator[SimulatorServer]:
    """Enough groups for several pages of 100 in the default workspace."""
    with SimulatorServer(SimulatorConfig(groups=260, churn=False, rate_limit=None)) as server:
        yield server


@pytest.fixture(scope="module")
def default_groups(big: SimulatorServer) -> list[dict[str, Any]]:
    groups = big.fleet(REGION, "")
    for field in ("CreateTime", "UpdateTime"):
        assert len({group[field] for group in groups}) == len(groups), "ties would make the expected order ambiguous"
    return groups


# -- paging -----------------------------------------------------------------------------------------


def test_default_page_is_twenty_newest_first(big: SimulatorServer, default_groups: list[dict[str, Any]]) -> None:
    answer = ok(call(big))
    assert len(default_groups) > 200
    assert answer["TotalCount"] == len(default_groups)
    assert answer["GlobalTotalCount"] == 260
    assert ids(answer) == [group["ServiceGroupId"] for group in default_groups[:20]]


def test_pages_cover_everything_once_and_the_last_is_partial(
    big: SimulatorServer, default_groups: list[dict[str, Any]]
) -> None:
    total = len(default_groups)
    seen: list[str] = []
    offset = 0
    while offset < total:
        answer = ok(call(big, {"Offset": offset, "Limit": 37}))
        assert answer["TotalCount"] == total
        expected = min(37, total - offset)
        assert len(answer["ServiceGroups"]) == expected
        seen += ids(answer)
        offset += 37
    assert expected == total % 37 or total % 37 == 0
    assert seen == [group["ServiceGroupId"] for group in default_groups]


def test_offset_past_the_end_is_empty_with_the_right_total(big: SimulatorServer) -> None:
    answer = ok(call(big, {"Offset": 10_000, "Limit": 10}))
    assert answer["ServiceGroups"] == [] and answer["TotalCount"] > 200


def test_limit_bounds(big: SimulatorServer) -> None:
    assert len(ok(call(big, {"Limit": 100}))["ServiceGroups"]) == 100
    assert ok(call(big, {"Limit": 0}))["ServiceGroups"] == []
    assert error_code(call(big, {"Limit": 101})) == "InvalidParameterValue"
    assert error_code(call(big, {"Limit": -1})) == "InvalidParameterValue"
    assert error_code(call(big, {"Offset": -1})) == "InvalidParameterValue"
    assert error_code(call(big, {"Limit": "10"})) == "InvalidParameter"
    assert error_code(call(big, {"Offset": 1.5})) == "InvalidParameter"
    assert error_code(call(big, {"Limit": True})) == "InvalidParameter"


# -- order ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["CreateTime", "UpdateTime"])
@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_order(big: SimulatorServer, default_groups: list[dict[str, Any]], field: str, order: str) -> None:
    answer = ok(call(big, {"Limit": 100, "Order": order, "OrderField": field}))
    expected = sorted(default_groups, key=lambda g: g[field], reverse=order == "DESC")
    assert ids(answer) == [group["ServiceGroupId"] for group in expected[:100]]
    stamps = [group[field] for group in answer["ServiceGroups"]]
    assert stamps == sorted(stamps, reverse=order == "DESC")


def test_order_alone_and_order_field_alone(big: SimulatorServer, default_groups: list[dict[str, Any]]) -> None:
    ascending = ok(call(big, {"Order": "ASC"}))
    by_update = ok(call(big, {"OrderField": "UpdateTime"}))
    assert ids(ascending) == [g["ServiceGroupId"] for g in sorted(default_groups, key=lambda g: g["CreateTime"])[:20]]
    newest = sorted(default_groups, key=lambda g: g["UpdateTime"], reverse=True)
    assert ids(by_update) == [g["ServiceGroupId"] for g in newest[:20]]


def test_groups_created_in_the_same_second_keep_creation_order() -> None:
    config = SimulatorConfig(groups=0, regions=(REGION,), churn=False, start_time=1_750_000_000.0)
    with SimulatorServer(config) as server:
        created = server.add_groups(REGION, 4, "")
        newest_first = ok(call(server, {"Limit": 10}))
        assert {group["CreateTime"] for group in newest_first["ServiceGroups"]} == {"2025-06-15T15:06:40Z"}
        assert ids(newest_first) == created[::-1]
        assert ids(ok(call(server, {"Limit": 10, "Order": "ASC"}))) == created
        assert [group["ServiceGroupId"] for group in server.fleet(REGION)] == created[::-1]


@pytest.mark.parametrize("body", [{"Order": "desc"}, {"Order": "UP"}, {"OrderField": "Name"}, {"OrderField": ""}])
def test_bad_order_values(big: SimulatorServer, body: dict[str, Any]) -> None:
    assert error_code(call(big, body)) == "InvalidParameterValue"


# -- filters ----------------------------------------------------------------------------------------


def query_all(server: SimulatorServer, body: dict[str, Any]) -> tuple[int, list[str]]:
    """Every matching group id, over as many pages as it takes."""
    found: list[str] = []
    total = -1
    while total < 0 or len(found) < total:
        answer = ok(call(server, {**body, "Offset": len(found), "Limit": 100}))
        total = answer["TotalCount"]
        found += ids(answer)
        if not answer["ServiceGroups"]:
            break
    return total, found


def values_of(group: dict[str, Any], name: str) -> list[str]:
    services = group["Services"]
    if name in ("ServiceGroupName", "ServiceGroupId", "CreatedBy"):
        return [group[name]]
    if name == "Status":
        return [group["Status"], *(s["Status"] for s in services)]
    if name == "ModelVersionId":
        return [(s["ServiceInfo"]["ModelInfo"] or {}).get("ModelVersionId", "") for s in services]
    return [s[name] for s in services]


def expected_ids(groups: list[dict[str, Any]], keep: Any) -> set[str]:
    return {group["ServiceGroupId"] for group in groups if keep(group)}


@pytest.mark.parametrize(
    ("name", "pick"),
    [
        ("ClusterId", lambda g: next((s["ClusterId"] for s in g["Services"] if s["ClusterId"]), None)),
        ("ServiceId", lambda g: g["Services"][-1]["ServiceId"]),
        ("ServiceGroupName", lambda g: g["ServiceGroupName"]),
        ("ServiceGroupId", lambda g: g["ServiceGroupId"]),
        ("Status", lambda g: "Stopped" if g["Status"] == "Stopped" else None),
        ("CreatedBy", lambda g: g["CreatedBy"]),
        ("ModelVersionId", lambda g: (g["Services"][0]["ServiceInfo"]["ModelInfo"] or {}).get("ModelVersionId")),
    ],
)
def test_each_filter_name(big: SimulatorServer, default_groups: list[dict[str, Any]], name: str, pick: Any) -> None:
    value = next(v for v in map(pick, default_groups) if v)
    total, found = query_all(big, {"Filters": [{"Name": name, "Values": [value]}]})
    wanted = expected_ids(default_groups, lambda g: value in values_of(g, name))
    assert wanted and set(found) == wanted and total == len(wanted) == len(found)
    negative_total, negative = query_all(big, {"Filters": [{"Name": name, "Values": [value], "Negative": True}]})
    assert set(negative) == {g["ServiceGroupId"] for g in default_groups} - wanted
    assert negative_total == len(default_groups) - len(wanted)


def test_values_within_a_filter_are_ored(big: SimulatorServer, default_groups: list[dict[str, Any]]) -> None:
    chosen = [group["ServiceGroupId"] for group in default_groups[5:8]]
    total, found = query_all(big, {"Filters": [{"Name": "ServiceGroupId", "Values": [*chosen, "ms-nothere"]}]})
    assert total == 3 and set(found) == set(chosen)


def test_filters_are_anded(big: SimulatorServer, default_groups: list[dict[str, Any]]) -> None:
    creator = default_groups[0]["CreatedBy"]
    body = {
        "Filters": [
            {"Name": "CreatedBy", "Values": [creator]},
            {"Name": "Status", "Values": ["Normal"]},
            {"Name": "ServiceGroupName", "Values": ["llm"], "Fuzzy": True},
        ]
    }
    total, found = query_all(big, body)
    wanted = expected_ids(
        default_groups,
        lambda g: (
            g["CreatedBy"] == creator and "Normal" in values_of(g, "Status") and "llm" in g["ServiceGroupName"].lower()
        ),
    )
    assert wanted and set(found) == wanted and total == len(wanted)


def test_fuzzy_is_a_case_insensitive_substring(big: SimulatorServer, default_groups: list[dict[str, Any]]) -> None:
    total, found = query_all(big, {"Filters": [{"Name": "ServiceGroupName", "Values": ["CHAT-"], "Fuzzy": True}]})
    wanted = expected_ids(default_groups, lambda g: "chat-" in g["ServiceGroupName"])
    assert wanted and set(found) == wanted and total == len(wanted)
    exact_total, _ = query_all(big, {"Filters": [{"Name": "ServiceGroupName", "Values": ["chat-"]}]})
    assert exact_total == 0
    fuzzy_negative, _ = query_all(
        big, {"Filters": [{"Name": "ServiceGroupName", "Values": ["chat-"], "Fuzzy": True, "Negative": True}]}
    )
    assert fuzzy_negative == len(default_groups) - len(wanted)


def test_unknown_status_value_matches_nothing(big: SimulatorServer) -> None:
    assert query_all(big, {"Filters": [{"Name": "Status", "Values": ["Sleeping"]}]})[0] == 0
    assert query_all(big, {"Filters": [{"Name": "Status", "Values": []}]})[0] == 0


@pytest.mark.parametrize(
    ("filters", "code"),
    [
        ([{"Name": "Region", "Values": ["x"]}], "InvalidParameterValue"),
        ([{"Name": "Status"}], "MissingParameter"),
        ([{"Values": ["x"]}], "MissingParameter"),
        ([{"Name": "Status", "Values": ["Normal"], "Exact": True}], "UnknownParameter"),
        ([{"Name": "Status", "Values": "Normal"}], "InvalidParameter"),
        ([{"Name": "Status", "Values": ["Normal"], "Negative": "yes"}], "InvalidParameter"),
        (["Status"], "InvalidParameter"),
        ({"Name": "Status"}, "InvalidParameter"),
    ],
)
def test_bad_filters(big: SimulatorServer, filters: Any, code: str) -> None:
    assert error_code(call(big, {"Filters": filters})) == code


def tag_values(group: dict[str, Any], key: str) -> list[str]:
    return [tag["TagValue"] for tag in group["Tags"] if tag["TagKey"] == key]


def test_tag_filters(big: SimulatorServer, default_groups: list[dict[str, Any]]) -> None:
    total, found = query_all(big, {"TagFilters": [{"TagKey": "team-name", "TagValues": ["nlp", "ads"]}]})
    wanted = expected_ids(default_groups, lambda g: {"nlp", "ads"} & set(tag_values(g, "team-name")))
    assert wanted and set(found) == wanted and total == len(wanted)

    total, found = query_all(big, {"TagFilters": [{"TagKey": "1st", "TagValues": []}]})
    wanted = expected_ids(default_groups, lambda g: tag_values(g, "1st"))
    assert wanted and set(found) == wanted

    total, found = query_all(big, {"TagFilters": [{"TagKey": "cost.center"}, {"TagKey": "team-name"}]})
    wanted = expected_ids(default_groups, lambda g: tag_values(g, "cost.center") and tag_values(g, "team-name"))
    assert wanted and set(found) == wanted

    assert query_all(big, {"TagFilters": [{"TagKey": "no-such-key"}]})[0] == 0
    assert error_code(call(big, {"TagFilters": [{"TagValues": ["x"]}]})) == "MissingParameter"
    assert error_code(call(big, {"TagFilters": [{"TagKey": "a", "Values": ["x"]}]})) == "UnknownParameter"


def test_service_category_is_accepted(big: SimulatorServer) -> None:
    assert ids(ok(call(big, {"ServiceCategory": "LLM"}))) == ids(ok(call(big)))
    assert error_code(call(big, {"ServiceCategory": 3})) == "InvalidParameter"


# -- workspaces -------------------------------------------------------------------------------------


def test_workspaces(big: SimulatorServer, default_groups: list[dict[str, Any]]) -> None:
    default, other = big.workspaces(REGION)
    explicit = ok(call(big, {"TiProjectId": default, "Limit": 100}))
    assert ids(explicit) == ids(ok(call(big, {"Limit": 100})))
    assert ids(explicit) == ids(ok(call(big, {"TiProjectId": "", "Limit": 100})))
    elsewhere = ok(call(big, {"TiProjectId": other, "Limit": 100}))
    assert elsewhere["TotalCount"] == 260 - len(default_groups) > 0
    assert elsewhere["GlobalTotalCount"] == 260
    assert set(ids(elsewhere)).isdisjoint(g["ServiceGroupId"] for g in default_groups)
    assert error_code(call(big, {"TiProjectId": "ws-nothere"})) == "ResourceNotFound"


# -- protocol errors --------------------------------------------------------------------------------


def test_regions(simulator: SimulatorServer) -> None:
    assert ok(call(simulator, region="ap-shanghai"))["GlobalTotalCount"] == 25
    assert error_code(call(simulator, region=None)) == "MissingParameter"
    assert error_code(call(simulator, region="ap-beijing")) == "UnsupportedRegion"


def test_actions_and_versions(simulator: SimulatorServer) -> None:
    assert error_code(call(simulator, action="DescribeModelServices")) == "InvalidAction"
    assert error_code(call(simulator, action=None)) == "MissingParameter"
    assert error_code(call(simulator, version="2019-10-22")) == "NoSuchVersion"
    assert error_code(call(simulator, version=None)) == "MissingParameter"


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"{"])
def test_body_must_be_a_json_object(simulator: SimulatorServer, raw: bytes) -> None:
    assert error_code(call(simulator, raw=raw)) == "InvalidParameter"


def test_unknown_parameter(simulator: SimulatorServer) -> None:
    assert error_code(call(simulator, {"Limit": 5, "PageSize": 5})) == "UnknownParameter"
    response = call(simulator, {"limit": 5})
    assert error_code(response) == "UnknownParameter" and "limit" in response.json()["Response"]["Error"]["Message"]


def test_methods_and_paths(simulator: SimulatorServer) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = call(simulator, method=method)
        assert error_code(response, status=405) == "UnsupportedProtocol"
        assert response.headers["allow"] == "POST"
    assert error_code(call(simulator, path="/v2"), status=404) == "UnsupportedProtocol"


def test_answers_follow_fleet_changes(simulator: SimulatorServer) -> None:
    target = simulator.fleet(REGION, "")[0]
    service_id = target["Services"][0]["ServiceId"]
    simulator.set_service_status(REGION, service_id, "Abnormal", replicas=4, ready=1)
    body = {"Filters": [{"Name": "ServiceId", "Values": [service_id]}]}
    (group,) = ok(call(simulator, body))["ServiceGroups"]
    service = next(s for s in group["Services"] if s["ServiceId"] == service_id)
    assert service["Status"] == "Abnormal" and group["Status"] == "Abnormal"
    assert service["ServiceInfo"]["Status"]["ReadyReplicas"] == 1
    assert len(service["ServiceInfo"]["PodInfos"]) == 4 * (
        service["InstancePerReplicas"] if service["DeployType"] == "DIST" else 1
    )
    simulator.delete_group(REGION, target["ServiceGroupId"])
    assert ok(call(simulator, body))["TotalCount"] == 0
    new_id = simulator.add_group(REGION, "")
    assert new_id in ids(ok(call(simulator, {"Limit": 1})))  # created now: the newest
