"""The primary source: every service group of a region, in each workspace to read, every poll.

Each workspace is listed by `listing.scan_service_groups`, page by page and made consistent.
An account with many workspaces needs at least one request per workspace and poll, and may need more
than the rate limit lets through before the deadline. Such a poll is partial, not failed: workspaces
are listed a few at a time, the one listed longest ago first and alone (it gets the whole deadline, the others
`WORKSPACE_SHARE` of it, leaving room for the sources after the listing); one that cannot be listed in
time is left for the next poll, where it comes first, so every workspace is listed within a bounded
number of polls. While polls are partial (or expected to be) the listing holds each workspace's last
groups; otherwise, with several workspaces, it keeps them packed (compressed JSON of the records, about
a twentieth of their size), so that a poll that runs short after a whole one still has them. A workspace
it did not reach is exported from either until they are older than the poll's `max_staleness`. Only when
no workspace at all could be listed does the timeout fail the listing.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import msgspec

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.errors import TIMEOUT, APIError, TencentCloudError, is_permission_error
from exporter.tione import workspaces
from exporter.tione.decode import Skipped
from exporter.tione.listing import (
    ACTION,
    ListingQuery,
    ListingResult,
    dedupe,
    each_once,
    fetch_page,
    scan_service_groups,
)
from exporter.tione.paging import WORKERS, all_of, call_parsed
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import Sink, Source

log = logging.getLogger(__name__)

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
    `WORKERS` at a time, by `cutoff` (one not reached by then is not started). One that runs out of time
    is an outcome like an unreadable one (with none read, the listing fails with it: `_failure`); any
    other error is raised (it would fail every workspace alike)."""
    outcomes: list[Outcome] = [None] * len(ids)

    async def one(index: int, project_id: str | None, by: float) -> None:
        try:
            outcomes[index] = await scan_service_groups(
                client, region, replace(query, project_id=project_id), deadline=by, sink=sink
            )
        except TencentCloudError as error:
            if not (_unreadable(error) or _late(error)):
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
    unlisted: Sequence[str | None],
    unlisted_requests: int,
) -> ListingResult:
    """The workspaces' parts as one listing, in their order (at least one: a listing with none read fails);
    unreadable workspaces reported as skipped."""
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
        scans=max(part.scans for part in parts),
        consistent=all(part.consistent for part in parts),
        skipped=each_once(skipped),
        workspace_of=workspace_of,
        workspaces=tuple(part.project_id for part in parts),
        unlisted=tuple(unlisted),
        unlisted_requests=unlisted_requests,
    )


def _part(project_id: str | None, result: ListingResult) -> _Part:
    return _Part(project_id, result.groups, result.requests, result.scans, result.consistent, result.skipped)


def _failure(outcomes: Sequence[Outcome]) -> TencentCloudError:
    """The listing's error when no workspace could be read: the first to run out of time, else the first.

    There is one: the first workspace in line is always tried, and not read it is an error (`_scan_each`)."""
    errors = [item for item in outcomes if isinstance(item, TencentCloudError)]
    return next((error for error in errors if error.code == TIMEOUT), errors[0])


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
    packed: bytes | None = None
    """Otherwise, in a region of several workspaces, the same groups packed (`_pack`): a poll that runs short
    after a whole one still has the groups of the workspaces it does not reach, at a small cost in memory."""


_PACK_ENCODER = msgspec.json.Encoder()
_PACK_DECODER = msgspec.json.Decoder(tuple[ServiceGroup, ...])
PACK_LEVEL = 1
"""zlib's fastest level: the records' JSON shrinks about ninefold (to about 320 bytes a service) for about
0.02 s of CPU per 1,000 services and poll; the records themselves hold about 6 KB a service."""
PACK_SLICE = 100
"""Groups encoded at a time while packing: the JSON of a whole workspace (about 2.7 KB a service, 54 MB at
20,000 services) would otherwise exist at once, at the end of the listing, beside everything it holds."""


def _pack(groups: Sequence[ServiceGroup]) -> bytes:
    """The groups as compressed JSON of the records: what they came from, so they read back as they were.

    The array is encoded a slice at a time into one compressed stream: the same JSON, never all of it at once."""
    compressor = zlib.compressobj(PACK_LEVEL)
    parts = [compressor.compress(b"[")]
    for start in range(0, len(groups), PACK_SLICE):
        encoded = _PACK_ENCODER.encode(tuple(groups[start : start + PACK_SLICE]))
        parts.append(compressor.compress(b"," if start else b""))
        parts.append(compressor.compress(memoryview(encoded)[1:-1]))  # the slice's array without its brackets
    parts += (compressor.compress(b"]"), compressor.flush())
    return b"".join(parts)


def _unpack(packed: bytes) -> tuple[ServiceGroup, ...] | None:
    try:
        return _PACK_DECODER.decode(zlib.decompress(packed))
    except (zlib.error, msgspec.DecodeError):  # cannot happen to what `_pack` made; then nothing is served
        return None


class Rotation:
    """The order workspaces are listed in, and what each took, per region; their groups while polls run short.

    A region with one workspace holds no groups: the listing's objects then live only during a poll, as
    ever. One with several whose workspaces are listed well within the time holds them packed, not as
    objects: about 320 bytes a service instead of 6 KB.
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
        if listed is None or now - listed.at >= self.max_staleness:
            return None
        if listed.groups is not None:
            return listed.groups
        return _unpack(listed.packed) if listed.packed is not None else None

    def remember(
        self, region: str, outcomes: Mapping[str | None, Outcome], *, hold: bool, short: bool, now: float
    ) -> None:
        """Note what became of each workspace of this poll (workspaces no longer listed are forgotten).

        Its groups are held as objects with `hold`, else packed when the region has several workspaces."""
        before = self._listed.get(region, {})
        after: dict[str | None, _Listed] = {}
        several = len(outcomes) > 1
        for project_id, outcome in outcomes.items():
            if isinstance(outcome, ListingResult):
                groups = tuple(outcome.groups) if hold else None
                packed = _pack(outcome.groups) if several and not hold else None
                after[project_id] = _Listed(now, outcome.requests, groups, packed)
            elif _late(outcome):
                if project_id in before:  # as it was: still first in line, its groups still served
                    after[project_id] = before[project_id]
            else:
                after[project_id] = _Listed(now, 1)
        self._listed[region] = after
        if short:
            self._short.add(region)
        else:
            self._short.discard(region)


def _assemble(
    region: str,
    ids: Sequence[str | None],
    outcomes: Mapping[str | None, Outcome],
    rotation: Rotation,
    *,
    sink: Sink,
    done: float,
) -> ListingResult:
    """One poll's listing from what became of each workspace, in the workspaces' own order (so that the
    exposition's order stays put): a workspace not reached is shown from its held groups, if any (handed
    to `sink` too, as its pages were when read), and counted at what it took when last listed."""
    parts: list[_Part] = []
    unreadable: list[tuple[str | None, TencentCloudError]] = []
    unlisted: list[str | None] = []
    for project_id in ids:
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
    return _merge(region, parts, unreadable, unlisted, rotation.expected(region, unlisted))


def _store(snapshot: RegionSnapshot, result: ListingResult) -> RegionSnapshot:
    """The listing's result in the snapshot's own fields, which the metrics and later sources read."""
    return replace(
        snapshot,
        groups=tuple(result.groups),
        skipped=result.skipped,
        group_workspaces=MappingProxyType(dict(result.workspace_of)),
        polled_workspaces=tuple(project_id for project_id in result.workspaces if project_id),
        unlisted_workspaces=tuple(project_id or "" for project_id in result.unlisted),
        unlisted_requests=result.unlisted_requests,
    )


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
    did not reach are exported from their last listing (held, or packed when the last poll was whole), up
    to `max_staleness` old, and listed first next."""
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
        result = _assemble(region, ids, outcomes, rotation, sink=sink, done=done)
        rotation.remember(region, outcomes, hold=hold or bool(result.unlisted), short=bool(result.unlisted), now=done)
        log.debug(
            "listed %s: %d service groups, %d requests, %d scans%s%s",
            region,
            len(result.groups),
            result.requests,
            result.scans,
            "" if result.consistent else ", seams left open",
            f", {len(result.unlisted)} workspaces left for the next poll" if result.unlisted else "",
        )
        return result

    async def probe(region: str, deadline: float) -> str:
        total = await count_groups(client, region, configured or (None,), deadline=deadline)
        return f"{total} service groups" + ("" if configured else " in the default workspace")

    return Source(ACTION, fetch, _store, empty=ListingResult([]), probe=probe, primary=True)
