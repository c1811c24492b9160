"""The real exporter, as a process, against clients that mean harm or are merely broken, over loopback.

Half-sent requests by the thousand under a 1,024-descriptor limit (slowloris), clients that ask for the
metrics and never read them, and many concurrent scrapers with slow readers among them, all while polls
land: polls keep succeeding, `/-/healthy` keeps answering, the log stays quiet, and the process's
memory and descriptors stay bounded. The simulated API runs in a child process of its own, so that the
load generated here cannot make the API look slow. Bounds are ratios or generous ceilings measured
within the run, never a wall-clock figure of this machine.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bench.hostile import (
    REQUEST,
    Exporter,
    Simulator,
    Tally,
    basic_authorization,
    connect,
    get,
    probing,
    run_clients,
    scraper,
    slow_reader,
    web_files,
    wrong_passwords,
)
from tests.conftest import REPO

FULL = ("--metrics.state-sets", "full")
"""Every state of every state set: the largest exposition a fleet gives, 10 MB for the `large` one."""
DESCRIPTORS = 1024
"""systemd's default descriptor limit, under which the slowloris flood used to starve the API client."""


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    simulator = Simulator(tmp_path_factory.mktemp("small") / "simulator.log", groups=8)
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """About 1,200 services: an exposition of roughly 10 MB (with `FULL`), big enough that a copy per client shows."""
    simulator = Simulator(tmp_path_factory.mktemp("large") / "simulator.log", groups=400)
    yield simulator
    simulator.stop()


def stop(exporter: Exporter) -> None:
    code = exporter.stop()
    log = exporter.log_text()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log


def test_slowloris_under_a_1024_descriptor_limit(small: Simulator, tmp_path: Path) -> None:
    """1,100 half-sent requests, kept dripping and reopened when closed, for 12 s: the flood never takes
    the descriptors the API client needs, the probe answers throughout, the log says so in a line or two."""
    exporter = Exporter(
        small, tmp_path / "exporter.log", "--poll.interval", "1s", "--web.header-timeout", "3s", descriptors=DESCRIPTORS
    )
    sockets: list[socket.socket | None] = []
    try:
        polls = exporter.total("tione_exporter_polls_total")
        errors = exporter.total("tione_exporter_poll_errors_total")
        offset = len(exporter.log_text())
        sockets = [connect(exporter.address, timeout=2) for _ in range(1100)]
        for sock in sockets:
            if sock is not None:
                sock.setblocking(False)
        reopened, peak = 0, 0

        def drip(address: tuple[str, int], stop: object, tally: Tally) -> None:
            nonlocal reopened, peak
            ends = time.monotonic() + 12
            while time.monotonic() < ends:
                for index, sock in enumerate(sockets):
                    try:
                        if sock is None:
                            raise OSError("closed")
                        sock.send(b"GET /metrics HTTP/1.1\r\n" if index % 2 else b"X")  # never the blank line
                    except OSError:
                        if sock is not None:
                            sock.close()
                        sockets[index] = fresh = connect(address, timeout=2)
                        if fresh is not None:
                            fresh.setblocking(False)
                        reopened += 1
                peak = max(peak, exporter.descriptors())
                time.sleep(0.5)

        with probing(exporter.address) as probes:
            run_clients([(drip, 1, Tally())], exporter.address, 12)
        assert exporter.process.poll() is None
        assert peak < DESCRIPTORS
        assert reopened > 200, "the exporter never closed a half-sent request: the flood did not test the limits"
        assert exporter.total("tione_exporter_poll_errors_total") == errors
        assert exporter.total("tione_exporter_polls_total") - polls >= 2 * 6  # two regions, one poll a second
        assert exporter.ups() == [1.0, 1.0]
        assert probes.failures == []
        assert probes.answers > 50
        lines = [line for line in exporter.log_text()[offset:].splitlines() if "logger=exporter.poller" not in line]
        assert len(lines) < 10, lines
        assert not any("Too many open files" in line for line in lines)
    finally:
        for sock in sockets:
            if sock is not None:
                sock.close()
        stop(exporter)


def test_clients_that_never_read_pin_neither_memory_nor_descriptors(large: Simulator, tmp_path: Path) -> None:
    """100 clients ask for a ~10 MB exposition and read nothing: memory grows by far less than one copy per
    client, normal scrapes still get whole answers (taking the place of a stalled one), and the stalled
    clients are cut off after the write timeout, giving their descriptors back."""
    # No poll lands while memory is measured: a new snapshot, and the allocator's keeping of what rendering
    # it took, would be counted against the stalled clients (the benchmark measures that case).
    exporter = Exporter(large, tmp_path / "exporter.log", *FULL, "--poll.interval", "30s", "--web.write-timeout", "3s")
    stalled: list[socket.socket] = []
    try:
        status, body = get(exporter.address, "/metrics")
        assert status == 200 and len(body) > 5_000_000
        for _ in range(3):
            get(exporter.address, "/metrics")
        idle_rss, idle_fds = exporter.rss(), exporter.descriptors()
        for _ in range(100):
            sock = connect(exporter.address, receive_buffer=4096)
            assert sock is not None
            sock.sendall(REQUEST)
            stalled.append(sock)
        time.sleep(1.5)
        held_rss, held_fds = exporter.rss(), exporter.descriptors()
        # The first 40 (`--web.max-concurrent-scrapes`) hold an answer they do not read; the others got a 503.
        assert held_fds >= idle_fds + 35
        assert held_rss - idle_rss < 2 * len(body)  # not a copy each: that would be 40 bodies and more
        for _ in range(3):  # a reader still gets the whole answer
            status, answer = get(exporter.address, "/metrics")
            assert status == 200
            assert len(answer) > 0.9 * len(body) and answer.endswith(b"\n")
        deadline = time.monotonic() + 8
        while exporter.descriptors() > idle_fds + 5:
            assert time.monotonic() < deadline, "the stalled clients were never disconnected"
            time.sleep(0.2)
        assert exporter.ups() == [1.0, 1.0]
    finally:
        for sock in stalled:
            sock.close()
        stop(exporter)


def test_concurrent_scrapers_and_slow_readers_do_not_delay_polls(large: Simulator, tmp_path: Path) -> None:
    """Twelve scrapers back to back and eight slow readers for 15 s while polls land every 3 s: no poll
    fails, polls take about as long as without the load, every scrape is whole, and the probe's 99th
    percentile stays below a poll's timeout. (Scrapes and polls once shared one event loop: five
    scrapers doubled a poll's duration, fifty made every poll time out.)"""
    exporter = Exporter(large, tmp_path / "exporter.log", *FULL, "--poll.interval", "3s", "--poll.timeout", "2500ms")
    try:
        with probing(exporter.address) as idle_probes:
            time.sleep(6)
        body = len(get(exporter.address, "/metrics")[1])
        durations = exporter.total("tione_exporter_poll_duration_seconds_sum")
        polls = exporter.total("tione_exporter_polls_total")
        errors = exporter.total("tione_exporter_poll_errors_total")
        idle_mean = durations / polls

        scrapes, slow = Tally(), Tally()
        with probing(exporter.address) as probes:
            run_clients([(scraper, 12, scrapes), (slow_reader, 8, slow)], exporter.address, 15)

        loaded_polls = exporter.total("tione_exporter_polls_total") - polls
        loaded_mean = (exporter.total("tione_exporter_poll_duration_seconds_sum") - durations) / loaded_polls
        print(
            f"\npolls {loaded_polls:.0f}, mean duration idle {idle_mean:.3f}s loaded {loaded_mean:.3f}s; "
            f"scrapes {scrapes.answers}; /-/healthy p99 idle {idle_probes.p99():.4f}s loaded {probes.p99():.4f}s"
        )
        assert probes.failures == [] and scrapes.failures == []
        assert exporter.total("tione_exporter_poll_errors_total") == errors
        assert exporter.ups() == [1.0, 1.0]
        assert loaded_polls >= 2 * 3
        assert scrapes.answers >= 12 and min(scrapes.sizes) >= body * 0.9
        assert loaded_mean < 2 * idle_mean + 0.5, "polls slowed down under scrape load"
        # A poll's garbage collection pauses the whole interpreter, the serving thread too, and this machine
        # is shared (docs/performance.md): bounded, below the poll's timeout.
        assert probes.p99() < 2.0
    finally:
        stop(exporter)


GZIP = "Accept-Encoding: gzip\r\n"
PASSWORD = "correct horse battery staple"


def test_wrong_passwords_tell_nothing_and_leave_gzip_scrapes_fast(large: Simulator, tmp_path: Path) -> None:
    """With bcrypt hashes of cost 12: a refusal takes as long for an unknown user as for a known one, a
    100-byte password is refused with 401 and no log line, and 60 connections sending wrong passwords as
    fast as they are refused leave gzip scrapes with the right credentials under a second. (Unknown users
    were checked against a cost-4 hash, 2.6 ms against 293 ms; long passwords answered 500 with an error
    line; wrong passwords ran on the threads that compress scrapes, which then took over 10 s.)"""
    web = web_files(tmp_path, tls=False, users={"prometheus": PASSWORD}, cost=12)
    exporter = Exporter(large, tmp_path / "exporter.log", "--poll.interval", "60s", web=web)
    try:

        def refusal(user: str, password: str = "wrong") -> float:
            started = time.monotonic()
            status, _ = get(exporter.address, "/metrics", headers=basic_authorization(user, password))
            assert status == 401
            return time.monotonic() - started

        known, unknown = [], []
        for _ in range(4):
            known.append(refusal("prometheus"))
            unknown.append(refusal("nobody"))
        ratio = statistics.median(known) / statistics.median(unknown)
        print(
            f"\nrefusal medians: known user {statistics.median(known):.3f}s, unknown {statistics.median(unknown):.3f}s"
        )
        assert 0.5 < ratio < 2.0, (known, unknown)

        offset = len(exporter.log_text())
        for user in ("prometheus", "nobody"):
            assert refusal(user, "p" * 100) < 0.5 * statistics.median(known), "refused without a check"
        scrape = GZIP + web.authorization
        status, body = get(exporter.address, "/metrics", headers=scrape)
        assert status == 200 and body[:2] == b"\x1f\x8b"  # remembered from here on, as Prometheus's are

        flood = Tally()
        with probing(exporter.address, every=0.2, path="/metrics", headers=scrape) as scrapes:
            run_clients([(wrong_passwords, 60, flood)], exporter.address, 12)
        print(
            f"wrong passwords refused: {flood.answers} in 12 s; gzip scrapes {scrapes.answers}, "
            f"p99 {scrapes.p99():.3f}s, max {max(scrapes.latencies):.3f}s"
        )
        assert flood.answers > 500, "the flood did not flood"
        assert flood.failures == []
        assert scrapes.failures == [] and scrapes.answers >= 20
        assert max(scrapes.latencies) < 1.0
        lines = [line for line in exporter.log_text()[offset:].splitlines() if "logger=exporter.poller" not in line]
        assert lines == []
        assert exporter.ups() == [1.0, 1.0]
    finally:
        stop(exporter)


def memory_limit(overlay: str) -> int:
    """The container's memory limit in bytes in `overlay` (its own patch, else the base's)."""
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    for path in (f"overlays/{overlay}/deployment.yaml", "base/instance/deployment.yaml"):
        document = yaml.safe_load((REPO / "deploy" / "kubernetes" / path).read_text())
        container = document["spec"]["template"]["spec"]["containers"][0]
        limit = container.get("resources", {}).get("limits", {}).get("memory")
        if limit is not None:
            return int(limit[:-2]) * units[limit[-2:]]
    raise AssertionError("no memory limit")


def test_silent_tls_connections_stay_within_the_tls_overlays_memory_limit(small: Simulator, tmp_path: Path) -> None:
    """1,000 connections to the TLS port (the default `--web.max-connections`), half of them silent and half
    stopped after the first bytes of a handshake, held open: the process stays within the memory limit of
    the TLS overlay (each once cost 300 KB, asyncio's read buffer and a TLS session made at the accept:
    1,000 took the process from 93 to 399 MB)."""
    web = web_files(tmp_path, tls=True)
    exporter = Exporter(small, tmp_path / "exporter.log", "--web.header-timeout", "60s", web=web)
    held: list[socket.socket] = []
    try:
        limit = memory_limit("web-config")
        idle = exporter.rss()
        for index in range(1000):
            sock = connect(exporter.address)
            assert sock is not None
            if index % 2:
                sock.sendall(b"\x16\x03\x01\x02\x00\x01")  # a ClientHello's first bytes, and no more
            held.append(sock)
        time.sleep(2)
        loaded = exporter.rss()
        print(f"\nRSS idle {idle / 2**20:.0f} MiB, with 1,000 TLS connections {loaded / 2**20:.0f} MiB")
        assert loaded < limit
        assert loaded - idle < 100 * 2**20
        status, _ = get(exporter.address, "/-/healthy", tls=web.client)
        assert status == 200, "a real client still gets through (taking the place of the oldest handshake)"
    finally:
        for sock in held:
            sock.close()
        stop(exporter)
