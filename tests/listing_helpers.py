"""The listing's groups without its counts, for tests that only care which groups were found."""

from __future__ import annotations

from collections.abc import Sequence

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tione.listing import ListingQuery, scan_service_groups
from exporter.tione.records import ServiceGroup
from exporter.tione.service_groups import scan_workspaces


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
