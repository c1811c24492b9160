"""A stop stays a stop: cancellation is never turned into a failure the caller carries on after.

The exact race behind "7 of 32 SIGTERMs never exited": a task group's child fails at the instant its
parent is cancelled. The task group then raises the child's error (errors have priority over the
cancellation), and whoever turns that into an outcome must still see that the task is being cancelled.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from exporter.metrics.self import SelfMetrics
from exporter.poller import Poller, PollPlan
from exporter.tencentcloud.errors import TIMEOUT, TransportError
from exporter.tione.paging import all_of, each
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import Sink, Source
from tests import render_helpers as rendered


async def _cancel_parent_and_fail(parent: list[asyncio.Task[Any]]) -> None:
    """Cancel the task that runs the group, then fail in the same step: both land before it wakes."""
    await asyncio.sleep(0)
    parent[0].cancel()
    raise TransportError(TIMEOUT, "failed as the stop arrived")


async def test_all_of_raises_the_cancellation_when_a_child_fails_as_the_caller_is_cancelled() -> None:
    parent: list[asyncio.Task[Any]] = []
    outcome: list[str] = []

    async def caller() -> None:
        try:
            await all_of([_cancel_parent_and_fail(parent), asyncio.sleep(10)])
        except TransportError:
            outcome.append("failure")  # what a poll would record, and then carry on
            raise

    task = asyncio.create_task(caller())
    parent.append(task)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert outcome == []
    assert task.cancelled()


async def test_each_passes_the_cancellation_on_too() -> None:
    parent: list[asyncio.Task[Any]] = []

    async def work(item: int) -> None:
        if item == 0:
            await _cancel_parent_and_fail(parent)
        await asyncio.sleep(10)

    task = asyncio.create_task(each(work, range(3)))
    parent.append(task)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)


async def test_all_of_still_raises_the_first_failure_when_nobody_cancels() -> None:
    async def fail() -> None:
        raise TransportError(TIMEOUT, "plain failure")

    with pytest.raises(TransportError, match="plain failure"):
        await all_of([fail(), asyncio.sleep(10)])
    assert asyncio.current_task() is not None
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


def _source(fetch: Any) -> Source[Any]:
    return Source(
        "DescribeModelServiceGroups",
        fetch,
        lambda snapshot, groups: dataclasses.replace(snapshot, groups=groups),
        empty=(),
        probe=None,  # type: ignore[arg-type]
        primary=True,
    )


async def test_the_poll_loop_ends_when_a_source_turns_the_stop_into_an_error() -> None:
    """A library below that swallows the cancellation (and raises an API error instead) must not keep
    the region's loop alive: the poll is not recorded as failed and `run` ends."""
    entered = asyncio.Event()
    calls = 0

    async def swallowing(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[()]:
        nonlocal calls
        calls += 1
        if calls > 1:  # the loop carried on after the stop: end it here, so that the test fails, not hangs
            raise asyncio.CancelledError
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise TransportError(TIMEOUT, "connection torn down") from None
        return ()

    metrics = SelfMetrics(("r1",))
    poller = Poller(PollPlan(regions=("r1",), sources=(_source(swallowing),), interval=0.01), metrics)
    run = asyncio.create_task(poller.run())
    await asyncio.wait_for(entered.wait(), 2)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 2)
    assert calls == 1
    assert rendered.status(poller, "r1").polls == 0


async def test_the_poll_loop_ends_when_cancelled_as_a_paged_read_fails() -> None:
    """The race end to end in the poller: the region's loop is cancelled at the instant a page fails."""
    loops: list[asyncio.Task[Any]] = []
    polls = 0

    async def paged(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[()]:
        nonlocal polls
        polls += 1
        current = asyncio.current_task()
        assert current is not None
        loops[:] = [current]
        await all_of([_cancel_parent_and_fail(loops), asyncio.sleep(10)])
        return ()

    metrics = SelfMetrics(("r1",))
    poller = Poller(PollPlan(regions=("r1",), sources=(_source(paged),), interval=0.01), metrics)
    await asyncio.wait_for(poller.run(), 2)  # the only region's loop ended: a cancelled child is no error
    assert loops[0].cancelled()
    assert polls == 1
    assert rendered.status(poller, "r1").polls == 0
