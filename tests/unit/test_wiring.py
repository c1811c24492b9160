"""The sources `make_sources` builds, run against the simulator on loopback: each reads through the client
it is handed, with the figures of the settings (filters, workspaces, the events' limits, the staleness of
held groups), not with its own defaults. The assertions are about the requests the simulator received."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from exporter import __version__
from exporter.config import Settings, load_settings
from exporter.console import PROG
from exporter.metrics.self import SelfMetrics
from exporter.poller import Poller
from exporter.simulator import SimulatorConfig, SimulatorServer
from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials, StaticProvider
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione import events, holders, listing, prices, resource_groups, traffic, workspaces
from exporter.tione.listing import ListingResult
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import NoSink
from exporter.wiring import make_client, make_sources, poll_plan

REGION = "ap-guangzhou"
ONLY_THE_LISTING = {
    "--tione.discovery-interval": "0",
    "--capacity.interval": "0",
    "--holders.interval": "0",
    "--prices.interval": "0",
    "--monitor.max-requests-per-month": "0",
    "--events.max-services": "0",
}


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """One region of 25 groups in two workspaces, still, unthrottled, signatures unchecked."""
    with SimulatorServer(SimulatorConfig(regions=(REGION,), churn=False, rate_limit=None)) as server:
        yield server


def settings_for(simulator: SimulatorServer, tmp_path: Path, yaml: str = "", **flags: str) -> Settings:
    path = tmp_path / "exporter.yaml"
    path.write_text(yaml)
    given = {
        "--config.file": str(path),
        "--tione.regions": REGION,
        "--tione.endpoint": simulator.url,
        "--monitor.endpoint": simulator.url,
        "--api.rate-limit": "1000",
        "--monitor.rate-limit": "1000",
    }
    return load_settings(given | flags, {})


def client_for(settings: Settings) -> TencentCloudClient:
    return make_client(settings, StaticProvider(Credentials("AKIDwiring", "wiring-key")), SelfMetrics([REGION]))


def as_record(item: dict[str, Any]) -> ServiceGroup:
    return msgspec.json.decode(json.dumps(item), type=ServiceGroup)


def asked(simulator: SimulatorServer, action: str) -> list[dict[str, Any]]:
    return [request.body for request in simulator.requests if request.action == action]


async def test_every_source_asks_its_action_through_the_client_it_is_handed(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    settings = settings_for(simulator, tmp_path)
    metrics = SelfMetrics([REGION])
    client = make_client(settings, StaticProvider(Credentials("AKIDwiring", "wiring-key")), metrics)
    try:
        statuses = await Poller(poll_plan(settings, make_sources(settings, client)), SelfMetrics([REGION])).poll_all()
    finally:
        await client.aclose()
    assert [status.outcome for status in statuses] == ["success"]
    assert {request.headers.get("x-tc-requestclient") for request in simulator.requests} == {f"{PROG}/{__version__}"}
    requests = {"region": REGION, "action": listing.ACTION}
    assert metrics.registry.get_sample_value("tione_exporter_api_requests_total", requests) == len(
        asked(simulator, listing.ACTION)
    ), "the client reports to the hooks it is given"
    every = [
        workspaces.ACTION,
        listing.ACTION,
        resource_groups.ACTION,
        *(kind.action for kind in holders.KINDS),
        prices.ACTION,
        traffic.ACTION,
        events.ACTION,
    ]
    assert [action for action in every if not asked(simulator, action)] == []


async def test_the_listing_and_the_holders_ask_with_the_configured_query_in_the_configured_workspaces(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    chosen = simulator.workspaces(REGION)[1]  # the team's workspace, not the default one
    yaml = (
        "tione:\n"
        "  filters:\n    - {name: ServiceGroupName, values: [infer], fuzzy: true}\n"
        "  tag-filters:\n    - {key: team, values: [vision, speech]}\n"
        "  service-category: LLM\n"
    )
    flags = ONLY_THE_LISTING | {"--holders.interval": "5m", "--tione.project-ids": chosen}
    settings = settings_for(simulator, tmp_path, yaml, **flags)
    client = client_for(settings)
    try:
        await Poller(poll_plan(settings, make_sources(settings, client)), SelfMetrics([REGION])).poll_all()
    finally:
        await client.aclose()
    (body,) = asked(simulator, listing.ACTION)
    assert body["Filters"] == [{"Name": "ServiceGroupName", "Values": ["infer"], "Negative": False, "Fuzzy": True}]
    assert body["TagFilters"] == [{"TagKey": "team", "TagValues": ["vision", "speech"]}]
    assert (body["ServiceCategory"], body["TiProjectId"]) == ("LLM", chosen)
    for kind in holders.KINDS:
        assert [body.get("TiProjectId") for body in asked(simulator, kind.action)] == [chosen], kind.action


async def test_the_events_ask_as_many_services_as_configured_and_again_after_the_refresh_interval(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    flags = ONLY_THE_LISTING | {"--events.max-services": "1", "--events.refresh-interval": "500ms"}
    settings = settings_for(simulator, tmp_path, **flags)
    client = client_for(settings)
    poller = Poller(poll_plan(settings, make_sources(settings, client)), SelfMetrics([REGION]))
    try:
        await poller.poll_all()
        first = [body["ServiceId"] for body in asked(simulator, events.ACTION)]
        simulator.clear_requests()
        await asyncio.sleep(0.55)
        await poller.poll_all()
        second = [body["ServiceId"] for body in asked(simulator, events.ACTION)]
    finally:
        await client.aclose()
    listed = RegionSnapshot(REGION, groups=tuple(as_record(item) for item in simulator.fleet(REGION)))
    assert len(events.troubled(listed)) > 1, "more services in trouble than asked"
    assert len(first) == 1, "one service a poll"
    assert second == first, "the longest troubled, asked again once its answer is older than the refresh interval"


async def test_held_groups_are_served_no_longer_than_the_configured_staleness(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    every = simulator.workspaces(REGION)
    flags = ONLY_THE_LISTING | {"--tione.project-ids": ",".join(every), "--poll.max-staleness": "500ms"}
    settings = settings_for(simulator, tmp_path, **flags)
    client = client_for(settings)
    (primary,) = [source for source in make_sources(settings, client) if source.primary]

    async def poll(seconds: float) -> ListingResult:
        result: ListingResult = await primary.fetch(
            REGION, RegionSnapshot(REGION), time.monotonic() + seconds, NoSink()
        )
        return result

    async def short_poll(seconds: float) -> ListingResult:
        """One token and none to come in time: the first workspace is listed, the other left for later; the
        poll lasts until its cutoff, 3/4 of `seconds`."""
        client.rate_limiter = TokenBucket(rate=0.1, burst=1)
        result = await poll(seconds)
        assert len(result.unlisted) == 1
        return result

    try:
        assert (await poll(10)).unlisted == ()
        fresh = await short_poll(0.3)
        stale = await short_poll(0.75)
    finally:
        await client.aclose()
    assert set(fresh.workspace_of.values()) == set(every), "0.23 s old: served from the earlier poll"
    assert set(stale.workspace_of.values()) == set(every) - set(stale.unlisted), "0.56 s old: past the 500ms"
