"""The HTTP app on a real loopback socket: routes, methods, format and encoding negotiation, the page."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.metrics.exposition import OPENMETRICS
from exporter.metrics.gzipped import GzipPrefix
from exporter.metrics.render import Exposition, collect_region, render
from exporter.poller import RegionStatus
from exporter.tione.snapshot import RegionSnapshot
from exporter.web.negotiation import negotiate_format, wants_gzip
from exporter.web.page import PageContext
from exporter.web.server import ExporterApp, WebServer, bind
from tests import render_helpers as rendered
from tests.api_models import ServiceGroup

LIVE_TEXT = b'# HELP tione_up Whether the last poll succeeded.\n# TYPE tione_up gauge\ntione_up{region="r"} 1.0\n'


@dataclass
class FixedSnapshot:
    """A snapshot as the poller would hold it, set directly by the test."""

    exposition: Exposition
    ready: bool = False
    region_statuses: list[RegionStatus] = field(default_factory=list)

    def statuses(self) -> Sequence[RegionStatus]:
        return self.region_statuses


class FixedLive:
    """Self-metrics stand-in: the same small family every scrape."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def render(self, openmetrics: bool) -> bytes:
        self.calls.append(openmetrics)
        return LIVE_TEXT


@pytest.fixture
def snapshot(seed_response: dict[str, Any]) -> FixedSnapshot:
    groups = [ServiceGroup.model_validate(group) for group in seed_response["ServiceGroups"]]
    return FixedSnapshot(render([collect_region(RegionSnapshot("ap-guangzhou", tuple(groups)))]))


@pytest.fixture
def live() -> FixedLive:
    return FixedLive()


@pytest.fixture
async def client(snapshot: FixedSnapshot, live: FixedLive) -> AsyncIterator[httpx.AsyncClient]:
    context = PageContext(version="9.9.9", started=0.0, telemetry_path="/metrics", interval=30.0, max_staleness=300.0)
    server = WebServer(ExporterApp(snapshot, live, context), bind("127.0.0.1", 0))
    task = asyncio.create_task(server.serve())
    # httpx asks for gzip by default; the tests say which encoding they want
    identity = {"Accept-Encoding": "identity"}
    async with httpx.AsyncClient(base_url=f"http://{server.address}", timeout=5, headers=identity) as http:
        yield http
    server.stop()
    await asyncio.wait_for(task, 5)


async def test_text_format_by_default(client: httpx.AsyncClient, snapshot: FixedSnapshot) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.content == rendered.text(snapshot.exposition) + LIVE_TEXT
    names = {family.name for family in parse_text(response.text)}
    assert {"tione_service_group_info", "tione_service_status", "tione_up"} <= names


async def test_openmetrics_when_asked(client: httpx.AsyncClient, snapshot: FixedSnapshot, live: FixedLive) -> None:
    accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    response = await client.get("/metrics", headers={"Accept": accept})
    assert response.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert response.content.endswith(b"# EOF\n")
    assert response.content.startswith(rendered.openmetrics(snapshot.exposition))
    assert live.calls == [True]
    families = {family.name for family in parse_openmetrics(response.text)}
    assert "tione_service_status" in families


def single_gzip_member(raw: bytes) -> bytes:
    """The data of `raw`, which must be exactly one gzip member (what curl, httpx and browsers decode)."""
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    data = decompressor.decompress(raw)
    assert decompressor.eof
    assert decompressor.unused_data == b"", "more than one gzip member"
    assert gzip.decompress(raw) == data
    return data


async def test_gzip_is_a_single_member(client: httpx.AsyncClient, snapshot: FixedSnapshot) -> None:
    async with client.stream("GET", "/metrics", headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == len(raw)
    assert single_gzip_member(raw) == rendered.text(snapshot.exposition) + LIVE_TEXT
    assert len(raw) < len(rendered.text(snapshot.exposition)) / 3


async def test_common_clients_decode_the_whole_gzip_answer(client: httpx.AsyncClient, snapshot: FixedSnapshot) -> None:
    response = await client.get("/metrics", headers={"Accept-Encoding": "gzip, deflate"})  # httpx decodes
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == rendered.text(snapshot.exposition) + LIVE_TEXT


async def test_the_snapshot_is_compressed_once_per_snapshot(
    client: httpx.AsyncClient, snapshot: FixedSnapshot, monkeypatch: pytest.MonkeyPatch, seed_response: dict[str, Any]
) -> None:
    calls: list[int] = []
    original = GzipPrefix.of

    def counting(data: Iterable[bytes | memoryview]) -> GzipPrefix:
        chunks = list(data)
        calls.append(sum(len(chunk) for chunk in chunks))
        return original(chunks)

    monkeypatch.setattr(GzipPrefix, "of", staticmethod(counting))
    for _ in range(3):
        await client.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert calls == [len(rendered.text(snapshot.exposition))]
    groups = [ServiceGroup.model_validate(group) for group in seed_response["ServiceGroups"]]
    snapshot.exposition = render([collect_region(RegionSnapshot("ap-shanghai", tuple(groups)))])
    response = await client.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert len(calls) == 2
    assert response.content.startswith(rendered.text(snapshot.exposition))
    assert b'region="ap-shanghai"' in response.content


async def test_gzip_openmetrics(client: httpx.AsyncClient, snapshot: FixedSnapshot) -> None:
    headers = {"Accept-Encoding": "deflate, gzip;q=0.8", "Accept": "application/openmetrics-text"}
    async with client.stream("GET", "/metrics", headers=headers) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    body = single_gzip_member(raw)
    assert body.startswith(rendered.openmetrics(snapshot.exposition))
    assert body.endswith(LIVE_TEXT + b"# EOF\n")


async def test_identity_when_gzip_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in response.headers
    assert response.content.endswith(LIVE_TEXT)


async def test_head_has_headers_and_no_body(client: httpx.AsyncClient, snapshot: FixedSnapshot) -> None:
    response = await client.head("/metrics", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len(rendered.text(snapshot.exposition) + LIVE_TEXT)


async def test_health_and_readiness(client: httpx.AsyncClient, snapshot: FixedSnapshot) -> None:
    assert (await client.get("/-/healthy")).status_code == 200
    not_ready = await client.get("/-/ready")
    assert not_ready.status_code == 503
    snapshot.ready = True
    assert (await client.get("/-/ready")).status_code == 200


@pytest.mark.parametrize("path", ["/nope", "/metrics/", "/-/", "/-/health", "/index.html"])
async def test_unknown_paths_are_404(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_are_405(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/metrics")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_status_page(client: httpx.AsyncClient, snapshot: FixedSnapshot) -> None:
    snapshot.region_statuses = [
        RegionStatus(
            region="ap-guangzhou",
            outcome="success",
            polls=3,
            last_poll=1_700_000_000.0,
            last_success=1_700_000_000.0,
            duration=0.25,
            service_groups=4,
            services=7,
            services_by_status={"Normal": 5, "Stopped": 2},
        ),
        RegionStatus(
            region="ap-shanghai",
            outcome="failure",
            polls=1,
            last_poll=1_700_000_001.0,
            duration=1.5,
            error_code="AuthFailure.SignatureFailure",
            error_message="<script>alert('x')</script> & more",
            request_id="req-42",
        ),
    ]
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "9.9.9" in page
    assert "2023-11-14 22:13:20" in page
    assert "Normal&nbsp;5, Stopped&nbsp;2" in page
    assert "AuthFailure.SignatureFailure" in page
    assert "req-42" in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page
    for link in ('href="metrics"', 'href="-/healthy"', 'href="-/ready"'):
        assert link in page


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", False),
        ("text/plain", False),
        ("application/openmetrics-text", True),
        ("application/openmetrics-text; version=0.0.1", True),
        ("application/openmetrics-text;q=0, text/plain", False),
        ("Application/OpenMetrics-Text; version=1.0.0", True),
        ("*/*", False),
    ],
)
def test_accept_negotiation(accept: str, expected: bool) -> None:
    assert (negotiate_format(accept) is OPENMETRICS) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", False),
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        ("*;q=0", False),
        ("identity", False),
        ("x-gzip", False),
        ("gzip;q=bogus", False),
    ],
)
def test_encoding_negotiation(header: str, expected: bool) -> None:
    assert wants_gzip(header) is expected
