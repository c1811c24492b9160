"""Many workspaces and too little time: the listing lists what it can, keeps the rest, and rotates.

A slow token bucket and a short deadline make a poll run short; the assertions are about which workspaces
were listed and what was returned, never about how long anything took.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec
import pytest

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import TIMEOUT, APIError, TencentCloudError, TransportError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione.decode import Skipped
from exporter.tione.listing import ListingQuery, ListingResult
from exporter.tione.records import ServiceGroup
from exporter.tione.service_groups import PACK_SLICE, Rotation, _failure, source
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import NoSink, Sink
from tests.unit.test_client_listing import group

REGION = "ap-guangzhou"
WORKSPACES = tuple(f"ws-{index:02d}" for index in range(10))


class Account:
    """Workspaces of `size` groups each (ids `ms-<workspace><index>`; `sizes` by workspace), but those
    `refused` (the API says they cannot be read), and the workspace of every request in order. The first
    group of `ws-05` has a service that cannot be read."""

    def __init__(self, size: int = 1, refused: tuple[str, ...] = (), sizes: dict[str, int] | None = None) -> None:
        self.size = size
        self.sizes = sizes or {}
        self.refused = refused
        self.asked: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body: dict[str, Any] = json.loads(request.content)
        project = body.get("TiProjectId", "")
        self.asked.append(project)
        if project in self.refused:
            error = {"Error": {"Code": "ResourceNotFound", "Message": "no such workspace"}, "RequestId": "r-x"}
            return httpx.Response(200, json={"Response": error})
        offset, limit, size = body["Offset"], body["Limit"], self.sizes.get(project, self.size)
        groups = [group(index, project=project) for index in range(offset, min(offset + limit, size))]
        if project == "ws-05" and offset == 0:
            groups[0]["Services"][0]["Status"] = ["not", "text"]  # a service that cannot be read
        answer = {"TotalCount": size, "ServiceGroups": groups, "RequestId": f"r{len(self.asked)}"}
        return httpx.Response(200, json={"Response": answer})


class Recorder:
    """A sink that keeps the ids of the groups handed to it, by workspace."""

    def __init__(self) -> None:
        self.ids: dict[str, set[str]] = {}

    def service_groups(self, groups: Sequence[ServiceGroup], workspace: str) -> None:
        self.ids.setdefault(workspace, set()).update(str(item.service_group_id) for item in groups)


def client(account: Account, rate: float, burst: int) -> TencentCloudClient:
    return TencentCloudClient(
        endpoint="http://127.0.0.1:1",
        service="tione",
        version="2021-11-11",
        credentials=Credentials("AKID", "key"),
        http=httpx.AsyncClient(transport=httpx.MockTransport(account.handler)),
        rate_limiter=TokenBucket(rate=rate, burst=burst),
    )


def as_record(item: dict[str, Any]) -> ServiceGroup:
    return msgspec.json.decode(json.dumps(item), type=ServiceGroup)


def workspaces_of(result: ListingResult) -> set[str]:
    return {str(item.service_group_id).removeprefix("ms-")[:5] for item in result.groups}


async def poll(listing: Any, seconds: float, sink: Sink | None = None) -> ListingResult:
    deadline = time.monotonic() + seconds
    result: ListingResult = await listing.fetch(REGION, RegionSnapshot(REGION), deadline, sink or NoSink())
    return result


async def test_a_poll_short_of_time_lists_what_it_can_keeps_the_rest_and_lists_them_first_next_time() -> None:
    account = Account()
    # 4 requests at once, then 10 a second, over 3/4 of 0.4 s: about 7 of the 10 workspaces a poll.
    listing = source(client(account, rate=10, burst=4), ListingQuery(), WORKSPACES, max_staleness=300)
    first = await poll(listing, 0.4)
    listed = set(account.asked)
    assert listed and first.unlisted, "the poll ran short: some listed, some not"
    assert set(first.unlisted) == set(WORKSPACES) - listed
    assert workspaces_of(first) == listed, "nothing held yet for the workspaces not reached"
    assert first.unlisted_requests == len(first.unlisted), "never listed: one request each, expected"

    account.asked.clear()
    second = await poll(listing, 0.4)
    reached = len(account.asked)
    assert reached, "the first in line is always listed"
    assert account.asked[: len(first.unlisted)] == list(first.unlisted)[:reached], "the ones left wait no longer"
    assert set(second.unlisted) == set(WORKSPACES) - set(account.asked)
    # Those not reached now are served from the first poll (a workspace never listed has nothing to serve).
    assert workspaces_of(second) == listed | set(account.asked)
    assert second.workspaces == tuple(w for w in WORKSPACES if w in workspaces_of(second)), "in their own order"


async def test_held_groups_older_than_the_staleness_limit_are_not_served() -> None:
    account = Account()
    listing = source(client(account, rate=10, burst=4), ListingQuery(), WORKSPACES, max_staleness=0.0)
    await poll(listing, 0.4)
    account.asked.clear()
    second = await poll(listing, 0.4)
    assert second.unlisted
    assert workspaces_of(second) == set(account.asked), "only what was listed now"


async def test_with_no_workspace_listed_in_time_the_listing_fails_on_its_timeout() -> None:
    account = Account()
    listing = source(client(account, rate=10, burst=1), ListingQuery(), WORKSPACES)
    with pytest.raises(TencentCloudError) as caught:
        await poll(listing, 0.01)
    assert (caught.value.code, caught.value.region) == (TIMEOUT, REGION)


async def test_all_workspaces_listed_in_time_is_a_whole_poll() -> None:
    account = Account()
    listing = source(client(account, rate=1000, burst=100), ListingQuery(), WORKSPACES)
    result = await poll(listing, 10)
    assert (result.unlisted, result.unlisted_requests) == ((), 0)
    assert workspaces_of(result) == set(WORKSPACES)
    assert sorted(account.asked) == sorted(WORKSPACES)


def test_groups_are_held_only_while_polls_run_short() -> None:
    """Holding every group between polls costs memory a fleet listed in time never needs."""
    rotation = Rotation(max_staleness=300)
    ids = list(WORKSPACES)
    # 10 requests, 2 at once then 1 a second: 8 s, against half of 20 s: no hold; of 10 s: hold.
    assert not rotation.tight(REGION, ids, rate=1, burst=2, seconds=20)
    assert rotation.tight(REGION, ids, rate=1, burst=2, seconds=10)
    assert not rotation.tight(REGION, ids[:1], rate=1, burst=0 + 1, seconds=0.1), "one workspace: never"
    listed = ListingResult([], requests=3)
    late = TencentCloudError(TIMEOUT, "late")
    rotation.remember(REGION, {"ws-00": listed, "ws-01": late}, hold=True, short=True, now=100.0)
    assert rotation.held(REGION, "ws-00", 101.0) == ()
    assert rotation.held(REGION, "ws-01", 101.0) is None, "never listed: nothing to serve"
    assert rotation.expected(REGION, ["ws-00", "ws-01"]) == 3 + 1
    assert rotation.order(REGION, ["ws-00", "ws-01"]) == ["ws-01", "ws-00"]
    assert rotation.tight(REGION, ["ws-00", "ws-01"], rate=1000, burst=100, seconds=100), "the last one ran short"
    rotation.remember(REGION, {"ws-00": listed, "ws-01": listed}, hold=False, short=False, now=200.0)
    assert not rotation.tight(REGION, ["ws-00", "ws-01"], rate=1000, burst=100, seconds=100)


def test_a_whole_poll_keeps_the_groups_packed_not_as_objects() -> None:
    """A poll that runs short right after a whole one must still have the groups of the workspaces it does
    not reach; between whole polls they are kept packed (no record objects), and read back equal."""
    rotation = Rotation(max_staleness=300)
    first = ListingResult([as_record(group(index, project="ws-00")) for index in range(3)], requests=1)
    second = ListingResult([as_record(group(0, project="ws-01"))], requests=1)
    rotation.remember(REGION, {"ws-00": first, "ws-01": second}, hold=False, short=False, now=100.0)
    held = rotation.held(REGION, "ws-00", 101.0)
    assert held == tuple(first.groups)
    assert held is not None and all(a is not b for a, b in zip(held, first.groups, strict=True)), "read back"
    assert rotation.held(REGION, "ws-01", 101.0) == tuple(second.groups)
    assert rotation.held(REGION, "ws-00", 400.0) is None, "older than the staleness limit"
    late = TencentCloudError(TIMEOUT, "late")
    rotation.remember(REGION, {"ws-00": late, "ws-01": second}, hold=True, short=True, now=200.0)
    assert rotation.held(REGION, "ws-00", 201.0) == tuple(first.groups), "still the whole poll's, while fresh"
    alone = Rotation(max_staleness=300)
    alone.remember(REGION, {"ws-00": first}, hold=False, short=False, now=100.0)
    assert alone.held(REGION, "ws-00", 101.0) is None, "one workspace: nothing kept between polls"


async def test_a_poll_that_runs_short_after_a_whole_one_serves_the_rest_from_that_one() -> None:
    account = Account()
    api = client(account, rate=1000, burst=100)
    listing = source(api, ListingQuery(), WORKSPACES, max_staleness=300)
    whole = await poll(listing, 10)
    assert whole.unlisted == () and workspaces_of(whole) == set(WORKSPACES)
    api.rate_limiter = TokenBucket(rate=10, burst=4)  # the API slows down: about 7 workspaces a poll
    account.asked.clear()
    short = await poll(listing, 0.4)
    assert short.unlisted, "the poll ran short"
    assert set(short.unlisted) == set(WORKSPACES) - set(account.asked)
    assert workspaces_of(short) == set(WORKSPACES), "the workspaces not reached keep their groups"
    assert sorted(short.groups, key=str) == sorted(whole.groups, key=str)


async def test_after_a_whole_poll_groups_older_than_the_staleness_limit_are_not_served() -> None:
    account = Account()
    api = client(account, rate=1000, burst=100)
    listing = source(api, ListingQuery(), WORKSPACES, max_staleness=0.0)
    await poll(listing, 10)
    api.rate_limiter = TokenBucket(rate=10, burst=4)
    account.asked.clear()
    short = await poll(listing, 0.4)
    assert short.unlisted
    assert workspaces_of(short) == set(account.asked), "only what was listed now"


def test_groups_are_held_once_the_expected_time_passes_half_of_what_the_listing_may_spend() -> None:
    rotation = Rotation(max_staleness=300)
    ids = list(WORKSPACES)  # 10 requests, 2 at once then 1 a second: 8 s
    assert not rotation.tight(REGION, ids, rate=1, burst=2, seconds=16), "exactly half: not yet"
    assert rotation.tight(REGION, ids, rate=1, burst=2, seconds=15.9)
    assert rotation.tight(REGION, ids[:2], rate=1, burst=0, seconds=1), "two workspaces are several"
    # At 2 a second the 8 requests past the burst take 4 s.
    assert not rotation.tight(REGION, ids, rate=2, burst=2, seconds=8)
    assert rotation.tight(REGION, ids, rate=2, burst=2, seconds=7.9)
    assert not rotation.tight(REGION, ids, rate=1, burst=10, seconds=0.1), "the burst covers every request"


def test_a_workspace_not_reached_keeps_its_place_in_line_and_what_it_took() -> None:
    rotation = Rotation(max_staleness=300)
    kept = (as_record(group(0, project="a")),)
    listed = {"a": ListingResult(list(kept), requests=5), "b": ListingResult([], requests=2)}
    rotation.remember(REGION, listed | {"gone": ListingResult([], requests=7)}, hold=True, short=False, now=100.0)
    late = TencentCloudError(TIMEOUT, "late")
    refused = APIError("ResourceNotFound", "no such workspace")
    outcomes = {"a": late, "b": ListingResult([], requests=3), "c": refused}
    rotation.remember(REGION, outcomes, hold=True, short=True, now=200.0)
    # Never listed (or no longer known) first, then the one left over, then the rest in the order given.
    assert rotation.order(REGION, ["c", "b", "a", "gone"]) == ["gone", "a", "c", "b"]
    assert [rotation.expected(REGION, [w]) for w in ("a", "b", "c", "gone")] == [5, 3, 1, 1]
    assert rotation.expected("ap-shanghai", ["a", "b"]) == 2, "what a workspace took is counted per region"
    rotation.remember(REGION, outcomes, hold=True, short=False, now=300.0)
    assert rotation.tight(REGION, ["a", "b"], rate=1, burst=0, seconds=15), "8 requests expected: 8 s, over 7.5"
    assert rotation.held(REGION, "a", 201.0) == kept, "its groups as last listed, while fresh"
    assert rotation.held(REGION, "c", 201.0) is None and rotation.held(REGION, "gone", 201.0) is None


def test_a_workspace_of_more_groups_than_a_pack_slice_reads_back_whole() -> None:
    rotation = Rotation(max_staleness=300)
    many = ListingResult([as_record(group(index, project="ws-00")) for index in range(2 * PACK_SLICE + 50)])
    one = ListingResult([as_record(group(0, project="ws-01"))])
    rotation.remember(REGION, {"ws-00": many, "ws-01": one}, hold=False, short=False, now=100.0)
    assert rotation.held(REGION, "ws-00", 101.0) == tuple(many.groups)


def test_with_no_workspace_listed_the_first_to_run_out_of_time_is_the_listings_error() -> None:
    refused = APIError("ResourceNotFound", "no such workspace")
    late = TransportError(TIMEOUT, "late")
    assert _failure([refused, late, TransportError(TIMEOUT, "later"), None]) is late
    assert _failure([refused, APIError("UnauthorizedOperation", "no")]) is refused


async def test_a_workspace_that_cannot_be_read_is_skipped_not_left_for_the_next_poll() -> None:
    account = Account(refused=("ws-03",))
    listing = source(client(account, rate=1000, burst=100), ListingQuery(), WORKSPACES)
    result = await poll(listing, 10)
    assert (result.unlisted, result.unlisted_requests) == ((), 0)
    assert set(result.skipped) == {
        Skipped("service", "ms-ws-0500000-1", "ms-ws-0500000", "Services[0].Status", "wrong_type"),
        Skipped("workspace", "ws-03", "", "", "not_readable", detail="ResourceNotFound"),
    }
    assert workspaces_of(result) == set(WORKSPACES) - {"ws-03"}


async def test_a_workspace_not_reached_is_handed_on_as_last_listed_and_counted_at_what_it_took() -> None:
    account = Account(size=150)  # two requests a workspace
    api = client(account, rate=1000, burst=100)
    listing = source(api, ListingQuery(), WORKSPACES, max_staleness=300)
    whole = await poll(listing, 10)
    assert (whole.requests, whole.scans, whole.consistent, whole.unlisted) == (2 * len(WORKSPACES), 1, True, ())
    api.rate_limiter = TokenBucket(rate=10, burst=4)
    sink = Recorder()
    short = await poll(listing, 0.4, sink)
    assert short.unlisted, "the poll ran short"
    assert short.unlisted_requests == 2 * len(short.unlisted)
    assert set(sink.ids) == set(WORKSPACES), "the held groups are handed on like the pages read"
    for workspace in short.unlisted:
        assert sink.ids[workspace] == {f"ms-{workspace}{index:05d}" for index in range(150)}


def test_a_listing_is_stored_in_the_snapshots_own_fields() -> None:
    listing = source(client(Account(), rate=1000, burst=100), ListingQuery(), WORKSPACES)
    groups = [as_record(group(0, project="ws-00")), as_record(group(0))]
    skipped = (Skipped("workspace", "ws-03", "", "", "not_readable", detail="ResourceNotFound"),)
    result = ListingResult(
        groups,
        skipped=skipped,
        workspace_of={"ms-ws-0000000": "ws-00"},
        workspaces=(None, "ws-00"),
        unlisted=("ws-01", "ws-02"),
        unlisted_requests=3,
    )
    stored = listing.store(RegionSnapshot(REGION), result)
    assert stored.groups == tuple(groups) and stored.skipped == skipped
    assert dict(stored.group_workspaces) == {"ms-ws-0000000": "ws-00"}
    assert stored.polled_workspaces == ("ws-00",), "the default workspace is not one read by id"
    assert (stored.unlisted_workspaces, stored.unlisted_requests) == (("ws-01", "ws-02"), 3)


async def test_the_workspaces_after_the_first_leave_a_quarter_of_the_time_to_the_sources_after_the_listing() -> None:
    """The second workspace's 36 more pages need 0.35 s at 100 requests/s: within the poll's 0.4 s, but not
    within the three quarters of it the workspaces after the first may spend, so it is not even begun."""
    account = Account(sizes={"ws-01": 3600})
    listing = source(client(account, rate=100, burst=1), ListingQuery(), WORKSPACES[:2])
    result = await poll(listing, 0.4)
    assert result.unlisted == ("ws-01",)
    assert account.asked == ["ws-00", "ws-01"], "its first page only: the rest were refused before any was sent"


async def test_after_a_short_poll_the_next_whole_one_holds_its_groups_as_objects() -> None:
    """While polls run short, a workspace not reached is served from the very records last listed, not
    unpacked again every poll."""
    account = Account()
    api = client(account, rate=10, burst=4)
    listing = source(api, ListingQuery(), WORKSPACES, max_staleness=300)
    assert (await poll(listing, 0.2)).unlisted, "short"
    api.rate_limiter = TokenBucket(rate=1000, burst=100)
    whole = await poll(listing, 10)
    assert whole.unlisted == ()
    api.rate_limiter = TokenBucket(rate=10, burst=4)
    short = await poll(listing, 0.2)
    assert short.unlisted
    records = {id(item) for item in whole.groups}
    held = [item for item in short.groups if workspaces_of(ListingResult([item])) <= set(short.unlisted)]
    assert held and all(id(item) in records for item in held)


async def test_the_probe_counts_the_groups_of_the_workspaces_to_list() -> None:
    account = Account(size=120)
    api = client(account, rate=1000, burst=100)
    assert (
        await source(api, ListingQuery(), WORKSPACES[:3]).probe(REGION, time.monotonic() + 10) == "360 service groups"
    )
    assert account.asked == list(WORKSPACES[:3])
    account.asked.clear()
    default = await source(api, ListingQuery()).probe(REGION, time.monotonic() + 10)
    assert (default, account.asked) == ("120 service groups in the default workspace", [""])
    refusing = client(Account(refused=("ws-01",)), rate=1000, burst=100)
    with pytest.raises(APIError) as caught:
        await source(refusing, ListingQuery(), WORKSPACES[:3]).probe(REGION, time.monotonic() + 10)
    assert (caught.value.code, caught.value.region) == ("ResourceNotFound", REGION)
