"""Soak: thousands of polls of a churning fleet at a short interval while scrapers never let up.

A leak that costs a few kilobytes per poll or per scrape is invisible in every other test and fatal
after a week: an exporter polling every 30 s makes 20,000 polls of a region a week. This runs the real
command (`python -m exporter run`, from this tree) against the simulator's command with churn on, polls
at a short interval so that the polls of a week pass in minutes, and scrapes it all the while with a mix
of every answer it gives (text and OpenMetrics, gzip and not, the status page, the attention JSON, the
probes; some on kept-alive connections, some on fresh ones). Every few seconds it reads the process's
resident memory, open descriptors and threads from `/proc`, and its poll counters from `/metrics`.

The first polls are the warm-up: caches fill, the worker threads start, the allocator takes its arenas.
After that, memory at the end must be within `--max-growth` (10 %) of what it was at the end of the
warm-up (each the median of a few samples; what the allocator keeps and never gives back counts, a
transient peak while a scrape's buffers are in flight does not, and is reported beside), the descriptor
count must stay flat and the threads within the exporter's ceiling (`exporter.app.THREAD_CEILING`).
Every poll must succeed, every scrape must be answered, the process must live to the end and exit 0 on
SIGTERM. The bench exits 1 when any of that fails.

    python -m bench.soak [--polls 2000] [--interval 0.5] [--groups 25] [--scrapers 2] [--json PATH]

`--polls` counts the polls of each of the two regions. Results are recorded in docs/performance.md
("Soak"); `tests/integration/test_soak.py` runs a shortened soak in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from exporter.app import THREAD_CEILING

REPO = Path(__file__).resolve().parent.parent
REGIONS = ("ap-guangzhou", "ap-shanghai")
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
REQUESTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("text gzip", "/metrics", {"accept-encoding": "gzip"}),
    ("text", "/metrics", {"accept-encoding": "identity"}),
    ("openmetrics gzip", "/metrics", {"accept": OPENMETRICS, "accept-encoding": "gzip"}),
    ("openmetrics", "/metrics", {"accept": OPENMETRICS, "accept-encoding": "identity"}),
    ("page", "/", {"accept-encoding": "gzip"}),
    ("attention", "/api/v1/attention", {}),
    ("healthy", "/-/healthy", {}),
)
"""What the scrapers ask for, in turn: every answer the exporter gives, in each encoding it offers."""

SETTLE_SAMPLES = 5
"""Samples whose median is the memory at the end of the warm-up and at the end of the soak."""

FRESH_CONNECTION_EVERY = 25
"""A scraper drops its connection and opens a new one after this many requests: sockets come and go."""

_COUNTER = re.compile(r'^(tione_exporter_polls_total|tione_exporter_poll_errors_total)\{region="([^"]*)"\} (\S+)$')
_SERVICES = re.compile(r'^tione_exporter_services\{region="([^"]*)"\} (\S+)$')


@dataclass
class Sample:
    """The exporter process at one moment."""

    seconds: float
    polls: int
    """Polls of the least polled region so far."""
    rss_kib: int
    fds: int
    threads: int
    services: int


@dataclass
class Result:
    polls: dict[str, int]
    poll_errors: dict[str, int]
    samples: list[Sample]
    warmup_polls: int
    scrapes: dict[str, int]
    scrape_failures: dict[str, int]
    exit_code: int | None
    died: bool
    seconds: float
    log_lines: int
    failed_poll_lines: list[str] = field(default_factory=list)
    """The exporter's log lines about failed polls (the first few): why they failed."""
    failures: list[str] = field(default_factory=list)

    @property
    def warm(self) -> Sample:
        """The first sample at or after the end of the warm-up."""
        return next(s for s in self.samples if s.polls >= self.warmup_polls)

    @property
    def after_warmup(self) -> list[Sample]:
        return [s for s in self.samples if s.polls >= self.warmup_polls]

    @property
    def end(self) -> Sample:
        return self.samples[-1]

    @property
    def warm_rss_kib(self) -> int:
        """Memory at the end of the warm-up: the median of the first samples after it (one sample may
        catch a scrape's buffers or a poll's answer in flight)."""
        return int(statistics.median(s.rss_kib for s in self.after_warmup[:SETTLE_SAMPLES]))

    @property
    def end_rss_kib(self) -> int:
        """Memory at the end: the median of the last samples, what the process keeps."""
        return int(statistics.median(s.rss_kib for s in self.after_warmup[-SETTLE_SAMPLES:]))

    def growth(self, rss_kib: int) -> float:
        return rss_kib / self.warm_rss_kib - 1.0

    @property
    def peak_rss_kib(self) -> int:
        return max(s.rss_kib for s in self.after_warmup)

    def slope_kib_per_1000_polls(self) -> float:
        """Least-squares slope of memory against polls after the warm-up: a leak's rate, whatever the noise."""
        points = self.after_warmup
        if len(points) < 2 or points[0].polls == points[-1].polls:
            return 0.0
        return 1000 * statistics.linear_regression([s.polls for s in points], [s.rss_kib for s in points]).slope


def _kib(line: str) -> int:
    return int(line.split()[1])


def measure(pid: int) -> tuple[int, int, int]:
    """Resident memory (KiB), open descriptors and threads of a process, from /proc."""
    rss = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = _kib(line)
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


def counters(text: str) -> tuple[dict[str, int], dict[str, int], int]:
    """Polls and failed polls per region, and services in all regions, from an exposition."""
    polls: dict[str, int] = {}
    errors: dict[str, int] = {}
    services = 0
    for line in text.splitlines():
        if not line.startswith("tione_exporter_"):
            continue
        match = _COUNTER.match(line)
        if match:
            name, region, value = match.groups()
            (polls if name == "tione_exporter_polls_total" else errors)[region] = int(float(value))
            continue
        match = _SERVICES.match(line)
        if match:
            services += int(float(match.group(2)))
    return polls, errors, services


def _clean_environment(home: Path) -> dict[str, str]:
    """This environment without Tencent Cloud or exporter settings, importing this tree first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "TIONE_", "TKE_"))}
    env["HOME"] = str(home)  # no credentials file of the user's
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return env


def _wait_for_line(log: Path, pattern: str, process: subprocess.Popen[bytes]) -> re.Match[str]:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace"))
        if match:
            return match
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"no line matching {pattern!r} in {log}:\n{log.read_text(errors='replace')[-2000:]}")


@contextlib.contextmanager
def _process(args: Sequence[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process logging to `log`, killed if it outlives the block (the caller may stop it first)."""
    with log.open("wb") as out:
        process = subprocess.Popen(list(args), env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL, cwd=REPO)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class Scrapers:
    """Threads that scrape the exporter without pause (but `pause` seconds between two requests each)."""

    def __init__(self, base_url: str, count: int, pause: float) -> None:
        self.base_url = base_url
        self.pause = pause
        self.done = Counter[str]()
        self.failed = Counter[str]()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(count)]

    def __enter__(self) -> Scrapers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, number: int) -> None:
        requests = itertools.cycle(REQUESTS[number % len(REQUESTS) :] + REQUESTS[: number % len(REQUESTS)])
        while not self._stop.is_set():
            with httpx.Client(base_url=self.base_url, timeout=30.0) as client:
                for _ in range(FRESH_CONNECTION_EVERY):
                    if self._stop.wait(self.pause):
                        return
                    kind, path, headers = next(requests)
                    self._one(client, kind, path, headers)

    def _one(self, client: httpx.Client, kind: str, path: str, headers: dict[str, str]) -> None:
        try:
            with client.stream("GET", path, headers=headers) as response:
                size = sum(len(chunk) for chunk in response.iter_raw())  # as sent: gzip stays compressed
                ok = response.status_code == 200 and size > 0
                problem = f"{kind}: HTTP {response.status_code}, {size} bytes"
        except httpx.HTTPError as exc:
            ok, problem = False, f"{kind}: {exc!r}"
        with self._lock:
            if ok:
                self.done[kind] += 1
            else:
                self.failed[kind] += 1
                if len(self.errors) < 20:
                    self.errors.append(problem)


def soak(
    polls: int = 2000,
    *,
    interval: float = 0.5,
    groups: int = 25,
    scrapers: int = 2,
    pause: float = 0.05,
    warmup: float = 0.1,
    sample_every: float = 2.0,
    max_growth: float = 0.10,
    fd_slack: int = 4,
    progress: bool = False,
    keep_log: Path | None = None,
) -> Result:
    """Run the soak: `polls` polls of each region after a warm-up of `warmup` times `polls` polls (included)."""
    secret_id, secret_key = "AKID" + secrets.token_hex(16), secrets.token_urlsafe(24)
    warmup_polls = max(1, int(polls * warmup))
    with tempfile.TemporaryDirectory(prefix="soak-") as directory:
        tmp = Path(directory)
        env = _clean_environment(tmp)
        simulator_env = env | {"TIONE_SIMULATOR_SECRET_ID": secret_id, "TIONE_SIMULATOR_SECRET_KEY": secret_key}
        simulator_args = [
            sys.executable,
            "-m",
            "exporter",
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--regions",
            ",".join(REGIONS),
            "--groups",
            str(groups),
            "--rate-limit",
            "0",
            "--churn-interval",
            f"{interval}s",
        ]
        with _process(simulator_args, simulator_env, tmp / "simulator.log") as simulator:
            url = _wait_for_line(tmp / "simulator.log", r"url=(\S+)", simulator).group(1)
            exporter_env = env | {"TENCENTCLOUD_SECRET_ID": secret_id, "TENCENTCLOUD_SECRET_KEY": secret_key}
            exporter_args = [
                sys.executable,
                "-m",
                "exporter",
                "run",
                "--tione.endpoint",
                url,
                "--monitor.endpoint",
                url,
                "--tione.regions",
                ",".join(REGIONS),
                "--poll.interval",
                f"{interval}s",
                "--web.listen-address",
                "127.0.0.1:0",
                "--api.rate-limit",
                "200",
                "--capacity.interval",
                "5s",
                "--tione.discovery-interval",
                "10s",
                "--events.refresh-interval",
                "5s",
            ]
            log = tmp / "exporter.log"
            with _process(exporter_args, exporter_env, log) as exporter:
                address = _wait_for_line(log, r"msg=serving address=(\S+)", exporter).group(1)
                result = _drive(
                    exporter,
                    f"http://{address}",
                    polls=polls,
                    warmup_polls=warmup_polls,
                    scrapers=scrapers,
                    pause=pause,
                    sample_every=sample_every,
                    progress=progress,
                )
                lines = log.read_text(errors="replace").splitlines()
                result.log_lines = len(lines)
                result.failed_poll_lines = [line for line in lines if 'msg="poll failed"' in line][:10]
                if keep_log is not None:
                    keep_log.write_text("\n".join(lines) + "\n")
        result.failures = judge(result, polls=polls, max_growth=max_growth, fd_slack=fd_slack)
        return result


def _drive(
    exporter: subprocess.Popen[bytes],
    base_url: str,
    *,
    polls: int,
    warmup_polls: int,
    scrapers: int,
    pause: float,
    sample_every: float,
    progress: bool,
) -> Result:
    started = time.monotonic()
    samples: list[Sample] = []
    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    died = False
    with httpx.Client(base_url=base_url, timeout=30.0) as probe, Scrapers(base_url, scrapers, pause) as load:
        while True:
            if exporter.poll() is not None:
                died = True
                break
            counts, errors, services = counters(probe.get("/metrics").text)
            done = min((counts.get(region, 0) for region in REGIONS), default=0)
            rss, fds, threads = measure(exporter.pid)
            samples.append(Sample(round(time.monotonic() - started, 1), done, rss, fds, threads, services))
            if progress:
                print(f"  {samples[-1]}", file=sys.stderr, flush=True)
            if done >= polls:
                break
            time.sleep(sample_every)
    exit_code: int | None = exporter.returncode
    if not died:
        exporter.send_signal(signal.SIGTERM)
        try:
            exit_code = exporter.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            exit_code = None
    return Result(
        polls=counts,
        poll_errors=errors,
        samples=samples,
        warmup_polls=warmup_polls,
        scrapes=dict(load.done),
        scrape_failures=dict(load.failed) | ({"examples": len(load.errors)} if load.errors else {}),
        exit_code=exit_code,
        died=died,
        seconds=round(time.monotonic() - started, 1),
        log_lines=0,
    )


def judge(result: Result, *, polls: int, max_growth: float, fd_slack: int) -> list[str]:
    """What went wrong, one line each; empty when the soak passed."""
    failures = []
    if result.died:
        failures.append("the exporter died during the soak")
    if result.exit_code != 0:
        failures.append(f"the exporter exited {result.exit_code} on SIGTERM (want 0 within {STOP_TIMEOUT:g} s)")
    if min(result.polls.get(region, 0) for region in REGIONS) < polls:
        failures.append(f"fewer than {polls} polls of a region: {result.polls}")
    if any(result.poll_errors.values()):
        failures.append(f"failed polls: {result.poll_errors}: {result.failed_poll_lines[:3]}")
    if result.scrape_failures:
        failures.append(f"failed scrapes: {result.scrape_failures}")
    if not result.after_warmup:
        return [*failures, "no sample after the warm-up"]
    warm = result.warm
    if result.growth(result.end_rss_kib) > max_growth:
        failures.append(
            f"memory at the end {result.end_rss_kib} KiB is {result.growth(result.end_rss_kib):+.1%} over "
            f"{result.warm_rss_kib} KiB after the warm-up"
        )
    most_fds = max(s.fds for s in result.after_warmup)
    if most_fds > warm.fds + fd_slack:
        failures.append(f"descriptors grew from {warm.fds} to {most_fds} after the warm-up")
    # The worker pools start threads on demand, late in a run too: held to the exporter's ceiling, not to the
    # count after the warm-up.
    most_threads = max(s.threads for s in result.after_warmup)
    if most_threads > THREAD_CEILING:
        failures.append(f"threads reached {most_threads}, over the exporter's ceiling of {THREAD_CEILING}")
    return failures


def summary(result: Result) -> str:
    if not result.after_warmup:
        return "\n".join(["no sample after the warm-up", *(f"FAIL: {failure}" for failure in result.failures)])
    warm, end = result.warm, result.end
    lines = [
        f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}",
        f"{result.seconds:g} s; polls {result.polls}, failed {result.poll_errors}; "
        f"scrapes {sum(result.scrapes.values())} {result.scrapes}, failed {result.scrape_failures or 0}; "
        f"exit {result.exit_code}; {result.log_lines} log lines",
        f"warm-up {result.warmup_polls} polls: RSS {result.warm_rss_kib / 1024:.1f} MiB, {warm.fds} fds, "
        f"{warm.threads} threads, {warm.services} services",
        f"end at {end.polls} polls: RSS {result.end_rss_kib / 1024:.1f} MiB "
        f"({result.growth(result.end_rss_kib):+.1%}), "
        f"peak {result.peak_rss_kib / 1024:.1f} MiB ({result.growth(result.peak_rss_kib):+.1%}), "
        f"slope {result.slope_kib_per_1000_polls():+.0f} KiB per 1,000 polls; "
        f"fds {min(s.fds for s in result.after_warmup)}..{max(s.fds for s in result.after_warmup)}, "
        f"threads {min(s.threads for s in result.after_warmup)}..{max(s.threads for s in result.after_warmup)}, "
        f"services {min(s.services for s in result.after_warmup)}..{max(s.services for s in result.after_warmup)}",
        "",
        "| polls | seconds | RSS MiB | fds | threads | services |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    step = max(1, len(result.samples) // 12)
    shown = result.samples[::step] + ([end] if result.samples[::step][-1] is not end else [])
    lines += [
        f"| {s.polls} | {s.seconds:g} | {s.rss_kib / 1024:.1f} | {s.fds} | {s.threads} | {s.services} |" for s in shown
    ]
    lines.append("")
    lines += [f"FAIL: {failure}" for failure in result.failures] or ["PASS"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, default=2000, help="polls of each region, warm-up included")
    parser.add_argument("--interval", type=float, default=0.5, help="poll interval and churn step, seconds")
    parser.add_argument("--groups", type=int, default=25, help="service groups per region")
    parser.add_argument("--scrapers", type=int, default=2, help="threads scraping without end")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between two requests of a scraper")
    parser.add_argument("--warmup", type=float, default=0.1, help="share of the polls that is warm-up")
    parser.add_argument("--max-growth", type=float, default=0.10, help="allowed memory growth after the warm-up")
    parser.add_argument("--json", type=Path, help="also write every sample and count to this file")
    parser.add_argument("--log", type=Path, help="keep the exporter's log in this file")
    args = parser.parse_args(argv)
    result = soak(
        args.polls,
        interval=args.interval,
        groups=args.groups,
        scrapers=args.scrapers,
        pause=args.pause,
        warmup=args.warmup,
        max_growth=args.max_growth,
        progress=True,
        keep_log=args.log,
    )
    print(summary(result))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=1) + "\n")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
