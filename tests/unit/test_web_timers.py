"""The times one connection's bounds are measured from (the request head, idleness, a stalled answer), on a
real loopback connection served by the exporter's protocol, timed by a clock the test moves: the sweep and
the eviction see exactly the ages the test sets, however loaded the machine."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from exporter.web.connections import BYTES_ACKED_OFFSET, TCP_INFO_SIZE, GuardedProtocol, Limits, Registry
from exporter.web.server import STALLED_SECONDS, ExporterApp, ScrapeSlots, bind
from tests.unit.test_web_limits import CONTEXT, CountedTally, Live, QuietConnection, Snapshot

HEADER_TIMEOUT = 10.0
WRITE_TIMEOUT = 30.0


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Connection:
    protocol: GuardedProtocol
    client: socket.socket
    """The other end, for the test to write to and read from (blocking, with a timeout)."""
    clock: Clock
    registry: Registry
    tally: CountedTally
    app: Holding

    def send(self, data: bytes) -> None:
        self.client.sendall(data)

    async def until(self, condition: Any, within: float = 2.0) -> None:
        """Let the event loop run until `condition()` holds."""
        async with asyncio.timeout(within):
            while not condition():
                await asyncio.sleep(0.005)

    async def hold(self) -> None:
        """Ask for an answer that stays under way: the connection is busy, its header timer stopped."""
        self.send(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
        async with asyncio.timeout(2):
            await self.app.holding.wait()

    async def answer(self) -> bytes:
        """Read one whole answer of the app (a probe's: a short body) from the client's end."""
        loop = asyncio.get_running_loop()
        received = b""
        async with asyncio.timeout(2):
            while b"Healthy.\n" not in received:
                received += await loop.sock_recv(self.client, 65536)
        return received


class Holding:
    """The app, except that `GET /hold` is an answer under way until the test ends."""

    def __init__(self) -> None:
        self.app = ExporterApp(Snapshot(), Live(), CONTEXT)
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] != "/hold":
            await self.app(scope, receive, send)
            return
        self.holding.set()
        await self.release.wait()


@pytest.fixture
async def connection() -> AsyncIterator[Connection]:
    listening = bind("127.0.0.1", 0)
    client = socket.create_connection(listening.getsockname()[:2])
    client.setblocking(False)
    accepted, _ = listening.accept()
    listening.close()
    app = Holding()
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    config.load()
    clock = Clock()
    tally = CountedTally()
    registry = Registry(Limits(header_timeout=HEADER_TIMEOUT, write_timeout=WRITE_TIMEOUT), tally)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_accepted_socket(
        lambda: GuardedProtocol(config, ServerState(), {}, registry, clock), accepted
    )
    yield Connection(protocol, client, clock, registry, tally, app)
    transport.abort()
    client.close()
    await asyncio.sleep(0)  # connection_lost
    app.release.set()
    await asyncio.sleep(0)


async def test_a_request_head_sent_in_drips_is_timed_from_the_connections_opening(connection: Connection) -> None:
    head = b"GET /-/healthy HTTP/1.1\r\n"
    connection.send(head)
    for now in (3.0, 6.0, 9.0):  # each drip well within the timeout of the one before
        connection.clock.now = now
        connection.send(b"X-A: b\r\n")
        head += b"X-A: b\r\n"
        await connection.until(lambda sent=head: connection.protocol.conn.trailing_data[0] == sent)
        connection.registry.sweep(now)
    assert connection.tally.seen == []
    connection.registry.sweep(HEADER_TIMEOUT + 0.5)
    assert connection.tally.seen == ["header_timeout"]  # counted as a timeout, not as a silent socket
    assert connection.protocol.closing


async def test_a_connection_that_sends_nothing_is_closed_silently(connection: Connection) -> None:
    connection.registry.sweep(HEADER_TIMEOUT - 0.5)
    assert connection.tally.seen == []
    connection.registry.sweep(HEADER_TIMEOUT + 0.5)
    assert connection.tally.seen == ["closed_silent"]


async def test_the_header_timer_of_a_kept_alive_connection_starts_with_its_next_request(
    connection: Connection,
) -> None:
    connection.send(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n")
    assert b" 200 " in await connection.answer()
    connection.clock.now = 100.0
    connection.registry.sweep(100.0)  # quiet between requests: keep-alive's business
    assert connection.tally.seen == []
    connection.send(b"GET /-/healthy HTTP/1.1\r\n")
    await asyncio.sleep(0.05)
    connection.registry.sweep(100.0 + HEADER_TIMEOUT - 0.5)
    assert connection.tally.seen == []
    connection.registry.sweep(100.0 + HEADER_TIMEOUT + 0.5)
    assert connection.tally.seen == ["header_timeout"]


async def test_a_kept_alive_connection_is_idle_from_the_end_of_its_last_answer(connection: Connection) -> None:
    """The connection idle the longest makes room first: idle since its last answer, not since it opened."""
    other = QuietConnection(idle_since=50.0)
    connection.clock.now = 70.0
    connection.send(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n")
    assert b" 200 " in await connection.answer()
    connection.registry.protocols.add(other)  # type: ignore[arg-type]
    try:
        assert connection.registry.make_room()
        assert other.closing and not connection.protocol.closing
    finally:
        connection.registry.protocols.discard(other)
    assert connection.registry.make_room()  # idle since 70: it goes next
    assert connection.protocol.closing


async def test_a_connection_closed_to_make_room_is_not_closed_again_for_the_next(connection: Connection) -> None:
    assert connection.registry.make_room()
    assert not connection.registry.make_room(), "the only connection is already going"
    assert connection.tally.seen == ["evicted_idle"]


async def test_a_dropped_answer_is_not_timed_out_again_before_its_connection_is_gone(connection: Connection) -> None:
    await connection.hold()
    connection.protocol.pause_writing()
    connection.clock.now = WRITE_TIMEOUT + 1.0
    connection.protocol.abort()  # the scrape slots drop it
    connection.registry.sweep(connection.clock.now)  # the same loop turn: the transport has not told it yet
    assert connection.tally.seen == []


async def test_a_stalled_answer_is_timed_out_once_its_client_has_read_nothing_for_the_write_timeout(
    connection: Connection,
) -> None:
    await connection.hold()
    connection.protocol.pause_writing()
    connection.clock.now = WRITE_TIMEOUT - 0.5
    connection.registry.sweep(connection.clock.now)
    assert connection.tally.seen == []
    connection.clock.now = WRITE_TIMEOUT + 0.5
    connection.registry.sweep(connection.clock.now)
    assert connection.tally.seen == ["write_timeout"]


async def test_a_client_that_read_while_the_loop_was_held_up_is_not_timed_out(connection: Connection) -> None:
    """The buffer's high-water mark says when the client stopped reading, but only the loop's write callback
    says it read again; the kernel's count of acknowledged bytes tells the sweep first."""
    protocol = connection.protocol
    await connection.hold()
    protocol.pause_writing()  # at 0
    acked = protocol._bytes_acked()
    assert acked is not None
    protocol.transport.write(b"x" * 1000)  # what the client reads while the loop is held up
    await connection.until(lambda: (protocol._bytes_acked() or 0) >= acked + 1000)
    connection.clock.now = WRITE_TIMEOUT + 5.0
    connection.registry.sweep(connection.clock.now)
    assert connection.tally.seen == []
    connection.clock.now += WRITE_TIMEOUT + 0.5  # and from then on, nothing
    connection.registry.sweep(connection.clock.now)
    assert connection.tally.seen == ["write_timeout"]


async def test_a_stall_ends_when_its_connection_is_lost(connection: Connection) -> None:
    """The answer still holds its scrape place until its next slice; it is not stalled meanwhile."""
    await connection.hold()
    connection.protocol.pause_writing()
    connection.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.client.close()  # a reset
    await connection.until(lambda: connection.protocol.lost)
    connection.clock.now = WRITE_TIMEOUT + 5.0
    assert connection.protocol.stalled_for() == 0.0


async def test_an_answer_that_is_read_again_keeps_its_scrape_place(connection: Connection) -> None:
    slots = ScrapeSlots(1, queue_seconds=0.1)
    assert await slots.acquire(connection.protocol)
    await connection.hold()
    connection.protocol.pause_writing()  # at 0
    connection.protocol.resume_writing()
    connection.clock.now = 100.0
    connection.registry.sweep(100.0)
    assert not await slots.acquire(None), "a moving answer keeps its place"
    assert connection.tally.seen == []


async def test_an_answer_stalled_past_the_limit_gives_its_scrape_place_to_the_next(connection: Connection) -> None:
    slots = ScrapeSlots(1, queue_seconds=0.1)
    assert await slots.acquire(connection.protocol)
    await connection.hold()
    connection.protocol.pause_writing()
    connection.clock.now = STALLED_SECONDS - 0.1
    assert not await slots.acquire(None)
    connection.clock.now = STALLED_SECONDS
    assert await slots.acquire(None)


class TcpInfo:
    """A socket whose `TCP_INFO` is `size` bytes long with `acked` where Linux keeps `tcpi_bytes_acked`."""

    def __init__(self, size: int | None, acked: int) -> None:
        self.size = size
        self.acked = acked

    def getsockopt(self, level: int, option: int, length: int) -> bytes:
        assert (level, option, length) == (socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
        if self.size is None:
            raise OSError(95, "Operation not supported")  # not a TCP socket
        info = bytearray(max(self.size, BYTES_ACKED_OFFSET + 8))
        struct.pack_into("Q", info, BYTES_ACKED_OFFSET, self.acked)
        return bytes(info[: self.size])


@pytest.mark.parametrize(
    ("size", "counted"),
    [
        (TCP_INFO_SIZE, True),
        (BYTES_ACKED_OFFSET + 8, True),  # a kernel whose struct ends with the count
        (BYTES_ACKED_OFFSET, False),  # a kernel before 4.1: no count
        (104, False),
        (None, False),
    ],
)
async def test_the_kernels_count_of_acknowledged_bytes_is_read_where_it_is_to_be_had(
    connection: Connection, monkeypatch: pytest.MonkeyPatch, size: int | None, counted: bool
) -> None:
    """Where it is not (an older kernel, a socket that is not TCP), the clock alone measures a stall."""
    info = TcpInfo(size, acked=1 << 40)
    monkeypatch.setattr(connection.protocol.transport, "get_extra_info", lambda name, default=None: info)
    await connection.hold()
    connection.protocol.pause_writing()
    info.acked += 1000
    connection.clock.now = WRITE_TIMEOUT + 5.0
    assert connection.protocol.stalled_for() == (0.0 if counted else WRITE_TIMEOUT + 5.0)


async def test_without_tcp_info_the_clock_alone_measures_a_stall(
    connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a platform other than Linux, whose `socket` module has no `TCP_INFO`."""
    monkeypatch.delattr(socket, "TCP_INFO")
    await connection.hold()
    connection.protocol.pause_writing()
    connection.clock.now = 12.0
    assert connection.protocol.stalled_for() == 12.0
    assert connection.protocol.stalled_for() == 12.0
