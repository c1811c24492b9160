"""The ASGI app and its uvicorn server, on an event loop of their own (the poller has another, in its thread).

The telemetry path writes bytes the poller rendered when its snapshot landed, followed by the live
self-metrics; it never calls the cloud API, so a scrape costs the same for ten services or ten thousand
and keeps answering while the API is down. Compressed answers are one gzip member whose snapshot part
is deflated once per snapshot; only the small live part is compressed per scrape (`Exposition.gzip`).

Every answer is written in slices of at most `SLICE_BYTES`, each sent only once the transport's buffer
is below its high-water mark: a client that stops reading holds at most about one slice in the
process's memory (and the snapshot the answer points into), never a copy of the whole body. At most
`max_concurrent_scrapes` metrics answers are written at once (`ScrapeSlots`); the connections
themselves are bounded in `exporter.web.connections`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import json
import logging
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Generator, MutableMapping, Sequence
from typing import Any, Protocol

import uvicorn

from exporter.logs import redact
from exporter.metrics.exposition import Answer, LiveMetrics, answer
from exporter.metrics.render import Exposition
from exporter.poller.status import RegionStatus
from exporter.web.connections import CONNECTION_KEY, GuardedProtocol, Limits, Listener, Registry
from exporter.web.negotiation import negotiate_format, wants_gzip
from exporter.web.page import PageContext, attention, status_page
from exporter.web.tally import Tally
from exporter.web.webconfig import REALM, BasicAuth

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ATTENTION_PATH = "/api/v1/attention"
HEALTHY_PATH = "/-/healthy"
READY_PATH = "/-/ready"
GRACEFUL_SHUTDOWN_SECONDS = 2.0
"""Open connections get this long to finish after a stop signal; the whole stop stays within 5 seconds."""
SLICE_BYTES = 256 * 1024
"""The largest piece of an answer handed to the transport at once (uvicorn waits for the buffer to drain
below its high-water mark before the next): what a client that stops reading pins, besides the snapshot."""
SCRAPE_QUEUE_SECONDS = 5.0
"""How long a metrics request waits for a place when `max_concurrent_scrapes` answers are moving: well
within Prometheus's default 10 s scrape timeout, since for Prometheus a 503 is a failed scrape."""
STALLED_SECONDS = 0.5
"""An answer whose client has read nothing for this long gives up its place to a new scrape that has none
(and goes on outside the count, until `--web.write-timeout`)."""
KEEP_ALIVE_SECONDS = 30
"""A kept-alive connection with no request for this long is closed (Prometheus scrapes every 15-60 s)."""


class PollerView(Protocol):
    """What the app reads from the poller: the current exposition, readiness and the regions' statuses."""

    @property
    def exposition(self) -> Exposition: ...

    @property
    def ready(self) -> bool: ...

    def statuses(self) -> Sequence[RegionStatus]: ...


class ExporterApp:
    """Routes: the telemetry path, `/`, `/api/v1/attention`, `/-/healthy`, `/-/ready`; 404 elsewhere, 405 for
    other methods."""

    def __init__(
        self,
        poller: PollerView,
        live: LiveMetrics,
        context: PageContext,
        auth: BasicAuth | None = None,
        *,
        max_concurrent_scrapes: int = 40,
        scrape_queue_seconds: float = SCRAPE_QUEUE_SECONDS,
    ) -> None:
        self.poller = poller
        self.live = live
        self.context = context
        self.auth = auth if auth is not None and auth.enabled else None
        self.slots = ScrapeSlots(max_concurrent_scrapes, scrape_queue_seconds)
        self.routes: dict[str, Callable[[Scope, Send], Awaitable[None]]] = {
            context.telemetry_path: self._metrics,
            "/": self._index,
            ATTENTION_PATH: self._attention,
            HEALTHY_PATH: self._healthy,
            READY_PATH: self._ready,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        path = scope["path"]
        if not await self._authorized(scope, path):
            challenge = [(b"www-authenticate", f'Basic realm="{REALM}"'.encode())]
            await _respond(send, method, 401, b"401 unauthorized\n", extra=challenge)
            return
        handler = self.routes.get(path)
        if handler is None:
            await _respond(send, method, 404, b"404 page not found\n")
            return
        if method not in ("GET", "HEAD"):
            await _respond(send, method, 405, b"405 method not allowed\n", extra=[(b"allow", b"GET, HEAD")])
            return
        await handler(scope, send)

    async def _authorized(self, scope: Scope, path: str) -> bool:
        """Basic auth, when configured, guards every path but the probes: they reveal nothing, and a
        kubelet probe carries no credentials."""
        if self.auth is None or path in (HEALTHY_PATH, READY_PATH):
            return True
        client = scope.get("client") or ("", 0)
        return await self.auth.allows(_headers(scope).get("authorization"), client=str(client[0]))

    async def _metrics(self, scope: Scope, send: Send) -> None:
        connection = scope.get(CONNECTION_KEY)
        if not await self.slots.acquire(connection):
            extra = [(b"retry-after", b"1"), (b"connection", b"close")]
            await _respond(send, scope["method"], 503, b"503 too many concurrent scrapes\n", extra=extra)
            return
        try:
            await self._write_metrics(scope, send)
        finally:
            self.slots.release(connection)

    async def _write_metrics(self, scope: Scope, send: Send) -> None:
        headers = _headers(scope)
        output = negotiate_format(headers.get("accept", ""))
        compressed = wants_gzip(headers.get("accept-encoding", ""))
        exposition = self.poller.exposition
        if compressed:
            # Deflating a large snapshot takes a while: in a thread (once per snapshot and format).
            reply = await asyncio.to_thread(answer, exposition, self.live, output, compressed=True)
        else:
            reply = answer(exposition, self.live, output)
        extra = [(b"vary", b"Accept, Accept-Encoding"), (b"cache-control", b"no-store")]
        if compressed:
            extra.append((b"content-encoding", b"gzip"))
        connection = scope.get(CONNECTION_KEY)
        await _respond(
            send, scope["method"], 200, reply, content_type=output.content_type, extra=extra, connection=connection
        )

    async def _index(self, scope: Scope, send: Send) -> None:
        page = status_page(self.poller.statuses(), self.context, ready=self.poller.ready)
        extra = [(b"cache-control", b"no-store")]
        await _respond(send, scope["method"], 200, page, content_type="text/html; charset=utf-8", extra=extra)

    async def _attention(self, scope: Scope, send: Send) -> None:
        """The page's "Needs attention" rows as JSON, for scripts and chat bots (made by the poller)."""
        rows = attention(self.poller.statuses())
        payload = json.dumps({"services": [row.to_json() for row in rows]}, ensure_ascii=False)
        extra = [(b"cache-control", b"no-store")]
        answer = redact(payload).encode("utf-8")
        await _respond(send, scope["method"], 200, answer, content_type="application/json; charset=utf-8", extra=extra)

    async def _healthy(self, scope: Scope, send: Send) -> None:
        await _respond(send, scope["method"], 200, HEALTHY)

    async def _ready(self, scope: Scope, send: Send) -> None:
        status, body = READY if self.poller.ready else NOT_READY
        await _respond(send, scope["method"], status, body)

    def probe_answer(self, method: str, target: str) -> bytes | None:
        """The whole answer, closing the connection, to a probe the connection layer answers as soon as it is
        accepted (`exporter.web.connections.probe_request`); None for any other request. The same status
        and body as `_healthy` and `_ready`; readiness is read from the poller's published state, which the
        poll thread replaces whole, so no lock is taken."""
        if target == HEALTHY_PATH:
            status, body = 200, HEALTHY
        elif target == READY_PATH:
            status, body = READY if self.poller.ready else NOT_READY
        else:
            return None
        return _closing_answer(status, body, head=method == "HEAD")

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


HEALTHY = b"Healthy.\n"
READY = (200, b"Ready.\n")
NOT_READY = (503, b"Not ready: waiting for the first poll of every region.\n")
REASONS = {200: b"OK", 503: b"Service Unavailable"}


def _closing_answer(status: int, body: bytes, *, head: bool) -> bytes:
    """A plain-text answer with the headers `_respond` gives, for a connection closed after it."""
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status]),
            b"date: %s\r\n" % email.utils.formatdate(usegmt=True).encode(),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-content-type-options: nosniff\r\n",
            b"connection: close\r\n\r\n",
            b"" if head else body,
        )
    )


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name; repeated headers joined with commas, as HTTP allows."""
    result: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result


async def _respond(
    send: Send,
    method: str,
    status: int,
    body: bytes | Answer,
    *,
    content_type: str = "text/plain; charset=utf-8",
    extra: Sequence[tuple[bytes, bytes]] = (),
    connection: Lossable | None = None,
) -> None:
    """Write the answer slice by slice, letting the loop run between slices, and stop as soon as `connection`
    (the `GuardedProtocol`, absent under other servers) is lost: a client that went away costs no more
    writes, and the transport logs nothing (asyncio warns from the fifth write to a lost socket on)."""
    reply = body if isinstance(body, Answer) else Answer((body,))
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(reply.length).encode()),
        (b"x-content-type-options", b"nosniff"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if method == "HEAD":
        await send({"type": "http.response.body", "body": b""})
        return
    for chunk in reply.chunks:
        view = memoryview(chunk)
        for start in range(0, len(view), SLICE_BYTES):
            await send({"type": "http.response.body", "body": view[start : start + SLICE_BYTES], "more_body": True})
            # A failed write closes the transport, which tells the protocol in a callback of the next loop turn.
            await asyncio.sleep(0)
            if connection is not None and connection.lost:
                return  # uvicorn knows too: it neither writes nor complains about the unfinished answer
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class Lossable(Protocol):
    """The connection an answer is written to, as `_respond` sees it (`GuardedProtocol`)."""

    @property
    def lost(self) -> bool: ...


class Stallable(Protocol):
    """The connection answering a scrape, as `ScrapeSlots` sees it (`GuardedProtocol`)."""

    def stalled_for(self) -> float: ...

    def abort(self) -> None: ...


class ScrapeSlots:
    """At most `size` metrics answers moving at once, and at most `size` more whose clients read nothing.

    An answer whose client has read nothing for `STALLED_SECONDS` gives up its place as soon as a request
    needs one, and goes on outside the count (it costs a slice of memory, not CPU): clients that never
    read must not lock out the ones that do. Beyond `size` such stalled answers, the one stalled longest
    is dropped (its connection closed); any of them is dropped at `--web.write-timeout`. A request that
    finds every place taken by a moving answer waits up to `queue_seconds`, then gets a 503.
    """

    def __init__(self, size: int, queue_seconds: float = SCRAPE_QUEUE_SECONDS) -> None:
        self.size = size
        self.queue_seconds = queue_seconds
        self._semaphore = asyncio.Semaphore(size)
        self._moving: dict[int, Stallable] = {}
        self._stalled: dict[int, Stallable] = {}
        self._set_aside: set[int] = set()
        """Answers whose place was given back: they release nothing when they end."""
        self.in_use = 0
        """Answers holding a place now."""

    async def acquire(self, connection: Stallable | None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.queue_seconds
        while True:
            self._set_stalled_aside()
            try:
                async with asyncio.timeout(min(STALLED_SECONDS / 2, max(0.0, deadline - loop.time()))):
                    await self._semaphore.acquire()
                break
            except TimeoutError:
                if loop.time() >= deadline:
                    return False
        self.in_use += 1
        if connection is not None:
            self._moving[id(connection)] = connection
        return True

    def _set_stalled_aside(self) -> None:
        """Give the places of stalled answers back, and drop the stalled longest beyond `size` of them."""
        if not self._semaphore.locked():
            return
        for key, holder in list(self._moving.items()):
            if holder.stalled_for() >= STALLED_SECONDS:
                self._stalled[key] = self._moving.pop(key)
                self._set_aside.add(key)
                self.in_use -= 1
                self._semaphore.release()
        while len(self._stalled) > self.size:
            longest = max(self._stalled, key=lambda key: self._stalled[key].stalled_for())
            self._stalled.pop(longest).abort()  # its answer ends at its next write

    def release(self, connection: Stallable | None) -> None:
        if connection is not None and id(connection) in self._set_aside:
            self._set_aside.discard(id(connection))
            self._stalled.pop(id(connection), None)
            return  # its place was given back when it stalled
        if connection is not None:
            self._moving.pop(id(connection), None)
        self.in_use -= 1
        self._semaphore.release()


# --- serving ---------------------------------------------------------------------------------------------


class ListenError(Exception):
    """The listen address cannot be bound (in use, not permitted, unknown host)."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; host "" means every interface (IPv4 and, where available, IPv6)."""
    try:
        if not host:
            if socket.has_dualstack_ipv6():
                try:
                    return socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
                except OSError:
                    pass  # no usable IPv6 here: IPv4 only
            return socket.create_server(("0.0.0.0", port))  # noqa: S104 - ":PORT" asks for every interface
        family = socket.AF_INET
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).version == 6:
                family = socket.AF_INET6
        return socket.create_server((host, port), family=family)
    except OSError as error:
        # `os.strerror`: `create_server` spells the address into `strerror` a second time.
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ListenError(f"cannot listen on {host or '*'}:{port}: {reason}") from None


def bound_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the exporter decides when to stop and exits with 0), and
    with the exporter's `Listener` accepting connections within `Limits` instead of `loop.create_server`."""

    def __init__(self, config: uvicorn.Config, limits: Limits, app: ExporterApp) -> None:
        super().__init__(config)
        self.registry = Registry(limits, Tally())
        self.app = app

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        assert sockets is not None and len(sockets) == 1
        config = self.config

        def make_protocol(registry: Registry) -> GuardedProtocol:
            return GuardedProtocol(config, self.server_state, self.lifespan.state, registry)

        listener = Listener(sockets[0], make_protocol, self.registry, config.ssl, self.app.probe_answer)
        self.servers = [listener]  # type: ignore[list-item]  # closed and awaited like an asyncio.Server
        self.started = True

    async def _wait_tasks_to_complete(self) -> None:
        """Give answers still moving most of the grace period, then drop their connections: uvicorn would
        cancel their tasks instead, and log a traceback for each."""
        try:
            async with asyncio.timeout(GRACEFUL_SHUTDOWN_SECONDS - 0.25):
                await super()._wait_tasks_to_complete()
        except TimeoutError:
            for protocol in list(self.registry.protocols):
                protocol.abort()
            await super()._wait_tasks_to_complete()

    async def on_tick(self, counter: int) -> bool:
        if counter % 2 == 0:  # every 200 ms
            self.registry.sweep(time.monotonic())
        return await super().on_tick(counter)


class WebServer:
    """Serves `app` on an already bound socket until `stop()`.

    The socket listens from the moment it is bound, so connections made before uvicorn has started wait
    in the backlog instead of being refused.
    """

    def __init__(
        self, app: ExporterApp, sock: socket.socket, tls: ssl.SSLContext | None = None, limits: Limits | None = None
    ) -> None:
        self.sock = sock
        self.limits = limits if limits is not None else Limits()
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN_SECONDS),
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        config.load()
        config.ssl = tls  # a context built and checked from the web configuration file, or plain HTTP
        self._server = _Server(config, self.limits, app)

    @property
    def address(self) -> str:
        return bound_address(self.sock)

    async def serve(self) -> None:
        await self._server.serve(sockets=[self.sock])

    def stop(self) -> None:
        self._server.should_exit = True
