"""How close a full poll of a large region (listing, then the samples and the exposition) gets to the
token bucket's lower bound.

`bench_listing` measures the listing alone; a poll then turns the groups into sample lines
(`collect_region`, with the status page's rows) and renders the exposition, and the data is only as
fresh as the end of all that. Here the exporter's own `Poller` runs one region whose only source is the
listing, against the simulated API in a child process (as in `bench_listing`: 5,000 groups, 100 ms per
answer, a bucket of 20 requests/s, so the bound is pages / rate = 2.5 s).

    python -m bench.bench_poll [--groups 5000] [--rate 20] [--latency 0.1] [--repeat 3] [--max-ratio 1.3]

Fails when the best poll takes more than `--max-ratio` times the bound. Results are recorded in
docs/performance.md ("Decoding").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import multiprocessing
import platform
import sys
import time
from dataclasses import replace

from bench.bench_listing import SECRET_ID, SECRET_KEY, STARTUP_TIMEOUT, serve
from exporter.poller import Poller, PollPlan
from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione import listing, service_groups
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import Sink

REGION = "ap-guangzhou"


class Recorder:
    """The self-metrics the poller reports to, reduced to the request count it asks for."""

    def record_poll(self, region: str, *, success: bool, duration: float, finished_at: float) -> None:
        pass

    def set_inventory(self, region: str, groups: int, services: int, unlisted_workspaces: int = 0) -> None:
        pass

    def record_skipped(self, region: str, kind: str, reason: str, count: int = 1) -> None:
        pass

    def forget_inventory(self, region: str) -> None:
        pass

    def requests_made(self, region: str) -> int:
        return 0


async def run(url: str, args: argparse.Namespace) -> list[tuple[float, float, float, float, int, int]]:
    """(poll seconds, seconds to the end of the listing, process CPU seconds, of which after the listing,
    groups, services) per repeat; each starts with a full bucket."""
    results = []
    async with TencentCloudClient(
        endpoint=url, service="tione", version="2021-11-11", credentials=Credentials(SECRET_ID, SECRET_KEY)
    ) as client:
        source = service_groups.source(client, listing.ListingQuery())
        listed: list[float] = []
        listed_cpu: list[float] = []

        async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> listing.ListingResult:
            result = await source.fetch(region, snapshot, deadline, sink)
            listed.append(time.monotonic())
            listed_cpu.append(time.process_time())
            return result

        plan = PollPlan(regions=(REGION,), sources=(replace(source, fetch=fetch),), interval=60, timeout=60)
        poller = Poller(plan, Recorder())
        for _ in range(args.repeat):
            gc.collect()
            client.rate_limiter = TokenBucket(rate=args.rate, burst=2)
            await asyncio.sleep(0.2)
            started, before = time.monotonic(), time.process_time()
            status = await poller.poll(REGION)
            seconds, cpu = time.monotonic() - started, time.process_time() - before
            if status.outcome != "success":
                raise SystemExit(f"FAIL: the poll failed: {status.error_code} {status.error_message}")
            tail_cpu = cpu - (listed_cpu[-1] - before)
            results.append(
                (seconds, listed[-1] - started, cpu, tail_cpu, status.service_groups or 0, status.services or 0)
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=20.0, help="token bucket rate (requests per second)")
    parser.add_argument("--latency", type=float, default=0.1, help="simulated latency per answer (seconds)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-ratio", type=float, default=1.3)
    args = parser.parse_args(argv)

    pages = max(1, math.ceil(args.groups / listing.LIMIT))
    bound = pages / args.rate
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    limit = max(100.0, args.rate * 5)
    child = context.Process(target=serve, args=(theirs, args.groups, args.latency, limit), daemon=True)
    child.start()
    try:
        if not ours.poll(STARTUP_TIMEOUT):
            print(f"FAIL: the simulator did not start within {STARTUP_TIMEOUT:g} s (exit code {child.exitcode})")
            return 1
        results = asyncio.run(run(ours.recv(), args))
        ours.send("stop")
        ours.recv()
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()

    print(
        f"Python {platform.python_version()}; {args.groups} groups, {pages} pages, bucket {args.rate:g}/s, "
        f"latency {args.latency * 1000:g} ms; bound {bound:.3f} s"
    )
    for index, (seconds, listed, cpu, tail_cpu, groups, services) in enumerate(results, 1):
        print(
            f"poll {index}: {seconds:.3f} s ({seconds / bound:.2f}x the bound; listing {listed:.3f} s = "
            f"{listed / bound:.2f}x, then {seconds - listed:.3f} s), CPU {cpu:.2f} s of which {tail_cpu:.2f} s "
            f"after the listing; {groups} groups, {services} services"
        )
    best = min(seconds for seconds, *_ in results)
    ratio = best / bound
    print(f"best {best:.3f} s: {ratio:.2f}x the bound (limit {args.max_ratio:g})")
    if ratio > args.max_ratio or any(groups != args.groups for *_, groups, _ in results):
        print("FAIL")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
