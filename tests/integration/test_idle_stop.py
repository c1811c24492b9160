"""An exporter waiting for its next poll stops at once when told to, and closes its API client as it goes.

Most of a running exporter's life is this wait (one poll a minute, each taking a few seconds). A stop
must cut it rather than wait it out, and the client's connections must be closed on the poll thread's
loop before it ends, not left to the interpreter's exit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from exporter.app import STOP_SECONDS, Exporter
from exporter.config import load_settings
from exporter.logs import forget_secrets
from exporter.simulator.server import SimulatorServer
from exporter.tencentcloud.credentials import Credentials, StaticProvider
from tests.conftest import signed_simulator

REGION = "ap-guangzhou"
QUICKLY = 1.5
"""Seconds a stop may take: well under the graceful stop's own limit (`STOP_SECONDS` - 1.5), which a stop that
waited for the next poll, or for the client, would run into."""


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with signed_simulator((REGION,), groups=6, seed=4) as server:
        yield server


async def test_an_idle_exporter_stops_at_once_and_closes_its_client(simulator: SimulatorServer) -> None:
    assert QUICKLY < STOP_SECONDS - 1.5
    config = simulator.config
    assert config.secret_id is not None and config.secret_key is not None
    settings = load_settings(
        {
            "--web.listen-address": "127.0.0.1:0",
            "--tione.endpoint": simulator.url,
            "--monitor.endpoint": simulator.url,
            "--tione.regions": REGION,
            "--poll.interval": "10m",
            "--api.rate-limit": "200",
        },
        environ={},
    )
    exporter = Exporter(settings, StaticProvider(Credentials(config.secret_id, config.secret_key)))
    closed: list[bool] = []
    close = exporter.client.aclose

    async def recorded_close() -> None:
        await close()
        closed.append(True)

    exporter.client.aclose = recorded_close  # type: ignore[method-assign]
    stop = asyncio.Event()
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(exporter.serve(stop, listening.set_result))
    try:
        base_url = await asyncio.wait_for(listening, 5)
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
            for _ in range(100):
                if (await http.get("/-/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the first poll never finished")
        await asyncio.sleep(0.2)  # the poll is over: the poller waits ten minutes for the next
        requests = simulator.request_count
        stopped = time.monotonic()
        stop.set()
        assert await asyncio.wait_for(task, STOP_SECONDS) == 0
        took = time.monotonic() - stopped
    finally:
        stop.set()
        if not task.done():
            task.cancel()
        forget_secrets()
    assert took < QUICKLY, f"an idle exporter took {took:.2f}s to stop"
    assert closed == [True], "the API client was not closed"
    assert exporter.client._http.is_closed, "its connections were not closed"
    assert simulator.request_count == requests, "no poll was started by the stop"
