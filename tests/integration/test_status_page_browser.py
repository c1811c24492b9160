"""The on-call page in a real browser: Debian's chromium, headless, renders the page of an exporter polling
a simulated fleet with known incidents.

The DOM chromium builds (after the page's own script ran) must list exactly the services that need
attention, with their reasons and Warning events, and none of the healthy ones; the region filter (read
from the address's fragment by the inline script) must hide the other regions' rows; `/api/v1/attention`
must give the same rows. A screenshot is taken too (`UPDATE_SCREENSHOT=1` copies it to docs/ for the
README). In CI a missing chromium fails the test.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.simulator.server import SimulatorServer
from exporter.tione.attention import needs_attention
from tests.api_models import Service
from tests.conftest import require_tool, signed_simulator
from tests.integration.test_exporter_simulator import running_exporter

REGIONS = ("ap-guangzhou", "ap-shanghai")
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "status-page.png"
BROWSER_SECONDS = 60.0


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with signed_simulator(REGIONS, groups=8, seed=21, incidents=True) as server:
        for region in REGIONS:
            server.set_region_outage(region, False)
        yield server


async def chromium(tmp_path: Path, *args: str) -> str:
    """Run headless chromium with `args` (without blocking the exporter on this event loop); its stdout."""
    binary = require_tool("chromium")
    profile = tmp_path / f"profile-{secrets.token_hex(4)}"
    process = await asyncio.create_subprocess_exec(
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), BROWSER_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"chromium exited with {process.returncode}"
    return out.decode("utf-8")


def troubled(simulator: SimulatorServer) -> dict[str, str]:
    """Service id -> region of every service that needs attention in the polled (default) workspaces."""
    return {
        service["ServiceId"]: region
        for region in REGIONS
        for group in simulator.fleet(region)
        for service in group["Services"]
        if needs_attention(Service.model_validate(service))
    }


ROW = re.compile(
    r'<tr class="(critical|warning)" data-region="([^"]+)"[^>]*data-service-id="([^"]+)"([^>]*)>(.*?)</tr>', re.S
)


def rows_of(dom: str) -> dict[str, tuple[str, str, bool, str]]:
    """Service id -> (severity, region, hidden by the filter, row HTML) of the page's attention table."""
    return {
        service_id: (severity, region, "display: none" in rest, html)
        for severity, region, service_id, rest, html in ROW.findall(dom)
    }


async def test_the_page_in_chromium_names_what_is_broken_and_why(simulator: SimulatorServer, tmp_path: Path) -> None:
    require_tool("chromium")
    incidents = simulator.incidents()
    expected = troubled(simulator)
    assert set(incidents.values()) <= set(expected)
    healthy = {
        service["ServiceId"]
        for region in REGIONS
        for group in simulator.fleet(region)
        for service in group["Services"]
        if service["ServiceId"] not in expected
    }
    assert healthy
    flags = {"--poll.interval": "1s", "--poll.timeout": "800ms", "--events.max-services": "50"}
    async with running_exporter(simulator, REGIONS, **flags) as running:
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            services = (await running.http.get("/api/v1/attention")).json()["services"]
            asked = {row["service_id"] for row in services if row["events_total"] is not None}
            if set(incidents.values()) <= asked:
                break
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail("the incidents' events were not asked within 20 s")
            await asyncio.sleep(0.2)
        base = str(running.http.base_url).rstrip("/")
        dom = await chromium(tmp_path, "--dump-dom", f"{base}/")
        filtered = await chromium(tmp_path, "--dump-dom", f"{base}/#region={REGIONS[1]}")
        searched = await chromium(tmp_path, "--dump-dom", f"{base}/#q=insufficient%20nvidia")
        screenshot = tmp_path / "status-page.png"
        await chromium(
            tmp_path, f"--screenshot={screenshot}", "--window-size=1600,1200", "--hide-scrollbars", f"{base}/"
        )
        services = (await running.http.get("/api/v1/attention")).json()["services"]

    rows = rows_of(dom)
    assert set(rows) == set(expected), "the page lists exactly the services that need attention"
    assert {service_id: row[1] for service_id, row in rows.items()} == expected
    attention = dom.split("<h2>Regions</h2>")[0]
    for service_id in healthy:
        assert service_id not in attention
    assert not any(hidden for _, _, hidden, _ in rows.values()), "no filter: every row shows"

    unschedulable = rows[incidents["unschedulable"]]
    assert unschedulable[0] == "critical"
    assert "Insufficient nvidia.com/gpu" in unschedulable[3]
    assert "Back-off restarting failed container" in rows[incidents["crash_loop"]][3]
    assert (
        "CREATE_FAILED" in rows[incidents["create_failed"]][3] and "ErrImagePull" in rows[incidents["create_failed"]][3]
    )
    assert "ARREARS_STOP" in rows[incidents["arrears_stop"]][3]
    assert re.search(r"for \d+ (h|min|d)", unschedulable[3])
    severities = [severity for severity, _, _, _ in rows.values()]
    assert severities == sorted(severities, key=["critical", "warning"].index), "most severe first"

    # The region filter, applied by the page's own script from the address's fragment.
    hidden = {service_id: row[2] for service_id, row in rows_of(filtered).items()}
    assert hidden == {service_id: region != REGIONS[1] for service_id, region in expected.items()}

    # The text filter: case-insensitive, over names, reasons, messages and events.
    shown = {service_id for service_id, row in rows_of(searched).items() if not row[2]}
    assert incidents["unschedulable"] in shown
    assert shown == {service_id for service_id, row in rows.items() if "insufficient nvidia" in row[3].lower()}
    assert incidents["crash_loop"] not in shown

    # The JSON has the same rows, in the same order.
    assert [row["service_id"] for row in services] == list(rows)

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(screenshot, DOCS_SCREENSHOT)
