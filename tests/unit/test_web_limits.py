"""The web server's bounds over real loopback sockets: connections, header-read and write timeouts, the cap
on concurrent scrapes, answers in slices, and accept errors logged once per interval."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from exporter.app import DESCRIPTOR_RESERVE, web_limits
from exporter.config import load_settings
from exporter.metrics.render import Exposition, FamilyBlock
from exporter.poller import RegionStatus
from exporter.web.connections import Limits, Listener, Registry
from exporter.web.page import PageContext
from exporter.web.server import GRACEFUL_SHUTDOWN_SECONDS, SLICE_BYTES, ExporterApp, WebServer, _respond, bind
from exporter.web.tally import MALFORMED, Tally, UvicornLog

BIG = 8 * 1024 * 1024
"""An exposition far larger than any socket buffer, so that a client that does not read stalls its answer."""
CONTEXT = PageContext(version="1", started=0.0, telemetry_path="/metrics", interval=30.0, max_staleness=300.0)


@dataclass
class Snapshot:
    exposition: Exposition = field(
        default_factory=lambda: Exposition((FamilyBlock(b"", b"", (b"x 1\n" * (BIG // 4),)),))
    )
    ready: bool = True

    def statuses(self) -> Sequence[RegionStatus]:
        return []


class Live:
    def render(self, openmetrics: bool) -> bytes:
        return b"tione_up 1\n"


@dataclass
class Served:
    server: WebServer
    host: str
    port: int

    async def connect(
        self, receive_buffer: int | None = None, limit: int = 65536
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sock = socket.socket()
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
        return await asyncio.open_connection(sock=sock, limit=limit)

    async def get(self, path: str) -> tuple[int, bytes]:
        reader, writer = await self.connect()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), body


async def closed(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server closes the connection within `within` seconds (reading what it sends meanwhile)."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


@pytest.fixture
async def served(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    options: dict[str, Any] = getattr(request, "param", {})
    limits = Limits(**options.get("limits", {}))
    app = ExporterApp(
        Snapshot(), Live(), CONTEXT, max_concurrent_scrapes=options.get("scrapes", 40), scrape_queue_seconds=1.0
    )
    sock = bind("127.0.0.1", 0)
    host, port = sock.getsockname()[:2]
    server = WebServer(app, sock, limits=limits)
    task = asyncio.create_task(server.serve())
    yield Served(server, host, port)
    server.stop()
    await asyncio.wait_for(task, 5)


@pytest.mark.parametrize("served", [{"limits": {"header_timeout": 0.3}}], indirect=True)
async def test_a_half_sent_request_is_closed_after_the_header_timeout(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: t\r\n")  # never the blank line
    for _ in range(3):  # dripping bytes does not reset the clock
        await asyncio.sleep(0.1)
        writer.write(b"X-A: b\r\n")
    assert await closed(reader, 1.0)
    assert (await served.get("/-/healthy"))[0] == 200


@pytest.mark.parametrize("served", [{"limits": {"header_timeout": 0.3}}], indirect=True)
async def test_a_connection_that_never_sends_a_byte_is_closed_after_the_header_timeout(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """Closed, and quietly: a browser opens such preconnect sockets on an ordinary visit."""
    caplog.set_level(logging.INFO)
    reader, _ = await served.connect()
    assert await closed(reader, 1.5)
    assert caplog.records == []


@pytest.mark.parametrize("served", [{"limits": {"header_timeout": 0.3}}], indirect=True)
async def test_malformed_requests_are_counted_not_logged_each(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(20):
        reader, writer = await served.connect()
        writer.write(b"\x16\x03\x01 not http at all\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 400 ")
        writer.close()
    reader, _ = await served.connect()  # a silent one, closed at the header timeout: counted in the next line
    assert await closed(reader, 1.5)
    served.server._server.registry.tally.flush(force=True)
    lines = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [record.getMessage() for record in lines] == ["connections refused or closed by the web server's limits"] * 2
    assert lines[0].__dict__["malformed_requests"] == 1  # the first, at once; the rest within the interval
    assert lines[1].__dict__["malformed_requests"] == 19
    assert lines[1].__dict__["closed_silent"] == 1


@pytest.mark.parametrize("served", [{"limits": {"header_timeout": 0.3}}], indirect=True)
async def test_a_quiet_kept_alive_connection_outlives_the_header_timeout(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n")
    assert b"200 OK" in await reader.readuntil(b"Healthy.\n")
    assert not await closed(reader, 0.6)  # quiet between requests: keep-alive's business, not the header timeout
    writer.write(b"GET /-/healthy HTTP/1.1\r\n")  # the next request starts, and stalls
    assert await closed(reader, 1.0)


@pytest.mark.parametrize("served", [{"limits": {"max_connections": 5}}], indirect=True)
async def test_beyond_the_connection_cap_the_longest_idle_connection_makes_room(served: Served) -> None:
    idle = [await served.connect() for _ in range(5)]
    await asyncio.sleep(0.1)
    assert await served.get("/-/healthy") == (200, b"Healthy.\n")
    assert await closed(idle[0][0], 1.0)
    assert not await closed(idle[-1][0], 0.2)


@pytest.mark.parametrize("served", [{"limits": {"write_timeout": 0.5}}], indirect=True)
async def test_a_client_that_stops_reading_is_disconnected_after_the_write_timeout(served: Served) -> None:
    reader, writer = await served.connect(receive_buffer=4096)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.sleep(1.5)  # reading nothing
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(BIG), 5)
    status, body = await served.get("/metrics")
    assert status == 200 and len(body) == BIG + len(b"tione_up 1\n")


@pytest.mark.parametrize("served", [{"scrapes": 1}], indirect=True)
async def test_a_stalled_answer_gives_its_place_to_a_new_scrape(served: Served) -> None:
    reader, writer = await served.connect(receive_buffer=4096)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.sleep(0.8)  # stalled for longer than STALLED_SECONDS
    status, body = await served.get("/metrics")
    assert status == 200 and len(body) == BIG + len(b"tione_up 1\n")
    assert not await closed(reader, 0.2)  # set aside, not dropped: it may still read


@pytest.mark.parametrize("served", [{"scrapes": 1}], indirect=True)
async def test_stalled_answers_beyond_the_cap_are_dropped_longest_first(served: Served) -> None:
    stalled = []
    for _ in range(3):
        reader, writer = await served.connect(receive_buffer=4096)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        stalled.append((reader, writer))  # the writer too: a writer let go closes its connection
        await asyncio.sleep(0.8)
    # The second set the first aside, the third the second: two set aside, one more than the cap.
    assert await closed(stalled[0][0], 1.0)
    assert not await closed(stalled[1][0], 0.2)


@pytest.mark.parametrize("served", [{"scrapes": 1}], indirect=True)
async def test_beyond_the_scrape_cap_a_request_waits_then_gets_503(served: Served) -> None:
    reader, writer = await served.connect(receive_buffer=4096, limit=4096)  # reads from the socket as it goes
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")

    async def read_slowly() -> None:  # moving, so it keeps its place
        for _ in range(40):
            await reader.read(4096)
            await asyncio.sleep(0.05)

    slow = asyncio.create_task(read_slowly())
    await asyncio.sleep(0.1)
    status, body = await served.get("/metrics")
    assert (status, body) == (503, b"503 too many concurrent scrapes\n")
    slow.cancel()
    writer.close()


async def test_answers_are_written_in_slices() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    body = bytes(range(256)) * (3 * SLICE_BYTES // 256 + 7)
    await _respond(send, "GET", 200, body)
    parts = [message["body"] for message in sent[1:]]
    assert all(len(part) <= SLICE_BYTES for part in parts)
    assert b"".join(parts) == body
    assert [message["more_body"] for message in sent[1:]] == [True] * (len(parts) - 1) + [False]


def test_the_connection_cap_leaves_room_under_the_descriptor_limit() -> None:
    settings = load_settings({"--tione.regions": "ap-guangzhou"}, environ={})
    assert web_limits(settings, descriptors=1024).max_connections == 1024 - DESCRIPTOR_RESERVE
    assert web_limits(settings, descriptors=1 << 20).max_connections == settings.web.max_connections


def test_the_tally_logs_once_per_interval_with_counts(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    tally = Tally(interval=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="exporter.web.connections"):
        for _ in range(1000):
            tally.count("header_timeout")
            now[0] += 0.01
        now[0] += 60
        tally.count("accept_errors", "EMFILE")
    assert len(caplog.records) == 2
    assert caplog.records[1].__dict__["header_timeout"] == 999
    assert caplog.records[1].__dict__["errors"] == "EMFILE:1"


def test_quiet_counts_never_make_a_line_of_their_own(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    tally = Tally(interval=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="exporter.web.connections"):
        for _ in range(5):
            tally.count("closed_silent", quiet=True)
            now[0] += 100
        tally.flush(force=True)
        assert caplog.records == []
        tally.count("refused_busy")
    assert caplog.records[0].__dict__["closed_silent"] == 5
    assert caplog.records[0].__dict__["refused_busy"] == 1


def test_the_tally_counts_each_kind_of_accept_error(caplog: pytest.LogCaptureFixture) -> None:
    tally = Tally(interval=60.0, clock=lambda: 0.0)
    with caplog.at_level(logging.WARNING, logger="exporter.web.connections"):
        tally.count("accept_errors", "EMFILE")  # the first: a line at once
        for error in ("EMFILE", "ENOBUFS", "EMFILE", "ECONNABORTED"):
            tally.count("accept_errors", error)
        tally.flush(force=True)
    assert [record.__dict__["errors"] for record in caplog.records] == ["EMFILE:1", "ECONNABORTED:1,EMFILE:2,ENOBUFS:1"]
    assert caplog.records[1].__dict__["accept_errors"] == 4
    assert caplog.records[1].__dict__["interval"] == "60s"


def test_uvicorn_warnings_other_than_malformed_requests_reach_uvicorns_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tally = Tally(interval=60.0, clock=lambda: 0.0)
    logger = UvicornLog(tally)
    with caplog.at_level(logging.WARNING):
        logger.warning(MALFORMED)
        logger.warning("Unsupported upgrade request %s.", "h2c", extra={"peer": "10.0.0.9"})
    malformed, other = caplog.records
    assert malformed.name == "exporter.web.connections" and malformed.__dict__["malformed_requests"] == 1
    assert (other.name, other.levelno) == ("uvicorn.error", logging.WARNING)
    assert other.getMessage() == "Unsupported upgrade request h2c."
    assert other.__dict__["peer"] == "10.0.0.9"


class OutOfDescriptors(socket.socket):
    """A listening socket whose every accept fails as a process out of descriptors would; counts per socket,
    so that a test run twice in one process counts afresh."""

    attempts: int

    def accept(self) -> tuple[socket.socket, Any]:
        self.attempts = getattr(self, "attempts", 0) + 1
        raise OSError(errno.EMFILE, "Too many open files")


async def test_accept_errors_back_off_and_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    listening = OutOfDescriptors(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    client = socket.create_connection(listening.getsockname()[:2])  # waiting in the backlog: readable for ever
    registry = Registry(Limits(), Tally())
    with caplog.at_level(logging.WARNING, logger="exporter.web.connections"):
        listener = Listener(listening, lambda registry: pytest.fail("nothing is accepted"), registry)
        await asyncio.sleep(1.6)
        listener.close()
    client.close()
    listening.close()
    # 50, 100, 200, 400, 800 ms apart: a handful of attempts, not thousands a second
    assert 3 <= listening.attempts <= 8
    lines = [record for record in caplog.records if "limits" in record.getMessage()]
    assert len(lines) <= 2  # the first, and the count at close
    assert sum(record.__dict__.get("accept_errors", 0) for record in lines) == listening.attempts


def pauses_ended_at_once(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The running loop's `call_later` noting each pause asked for and ending it at once: the schedule
    without the wait."""
    loop = asyncio.get_running_loop()
    pauses: list[float] = []
    call_later = loop.call_later

    def at_once(delay: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        pauses.append(delay)
        return call_later(0, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_later", at_once)
    return pauses


async def test_accept_errors_back_off_doubling_from_50_ms_up_to_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    listening = OutOfDescriptors(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    client = socket.create_connection(listening.getsockname()[:2])  # waiting in the backlog: readable for ever
    pauses = pauses_ended_at_once(monkeypatch)
    listener = Listener(listening, lambda registry: pytest.fail("nothing is accepted"), Registry(Limits(), Tally()))
    async with asyncio.timeout(5):
        while len(pauses) < 8:
            await asyncio.sleep(0)
    listener.close()
    client.close()
    listening.close()
    assert [round(pause, 3) for pause in pauses[:8]] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]


class Scripted(socket.socket):
    """A listening socket whose accepts first go as `script` says (an errno: that error; None: accept), then as
    the kernel says."""

    script: list[int | None]

    def accept(self) -> tuple[socket.socket, Any]:
        if self.script and (code := self.script.pop(0)) is not None:
            raise OSError(code, os.strerror(code))
        return super().accept()


def scripted(script: list[int | None]) -> Scripted:
    listening = Scripted(socket.AF_INET, socket.SOCK_STREAM)
    listening.script = script
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    return listening


async def test_a_successful_accept_starts_the_backoff_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    listening = scripted([errno.EMFILE, errno.EMFILE, None, errno.EMFILE])
    clients = [socket.create_connection(listening.getsockname()[:2]) for _ in range(2)]
    pauses = pauses_ended_at_once(monkeypatch)
    registry = Registry(Limits(), Tally())
    opened: list[asyncio.Protocol] = []

    def make_protocol(registry: Registry) -> Any:
        opened.append(asyncio.Protocol())
        return opened[-1]

    listener = Listener(listening, make_protocol, registry)
    async with asyncio.timeout(5):
        while len(opened) < 2:
            await asyncio.sleep(0)
    listener.close()
    for sock in [*clients, listening]:
        sock.close()
    assert [round(pause, 3) for pause in pauses] == [0.05, 0.1, 0.05]


async def test_an_accept_error_of_one_connection_is_logged_by_its_number_and_accepting_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listening = scripted([4242, None])  # an errno this system has no name for
    client = socket.create_connection(listening.getsockname()[:2])
    opened: list[asyncio.Protocol] = []

    def make_protocol(registry: Registry) -> Any:
        opened.append(asyncio.Protocol())
        return opened[-1]

    with caplog.at_level(logging.WARNING, logger="exporter.web.connections"):
        listener = Listener(listening, make_protocol, Registry(Limits(), Tally()))
        async with asyncio.timeout(5):
            while not opened:
                await asyncio.sleep(0)
        listener.close()
    client.close()
    listening.close()
    assert [record.__dict__.get("errors") for record in caplog.records] == ["4242:1"]


async def test_after_running_out_of_descriptors_the_server_accepts_again_and_stops_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listening = scripted([errno.EMFILE])
    server = WebServer(ExporterApp(Snapshot(), Live(), CONTEXT), listening)
    task = asyncio.create_task(server.serve())
    with caplog.at_level(logging.WARNING, logger="exporter.web.connections"):
        assert (await Served(server, *listening.getsockname()[:2]).get("/"))[0] == 200
        server.stop()
        await asyncio.wait_for(task, 5)
    assert listening.script == []
    assert [record.__dict__.get("errors") for record in caplog.records] == ["EMFILE:1"]


@pytest.mark.parametrize("served", [{"limits": {"max_connections": 2}}], indirect=True)
async def test_connections_that_have_closed_leave_room_under_the_cap(served: Served) -> None:
    for _ in range(6):
        assert (await served.get("/"))[0] == 200
        reader, writer = await served.connect()  # kept alive, then closed by the client
        writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n")
        assert b"Healthy.\n" in await reader.readuntil(b"Healthy.\n")
        writer.close()
        await asyncio.sleep(0.01)
    assert len(served.server._server.registry) == 0


@pytest.mark.parametrize("served", [{"limits": {"max_connections": 2}}], indirect=True)
async def test_beyond_the_cap_the_kept_alive_connection_idle_the_longest_makes_room(served: Served) -> None:
    first, second = await served.connect(), await served.connect()
    for reader, writer in (first, second, first):  # the first asks again: the second is now idle the longest
        writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n")
        assert b"Healthy.\n" in await reader.readuntil(b"Healthy.\n")
        await asyncio.sleep(0.05)
    assert (await served.get("/"))[0] == 200
    assert await closed(second[0], 1.0)
    assert not await closed(first[0], 0.2)


async def test_an_answer_stops_at_once_when_its_client_goes_away() -> None:
    """Sent slice by slice, it stops at the first slice after the client is gone (each slice would otherwise
    be handed to uvicorn, which drops it)."""
    bodies: list[int] = []
    done = asyncio.Event()

    class Counting(ExporterApp):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def counted(message: Any) -> None:
                if message["type"] == "http.response.body":
                    bodies.append(len(message["body"]))
                await send(message)

            await super().__call__(scope, receive, counted)
            if scope["type"] == "http":
                done.set()

    sock = bind("127.0.0.1", 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)  # inherited by accepted sockets: no deep buffer
    server = WebServer(Counting(Snapshot(), Live(), CONTEXT), sock)
    task = asyncio.create_task(server.serve())
    try:
        await asyncio.to_thread(_read_a_little_then_reset, sock.getsockname()[1])
        await asyncio.wait_for(done.wait(), 5)
    finally:
        server.stop()
        await asyncio.wait_for(task, 5)
    assert 1 <= len(bodies) <= 4, f"{len(bodies)} of {BIG // SLICE_BYTES} slices written"


async def test_a_stop_drops_an_answer_whose_client_reads_nothing_at_once() -> None:
    """It would only hold the stop up until the end of the grace period."""
    sock = bind("127.0.0.1", 0)
    server = WebServer(ExporterApp(Snapshot(), Live(), CONTEXT), sock)
    task = asyncio.create_task(server.serve())
    stalled = Served(server, *sock.getsockname()[:2])
    _, writer = await stalled.connect(receive_buffer=4096)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.sleep(0.3)
    started = asyncio.get_running_loop().time()
    server.stop()
    await asyncio.wait_for(task, 5)
    assert asyncio.get_running_loop().time() - started < GRACEFUL_SHUTDOWN_SECONDS / 2
    writer.close()


class CountedTally(Tally):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def count(self, what: str, error: str | None = None, *, quiet: bool = False) -> None:
        self.seen.append(what)


@dataclass(eq=False)
class QuietConnection:
    idle_since: float | None
    closing: bool = False

    def close(self) -> None:
        self.closing = True


@dataclass(eq=False)
class Handshake:
    cancelled: bool = False

    def cancel(self) -> bool:
        self.cancelled = True
        return True


def test_room_is_made_by_whichever_waited_longest_an_idle_connection_or_a_handshake() -> None:
    tally = CountedTally()
    registry = Registry(Limits(), tally)
    busy, idle_10, idle_20, idle_30 = (
        QuietConnection(None),
        QuietConnection(10.0),
        QuietConnection(20.0),
        QuietConnection(30.0),
    )
    already_closing = QuietConnection(1.0, closing=True)
    registry.protocols.update([busy, idle_10, idle_20, idle_30, already_closing])  # type: ignore[list-item]
    begun_12, begun_15, begun_30 = Handshake(), Handshake(), Handshake()
    registry.handshakes.update({begun_15: 15.0, begun_30: 30.0, begun_12: 12.0})  # type: ignore[dict-item]
    order: list[object] = []
    for _ in range(6):
        assert registry.make_room()
        closed = [p for p in (idle_10, idle_20, idle_30) if p.closing and p not in order]
        cancelled = [h for h in (begun_12, begun_15, begun_30) if h.cancelled and h not in order]
        assert len(closed) + len(cancelled) == 1, "one connection or handshake at a time"
        order += closed + cancelled
    # at a tie (30) the idle connection goes first
    assert order == [idle_10, begun_12, begun_15, idle_20, idle_30, begun_30]
    assert registry.handshakes == {}
    assert not busy.closing
    assert not registry.make_room(), "every connection left is answering"
    assert tally.seen == ["evicted_idle", *["evicted_handshake"] * 2, *["evicted_idle"] * 2, "evicted_handshake"]


def test_two_connections_idle_since_the_same_instant_still_make_room() -> None:
    registry = Registry(Limits(), CountedTally())
    twins = [QuietConnection(5.0), QuietConnection(5.0)]
    registry.protocols.update(twins)  # type: ignore[arg-type]
    assert registry.make_room()
    assert sorted(twin.closing for twin in twins) == [False, True]


def test_handshakes_under_way_count_toward_the_connection_cap() -> None:
    registry = Registry(Limits(), CountedTally())
    registry.protocols.add(QuietConnection(None))  # type: ignore[arg-type]
    registry.handshakes.update({Handshake(): 1.0, Handshake(): 2.0})  # type: ignore[dict-item]
    assert len(registry) == 3


@dataclass(eq=False)
class SweptConnection:
    order: int
    head_since: float | None
    closing: bool = False
    stalled_since: float | None = None
    received: bool = True

    def __hash__(self) -> int:
        return self.order  # small ints: a set iterates them in this order

    def close(self) -> None:
        self.closing = True


def test_a_sweep_passes_over_connections_already_closing_and_times_out_the_rest() -> None:
    tally = CountedTally()
    registry = Registry(Limits(header_timeout=10.0), tally)
    closing, stale, fresh = SweptConnection(0, 0.0, closing=True), SweptConnection(1, 0.0), SweptConnection(2, 95.0)
    registry.protocols.update([fresh, stale, closing])  # type: ignore[list-item]
    assert list(registry.protocols) == [closing, stale, fresh]
    registry.sweep(now=100.0)
    assert stale.closing and not fresh.closing
    assert tally.seen == ["header_timeout"]


def _read_a_little_then_reset(port: int) -> None:
    """Ask for the metrics, read the first bytes, and go away with a reset, as a client that gives up does."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nAccept-Encoding: identity\r\n\r\n")
        received = 0
        while received < 65536:
            chunk = sock.recv(65536)
            assert chunk, "the server closed first"
            received += len(chunk)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def test_clients_that_go_away_during_an_answer_add_no_log_lines(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer stops at the first failed write: asyncio warns `socket.send() raised exception` from the
    fifth write to a lost socket on, and an answer of many slices once made dozens of such lines per client."""
    caplog.set_level(logging.INFO)
    for _ in range(100):
        await asyncio.to_thread(_read_a_little_then_reset, served.port)
    await asyncio.sleep(0.5)
    assert len(caplog.records) <= 2, [record.getMessage() for record in caplog.records][:5]
    assert (await served.get("/-/healthy"))[0] == 200
