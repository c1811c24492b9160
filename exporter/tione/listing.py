"""Listing every service group of a region: `DescribeModelServiceGroups` page by page, made consistent.

The API pages by offset (at most 100 per page) and the fleet may change while we read it. Three
measures keep a listing honest without locking anything:

- pages are ordered by creation time, oldest first, so new groups land at the end instead of pushing
  every later page along;
- consecutive pages overlap by one group: if the group at the seam is not the same in both pages,
  something was inserted or deleted before it in between, and a page boundary may have skipped a
  group; the same goes for a page whose `TotalCount` differs from the first one's;
- a scan that saw such a change is repeated once. If the second scan is clean it is the answer; if the
  fleet kept changing, the union of both scans is returned (a group deleted meanwhile lingers for one
  poll, which is better than a live group missing for one).

Groups are de-duplicated by `ServiceGroupId`, keeping the most recently updated copy. The first page
gives `TotalCount`; the others are requested concurrently and all pass the client's token bucket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.errors import MALFORMED_RESPONSE, TransportError
from exporter.tencentcloud.gcpause import paused_gc
from exporter.tione.models import (
    DescribeModelServiceGroupsResponse,
    Filter,
    ServiceGroup,
    TagFilter,
    as_utc,
)

log = logging.getLogger(__name__)

ACTION = "DescribeModelServiceGroups"
LIMIT = 100
"""The API's maximum page size."""
STRIDE = LIMIT - 1
"""Offsets step by one less than a page so that neighbouring pages share the group at their seam."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ListingQuery:
    """What to list: one workspace (`TiProjectId`, None for the default one) and the API's filters."""

    project_id: str | None = None
    filters: tuple[Filter, ...] = ()
    tag_filters: tuple[TagFilter, ...] = ()
    service_category: str | None = None

    def params(self, offset: int) -> dict[str, Any]:
        """The request body for the page at `offset`."""
        params: dict[str, Any] = {"Offset": offset, "Limit": LIMIT, "OrderField": "CreateTime", "Order": "ASC"}
        if self.filters:
            params["Filters"] = [item.to_api() for item in self.filters]
        if self.tag_filters:
            params["TagFilters"] = [item.to_api() for item in self.tag_filters]
        if self.service_category:
            params["ServiceCategory"] = self.service_category
        if self.project_id:
            params["TiProjectId"] = self.project_id
        return params


@dataclass(frozen=True, slots=True)
class ListingResult:
    """The groups found, and what it took to find them (for logs and self-metrics)."""

    groups: list[ServiceGroup]
    requests: int = 0
    """Pages requested; client-side retries of a page are not counted here (the client's hooks see them)."""
    scans: int = 0
    """Full passes over the pages: 1, or 2 when the fleet changed during the first."""
    consistent: bool = True
    """False when the fleet kept changing through the second scan as well and the union was returned."""


@dataclass(frozen=True, slots=True)
class _Page:
    offset: int
    total_count: int
    groups: list[ServiceGroup]


@dataclass(slots=True)
class _Scan:
    pages: list[_Page] = field(default_factory=list)

    @property
    def groups(self) -> list[ServiceGroup]:
        return [group for page in self.pages for group in page.groups]

    def changed(self) -> str | None:
        """Why this scan cannot be trusted to be complete, or None when it can."""
        total = self.pages[0].total_count
        for page in self.pages:
            if page.total_count != total:
                return f"TotalCount moved from {total} to {page.total_count}"
            expected = min(LIMIT, max(total - page.offset, 0))
            if len(page.groups) != expected:
                return f"page at offset {page.offset} had {len(page.groups)} groups, expected {expected}"
        for before, after in zip(self.pages, self.pages[1:], strict=False):
            if before.groups[-1].service_group_id != after.groups[0].service_group_id:
                return f"groups shifted across offset {after.offset}"
        return None


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(root)"


def _malformed(region: str, answer: dict[str, Any], reason: str) -> TransportError:
    request_id = answer.get("RequestId")
    return TransportError(
        MALFORMED_RESPONSE,
        f"{ACTION} answer {reason}",
        request_id=request_id if isinstance(request_id, str) else "",
        region=region,
        action=ACTION,
    )


def parse_page(region: str, answer: dict[str, Any]) -> DescribeModelServiceGroupsResponse:
    """Validate one `Response` object; a mismatch names the field path (never the value)."""
    try:
        with paused_gc():
            parsed = DescribeModelServiceGroupsResponse.model_validate(answer)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        reason = f"does not fit the model at {_field_path(first['loc'])}: {first['msg']}{more}"
        raise _malformed(region, answer, reason) from None
    if parsed.total_count is None or parsed.total_count < 0:
        raise _malformed(region, answer, "lacks a valid TotalCount")
    return parsed


async def _page(client: TencentCloudClient, region: str, query: ListingQuery, offset: int, deadline: float) -> _Page:
    answer = await client.call(ACTION, region, query.params(offset), deadline=deadline)
    try:
        parsed = parse_page(region, answer)
    except TransportError as exc:
        client.report_error(region, ACTION, exc.code)
        raise
    assert parsed.total_count is not None
    return _Page(offset, parsed.total_count, list(parsed.service_groups or []))


async def _all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Await all concurrently; on the first failure cancel the rest and raise that failure."""
    tasks = [asyncio.ensure_future(item) for item in awaitables]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
    return [task.result() for task in tasks]


async def _scan(client: TencentCloudClient, region: str, query: ListingQuery, deadline: float) -> _Scan:
    first = await _page(client, region, query, 0, deadline)
    offsets = range(STRIDE, first.total_count - 1, STRIDE)
    rest = await _all(_page(client, region, query, offset, deadline) for offset in offsets)
    return _Scan([first, *rest])


def _updated(group: ServiceGroup) -> datetime | None:
    return as_utc(group.update_time)


def dedupe(groups: Iterable[ServiceGroup]) -> list[ServiceGroup]:
    """One group per `ServiceGroupId`, the most recently updated (the later one on a tie), in first-seen order.

    A group without an id cannot be told apart from others or labelled, so it is left out (and logged).
    """
    by_id: dict[str, ServiceGroup] = {}
    anonymous = 0
    for group in groups:
        group_id = group.service_group_id
        if not group_id:
            anonymous += 1
            continue
        current = by_id.get(group_id)
        if current is None:
            by_id[group_id] = group
            continue
        new, old = _updated(group), _updated(current)
        if old is None or (new is not None and new >= old):
            by_id[group_id] = group
    if anonymous:
        log.warning("left out %d service groups without a ServiceGroupId", anonymous)
    return list(by_id.values())


async def scan_service_groups(
    client: TencentCloudClient, region: str, query: ListingQuery, *, deadline: float
) -> ListingResult:
    """Every group matching `query` in `region`, with request counts; see the module docstring."""
    first = await _scan(client, region, query, deadline)
    reason = first.changed()
    if reason is None:
        return ListingResult(dedupe(first.groups), requests=len(first.pages), scans=1)
    log.info("service groups in %s changed during listing (%s); listing again", region, reason)
    second = await _scan(client, region, query, deadline)
    requests = len(first.pages) + len(second.pages)
    reason = second.changed()
    if reason is None:
        return ListingResult(dedupe(second.groups), requests=requests, scans=2)
    log.info("service groups in %s kept changing (%s); merging both listings", region, reason)
    return ListingResult(dedupe(first.groups + second.groups), requests=requests, scans=2, consistent=False)


async def list_service_groups(
    client: TencentCloudClient, region: str, query: ListingQuery, *, deadline: float
) -> list[ServiceGroup]:
    """Every group matching `query` in `region` (`scan_service_groups` without the counts)."""
    return (await scan_service_groups(client, region, query, deadline=deadline)).groups


async def scan_workspaces(
    client: TencentCloudClient,
    region: str,
    query: ListingQuery,
    project_ids: Sequence[str | None],
    *,
    deadline: float,
) -> ListingResult:
    """`query` in each workspace of `project_ids` (None: the default one) of one region, concurrently, merged."""
    ids = list(dict.fromkeys(project_ids)) or [query.project_id]
    results = await _all(
        scan_service_groups(client, region, replace(query, project_id=project_id), deadline=deadline)
        for project_id in ids
    )
    return ListingResult(
        dedupe(group for result in results for group in result.groups),
        requests=sum(result.requests for result in results),
        scans=max(result.scans for result in results),
        consistent=all(result.consistent for result in results),
    )


async def list_regions_workspaces(
    client: TencentCloudClient,
    region: str,
    query: ListingQuery,
    project_ids: Sequence[str | None],
    *,
    deadline: float,
) -> list[ServiceGroup]:
    """Every group of several workspaces of one region, merged (`scan_workspaces` without the counts)."""
    return (await scan_workspaces(client, region, query, project_ids, deadline=deadline)).groups
