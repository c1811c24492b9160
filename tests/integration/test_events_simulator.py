"""Warning events over real HTTP: bounded per poll and region, cached between polls, never failing a poll.

The exporter's own client, token bucket, sources and poller against the simulator holding its incidents
(a service that cannot be scheduled for lack of GPUs, one crash-looping, one whose creation failed, one
stopped for arrears), with churn off so the troubled services stay the same throughout.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from exporter.app import Wiring
from exporter.config import load_settings
from exporter.poller import Poller
from exporter.simulator.server import SimulatorServer
from exporter.tencentcloud.credentials import Credentials, StaticProvider
from exporter.tione.attention import trouble
from exporter.tione.events import ACTION
from tests import render_helpers as rendered
from tests.api_models import Service
from tests.conftest import signed_simulator

REGIONS = ("ap-guangzhou", "ap-shanghai")
INCIDENT_REGION = REGIONS[0]


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with signed_simulator(REGIONS, groups=12, seed=5, incidents=True) as server:
        for region in REGIONS:
            server.set_region_outage(region, False)  # the scheduled outage would make polls fail at random
        yield server


def wired(simulator: SimulatorServer, **flags: str) -> tuple[Wiring, Poller]:
    config = simulator.config
    assert config.secret_id is not None and config.secret_key is not None
    settings = load_settings(
        {
            "--tione.endpoint": simulator.url,
            "--monitor.endpoint": simulator.url,
            "--monitor.max-requests-per-month": "0",  # the rows compared here are the services' own
            "--tione.regions": ",".join(REGIONS),
            "--poll.timeout": "10s",
            "--api.rate-limit": "200",
            **flags,
        },
        environ={},
    )
    parts = Wiring(settings, StaticProvider(Credentials(config.secret_id, config.secret_key)))
    return parts, parts.make_poller()


def troubled_ids(simulator: SimulatorServer, region: str) -> set[str]:
    return {
        service["ServiceId"]
        for group in simulator.fleet(region)
        for service in group["Services"]
        if trouble(Service.model_validate(service)) is not None
    }


def event_calls(simulator: SimulatorServer, region: str) -> list[str]:
    return [
        request.body["ServiceId"]
        for request in simulator.requests
        if request.action == ACTION and request.region == region
    ]


def counted(parts: Wiring, region: str) -> float:
    value = parts.metrics.registry.get_sample_value(
        "tione_exporter_api_requests_total", {"region": region, "action": ACTION}
    )
    return value or 0.0


async def test_at_most_the_configured_calls_per_poll_and_region_then_the_cache(simulator: SimulatorServer) -> None:
    troubled = troubled_ids(simulator, INCIDENT_REGION)
    assert len(troubled) > 4, "the fleet should hold more troubled services than the bound"
    parts, poller = wired(simulator, **{"--events.max-services": "3", "--events.refresh-interval": "1h"})
    try:
        asked: list[str] = []
        for _ in range(len(troubled) // 3 + 3):
            simulator.clear_requests()
            status = await poller.poll(INCIDENT_REGION)
            assert status.outcome == "success"
            calls = event_calls(simulator, INCIDENT_REGION)
            assert len(calls) <= 3
            assert not set(calls) & set(asked), "a service was asked again before its refresh interval"
            asked.extend(calls)
        assert set(asked) == troubled  # every troubled service was covered, a few per poll, each once
        assert counted(parts, INCIDENT_REGION) == len(asked)
    finally:
        await parts.client.aclose()


async def test_the_request_asks_the_last_hour_of_warning_events(simulator: SimulatorServer) -> None:
    parts, poller = wired(simulator, **{"--events.max-services": "1"})
    try:
        await poller.poll(INCIDENT_REGION)
        [request] = [r for r in simulator.requests if r.action == ACTION]
        assert request.body["Service"] == "INFER"
        assert request.body["ServiceId"] in troubled_ids(simulator, INCIDENT_REGION)
        assert request.body["Filters"] == [{"Name": "Type", "Values": ["Warning"]}]
        assert request.body["Limit"] == 100
        start, end = (as_utc_seconds(request.body[key]) for key in ("StartTime", "EndTime"))
        assert end - start == 3600
    finally:
        await parts.client.aclose()


def as_utc_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_the_incidents_get_their_warning_events_as_series_and_rows(simulator: SimulatorServer) -> None:
    incidents = simulator.incidents()
    parts, poller = wired(simulator, **{"--events.max-services": "100"})
    try:
        status = await poller.poll(INCIDENT_REGION)
        text = rendered.text(poller.exposition).decode()
        rows = {row.service_id: row for row in status.attention}
        assert set(rows) == troubled_ids(simulator, INCIDENT_REGION)
        unschedulable = rows[incidents["unschedulable"]]
        assert unschedulable.severity == "critical"
        assert any("Insufficient nvidia.com/gpu" in event.message for event in unschedulable.events)
        assert unschedulable.events_total and unschedulable.events_total > 0
        crash = rows[incidents["crash_loop"]]
        assert any("Back-off restarting failed container" in event.message for event in crash.events), crash.events
        assert rows[incidents["create_failed"]].reason == "CREATE_FAILED"
        assert "ErrImagePull" in rows[incidents["create_failed"]].message
        assert rows[incidents["arrears_stop"]].reason == "ARREARS_STOP"
        with_events = {
            line.split('service_id="')[1].split('"')[0]
            for line in text.splitlines()
            if line.startswith("tione_service_warning_events{")
        }
        assert with_events == set(rows)  # every troubled service, and only those
        assert "Insufficient" not in text, "an event message must never be a label"
    finally:
        await parts.client.aclose()


async def test_denied_events_never_fail_the_poll_nor_drop_the_listing(simulator: SimulatorServer) -> None:
    simulator.deny(ACTION)
    parts, poller = wired(simulator, **{"--events.max-services": "4"})
    try:
        status = await poller.poll(INCIDENT_REGION)
        assert status.outcome == "success"
        assert status.services and status.services > 0
        text = rendered.text(poller.exposition).decode()
        assert "tione_service_status{" in text and "tione_service_info{" in text
        assert "tione_service_warning_events{" not in text
        assert len(event_calls(simulator, INCIDENT_REGION)) == 4
        errors = parts.metrics.registry.get_sample_value(
            "tione_exporter_api_errors_total",
            {"region": INCIDENT_REGION, "action": ACTION, "code": "UnauthorizedOperation"},
        )
        assert errors == 4
        assert {row.service_id for row in status.attention} == troubled_ids(simulator, INCIDENT_REGION)
        assert all(row.events_total is None for row in status.attention)
        # Allowed again: the next poll has them.
        simulator.allow(ACTION)
        status = await poller.poll(INCIDENT_REGION)
        assert status.outcome == "success"
        assert "tione_service_warning_events{" in rendered.text(poller.exposition).decode()
    finally:
        await parts.client.aclose()


async def test_events_switched_off_make_no_call(simulator: SimulatorServer) -> None:
    parts, poller = wired(simulator, **{"--events.max-services": "0"})
    try:
        await poller.poll(INCIDENT_REGION)
        assert event_calls(simulator, INCIDENT_REGION) == []
        assert "tione_service_warning_events" not in rendered.text(poller.exposition).decode()
    finally:
        await parts.client.aclose()
