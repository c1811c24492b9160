"""Capacity of the dedicated resource groups: `DescribeBillingResourceGroups`, a secondary source.

Services on prepaid resource groups can only scale up, roll out or be rescheduled while their group has
room, so what each group holds and has left is read beside the service listing. It changes slowly and
is not needed every poll: the source runs on its own, longer interval (`--capacity.interval`), through
the same client and token bucket, so it never crowds out the listing. It asks for no per-node list
(`DontShowInstanceSet`): the group's totals are all the exporter reports, and a node list would only
make the answers larger. A failure is counted and logged by the client and the poller like any call's,
never fails the region, and the last result is kept under the staleness rule.

The call is made without `TiProjectId`: every dedicated group of the account in the region, whichever
workspaces it is bound to (a group can serve several, and capacity is a property of the group).
"""

from __future__ import annotations

from typing import Any

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tione.paging import Params, call_parsed, check_total, parse_record, read_pages
from exporter.tione.records import ResourceGroup, ResourceGroupsAnswer
from exporter.tione.snapshot import RegionSnapshot, ResultKey
from exporter.tione.source import Sink, Source

ACTION = "DescribeBillingResourceGroups"
RESOURCE_GROUPS: ResultKey[tuple[ResourceGroup, ...]] = ResultKey(ACTION, ())
"""Dedicated resource groups with their capacity and usage, read by the resource group families."""
LIMIT = 100
"""The API's maximum page size: one request covers all but the largest accounts."""
DEFAULT_INTERVAL = 300.0
"""Seconds between two reads of a region's groups unless configured: capacity moves with purchases and
scaling, minutes apart, and the listing needs the rate budget more."""


def params(offset: int, limit: int = LIMIT) -> Params:
    """The request for one page: the group totals only, no node list."""
    return {"Offset": offset, "Limit": limit, "DontShowInstanceSet": True}


def parse(region: str, answer: dict[str, Any]) -> tuple[int, list[ResourceGroup]]:
    """(`TotalCount`, the page's groups) of one answer; a mismatch is a `MalformedResponse` of the action."""
    parsed = parse_record(ResourceGroupsAnswer, ACTION, region, answer)
    total = check_total(ACTION, region, answer, parsed.total_count)
    return total, list(parsed.resource_group_set or ())


async def list_resource_groups(
    client: TencentCloudClient, region: str, *, deadline: float
) -> tuple[ResourceGroup, ...]:
    """Every dedicated resource group of the region, page by page."""
    groups = await read_pages(client, ACTION, region, params, parse, limit=LIMIT, deadline=deadline)
    return tuple(groups)


def source(client: TencentCloudClient, interval: float = DEFAULT_INTERVAL) -> Source[tuple[ResourceGroup, ...]]:
    """The capacity source, run every `interval` seconds per region (and on the first poll, and by `once`)."""

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ResourceGroup, ...]:
        return await list_resource_groups(client, region, deadline=deadline)

    async def probe(region: str, deadline: float) -> str:
        total, _ = await call_parsed(client, ACTION, region, params(0, 1), parse, deadline=deadline)
        return f"{total} resource groups"

    return Source(ACTION, fetch, RESOURCE_GROUPS.stored, empty=(), probe=probe, interval=interval)
