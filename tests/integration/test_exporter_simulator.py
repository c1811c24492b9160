"""The whole exporter in-process against the simulator, over real loopback HTTP, with fast polls.

Each test starts a simulator (signatures checked, churn off so only the test changes the fleet) and
an `Exporter` serving on a free port, then watches `/metrics` while it changes the simulated world.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
import subprocess
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.app import Exporter
from exporter.config import load_settings
from exporter.logs import forget_secrets, setup_logging
from exporter.simulator.server import SimulatorServer
from exporter.tencentcloud.credentials import Credentials, StaticProvider
from tests.conftest import require_tool, signed_simulator

REGIONS = ("ap-guangzhou", "ap-shanghai")
UNSERVED = "ap-nowhere"
WAIT = 15.0


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples_of(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in parse_text(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The value of the one sample with this name whose labels include `labels`."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and wanted <= ls]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


@dataclass
class Running:
    simulator: SimulatorServer
    http: httpx.AsyncClient
    exporter: Exporter
    credentials: Credentials
    logs: io.StringIO

    async def scrape(self) -> Samples:
        response = await self.http.get("/metrics")
        assert response.status_code == 200
        return samples_of(response.text)

    async def wait_for(self, condition: Callable[[Samples], bool], what: str, timeout: float = WAIT) -> Samples:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            samples = await self.scrape()
            if condition(samples):
                return samples
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with signed_simulator(REGIONS, groups=6, seed=7) as server:
        yield server


@contextlib.asynccontextmanager
async def running_exporter(
    simulator: SimulatorServer,
    regions: tuple[str, ...] = REGIONS,
    log_level: str = "info",
    credentials: Credentials | None = None,
    **flags: str,
) -> AsyncIterator[Running]:
    config = simulator.config
    assert config.secret_id is not None and config.secret_key is not None
    credentials = credentials or Credentials(config.secret_id, config.secret_key)
    settings = load_settings(
        {
            "--web.listen-address": "127.0.0.1:0",
            "--tione.endpoint": simulator.url,
            "--monitor.endpoint": simulator.url,
            "--tione.regions": ",".join(regions),
            "--poll.interval": "500ms",
            "--poll.timeout": "400ms",
            "--poll.max-staleness": "30s",
            "--api.rate-limit": "200",
            **flags,
        },
        environ={},
    )
    logs = io.StringIO()
    touched = [
        logging.getLogger(name) for name in ("", "httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access")
    ]
    levels = [logger.level for logger in touched]
    handler = setup_logging(log_level, "logfmt", logs)
    exporter = Exporter(settings, StaticProvider(credentials))
    stop = asyncio.Event()
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(exporter.serve(stop, listening.set_result))
    try:
        base_url = await asyncio.wait_for(listening, 5)
        async with httpx.AsyncClient(base_url=base_url, timeout=5, headers={"Accept-Encoding": "identity"}) as http:
            yield Running(simulator, http, exporter, credentials, logs)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 5) == 0
        logging.getLogger().removeHandler(handler)
        for logger, level in zip(touched, levels, strict=True):
            logger.setLevel(level)
        forget_secrets()


def first_service(simulator: SimulatorServer, region: str) -> tuple[str, str]:
    """(group id, service id) of a running service in the region's default workspace (the one polled)."""
    for group in simulator.fleet(region, ""):
        for service in group.get("Services") or []:
            if service.get("Status") == "Normal":
                return group["ServiceGroupId"], service["ServiceId"]
    raise AssertionError("no running service in the simulated fleet")


async def test_readiness_waits_for_the_first_poll_of_every_region(simulator: SimulatorServer) -> None:
    simulator.set_latency(1.0)
    async with running_exporter(simulator, **{"--poll.interval": "3s", "--poll.timeout": "2s"}) as running:
        assert (await running.http.get("/-/healthy")).status_code == 200
        assert (await running.http.get("/-/ready")).status_code == 503
        samples = await running.scrape()
        assert value(samples, "tione_service_status") is None
        simulator.set_latency(0.0)
        deadline = asyncio.get_running_loop().time() + WAIT
        while (await running.http.get("/-/ready")).status_code != 200:
            assert asyncio.get_running_loop().time() < deadline, "never became ready"
            await asyncio.sleep(0.05)
        assert (await running.http.get("/nope")).status_code == 404
        assert (await running.http.post("/metrics")).status_code == 405


async def test_a_stopped_service_shows_after_the_next_poll(simulator: SimulatorServer) -> None:
    region = REGIONS[0]
    group_id, service_id = first_service(simulator, region)
    async with running_exporter(simulator) as running:
        ids = {"region": region, "service_group_id": group_id, "service_id": service_id}
        await running.wait_for(
            lambda s: value(s, "tione_service_status", status="Normal", **ids) == 1.0, "the service running"
        )
        simulator.set_service_status(region, service_id, "Stopped")
        samples = await running.wait_for(
            lambda s: value(s, "tione_service_status", status="Stopped", **ids) == 1.0, "the service stopped"
        )
        # A state set is its current value only (the default): the old value's series is gone.
        assert value(samples, "tione_service_status", status="Normal", **ids) is None
        assert value(samples, "tione_service_spec_replicas", **ids) == 0.0


async def test_a_deleted_group_disappears(simulator: SimulatorServer) -> None:
    region = REGIONS[1]
    group_id, _ = first_service(simulator, region)
    async with running_exporter(simulator) as running:
        await running.wait_for(
            lambda s: value(s, "tione_service_group_info", region=region, service_group_id=group_id) == 1.0,
            "the group",
        )
        before = (await running.scrape()).copy()
        groups_before = value(before, "tione_exporter_service_groups", region=region)
        simulator.delete_group(region, group_id)
        samples = await running.wait_for(
            lambda s: not any(dict(labels).get("service_group_id") == group_id for _, labels in s),
            "the group to disappear",
        )
        assert groups_before is not None
        assert value(samples, "tione_exporter_service_groups", region=region) == groups_before - 1


async def test_api_failure_keeps_series_until_staleness_then_recovers(simulator: SimulatorServer) -> None:
    region = REGIONS[0]
    group_id, service_id = first_service(simulator, region)
    ids = {"region": region, "service_group_id": group_id, "service_id": service_id}
    async with running_exporter(simulator, **{"--poll.max-staleness": "2500ms"}) as running:
        await running.wait_for(lambda s: value(s, "tione_up", region=region) == 1.0, "the first poll")
        simulator.set_faults(["error=InternalError:1.0"])
        samples = await running.wait_for(lambda s: value(s, "tione_up", region=region) == 0.0, "tione_up 0")
        errors = value(
            samples,
            "tione_exporter_api_errors_total",
            region=region,
            action="DescribeModelServiceGroups",
            code="InternalError",
        )
        assert errors is not None and errors >= 1
        assert value(samples, "tione_service_status", status="Normal", **ids) == 1.0, "last good series kept"
        page = (await running.http.get("/")).text
        assert "InternalError" in page
        samples = await running.wait_for(
            lambda s: value(s, "tione_service_status", status="Normal", **ids) is None, "stale series dropped"
        )
        assert value(samples, "tione_up", region=region) == 0.0
        assert value(samples, "tione_exporter_service_groups", region=region) is None
        simulator.set_faults([])
        samples = await running.wait_for(
            lambda s: value(s, "tione_service_status", status="Normal", **ids) == 1.0, "recovery"
        )
        assert value(samples, "tione_up", region=region) == 1.0


async def test_one_failing_region_does_not_disturb_another(simulator: SimulatorServer) -> None:
    region = REGIONS[0]
    async with running_exporter(simulator, regions=(region, UNSERVED)) as running:
        samples = await running.wait_for(
            lambda s: value(s, "tione_up", region=UNSERVED) == 0.0 and value(s, "tione_up", region=region) == 1.0,
            "one region up, one down",
        )
        code = value(
            samples,
            "tione_exporter_api_errors_total",
            region=UNSERVED,
            action="DescribeModelServiceGroups",
            code="UnsupportedRegion",
        )
        assert code is not None and code >= 1
        # every workspace of the region, discovered
        assert value(samples, "tione_exporter_service_groups", region=region) == len(simulator.fleet(region))
        assert not any(
            dict(labels).get("region") == UNSERVED for name, labels in samples if name.startswith("tione_service")
        )
        assert (await running.http.get("/-/ready")).status_code == 200
        page = (await running.http.get("/")).text
        assert "UnsupportedRegion" in page


async def test_negotiated_formats_carry_the_same_samples(simulator: SimulatorServer) -> None:
    async with running_exporter(simulator) as running:
        await running.wait_for(lambda s: value(s, "tione_up", region=REGIONS[1]) == 1.0, "the first polls")
        async with running.http.stream(
            "GET", "/metrics", headers={"Accept": "application/openmetrics-text", "Accept-Encoding": "gzip"}
        ) as response:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
        decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
        text = decompressor.decompress(raw).decode()
        assert decompressor.eof and not decompressor.unused_data, "one gzip member"
        assert text.endswith("# EOF\n")
        families = {family.name: family for family in parse_openmetrics(text)}
        assert families["tione_service_group_info"].type == "gauge"
        assert families["tione_exporter_polls"].type == "counter"


def secret_values(fleet: list[dict[str, Any]]) -> set[str]:
    """Every secret the reference lists, as the simulated API sends them."""
    found: set[str] = set()
    for group in fleet:
        for token in group.get("AuthTokens") or []:
            value_ = ((token or {}).get("Base") or {}).get("Value")
            if value_:
                found.add(value_)
        for service in group.get("Services") or []:
            info = service.get("ServiceInfo") or {}
            image_secret = (info.get("ImageInfo") or {}).get("ImageSecret") or {}
            found |= {v for v in image_secret.values() if isinstance(v, str) and len(v) >= 4}
            found |= {env["Value"] for env in info.get("Env") or [] if env.get("IsPrivate") and env.get("Value")}
    return found


async def test_no_secret_reaches_metrics_page_or_logs(simulator: SimulatorServer) -> None:
    fleet = [group for region in REGIONS for group in simulator.fleet(region)]
    secrets_in_fleet = secret_values(fleet)
    kinds = {
        "auth token": any(g.get("AuthTokens") for g in fleet),
        "image password": any(
            ((s.get("ServiceInfo") or {}).get("ImageInfo") or {}).get("ImageSecret")
            for g in fleet
            for s in g.get("Services") or []
        ),
        "private env": any(
            e.get("IsPrivate")
            for g in fleet
            for s in g.get("Services") or []
            for e in (s.get("ServiceInfo") or {}).get("Env") or []
        ),
    }
    assert all(kinds.values()), f"the simulated fleet lacks a kind of secret: {kinds}"
    # a registry password inside a scheme-less image reference, as TI-ONE spells them
    image_password = "img-pw-" + secrets.token_urlsafe(12)
    group_id = simulator.fleet(REGIONS[0], "")[0]["ServiceGroupId"]  # the default workspace, the one polled

    def plant(group: dict[str, Any]) -> None:
        image = group["Services"][0]["ServiceInfo"]["ImageInfo"]
        image["ImageUrl"] = f"robot:{image_password}@ccr.ccs.tencentyun.com/ns/model:1"

    simulator.edit_group(REGIONS[0], group_id, plant)
    secrets_in_fleet.add(image_password)
    # temporary credentials, so that a session token travels with every request too
    temporary = Credentials("AKID" + secrets.token_hex(16), secrets.token_urlsafe(24), secrets.token_urlsafe(48))
    assert temporary.token is not None
    simulator.add_credentials(temporary.secret_id, temporary.secret_key, temporary.token)
    troubled_id = simulator.fleet(REGIONS[0], "")[0]["Services"][0]["ServiceId"]

    def echo_key(group: dict[str, Any]) -> None:
        """A failing condition whose free text repeats the secret key, as a careless platform message might."""
        service = group["Services"][0]
        service["Status"] = "Abnormal"
        workload = service["ServiceInfo"]["Status"]
        workload["Conditions"] = [
            {
                "Type": "Available",
                "Status": "False",
                "Reason": "Leaky",
                "Message": f"signed with {temporary.secret_key}",
            }
        ]

    simulator.edit_group(REGIONS[0], group_id, echo_key)
    async with running_exporter(
        simulator, regions=(*REGIONS, UNSERVED), log_level="debug", credentials=temporary
    ) as running:
        await running.wait_for(lambda s: value(s, "tione_up", region=REGIONS[1]) == 1.0, "the first polls")
        simulator.inject("error=AuthFailure.SignatureFailure", count=2)
        simulator.inject("malformed", count=2)
        await asyncio.sleep(1.5)
        forbidden = secrets_in_fleet | {temporary.secret_key, temporary.token}
        texts = {
            "metrics": (await running.http.get("/metrics")).text,
            "openmetrics": (
                await running.http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
            ).text,
            "page": (await running.http.get("/")).text,
            "attention": (await running.http.get("/api/v1/attention")).text,
            "logs": running.logs.getvalue(),
        }
        assert troubled_id in texts["page"] and troubled_id in texts["attention"]
        assert "signed with [REDACTED]" in texts["attention"]
        assert "poll finished" in texts["logs"]
        assert 'image_url="ccr.ccs.tencentyun.com/ns/model:1"' in texts["metrics"]
        for where, text in texts.items():
            leaked = [secret for secret in forbidden if secret in text]
            assert not leaked, f"{len(leaked)} secret(s) in {where}"


async def test_the_standard_process_and_python_metrics_are_served(simulator: SimulatorServer) -> None:
    """What generic "target memory" alerts and dashboards read, in both formats, and promtool accepts it."""
    promtool = require_tool("promtool")
    async with running_exporter(simulator) as running:
        samples = await running.wait_for(lambda s: value(s, "tione_up", region=REGIONS[0]) == 1, "the first poll")
        for name in ("process_resident_memory_bytes", "process_virtual_memory_bytes", "process_start_time_seconds"):
            assert (value(samples, name) or 0) > 0, name
        assert (value(samples, "process_open_fds") or 0) >= 3  # at least the listening socket and stdio
        assert (value(samples, "process_max_fds") or 0) >= (value(samples, "process_open_fds") or 0)
        assert value(samples, "process_cpu_seconds_total") is not None
        assert value(samples, "python_info", implementation="CPython") == 1
        assert value(samples, "python_gc_collections_total", generation="0") is not None
        text = (await running.http.get("/metrics")).text
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        response = await running.http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
        families = {family.name for family in parse_openmetrics(response.text)}
        assert {"process_resident_memory_bytes", "process_open_fds", "python_info"} <= families
