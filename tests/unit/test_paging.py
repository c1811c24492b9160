"""What every paged call shares: field paths in a model mismatch, the budget check, running children together."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import BaseModel, model_validator

from exporter.tencentcloud.errors import MALFORMED_RESPONSE, TIMEOUT, TransportError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione.paging import all_of, check_budget, parse_answer, parse_record
from exporter.tione.records import ResourceGroupsAnswer


class Inner(BaseModel):
    n: int


class Outer(BaseModel):
    items: list[Inner]
    nested: Inner | None = None


class Whole(BaseModel):
    total: int = 0

    @model_validator(mode="after")
    def positive(self) -> Whole:
        if self.total < 0:
            raise ValueError("negative total")
        return self


def mismatch(answer: Any, model: type[BaseModel] = Outer) -> TransportError:
    with pytest.raises(TransportError) as caught:
        parse_answer(model, "DescribeThings", "ap-guangzhou", answer)
    return caught.value


def test_a_mismatch_names_the_field_path_and_keeps_the_request_id() -> None:
    error = mismatch({"items": [{"n": 1}, {"n": "x"}], "RequestId": "req-1"})
    assert error.code == MALFORMED_RESPONSE
    assert error.message.startswith("DescribeThings answer does not fit the model at items[1].n: ")
    assert "(and" not in error.message
    assert (error.request_id, error.region, error.action) == ("req-1", "ap-guangzhou", "DescribeThings")
    error = mismatch({"items": [], "nested": {"n": "y"}, "RequestId": 7})
    assert error.message.startswith("DescribeThings answer does not fit the model at nested.n: ")
    assert error.request_id == "", "a RequestId that is not a string is not one"
    error = mismatch({"items": [{"n": "a"}, {"n": "b"}]})
    assert error.message.endswith(" (and 1 more)")
    root = mismatch({"total": -1}, Whole).message
    assert root.startswith("DescribeThings answer does not fit the model at (root): "), root


def test_a_record_mismatch_names_the_field_path_never_the_value() -> None:
    answer = {"TotalCount": "2", "ResourceGroupSet": [{"FreeInstance": 1.0}, {"TotalInstance": "secret-ish"}]}
    with pytest.raises(TransportError) as caught:
        parse_record(ResourceGroupsAnswer, "DescribeThings", "ap-guangzhou", answer | {"RequestId": "req-2"})
    error = caught.value
    assert error.code == MALFORMED_RESPONSE
    assert error.message.startswith(
        "DescribeThings answer does not fit the model at ResourceGroupSet[1].TotalInstance: "
    )
    assert "secret-ish" not in error.message
    assert error.request_id == "req-2"
    read = parse_record(ResourceGroupsAnswer, "DescribeThings", "ap-guangzhou", {"TotalCount": "2", "Unknown": 1})
    assert read.total_count == 2, "numbers sent as text are read, unknown keys skipped"


class Client:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate_limiter = TokenBucket(rate, burst)


def test_the_budget_refuses_exactly_what_the_bucket_cannot_pass_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("exporter.tione.paging.time.monotonic", lambda: 100.0)
    client: Any = Client(rate=10, burst=2)
    # 12 pages: 2 from the burst, 10 at 10/s = 1.0 s.
    check_budget(client, "DescribeThings", "ap-guangzhou", 1300, 12, deadline=101.0)  # exactly enough
    with pytest.raises(TransportError) as caught:
        check_budget(client, "DescribeThings", "ap-guangzhou", 1300, 12, deadline=100.99)
    error = caught.value
    assert (error.code, error.action, error.region) == (TIMEOUT, "DescribeThings", "ap-guangzhou")
    assert error.message == (
        "DescribeThings TotalCount 1300 needs 12 more pages, at least 1.0s at 10 requests/s, "
        "and 1.0s are left before the deadline"
    )
    check_budget(client, "DescribeThings", "ap-guangzhou", 300, 2, deadline=100.0)  # the burst alone: no time
    with pytest.raises(TransportError):
        check_budget(client, "DescribeThings", "ap-guangzhou", 300, 3, deadline=99.0)  # past the deadline
    with pytest.raises(TransportError):
        check_budget(client, "DescribeThings", "ap-guangzhou", 400, 3, deadline=100.05)  # 0.1 s needed


async def _fail(after: float = 0.0) -> None:
    await asyncio.sleep(after)
    raise TransportError(TIMEOUT, "page failed")


async def test_the_first_failure_cancels_the_rest_at_once_and_is_raised() -> None:
    slow_cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            slow_cancelled.set()
            raise

    started = time.monotonic()
    with pytest.raises(TransportError, match="page failed"):
        await all_of([slow(), _fail(0.01), slow()])
    assert time.monotonic() - started < 1.0
    assert slow_cancelled.is_set()


async def test_results_come_in_order() -> None:
    async def value(n: int) -> int:
        await asyncio.sleep(0.01 * (3 - n))
        return n

    assert await all_of([value(0), value(1), value(2)]) == [0, 1, 2]
    assert await all_of([]) == []


async def test_a_cancellation_while_the_children_wind_down_is_raised_and_every_child_ends() -> None:
    """A child fails, the others are cancelled, one takes a while to end; the caller is cancelled then:
    `CancelledError`, not the child's error, and still every child has ended."""
    ended = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # cleaning up
            ended.set()

    caller = asyncio.create_task(all_of([stubborn(), _fail(0.01)]))
    await asyncio.sleep(0.1)  # the failure is in, the stubborn child is still ending
    assert not caller.done()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(caller, 2)
    assert ended.is_set()
