"""The listing's groups without its counts, for tests that only care which groups were found, and the
workspaces of a region listed and merged in one call (the steps the listing source runs, without its rotation)."""

from __future__ import annotations

from collections.abc import Sequence

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.errors import TencentCloudError
from exporter.tione.listing import ListingQuery, ListingResult, scan_service_groups
from exporter.tione.records import ServiceGroup
from exporter.tione.service_groups import _failure, _late, _merge, _part, _scan_each


async def list_service_groups(
    client: TencentCloudClient, region: str, query: ListingQuery, *, deadline: float
) -> list[ServiceGroup]:
    """The groups of one workspace."""
    return (await scan_service_groups(client, region, query, deadline=deadline)).groups


async def list_workspaces(
    client: TencentCloudClient,
    region: str,
    query: ListingQuery,
    project_ids: Sequence[str | None],
    *,
    deadline: float,
) -> list[ServiceGroup]:
    """The groups of several workspaces of one region, merged."""
    return (await scan_workspaces(client, region, query, project_ids, deadline=deadline)).groups


async def scan_workspaces(
    client: TencentCloudClient,
    region: str,
    query: ListingQuery,
    project_ids: Sequence[str | None],
    *,
    deadline: float,
    cutoff: float | None = None,
) -> ListingResult:
    """`query` in each workspace of `project_ids` (None: the default one) of one region, merged.

    The workspaces are listed in their order, a few at a time; the first by `deadline`, the others by
    `cutoff` (default: the deadline too). A workspace the answer says cannot be read is left out, logged
    and reported as skipped; one that could not be listed in time is reported as `unlisted`; the others
    are kept. When none can be read, the first error is the listing's (a timeout before any other).
    """
    ids = list(dict.fromkeys(project_ids)) or [query.project_id]
    outcomes = await _scan_each(
        client, region, query, ids, deadline=deadline, cutoff=deadline if cutoff is None else cutoff
    )
    parts = [
        _part(project_id, item)
        for project_id, item in zip(ids, outcomes, strict=True)
        if isinstance(item, ListingResult)
    ]
    if not parts:
        raise _failure(outcomes)
    unreadable = [
        (project_id, item)
        for project_id, item in zip(ids, outcomes, strict=True)
        if isinstance(item, TencentCloudError) and not _late(item)
    ]
    unlisted = [project_id for project_id, item in zip(ids, outcomes, strict=True) if _late(item)]
    return _merge(region, parts, unreadable, unlisted, len(unlisted))
