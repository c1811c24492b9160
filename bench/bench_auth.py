"""Basic auth under abuse: what a refusal tells, and what a flood of wrong passwords costs the scrapes.

The exporter (a child process) with bcrypt hashes of cost 12 polls a simulated API (another child process).
First, refusals of a known user with a wrong password and of an unknown user are timed by turns (their
medians must be within 2x: the time must not tell whether a user exists) and a 100-byte password must be
refused with 401 and no log line. Then 60 connections send wrong passwords as fast as they are refused
while a separate process times a gzip scrape with the right credentials every 200 ms, for 30 s. Targets
(issue #22): medians within 2x, every gzip scrape under 1 s, no log line.

    python -m bench.bench_auth [--groups 400] [--seconds 30] [--connections 60] [--cost 12]

Results are recorded in docs/performance.md ("Basic auth under abuse").
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.hostile import (
    Exporter,
    Simulator,
    Tally,
    basic_authorization,
    get,
    probing,
    run_clients,
    web_files,
    wrong_passwords,
)

PASSWORD = "correct horse battery staple"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=400, help="service groups per region")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=60)
    parser.add_argument("--cost", type=int, default=12, help="bcrypt cost of the configured hash")
    parser.add_argument("--refusals", type=int, default=6, help="timed refusals of each kind")
    args = parser.parse_args(argv)
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        simulator = Simulator(root / "simulator.log", groups=args.groups)
        web = web_files(root, tls=False, users={"prometheus": PASSWORD}, cost=args.cost)
        exporter = Exporter(simulator, root / "exporter.log", "--poll.interval", "60s", web=web)
        try:

            def refusal(user: str, password: str = "wrong") -> float:
                started = time.monotonic()
                status, _ = get(exporter.address, "/metrics", headers=basic_authorization(user, password))
                if status != 401:
                    failures.append(f"{user}: status {status}")
                return time.monotonic() - started

            known, unknown = [], []
            for _ in range(args.refusals):
                known.append(refusal("prometheus"))
                unknown.append(refusal("nobody"))
            offset = len(exporter.log_text())
            long_password = refusal("prometheus", "p" * 100)
            scrape = "Accept-Encoding: gzip\r\n" + web.authorization
            get(exporter.address, "/metrics", headers=scrape)
            with probing(exporter.address, every=0.2, path="/metrics", headers=scrape) as idle:
                time.sleep(5)
            flood = Tally()
            with probing(exporter.address, every=0.2, path="/metrics", headers=scrape) as scrapes:
                run_clients([(wrong_passwords, args.connections, flood)], exporter.address, args.seconds)
            log = exporter.log_text()[offset:].splitlines()
            lines = [line for line in log if "logger=exporter.poller" not in line]
        finally:
            exporter.stop()
            simulator.stop()

    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print(f"bcrypt cost {args.cost}; refusal medians: known user {known_median:.3f}s, unknown {unknown_median:.3f}s")
    print(f"100-byte password refused in {long_password:.4f}s")
    idle_p50, idle_max = statistics.median(idle.latencies), max(idle.latencies)
    print(f"gzip scrapes idle: {idle.answers}, p50 {idle_p50:.3f}s, max {idle_max:.3f}s")
    print(
        f"{args.connections} connections of wrong passwords for {args.seconds:g}s: {flood.answers} refused "
        f"({flood.answers / args.seconds:.0f}/s); gzip scrapes {scrapes.answers}, "
        f"p50 {statistics.median(scrapes.latencies):.3f}s, p99 {scrapes.p99():.3f}s, max {max(scrapes.latencies):.3f}s"
    )
    print(f"log lines: {len(lines)}")
    if not 0.5 < known_median / unknown_median < 2.0:
        failures.append("refusal medians not within 2x")
    if max(scrapes.latencies) >= 1.0 or scrapes.failures:
        failures.append(f"gzip scrapes: max {max(scrapes.latencies):.3f}s, failures {scrapes.failures[:3]}")
    if lines:
        failures.append(f"log lines: {lines[:3]}")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
