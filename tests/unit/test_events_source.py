"""The events source on its own, with a stand-in client: which services it asks, how often, within what time."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import httpx
import pytest

from exporter.tencentcloud.client import ClientHooks, TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import APIError, TencentCloudError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione.events import ACTION, source, troubled
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import NoSink
from exporter.tione.text import KEPT_TEXT, MAX_TEXT
from tests.api_models import ServiceGroup

REGION = "ap-guangzhou"


class FakeClient:
    """Answers `DescribeEvents` per service id: an answer (a dict, or one event by default), an error to
    raise, or "hang"."""

    def __init__(self, behaviour: dict[str, Any] | None = None) -> None:
        self.behaviour = behaviour or {}
        self.calls: list[dict[str, Any]] = []

    async def call(self, action: str, region: str, params: dict[str, Any], *, deadline: float) -> dict[str, Any]:
        assert action == ACTION
        self.calls.append(params)
        what = self.behaviour.get(params["ServiceId"])
        if what == "hang":
            await asyncio.sleep(3600)
        if isinstance(what, Exception):
            raise what
        if isinstance(what, dict):
            return what
        message = f"event of {params['ServiceId']}"
        event = {"Id": "1", "Message": message, "LastTimestamp": "2024-05-01T10:00:00Z", "Count": 3, "Type": "Warning"}
        return {"TotalCount": 1, "Events": [event], "RequestId": "r"}

    def report_error(self, region: str, action: str, code: str) -> None:
        pass


def snapshot(*troubled_since: str, healthy: int = 2) -> RegionSnapshot:
    """One group per troubled service (Abnormal since the given time) and a few healthy ones."""
    groups = [
        {
            "ServiceGroupId": f"ms-t{index}",
            "Services": [
                {
                    "ServiceId": f"ms-t{index}-1",
                    "Status": "Abnormal",
                    "UpdateTime": since,
                    "ServiceInfo": {"Replicas": 1, "Status": {"AvailableReplicas": 0}},
                }
            ],
        }
        for index, since in enumerate(troubled_since)
    ]
    groups += [
        {
            "ServiceGroupId": f"ms-h{index}",
            "Services": [
                {
                    "ServiceId": f"ms-h{index}-1",
                    "Status": "Normal",
                    "ServiceInfo": {"Replicas": 1, "Status": {"AvailableReplicas": 1}},
                }
            ],
        }
        for index in range(healthy)
    ]
    return RegionSnapshot(REGION, tuple(ServiceGroup.model_validate(group) for group in groups))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SINCE = (
    "2024-05-01T05:00:00Z",
    "2024-05-01T01:00:00Z",
    "2024-05-01T03:00:00Z",
    "2024-05-01T02:00:00Z",
    "2024-05-01T04:00:00Z",
)


def test_troubled_services_longest_first() -> None:
    assert [service_id for _, service_id in troubled(snapshot(*SINCE))] == [
        "ms-t1-1",
        "ms-t3-1",
        "ms-t2-1",
        "ms-t4-1",
        "ms-t0-1",
    ]


async def test_bounded_per_poll_longest_first_then_cached_until_refresh() -> None:
    client, clock = FakeClient(), Clock()
    events = source(client, max_services=2, refresh=60.0, clock=clock)  # type: ignore[arg-type]
    state = snapshot(*SINCE)

    async def poll() -> list[str]:
        client.calls.clear()
        result = await events.fetch(REGION, state, clock() + 20, NoSink())
        calls = [call["ServiceId"] for call in client.calls]
        assert {item.service_id for item in result} == set(asked) | set(calls)  # fresh and cached answers
        return calls

    asked: list[str] = []
    first = await poll()
    assert first == ["ms-t1-1", "ms-t3-1"]
    asked += first
    clock.now += 10
    second = await poll()
    assert second == ["ms-t2-1", "ms-t4-1"]
    asked += second
    clock.now += 10
    assert await poll() == ["ms-t0-1"]
    asked.append("ms-t0-1")
    clock.now += 10
    assert await poll() == []  # everyone asked within the refresh interval
    clock.now += 40
    assert await poll() == ["ms-t1-1", "ms-t3-1"]  # 60 s after their first answer


async def test_the_request_names_the_workspace_the_group_was_listed_in() -> None:
    client = FakeClient()
    state = snapshot(*SINCE[:2])
    state = dataclasses.replace(state, group_workspaces={"ms-t0": "ws-1"})
    await source(client).fetch(REGION, state, time.monotonic() + 5, NoSink())  # type: ignore[arg-type]
    workspaces = {call["ServiceId"]: call.get("TiProjectId") for call in client.calls}
    assert workspaces == {"ms-t0-1": "ws-1", "ms-t1-1": None}  # unknown: the default workspace


async def test_a_hanging_call_never_holds_the_poll_past_the_deadline_it_was_given() -> None:
    """The poller's deadline for a secondary source is its share of the poll: the source returns by then."""
    client = FakeClient({"ms-t0-1": "hang", "ms-t1-1": "hang"})
    events = source(client)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(TencentCloudError) as caught:
        await events.fetch(REGION, snapshot(*SINCE[:2]), started + 0.5, NoSink())
    elapsed = time.monotonic() - started
    assert caught.value.code == "Timeout"
    assert 0.4 < elapsed < 0.6


async def test_one_failure_keeps_the_others_and_the_last_answer() -> None:
    clock = Clock()
    client = FakeClient()
    events = source(client, max_services=5, refresh=60.0, clock=clock)  # type: ignore[arg-type]
    state = snapshot(*SINCE[:2])
    assert len(await events.fetch(REGION, state, clock() + 5, NoSink())) == 2
    clock.now += 61
    client.behaviour = {"ms-t0-1": APIError("InternalError", "boom")}
    result = await events.fetch(REGION, state, clock() + 5, NoSink())
    assert {item.service_id for item in result} == {"ms-t0-1", "ms-t1-1"}  # ms-t0-1 keeps its last answer
    client.behaviour = {"ms-t0-1": APIError("InternalError", "boom"), "ms-t1-1": APIError("InternalError", "boom")}
    clock.now += 61
    with pytest.raises(APIError):  # every call failed: the poller hears of it (logs it, keeps the last result)
        await events.fetch(REGION, state, clock() + 5, NoSink())


async def test_a_service_that_recovers_is_forgotten() -> None:
    client = FakeClient()
    events = source(client, refresh=3600.0)  # type: ignore[arg-type]
    result = await events.fetch(REGION, snapshot(*SINCE[:2]), time.monotonic() + 5, NoSink())
    assert len(result) == 2
    result = await events.fetch(REGION, snapshot(SINCE[0]), time.monotonic() + 5, NoSink())
    assert [item.service_id for item in result] == ["ms-t0-1"]
    assert result[0].total == 1 and result[0].events[0].message == "event of ms-t0-1"


async def test_nothing_troubled_asks_nothing() -> None:
    client = FakeClient()
    assert await source(client).fetch(REGION, snapshot(), time.monotonic() + 5, NoSink()) == ()  # type: ignore[arg-type]
    assert client.calls == []


async def test_a_call_that_outlives_the_share_of_the_poll_is_counted_as_a_timeout_of_the_action() -> None:
    """With the real client: the source cuts a hung call at the deadline it was given, and the cut is
    counted under `DescribeEvents` and `Timeout` (`tione_exporter_api_errors_total`), once per call."""
    errors: list[tuple[str, str, str]] = []

    class Hooks(ClientHooks):
        def on_error(self, region: str, action: str, code: str) -> None:
            errors.append((region, action, code))

    async def hangs(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("never answered")

    client = TencentCloudClient(
        endpoint="http://127.0.0.1:9",
        service="tione",
        version="2021-11-11",
        credentials=Credentials("AKIDexample", "secret-key-0123"),
        rate_limiter=TokenBucket(rate=1000, burst=100),
        hooks=Hooks(),
        http=httpx.AsyncClient(transport=httpx.MockTransport(hangs)),
    )
    events = source(client, max_services=2)
    started = time.monotonic()
    with pytest.raises(TencentCloudError) as caught:
        await events.fetch(REGION, snapshot(*SINCE[:2]), started + 0.3, NoSink())
    assert caught.value.code == "Timeout"
    assert errors == [(REGION, ACTION, "Timeout")], (
        "one call in flight at a time: the first is cut, the second never starts"
    )


async def test_the_cache_keeps_each_message_cut_to_what_is_kept() -> None:
    """A message may be a megabyte; the cache holds it for minutes, and only `MAX_TEXT` characters are shown."""
    long = {"Id": "1", "Message": "x" * (1 << 20), "Type": "Warning"}
    answer = {"TotalCount": 2, "Events": [long, {"Id": "2", "Message": "short", "Type": "Warning"}], "RequestId": "r"}
    client = FakeClient({"ms-t0-1": answer})
    events = source(client)  # type: ignore[arg-type]
    (kept,) = await events.fetch(REGION, snapshot(SINCE[0]), time.monotonic() + 5, NoSink())
    assert [event.message for event in kept.events] == ["x" * KEPT_TEXT, "short"]
    assert MAX_TEXT < KEPT_TEXT < 1 << 20
