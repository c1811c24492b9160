"""The listing algorithm over the client, against an in-process fleet whose changes the test scripts exactly."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from exporter.tencentcloud.client import ClientHooks, TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import APIError, TransportError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione.decode import Skipped
from exporter.tione.listing import (
    LIMIT,
    ListingQuery,
    dedupe,
    parse_page,
    scan_service_groups,
    typed_page,
)
from exporter.tione.models import Filter, TagFilter
from exporter.tione.paging import MAX_TOTAL_COUNT, WORKERS
from tests.api_models import ServiceGroup
from tests.listing_helpers import list_service_groups, list_workspaces

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def group(index: int, updated: int = 0, project: str = "") -> dict[str, Any]:
    return {
        "ServiceGroupId": f"ms-{project}{index:05d}",
        "ServiceGroupName": f"g{index}",
        "CreateTime": (BASE + timedelta(seconds=index)).isoformat().replace("+00:00", "Z"),
        "UpdateTime": (BASE + timedelta(days=1, seconds=updated)).isoformat().replace("+00:00", "Z"),
        "Services": [{"ServiceId": f"ms-{project}{index:05d}-1", "Status": "Normal"}],
    }


class Fleet:
    """Groups ordered by creation time, paged like the API; `before_page(n)` may change it between requests."""

    def __init__(self, count: int) -> None:
        self.groups = [group(index) for index in range(count)]
        self.next_index = count
        self.bodies: list[dict[str, Any]] = []
        self.before_page: Callable[[int], None] = lambda n: None

    def add(self) -> str:
        created = group(self.next_index)
        self.next_index += 1
        self.groups.append(created)
        return str(created["ServiceGroupId"])

    def delete(self, position: int) -> str:
        return str(self.groups.pop(position)["ServiceGroupId"])

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        self.before_page(len(self.bodies))
        offset, limit = body.get("Offset", 0), body.get("Limit", 20)
        assert limit <= LIMIT and body["Order"] == "ASC" and body["OrderField"] == "CreateTime"
        page = self.groups[offset : offset + limit]
        answer = {"TotalCount": len(self.groups), "ServiceGroups": page, "RequestId": f"r{len(self.bodies)}"}
        return httpx.Response(200, json={"Response": answer})


def client_for(fleet: Fleet, hooks: ClientHooks | None = None) -> TencentCloudClient:
    return TencentCloudClient(
        endpoint="http://127.0.0.1:1",
        service="tione",
        version="2021-11-11",
        credentials=Credentials("AKID", "key"),
        http=httpx.AsyncClient(transport=httpx.MockTransport(fleet.handler)),
        hooks=hooks,
        rate_limiter=TokenBucket(rate=1000, burst=100),
    )


def ids(groups: list[ServiceGroup]) -> list[str]:
    return [str(item.service_group_id) for item in groups]


def deadline() -> float:
    return time.monotonic() + 10


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (1, 1), (100, 1), (101, 2), (199, 2), (200, 3), (2000, 21)])
async def test_complete_listing_and_page_count(count: int, pages: int) -> None:
    fleet = Fleet(count)
    result = await scan_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    assert ids(result.groups) == [f"ms-{index:05d}" for index in range(count)]
    assert (result.requests, result.scans, result.consistent) == (pages, 1, True)
    assert len(fleet.bodies) == pages
    assert sorted(body["Offset"] for body in fleet.bodies) == [99 * page for page in range(pages)]


async def test_query_passes_through() -> None:
    fleet = Fleet(3)
    query = ListingQuery(
        project_id="tp-1",
        filters=(Filter(name="Status", values=["Normal"], negative=True),),
        tag_filters=(TagFilter(tag_key="team", tag_values=["ml"]),),
        service_category="LLM",
    )
    await list_service_groups(client_for(fleet), "ap-guangzhou", query, deadline=deadline())
    (body,) = fleet.bodies
    assert body == {
        "Offset": 0,
        "Limit": 100,
        "OrderField": "CreateTime",
        "Order": "ASC",
        "Filters": [{"Name": "Status", "Values": ["Normal"], "Negative": True}],
        "TagFilters": [{"TagKey": "team", "TagValues": ["ml"]}],
        "ServiceCategory": "LLM",
        "TiProjectId": "tp-1",
    }


def test_a_query_without_filters_asks_for_nothing_but_the_page() -> None:
    assert ListingQuery().params(198) == {"Offset": 198, "Limit": 100, "OrderField": "CreateTime", "Order": "ASC"}
    assert ListingQuery().params(0, limit=1)["Limit"] == 1


class Recorder:
    """A sink that keeps the ids handed to it, by workspace, in order."""

    def __init__(self) -> None:
        self.ids: dict[str, list[str]] = {}

    def service_groups(self, groups: Any, workspace: str) -> None:
        self.ids.setdefault(workspace, []).extend(str(item.service_group_id) for item in groups)


@pytest.mark.parametrize(("project_id", "workspace"), [(None, ""), ("tp-1", "tp-1")])
async def test_every_page_read_is_handed_to_the_sink_as_read(project_id: str | None, workspace: str) -> None:
    fleet, sink = Fleet(250), Recorder()
    query = ListingQuery(project_id=project_id)
    await scan_service_groups(client_for(fleet), "ap-guangzhou", query, deadline=deadline(), sink=sink)
    assert list(sink.ids) == [workspace]
    assert sorted(sink.ids[workspace]) == sorted([f"ms-{index:05d}" for index in range(250)] + ["ms-00099", "ms-00198"])


def test_a_group_without_an_id_on_a_page_read_in_one_pass_is_left_out_and_reported() -> None:
    answer = {"TotalCount": 2, "ServiceGroups": [group(0) | {"ServiceGroupId": ""}, group(1)], "RequestId": "r1"}
    page = typed_page(json.dumps({"Response": answer}).encode())
    assert page is not None and [g.service_group_id for g in page.groups] == ["ms-00001"]
    assert page.skipped == [Skipped("service_group", "", "", "ServiceGroupId", "no_id")]


@pytest.mark.parametrize(
    ("total", "typed"), [(0, True), (MAX_TOTAL_COUNT, True), (-1, False), (MAX_TOTAL_COUNT + 1, False)]
)
def test_a_page_is_read_in_one_pass_only_with_a_plausible_total_count(total: int, typed: bool) -> None:
    answer = {"TotalCount": total, "ServiceGroups": [group(0)], "RequestId": "r1"}
    page = typed_page(json.dumps({"Response": answer}).encode())
    assert (page is not None) is typed
    if page is not None:
        assert (page.total_count, [g.service_group_id for g in page.groups], page.request_id) == (
            total,
            ["ms-00000"],
            "r1",
        )


async def test_deletion_before_a_seam_with_unchanged_total_is_repaired() -> None:
    """A delete and an add after the first page keep TotalCount; the seam check still catches the shift."""
    fleet = Fleet(300)
    deleted: list[str] = []

    def churn(n: int) -> None:
        if n == 2:  # after the first page, before the others
            deleted.append(fleet.delete(10))
            fleet.add()

    fleet.before_page = churn
    result = await scan_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    found = ids(result.groups)
    # Without the repair, the group that slid from the second page into the first would be missing.
    current = set(ids([ServiceGroup.model_validate(item) for item in fleet.groups]))
    assert len(found) == len(set(found))
    assert set(found) == current | set(deleted)  # the deleted one was read before it went
    assert (result.scans, result.consistent, result.requests) == (1, True, 4 + 1)
    assert sorted(body["Offset"] for body in fleet.bodies) == [0, 49, 99, 198, 297]  # 49: the repair


async def test_insertion_before_a_seam_repeats_a_group_but_loses_none() -> None:
    fleet = Fleet(250)
    fleet.groups.sort(key=lambda item: item["CreateTime"], reverse=True)  # newest first: inserts at the front
    fleet.before_page = lambda n: fleet.groups.insert(0, group(10_000 + n)) if n == 2 else None
    result = await scan_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    found = ids(result.groups)
    assert len(found) == len(set(found)) and set(found) >= {f"ms-{index:05d}" for index in range(250)}
    assert result.scans == 2  # TotalCount moved


async def test_total_count_change_is_rescanned_once() -> None:
    fleet = Fleet(250)
    fleet.groups[99]["Services"][0]["Status"] = ["not", "text"]  # on a seam, in both scans: reported once
    fleet.before_page = lambda n: fleet.add() if n == 3 else None
    sink = Recorder()
    result = await scan_service_groups(
        client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline(), sink=sink
    )
    assert (result.scans, result.consistent) == (2, True)
    assert sink.ids[""].count("ms-00005") == 2, "the pages of both scans are handed on"
    assert len(result.groups) == 251
    assert result.requests == len(fleet.bodies) == 3 + 3, "both scans are counted"
    assert result.skipped == (Skipped("service", "ms-00099-1", "ms-00099", "Services[0].Status", "wrong_type"),)


async def test_a_growing_list_is_read_to_its_end() -> None:
    """Groups added behind the last page while it was read: the end is read too (and the scan repeated)."""
    fleet = Fleet(199)

    def grow(n: int) -> None:
        if n == 2:
            for _ in range(150):
                fleet.add()

    fleet.before_page = grow
    result = await scan_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    assert len(result.groups) == len(set(ids(result.groups))) == 349
    assert (result.scans, result.consistent) == (2, True)


async def test_seams_that_cannot_be_closed_fall_back_to_the_union_of_two_scans() -> None:
    """Every read from offset 0 makes the oldest 100 groups vanish: no anchor is left, neither scan is complete."""
    fleet = Fleet(700)
    deleted: set[str] = set()

    def purge(n: int) -> None:
        if fleet.bodies[-1]["Offset"] == 0 and len(deleted) < 300:
            for _ in range(100):
                deleted.add(fleet.delete(0))

    fleet.before_page = lambda n: None
    original = fleet.handler

    def handler(request: httpx.Request) -> httpx.Response:
        response = original(request)
        purge(len(fleet.bodies))
        return response

    fleet.handler = handler  # type: ignore[method-assign]
    initial = {f"ms-{index:05d}" for index in range(700)}
    result = await scan_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    found = ids(result.groups)
    assert (result.scans, result.consistent) == (2, False)
    assert len(found) == len(set(found))
    assert initial - deleted <= set(found)


async def test_a_first_scan_that_was_complete_keeps_the_union_consistent() -> None:
    """The first scan saw `TotalCount` move but closed every seam; the second could not close its seams.
    The union then holds every group present throughout the first scan: it is consistent."""
    fleet = Fleet(700)
    fleet.groups[650]["Services"][0]["Status"] = ["not", "text"]  # read in both scans, reported once
    original = fleet.handler

    def handler(request: httpx.Request) -> httpx.Response:
        if len(fleet.bodies) == 1:
            fleet.add()  # before the first scan's second page: it moves, nothing shifts
        response = original(request)
        if len(fleet.bodies) > 1 and fleet.bodies[-1]["Offset"] == 0:
            for _ in range(100):  # from the second scan on, every read at offset 0 makes the oldest 100 go
                fleet.delete(0)
        return response

    fleet.handler = handler  # type: ignore[method-assign]
    result = await scan_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    found = ids(result.groups)
    assert (result.scans, result.consistent) == (2, True)
    assert sorted(found) == [f"ms-{index:05d}" for index in range(701)], "the union: every group, each once"
    assert result.requests == len(fleet.bodies), "both scans and their repairs are counted"
    assert result.skipped == (Skipped("service", "ms-00650-1", "ms-00650", "Services[0].Status", "wrong_type"),)


async def test_a_page_of_the_second_scan_that_fails_fails_the_listing_in_its_region() -> None:
    fleet = Fleet(250)
    fleet.before_page = lambda n: fleet.add() if n == 2 else None  # the first scan moves
    original = fleet.handler

    def failing(request: httpx.Request) -> httpx.Response:
        if len(fleet.bodies) >= 3 and json.loads(request.content)["Offset"] == 0:
            return httpx.Response(200, json={"Response": {"Error": {"Code": "AuthFailure", "Message": "no"}}})
        return original(request)

    fleet.handler = failing  # type: ignore[method-assign]
    with pytest.raises(APIError) as caught:
        await scan_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    assert (caught.value.code, caught.value.region) == ("AuthFailure", "ap-guangzhou")


@pytest.mark.parametrize("seed", range(12))
async def test_random_churn_between_requests_loses_no_stable_group(seed: int) -> None:
    """Before every request, a few random groups go and a few new ones come (up to 5% of the fleet each time)."""
    rng = random.Random(seed)
    fleet = Fleet(rng.randint(150, 1200))
    initial = {str(item["ServiceGroupId"]) for item in fleet.groups}
    deleted: set[str] = set()

    def churn(n: int) -> None:
        for _ in range(rng.randint(0, len(fleet.groups) // 20)):
            deleted.add(fleet.delete(rng.randrange(len(fleet.groups))))
        for _ in range(rng.randint(0, len(fleet.groups) // 20)):
            fleet.add()

    fleet.before_page = churn
    result = await scan_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    found = ids(result.groups)
    assert len(found) == len(set(found))
    assert initial - deleted <= set(found)


async def test_dedupe_keeps_the_latest_update() -> None:
    old = ServiceGroup.model_validate(group(1, updated=10) | {"ServiceGroupName": "old"})
    new = ServiceGroup.model_validate(group(1, updated=20) | {"ServiceGroupName": "new"})
    undated = ServiceGroup.model_validate(group(1) | {"UpdateTime": None, "ServiceGroupName": "undated"})
    other = ServiceGroup.model_validate(group(2))
    assert [g.service_group_name for g in dedupe([old, other, new])] == ["new", "g2"]
    assert [g.service_group_name for g in dedupe([new, old])] == ["new"]
    assert [g.service_group_name for g in dedupe([undated, old])] == ["old"]
    assert [g.service_group_name for g in dedupe([old, undated])] == ["old"]
    anonymous = ServiceGroup.model_validate({"ServiceGroupName": "x"})
    assert dedupe([anonymous, other]) == [other]


def test_a_group_listed_twice_with_the_same_update_time_is_the_later_copy() -> None:
    """The API does not always move `UpdateTime` when a group changes (a status, a replica count): of two
    copies with the same one, the later read is the fresher, and it keeps the first copy's place."""
    first = ServiceGroup.model_validate(group(1, updated=10) | {"ServiceGroupName": "first"})
    second = ServiceGroup.model_validate(group(1, updated=10) | {"ServiceGroupName": "second"})
    other = ServiceGroup.model_validate(group(2))
    assert [g.service_group_name for g in dedupe([first, other, second])] == ["second", "g2"]
    assert [g.service_group_name for g in dedupe([second, first])] == ["first"]
    undated = [ServiceGroup.model_validate(group(1) | {"UpdateTime": None, "ServiceGroupName": n}) for n in "ab"]
    assert [g.service_group_name for g in dedupe(undated)] == ["b"]


async def test_a_group_on_both_sides_of_a_seam_is_the_copy_of_the_later_page() -> None:
    """Pages overlap by one group; when it changed between the two reads without a new `UpdateTime`, the
    later page's copy is the one listed."""
    fleet = Fleet(150)

    def rename(n: int) -> None:
        if n == 2:  # after the first page, before the second
            fleet.groups[LIMIT - 1] = fleet.groups[LIMIT - 1] | {"ServiceGroupName": "renamed"}

    fleet.before_page = rename
    result = await scan_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    names = {g.service_group_id: g.service_group_name for g in result.groups}
    assert len(result.groups) == 150 and result.scans == 1
    assert names[f"ms-{LIMIT - 1:05d}"] == "renamed"


async def test_groups_created_while_a_listing_runs_are_listed_up_to_its_last_request() -> None:
    """New groups land at the end of the list (oldest first). Created all along, before every request: the
    scan is repeated once (`TotalCount` moved), each scan follows the list to its end, and the result holds
    every group there is when the last request is answered, each once."""
    fleet = Fleet(250)
    created: list[str] = []

    def grow(n: int) -> None:
        if n >= 2:
            created.extend(fleet.add() for _ in range(30))

    fleet.before_page = grow
    result = await scan_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    found = ids(result.groups)
    assert len(found) == len(set(found))
    assert set(found) == {str(item["ServiceGroupId"]) for item in fleet.groups}, "every group, the newest too"
    assert set(created) <= set(found) and len(created) > LIMIT
    assert (result.scans, result.consistent) == (2, True)


async def test_workspaces_are_listed_and_merged() -> None:
    fleets = {"": Fleet(3), "tp-a": Fleet(0), "tp-b": Fleet(0)}
    fleets["tp-a"].groups = [group(index, project="a") for index in range(150)]
    fleets["tp-b"].groups = [group(index, project="b") for index in range(2)] + [group(0)]  # one shared id

    def handler(request: httpx.Request) -> httpx.Response:
        return fleets[json.loads(request.content).get("TiProjectId", "")].handler(request)

    client = TencentCloudClient(
        endpoint="http://127.0.0.1:1",
        service="tione",
        version="2021-11-11",
        credentials=Credentials("AKID", "key"),
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        rate_limiter=TokenBucket(rate=1000, burst=100),
    )
    groups = await list_workspaces(
        client, "ap-guangzhou", ListingQuery(), [None, "tp-a", "tp-b", "tp-a"], deadline=deadline()
    )
    assert len(groups) == 3 + 150 + 2
    assert len(fleets["tp-a"].bodies) == 2 and len(fleets["tp-b"].bodies) == 1


class ErrorCounter(ClientHooks):
    def __init__(self) -> None:
        self.codes: list[str] = []

    def on_error(self, region: str, action: str, code: str) -> None:
        self.codes.append(code)


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda a: a.update(TotalCount="many-replicas"), "TotalCount"),
        (lambda a: a.update(ServiceGroups={"unexpected-key": "unexpected-value"}), "ServiceGroups"),
        (lambda a: a.update(GlobalTotalCount="yesterday-ish"), "GlobalTotalCount"),
    ],
)
async def test_an_envelope_mismatch_is_malformed_response_naming_the_path(
    mutate: Callable[[dict[str, Any]], None], path: str
) -> None:
    fleet = Fleet(3)
    original = fleet.handler

    def broken(request: httpx.Request) -> httpx.Response:
        answer = json.loads(original(request).content)["Response"]
        mutate(answer)
        return httpx.Response(200, json={"Response": answer})

    hooks = ErrorCounter()
    fleet.handler = broken  # type: ignore[method-assign]
    with pytest.raises(TransportError) as caught:
        await list_service_groups(client_for(fleet, hooks), "ap-guangzhou", ListingQuery(), deadline=deadline())
    error = caught.value
    assert error.code == "MalformedResponse" and error.request_id == "r1" and error.region == "ap-guangzhou"
    assert error.action == "DescribeModelServiceGroups"
    assert f"at {path}" in error.message
    for value in ("many-replicas", "unexpected", "yesterday-ish"):
        assert value not in error.message
    assert hooks.codes == ["MalformedResponse"]


def test_missing_total_count_is_malformed() -> None:
    with pytest.raises(TransportError, match="lacks a valid TotalCount") as caught:
        parse_page("ap-guangzhou", {"ServiceGroups": [], "RequestId": "x"})
    assert (caught.value.action, caught.value.request_id) == ("DescribeModelServiceGroups", "x")


def test_an_answer_without_service_groups_is_an_empty_page() -> None:
    page = parse_page("ap-guangzhou", {"TotalCount": 0, "RequestId": "x"})
    assert (page.total_count, page.groups, page.skipped, page.request_id) == (0, [], [], "x")


async def test_a_failing_page_fails_the_listing_and_cancels_the_rest() -> None:
    fleet = Fleet(1000)
    original = fleet.handler

    def failing(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["Offset"] == 495:
            return httpx.Response(200, json={"Response": {"Error": {"Code": "AuthFailure", "Message": "no"}}})
        return original(request)

    fleet.handler = failing  # type: ignore[method-assign]
    with pytest.raises(APIError) as caught:
        await list_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
    assert caught.value.code == "AuthFailure"


class Ticker:
    """Sleeps 50 ms at a time beside a listing and records the longest gap: a blocked event loop shows in it."""

    def __init__(self) -> None:
        self.ticks = 0
        self.longest = 0.0

    async def run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            self.ticks += 1
            last = now


class LoopErrors:
    """What the event loop reports to its exception handler (e.g. "Task exception was never retrieved")."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.loop = asyncio.get_running_loop()
        self.previous = self.loop.get_exception_handler()
        self.loop.set_exception_handler(lambda loop, context: self.messages.append(str(context.get("message"))))

    def close(self) -> None:
        gc.collect()  # unretrieved task exceptions are reported when their tasks are collected
        self.loop.set_exception_handler(self.previous)


def lying_fleet(total_count: int, groups: int = LIMIT) -> Fleet:
    """`groups` real groups, while every answer announces `total_count` of them."""
    fleet = Fleet(groups)
    original = fleet.handler

    def handler(request: httpx.Request) -> httpx.Response:
        answer = json.loads(original(request).content)["Response"]
        answer["TotalCount"] = total_count
        return httpx.Response(200, json={"Response": answer})

    fleet.handler = handler  # type: ignore[method-assign]
    return fleet


async def listing_beside_a_ticker(client: TencentCloudClient, seconds: float) -> tuple[BaseException | None, Ticker]:
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    try:
        await scan_service_groups(client, "ap-guangzhou", ListingQuery(), deadline=time.monotonic() + seconds)
    except Exception as exc:  # the test inspects it
        return exc, ticker
    finally:
        ticking.cancel()
    return None, ticker


@pytest.mark.parametrize("total_count", [10_000_000, MAX_TOTAL_COUNT + 1, -1])
async def test_an_absurd_total_count_is_refused_at_once_as_malformed(total_count: int) -> None:
    fleet = lying_fleet(total_count)
    hooks = ErrorCounter()
    errors = LoopErrors()
    started = time.monotonic()
    try:
        error, ticker = await listing_beside_a_ticker(client_for(fleet, hooks), seconds=2)
    finally:
        errors.close()
    assert time.monotonic() - started < 1.0
    assert isinstance(error, TransportError) and error.code == "MalformedResponse"
    assert "TotalCount" in error.message and error.request_id == "r1" and error.region == "ap-guangzhou"
    assert len(fleet.bodies) == 1 and hooks.codes == ["MalformedResponse"]
    assert ticker.longest < 0.5 and errors.messages == []


async def test_a_total_count_the_bucket_cannot_serve_before_the_deadline_fails_at_once() -> None:
    """500,000 groups are 5,051 pages; at 1,000 requests/s (burst 100) they need 4.95 s, and 2 s are left."""
    fleet = lying_fleet(500_000)
    errors = LoopErrors()
    started = time.monotonic()
    try:
        error, ticker = await listing_beside_a_ticker(client_for(fleet), seconds=2)
    finally:
        errors.close()
    assert time.monotonic() - started < 1.0
    assert isinstance(error, TransportError) and error.code == "Timeout" and error.region == "ap-guangzhou"
    assert error.action == "DescribeModelServiceGroups"
    assert "TotalCount 500000 needs 5050 more pages" in error.message and "1000 requests/s" in error.message
    assert len(fleet.bodies) == 1  # no quota spent on a listing that cannot finish
    assert ticker.longest < 0.5 and errors.messages == []


async def test_pages_are_read_by_a_bounded_pool_of_workers() -> None:
    """A TotalCount of 50,000 over 100 real groups: 505 empty pages, never more than WORKERS in flight."""
    fleet = lying_fleet(50_000)
    in_flight = most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.001)
            return fleet.handler(request)
        finally:
            in_flight -= 1

    client = TencentCloudClient(
        endpoint="http://127.0.0.1:1",
        service="tione",
        version="2021-11-11",
        credentials=Credentials("AKID", "key"),
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        rate_limiter=TokenBucket(rate=100_000, burst=1000),
    )
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    try:
        result = await scan_service_groups(client, "ap-guangzhou", ListingQuery(), deadline=deadline())
    finally:
        ticking.cancel()
    assert ids(result.groups) == [f"ms-{index:05d}" for index in range(LIMIT)]
    assert result.requests == len(fleet.bodies) == 1 + 505  # the pages at 99 and beyond are empty but read
    assert 1 < most <= WORKERS
    assert ticker.longest < 0.5


async def test_pages_failing_together_leave_no_unretrieved_task_exception() -> None:
    fleet = Fleet(2000)
    original = fleet.handler

    def failing(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["Offset"] > 0:
            return httpx.Response(200, json={"Response": {"Error": {"Code": "AuthFailure", "Message": "no"}}})
        return original(request)

    fleet.handler = failing  # type: ignore[method-assign]
    errors = LoopErrors()
    codes: list[str] = []
    try:
        try:
            await list_service_groups(client_for(fleet), "ap-guangzhou", ListingQuery(), deadline=deadline())
        except APIError as exc:
            codes.append(exc.code)  # the error itself is let go: its traceback would keep the tasks alive
        await asyncio.sleep(0.01)
    finally:
        errors.close()
    assert codes == ["AuthFailure"]
    assert errors.messages == []


async def test_a_page_that_fits_is_read_in_one_pass_without_json_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.tione.listing import fetch_page

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the untyped path read a page that fits")

    monkeypatch.setattr(TencentCloudClient, "_parse", staticmethod(refuse))
    page = await fetch_page(client_for(Fleet(5)), "ap-guangzhou", ListingQuery().params(0), deadline())
    assert page.total_count == 5 and [g.service_group_id for g in page.groups][:2] == ["ms-00000", "ms-00001"]
    assert page.skipped == [] and page.request_id == "r1"


async def test_a_page_with_an_odd_object_is_read_object_by_object() -> None:
    from exporter.tione.listing import fetch_page

    fleet = Fleet(3)
    fleet.groups[1]["Services"][0]["Status"] = ["not", "text"]
    page = await fetch_page(client_for(fleet), "ap-guangzhou", ListingQuery().params(0), deadline())
    assert (page.total_count, page.request_id) == (3, "r1")
    assert [g.service_group_id for g in page.groups] == ["ms-00000", "ms-00001", "ms-00002"]
    assert page.groups[1].services == []
    assert page.skipped == [Skipped("service", "ms-00001-1", "ms-00001", "Services[0].Status", "wrong_type")]


async def test_an_error_answer_is_still_the_error_with_a_typed_read() -> None:
    from exporter.tione.listing import fetch_page

    fleet = Fleet(3)

    def refused(request: httpx.Request) -> httpx.Response:
        error = {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "no"}, "RequestId": "r9"}
        return httpx.Response(200, json={"Response": error})

    fleet.handler = refused  # type: ignore[method-assign]
    with pytest.raises(APIError) as caught:
        await fetch_page(client_for(fleet), "ap-guangzhou", ListingQuery().params(0), deadline())
    assert caught.value.code == "AuthFailure.SignatureFailure" and caught.value.request_id == "r9"
