"""Heavy and hostile scrapers against a large fleet: polls must not notice, memory must stay bounded.

The exporter (a child process, as deployed) polls a simulated API (another child process) holding about
4,000 services in two regions, an exposition of 50 MB with every state of every state set
(`--metrics.state-sets full`; about 16 MB with the default selection). After an idle phase that sets the baseline
(the highest resident memory seen while polls land), 32 scrapers read the metrics uncompressed back to
back, 100 clients ask for them and never read a byte (asking again whenever the exporter drops them),
and a probe times `/-/healthy` every 50 ms, for 60 s. Targets (issue #11): zero poll failures, peak
resident memory at most twice the idle peak, every normal scrape answered in full.

    python -m bench.bench_scrapers [--groups 1300] [--seconds 60] [--scrapers 32] [--never-readers 100]
                                   [--state-sets full]

Results are recorded in docs/performance.md ("Heavy and hostile scrapers").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.hostile import Exporter, Simulator, Tally, get, never_reader, probing, run_clients, scraper


def sample_rss(exporter: Exporter, stop: threading.Event, peaks: list[int], fds: list[int]) -> None:
    while not stop.wait(0.25):
        try:
            peaks.append(exporter.rss())
            fds.append(exporter.descriptors())
        except (OSError, AssertionError):
            return


def poll_figures(exporter: Exporter) -> tuple[float, float, float]:
    """(polls, failed polls, seconds spent polling), every region together."""
    return (
        exporter.total("tione_exporter_polls_total"),
        exporter.total("tione_exporter_poll_errors_total"),
        exporter.total("tione_exporter_poll_duration_seconds_sum"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1300, help="service groups per region (1,300: ~4,000 services)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--idle-seconds", type=float, default=35.0)
    parser.add_argument("--scrapers", type=int, default=32)
    parser.add_argument("--never-readers", type=int, default=100)
    parser.add_argument("--interval", default="15s", help="--poll.interval of the exporter")
    parser.add_argument("--timeout", default="12s", help="--poll.timeout of the exporter")
    parser.add_argument(
        "--state-sets", default="full", help="--metrics.state-sets of the exporter (full: the largest exposition)"
    )
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-scrapers-"))
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; logs in {work}")
    simulator = Simulator(work / "simulator.log", groups=args.groups)
    try:
        exporter = Exporter(
            simulator,
            work / "exporter.log",
            "--poll.interval",
            args.interval,
            "--poll.timeout",
            args.timeout,
            "--metrics.state-sets",
            args.state_sets,
            ready_timeout=120,
        )
        try:
            return run(exporter, args)
        finally:
            code = exporter.stop()
            print(f"stop: exit {code}")
    finally:
        simulator.stop()


def run(exporter: Exporter, args: argparse.Namespace) -> int:
    status, body = get(exporter.address, "/metrics", timeout=60)
    services = exporter.total("tione_exporter_services")
    print(f"fleet: {services:.0f} services, exposition {len(body) / 1e6:.1f} MB (status {status})")

    stop = threading.Event()
    rss: list[int] = []
    fds: list[int] = []
    sampler = threading.Thread(target=sample_rss, args=(exporter, stop, rss, fds), daemon=True)
    sampler.start()
    before = poll_figures(exporter)
    with probing(exporter.address) as idle_probes:
        time.sleep(args.idle_seconds)
    idle = poll_figures(exporter)
    idle_rss, idle_fds = max(rss), max(fds)
    rss.clear()
    fds.clear()
    print(
        f"idle {args.idle_seconds:g}s: peak RSS {idle_rss / 1e6:.0f} MB, {idle_fds} descriptors, "
        f"{idle[0] - before[0]:.0f} polls, mean {(idle[2] - before[2]) / max(1, idle[0] - before[0]):.2f}s, "
        f"/-/healthy p99 {idle_probes.p99() * 1000:.1f} ms"
    )

    scrapes, stalled = Tally(), Tally()
    with probing(exporter.address) as probes:
        run_clients(
            [(scraper, args.scrapers, scrapes), (never_reader, args.never_readers, stalled)],
            exporter.address,
            args.seconds,
        )
    loaded = poll_figures(exporter)
    stop.set()
    sampler.join()
    peak_rss, peak_fds = max(rss), max(fds)
    polls = loaded[0] - idle[0]
    failed = loaded[1] - idle[1]
    mean = (loaded[2] - idle[2]) / max(1, polls)
    whole = sum(1 for size in scrapes.sizes if size >= 0.9 * len(body))
    print(
        f"loaded {args.seconds:g}s ({args.scrapers} scrapers, {args.never_readers} never-readers): "
        f"{polls:.0f} polls, {failed:.0f} failed, mean {mean:.2f}s; "
        f"{scrapes.answers} scrapes ({whole} whole, {len(scrapes.failures)} failures), "
        f"{stalled.answers} never-read requests; peak RSS {peak_rss / 1e6:.0f} MB "
        f"({peak_rss / idle_rss:.2f} x idle), peak {peak_fds} descriptors; "
        f"/-/healthy p50 {sorted(probes.latencies)[len(probes.latencies) // 2] * 1000:.1f} ms "
        f"p99 {probes.p99() * 1000:.1f} ms max {max(probes.latencies) * 1000:.1f} ms "
        f"({len(probes.failures)} failures of {probes.answers})"
    )
    problems = []
    if failed:
        problems.append(f"{failed:.0f} polls failed")
    if peak_rss > 2 * idle_rss:
        problems.append(f"peak RSS {peak_rss / idle_rss:.2f} x idle")
    if scrapes.failures or whole != scrapes.answers:
        problems.append(f"scrapes not answered in full: {scrapes.failures[:3]}")
    if probes.failures:
        problems.append(f"/-/healthy failed: {probes.failures[:3]}")
    for problem in problems:
        print(f"FAIL: {problem}")
    if not problems:
        print("PASS: zero poll failures, RSS within 2 x idle, every scrape answered in full")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
