"""`DescribeWorkspaces`: the region's workspaces (`TiProjectId`), paged, with their bound resource groups.

A resource group is `Occupied` while a service of that workspace has a pod placed on it, so the answer
follows the fleet as it changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.simulator import params
from exporter.simulator.fleet import RegionFleet, Workspace
from exporter.simulator.workload import JSON, iso_z

ACTION = "DescribeWorkspaces"

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
FILTER_NAMES: tuple[str, ...] = ("TiProjectId", "Name", "Status")
ACTION_TYPES: tuple[str, ...] = ("Read", "Write")
"""What the caller may do in a workspace: the simulated account owns them all."""
_KEYS = frozenset({"TiProjectId", "Filters", "Offset", "Limit", "OrderField", "Order"})


def _occupied(fleet: RegionFleet, workspace: str, group_id: str) -> bool:
    for service_group_id, meta in fleet.meta.items():
        if meta.workspace != workspace:
            continue
        for service in fleet.groups[service_group_id]["Services"]:
            if service.get("ResourceGroupId") == group_id and any(
                pod.get("NodeIP") for pod in service["ServiceInfo"]["PodInfos"]
            ):
                return True
    return False


def wire(fleet: RegionFleet, workspace: Workspace) -> JSON:
    """One `Workspace` as the API sends it."""
    bound = []
    for group_id in workspace.resource_groups:
        group = fleet.billing_group(group_id)
        if group is not None:
            bound.append(
                {
                    "ResourceGroupId": group.id,
                    "ResourceGroupName": group.name,
                    "Region": fleet.region,
                    "Occupied": _occupied(fleet, workspace.project_id, group.id),
                }
            )
    return {
        "TiProjectId": workspace.project_id,
        "Name": workspace.name,
        "Description": workspace.description,
        "CreateTime": iso_z(workspace.created),
        "ResourceGroups": bound,
        "ActionType": list(ACTION_TYPES),
        "Status": "Normal",
    }


def _matches(workspace: JSON, condition: params.Filter) -> bool:
    value = str(workspace[condition.name])
    if condition.fuzzy:
        hit = any(needle.lower() in value.lower() for needle in condition.values)
    else:
        hit = value in condition.values
    return hit != condition.negative


def describe(body: Mapping[str, Any], fleet: RegionFleet, now: float) -> JSON:
    """Filtered, ordered by `CreateTime` (default `DESC`, as the API's other lists), paged.

    `TiProjectId`, when set, must name a workspace of the region; the list is not narrowed by it (it
    names the workspace the call is made from, as for every action).
    """
    params.check_keys(body, _KEYS)
    params.workspace(params.string(body.get("TiProjectId", ""), "TiProjectId"), fleet.workspaces)
    offset = params.integer(body, "Offset", 0, 0, None)
    limit = params.integer(body, "Limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    params.choice(body, "OrderField", "CreateTime", ("CreateTime",))
    descending = params.choice(body, "Order", "DESC", ("ASC", "DESC")) == "DESC"
    conditions = params.filters(body, FILTER_NAMES)
    ordered = sorted(fleet.workspace_info, key=lambda item: item.created, reverse=descending)
    matched = [item for item in (wire(fleet, ws) for ws in ordered) if all(_matches(item, c) for c in conditions)]
    return {"TotalCount": len(matched), "Workspaces": matched[offset : offset + limit]}
