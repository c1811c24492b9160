"""`DescribeModelServiceGroups` as the API answers it: headers, parameters, filters, order, paging, errors.

Checks run in the API's order — protocol, action, version, region, signature, then the body — and
each failure answers the API's error envelope with the API's code. Parameters are validated strictly
(unknown keys, wrong types, out-of-range values are errors, as they are for the real API), because a
lenient simulator would hide exactly the client mistakes it exists to catch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.simulator.answer import Answer, error, success
from exporter.simulator.auth import AuthError, CredentialStore
from exporter.simulator.fleet import RegionFleet
from exporter.simulator.workload import JSON
from exporter.tione.api import VERSION
from exporter.tione.listing import ACTION, FILTER_NAMES

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_BODY_KEYS = frozenset(
    {"TiProjectId", "Offset", "Limit", "Order", "OrderField", "Filters", "TagFilters", "ServiceCategory"}
)
_FILTER_KEYS = frozenset({"Name", "Values", "Negative", "Fuzzy"})
_TAG_FILTER_KEYS = frozenset({"TagKey", "TagValues"})


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as received; header names are lowercase."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    received_at: float
    """Wall-clock unix time of arrival, for the signature's timestamp check."""


class ParameterError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    values: tuple[str, ...]
    negative: bool = False
    fuzzy: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A validated request body."""

    project_id: str = ""
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    descending: bool = True
    order_field: str = "CreateTime"
    filters: tuple[Filter, ...] = ()
    tag_filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    service_category: str = ""


def _integer(body: Mapping[str, Any], key: str, default: int, low: int, high: int | None) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError("InvalidParameter", f"The value type of parameter `{key}` is not valid: want an integer.")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ParameterError("InvalidParameterValue", f"The value of parameter `{key}` must be {bound}, not {value}.")
    return value


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ParameterError("InvalidParameter", f"The value type of parameter `{key}` is not valid: want a string.")
    return value


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ParameterError("InvalidParameter", f"The value type of parameter `{key}` is not valid: want a list.")
    return tuple(_string(item, f"{key}.{index}") for index, item in enumerate(value))


def _boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ParameterError("InvalidParameter", f"The value type of parameter `{key}` is not valid: want a boolean.")
    return value


def _objects(body: Mapping[str, Any], key: str, allowed: frozenset[str]) -> list[Mapping[str, Any]]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise ParameterError("InvalidParameter", f"The value type of parameter `{key}` is not valid: want a list.")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ParameterError(
                "InvalidParameter", f"The value type of parameter `{key}.{index}` is not valid: want an object."
            )
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise ParameterError("UnknownParameter", f"The parameter `{key}.{index}.{unknown[0]}` is not recognized.")
    return value


def parse_query(body: Mapping[str, Any]) -> Query:
    """Validate a request body; raises `ParameterError` with the API's code and a message naming the field."""
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise ParameterError("UnknownParameter", f"The parameter `{unknown[0]}` is not recognized.")
    offset = _integer(body, "Offset", 0, 0, None)
    limit = _integer(body, "Limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    order = _string(body.get("Order", "DESC"), "Order")
    if order not in ("ASC", "DESC"):
        raise ParameterError(
            "InvalidParameterValue", f"The value of parameter `Order` must be ASC or DESC, not {order!r}."
        )
    order_field = _string(body.get("OrderField", "CreateTime"), "OrderField")
    if order_field not in ("CreateTime", "UpdateTime"):
        raise ParameterError(
            "InvalidParameterValue",
            f"The value of parameter `OrderField` must be CreateTime or UpdateTime, not {order_field!r}.",
        )
    filters = []
    for index, item in enumerate(_objects(body, "Filters", _FILTER_KEYS)):
        prefix = f"Filters.{index}"
        if "Name" not in item:
            raise ParameterError("MissingParameter", f"The request is missing a required parameter `{prefix}.Name`.")
        name = _string(item["Name"], f"{prefix}.Name")
        if name not in FILTER_NAMES:
            raise ParameterError(
                "InvalidParameterValue",
                f"The value of parameter `{prefix}.Name` is not supported: {name!r} "
                f"(known: {', '.join(FILTER_NAMES)}).",
            )
        if "Values" not in item:
            raise ParameterError("MissingParameter", f"The request is missing a required parameter `{prefix}.Values`.")
        filters.append(
            Filter(
                name=name,
                values=_strings(item["Values"], f"{prefix}.Values"),
                negative=_boolean(item.get("Negative", False), f"{prefix}.Negative"),
                fuzzy=_boolean(item.get("Fuzzy", False), f"{prefix}.Fuzzy"),
            )
        )
    tag_filters = []
    for index, item in enumerate(_objects(body, "TagFilters", _TAG_FILTER_KEYS)):
        prefix = f"TagFilters.{index}"
        if "TagKey" not in item:
            raise ParameterError("MissingParameter", f"The request is missing a required parameter `{prefix}.TagKey`.")
        key = _string(item["TagKey"], f"{prefix}.TagKey")
        tag_filters.append((key, _strings(item.get("TagValues", []), f"{prefix}.TagValues")))
    return Query(
        project_id=_string(body.get("TiProjectId", ""), "TiProjectId"),
        offset=offset,
        limit=limit,
        descending=order == "DESC",
        order_field=order_field,
        filters=tuple(filters),
        tag_filters=tuple(tag_filters),
        service_category=_string(body.get("ServiceCategory", ""), "ServiceCategory"),
    )


def _field_values(group: JSON, name: str) -> list[str]:
    """The values a filter `name` compares against: the group's own, or any of its services'."""
    services: list[JSON] = group["Services"]
    if name in ("ServiceGroupName", "ServiceGroupId", "CreatedBy"):
        return [group[name]]
    if name == "Status":
        return [group["Status"], *(service["Status"] for service in services)]
    if name == "ModelVersionId":
        return [(service["ServiceInfo"].get("ModelInfo") or {}).get("ModelVersionId", "") for service in services]
    return [service[name] for service in services]


def _matches(group: JSON, condition: Filter) -> bool:
    values = _field_values(group, condition.name)
    if condition.fuzzy:
        wanted = [value.lower() for value in condition.values]
        hit = any(needle in value.lower() for value in values for needle in wanted)
    else:
        hit = any(value in condition.values for value in values)
    return hit != condition.negative


def _tags_match(group: JSON, key: str, values: tuple[str, ...]) -> bool:
    return any(tag["TagKey"] == key and (not values or tag["TagValue"] in values) for tag in group["Tags"])


def select(fleet: RegionFleet, query: Query) -> tuple[int, list[JSON]]:
    """(total matching, the requested page), sorted by the order field, creation order breaking ties."""
    workspace = query.project_id or fleet.default_workspace
    if workspace not in fleet.workspaces:
        raise ParameterError("ResourceNotFound", f"The workspace (TiProjectId) {query.project_id!r} does not exist.")
    matched = []
    for group_id, group in fleet.groups.items():
        meta = fleet.meta[group_id]
        if meta.workspace != workspace:
            continue
        if not all(_matches(group, condition) for condition in query.filters):
            continue
        if not all(_tags_match(group, key, values) for key, values in query.tag_filters):
            continue
        stamp = meta.created if query.order_field == "CreateTime" else meta.updated
        matched.append((stamp, meta.sequence, group))
    matched.sort(key=lambda item: (item[0], item[1]), reverse=query.descending)
    page = matched[query.offset : query.offset + query.limit]
    return len(matched), [group for _, _, group in page]


def _header_error(request: Request, regions: Mapping[str, RegionFleet]) -> tuple[str, str] | None:
    headers = request.headers
    action = headers.get("x-tc-action", "")
    if not action:
        return "MissingParameter", "The request is missing a required parameter `Action` (header X-TC-Action)."
    if action != ACTION:
        return "InvalidAction", f"The action `{action}` is not supported by this server."
    version = headers.get("x-tc-version", "")
    if not version:
        return "MissingParameter", "The request is missing a required parameter `Version` (header X-TC-Version)."
    if version != VERSION:
        return "NoSuchVersion", f"The API version `{version}` does not exist for action `{ACTION}`; use {VERSION}."
    region = headers.get("x-tc-region", "")
    if not region:
        return "MissingParameter", "The request is missing a required parameter `Region` (header X-TC-Region)."
    if region not in regions:
        return "UnsupportedRegion", f"The region `{region}` is not supported by this action."
    return None


def describe(
    request: Request,
    *,
    fleets: Mapping[str, RegionFleet],
    credentials: CredentialStore,
    request_id: str,
) -> Answer:
    """The complete answer to one request. The caller holds the simulator's lock."""
    if request.path != "/":
        return error(
            "UnsupportedProtocol", f"The path {request.path!r} is not served; POST to /.", request_id, status=404
        )
    if request.method != "POST":
        answer = error("UnsupportedProtocol", f"The method {request.method} is not supported; use POST.", request_id)
        return Answer(405, answer.body, headers=(("allow", "POST"),), code=answer.code)
    problem = _header_error(request, fleets)
    if problem is not None:
        return error(*problem, request_id)
    if credentials.enabled:
        try:
            credentials.check(request.headers, request.body, request.received_at)
        except AuthError as failure:
            return error(failure.code, failure.message, request_id)
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        return error("InvalidParameter", "The request body is not a JSON object.", request_id)
    try:
        query = parse_query(body)
        fleet = fleets[request.headers["x-tc-region"]]
        total, page = select(fleet, query)
    except ParameterError as invalid:
        return error(invalid.code, invalid.message, request_id)
    response = {"TotalCount": total, "GlobalTotalCount": len(fleet.groups), "ServiceGroups": page}
    return success(response, request_id)
