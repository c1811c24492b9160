"""The API's front door and `DescribeModelServiceGroups`: headers, parameters, filters, order, paging, errors.

Checks run in the API's order — protocol, action, version, region, signature, permission, then the body
— and each failure answers the API's error envelope with the API's code. Every action is one entry of
`HANDLERS`, so the checks before the body apply to all of them alike. Parameters are validated strictly
(unknown keys, wrong types, out-of-range values are errors, as they are for the real API), because a
lenient simulator would hide exactly the client mistakes it exists to catch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.simulator import billing, events, holders, params, prices, workspaces
from exporter.simulator.answer import Answer, error, success
from exporter.simulator.auth import AuthError, CredentialStore
from exporter.simulator.fleet import RegionFleet
from exporter.simulator.monitor import MonitorState
from exporter.simulator.params import Filter, ParameterError
from exporter.simulator.workload import JSON
from exporter.tencentcloud.signing import parse_authorization
from exporter.tione import monitor_api
from exporter.tione.api import SERVICE, VERSION
from exporter.tione.api import SERVICE_GROUP_FILTERS as FILTER_NAMES

ACTION = "DescribeModelServiceGroups"
"""Spelled here, as each handler module spells its own: the simulator stands for the real API and answers
what it offers, not what the exporter happens to ask (tests/unit/test_simulator_actions_parts.py holds
every source's action to `ACTIONS`)."""

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_BODY_KEYS = frozenset(
    {"TiProjectId", "Offset", "Limit", "Order", "OrderField", "Filters", "TagFilters", "ServiceCategory"}
)

__all__ = ["ACTION", "DEFAULT_LIMIT", "MAX_LIMIT", "VERSION", "Filter", "ParameterError", "Query", "Request"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as received; header names are lowercase."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    received_at: float
    """Wall-clock unix time of arrival, for the signature's timestamp check."""


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


def parse_query(body: Mapping[str, Any]) -> Query:
    """Validate a request body; raises `ParameterError` with the API's code and a message naming the field."""
    params.check_keys(body, _BODY_KEYS)
    offset = params.integer(body, "Offset", 0, 0, None)
    limit = params.integer(body, "Limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    order = params.choice(body, "Order", "DESC", ("ASC", "DESC"))
    order_field = params.choice(body, "OrderField", "CreateTime", ("CreateTime", "UpdateTime"))
    return Query(
        project_id=params.string(body.get("TiProjectId", ""), "TiProjectId"),
        offset=offset,
        limit=limit,
        descending=order == "DESC",
        order_field=order_field,
        filters=params.filters(body, FILTER_NAMES),
        tag_filters=params.tag_filters(body),
        service_category=params.string(body.get("ServiceCategory", ""), "ServiceCategory"),
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


def select(fleet: RegionFleet, query: Query) -> tuple[int, list[JSON]]:
    """(total matching, the requested page), sorted by the order field, creation order breaking ties.

    Without filters the region's order is kept between pages until the fleet changes (`fleet.generation`):
    sorting every group for every page made the simulator, not the client, the limit of a large listing."""
    workspace = params.workspace(query.project_id, fleet.workspaces)
    if query.filters or query.tag_filters:
        ordered = _ordered(fleet, workspace, query)
    else:
        key = (workspace, query.order_field, query.descending)
        kept = fleet.orders.get(key)
        if kept is None or kept[0] != fleet.generation:
            kept = fleet.orders[key] = (fleet.generation, _ordered(fleet, workspace, query))
        ordered = kept[1]
    page = ordered[query.offset : query.offset + query.limit]
    return len(ordered), [fleet.groups[group_id] for group_id in page]


def _ordered(fleet: RegionFleet, workspace: str, query: Query) -> list[str]:
    """The ids of the workspace's groups that match the query's filters, in the listing's order."""
    matched = []
    for group_id, group in fleet.groups.items():
        meta = fleet.meta[group_id]
        if meta.workspace != workspace:
            continue
        if not all(_matches(group, condition) for condition in query.filters):
            continue
        if not all(params.tags_match(group["Tags"], key, values) for key, values in query.tag_filters):
            continue
        stamp = meta.created if query.order_field == "CreateTime" else meta.updated
        matched.append((stamp, meta.sequence, group_id))
    matched.sort(key=lambda item: (item[0], item[1]), reverse=query.descending)
    return [group_id for _, _, group_id in matched]


def _describe_groups(body: Mapping[str, Any], fleet: RegionFleet, now: float) -> JSON:
    total, page = select(fleet, parse_query(body))
    return {"TotalCount": total, "GlobalTotalCount": len(fleet.groups), "ServiceGroups": page}


Handler = Callable[[Mapping[str, Any], RegionFleet, float], JSON]
"""Answers one action's validated-to-be-an-object body for a region's fleet at simulated time `now`;
raises `ParameterError` for a bad parameter."""


def _describe_tasks(body: Mapping[str, Any], fleet: RegionFleet, now: float) -> JSON:
    return holders.describe_tasks(body, fleet.holders, fleet.workspaces, now, fleet.account.app_id)


def _describe_notebooks(body: Mapping[str, Any], fleet: RegionFleet, now: float) -> JSON:
    return holders.describe_notebooks(body, fleet.holders, fleet.workspaces, now, fleet.account.app_id)


def _describe_prices(body: Mapping[str, Any], fleet: RegionFleet, now: float) -> JSON:
    return prices.describe(body, fleet.prices, fleet.workspaces)


HANDLERS: dict[str, Handler] = {
    ACTION: _describe_groups,
    workspaces.ACTION: workspaces.describe,
    events.ACTION: events.describe,
    billing.ACTION: billing.describe,
    holders.TRAINING_ACTION: _describe_tasks,
    holders.NOTEBOOK_ACTION: _describe_notebooks,
    prices.ACTION: _describe_prices,
}
"""Every action served, by name; any other answers `InvalidAction`."""

PRODUCTS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(HANDLERS, (SERVICE, VERSION)),
    **dict.fromkeys(monitor_api.ACTIONS, (monitor_api.SERVICE, monitor_api.VERSION)),
}
"""Action -> (the service name its signature is made for, its API version): TI-ONE's actions, and Cloud
Monitor's on the same port (the action tells the products apart; a signature for the other one fails)."""

ACTIONS: tuple[str, ...] = tuple(PRODUCTS)

Gate = Callable[[str, str, str], tuple[str, str] | None]
"""(action, region, SecretId) -> an error (code, message) that refuses the request after the signature
check — a denied permission or a region outage — or None to answer it."""


def secret_id_of(headers: Mapping[str, str]) -> str:
    """The SecretId a request is signed with, "" when it is unsigned."""
    parsed = parse_authorization(headers.get("authorization", ""))
    return parsed.secret_id if parsed is not None else ""


def _header_error(request: Request, regions: Mapping[str, RegionFleet]) -> tuple[str, str] | None:
    headers = request.headers
    action = headers.get("x-tc-action", "")
    if not action:
        return "MissingParameter", "The request is missing a required parameter `Action` (header X-TC-Action)."
    if action not in PRODUCTS:
        return "InvalidAction", f"The action `{action}` is not supported by this server."
    version = headers.get("x-tc-version", "")
    if not version:
        return "MissingParameter", "The request is missing a required parameter `Version` (header X-TC-Version)."
    wanted = PRODUCTS[action][1]
    if version != wanted:
        return "NoSuchVersion", f"The API version `{version}` does not exist for action `{action}`; use {wanted}."
    region = headers.get("x-tc-region", "")
    if not region:
        return "MissingParameter", "The request is missing a required parameter `Region` (header X-TC-Region)."
    if region not in regions:
        return "UnsupportedRegion", f"The region `{region}` is not supported by this action."
    return None


def protocol_error(request: Request, request_id: str) -> Answer | None:
    """The answer to a request that is not a POST to `/`, or None: checked first, for every service."""
    if request.path != "/":
        return error(
            "UnsupportedProtocol", f"The path {request.path!r} is not served; POST to /.", request_id, status=404
        )
    if request.method != "POST":
        answer = error("UnsupportedProtocol", f"The method {request.method} is not supported; use POST.", request_id)
        return Answer(405, answer.body, headers=(("allow", "POST"),), code=answer.code)
    return None


def describe(
    request: Request,
    *,
    fleets: Mapping[str, RegionFleet],
    credentials: CredentialStore,
    request_id: str,
    now: float,
    gate: Gate | None = None,
    monitor: MonitorState | None = None,
) -> Answer:
    """The complete answer to one request at simulated time `now`. The caller holds the simulator's lock."""
    refused = protocol_error(request, request_id)
    if refused is not None:
        return refused
    problem = _header_error(request, fleets)
    if problem is not None:
        return error(*problem, request_id)
    if credentials.enabled:
        try:
            service = PRODUCTS[request.headers["x-tc-action"]][0]
            credentials.check(request.headers, request.body, request.received_at, service)
        except AuthError as failure:
            return error(failure.code, failure.message, request_id)
    action, region = request.headers["x-tc-action"], request.headers["x-tc-region"]
    refusal = gate(action, region, secret_id_of(request.headers)) if gate is not None else None
    if refusal is not None:
        return error(*refusal, request_id)
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        return error("InvalidParameter", "The request body is not a JSON object.", request_id)
    try:
        if action in monitor_api.ACTIONS:
            response = (monitor or MonitorState(seed=0)).describe(action, body, fleets[region], now)
        else:
            response = HANDLERS[action](body, fleets[region], now)
    except ParameterError as invalid:
        return error(invalid.code, invalid.message, request_id)
    return success(response, request_id)
