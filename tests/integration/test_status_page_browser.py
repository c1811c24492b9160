"""The on-call page in a real browser: Debian's chromium, headless, renders the page of an exporter polling
a simulated fleet with known incidents.

The DOM chromium builds (after the page's own script ran) must list exactly the services that need
attention, with their reasons and Warning events, and none of the healthy ones; the region filter (read
from the address's fragment by the inline script) must hide the other regions' rows; `/api/v1/attention`
must give the same rows.

Then the 10-second test, as a person would take it at 1366, 1920 and 390 px (a phone): chromium is driven
over its DevTools pipe (`--remote-debugging-pipe`, so no websocket library and no browser download),
the page is laid out at each width and measured where it is drawn, not only read from the DOM: every held
incident's cause text lies inside the viewport's width, the page needs no side-scrolling, no word is
broken across lines, and a failing region's banner is above the fold with its rows marked stale.
Screenshots at 1366 and 390 px are taken (`UPDATE_SCREENSHOT=1` copies the 1366 px one to docs/ for the
README). Last, the refresh in place: with the page open, a poll that puts a healthy service in trouble
must bring its row in without a reload (a mark set on `window` survives). In CI a missing chromium fails
the test.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import json
import os
import re
import secrets
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter.simulator.fleet import INCIDENT_NAMES
from exporter.simulator.server import SimulatorServer
from exporter.tione.attention import trouble
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
        if trouble(Service.model_validate(service)) is not None
    }


ROW = re.compile(
    r'<tr class="(critical|warning)(?: stale)?" data-region="([^"]+)"[^>]*data-service-id="([^"]+)"([^>]*)>(.*?)</tr>',
    re.S,
)


def rows_of(dom: str) -> dict[str, tuple[str, str, bool, str]]:
    """Service id -> (severity, region, hidden by the filter, row HTML) of the page's attention table."""
    return {
        service_id: (severity, region, "display: none" in rest, html)
        for severity, region, service_id, rest, html in ROW.findall(dom)
    }


FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int
    mobile: bool = False


WIDTHS = (Viewport(1366, 768), Viewport(1920, 1080), Viewport(390, 844, mobile=True))
"""A common laptop, a full-HD screen and a phone (an iPhone 12-15's CSS pixels)."""


class DevTools:
    """Headless chromium over its DevTools pipe: JSON messages ended by NUL, on fds 3 (in) and 4 (out)."""

    def __init__(self, profile: Path) -> None:
        binary = require_tool("chromium")
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        # Above 4, so that the child's dup2 onto 3 and 4 never overwrites one with the other.
        child_in = fcntl.fcntl(to_browser, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_browser, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser)
        os.close(from_browser)

        def pipes() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.process = subprocess.Popen(
            [binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=pipes,  # noqa: PLW1509 - only dup2 before exec
        )
        os.close(child_in)
        os.close(child_out)
        self._buffer = b""
        self._next = 0

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + BROWSER_SECONDS
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._next:
                    assert "error" not in answer, f"{method}: {answer['error']}"
                    result: dict[str, Any] = answer["result"]
                    return result
            left = deadline - time.monotonic()
            assert left > 0, f"chromium did not answer {method} within {BROWSER_SECONDS} s"
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                assert chunk, f"chromium closed its DevTools pipe during {method}"
                self._buffer += chunk

    def close(self) -> None:
        os.close(self._write)
        os.close(self._read)
        self.process.kill()
        self.process.wait()


MEASURE = r"""
(function (needles) {
  var width = document.documentElement.clientWidth;
  function box(r) { return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; }
  function textNodes(root) {
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT), nodes = [];
    while (walker.nextNode()) { nodes.push(walker.currentNode); }
    return nodes;
  }
  // Where each occurrence of `needle` is drawn: one box per line it spans.
  function drawn(root, needle) {
    var found = [];
    textNodes(root).forEach(function (node) {
      var at = node.data.indexOf(needle);
      if (at < 0) { return; }
      var range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + needle.length);
      found.push(Array.prototype.map.call(range.getClientRects(), box));
    });
    return found;
  }
  // Words (letters, then letters, digits or _) drawn on more than one line. Ids and pod names in code
  // or .token may break; URLs and such are not words by this rule past their first segment.
  function broken(root) {
    var out = [];
    textNodes(root).forEach(function (node) {
      if (node.parentElement.closest("code, .token")) { return; }
      var word = /[A-Za-z][A-Za-z0-9_]{1,29}/g, match;
      while ((match = word.exec(node.data)) !== null) {
        var range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        var tops = {};
        Array.prototype.forEach.call(range.getClientRects(), function (r) { if (r.width > 0) { tops[Math.round(r.top)] = 1; } });
        if (Object.keys(tops).length > 1) { out.push(match[0]); }
      }
    });
    return out;
  }
  var rows = {};
  document.querySelectorAll("#attention tbody tr").forEach(function (tr) {
    var id = tr.getAttribute("data-service-id"), cause = tr.querySelector("td.cause");
    var wanted = needles[id] || [];
    rows[id] = {
      region: tr.getAttribute("data-region"),
      stale: tr.classList.contains("stale"),
      shown: tr.getClientRects().length > 0,
      cause: box(cause.getBoundingClientRect()),
      headline: cause.querySelector(".headline").innerText,
      needles: wanted.map(function (needle) { return drawn(cause, needle); })
    };
  });
  var banners = Array.prototype.map.call(document.querySelectorAll(".banner"), function (b) {
    return {region: b.getAttribute("data-region"), text: b.innerText, box: box(b.getBoundingClientRect())};
  });
  return JSON.stringify({
    width: width,
    innerWidth: window.innerWidth,
    height: window.innerHeight,
    scrollWidth: document.documentElement.scrollWidth,
    rows: rows,
    banners: banners,
    broken: broken(document.body)
  });
})
"""


def look(
    url: str, viewport: Viewport, needles: dict[str, list[str]], profile: Path, screenshot: Path | None = None
) -> dict[str, Any]:
    """Open `url` at `viewport` in a fresh headless chromium and measure the page where it is drawn."""
    browser = DevTools(profile)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        metrics = {
            "width": viewport.width,
            "height": viewport.height,
            "deviceScaleFactor": 1,
            "mobile": viewport.mobile,
        }
        browser.call("Emulation.setDeviceMetricsOverride", metrics, session)
        browser.call("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + BROWSER_SECONDS
        while True:
            state = browser.call(
                "Runtime.evaluate", {"expression": "document.readyState", "returnByValue": True}, session
            )
            if state["result"].get("value") == "complete":
                break
            assert time.monotonic() < deadline, f"{url} did not load within {BROWSER_SECONDS} s"
            time.sleep(0.05)
        expression = f"{MEASURE}({json.dumps(needles)})"
        answer = browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        assert "exceptionDetails" not in answer, answer.get("exceptionDetails")
        measured: dict[str, Any] = json.loads(answer["result"]["value"])
        if screenshot is not None:
            shot = browser.call("Page.captureScreenshot", {"format": "png"}, session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        return measured
    finally:
        browser.close()


CAUSES = {
    "unschedulable": ["Insufficient nvidia.com/gpu"],
    "crash_loop": ["Back-off restarting failed container"],
    "create_failed": ["CREATE_FAILED", "ErrImagePull"],
    "arrears_stop": ["stopped because the account is in arrears"],
}
"""The words that say why each held incident is broken, which the page must show on screen."""


def assert_readable(page: dict[str, Any], viewport: Viewport, incidents: dict[str, str]) -> None:
    """The 10-second test at one width: the causes on screen, nothing to side-scroll, no word broken."""
    where = f"at {viewport.width} px"
    assert page["innerWidth"] == viewport.width, where
    assert page["scrollWidth"] <= page["width"], f"{where}: the page needs side-scrolling ({page['scrollWidth']} px)"
    assert page["broken"] == [], f"{where}: words broken across lines"
    for kind, service_id in incidents.items():
        row = page["rows"][service_id]
        assert row["shown"], f"{where}: {kind} is hidden"
        cause = row["cause"]
        assert 0 <= cause["left"] < cause["right"] <= page["width"], f"{where}: {kind}'s cause cell leaves the screen"
        for needle, occurrences in zip(CAUSES[kind], row["needles"], strict=True):
            assert occurrences, f"{where}: {kind}'s cause does not say {needle!r}"
            boxes = [b for drawn in occurrences for b in drawn]
            assert boxes and all(b["left"] >= 0 and b["right"] <= page["width"] for b in boxes), (
                f"{where}: {kind}'s {needle!r} is drawn outside the viewport: {boxes}"
            )


def assert_banner(page: dict[str, Any], viewport: Viewport, region: str, code: str) -> None:
    """A failing region's banner: on the first screen, whole, with its code and since when."""
    [banner] = [b for b in page["banners"] if b["region"] == region]
    box = banner["box"]
    assert box["top"] >= 0 and box["bottom"] <= page["height"], f"banner below the fold at {viewport.width} px: {box}"
    assert box["right"] <= page["width"]
    assert code in banner["text"] and "no successful poll since" in banner["text"]
    stale = {row["stale"] for row in page["rows"].values() if row["region"] == region}
    assert stale <= {True}, f"{region}'s rows are not all marked stale"


async def wait_for_banner(running: Any, region: str, present: bool) -> None:
    deadline = asyncio.get_running_loop().time() + 20
    while (f'class="banner" role="alert" data-region="{region}"' in (await running.http.get("/")).text) != present:
        assert asyncio.get_running_loop().time() < deadline, f"{region}'s banner did not {'come' if present else 'go'}"
        await asyncio.sleep(0.2)


@pytest.mark.timeout(400)
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
    needles = {service_id: CAUSES[kind] for kind, service_id in incidents.items()}
    flags = {
        "--poll.interval": "1s",
        "--poll.timeout": "800ms",
        "--poll.max-staleness": "10m",
        "--events.max-services": "50",
        "--monitor.max-requests-per-month": "0",  # the services' own rows; Cloud Monitor's group rows are tested apart
    }
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
        services = (await running.http.get("/api/v1/attention")).json()["services"]

        # Every region answering: each incident's cause on screen at every width, and no banner.
        for viewport in WIDTHS:
            page = await asyncio.to_thread(look, f"{base}/", viewport, needles, tmp_path / f"up-{viewport.width}")
            assert_readable(page, viewport, incidents)
            assert page["banners"] == []
            assert not any(row["stale"] for row in page["rows"].values())

        # The second region fails: its banner on the first screen at every width, the incidents still readable.
        simulator.set_region_outage(REGIONS[1], True, "UnauthorizedOperation")
        await wait_for_banner(running, REGIONS[1], present=True)
        screenshots = {viewport.width: tmp_path / f"status-page-{viewport.width}.png" for viewport in WIDTHS}
        for viewport in WIDTHS:
            page = await asyncio.to_thread(
                look, f"{base}/", viewport, needles, tmp_path / f"b-{viewport.width}", screenshots[viewport.width]
            )
            assert_readable(page, viewport, incidents)
            assert_banner(page, viewport, REGIONS[1], "UnauthorizedOperation")
            assert not any(row["stale"] for row in page["rows"].values() if row["region"] == REGIONS[0])

        # The incidents' own region fails: its rows stay, marked stale, their causes still on screen.
        simulator.set_region_outage(REGIONS[1], False)
        simulator.set_region_outage(REGIONS[0], True, "ResourceUnavailable.InArrears")
        await wait_for_banner(running, REGIONS[1], present=False)
        await wait_for_banner(running, REGIONS[0], present=True)
        for viewport in WIDTHS:
            page = await asyncio.to_thread(look, f"{base}/", viewport, needles, tmp_path / f"c-{viewport.width}")
            assert_readable(page, viewport, incidents)
            assert_banner(page, viewport, REGIONS[0], "ResourceUnavailable.InArrears")
            assert all(page["rows"][service_id]["stale"] for service_id in incidents.values())

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
    for kind, service_id in incidents.items():  # the demo's held incidents say so by name, and only they do
        assert f"<b>{INCIDENT_NAMES[kind]}</b>" in rows[service_id][3], kind
    assert sum("held-incident-" in row[3] for row in rows.values()) == len(incidents)
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

    for screenshot in screenshots.values():
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert screenshot.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(screenshots[1366], DOCS_SCREENSHOT)


def watch_a_change(url: str, profile: Path, change: Any, service_id: str) -> dict[str, Any]:
    """Open `url`, mark the window, make `change`, and wait until the page shows `service_id`'s row: the
    page's own refresh must bring it in place, so the mark (gone with any reload) is still there."""
    browser = DevTools(profile)

    def evaluate(expression: str) -> Any:
        answer = browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        assert "exceptionDetails" not in answer, answer.get("exceptionDetails")
        return answer["result"].get("value")

    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.call("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + BROWSER_SECONDS
        while evaluate("document.readyState") != "complete":
            assert time.monotonic() < deadline, f"{url} did not load within {BROWSER_SECONDS} s"
            time.sleep(0.05)
        row = f"document.querySelector('#attention tr[data-service-id=\"{service_id}\"]')"
        before = evaluate(f"{row} !== null")
        evaluate("window.__mark = 'not reloaded'")
        navigations = evaluate("performance.getEntriesByType('navigation').length")
        change()
        deadline = time.monotonic() + BROWSER_SECONDS
        while not evaluate(f"{row} !== null"):
            assert time.monotonic() < deadline, f"{service_id}'s row did not appear within {BROWSER_SECONDS} s"
            time.sleep(0.2)
        return {
            "before": before,
            "mark": evaluate("window.__mark || null"),
            "navigations": (navigations, evaluate("performance.getEntriesByType('navigation').length")),
            "shown": evaluate(f"{row}.getClientRects().length > 0"),
            "severity": evaluate(f"{row}.querySelector('td.sev').innerText"),
            "count": evaluate("document.getElementById('attention-count').textContent"),
            "rows": evaluate("document.querySelectorAll('#attention tbody tr').length"),
        }
    finally:
        browser.close()


@pytest.mark.timeout(200)
async def test_the_page_refreshes_in_place_when_a_poll_changes_the_fleet(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    require_tool("chromium")
    expected = troubled(simulator)
    region = REGIONS[0]
    healthy = next(
        service["ServiceId"]
        for group in simulator.fleet(region)
        for service in group["Services"]
        if service["ServiceId"] not in expected and service["Status"] == "Normal"
    )
    flags = {
        "--poll.interval": "1s",
        "--poll.timeout": "800ms",
        "--poll.max-staleness": "10m",
        "--monitor.max-requests-per-month": "0",  # the services' own rows
    }
    async with running_exporter(simulator, REGIONS, **flags) as running:
        deadline = asyncio.get_running_loop().time() + 20
        while {row["service_id"] for row in (await running.http.get("/api/v1/attention")).json()["services"]} != set(
            expected
        ):
            assert asyncio.get_running_loop().time() < deadline, "the first polls did not land within 20 s"
            await asyncio.sleep(0.2)
        base = str(running.http.base_url).rstrip("/")

        def change() -> None:
            simulator.set_service_status(region, healthy, "Abnormal", replicas=2, ready=0)

        seen = await asyncio.to_thread(watch_a_change, f"{base}/", tmp_path / "refresh", change, healthy)
    assert seen["before"] is False, "the service was healthy when the page loaded"
    assert seen["mark"] == "not reloaded", "the page was reloaded instead of refreshed in place"
    assert seen["navigations"] == (1, 1)
    assert seen["shown"] is True
    assert seen["severity"].startswith("critical")
    assert seen["rows"] == len(expected) + 1
    assert seen["count"] == str(len(expected) + 1), "the count follows the new rows"
