"""Connections with bounds: how many, how long a request head may take, how long a client may stop reading.

uvicorn serves HTTP/1.1 well but leaves a public port open to three cheap attacks, each seen against the
exporter: half-sent requests held for ever (no header-read timeout), clients that ask for the metrics and
never read them (no write timeout), and more connections than the process has descriptors, after which
asyncio's accept loop logs "Too many open files" thousands of times a second and the API client has no
descriptor left for its own socket. So the exporter accepts connections itself (`Listener`, instead of
`loop.create_server`) and hands each to uvicorn's HTTP/1.1 protocol with a few bounds added
(`GuardedProtocol`):

- at most `max_connections` are open; a new one beyond that takes the place of the connection that has
  been idle (waiting for a request) the longest, so a flood of idle sockets cannot lock out a probe or a
  scraper; when every connection is busy answering, the new one is closed at once;
- a connection must send a complete request head within `header_timeout` of opening (or of the first
  byte of its next request on a kept-alive connection), else it is closed;
- an answer whose client reads nothing for `write_timeout` is abandoned and the connection closed: the
  transport's buffer, and the snapshot the answer points into, are let go;
- accept errors (out of descriptors, out of memory) pause accepting with a growing backoff and are
  logged at most once per `ACCEPT_LOG_INTERVAL`, with the count since the last line, as are malformed
  requests (uvicorn would log each);
- over TLS, a connection gets its TLS session only once the client sends a byte, and a small read buffer
  (`LeanTLSProtocol`): asyncio's own cost 300 KB per accepted socket, and the connection cap times that
  was more than the shipped memory limit;
- a health probe that has already arrived whole when its connection is accepted, and asks for the
  connection to be closed after it (as the kubelet's probes do), is answered there and then, from bytes
  made beforehand (`probe_request`, `Listener.probes`): uvicorn's path takes about six turns of the event
  loop, and under heavy scraping each turn writes a slice of every answer in flight, so a probe waited
  hundreds of milliseconds behind scrapes (docs/performance.md, "Probes under load").

The sweep that applies the timeouts runs on the server's own tick (uvicorn's `on_tick`, every 200 ms),
not one timer per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import socket
import ssl
import struct
import time
from asyncio import sslproto
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from exporter.web.tally import Tally, UvicornLog

log = logging.getLogger(__name__)

ACCEPT_BATCH = 64
"""Connections accepted per readiness event of the listening socket: others wait for the next loop turn."""
ACCEPT_BACKOFF_MIN = 0.05
ACCEPT_BACKOFF_MAX = 1.0
"""Pause of accepting after an accept error, doubled for each one in a row up to the maximum."""
TCP_INFO_SIZE = 232
BYTES_ACKED_OFFSET = 120
"""Where `tcpi_bytes_acked` (a u64, Linux 4.1 and later) sits in `struct tcp_info`."""
RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
PROBE_HEAD_BYTES = 4096
"""The most of a connection's first bytes looked at for a probe: a kubelet's request is about 150 bytes."""
PROBE_METHODS = frozenset({b"GET", b"HEAD"})

ProbeAnswers = Callable[[str, str], bytes | None]
"""Given a request's method and target, the whole HTTP answer to send before closing, or None when the
request is not one the server answers early (the app then answers it)."""


@dataclass(frozen=True)
class Limits:
    """The bounds of the web server (`--web.*` flags)."""

    max_connections: int = 1000
    header_timeout: float = 10.0
    write_timeout: float = 30.0


class Registry:
    """The open connections and the accepted sockets still in their TLS handshake."""

    def __init__(self, limits: Limits, tally: Tally) -> None:
        self.limits = limits
        self.tally = tally
        self.protocols: set[GuardedProtocol] = set()
        self.handshakes: dict[asyncio.Task[Any], float] = {}
        self.uvicorn_log = UvicornLog(tally)

    def __len__(self) -> int:
        return len(self.protocols) + len(self.handshakes)

    def make_room(self) -> bool:
        """Close the connection idle the longest (or the oldest handshake) to take a new one; False when
        every connection is busy answering."""
        idle = [(p.idle_since, id(p), p) for p in self.protocols if p.idle_since is not None and not p.closing]
        oldest_handshake = min(self.handshakes.items(), key=lambda item: item[1], default=None)
        if idle:
            since, _, protocol = min(idle)
            if oldest_handshake is None or since <= oldest_handshake[1]:
                protocol.close()
                self.tally.count("evicted_idle")
                return True
        if oldest_handshake is not None:
            oldest_handshake[0].cancel()
            del self.handshakes[oldest_handshake[0]]
            self.tally.count("evicted_handshake")
            return True
        return False

    def sweep(self, now: float) -> None:
        """Close connections past their header or write timeout."""
        limits = self.limits
        for protocol in list(self.protocols):
            if protocol.closing:
                continue
            if protocol.head_since is not None and now - protocol.head_since > limits.header_timeout:
                protocol.close()
                if protocol.received:
                    self.tally.count("header_timeout")
                else:  # a browser's preconnect socket, or a port scan: nothing to warn about
                    self.tally.count("closed_silent", quiet=True)
            elif protocol.stalled_since is not None and protocol.stalled_for() > limits.write_timeout:
                protocol.abort()
                self.tally.count("write_timeout")
        self.tally.flush()


class GuardedProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with the times the bounds are measured from.

    `head_since`: when the request head now awaited began (the connection opened, or the first byte of
    the next request arrived), None while a request is being answered or a kept-alive connection is
    quiet (uvicorn's keep-alive timeout closes those). `idle_since`: since when no request is in
    progress. `stalled_since`: since when the transport's buffer is above its high-water mark, that is,
    since when the client has read nothing worth mentioning.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        registry: Registry,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, server_state, app_state)
        self.logger = registry.uvicorn_log
        self.registry = registry
        self.clock = clock
        now = clock()
        self.head_since: float | None = now
        self.idle_since: float | None = now
        self.stalled_since: float | None = None
        self._acked: int | None = None
        self.closing = False
        self.received = False
        """A byte of a request has arrived on this connection."""
        self.lost = False
        """The transport has told the protocol the connection is gone."""

    # --- the bounds' bookkeeping ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.registry.protocols.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.protocols.discard(self)
        self.lost = True
        self.stalled_since = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self.head_since is None and self.conn.their_state is h11.IDLE:
            self.head_since = self.clock()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        self._after_events()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.idle_since = self.clock()
        self._after_events()

    def _after_events(self) -> None:
        if self.conn.their_state is not h11.IDLE:
            # The head arrived and an answer is under way: the header timer stops, the connection is busy.
            self.head_since = None
            self.idle_since = None
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.scope[CONNECTION_KEY] = self  # type: ignore[literal-required]

    def pause_writing(self) -> None:
        if self.stalled_since is None:
            self.stalled_since = self.clock()
            self._acked = self._bytes_acked()
        super().pause_writing()

    def resume_writing(self) -> None:
        self.stalled_since = None
        super().resume_writing()

    # --- what the app and the registry may do ----------------------------------------------------------------

    def stalled_for(self) -> float:
        """Seconds the client has read nothing of the answer (0 while it reads).

        The transport says when its buffer went above the high-water mark, but it learns that the client
        read only when the event loop runs its write callback; after the loop was held up (a long garbage
        collection, a busy machine) a reader would look stalled for the whole hold-up. So the kernel's
        count of bytes the client has acknowledged is looked at too: if it grew since the last look, the
        client is reading, and the clock starts again.
        """
        if self.stalled_since is None:
            return 0.0
        acked = self._bytes_acked()
        if acked is not None:
            if self._acked is not None and acked > self._acked:
                self.stalled_since = self.clock()
            self._acked = acked
        return self.clock() - self.stalled_since

    def _bytes_acked(self) -> int | None:
        """`tcpi_bytes_acked` of the socket's `TCP_INFO` (Linux); None where it is not to be had."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
            if len(info) >= BYTES_ACKED_OFFSET + 8:
                return int(struct.unpack_from("Q", info, BYTES_ACKED_OFFSET)[0])
        return None

    def close(self) -> None:
        """Close a connection with nothing to flush (waiting for a request)."""
        self.closing = True
        if not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection and whatever it has not sent: the client stopped reading."""
        self.closing = True
        self.transport.abort()


TLS_READ_BUFFER = 16 * 1024
"""What a TLS connection reads from its socket at once: one TLS record's worth. asyncio's own 256 KiB buffer,
allocated for every connection when it is accepted, made 1,000 silent TLS connections (the default
`--web.max-connections`) cost 300 MB, more than the shipped memory limit."""


class LeanTLSProtocol(sslproto.SSLProtocol):
    """asyncio's server-side TLS protocol (what `ssl=` on `connect_accepted_socket` makes), with a read buffer
    of `TLS_READ_BUFFER`: requests are small, answers go the other way."""

    max_size = TLS_READ_BUFFER

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        app_protocol: asyncio.BaseProtocol,
        context: ssl.SSLContext,
        handshake: asyncio.Future[Any],
        ssl_handshake_timeout: int,
    ) -> None:
        super().__init__(
            loop, app_protocol, context, handshake, server_side=True, ssl_handshake_timeout=ssl_handshake_timeout
        )


def probe_request(data: bytes) -> tuple[str, str] | None:
    """(method, target) when `data` is exactly one whole request head that asks for `Connection: close`,
    with no body and nothing after it; else None, and the request takes the ordinary path.

    Anything unusual (a body, a continuation line, a header line without a colon, HTTP/1.1 without
    `Host`, a pipelined request) is left to uvicorn's parser, which answers it as before: the early path
    only takes requests it can answer exactly as the app would.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0 or end + 4 != len(data):
        return None
    request_line, *lines = data[:end].split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or parts[0] not in PROBE_METHODS or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        return None
    closes = False
    host = False
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            return None
        name = name.lower()
        if name in (b"content-length", b"transfer-encoding") and value.strip() != b"0":
            return None
        if name == b"connection":
            closes = closes or b"close" in (token.strip().lower() for token in value.split(b","))
        host = host or name == b"host"
    if not closes or (parts[2] == b"HTTP/1.1" and not host):
        return None
    try:
        return parts[0].decode("ascii"), parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None


CONNECTION_KEY = "exporter.connection"
"""The scope key under which the app finds the `GuardedProtocol` answering a request (absent under other
servers): it lets a scrape over the concurrency cap make room by dropping one whose client stopped reading."""


class Listener:
    """Accepts connections on a listening socket within `Limits`; the stand-in for an `asyncio.Server`
    that uvicorn's shutdown closes."""

    def __init__(
        self,
        sock: socket.socket,
        make_protocol: Callable[[Registry], GuardedProtocol],
        registry: Registry,
        tls: ssl.SSLContext | None = None,
        probes: ProbeAnswers | None = None,
    ) -> None:
        self.sock = sock
        self.make_protocol = make_protocol
        self.registry = registry
        self.tls = tls
        self.probes = probes if tls is None else None
        """Answers probes at the accept (plain HTTP only: over TLS a request is readable only after the
        handshake, which takes the ordinary path's turns anyway)."""
        self._loop = asyncio.get_running_loop()
        self._backoff = ACCEPT_BACKOFF_MIN
        self._retry: asyncio.TimerHandle | None = None
        self._closed = False
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as error:
                self.registry.tally.count("accept_errors", errno.errorcode.get(error.errno or 0, str(error.errno)))
                if error.errno not in RESOURCE_ERRORS:
                    return  # the kernel's trouble with one connection; the next one may do fine
                self._pause()
                return
            self._backoff = ACCEPT_BACKOFF_MIN
            if self._answered_probe(conn):
                continue  # before the cap: a probe is answered however many connections are open
            if len(self.registry) >= self.registry.limits.max_connections and not self.registry.make_room():
                conn.close()
                self.registry.tally.count("refused_busy")
                continue
            self._start(conn)

    def _answered_probe(self, conn: socket.socket) -> bool:
        """Answer and close `conn` if what it has sent so far is a whole probe request; False (nothing read)
        otherwise."""
        if self.probes is None:
            return False
        try:
            data = conn.recv(PROBE_HEAD_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError:  # nothing sent yet (BlockingIOError), or the client is gone: the ordinary path copes
            return False
        request = probe_request(data)
        reply = self.probes(*request) if request is not None else None
        if reply is None:
            return False
        with contextlib.suppress(OSError):  # the client is gone: nothing to answer
            conn.recv(len(data))  # what was peeked: the request, now answered
            conn.send(reply)  # a few hundred bytes into an empty socket buffer: sent whole, at once
        conn.close()
        return True

    def _pause(self) -> None:
        """Stop accepting for a while: the socket stays readable while nothing can be accepted."""
        self._loop.remove_reader(self.sock.fileno())
        self._retry = self._loop.call_later(self._backoff, self._resume)
        self._backoff = min(self._backoff * 2, ACCEPT_BACKOFF_MAX)

    def _resume(self) -> None:
        self._retry = None
        if not self._closed:
            self._loop.add_reader(self.sock.fileno(), self._accept)

    def _start(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        started = time.monotonic()
        task = self._loop.create_task(self._open(conn))
        self.registry.handshakes[task] = started
        task.add_done_callback(lambda done: self._started(done, conn))

    async def _open(self, conn: socket.socket) -> None:
        """Hand `conn` to a new protocol; over TLS, only once the client has sent its first bytes, and with
        the handshake done within the header timeout of the accept."""
        if self.tls is None:
            if self._answered_probe(conn):  # it had not arrived yet when accepted, one turn ago
                return
            await self._loop.connect_accepted_socket(lambda: self.make_protocol(self.registry), conn)
            return
        timeout = self.registry.limits.header_timeout
        deadline = self._loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):  # inside the block, the wait ends with CancelledError
                await self._readable(conn)
        except TimeoutError:
            self.registry.tally.count("closed_silent", quiet=True)
            raise
        async with asyncio.timeout_at(deadline):
            handshake = self._loop.create_future()
            tls = LeanTLSProtocol(
                self._loop, self.make_protocol(self.registry), self.tls, handshake, math.ceil(timeout)
            )
            transport, _ = await self._loop.connect_accepted_socket(lambda: tls, conn)
            try:
                await handshake
            except BaseException:
                transport.close()
                raise

    async def _readable(self, conn: socket.socket) -> None:
        """Wait, at the cost of a callback, until the client sends something (or closes): a TLS session costs
        tens of kilobytes from its creation, and sockets that never send a byte are common."""
        ready = self._loop.create_future()
        fd = conn.fileno()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_reader(fd, readable)
        try:
            await ready
        finally:
            self._loop.remove_reader(fd)

    def _started(self, task: asyncio.Task[Any], conn: socket.socket) -> None:
        self.registry.handshakes.pop(task, None)
        if task.cancelled() or task.exception() is not None:
            conn.close()  # a failed or abandoned TLS handshake; asyncio has logged nothing about it

    # --- what uvicorn's shutdown calls ---------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        self._loop.remove_reader(self.sock.fileno())
        for task in list(self.registry.handshakes):
            task.cancel()
        for protocol in list(self.registry.protocols):
            if protocol.stalled_since is not None:
                protocol.abort()  # a client that reads nothing would only hold the stop up
        self.registry.tally.flush(force=True)

    async def wait_closed(self) -> None:
        return None
