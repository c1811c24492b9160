"""What every TI-ONE call a source makes has in common: parsing an answer, paging, running pages concurrently.

The `Describe*` actions page by `Offset` and `Limit` and announce `TotalCount` on every page. A source
states how to ask for the page at an offset and how to read one answer; `read_pages` does the rest:
the first page, then the others concurrently through a few workers, refusing up front a `TotalCount`
the token bucket cannot serve before the deadline. An answer that does not fit its model is a
`MalformedResponse` naming the field path (never the value), counted by the client's hooks like any
other error of the action.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

import msgspec
from pydantic import BaseModel, ValidationError

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.errors import MALFORMED_RESPONSE, TIMEOUT, TransportError
from exporter.tencentcloud.gcpause import paused_gc

A = TypeVar("A")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
S = TypeVar("S", bound=msgspec.Struct)

WORKERS = 8
"""Requests of one paged read in flight at once. The token bucket paces them anyway; 8 keep a bucket of 20
requests/s busy while answers take up to 0.4 s, and bound what a read holds whatever `TotalCount` says."""
MAX_TOTAL_COUNT = 1_000_000
"""The largest `TotalCount` taken at its word: over 10,000 pages, hours at the API's 20 requests/s and far
beyond any real fleet. A larger one can only be a broken answer, refused before any request is spent on it."""

Params = dict[str, Any]


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(root)"


def malformed(action: str, region: str, answer: dict[str, Any], reason: str) -> TransportError:
    """The error for an answer of `action` that cannot be used, carrying its RequestId."""
    request_id = answer.get("RequestId")
    return TransportError(
        MALFORMED_RESPONSE,
        f"{action} answer {reason}",
        request_id=request_id if isinstance(request_id, str) else "",
        region=region,
        action=action,
    )


def parse_answer(model: type[M], action: str, region: str, answer: dict[str, Any]) -> M:
    """Validate one `Response` object; a mismatch names the field path (never the value)."""
    try:
        with paused_gc():
            return model.model_validate(answer)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        reason = f"does not fit the model at {_field_path(first['loc'])}: {first['msg']}{more}"
        raise malformed(action, region, answer, reason) from None


def parse_record(record: type[S], action: str, region: str, answer: dict[str, Any]) -> S:
    """Read one `Response` object into its record (`exporter.tione.records`), lax about numbers sent as
    text like the listing's decoder; a mismatch names the field path (never the value)."""
    try:
        with paused_gc():
            return msgspec.convert(answer, record, strict=False)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        path = where.rstrip("`").lstrip(".") or "(root)"
        raise malformed(action, region, answer, f"does not fit the model at {path}: {message}") from None


def check_total(action: str, region: str, answer: dict[str, Any], total: int | None) -> int:
    """`TotalCount` as announced, refused when missing, negative or implausibly large."""
    if total is None or total < 0:
        raise malformed(action, region, answer, "lacks a valid TotalCount")
    if total > MAX_TOTAL_COUNT:
        raise malformed(action, region, answer, f"has an implausible TotalCount {total} (over {MAX_TOTAL_COUNT})")
    return total


async def call_parsed(
    client: TencentCloudClient,
    action: str,
    region: str,
    params: Params,
    parse: Callable[[str, dict[str, Any]], T],
    *,
    deadline: float,
    typed: Callable[[bytes], T | None] | None = None,
) -> T:
    """One call of `action`, its answer read by `parse(region, answer)`; a parse failure is the action's error.

    `typed` reads the answer's body in one pass where it can (see `TencentCloudClient.call_typed`);
    `parse` then only reads what it could not."""
    if typed is None:
        answer = await client.call(action, region, params, deadline=deadline)
    else:
        read = await client.call_typed(action, region, params, typed, deadline=deadline)
        if not isinstance(read, dict):
            return read
        answer = read
    try:
        return parse(region, answer)
    except TransportError as exc:
        client.report_error(region, action, exc.code)
        raise


def check_budget(
    client: TencentCloudClient, action: str, region: str, total: int, pages: int, *, deadline: float
) -> None:
    """Fail now when the token bucket cannot let `pages` more requests through before the deadline.

    The bucket holds at most `burst` tokens and makes `rate` a second, so this is a lower bound on the
    time the pages take: a read refused here could not have finished, and no quota is spent on it.
    """
    bucket = client.rate_limiter
    needed = max(0, pages - bucket.burst) / bucket.rate
    left = max(0.0, deadline - time.monotonic())
    if needed > left:
        raise TransportError(
            TIMEOUT,
            f"{action} TotalCount {total} needs {pages} more pages, at least {needed:.1f}s at "
            f"{bucket.rate:g} requests/s, and {left:.1f}s are left before the deadline",
            region=region,
            action=action,
        )


def cancelling() -> bool:
    """Whether the current task has a cancellation pending that nothing has taken back (`Task.uncancel`)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def raise_if_cancelling() -> None:
    """Raise `CancelledError` when the current task is being cancelled.

    For every place that turns an error into an outcome (a failed poll, a failed source, a check line):
    the error may be what is left of a cancellation that something below swallowed, and a stop must stay
    a stop, never become a failure the caller carries on after.
    """
    if cancelling():
        raise asyncio.CancelledError


async def all_of(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run all concurrently, results in order; the first failure cancels the rest and is raised itself.

    Every task is awaited to its end, so no failure is left unretrieved, also when the caller is cancelled.
    A cancellation of the caller is always raised as `CancelledError`, even when a child failed at the same
    instant. (Not a `TaskGroup`: it gives its children's errors priority over the caller's cancellation, so
    a stop arriving as a page fails would become an ordinary failure the caller carries on after; and on
    Python before 3.13 a group whose child fails leaves its own cancellation request counted in the
    caller's `Task.cancelling()`, which would then read as a stop.)
    """
    tasks = [asyncio.create_task(item) for item in coroutines]
    cancelled = False
    try:
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        cancelled = True
    first = next(
        (task.exception() for task in tasks if task.done() and not task.cancelled() and task.exception()), None
    )
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    while pending:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError:  # the children are cancelled already: let them finish cleaning up
            cancelled = True
        pending = [task for task in pending if not task.done()]
    for task in tasks:  # retrieved, so that no "exception was never retrieved" is logged later
        if not task.cancelled():
            task.exception()
    if cancelled:
        raise asyncio.CancelledError
    if first is not None:
        raise first
    return [task.result() for task in tasks]


async def each(func: Callable[[A], Awaitable[T]], items: Iterable[A], workers: int = WORKERS) -> list[T]:
    """`func` over `items` with at most `workers` calls running, results in the order of `items`.

    `items` is read lazily, one item whenever a worker is free, so a long range costs nothing up front.
    The first failure stops the other workers and is raised.
    """
    todo = enumerate(items)
    results: dict[int, T] = {}

    async def worker() -> None:
        for index, item in todo:
            results[index] = await func(item)

    await all_of(worker() for _ in range(workers))
    return [results[index] for index in range(len(results))]


async def read_pages(
    client: TencentCloudClient,
    action: str,
    region: str,
    params: Callable[[int, int], Params],
    parse: Callable[[str, dict[str, Any]], tuple[int, Sequence[T]]],
    *,
    limit: int,
    deadline: float,
    typed: Callable[[bytes], tuple[int, Sequence[T]] | None] | None = None,
) -> list[T]:
    """Every item of a paged action: `params(offset, limit)` asks for a page, `parse(region, answer)` gives
    (`TotalCount`, items), `typed` reads a page's body in one pass where it can (see `call_parsed`).
    Pages do not overlap; for a list that must stay consistent while it changes under the reader, see the
    listing of service groups."""

    async def page(offset: int) -> tuple[int, Sequence[T]]:
        body = params(offset, limit)
        return await call_parsed(client, action, region, body, parse, deadline=deadline, typed=typed)

    total, first = await page(0)
    offsets = range(limit, total, limit)
    check_budget(client, action, region, total, len(offsets), deadline=deadline)
    rest = await each(page, offsets)
    return [item for _, items in ((total, first), *rest) for item in items]
