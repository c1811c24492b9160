"""Probes answered as their connection is accepted: which requests take that path, and that the answer there is
the app's answer, over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exporter.web.connections import Limits, probe_request
from exporter.web.server import HEALTHY_PATH, READY_PATH, ExporterApp, WebServer, bind
from tests.unit.test_web_limits import CONTEXT, Live, Served, Snapshot

KUBELET = (
    b"GET /-/healthy HTTP/1.1\r\nHost: 10.0.0.7:9100\r\nUser-Agent: kube-probe/1.30\r\nAccept: */*\r\n"
    b"Connection: close\r\n\r\n"
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (KUBELET, ("GET", "/-/healthy")),
        (b"HEAD /-/ready HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n", ("HEAD", "/-/ready")),
        (b"GET /-/ready HTTP/1.0\r\nConnection: close\r\n\r\n", ("GET", "/-/ready")),
        (b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: keep-alive,close\r\n\r\n", ("GET", "/-/ready")),
        (
            b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ("GET", "/-/healthy"),
        ),
    ],
)
def test_a_whole_request_that_asks_to_close_is_a_probe_request(data: bytes, expected: tuple[str, str]) -> None:
    assert probe_request(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n",  # kept alive: the ordinary path keeps it open
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",  # the head is not whole yet
        KUBELET + b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n",  # a second request behind it
        b"POST /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        b"GET /-/healthy HTTP/1.1\r\nConnection: close\r\n\r\n",  # HTTP/1.1 without Host: uvicorn says 400
        b"GET /-/healthy HTTP/1.1\r\nHost : x\r\nConnection: close\r\n\r\n",
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-A : b\r\nConnection: close\r\n\r\n",  # h11 says 400
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n folded\r\nConnection: close\r\n\r\n",
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nno colon\r\nConnection: close\r\n\r\n",
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n: x\r\nConnection: close\r\n\r\n",
        b"GET /-/healthy\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /-/healthy HTTP/1.1 x\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /-/healthy HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET  /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /-/h\xe9althy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    ],
)
def test_anything_else_takes_the_ordinary_path(data: bytes) -> None:
    assert probe_request(data) is None


class Counting(ExporterApp):
    """The app, counting the requests that reach it (those the connection layer did not answer)."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__(snapshot, Live(), CONTEXT)
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls += 1
        await super().__call__(scope, receive, send)


@pytest.fixture
async def counted(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Served, Counting, Snapshot]]:
    snapshot = Snapshot(ready=getattr(request, "param", True))
    app = Counting(snapshot)
    sock = bind("127.0.0.1", 0)
    host, port = sock.getsockname()[:2]
    server = WebServer(app, sock, limits=Limits(max_connections=2))
    task = asyncio.create_task(server.serve())
    yield Served(server, host, port), app, snapshot
    server.stop()
    await asyncio.wait_for(task, 5)


async def ask(served: Served, request: bytes) -> bytes:
    """Connect and send `request` before the server's loop runs again (loopback completes the connection in
    the kernel), so the whole request is there when the connection is accepted; what comes back until closed."""
    sock = socket.create_connection((served.host, served.port))
    sock.sendall(request)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    answer = b""
    async with asyncio.timeout(5):
        with contextlib.suppress(ConnectionResetError):  # refused: closed with the request unread
            while chunk := await loop.sock_recv(sock, 65536):
                answer += chunk
    sock.close()
    return answer


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split(" ")[1]), headers, body


async def test_a_probe_is_answered_by_the_connection_layer_as_the_app_would(
    counted: tuple[Served, Counting, Snapshot],
) -> None:
    served, app, _ = counted
    early = parse(await ask(served, KUBELET))
    assert app.calls == 0
    ordinary = parse(await ask(served, KUBELET.replace(b"healthy", b"healthy?from=test")))
    assert app.calls == 1  # a query: uvicorn's path
    assert early[0] == ordinary[0] == 200
    assert early[2] == ordinary[2] == b"Healthy.\n"
    assert early[1].pop("date") and ordinary[1].pop("date")  # the times may differ by a second
    assert early[1] == ordinary[1]
    head = parse(await ask(served, KUBELET.replace(b"GET", b"HEAD")))
    assert (head[0], head[1]["content-length"], head[2]) == (200, "9", b"")
    assert app.calls == 1


@pytest.mark.parametrize("counted", [False], indirect=True)
async def test_readiness_is_read_from_the_poller_at_each_probe(counted: tuple[Served, Counting, Snapshot]) -> None:
    served, app, snapshot = counted
    request = KUBELET.replace(HEALTHY_PATH.encode(), READY_PATH.encode())
    status, _, body = parse(await ask(served, request))
    assert (status, body) == (503, b"Not ready: waiting for the first poll of every region.\n")
    snapshot.ready = True
    status, _, body = parse(await ask(served, request))
    assert (status, body) == (200, b"Ready.\n")
    assert app.calls == 0


async def test_a_probe_is_answered_when_every_connection_is_busy(
    counted: tuple[Served, Counting, Snapshot], caplog: pytest.LogCaptureFixture
) -> None:
    """Two answers whose clients read nothing fill the cap of two: an ordinary request is refused, a probe not."""
    caplog.set_level(logging.WARNING, logger="exporter.web.connections")
    served, _, _ = counted
    stalled = [await served.connect(receive_buffer=4096) for _ in range(2)]
    for _, writer in stalled:
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.sleep(0.3)
    assert await ask(served, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == b""
    assert parse(await ask(served, KUBELET))[0] == 200
    for _, writer in stalled:
        writer.close()
    assert [record.__dict__.get("refused_busy") for record in caplog.records] == [1]


async def test_probes_answered_at_the_accept_leave_nothing_behind(
    counted: tuple[Served, Counting, Snapshot], caplog: pytest.LogCaptureFixture
) -> None:
    served, app, _ = counted
    caplog.set_level(logging.WARNING)
    for _ in range(5):
        assert parse(await ask(served, KUBELET))[0] == 200
    await asyncio.sleep(0.05)
    assert app.calls == 0
    assert len(served.server._server.registry) == 0
    assert caplog.records == []


class GoneClients(socket.socket):
    """A listening socket whose accepted connections fail to send, as when the client has gone."""

    def accept(self) -> tuple[socket.socket, Any]:
        conn, address = super().accept()
        return Unwritable(conn.family, conn.type, conn.proto, fileno=conn.detach()), address


class Unwritable(socket.socket):
    def send(self, data: Any, flags: int = 0) -> int:
        raise BrokenPipeError(32, "Broken pipe")


async def test_a_probe_whose_client_has_gone_is_closed_without_a_fuss(caplog: pytest.LogCaptureFixture) -> None:
    listening = GoneClients(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    server = WebServer(ExporterApp(Snapshot(), Live(), CONTEXT), listening)
    task = asyncio.create_task(server.serve())
    caplog.set_level(logging.WARNING)
    try:
        assert await ask(Served(server, *listening.getsockname()[:2]), KUBELET) == b""
    finally:
        server.stop()
        await asyncio.wait_for(task, 5)
    assert caplog.records == []
