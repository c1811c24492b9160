"""Listing over loopback HTTP against the simulator: pacing under its rate limit, large fleets, churn, filters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from exporter.simulator import SimulatorConfig, SimulatorServer
from exporter.tencentcloud.client import ClientHooks, TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione.listing import (
    ListingQuery,
    scan_service_groups,
)
from exporter.tione.models import Filter, TagFilter
from tests.api_models import ServiceGroup
from tests.listing_helpers import list_service_groups, list_workspaces

SECRET_ID, SECRET_KEY = "AKIDlisting000000000000000000001", "listing-secret-key"
REGIONS = ("ap-guangzhou", "ap-shanghai", "ap-beijing", "ap-chengdu", "ap-singapore")


class OnRequest(ClientHooks):
    def __init__(self, action: Callable[[int], None]) -> None:
        self.count = 0
        self.action = action

    def on_request(self, region: str, action: str) -> None:
        self.count += 1
        self.action(self.count)


def make_client(sim: SimulatorServer, rate: float, hooks: ClientHooks | None = None, **kw: Any) -> TencentCloudClient:
    return TencentCloudClient(
        endpoint=sim.url,
        service="tione",
        version="2021-11-11",
        credentials=Credentials(SECRET_ID, SECRET_KEY),
        rate_limiter=TokenBucket(rate=rate, burst=2),
        hooks=hooks,
        **kw,
    )


def simulator(regions: tuple[str, ...], per_region: int, **kw: Any) -> SimulatorServer:
    """A started simulator with exactly `per_region` groups in each region's default workspace."""
    options: dict[str, Any] = {"churn": False, "rate_limit": None, **kw}
    config = SimulatorConfig(groups=0, regions=regions, secret_id=SECRET_ID, secret_key=SECRET_KEY, **options)
    sim = SimulatorServer(config)
    sim.start()
    for region in regions:
        sim.add_groups(region, per_region, project_id="")
    return sim


def ids(groups: list[ServiceGroup]) -> list[str]:
    return [str(group.service_group_id) for group in groups]


def fleet_ids(sim: SimulatorServer, region: str, project_id: str | None = "") -> set[str]:
    return {group["ServiceGroupId"] for group in sim.fleet(region, project_id)}


async def test_five_concurrent_listings_stay_under_the_api_rate_limit() -> None:
    sim = simulator(REGIONS, 350)  # 4 pages each
    try:
        sim.set_rate_limit(20)
        async with make_client(sim, rate=15) as client:
            deadline = time.monotonic() + 30
            results = await asyncio.gather(
                *(scan_service_groups(client, region, ListingQuery(), deadline=deadline) for region in REGIONS)
            )
        for region, result in zip(REGIONS, results, strict=True):
            assert set(ids(result.groups)) == fleet_ids(sim, region) and len(result.groups) == 350
        assert sum(result.requests for result in results) == 20 == sim.request_count
        assert sim.rate_limited_count == 0
    finally:
        sim.stop()


async def test_listings_complete_through_retries_when_the_api_limit_is_below_the_bucket() -> None:
    sim = simulator(REGIONS, 150)  # 2 pages each
    try:
        sim.set_rate_limit(5)
        async with make_client(sim, rate=15, backoff_base=0.1, backoff_cap=1.0) as client:
            deadline = time.monotonic() + 60
            results = await asyncio.gather(
                *(list_service_groups(client, region, ListingQuery(), deadline=deadline) for region in REGIONS)
            )
        for region, groups in zip(REGIONS, results, strict=True):
            assert set(ids(groups)) == fleet_ids(sim, region)
        assert sim.rate_limited_count > 0
        assert sim.request_count == 10 + sim.rate_limited_count
    finally:
        sim.stop()


async def test_two_thousand_groups_give_exactly_two_thousand() -> None:
    sim = simulator(("ap-guangzhou",), 2000)
    try:
        async with make_client(sim, rate=200) as client:
            result = await scan_service_groups(client, "ap-guangzhou", ListingQuery(), deadline=time.monotonic() + 30)
        found = ids(result.groups)
        assert len(found) == len(set(found)) == 2000
        assert set(found) == fleet_ids(sim, "ap-guangzhou")
        assert (result.scans, result.consistent, result.requests) == (1, True, 21)
    finally:
        sim.stop()


async def test_churn_between_pages_loses_nothing_that_stayed() -> None:
    """Every request first applies a churn step (groups appear, disappear, change) in the simulator."""
    sim = simulator(("ap-guangzhou",), 2000)
    try:
        before = fleet_ids(sim, "ap-guangzhou", None)
        hooks = OnRequest(lambda n: sim.churn_step())
        async with make_client(sim, rate=200, hooks=hooks) as client:
            groups = await list_workspaces(
                client,
                "ap-guangzhou",
                ListingQuery(),
                list(sim.workspaces("ap-guangzhou")),
                deadline=time.monotonic() + 30,
            )
        after = fleet_ids(sim, "ap-guangzhou", None)
        found = ids(groups)
        assert before != after  # the fleet did change during the scan
        assert len(found) == len(set(found))
        assert before & after <= set(found)
    finally:
        sim.stop()


async def test_a_deletion_that_keeps_total_count_is_repaired_through_the_page_overlap() -> None:
    """One early group goes and a new one comes between the first page and the others: the second page starts
    one group later than the first one ends, and the listing reads the seam again instead of losing a group."""
    sim = simulator(("ap-guangzhou",), 0)
    try:
        sim.add_groups("ap-guangzhou", 500, project_id="")
        newest_first = sim.fleet("ap-guangzhou", "")  # the API's default order
        victim = newest_first[-11]["ServiceGroupId"]  # the 11th oldest: before the first seam

        def swap(n: int) -> None:
            if n == 2:
                sim.delete_group("ap-guangzhou", victim)
                sim.add_group("ap-guangzhou", project_id="")

        async with make_client(sim, rate=200, hooks=OnRequest(swap)) as client:
            result = await scan_service_groups(client, "ap-guangzhou", ListingQuery(), deadline=time.monotonic() + 30)
        assert set(ids(result.groups)) == fleet_ids(sim, "ap-guangzhou") | {victim}
        assert (result.scans, result.consistent, result.requests) == (1, True, 6 + 1)
        offsets = [request.body["Offset"] for request in sim.requests]
        assert sorted(offsets) == [0, 49, 99, 198, 297, 396, 495]
    finally:
        sim.stop()


async def test_fast_background_churn() -> None:
    sim = simulator(("ap-guangzhou",), 1000, churn=True, churn_interval=0.03)
    try:
        before = fleet_ids(sim, "ap-guangzhou", None)
        steps = sim.steps
        async with make_client(sim, rate=100) as client:
            groups = await list_workspaces(
                client,
                "ap-guangzhou",
                ListingQuery(),
                list(sim.workspaces("ap-guangzhou")),
                deadline=time.monotonic() + 30,
            )
        after = fleet_ids(sim, "ap-guangzhou", None)
        found = ids(groups)
        assert sim.steps > steps + 5 and before != after  # the fleet changed while it was read
        assert len(found) == len(set(found))
        assert before & after <= set(found)
    finally:
        sim.stop()


async def test_filters_and_workspaces_pass_through() -> None:
    sim = SimulatorServer(SimulatorConfig(groups=120, regions=("ap-shanghai",), churn=False, rate_limit=None))
    with sim:
        everything = sim.fleet("ap-shanghai")
        wanted = [group["ServiceGroupId"] for group in everything[:3]]
        async with make_client(sim, rate=200) as client:
            deadline = time.monotonic() + 30
            workspaces = list(sim.workspaces("ap-shanghai"))
            merged = await list_workspaces(client, "ap-shanghai", ListingQuery(), workspaces, deadline=deadline)
            assert set(ids(merged)) == {group["ServiceGroupId"] for group in everything}
            default = await list_service_groups(client, "ap-shanghai", ListingQuery(), deadline=deadline)
            assert set(ids(default)) == fleet_ids(sim, "ap-shanghai", "")
            second = await list_service_groups(
                client, "ap-shanghai", ListingQuery(project_id=workspaces[1]), deadline=deadline
            )
            assert set(ids(second)) == fleet_ids(sim, "ap-shanghai", workspaces[1])
            by_id = ListingQuery(
                project_id=None,
                filters=(Filter(name="ServiceGroupId", values=wanted),),
            )
            found = await list_workspaces(client, "ap-shanghai", by_id, workspaces, deadline=deadline)
            assert sorted(ids(found)) == sorted(wanted)
            excluded = ListingQuery(filters=(Filter(name="ServiceGroupId", values=wanted, negative=True),))
            rest = await list_workspaces(client, "ap-shanghai", excluded, workspaces, deadline=deadline)
            assert set(ids(rest)) == {group["ServiceGroupId"] for group in everything} - set(wanted)
            tagged = next(group for group in everything if group["Tags"])
            tag = tagged["Tags"][0]
            query = ListingQuery(tag_filters=(TagFilter(tag_key=tag["TagKey"], tag_values=[tag["TagValue"]]),))
            with_tag = await list_workspaces(client, "ap-shanghai", query, workspaces, deadline=deadline)
            assert tagged["ServiceGroupId"] in ids(with_tag)
            assert all(
                any((t.tag_key, t.tag_value) == (tag["TagKey"], tag["TagValue"]) for t in group.tags or [])
                for group in with_tag
            )
            await list_service_groups(client, "ap-shanghai", ListingQuery(service_category="LLM"), deadline=deadline)
        bodies = [request.body for request in sim.requests]
        assert bodies[-1]["ServiceCategory"] == "LLM"
        assert {body.get("TiProjectId") for body in bodies} >= set(workspaces[1:])
