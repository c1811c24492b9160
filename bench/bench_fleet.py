"""What a fleet of 1k to 20k services costs the exporter, side by side: memory, poll CPU, output, scrapes.

For each size a simulated API (`exporter.simulator`, its own fleet generator) runs in a child process
with the fleet in its default workspace and 100 ms of latency on every answer; a second, fresh child
process is the exporter: the `Poller` with the sources, client and settings `tione-exporter` builds
(`exporter.app.Wiring`), polling the simulator over loopback `--polls` times in a row, each poll followed
by a gzip scrape as Prometheus makes one. The answers are the API's JSON pages, decoded by the exporter's
own code. Each size runs in its own processes so that one size's memory never flatters or burdens another.
Cloud Monitor, training tasks, notebooks and prices are off unless `--sources` says otherwise.

Measured per size:

- resident memory (`VmRSS`) after the first and the last poll, and the peak (`VmHWM`) over all polls;
- poll CPU (all threads), split into decode (JSON to typed objects), catalogue (the families' samples
  and their lines, `collect_region`), render (arranging regions into the exposition), gzip (deflating
  the snapshot once, at the first scrape after a poll), trim (`exporter.memory`), and GC (time in the
  cyclic collector, wherever it ran: it is also inside the others); against the untyped `json.loads` of
  the same answers in the same process (the ratio the CI bench gates);
- series and bytes per service (text and gzip);
- scrape p50 and p99 in-process through the ASGI app, uncompressed and gzip, against scrape-time
  rendering (the held snapshot rendered and compressed at every scrape, as an exporter without a cache does);
- the full poll's wall time against the rate-limit bound (requests / rate);
- with `--once`, the largest size once more through `tione-exporter once` in a subprocess: its peak
  memory beside the size of what it wrote (it writes the held snapshot's chunks, no copy of the body).

    python -m bench.bench_fleet [--sizes 1000,5000,10000,20000] [--polls 10] [--once] [--json FILE]

With `--timed-out SECONDS` it measures instead, per size, polls that all succeed beside polls that all
time out (that `--poll.timeout`), each series in a fresh process against one simulator: resident memory
after the first and the last poll, the peak, the objects the collector tracks, and the collector's
longest pass. Raise `--latency` so that a listing takes longer than its rate bound (8 requests in flight:
at 1 s, 8 pages a second), or the listing's budget check refuses it before reading a page:

    python -m bench.bench_fleet --sizes 10000 --latency 1.0 --timed-out 9

With `--sources` it measures the same with the secondary sources chosen: `off` (Cloud Monitor, the
training tasks, notebooks and prices off: the listing and its own sources only), `monitor` (Cloud Monitor
on and collecting as often as the budget lets the polls: `--monitor.interval 500ms`, the largest
budget, `--monitor.rate-limit 50`), `holders` (training tasks, notebooks and prices read at every poll, with
`--holders` unfinished ones, half each, planted in the simulator: half pay-as-you-go on a spec, half on a
resource group); `default` leaves every setting at its default. `off` is the default, as in the
integration tests that compare figures:

    python -m bench.bench_fleet --sizes 10000 --sources off,monitor,holders

Results are recorded in docs/performance.md ("Fleet").
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

import exporter.memory
import exporter.poller
import exporter.tione.listing
from exporter.app import Wiring
from exporter.config import load_settings
from exporter.metrics.exposition import TEXT, answer
from exporter.metrics.gzipped import GzipPrefix
from exporter.metrics.render import collect_region, render
from exporter.metrics.stream import RegionStream
from exporter.simulator.config import SimulatorConfig
from exporter.simulator.holders import NOTEBOOK_SPEC, POSTPAID, PREPAID, TASK_SPEC, Role
from exporter.simulator.server import SimulatorServer
from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials, StaticProvider
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione.listing import ListingQuery, scan_service_groups
from exporter.web.page import PageContext
from exporter.web.server import ExporterApp

REGION = "ap-guangzhou"
SECRET_ID, SECRET_KEY = "AKIDbenchfleet", "bench-fleet-secret-key"
RATE = 20.0
"""Requests per second: the API's own limit, the most the exporter may be set to."""
LATENCY = 0.1
STARTUP_TIMEOUT = 600.0
MIB = 1024 * 1024
NO_TRIM = "BENCH_FLEET_NO_TRIM"
"""Set (by `--no-trim`) for the exporter processes: freed memory is not trimmed after a poll."""
SOURCES = "BENCH_FLEET_SOURCES"
"""Set (by `--sources`, one mode at a time) for both processes: `MODES` names what each sets."""
HOLDERS = "BENCH_FLEET_HOLDERS"
"""Set (by `--holders`) for the simulator process: unfinished training tasks and notebooks it plants."""
OFF = {
    "TIONE_EXPORTER_MONITOR_MAX_REQUESTS_PER_MONTH": "0",
    "TIONE_EXPORTER_HOLDERS_INTERVAL": "0",
    "TIONE_EXPORTER_PRICES_INTERVAL": "0",
}
MODES: dict[str, dict[str, str]] = {
    "default": {},
    "off": OFF,
    "monitor": OFF
    | {
        "TIONE_EXPORTER_MONITOR_MAX_REQUESTS_PER_MONTH": "1000000000",
        "TIONE_EXPORTER_MONITOR_INTERVAL": "500ms",
        "TIONE_EXPORTER_MONITOR_RATE_LIMIT": "50",
    },
    "holders": OFF | {"TIONE_EXPORTER_HOLDERS_INTERVAL": "500ms", "TIONE_EXPORTER_PRICES_INTERVAL": "500ms"},
}
"""The environment of each `--sources` mode, over the bench's own settings."""


def mode() -> str:
    return os.environ.get(SOURCES, "off")


# --- the simulated API, in its own process --------------------------------------------------------------


def grow(simulator: Any, services: int) -> tuple[int, int]:
    """Add groups to the default workspace until the region has at least `services` services."""
    count = 0
    while count < services:
        simulator.add_groups(REGION, max(1, (services - count) // 2), project_id="")
        fleet = simulator.fleet(REGION)
        count = sum(len(group.get("Services") or ()) for group in fleet)
    return len(fleet), count


def serve(connection: Connection, services: int, latency: float) -> None:
    """Child process: a simulator holding a fleet of at least `services` services, until told to stop."""

    config = SimulatorConfig(
        groups=0,
        regions=(REGION,),
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        latency=latency,
        rate_limit=None,
        churn=False,
    )
    with SimulatorServer(config) as simulator:
        groups, count = grow(simulator, services)
        # The fleet stays as built: kept out of the collector, whose passes over its half a million objects
        # would otherwise slow every answer (at 20,000 services, past the client's 20 requests a second).
        gc.freeze()
        if mode() == "holders":
            plant_holders(simulator, int(os.environ.get(HOLDERS, "2000")))
        connection.send((simulator.url, groups, count))
        connection.recv()


def plant_holders(simulator: Any, count: int) -> None:
    """`count` running training tasks and notebooks, half each: every other one pay-as-you-go on a priced
    spec, the others prepaid on the region's resource groups in turn."""
    groups = [group["ResourceGroupId"] for group in simulator.resource_groups(REGION)]
    for index in range(count):
        spec = TASK_SPEC if index % 4 < 2 else NOTEBOOK_SPEC
        role = Role(instance_num=1 + index % 2, gpu=100, gpu_type="T4", cpu=8000, memory=32768, instance_type=spec)
        paid = index % 2 == 0
        planting: dict[str, Any] = {
            "charge_type": POSTPAID if paid else PREPAID,
            "resource_group_id": None if paid else groups[index % len(groups)],
            "name": f"bench-{index}",
        }
        if index % 2:
            simulator.add_notebook(REGION, replace(role, instance_num=1), **planting)
        else:
            simulator.add_training_task(REGION, (role,), **planting)


@contextmanager
def simulated(services: int, latency: float) -> Iterator[tuple[str, int, int]]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=serve, args=(theirs, services, latency), daemon=True)
    child.start()
    try:
        if not ours.poll(STARTUP_TIMEOUT):
            raise RuntimeError(f"the simulator did not start within {STARTUP_TIMEOUT:g} s")
        yield ours.recv()
        ours.send("stop")
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()


# --- the exporter, in its own process --------------------------------------------------------------------


def status_kib(field_name: str) -> int:
    """A `/proc/self/status` figure in KiB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


class Clock:
    """CPU seconds (of the calling thread) spent in named parts of a poll, and in the cyclic collector."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._gc_started: dict[int, float] = {}
        self._lock = threading.Lock()

    def add(self, part: str, seconds: float) -> None:
        with self._lock:
            self.seconds[part] = self.seconds.get(part, 0.0) + seconds

    def wrap(self, owner: Any, name: str, part: str) -> None:
        """Count the calls of `owner.name` to `part` (nothing when `owner` has no such attribute)."""
        original = getattr(owner, name, None)
        if original is None:
            return
        static = isinstance(owner, type) and isinstance(owner.__dict__.get(name), staticmethod)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.add(part, time.thread_time() - started)

        setattr(owner, name, staticmethod(timed) if static else timed)

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        ident = threading.get_ident()
        if phase == "start":
            self._gc_started[ident] = time.thread_time()
        elif ident in self._gc_started:
            self.add("gc", time.thread_time() - self._gc_started.pop(ident))

    def take(self) -> dict[str, float]:
        with self._lock:
            taken, self.seconds = self.seconds, {}
        return taken


def install_clock() -> tuple[Clock, dict[str, Any]]:
    """Wrap the poll's stages where the exporter calls them; `seen` keeps the last snapshot and samples."""

    clock = Clock()
    seen: dict[str, Any] = {}
    if os.environ.get(NO_TRIM):
        exporter.memory.trim = lambda: False
    # decode: the answer's bytes to typed objects (whichever of these the code path has)
    clock.wrap(TencentCloudClient, "_parse", "decode")
    clock.wrap(exporter.tione.listing, "typed_page", "decode")
    clock.wrap(exporter.tione.listing, "parse_page", "decode")
    # catalogue: the families' samples and their lines, page by page as the listing reads them, then merged
    clock.wrap(RegionStream, "service_groups", "catalogue")
    clock.wrap(exporter.memory, "trim", "trim")
    clock.wrap(GzipPrefix, "of", "gzip")
    rendering = exporter.poller.render

    def rendered(*args: Any) -> Any:
        """`render` without the gzip forms it deflates for the next scrapes (counted as gzip)."""
        deflated, started = clock.seconds.get("gzip", 0.0), time.thread_time()
        result = rendering(*args)
        clock.add("render", time.thread_time() - started - (clock.seconds.get("gzip", 0.0) - deflated))
        return result

    exporter.poller.render = rendered
    collect = exporter.poller._collect

    def collected(*args: Any) -> Any:
        started = time.thread_time()
        result = collect(*args)
        clock.add("catalogue", time.thread_time() - started)
        seen["series"] = result[0].series
        if seen.get("capture"):  # only when asked: holding the listing would change what is measured
            seen["snapshot"], seen["options"] = args[0], args[1]
        return result

    exporter.poller._collect = collected
    gc.callbacks.append(clock.on_gc)
    return clock, seen


def settings_for(url: str, timeout: float | None = None) -> Any:

    return load_settings(
        {},
        {
            "TIONE_EXPORTER_TIONE_ENDPOINT": url,
            "TIONE_EXPORTER_MONITOR_ENDPOINT": url,
            "TIONE_EXPORTER_TIONE_REGIONS": REGION,
            "TIONE_EXPORTER_API_RATE_LIMIT": f"{RATE:g}",
            "TIONE_EXPORTER_POLL_INTERVAL": "10m",
            "TIONE_EXPORTER_POLL_TIMEOUT": "5m" if timeout is None else f"{timeout * 1000:.0f}ms",
            **MODES[mode()],
        },
    )


async def scrape_times(app: Any, count: int, *, gzip: bool, deadline: float) -> list[float]:
    """Wall seconds of `count` GETs of /metrics through the ASGI app, the body counted and dropped."""
    headers = [(b"accept-encoding", b"gzip")] if gzip else []
    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": headers, "query_string": b""}
    written = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal written
        written += len(message.get("body", b""))

    times = []
    for _ in range(count):
        started = time.perf_counter()
        await app(scope, receive, send)
        times.append(time.perf_counter() - started)
        if time.monotonic() > deadline:
            break
    assert written > 0
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


@dataclass
class Result:
    services: int
    groups: int
    polls: int
    rss_idle_mib: float = 0.0
    """Before the first poll: the interpreter and the exporter's modules."""
    rss_first_mib: float = 0.0
    rss_last_mib: float = 0.0
    peak_mib: float = 0.0
    poll_cpu: float = 0.0
    """Mean CPU seconds of a poll (all threads), the gzip of its first scrape included."""
    parts: dict[str, float] = field(default_factory=dict)
    """Mean CPU seconds per poll of each part."""
    json_loads: float = 0.0
    """CPU seconds of untyped `json.loads` over one poll's listing answers (best of 3)."""
    answer_bytes: int = 0
    series: int = 0
    text_bytes: int = 0
    gzip_bytes: int = 0
    poll_wall: float = 0.0
    """Best wall seconds of a full poll."""
    requests: int = 0
    scrape: dict[str, float] = field(default_factory=dict)


def exporter_of(url: str, timeout: float | None = None) -> tuple[Any, Any]:
    """The wiring and the poller `tione-exporter` builds, pointed at the simulator."""

    settings = settings_for(url, timeout)
    wiring = Wiring(settings, StaticProvider(Credentials(SECRET_ID, SECRET_KEY)))
    return wiring, wiring.make_poller()


async def exporter_run(url: str, groups: int, services: int, polls: int, scrapes: int) -> Result:

    clock, seen = install_clock()
    wiring, poller = exporter_of(url)
    result = Result(services=services, groups=groups, polls=polls)
    cpu: list[float] = []
    walls: list[float] = []
    parts: dict[str, float] = {}
    clock.take()
    result.rss_idle_mib = status_kib("VmRSS") / 1024
    for index in range(polls):
        requests_before = wiring.metrics.requests_made(REGION)
        started_cpu, started_wall = time.process_time(), time.monotonic()
        status = await poller.poll(REGION)
        walls.append(time.monotonic() - started_wall)
        if status.outcome != "success":
            raise RuntimeError(f"poll {index + 1} failed: {status.error_code} {status.error_message}")
        prefix = poller.exposition.gzip(False)  # the first scrape after a poll, as Prometheus makes it
        cpu.append(time.process_time() - started_cpu)
        for part, seconds in clock.take().items():
            parts[part] = parts.get(part, 0.0) + seconds
        result.requests = wiring.metrics.requests_made(REGION) - requests_before
        if index == 0:
            result.rss_first_mib = status_kib("VmRSS") / 1024
    result.rss_last_mib = status_kib("VmRSS") / 1024
    result.peak_mib = status_kib("VmHWM") / 1024
    gc.callbacks.remove(clock.on_gc)
    result.poll_cpu = statistics.mean(cpu[1:] if len(cpu) > 1 else cpu)
    result.parts = {part: seconds / polls for part, seconds in sorted(parts.items())}
    result.poll_wall = min(walls)
    result.series = seen["series"]
    result.text_bytes = poller.exposition.size(False)
    result.gzip_bytes = len(prefix.body)

    # Scrapes: the held exposition, then rendering the held snapshot at every scrape.
    context = PageContext(
        version="bench", started=time.time(), telemetry_path="/metrics", interval=30, max_staleness=300
    )
    app = ExporterApp(poller, wiring.metrics, context)
    seen["capture"] = True  # one more poll, whose snapshot the baseline renders at every scrape
    await poller.poll(REGION)
    snapshot, options = seen.pop("snapshot"), seen["options"]

    class Rendering:
        """A poller view that renders at every scrape: the baseline."""

        ready = True

        @property
        def exposition(self) -> Any:
            return render([collect_region(snapshot, options)])

        def statuses(self) -> Any:
            return poller.statuses()

    baseline = ExporterApp(Rendering(), wiring.metrics, context)  # type: ignore[arg-type]
    deadline = time.monotonic() + 60
    for gzip in (False, True):
        name = "gzip" if gzip else "text"
        ours = await scrape_times(app, scrapes, gzip=gzip, deadline=deadline + 60)
        theirs = await scrape_times(baseline, max(3, scrapes // 20), gzip=gzip, deadline=time.monotonic() + 60)
        result.scrape[f"{name}_p50"] = percentile(ours, 0.5)
        result.scrape[f"{name}_p99"] = percentile(ours, 0.99)
        result.scrape[f"{name}_baseline_p50"] = percentile(theirs, 0.5)
        result.scrape[f"{name}_baseline_p99"] = percentile(theirs, 0.99)
    assert answer(poller.exposition, wiring.metrics, TEXT).length > 0

    # The same answers once more, kept as bytes, for untyped json.loads: the yardstick of the poll's CPU.
    bodies = await listing_answers(url)
    result.answer_bytes = sum(len(body) for body in bodies)
    result.json_loads = min(timed_loads(bodies) for _ in range(3))
    await wiring.client.aclose()
    return result


async def listing_answers(url: str) -> list[bytes]:
    """Every listing answer of one full listing of the region, as the API sent it."""

    bodies: list[bytes] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        if response.request.headers.get("x-tc-action") == "DescribeModelServiceGroups":
            bodies.append(response.content)

    async with httpx.AsyncClient(event_hooks={"response": [keep]}) as http:
        client = TencentCloudClient(
            endpoint=url,
            service="tione",
            version="2021-11-11",
            credentials=Credentials(SECRET_ID, SECRET_KEY),
            rate_limiter=TokenBucket(rate=RATE, burst=2),
            http=http,
        )
        query = ListingQuery()
        await scan_service_groups(client, REGION, query, deadline=time.monotonic() + 300)
    return bodies


def timed_loads(bodies: list[bytes]) -> float:
    started = time.process_time()
    for body in bodies:
        json.loads(body)
    return time.process_time() - started


async def short_run(url: str, services: int, polls: int) -> dict[str, float]:
    """The CI bench: best poll CPU against untyped `json.loads` of the same answers, and the bytes the
    exporter holds per service after a poll (traced by `tracemalloc`, so exact and not noisy)."""

    wiring, poller = exporter_of(url)
    cpu = []
    for _ in range(polls):
        started = time.process_time()
        status = await poller.poll(REGION)
        poller.exposition.gzip(False)
        cpu.append(time.process_time() - started)
        if status.outcome != "success":
            raise RuntimeError(f"a poll failed: {status.error_code} {status.error_message}")
    bodies = await listing_answers(url)
    loads = min(timed_loads(bodies) for _ in range(3))
    del bodies
    # What a poll leaves behind: traced from before the poll whose results replace the untraced ones.
    gc.collect()
    tracemalloc.start()
    for _ in range(2):
        await poller.poll(REGION)
        poller.exposition.gzip(False)
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    text = poller.exposition.size(False)
    await wiring.client.aclose()
    return {
        "services": services,
        "poll_cpu": min(cpu[1:] if len(cpu) > 1 else cpu),
        "json_loads": loads,
        "held_bytes_per_service": held / services,
        "text_bytes_per_service": text / services,
    }


def short_child(connection: Connection, url: str, services: int, polls: int) -> None:
    try:
        connection.send(asyncio.run(short_run(url, services, polls)))
    except Exception as exc:  # reported by the parent
        connection.send({"error": f"{type(exc).__name__}: {exc}"})


def short_bench(services: int = 1000, polls: int = 4) -> dict[str, Any]:
    """`short_run` in a fresh process against a simulator in another, as the CI bench runs it."""
    with simulated(services, latency=0.0) as (url, _groups, count):
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        child = context.Process(target=short_child, args=(theirs, url, count, polls))
        child.start()
        result: dict[str, Any] = ours.recv()
        child.join()
        return result


def exporter_child(connection: Connection, url: str, groups: int, services: int, polls: int, scrapes: int) -> None:
    try:
        result = asyncio.run(exporter_run(url, groups, services, polls, scrapes))
        connection.send(asdict(result))
    except Exception as exc:  # reported by the parent as this size's failure
        connection.send({"error": f"{type(exc).__name__}: {exc}"})


def measure(services: int, polls: int, scrapes: int, latency: float) -> dict[str, Any]:
    with simulated(services, latency) as (url, groups, count):
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        child = context.Process(target=exporter_child, args=(theirs, url, groups, count, polls, scrapes))
        child.start()
        result: dict[str, Any] = ours.recv()
        child.join()
        return result


def once_run(services: int, latency: float) -> dict[str, Any]:
    """`tione-exporter once` against a fleet of `services`: its peak memory and the bytes it wrote."""
    with simulated(services, latency) as (url, _groups, count):
        env = {key: value for key, value in os.environ.items() if not key.startswith(("TENCENTCLOUD_", "TIONE_"))}
        env |= {
            "TENCENTCLOUD_SECRET_ID": SECRET_ID,
            "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
            "TIONE_EXPORTER_TIONE_ENDPOINT": url,
            "TIONE_EXPORTER_MONITOR_ENDPOINT": url,
            "TIONE_EXPORTER_API_RATE_LIMIT": f"{RATE:g}",
            "TIONE_EXPORTER_POLL_INTERVAL": "10m",
            "TIONE_EXPORTER_POLL_TIMEOUT": "5m",
        }
        env |= MODES[mode()]
        results = {}
        for output in ("text", "openmetrics"):
            with tempfile.TemporaryFile() as out:
                command = [sys.executable, "-m", "exporter", "once", "--format", output, "--tione.regions", REGION]
                process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=env)
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
                written = out.seek(0, os.SEEK_END)
            if process.returncode != 0:
                raise RuntimeError(f"once --format {output} exited with {process.returncode}")
            results[output] = {"peak_mib": usage.ru_maxrss / 1024, "written_mib": written / MIB}
        return {"services": count, **results}


# --- polls that time out ---------------------------------------------------------------------------------


class Pauses:
    """The longest single pass of the cyclic collector (wall seconds): a pass stops every thread."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)


async def stress_run(url: str, services: int, polls: int, poll_timeout: float | None) -> dict[str, Any]:
    """`polls` polls in a row with `poll_timeout` (None: the bench's own, which every poll meets): resident
    memory and objects the collector tracks after the first and the last, the peak, the outcomes, and the
    longest pass of the collector. Nothing else runs, so memory is the polls' alone."""
    pauses = Pauses()
    gc.callbacks.append(pauses)
    wiring, poller = exporter_of(url, poll_timeout)
    outcomes: list[str] = []
    figures: dict[str, Any] = {"services": services, "polls": polls, "timeout": poll_timeout}
    figures["rss_idle_mib"] = status_kib("VmRSS") / 1024
    for index in range(polls):
        status = await poller.poll(REGION)
        outcomes.append(status.outcome if status.outcome == "success" else f"{status.error_code}")
        await asyncio.sleep(0.05)  # the collector's first pass after the poll, as it comes in a running exporter
        if index == 0:
            figures["rss_first_mib"] = status_kib("VmRSS") / 1024
            figures["objects_first"] = len(gc.get_objects())
    figures["rss_last_mib"] = status_kib("VmRSS") / 1024
    figures["objects_last"] = len(gc.get_objects())
    figures["peak_mib"] = status_kib("VmHWM") / 1024
    figures["outcomes"] = dict(collections.Counter(outcomes))
    figures["longest_gc_pass"] = pauses.longest
    gc.callbacks.remove(pauses)
    await wiring.client.aclose()
    return figures


def stress_child(connection: Connection, url: str, services: int, polls: int, timeout: float | None) -> None:
    try:
        connection.send(asyncio.run(stress_run(url, services, polls, timeout)))
    except Exception as exc:  # reported by the parent
        connection.send({"error": f"{type(exc).__name__}: {exc}"})


def stress(services: int, polls: int, latency: float, timeout: float) -> list[dict[str, Any]]:
    """Polls that all succeed, then polls that all time out (`timeout`), each in a fresh process against
    one simulator: what a poll that does not finish leaves behind."""
    results = []
    with simulated(services, latency) as (url, _groups, count):
        for limit in (None, timeout):
            context = multiprocessing.get_context("spawn")
            ours, theirs = context.Pipe()
            child = context.Process(target=stress_child, args=(theirs, url, count, polls, limit))
            child.start()
            results.append(ours.recv())
            child.join()
    return results


def stress_report(results: list[dict[str, Any]]) -> str:
    lines = [
        "| polls | outcomes | RSS after 1 | RSS after last | peak (VmHWM) | objects after 1 | objects after last "
        "| longest GC pass |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        if "error" in result:
            lines.append(f"FAILED: {result['error']}")
            continue
        timeout = "succeeding" if result["timeout"] is None else f"--poll.timeout {result['timeout']:g}s"
        outcomes = ", ".join(f"{count} {name}" for name, count in sorted(result["outcomes"].items()))
        lines.append(
            f"| {result['services']:,} services, {timeout} | {outcomes} | {result['rss_first_mib']:.0f} MiB "
            f"| {result['rss_last_mib']:.0f} MiB | {result['peak_mib']:.0f} MiB | {result['objects_first']:,} "
            f"| {result['objects_last']:,} | {result['longest_gc_pass'] * 1000:.0f} ms |"
        )
    good = [result for result in results if "error" not in result]
    if len(good) == 2:
        lines.append("")
        lines.append(
            f"timed out / succeeding: RSS after the last poll {good[1]['rss_last_mib'] / good[0]['rss_last_mib']:.2f}, "
            f"peak {good[1]['peak_mib'] / good[0]['peak_mib']:.2f}"
        )
    return "\n".join(lines)


# --- the report ------------------------------------------------------------------------------------------


PARTS = ("decode", "catalogue", "render", "gzip", "trim", "gc")


def report(results: list[dict[str, Any]]) -> str:
    good = [result for result in results if "error" not in result]
    lines = []
    for result in results:
        if "error" in result:
            lines.append(f"FAILED: {result['error']}")
    sizes = " | ".join(
        f"{result['services']:,}" + ("" if result.get("sources", "default") == "default" else f" {result['sources']}")
        for result in good
    )
    ruler = "|---|" + "---:|" * len(good)

    def row(name: str, value: Callable[[dict[str, Any]], str]) -> str:
        return f"| {name} | " + " | ".join(value(result) for result in good) + " |"

    lines += [
        "Memory",
        "",
        f"| services | {sizes} |",
        ruler,
        row("service groups", lambda r: f"{r['groups']:,}"),
        row("RSS before the first poll", lambda r: f"{r['rss_idle_mib']:.0f} MiB"),
        row("RSS after 1 poll", lambda r: f"{r['rss_first_mib']:.0f} MiB"),
        row(f"RSS after {good[0]['polls'] if good else 0} polls", lambda r: f"{r['rss_last_mib']:.0f} MiB"),
        row("peak (VmHWM)", lambda r: f"{r['peak_mib']:.0f} MiB"),
        row(
            "RSS per service after the last poll, above idle",
            lambda r: f"{(r['rss_last_mib'] - r['rss_idle_mib']) * 1024 / r['services']:.1f} KiB",
        ),
        "",
        "Poll CPU (mean per poll, CPU seconds; GC is also inside the other parts)",
        "",
        f"| services | {sizes} |",
        ruler,
        row("poll, all threads", lambda r: f"{r['poll_cpu']:.2f} s"),
        *(row(part, lambda r, part=part: f"{r['parts'].get(part, 0.0):.3f} s") for part in PARTS),
        row(
            "other (HTTP, signing, sources, event loop)",
            lambda r: f"{r['poll_cpu'] - sum(v for k, v in r['parts'].items() if k != 'gc'):.2f} s",
        ),
        row("untyped json.loads of the answers", lambda r: f"{r['json_loads']:.3f} s"),
        row("poll CPU / json.loads", lambda r: f"{r['poll_cpu'] / r['json_loads']:.1f}x"),
        row("poll CPU per service", lambda r: f"{r['poll_cpu'] / r['services'] * 1e6:.0f} µs"),
        row("listing answers", lambda r: f"{r['answer_bytes'] / MIB:.1f} MiB"),
        "",
        "Output",
        "",
        f"| services | {sizes} |",
        ruler,
        row("series", lambda r: f"{r['series']:,}"),
        row("series per service", lambda r: f"{r['series'] / r['services']:.1f}"),
        row("text bytes per service", lambda r: f"{r['text_bytes'] / r['services']:,.0f}"),
        row("gzip bytes per service", lambda r: f"{r['gzip_bytes'] / r['services']:,.0f}"),
        row("text per scrape", lambda r: f"{r['text_bytes'] / MIB:.1f} MiB"),
        row("gzip per scrape", lambda r: f"{r['gzip_bytes'] / MIB:.2f} MiB"),
        "",
        "Scrapes (wall time in the ASGI app; baseline: the snapshot rendered at every scrape)",
        "",
        f"| services | {sizes} |",
        ruler,
    ]
    for name in ("text", "gzip"):
        lines += [
            row(f"{name} p50", lambda r, n=name: f"{r['scrape'][n + '_p50'] * 1000:.2f} ms"),
            row(f"{name} p99", lambda r, n=name: f"{r['scrape'][n + '_p99'] * 1000:.2f} ms"),
            row(f"{name} baseline p99", lambda r, n=name: f"{r['scrape'][n + '_baseline_p99'] * 1000:.0f} ms"),
            row(
                f"{name} p99 speed-up",
                lambda r, n=name: f"{r['scrape'][n + '_baseline_p99'] / r['scrape'][n + '_p99']:.0f}x",
            ),
        ]
    lines += [
        "",
        f"Full poll (wall, best of the polls) against the rate-limit bound (requests / {RATE:g} per s)",
        "",
        f"| services | {sizes} |",
        ruler,
        row("requests per poll", lambda r: f"{r['requests']}"),
        row("bound", lambda r: f"{r['requests'] / RATE:.2f} s"),
        row("full poll", lambda r: f"{r['poll_wall']:.2f} s"),
        row("ratio", lambda r: f"{r['poll_wall'] / (r['requests'] / RATE):.2f}"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000,20000", help="services per run, comma-separated")
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=200, help="scrapes per format (the baseline makes 1/20)")
    parser.add_argument("--latency", type=float, default=LATENCY, help="simulated latency per answer (seconds)")
    parser.add_argument("--once", action="store_true", help="also run `tione-exporter once` at the largest size")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--no-trim", action="store_true", help="measure without trimming the heap after a poll")
    parser.add_argument("--sources", default="off", help=f"modes, comma-separated, each measured: {', '.join(MODES)}")
    parser.add_argument("--holders", type=int, default=2000, help="unfinished tasks and notebooks of --sources holders")
    parser.add_argument(
        "--timed-out",
        type=float,
        metavar="SECONDS",
        help="instead: polls that succeed, then polls with this --poll.timeout, which they do not meet (raise "
        "--latency so that the listing is slower than the rate limit, or its budget check refuses it at once)",
    )
    args = parser.parse_args(argv)
    if args.no_trim:
        os.environ[NO_TRIM] = "1"
    if args.timed_out is not None:
        for size in (int(part) for part in args.sizes.split(",")):
            print(stress_report(stress(size, args.polls, args.latency, args.timed_out)), flush=True)
        return 0

    sizes = [int(part) for part in args.sizes.split(",")]
    print(
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; "
        f"latency {args.latency * 1000:g} ms, rate {RATE:g}/s, {args.polls} polls, "
        f"trim {'off' if args.no_trim else 'on'}, "
        f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')}",
        flush=True,
    )
    results = []
    os.environ[HOLDERS] = str(args.holders)
    for size in sizes:
        for sources in args.sources.split(","):
            if sources not in MODES:
                parser.error(f"--sources: {sources!r} is not one of {', '.join(MODES)}")
            os.environ[SOURCES] = sources
            started = time.monotonic()
            results.append(measure(size, args.polls, args.scrapes, args.latency) | {"sources": sources})
            print(f"{size:,} services, {sources}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(report(results))
    once = once_run(max(sizes), args.latency) if args.once else None
    if once is not None:
        print()
        print(f"`once` at {once['services']:,} services (peak memory of the process, bytes written):")
        for output in ("text", "openmetrics"):
            print(f"- {output}: peak {once[output]['peak_mib']:.0f} MiB, wrote {once[output]['written_mib']:.1f} MiB")
    if args.json is not None:
        args.json.write_text(json.dumps({"results": results, "once": once}, indent=2) + "\n")
    return 1 if any("error" in result for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
