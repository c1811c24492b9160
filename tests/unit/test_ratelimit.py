from __future__ import annotations

import asyncio
import time

import pytest

from exporter.tencentcloud.ratelimit import DEFAULT_BURST, DEFAULT_RATE, TokenBucket


def test_defaults_are_conservative() -> None:
    bucket = TokenBucket()
    assert (bucket.rate, bucket.burst) == (DEFAULT_RATE, DEFAULT_BURST) == (10.0, 2)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_rejects_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


async def test_burst_is_free_then_rate_applies() -> None:
    bucket = TokenBucket(rate=50, burst=3)
    waits = [await bucket.acquire() for _ in range(3)]
    assert waits == [pytest.approx(0.0, abs=0.005)] * 3
    start = time.monotonic()
    for _ in range(10):
        await bucket.acquire()
    elapsed = time.monotonic() - start
    assert 10 / 50 - 0.01 <= elapsed < 10 / 50 + 0.3


async def test_rate_is_never_exceeded_under_concurrency() -> None:
    rate, burst, n = 100.0, 2, 40
    bucket = TokenBucket(rate=rate, burst=burst)
    stamps: list[float] = []

    async def worker() -> None:
        await bucket.acquire()
        stamps.append(time.monotonic())

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(n)))
    # Between the i-th and j-th acquisition at least (j - i - burst) / rate seconds pass; a late wake-up can
    # only bring recorded stamps closer, hence the allowance of a few tokens' time.
    allowance = 0.03
    stamps.sort()
    for i, first in enumerate(stamps):
        for j in range(i + 1, len(stamps)):
            assert stamps[j] - first >= (j - i - burst) / rate - allowance
    assert time.monotonic() - start >= (n - burst) / rate - 0.005


async def test_waiters_are_served_in_arrival_order() -> None:
    bucket = TokenBucket(rate=200, burst=1)
    await bucket.acquire()  # empty the bucket so everyone queues
    order: list[int] = []

    async def worker(index: int) -> None:
        await bucket.acquire()
        order.append(index)

    tasks = []
    for index in range(20):
        tasks.append(asyncio.create_task(worker(index)))
        await asyncio.sleep(0)  # make arrival order explicit
    await asyncio.gather(*tasks)
    assert order == list(range(20))


async def test_acquire_reports_the_time_it_waited() -> None:
    bucket = TokenBucket(rate=20, burst=1)
    assert await bucket.acquire() == pytest.approx(0.0, abs=0.005)
    waited = await bucket.acquire()
    assert 0.04 <= waited <= 0.2


async def test_cancelled_waiter_leaves_the_queue_without_taking_a_token() -> None:
    bucket = TokenBucket(rate=10, burst=1)
    await bucket.acquire()
    head = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0.01)
    behind = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0.01)
    head.cancel()
    with pytest.raises(asyncio.CancelledError):
        await head
    # The waiter behind it gets the token the cancelled one would have had, at the same moment.
    waited = await asyncio.wait_for(behind, timeout=1)
    assert 0.05 <= waited <= 0.25
    assert bucket.available < 0.5


async def test_cancellation_while_queued_behind_others() -> None:
    bucket = TokenBucket(rate=50, burst=1)
    await bucket.acquire()
    first = asyncio.create_task(bucket.acquire())
    second = asyncio.create_task(bucket.acquire())
    third = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0)
    second.cancel()
    results = await asyncio.gather(first, second, third, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    # `third` took the second slot: one interval after `first`, not two.
    assert isinstance(results[0], float) and isinstance(results[2], float)
    assert results[2] - results[0] < 1.5 / 50


async def test_an_idle_bucket_saves_up_no_more_than_its_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a long idle spell the next poll still goes out at the rate: only `burst` requests are free."""
    now = [1000.0]
    monkeypatch.setattr("exporter.tencentcloud.ratelimit.time.monotonic", lambda: now[0])
    bucket = TokenBucket(rate=10, burst=2)
    assert await bucket.acquire() == 0.0
    now[0] += 3600.0  # an hour idle: 36,000 tokens' worth of time
    assert bucket.available == 2.0
    assert await bucket.acquire() == 0.0
    assert await bucket.acquire() == 0.0
    assert bucket.available == 0.0  # the third request of the poll waits for the rate
    now[0] += 0.05
    assert bucket.available == pytest.approx(0.5)


async def test_a_partly_idle_bucket_refills_at_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("exporter.tencentcloud.ratelimit.time.monotonic", lambda: now[0])
    bucket = TokenBucket(rate=10, burst=5)
    for _ in range(5):
        await bucket.acquire()
    now[0] += 0.25
    assert bucket.available == pytest.approx(2.5)


def test_rates_below_one_a_second_are_allowed_and_nonsense_is_named() -> None:
    """The settings allow down to 0.1 requests/s; the bucket must take it."""
    assert TokenBucket(0.1, 1).rate == 0.1
    assert TokenBucket(0.5, 1).rate == 0.5
    with pytest.raises(ValueError, match=r"^rate must be positive, got 0$"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match=r"^burst must be at least 1, got 0$"):
        TokenBucket(1, 0)


async def test_a_token_refilled_while_waiting_is_taken_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly one token saved up is enough for a request, and a request takes exactly one."""
    now = [1000.0]
    monkeypatch.setattr("exporter.tencentcloud.ratelimit.time.monotonic", lambda: now[0])
    bucket = TokenBucket(rate=4, burst=3)
    assert await bucket.acquire() == 0.0
    assert bucket.available == 2.0
    assert await bucket.acquire() == 0.0
    assert bucket.available == 1.0
    assert await asyncio.wait_for(bucket.acquire(), 1) == 0.0
    assert bucket.available == 0.0
