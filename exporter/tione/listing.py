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

An account with many workspaces needs at least one request per workspace and poll, and may need more
than the rate limit lets through before the deadline. Such a poll is partial, not failed: workspaces
are listed a few at a time, the one listed longest ago first and alone (it gets the whole deadline, the others
`WORKSPACE_SHARE` of it, leaving room for the sources after the listing); one that cannot be listed in
time is left for the next poll, where it comes first, so every workspace is listed within a bounded
number of polls. While polls are partial (or expected to be) the listing holds each workspace's last
groups, and a workspace it did not reach is exported from them until they are older than the poll's
`max_staleness`. Only when no workspace at all could be listed does the timeout fail the listing.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.errors import TIMEOUT, APIError, TencentCloudError, TransportError, is_permission_error
from exporter.tione import api, workspaces
from exporter.tione.decode import Skipped, decode_answer, decode_groups, identified
from exporter.tione.models import DescribeModelServiceGroupsResponse, Filter, TagFilter, as_utc
from exporter.tione.paging import (
    MAX_TOTAL_COUNT,
    WORKERS,
    all_of,
    call_parsed,
    check_budget,
    check_total,
    each,
    malformed,
    parse_answer,
)
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import Sink, Source

log = logging.getLogger(__name__)

ACTION = api.DESCRIBE_MODEL_SERVICE_GROUPS
FILTER_NAMES = api.SERVICE_GROUP_FILTERS
"""The `Filters[].Name` values the action understands."""
LIMIT = 100
"""The API's maximum page size."""
STRIDE = LIMIT - 1
"""Offsets step by one less than a page so that neighbouring pages share the group at their seam."""
MAX_BRIDGE_PAGES = 4
"""Requests one seam repair may take before the listing gives up on it and scans again."""
UNREADABLE_WORKSPACE: tuple[str, ...] = (
    "UnauthorizedOperation",
    "AuthFailure.UnauthorizedOperation",
    "FailedOperation.NoPermission",
    "OperationDenied",
    "ResourceNotFound",
    "InvalidParameter",
)
"""Error codes that say one workspace cannot be read by these keys: it is left out, the others are kept."""
WORKSPACE_SHARE = 0.75
"""The share of the time left that the listing of every workspace but the first in line may spend: what
remains is for the sources that run after the listing, which a partial listing would otherwise starve."""
HOLD_SHARE = 0.5
"""The listing holds each workspace's groups between polls once its expected time passes this share of
what it may spend (or a listing was partial): a poll that then runs short still exports every workspace."""


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
    parsed = parse_answer(DescribeModelServiceGroupsResponse, ACTION, region, envelope)
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


def _once(skipped: Iterable[Skipped]) -> tuple[Skipped, ...]:
    """Each skipped object once: overlapping pages, repaired seams and a second scan read some twice."""
    return tuple(dict.fromkeys(skipped))


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
    client: TencentCloudClient, region: str, query: ListingQuery, *, deadline: float, sink: Sink | None = None
) -> ListingResult:
    """Every group matching `query` in `region`, with request counts, each page handed to `sink` as read;
    see the module docstring."""
    first = await _scan(client, region, query, deadline, sink)
    if first.complete and first.moved is None:
        return ListingResult(dedupe(first.groups), requests=first.requests, scans=1, skipped=_once(first.skipped))
    reason = first.moved or "page seams could not be closed"
    log.info("service groups in %s changed during listing (%s); listing again", region, reason)
    second = await _scan(client, region, query, deadline, sink)
    requests = first.requests + second.requests
    if second.complete:
        return ListingResult(dedupe(second.groups), requests=requests, scans=2, skipped=_once(second.skipped))
    log.info("service groups in %s kept changing; merging both listings", region)
    return ListingResult(
        dedupe(first.groups + second.groups),
        requests=requests,
        scans=2,
        consistent=first.complete,
        skipped=_once(first.skipped + second.skipped),
    )


def _unreadable(error: TencentCloudError) -> bool:
    """An answer that says this workspace cannot be read by these keys, rather than that the API or the
    keys fail as a whole (those fail every workspace alike, and the region with them)."""
    return isinstance(error, APIError) and not error.retryable and error.code.startswith(UNREADABLE_WORKSPACE)


Outcome = ListingResult | TencentCloudError | None
"""What became of one workspace: listed, not readable, out of time (a `Timeout` error), or not started (None)."""


def _late(outcome: Outcome) -> bool:
    return outcome is None or (isinstance(outcome, TencentCloudError) and outcome.code == TIMEOUT)


async def _scan_each(
    client: TencentCloudClient,
    region: str,
    query: ListingQuery,
    ids: Sequence[str | None],
    *,
    deadline: float,
    cutoff: float,
    sink: Sink | None = None,
) -> list[Outcome]:
    """Each workspace of `ids` in that order: the first alone, by `deadline`, so that a large workspace
    left over from a short poll has the token bucket to itself and is listed at last; then the others,
    `WORKERS` at a time, by `cutoff` (one not reached by then is not started). With several workspaces,
    one that runs out of time is an outcome like an unreadable one; any other error is raised (it would
    fail every workspace alike)."""
    outcomes: list[Outcome] = [None] * len(ids)

    async def one(index: int, project_id: str | None, by: float) -> None:
        try:
            outcomes[index] = await scan_service_groups(
                client, region, replace(query, project_id=project_id), deadline=by, sink=sink
            )
        except TencentCloudError as error:
            if not (_unreadable(error) or (len(ids) > 1 and _late(error))):
                raise
            outcomes[index] = error

    await one(0, ids[0], deadline)
    todo = enumerate(ids[1:], start=1)

    async def worker() -> None:
        for index, project_id in todo:
            if time.monotonic() >= cutoff:
                continue  # left for the next poll, without a request that could only time out
            await one(index, project_id, cutoff)

    await all_of(worker() for _ in range(min(WORKERS, len(ids) - 1)))
    return outcomes


@dataclass(frozen=True, slots=True)
class _Part:
    """One workspace's share of a listing: read now, or held from an earlier poll (`requests` 0)."""

    project_id: str | None
    groups: Sequence[ServiceGroup]
    requests: int = 0
    scans: int = 0
    consistent: bool = True
    skipped: tuple[Skipped, ...] = ()


def _merge(
    region: str,
    parts: Sequence[_Part],
    unreadable: Sequence[tuple[str | None, TencentCloudError]],
    unlisted: Sequence[str | None] = (),
    unlisted_requests: int = 0,
) -> ListingResult:
    """The workspaces' parts as one listing, in their order; unreadable workspaces reported as skipped."""
    skipped = [item for part in parts for item in part.skipped]
    for project_id, error in unreadable:
        log.debug(
            "workspace cannot be read", extra={"region": region, "tione_project_id": project_id, "code": error.code}
        )
        skipped.append(Skipped("workspace", project_id or "", "", "", "not_readable", detail=error.code))
    workspace_of: dict[str, str] = {}
    for part in parts:
        for group in part.groups:
            if part.project_id and group.service_group_id and group.service_group_id not in workspace_of:
                workspace_of[group.service_group_id] = part.project_id
    return ListingResult(
        dedupe(group for part in parts for group in part.groups),
        requests=sum(part.requests for part in parts),
        scans=max((part.scans for part in parts), default=0),
        consistent=all(part.consistent for part in parts),
        skipped=_once(skipped),
        workspace_of=workspace_of,
        workspaces=tuple(part.project_id for part in parts),
        unlisted=tuple(unlisted),
        unlisted_requests=unlisted_requests,
    )


def _part(project_id: str | None, result: ListingResult) -> _Part:
    return _Part(project_id, result.groups, result.requests, result.scans, result.consistent, result.skipped)


def _failure(outcomes: Sequence[Outcome]) -> TencentCloudError:
    """The listing's error when no workspace could be read: the first to run out of time, else the first."""
    errors = [item for item in outcomes if isinstance(item, TencentCloudError)]
    late = [error for error in errors if error.code == TIMEOUT]
    if late or not errors:
        return late[0] if late else TransportError(TIMEOUT, "no workspace could be listed before the deadline")
    return errors[0]


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


async def count_groups(
    client: TencentCloudClient, region: str, project_ids: Sequence[str | None], *, deadline: float
) -> int:
    """Groups in the workspaces, unfiltered, from one `Limit` 1 request each: proof that the listing can run."""
    total = 0
    for project_id in dict.fromkeys(project_ids):
        params = ListingQuery(project_id=project_id).params(0, limit=1)
        parsed = await fetch_page(client, region, params, deadline)
        total += parsed.total_count or 0
    return total


async def poll_requests(
    client: TencentCloudClient, region: str, configured: tuple[str, ...], *, discover: bool, deadline: float
) -> int:
    """The fewest requests one poll's listing sends in the region: one per workspace it lists (the configured
    ones, else every one discovery finds, else the default one), from one `Limit` 1 request (`check`)."""
    if configured:
        return len(dict.fromkeys(configured))
    if not discover:
        return 1
    try:
        total, _ = await call_parsed(
            client, workspaces.ACTION, region, workspaces.params(0, 1), workspaces.parse, deadline=deadline
        )
    except TencentCloudError as error:
        if is_permission_error(error.code):
            return 1
        raise
    return max(1, total)


@dataclass(slots=True)
class _Listed:
    """What the listing remembers of one workspace between polls."""

    at: float
    """When its listing last ended (`time.monotonic()`): the longest ago is listed first."""
    requests: int
    groups: tuple[ServiceGroup, ...] | None = None
    """Its groups as then listed, held only while the region's polls run (or are expected to run) short."""


class Rotation:
    """The order workspaces are listed in, and what each took, per region; their groups while polls run short.

    A region with one workspace, or whose workspaces are listed well within the time, holds no groups:
    the listing's objects then live only during a poll, as ever.
    """

    def __init__(self, max_staleness: float) -> None:
        self.max_staleness = max_staleness
        self._listed: dict[str, dict[str | None, _Listed]] = {}
        self._short: set[str] = set()
        """Regions whose last listing left workspaces for a later poll."""

    def order(self, region: str, ids: Sequence[str | None]) -> list[str | None]:
        """`ids`, never listed and listed longest ago first; ties in the given order."""
        listed = self._listed.get(region, {})
        return sorted(ids, key=lambda project_id: listed[project_id].at if project_id in listed else -1.0)

    def expected(self, region: str, ids: Iterable[str | None]) -> int:
        """The requests listing `ids` is expected to take: what each took when last listed, else one."""
        listed = self._listed.get(region, {})
        return sum(listed[project_id].requests if project_id in listed else 1 for project_id in ids)

    def tight(self, region: str, ids: Sequence[str | None], rate: float, burst: int, seconds: float) -> bool:
        """Whether to hold the groups this poll lists: its last listing ran short, or this one is expected
        to take more than `HOLD_SHARE` of the `seconds` it may spend."""
        if region in self._short:
            return True
        if len(ids) < 2:
            return False
        return max(0, self.expected(region, ids) - burst) / rate > HOLD_SHARE * seconds

    def held(self, region: str, project_id: str | None, now: float) -> tuple[ServiceGroup, ...] | None:
        """The workspace's groups from its last listing, unless none are held or they are too old to show."""
        listed = self._listed.get(region, {}).get(project_id)
        if listed is None or listed.groups is None or now - listed.at >= self.max_staleness:
            return None
        return listed.groups

    def remember(
        self, region: str, outcomes: Mapping[str | None, Outcome], *, hold: bool, short: bool, now: float
    ) -> None:
        """Note what became of each workspace of this poll (workspaces no longer listed are forgotten)."""
        before = self._listed.get(region, {})
        after: dict[str | None, _Listed] = {}
        for project_id, outcome in outcomes.items():
            if isinstance(outcome, ListingResult):
                after[project_id] = _Listed(now, outcome.requests, tuple(outcome.groups) if hold else None)
            elif _late(outcome):
                if project_id in before:
                    kept = before[project_id]
                    after[project_id] = _Listed(kept.at, kept.requests, kept.groups if hold else None)
            else:
                after[project_id] = _Listed(now, 1)
        self._listed[region] = after
        if short:
            self._short.add(region)
        else:
            self._short.discard(region)


def source(
    client: TencentCloudClient,
    query: ListingQuery,
    configured: tuple[str, ...] = (),
    *,
    max_staleness: float = 300.0,
) -> Source[ListingResult]:
    """The primary source: every service group of the region, every poll, in each workspace to read
    (`workspaces.project_ids`: the configured ones, else those discovery found, else the default one).

    With several workspaces a poll may run short of time (see the module docstring): the workspaces it
    did not reach are exported from their last listing, up to `max_staleness` old, and listed first next."""
    rotation = Rotation(max_staleness)

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> ListingResult:
        ids = list(dict.fromkeys(workspaces.project_ids(workspaces.DISCOVERY.of(snapshot), configured)))
        now = time.monotonic()
        cutoff = now + max(0.0, deadline - now) * WORKSPACE_SHARE
        bucket = client.rate_limiter
        hold = rotation.tight(region, ids, bucket.rate, bucket.burst, cutoff - now)
        order = rotation.order(region, ids)
        outcomes = dict(
            zip(
                order,
                await _scan_each(client, region, query, order, deadline=deadline, cutoff=cutoff, sink=sink),
                strict=True,
            )
        )
        if not any(isinstance(item, ListingResult) for item in outcomes.values()):
            raise _failure(list(outcomes.values()))
        done = time.monotonic()
        parts: list[_Part] = []
        unreadable: list[tuple[str | None, TencentCloudError]] = []
        unlisted: list[str | None] = []
        for project_id in ids:  # in the workspaces' own order, so that the exposition's order stays put
            item = outcomes[project_id]
            if isinstance(item, ListingResult):
                parts.append(_part(project_id, item))
            elif _late(item):
                unlisted.append(project_id)
                held = rotation.held(region, project_id, done)
                if held is not None:
                    parts.append(_Part(project_id, held))
                    sink.service_groups(held, project_id or "")
            elif isinstance(item, TencentCloudError):
                unreadable.append((project_id, item))
        needed = rotation.expected(region, unlisted)
        rotation.remember(region, outcomes, hold=hold or bool(unlisted), short=bool(unlisted), now=done)
        result = _merge(region, parts, unreadable, unlisted, needed)
        log.debug(
            "listed %s: %d service groups, %d requests, %d scans%s%s",
            region,
            len(result.groups),
            result.requests,
            result.scans,
            "" if result.consistent else ", seams left open",
            f", {len(unlisted)} workspaces left for the next poll" if unlisted else "",
        )
        return result

    def store(snapshot: RegionSnapshot, result: ListingResult) -> RegionSnapshot:
        return replace(
            snapshot,
            groups=tuple(result.groups),
            skipped=result.skipped,
            group_workspaces=MappingProxyType(dict(result.workspace_of)),
            polled_workspaces=tuple(project_id for project_id in result.workspaces if project_id),
            unlisted_workspaces=tuple(project_id or "" for project_id in result.unlisted),
            unlisted_requests=result.unlisted_requests,
        )

    async def probe(region: str, deadline: float) -> str:
        total = await count_groups(client, region, configured or (None,), deadline=deadline)
        return f"{total} service groups" + ("" if configured else " in the default workspace")

    return Source(ACTION, fetch, store, empty=ListingResult([]), probe=probe, primary=True)
