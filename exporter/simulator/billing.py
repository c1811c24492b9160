"""`DescribeBillingResourceGroups`: the dedicated resource groups, their nodes and what is used on them.

`UsedResource` is the sum of what the pods placed on a group hold (see `capacity`), so it follows every
start, stop, scale and failure of the services on it; `TotalResource` is the sum of its nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.simulator import capacity, params
from exporter.simulator.capacity import BillingGroup
from exporter.simulator.fleet import RegionFleet
from exporter.simulator.workload import JSON

ACTION = "DescribeBillingResourceGroups"


DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_FILTERS = 5
MAX_FILTER_VALUES = 100
FILTER_NAMES: tuple[str, ...] = ("ResourceGroupId", "ResourceGroupName", "AvailableNodeCount")
_KEYS = frozenset({"TiProjectId", "Filters", "TagFilters", "Offset", "Limit", "SearchWord", "DontShowInstanceSet"})


def wire(fleet: RegionFleet, group: BillingGroup, *, instances: bool) -> JSON:
    """One `ResourceGroup` as the API sends it; `InstanceSet` null without `instances`."""
    used = fleet.usage(group.id)
    owner = fleet.account.users[0][0]
    return {
        "ResourceGroupId": group.id,
        "ResourceGroupName": group.name,
        "FreeInstance": len(group.nodes),  # every node is running
        "TotalInstance": len(group.nodes),
        "UsedResource": capacity.group_resource(used),
        "TotalResource": capacity.group_resource(group.total()),
        "InstanceSet": capacity.instances(group, used, fleet.region, owner) if instances else None,
        "TagSet": [dict(tag) for tag in group.tags],
    }


def _values(group: JSON, name: str) -> str:
    return str(group["FreeInstance"]) if name == "AvailableNodeCount" else str(group[name])


def _matches(group: JSON, condition: params.Filter) -> bool:
    """As documented: one value with `Fuzzy` is a substring match, otherwise exact against any value."""
    value = _values(group, condition.name)
    if condition.fuzzy and len(condition.values) == 1:
        hit = condition.values[0].lower() in value.lower()
    else:
        hit = value in condition.values
    return hit != condition.negative


def describe(body: Mapping[str, Any], fleet: RegionFleet, now: float) -> JSON:
    """Filtered, searched, in the order the groups were bought; `TotalCount` counts all matches.

    With `TiProjectId` only the groups bound to that workspace are listed.
    """
    params.check_keys(body, _KEYS)
    project_id = params.string(body.get("TiProjectId", ""), "TiProjectId")
    bound: tuple[str, ...] | None = None
    if project_id:
        workspace = params.workspace(project_id, fleet.workspaces)
        bound = next(item.resource_groups for item in fleet.workspace_info if item.project_id == workspace)
    offset = params.integer(body, "Offset", 0, 0, None)
    limit = params.integer(body, "Limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    conditions = params.filters(body, FILTER_NAMES)
    if len(conditions) > MAX_FILTERS:
        raise params.ParameterError(
            "InvalidParameterValue", f"At most {MAX_FILTERS} `Filters` are allowed, not {len(conditions)}."
        )
    for index, condition in enumerate(conditions):
        if len(condition.values) > MAX_FILTER_VALUES:
            raise params.ParameterError(
                "InvalidParameterValue", f"At most {MAX_FILTER_VALUES} values are allowed in `Filters.{index}.Values`."
            )
    tags = params.tag_filters(body)
    search = params.string(body.get("SearchWord", ""), "SearchWord").lower()
    hide = params.boolean(body.get("DontShowInstanceSet", False), "DontShowInstanceSet")
    matched = []
    for group in fleet.billing_groups:
        if bound is not None and group.id not in bound:
            continue
        if search and search not in group.id.lower() and search not in group.name.lower():
            continue
        if not all(params.tags_match(group.tags, key, values) for key, values in tags):
            continue
        summary = {"ResourceGroupId": group.id, "ResourceGroupName": group.name, "FreeInstance": len(group.nodes)}
        if all(_matches(summary, condition) for condition in conditions):
            matched.append(group)
    page = [wire(fleet, group, instances=not hide) for group in matched[offset : offset + limit]]
    return {"TotalCount": len(matched), "ResourceGroupSet": page}
