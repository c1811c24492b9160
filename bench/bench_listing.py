"""How close a full listing of a large region gets to the token bucket's lower bound.

A region of 5,000 service groups takes 50 pages of 100. At a bucket of 20 requests per second no
listing can take less than pages / rate = 2.5 s, however fast the API answers; the rest is ours: the
first page that must come back before the others can be asked for, the latency of the last one,
decoding and validating each page (close to a megabyte of JSON), and the one-group overlap between
pages that lets a listing notice a fleet changing under it (51 requests instead of 50). The bench
fails when a listing takes more than 1.2 times the bound.

The simulated API runs in a child process, as the real one is elsewhere: in this process its JSON
encoding would compete with the client for the interpreter. Its own rate limit is set well above the
bucket so that only the bucket paces the listing, and every answer is delayed by the given latency.

    python -m bench.bench_listing [--groups 5000] [--rate 20] [--latency 0.1] [--repeat 3] [--max-ratio 1.2]

Results are recorded in docs/performance.md ("Listing").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time
from multiprocessing.connection import Connection

from exporter.simulator.config import SimulatorConfig
from exporter.simulator.server import SimulatorServer
from exporter.tencentcloud.client import ClientHooks, TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione.listing import LIMIT, ListingQuery, scan_service_groups

REGION = "ap-guangzhou"
SECRET_ID, SECRET_KEY = "AKIDbench", "bench-secret-key"
STARTUP_TIMEOUT = 60.0


def serve(connection: Connection, groups: int, latency: float, rate_limit: float) -> None:
    """Child process: a simulator with `groups` groups in the default workspace, until told to stop."""
    config = SimulatorConfig(
        groups=0,
        regions=(REGION,),
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        latency=latency,
        rate_limit=rate_limit,
        churn=False,
    )
    with SimulatorServer(config) as simulator:
        simulator.add_groups(REGION, groups, project_id="")
        # The fleet stays as built: kept out of the collector, whose passes over its half a million objects
        # would otherwise slow every answer (at 20,000 services, past the client's 20 requests a second).
        gc.freeze()
        connection.send(simulator.url)
        connection.recv()
        connection.send((simulator.request_count, simulator.rate_limited_count))


class Retries(ClientHooks):
    def __init__(self) -> None:
        self.retries = 0
        self.errors: list[str] = []

    def on_retry(self, region: str, action: str) -> None:
        self.retries += 1

    def on_error(self, region: str, action: str, code: str) -> None:
        self.errors.append(code)


async def run(url: str, args: argparse.Namespace) -> list[tuple[float, int, int]]:
    """(seconds, groups found, requests) per repeat; each repeat starts with a full bucket."""
    hooks = Retries()
    results = []
    async with TencentCloudClient(
        endpoint=url,
        service="tione",
        version="2021-11-11",
        credentials=Credentials(SECRET_ID, SECRET_KEY),
        hooks=hooks,
    ) as client:
        for _ in range(args.repeat):
            # Like the exporter between polls: the previous listing's models are gone, the bucket is full.
            gc.collect()
            client.rate_limiter = TokenBucket(rate=args.rate, burst=2)
            await asyncio.sleep(0.2)
            start = time.monotonic()
            result = await scan_service_groups(client, REGION, ListingQuery(), deadline=start + 60)
            results.append((time.monotonic() - start, len(result.groups), result.requests))
            del result
    if hooks.retries or hooks.errors:
        print(f"warning: {hooks.retries} retries, errors {sorted(set(hooks.errors))}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=20.0, help="token bucket rate (requests per second)")
    parser.add_argument("--latency", type=float, default=0.1, help="simulated latency per answer (seconds)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-ratio", type=float, default=1.2)
    args = parser.parse_args(argv)

    pages = max(1, math.ceil(args.groups / LIMIT))
    bound = pages / args.rate
    simulator_limit = max(100.0, args.rate * 5)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=serve, args=(theirs, args.groups, args.latency, simulator_limit), daemon=True)
    child.start()
    try:
        if not ours.poll(STARTUP_TIMEOUT):
            print(f"FAIL: the simulator did not start within {STARTUP_TIMEOUT:g} s (exit code {child.exitcode})")
            return 1
        url = ours.recv()
        results = asyncio.run(run(url, args))
        ours.send("stop")
        requests_seen, rate_limited = ours.recv()
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()

    cpu = platform.processor() or platform.machine()
    python = sys.version.split()[0]
    print(f"machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), Python {python}")
    print(
        f"listing {args.groups} groups ({pages} pages of {LIMIT}) at a bucket of {args.rate:g}/s, "
        f"latency {args.latency * 1000:g} ms, simulator limit {simulator_limit:g}/s"
    )
    print(f"lower bound (pages / rate): {bound:.3f} s")
    for index, (seconds, found, requests) in enumerate(results, 1):
        print(f"run {index}: {seconds:.3f} s, ratio {seconds / bound:.3f}, {found} groups, {requests} requests")
    best = min(seconds for seconds, _, _ in results)
    median = statistics.median(seconds for seconds, _, _ in results)
    ratio = best / bound
    print(
        f"best {best:.3f} s, median {median:.3f} s; measured ratio (best / bound): {ratio:.3f} (limit {args.max_ratio})"
    )
    print(f"simulator: {requests_seen} requests, {rate_limited} rate-limited")

    failures = []
    if ratio > args.max_ratio:
        failures.append(f"ratio {ratio:.3f} is over {args.max_ratio}")
    if any(found != args.groups for _, found, _ in results):
        failures.append(f"a listing did not return exactly {args.groups} groups")
    if rate_limited:
        failures.append(f"{rate_limited} requests were rate-limited by the simulator")
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
