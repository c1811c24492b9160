"""Workspace discovery: `DescribeWorkspaces` lists every workspace (`TiProjectId`) the keys can read.

A user with several workspaces must not silently see only the default one, so the listing asks each
workspace found here (narrowed by `--tione.project-ids` when given). Workspaces change rarely: the
source runs on its own, slower interval and the listing reads its last result from the snapshot.

Keys without permission for `DescribeWorkspaces` are common (policies written for the listing alone):
then the listing falls back to the configured workspaces, or the default one, and says so once per
region in a warning; the region is not failed for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.errors import TencentCloudError, is_permission_error
from exporter.tione.paging import call_parsed, check_total, parse_record, read_pages
from exporter.tione.records import Workspace, WorkspacesAnswer
from exporter.tione.snapshot import RegionSnapshot, ResultKey
from exporter.tione.source import Sink, Source

log = logging.getLogger(__name__)

ACTION = "DescribeWorkspaces"
LIMIT = 100
"""The API's maximum page size."""


@dataclass(frozen=True, slots=True)
class Discovery:
    """What discovery found in a region: the workspaces, or that it may not be asked (`permitted` False)."""

    workspaces: tuple[Workspace, ...] = ()
    permitted: bool = True


DISCOVERY: ResultKey[Discovery] = ResultKey(ACTION, Discovery())
"""The workspaces found, read by the listing and the workspace families."""


def params(offset: int, limit: int = LIMIT) -> dict[str, Any]:
    return {"Offset": offset, "Limit": limit, "OrderField": "CreateTime", "Order": "ASC"}


def parse(region: str, answer: dict[str, Any]) -> tuple[int, list[Workspace]]:
    parsed = parse_record(WorkspacesAnswer, ACTION, region, answer)
    total = check_total(ACTION, region, answer, parsed.total_count)
    return total, [item for item in parsed.workspaces or () if item.ti_project_id]


async def discover(client: TencentCloudClient, region: str, *, deadline: float) -> Discovery:
    """Every workspace of the region, or `permitted=False` when the keys may not list them."""
    try:
        found = await read_pages(client, ACTION, region, params, parse, limit=LIMIT, deadline=deadline)
    except TencentCloudError as error:
        if not is_permission_error(error.code):
            raise
        return Discovery(permitted=False)
    unique = {item.ti_project_id: item for item in found}
    return Discovery(tuple(unique.values()))


def source(client: TencentCloudClient, interval: float) -> Source[Discovery]:
    """A secondary source, run every `interval` seconds; it must come before the listing, which reads it."""
    warned: set[str] = set()

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> Discovery:
        found = await discover(client, region, deadline=deadline)
        if not found.permitted and region not in warned:
            warned.add(region)
            log.warning(
                "workspaces cannot be listed: polling the configured workspaces, or the default one",
                extra={"region": region, "action": ACTION, "hint": "allow tione:DescribeWorkspaces"},
            )
        return found

    async def probe(region: str, deadline: float) -> str:
        total, _ = await call_parsed(client, ACTION, region, params(0, 1), parse, deadline=deadline)
        return f"{total} workspaces"

    without = "polling the default workspace, or --tione.project-ids"
    return Source(
        ACTION, fetch, DISCOVERY.stored, empty=DISCOVERY.empty, probe=probe, interval=interval, without=without
    )


def project_ids(discovery: Discovery, configured: tuple[str, ...]) -> tuple[str | None, ...]:
    """The workspaces the listing asks (None: the default one, a request without `TiProjectId`).

    Configured ids are asked as given: one that cannot be read is then reported by name, rather than
    silently missing. Otherwise every workspace discovery found; without a usable discovery (not yet
    run, not permitted, or none found), the default workspace.
    """
    if configured:
        return configured
    found = tuple(item.ti_project_id for item in discovery.workspaces if item.ti_project_id)
    if discovery.permitted and found:
        return found
    return (None,)
