"""Listing every service group of a region: `DescribeModelServiceGroups` page by page, made consistent.

The API pages by offset (at most 100 per page) and the fleet changes while we read it: a group deleted
before a page's offset pulls every later group one place forward, so a group can slip from the next
page into the one already read and be missed; an insertion pushes groups back and repeats one. Nothing
can be locked, so the listing checks its own work:

- Pages are ordered by creation time, oldest first: groups keep their relative order for good, and new
  groups land at the end instead of pushing every page along.
- Pages overlap by one group (offsets step by 99). Where the next page does not start with a group the
  previous one holds, the two did not meet, and the groups between them are fetched again: a window
  over the seam, requested now, from the last group of the earlier page it still shows to the first of
  the later page. Any group present all along lies between those two and so is in the window. The end
  of the list gets the same treatment when the last page was full and more groups were announced.
- A scan during which `TotalCount` moved, or whose seams could not all be closed, is repeated once.
  If the second scan is complete it is the answer; otherwise the union of both is returned (a group
  deleted meanwhile lingers for one poll, which is better than a live group missing for one).

Groups are de-duplicated by `ServiceGroupId`, keeping the most recently updated copy. The first page
gives `TotalCount`; the others, and the seam repairs, are requested concurrently by a few workers that
take the next offset when they are free (the token bucket sets the pace, so more requests in flight
would only wait in its queue); every request passes the client's token bucket.

`TotalCount` decides how many requests a scan sends, so it is checked before any is: a negative one, or
one above `MAX_TOTAL_COUNT`, is a malformed answer; one whose pages the token bucket cannot let through
before the deadline fails the listing at once with `Timeout` rather than spending the quota on a
listing that cannot finish.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tione import api
from exporter.tione.decode import Skipped, decode_answer, decode_groups, identified
from exporter.tione.models import Filter, ServiceGroupsEnvelope, TagFilter, as_utc
from exporter.tione.paging import (
    MAX_TOTAL_COUNT,
    call_parsed,
    check_budget,
    check_total,
    each,
    malformed,
    parse_answer,
)
from exporter.tione.records import ServiceGroup
from exporter.tione.source import Sink

log = logging.getLogger(__name__)

ACTION = "DescribeModelServiceGroups"
FILTER_NAMES = api.SERVICE_GROUP_FILTERS
"""The `Filters[].Name` values the action understands."""
LIMIT = 100
"""The API's maximum page size."""
STRIDE = LIMIT - 1
"""Offsets step by one less than a page so that neighbouring pages share the group at their seam."""
MAX_BRIDGE_PAGES = 4
"""Requests one seam repair may take before the listing gives up on it and scans again."""


@dataclass(frozen=True, slots=True)
class ListingQuery:
    """What to list: one workspace (`TiProjectId`, None for the default one) and the API's filters."""

    project_id: str | None = None
    filters: tuple[Filter, ...] = ()
    tag_filters: tuple[TagFilter, ...] = ()
    service_category: str | None = None

    def params(self, offset: int, limit: int = LIMIT) -> dict[str, Any]:
        """The request body for the page at `offset`."""
        params: dict[str, Any] = {"Offset": offset, "Limit": limit, "OrderField": "CreateTime", "Order": "ASC"}
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
    """The groups found, and what it took to find them (logged at debug level with each listing)."""

    groups: list[ServiceGroup]
    requests: int = 0
    """Pages requested, seam repairs included; a page's retries are not counted (the client's hooks see them)."""
    scans: int = 0
    """Full passes over the pages: 1, or 2 when the fleet changed during the first."""
    consistent: bool = True
    """False when neither scan could close all its seams: the union of both is returned, best effort."""
    skipped: tuple[Skipped, ...] = ()
    """Objects of the answers that could not be read and were left out (each once)."""
    workspace_of: Mapping[str, str] = field(default_factory=dict)
    """The workspace (`TiProjectId`) each group was listed in, by group id; absent when it was listed
    only in the default workspace without naming it."""
    workspaces: tuple[str | None, ...] = ()
    """The workspaces read (None: the default one, asked without `TiProjectId`)."""
    unlisted: tuple[str | None, ...] = ()
    """The workspaces the listing ran out of time for (their groups, when held, are from an earlier poll)."""
    unlisted_requests: int = 0
    """The requests those workspaces are expected to need: what each took when last listed, else one."""


@dataclass(frozen=True, slots=True)
class _Page:
    offset: int
    total_count: int
    groups: list[ServiceGroup]
    skipped: list[Skipped]


@dataclass(slots=True)
class _Scan:
    groups: list[ServiceGroup]
    requests: int
    moved: str | None
    """Why the fleet is known to have changed during the scan (`TotalCount` moved), or None."""
    complete: bool
    """True when every seam met or was repaired: each group present throughout the scan is in `groups`."""
    skipped: list[Skipped]


@dataclass(frozen=True, slots=True)
class ParsedPage:
    total_count: int
    groups: list[ServiceGroup]
    skipped: list[Skipped]
    request_id: str | None


def typed_page(content: bytes) -> ParsedPage | None:
    """A page read in one pass from the answer's bytes, or None when something in it does not fit: the
    client then gives the answer untyped, and `parse_page` reads it object by object."""
    answer = decode_answer(content)
    if answer is None or answer.total_count is None or not 0 <= answer.total_count <= MAX_TOTAL_COUNT:
        return None
    skipped: list[Skipped] = []
    groups = identified(answer.service_groups or [], skipped)
    return ParsedPage(answer.total_count, groups, skipped, answer.request_id)


def parse_page(region: str, answer: dict[str, Any]) -> ParsedPage:
    """One `Response` object: its envelope must fit (else the page is malformed, naming the field path,
    never the value); its groups are read one by one, and one that does not fit is left out (`decode`)."""
    envelope = {key: value for key, value in answer.items() if key != "ServiceGroups"}
    parsed = parse_answer(ServiceGroupsEnvelope, ACTION, region, envelope)
    total = check_total(ACTION, region, answer, parsed.total_count)
    items = answer.get("ServiceGroups")
    if items is None:
        items = []
    if not isinstance(items, list):
        reason = f"does not fit the model at ServiceGroups: {type(items).__name__} is not a list"
        raise malformed(ACTION, region, answer, reason)
    decoded = decode_groups(items)
    return ParsedPage(total, decoded.groups, decoded.skipped, parsed.request_id)


async def fetch_page(client: TencentCloudClient, region: str, params: dict[str, Any], deadline: float) -> ParsedPage:
    """One page of the listing: typed in one pass when it all fits, else read object by object."""
    return await call_parsed(client, ACTION, region, params, parse_page, deadline=deadline, typed=typed_page)


async def _page(
    client: TencentCloudClient, region: str, query: ListingQuery, offset: int, *, deadline: float, sink: Sink | None
) -> _Page:
    """One page, its groups handed to `sink` as soon as read: the caller formats them while the listing
    waits for the next page (seam repairs and second scans included; the result says which were kept)."""
    parsed = await fetch_page(client, region, query.params(offset), deadline)
    if sink is not None:
        sink.service_groups(parsed.groups, query.project_id or "")
    return _Page(offset, parsed.total_count, parsed.groups, parsed.skipped)


def _ids(groups: Iterable[ServiceGroup]) -> set[str]:
    return {group.service_group_id for group in groups if group.service_group_id}


Fetch = Callable[[int], Awaitable[_Page]]


async def _bridge(fetch: Fetch, before: _Page, after: _Page | None) -> tuple[list[ServiceGroup] | None, int]:
    """The groups now between `before` and `after` (None: the end of the list), and the requests it took.

    Reads a window centred on the seam; moves it back when it shows nothing of `before` (groups were
    removed in front), and walks on when `after` does not show up in it (the gap is wider than a page).
    The groups are None when the anchors cannot be found within a few pages: the caller scans again.
    """
    anchors = _ids(before.groups)
    targets = _ids(after.groups) if after is not None else set()
    seam = after.offset if after is not None else before.offset + STRIDE
    offset = max(0, seam - LIMIT // 2)
    found: list[ServiceGroup] = []
    for requests in range(1, MAX_BRIDGE_PAGES + 1):
        window = await fetch(offset)
        ids = [group.service_group_id for group in window.groups]
        last_anchor = max((index for index, group_id in enumerate(ids) if group_id in anchors), default=None)
        if last_anchor is None:
            if found or offset == 0:
                return None, requests
            offset = max(0, offset - LIMIT // 2)
            continue
        tail = window.groups[last_anchor + 1 :]
        stop = next((index for index, group in enumerate(tail) if group.service_group_id in targets), None)
        if stop is not None:
            return found + tail[:stop], requests
        found += tail
        if len(window.groups) < LIMIT:
            return found, requests  # the end of the list: nothing further to miss
        anchors = _ids(window.groups)
        offset = window.offset + STRIDE
    return None, MAX_BRIDGE_PAGES


async def _scan(
    client: TencentCloudClient, region: str, query: ListingQuery, deadline: float, sink: Sink | None
) -> _Scan:
    async def fetch(offset: int) -> _Page:
        return await _page(client, region, query, offset, deadline=deadline, sink=sink)

    first = await fetch(0)
    offsets = range(STRIDE, first.total_count - 1, STRIDE)
    check_budget(client, ACTION, region, first.total_count, len(offsets), deadline=deadline)
    pages = [first, *await each(fetch, offsets)]
    moved = next(
        (
            f"TotalCount moved from {first.total_count} to {page.total_count}"
            for page in pages
            if page.total_count != first.total_count
        ),
        None,
    )
    filled = [page for page in pages if page.groups]
    seams: list[tuple[_Page, _Page | None]] = [
        (before, after)
        for before, after in itertools.pairwise(filled)
        if after.groups[0].service_group_id not in _ids(before.groups)
    ]
    last = filled[-1] if filled else None
    if last is not None and len(last.groups) == LIMIT and last.total_count > last.offset + LIMIT:
        seams.append((last, None))  # more groups were announced than the last page reached
    repairs = await each(lambda seam: _bridge(fetch, *seam), seams)
    groups = [group for page in pages for group in page.groups]
    requests = len(pages) + sum(spent for _, spent in repairs)
    missing = [found for found, _ in repairs if found is None]
    for found, _ in repairs:
        groups += found or []
    if seams:
        log.debug("listing %s: %d page seams did not meet, %d left open", region, len(seams), len(missing))
    skipped = [item for page in pages for item in page.skipped]
    return _Scan(groups, requests, moved, complete=not missing, skipped=skipped)


def _updated(group: ServiceGroup) -> datetime | None:
    return as_utc(group.update_time)


def each_once(skipped: Iterable[Skipped]) -> tuple[Skipped, ...]:
    """Each skipped object once: overlapping pages, repaired seams and a second scan read some twice."""
    return tuple(dict.fromkeys(skipped))


def dedupe(groups: Iterable[ServiceGroup]) -> list[ServiceGroup]:
    """One group per `ServiceGroupId`, the most recently updated (the later one on a tie), in first-seen order.

    A group without an id cannot be told apart from others or labelled, so it is left out (the pages'
    decoder leaves such groups out already, and reports them as skipped: `decode.identified`).
    """
    by_id: dict[str, ServiceGroup] = {}
    for group in groups:
        group_id = group.service_group_id
        if not group_id:
            continue
        current = by_id.get(group_id)
        if current is None:
            by_id[group_id] = group
            continue
        new, old = _updated(group), _updated(current)
        if old is None or (new is not None and new >= old):
            by_id[group_id] = group
    return list(by_id.values())


async def scan_service_groups(
    client: TencentCloudClient, region: str, query: ListingQuery, *, deadline: float, sink: Sink | None = None
) -> ListingResult:
    """Every group matching `query` in `region`, with request counts, each page handed to `sink` as read;
    see the module docstring."""
    first = await _scan(client, region, query, deadline, sink)
    if first.complete and first.moved is None:
        return ListingResult(dedupe(first.groups), requests=first.requests, scans=1, skipped=each_once(first.skipped))
    reason = first.moved or "page seams could not be closed"
    log.info("service groups in %s changed during listing (%s); listing again", region, reason)
    second = await _scan(client, region, query, deadline, sink)
    requests = first.requests + second.requests
    if second.complete:
        return ListingResult(dedupe(second.groups), requests=requests, scans=2, skipped=each_once(second.skipped))
    log.info("service groups in %s kept changing; merging both listings", region)
    return ListingResult(
        dedupe(first.groups + second.groups),
        requests=requests,
        scans=2,
        consistent=first.complete,
        skipped=each_once(first.skipped + second.skipped),
    )
