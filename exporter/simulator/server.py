"""The simulator on a real socket: a small ASGI app served by uvicorn in a background thread.

The server runs its own event loop in its own thread so that blocking clients (the official SDK)
and async tests can both talk to it from the test's thread. The socket is bound before the thread
starts, so port 0 yields a free port that `url` knows at once, and stopping waits for the thread to
finish, so no thread and no listening port outlive the `with` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any

import uvicorn

from exporter.simulator.answer import Answer
from exporter.simulator.api import Request
from exporter.simulator.config import SimulatorConfig
from exporter.simulator.core import Simulator

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client left before sending it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class SimulatorServer(Simulator):
    """A `Simulator` served over HTTP on `host:port` (port 0 picks a free one) while the context is open.

    With `config.churn` on, a churn step runs every `config.churn_interval` seconds while serving.
    """

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(config)
        self._host = host
        self._port = port
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._failure: BaseException | None = None

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the free one chosen when 0 was asked for) once started."""
        return self._port

    @property
    def url(self) -> str:
        """The endpoint to give a client, e.g. `http://127.0.0.1:40123`."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def endpoint(self) -> str:
        """`host:port`, the form the official SDK's `HttpProfile(endpoint=...)` takes."""
        return self.url.removeprefix("http://")

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind and serve; returns once the server accepts connections. Raises OSError if it cannot bind."""
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio turns Nagle off only for sockets that say so, and with Nagle on
        # a small answer written in two parts waits for the client's delayed ACK (40 ms a request).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._failure = None
        self._thread = threading.Thread(target=self._run, name=f"tione-simulator-{self._port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator did not start on {self.url}: {self._failure!r}")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving: held and delayed answers are cut short, the thread ends, the port is released."""
        thread, server, loop = self._thread, self._server, self._loop
        if server is not None:
            server.should_exit = True
        if loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(self._stopping.set)
        if thread is not None:
            thread.join(_STOP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._thread = self._server = self._loop = self._socket = None
        self._stopping = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # uvicorn exits with SystemExit when it cannot start
            self._failure = exc
        finally:
            loop.close()

    async def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        self._stopping = asyncio.Event()
        churn = asyncio.create_task(self._churn_loop()) if self.config.churn else None
        try:
            await self._server.serve(sockets=[self._socket])
        finally:
            if churn is not None:
                churn.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await churn

    async def _churn_loop(self) -> None:
        assert self._stopping is not None
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.config.churn_interval)
            if not self._stopping.is_set():
                self.churn_step(1)

    # -- the ASGI app -----------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        if body is None:
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        request = Request(
            method=scope["method"], path=scope["path"], headers=headers, body=body, received_at=time.time()
        )
        answer = self.handle(request)
        if answer.delay > 0:
            await self._pause(answer.delay)
        if answer.hold > 0:
            await self._hold(receive, answer.hold)
        await self._send(send, answer)

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless the server is stopping."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _hold(self, receive: Receive, seconds: float) -> None:
        """Stall until the client gives up, the server stops, or `seconds` pass."""
        assert self._stopping is not None

        async def client_left() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiters = [asyncio.ensure_future(client_left()), asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    @staticmethod
    async def _send(send: Send, answer: Answer) -> None:
        headers = [
            (b"content-type", answer.content_type.encode()),
            (b"content-length", str(len(answer.body)).encode()),
            *((name.encode(), value.encode()) for name, value in answer.headers),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
