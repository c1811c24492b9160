"""The poller's rules, with the listing replaced by a scripted one: outcomes, freshness, concurrency, survival."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import poller as poller_module
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import collect_region
from exporter.metrics.self import SelfMetrics
from exporter.poller import JITTER_MAX, Poller, PollPlan
from exporter.tencentcloud.errors import APIError
from exporter.tione.decode import Skipped
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import NoSink, Sink, Source, SourceError
from exporter.tione.text import MAX_TEXT
from tests import render_helpers as rendered
from tests.api_models import ServiceGroup

Listing = Callable[[str], Awaitable[list[ServiceGroup]]]


def group(group_id: str, *statuses: str) -> ServiceGroup:
    return ServiceGroup.model_validate(
        {
            "ServiceGroupId": group_id,
            "ServiceGroupName": group_id,
            "Services": [
                {"ServiceId": f"{group_id}-{n}", "ServiceGroupId": group_id, "Status": status}
                for n, status in enumerate(statuses, 1)
            ],
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SCRIPTS: dict[str, Listing] = {}


async def _scripted(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
    return tuple(await SCRIPTS[region](region))


async def _probe(region: str, deadline: float) -> str:
    return "scripted"


def scripted_source(fetch: Any = _scripted, *, primary: bool = True, interval: float | None = None) -> Source[Any]:
    """A source in place of the real listing: it stores what `fetch` returns as the snapshot's groups."""
    return Source(
        "DescribeModelServiceGroups",
        fetch,
        lambda snapshot, groups: dataclasses.replace(snapshot, groups=groups),
        empty=(),
        probe=_probe,
        primary=primary,
        interval=interval,
    )


@pytest.fixture
def listing() -> Iterator[dict[str, Listing]]:
    """Per-region scripted listings, read by the poller's primary source."""
    SCRIPTS.clear()
    yield SCRIPTS
    SCRIPTS.clear()


def returning(*groups: ServiceGroup) -> Listing:
    async def answer(region: str) -> list[ServiceGroup]:
        return list(groups)

    return answer


def raising(error: BaseException) -> Listing:
    async def answer(region: str) -> list[ServiceGroup]:
        raise error

    return answer


def make(
    regions: tuple[str, ...] = ("r1",),
    clock: Clock | None = None,
    rng: random.Random | None = None,
    sources: Sequence[Source[Any]] | None = None,
    **plan: Any,
) -> tuple[Poller, SelfMetrics]:
    """A poller running a scripted listing, and real self-metrics."""
    metrics = SelfMetrics(regions)
    kwargs: dict[str, Any] = {"clock": clock} if clock else {}
    polled = tuple(sources) if sources is not None else (scripted_source(),)
    return Poller(PollPlan(regions=regions, sources=polled, **plan), metrics, rng=rng, **kwargs), metrics


def sample(metrics: SelfMetrics, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(metrics.render(False).decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


async def test_success_renders_and_counts(listing: dict[str, Listing]) -> None:
    listing["r1"] = returning(group("g1", "Normal", "Stopped"), group("g2", "Normal"))
    poller, metrics = make()
    assert not poller.ready
    status = await poller.poll("r1")
    assert poller.ready
    assert (status.outcome, status.service_groups, status.services) == ("success", 2, 3)
    assert dict(status.services_by_status) == {"Normal": 2, "Stopped": 1}
    assert b'tione_service_status{region="r1",service_group_id="g1",service_id="g1-2",status="Stopped"} 1' in (
        rendered.text(poller.exposition)
    )
    assert sample(metrics, "tione_up", region="r1") == 1.0
    assert sample(metrics, "tione_exporter_service_groups", region="r1") == 2.0


async def test_failure_keeps_samples_until_max_staleness(listing: dict[str, Listing]) -> None:
    clock = Clock()
    listing["r1"] = returning(group("g1", "Normal"))
    poller, metrics = make(clock=clock, max_staleness=60.0)
    await poller.poll("r1")
    kept = poller.exposition
    listing["r1"] = raising(APIError("InternalError", "try later", request_id="req-1"))
    clock.now += 59.0
    status = await poller.poll("r1")
    assert (status.outcome, status.error_code, status.request_id, status.stale) == (
        "failure",
        "InternalError",
        "req-1",
        True,
    )
    assert poller.exposition is kept
    assert sample(metrics, "tione_up", region="r1") == 0.0
    assert sample(metrics, "tione_exporter_service_groups", region="r1") == 1.0
    clock.now += 2.0
    status = await poller.poll("r1")
    assert rendered.text(poller.exposition) == b""
    assert (status.stale, status.service_groups, status.services, dict(status.services_by_status)) == (
        False,
        None,
        None,
        {},
    )
    assert sample(metrics, "tione_exporter_service_groups", region="r1") is None
    listing["r1"] = returning(group("g1", "Normal"))
    status = await poller.poll("r1")
    assert status.outcome == "success"
    assert rendered.text(poller.exposition) == rendered.text(kept)


async def test_a_region_without_a_success_has_nothing_to_keep(listing: dict[str, Listing]) -> None:
    listing["r1"] = raising(APIError("AuthFailure.SecretIdNotFound", "unknown key"))
    poller, metrics = make()
    status = await poller.poll("r1")
    assert (status.outcome, status.stale, status.last_success) == ("failure", False, None)
    assert poller.ready, "a failed first poll still counts for readiness"
    assert sample(metrics, "tione_exporter_poll_errors_total", region="r1") == 1.0


async def test_unexpected_exceptions_are_failures_not_crashes(
    listing: dict[str, Listing], caplog: pytest.LogCaptureFixture
) -> None:
    listing["r1"] = raising(KeyError("surprise"))
    poller, _ = make(interval=0.05, timeout=0.04)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.3)
    assert not task.done(), "the loop died"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status = rendered.status(poller, "r1")
    assert status.polls >= 3
    assert (status.outcome, status.error_code) == ("failure", "ExporterError")
    assert status.error_message == "KeyError: 'surprise'"
    records = [r for r in caplog.records if r.getMessage() == "poll failed"]
    assert records and all(r.exc_info is None for r in records), "no traceback at info"


async def test_a_hanging_listing_times_out(listing: dict[str, Listing], monkeypatch: pytest.MonkeyPatch) -> None:
    async def hang(region: str) -> list[ServiceGroup]:
        await asyncio.sleep(60)
        return []

    listing["r1"] = hang
    monkeypatch.setattr(poller_module, "DEADLINE_GRACE", 0.05)
    poller, _ = make(interval=2.0, timeout=0.01)
    status = await asyncio.wait_for(poller.poll("r1"), 5)
    assert (status.outcome, status.error_code) == ("failure", "Timeout")
    assert status.error_message == "poll did not finish within 0.01s"


async def test_never_two_polls_of_one_region_at_once(listing: dict[str, Listing]) -> None:
    running = 0
    most = 0

    async def slow(region: str) -> list[ServiceGroup]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1
        return [group("g1", "Normal")]

    listing["r1"] = slow
    listing["r2"] = slow
    poller, _ = make(regions=("r1", "r2"))
    await asyncio.gather(*(poller.poll("r1") for _ in range(5)))
    assert most == 1
    assert rendered.status(poller, "r1").polls == 5
    most = 0
    await poller.poll_all()
    assert most == 2, "different regions poll concurrently"


async def test_regions_are_independent(listing: dict[str, Listing]) -> None:
    listing["good"] = returning(group("g1", "Normal"))
    listing["bad"] = raising(APIError("UnsupportedRegion", "no"))
    poller, _ = make(regions=("good", "bad"))
    statuses = await poller.poll_all()
    assert [s.outcome for s in statuses] == ["success", "failure"]
    assert b'region="good"' in rendered.text(poller.exposition)
    assert b'region="bad"' not in rendered.text(poller.exposition)


async def test_stale_samples_expire_between_polls(listing: dict[str, Listing]) -> None:
    listing["r1"] = returning(group("g1", "Normal"))
    poller, _ = make(interval=0.5, timeout=0.1, max_staleness=0.3)
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.sleep(0.1)
        assert rendered.text(poller.exposition)
        listing["r1"] = raising(APIError("InternalError", "down"))
        # the next poll (about 0.5 s) fails; the samples from the first must go 0.3 s after it succeeded,
        # i.e. right away, without waiting for a third poll
        await asyncio.sleep(0.55)
        assert rendered.status(poller, "r1").outcome == "failure"
        assert rendered.text(poller.exposition) == b""
        assert rendered.status(poller, "r1").polls == 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_jitter_stays_small() -> None:
    poller, _ = make(interval=30.0, timeout=25.0, rng=random.Random(1))
    delays = [poller._next_delay() for _ in range(200)]
    assert all(30.0 - JITTER_MAX <= delay <= 30.0 + JITTER_MAX for delay in delays)
    assert len(set(delays)) > 100


def test_count_by_status_counts_missing_status_as_unknown() -> None:
    groups = (
        group("g1", "Normal", "Normal"),
        ServiceGroup.model_validate({"ServiceGroupId": "g2", "Services": [{"ServiceId": "x"}]}),
    )
    assert dict(collect_region(RegionSnapshot("r1", groups)).services_by_status) == {"Normal": 2, "unknown": 1}


async def test_the_status_columns_count_the_same_services(listing: dict[str, Listing]) -> None:
    """A service listed under two groups, or without an id, is one series set or none: every count agrees."""
    twice = ServiceGroup.model_validate(
        {"ServiceGroupId": "g2", "Services": [{"ServiceId": "g1-1", "Status": "Normal"}, {"Status": "Failed"}]}
    )
    listing["r1"] = returning(group("g1", "Normal", "Stopped"), twice)
    poller, _ = make()
    status = await poller.poll("r1")
    assert status.services == sum(status.services_by_status.values()) == 2
    assert dict(status.services_by_status) == {"Normal": 1, "Stopped": 1}


async def test_the_loop_survives_a_failing_report(
    listing: dict[str, Listing], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    listing["r1"] = returning(group("g1", "Normal"))
    poller, metrics = make(interval=0.05, timeout=0.04)

    def broken(region: str, groups: int, services: int, unlisted_workspaces: int = 0) -> None:
        raise RuntimeError("inventory unavailable")

    monkeypatch.setattr(metrics, "set_inventory", broken)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.3)
    assert not task.done(), "the loop died"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    polls = sample(metrics, "tione_exporter_polls_total", region="r1")
    assert polls is not None and polls >= 3
    failed = [r for r in caplog.records if r.getMessage() == "poll bookkeeping failed"]
    assert failed and all(r.levelno == logging.ERROR for r in failed)
    assert {(getattr(r, "region", None), getattr(r, "error", None)) for r in failed} == {
        ("r1", "RuntimeError: inventory unavailable")
    }, "the line says which region and what went wrong"


async def test_the_loop_survives_a_failure_while_dropping_stale_series(
    listing: dict[str, Listing], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    listing["r1"] = returning(group("g1", "Normal"))
    poller, metrics = make(interval=0.3, timeout=0.1, max_staleness=0.15)

    def broken(region: str) -> None:
        raise RuntimeError("inventory unavailable")

    monkeypatch.setattr(metrics, "forget_inventory", broken)
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.sleep(0.05)
        listing["r1"] = raising(APIError("InternalError", "down"))
        await asyncio.sleep(1.0)  # failing polls at about 0.3, 0.6 and 0.9 s, each trying to drop the samples
        assert not task.done(), "the loop died"
        assert rendered.status(poller, "r1").polls >= 3
        # The failed poll's own attempt to drop them fails its bookkeeping; the loop's, between polls, is its own line.
        for message in ("poll bookkeeping failed", "dropping stale series failed"):
            failed = [r for r in caplog.records if r.getMessage() == message]
            assert failed and all(r.levelno == logging.ERROR for r in failed), message
            assert {(getattr(r, "region", None), getattr(r, "error", None)) for r in failed} == {
                ("r1", "RuntimeError: inventory unavailable")
            }, message
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# --- several sources --------------------------------------------------------------------------------------


async def _nothing(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
    return ()


def quiet_primary() -> Source[Any]:
    """A primary source that stores nothing, so that the groups are a secondary source's alone."""
    return Source("DescribePrimary", _nothing, lambda snapshot, _: snapshot, empty=(), probe=_probe, primary=True)


async def test_a_secondary_failure_keeps_its_last_result_and_fails_nothing(listing: dict[str, Listing]) -> None:
    clock = Clock()
    listing["r1"] = returning(group("g1", "Normal"))
    poller, metrics = make(clock=clock, max_staleness=60.0, sources=(quiet_primary(), scripted_source(primary=False)))
    assert (await poller.poll("r1")).outcome == "success"
    assert b'service_group_id="g1"' in rendered.text(poller.exposition)
    listing["r1"] = raising(APIError("UnauthorizedOperation", "no"))
    clock.now += 59.0
    status = await poller.poll("r1")
    assert (status.outcome, status.stale) == ("success", False)
    assert sample(metrics, "tione_up", region="r1") == 1.0
    assert b'service_group_id="g1"' in rendered.text(poller.exposition), "kept within max_staleness"
    clock.now += 2.0
    assert (await poller.poll("r1")).outcome == "success"
    assert rendered.text(poller.exposition) == b"", "emptied once older than max_staleness"


async def test_a_primary_failure_fails_the_region_whatever_the_secondaries_did(listing: dict[str, Listing]) -> None:
    listing["r1"] = returning(group("g1", "Normal"))

    async def broken(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        raise APIError("InternalError", "down")

    secondary = scripted_source(primary=False)
    poller, _ = make(sources=(secondary, scripted_source(broken)))
    status = await poller.poll("r1")
    assert (status.outcome, status.error_code) == ("failure", "InternalError")
    assert rendered.text(poller.exposition) == b""


async def test_a_source_runs_on_its_own_interval(listing: dict[str, Listing]) -> None:
    clock = Clock()
    calls: list[float] = []

    async def counted(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        calls.append(clock.now)
        return (group("g1", "Normal"),)

    slow = scripted_source(counted, primary=False, interval=60.0)
    poller, _ = make(clock=clock, sources=(quiet_primary(), slow))
    for _ in range(4):
        await poller.poll("r1")
        assert b'service_group_id="g1"' in rendered.text(poller.exposition), "a source not due keeps its result"
        clock.now += 30.0
    assert calls == [1000.0, 1060.0]


async def test_a_source_sees_what_earlier_sources_stored(listing: dict[str, Listing]) -> None:
    listing["r1"] = returning(group("g1", "Normal"))
    seen: list[tuple[ServiceGroup, ...]] = []

    async def later(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        seen.append(snapshot.groups)
        return (*snapshot.groups, group("g2", "Normal"))

    poller, _ = make(sources=(scripted_source(), scripted_source(later, primary=False)))
    await poller.poll("r1")
    assert [g.service_group_id for g in seen[0]] == ["g1"]
    assert b'service_group_id="g2"' in rendered.text(poller.exposition)


def test_a_poll_needs_exactly_one_primary_source() -> None:
    with pytest.raises(ValueError, match="exactly one primary"):
        make(sources=(scripted_source(primary=False),))
    with pytest.raises(ValueError, match="exactly one primary"):
        make(sources=(scripted_source(), scripted_source()))


async def test_the_rows_needing_attention_follow_the_served_snapshot(listing: dict[str, Listing]) -> None:
    """Made with the samples of a successful poll, kept while its samples are, dropped with them."""
    clock = Clock()
    listing["r1"] = returning(group("g1", "Normal", "Abnormal"), group("g2", "CREATE_FAILED"))
    poller, _ = make(clock=clock, max_staleness=60.0)
    status = await poller.poll("r1")
    assert [row.service_id for row in status.attention] == ["g2-1", "g1-2"]  # critical first
    listing["r1"] = raising(APIError("InternalError", "try later"))
    clock.now += 30.0
    status = await poller.poll("r1")
    assert status.stale and [row.service_id for row in status.attention] == ["g2-1", "g1-2"]
    clock.now += 31.0
    status = await poller.poll("r1")
    assert status.attention == ()
    listing["r1"] = returning(group("g1", "Normal"))
    status = await poller.poll("r1")
    assert status.attention == ()


async def test_after_stale_series_go_every_source_runs_again(listing: dict[str, Listing]) -> None:
    clock = Clock()
    calls: list[float] = []

    async def counted(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        calls.append(clock.now)
        return (group("g1", "Normal"),)

    listing["r1"] = returning()
    slow = scripted_source(counted, primary=False, interval=3600.0)
    poller, _ = make(clock=clock, max_staleness=60.0, sources=(scripted_source(), slow))
    await poller.poll("r1")
    listing["r1"] = raising(APIError("InternalError", "down"))
    clock.now += 61.0
    await poller.poll("r1")
    assert rendered.text(poller.exposition) == b"", "the region's series went"
    listing["r1"] = returning()
    clock.now += 1.0
    await poller.poll("r1")
    assert calls == [1000.0, 1062.0], "the slow source ran again at once"
    assert b'service_group_id="g1"' in rendered.text(poller.exposition)


async def test_a_secondary_source_that_hangs_costs_its_share_of_the_poll_never_the_region(
    listing: dict[str, Listing], caplog: pytest.LogCaptureFixture
) -> None:
    """A throttled secondary call is retried by the client until its deadline; it must not take the poll
    past its own and fail the region."""
    listing["r1"] = returning(group("g1", "Normal"))

    async def hanging(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        await asyncio.sleep(60)
        return ()

    slow: Source[Any] = Source("DescribeSlow", hanging, lambda snapshot, _: snapshot, empty=(), probe=_probe)
    poller, metrics = make(timeout=0.6, sources=(scripted_source(), slow))
    started = time.monotonic()
    status = await poller.poll("r1")
    took = time.monotonic() - started
    assert status.outcome == "success", status
    assert sample(metrics, "tione_up", region="r1") == 1.0
    assert b'service_group_id="g1"' in rendered.text(poller.exposition)
    assert took < 0.6, "the secondary source was cut off within the poll's deadline"
    assert took >= 0.3, "but not before its share, half the time left"
    assert _source_failed(caplog) == [
        {
            "region": "r1",
            "action": "DescribeSlow",
            "code": "Timeout",
            "error_message": "DescribeSlow did not finish in its share of the poll",
            "request_id": None,  # no answer came: there is no RequestId to show
            "kept": False,
        }
    ]


@pytest.mark.parametrize(
    ("error", "asked_again"),
    [
        (APIError("InternalError", "down"), [1000.0, 1030.0, 1060.0]),  # passing trouble: the next poll asks again
        (APIError("RequestLimitExceeded", "slow down"), [1000.0, 1030.0, 1060.0]),
        (APIError("UnauthorizedOperation", "no"), [1000.0, 1060.0]),  # final: asked again after its interval
    ],
)
async def test_a_secondary_source_that_failed_is_asked_again_by_the_kind_of_failure(
    listing: dict[str, Listing], error: APIError, asked_again: list[float]
) -> None:
    clock = Clock()
    calls: list[float] = []

    async def failing(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        calls.append(clock.now)
        raise error

    slow = scripted_source(failing, primary=False, interval=60.0)
    poller, _ = make(clock=clock, sources=(quiet_primary(), slow))
    for _ in range(3):
        assert (await poller.poll("r1")).outcome == "success"
        clock.now += 30.0
    assert calls == asked_again


async def test_a_secondary_source_that_timed_out_is_asked_again_at_the_next_poll(listing: dict[str, Listing]) -> None:
    """A source cut off at the end of its share of the poll met a passing trouble (a slow or throttled API):
    the next poll asks it again, not only after its interval."""
    clock = Clock()
    calls: list[float] = []

    async def hanging(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        calls.append(clock.now)
        await asyncio.sleep(60)
        return ()

    slow = scripted_source(hanging, primary=False, interval=600.0)
    poller, _ = make(clock=clock, timeout=0.2, sources=(quiet_primary(), slow))
    for _ in range(3):
        assert (await poller.poll("r1")).outcome == "success"
        clock.now += 30.0
    assert calls == [1000.0, 1030.0, 1060.0]


def requesting(metrics: list[SelfMetrics], counts: dict[str, int]) -> Source[Any]:
    """A primary source that sends `counts[region]` requests (as the client's hook sees them) per poll."""

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        for _ in range(counts[region]):
            metrics[0].on_request(region, "DescribeModelServiceGroups")
        return ()

    return scripted_source(fetch)


BUDGET_WARNING = "polls need about"


async def test_polls_needing_more_requests_than_the_timeout_allows_warn_once_in_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    counts = {"r1": 3, "r2": 3}
    holder: list[SelfMetrics] = []
    # 1 request/s within a 5 s timeout: 5 requests; each region alone fits, both together (6) do not.
    poller, metrics = make(
        ("r1", "r2"), clock, sources=[requesting(holder, counts)], rate_limit=1.0, interval=10.0, timeout=5.0
    )
    holder.append(metrics)
    await poller.poll("r1")
    assert BUDGET_WARNING not in caplog.text
    await poller.poll("r2")
    warnings = [r for r in caplog.records if r.getMessage().startswith(BUDGET_WARNING)]
    assert len(warnings) == 1
    fields = ("requests", "allowed", "rate_limit", "timeout", "interval")
    assert {name: getattr(warnings[0], name, None) for name in fields} == {
        "requests": 6,
        "allowed": 5,
        "rate_limit": 1.0,
        "timeout": "5s",
        "interval": "10s",
    }
    assert warnings[0].getMessage() == (
        "polls need about 6 API requests, but --api.rate-limit 1 lets 5 through in --poll.timeout 5s "
        "(--poll.interval 10s): workspaces not reached are listed at a later poll; "
        "raise --poll.interval or --api.rate-limit"
    ), "the warning says what happens and which settings to change"
    clock.now += 599
    await poller.poll_all()
    assert len([r for r in caplog.records if r.getMessage().startswith(BUDGET_WARNING)]) == 1
    clock.now += 1  # BUDGET_LOG_INTERVAL since the warning
    await poller.poll("r1")
    assert len([r for r in caplog.records if r.getMessage().startswith(BUDGET_WARNING)]) == 2


def partial(metrics: list[SelfMetrics], made: int, unlisted: tuple[str, ...], needed: int) -> Source[Any]:
    """A primary source that sends `made` requests and leaves `unlisted` workspaces, needing `needed` more."""

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        for _ in range(made):
            metrics[0].on_request(region, "DescribeModelServiceGroups")
        return (group("g1", "Normal"),)

    def store(snapshot: RegionSnapshot, groups: tuple[ServiceGroup, ...]) -> RegionSnapshot:
        short = unlisted if groups else ()
        return dataclasses.replace(
            snapshot, groups=groups, unlisted_workspaces=short, unlisted_requests=needed if groups else 0
        )

    return Source("DescribeModelServiceGroups", fetch, store, empty=(), probe=_probe, primary=True)


async def test_a_partial_poll_succeeds_says_so_and_counts_what_it_did_not_reach_toward_the_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A poll cut short by the rate limit made only the requests its deadline allowed: the budget must count
    the workspaces it did not reach, or the warning meant for this never fires."""
    caplog.set_level(logging.INFO, logger="exporter.poller")
    holder: list[SelfMetrics] = []
    poller, metrics = make(
        sources=[partial(holder, 5, ("ws-b", "ws-c"), 2)], rate_limit=1.0, interval=10.0, timeout=5.0
    )
    holder.append(metrics)
    status = await poller.poll("r1")
    assert (status.outcome, status.unlisted_workspaces) == ("success", ("ws-b", "ws-c"))
    assert sample(metrics, "tione_up", region="r1") == 1
    assert sample(metrics, "tione_exporter_unlisted_workspaces", region="r1") == 2
    warnings = [r for r in caplog.records if r.getMessage().startswith(BUDGET_WARNING)]
    assert [(r.requests, r.allowed) for r in warnings] == [(7, 5)]  # type: ignore[attr-defined]
    finished = [r for r in caplog.records if r.getMessage() == "poll finished"]
    assert [getattr(r, "unlisted_workspaces", None) for r in finished] == [2]


async def test_polls_within_the_budget_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    holder: list[SelfMetrics] = []
    poller, metrics = make(
        ("r1", "r2"), sources=[requesting(holder, {"r1": 2, "r2": 3})], rate_limit=1.0, interval=10.0, timeout=5.0
    )
    holder.append(metrics)
    await poller.poll_all()
    await poller.poll_all()
    assert BUDGET_WARNING not in caplog.text


# --- freshness and readiness, each test written against the mistake it names ----------------------------------


async def test_staleness_counts_from_the_last_success_not_the_first(listing: dict[str, Listing]) -> None:
    """Several successes, then failures: a long-running exporter must not drop its series at the first
    failed poll because its *first* success is long past."""
    clock = Clock()
    listing["r1"] = returning(group("g1", "Normal"))
    poller, _ = make(clock=clock, max_staleness=60.0)
    for _ in range(5):
        await poller.poll("r1")
        clock.now += 30.0  # the first success is 150 s back after the loop, the last one 30 s
    kept = poller.exposition
    listing["r1"] = raising(APIError("InternalError", "down"))
    status = await poller.poll("r1")
    assert status.stale
    assert poller.exposition is kept
    clock.now += 29.0  # 59 s after the last success
    assert (await poller.poll("r1")).stale
    assert poller.exposition is kept
    clock.now += 2.0  # 61 s after it
    assert not (await poller.poll("r1")).stale
    assert rendered.text(poller.exposition) == b""


async def test_one_stale_region_never_wipes_another(listing: dict[str, Listing]) -> None:
    clock = Clock()
    listing["r1"] = returning(group("g1", "Normal"))
    listing["r2"] = returning(group("g2", "Normal"))
    poller, metrics = make(("r1", "r2"), clock=clock, max_staleness=60.0)
    await poller.poll_all()
    listing["r1"] = raising(APIError("InternalError", "down"))
    clock.now += 61.0
    assert not (await poller.poll("r1")).stale  # r1's series went
    text = rendered.text(poller.exposition)
    assert b'region="r1"' not in text
    assert b'service_group_id="g2"' in text and b'region="r2"' in text
    assert rendered.status(poller, "r2").service_groups == 1
    assert sample(metrics, "tione_exporter_service_groups", region="r2") == 1.0
    assert sample(metrics, "tione_exporter_service_groups", region="r1") is None


async def test_after_a_failure_the_loop_polls_again_at_the_next_interval(listing: dict[str, Listing]) -> None:
    """With a staleness window far longer than the interval, a failing region is still polled every
    interval (a recovery shows up at once), not left asleep until its series expire."""
    listing["r1"] = returning(group("g1", "Normal"))
    poller, _ = make(interval=0.1, timeout=0.05, max_staleness=30.0, rng=random.Random(1))
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.sleep(0.05)
        listing["r1"] = raising(APIError("InternalError", "down"))
        await asyncio.sleep(0.5)
        status = rendered.status(poller, "r1")
        assert status.outcome == "failure"
        assert status.stale
        assert status.polls >= 4, status.polls
        listing["r1"] = returning(group("g1", "Normal"))
        await asyncio.sleep(0.15)
        assert rendered.status(poller, "r1").outcome == "success"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_ready_only_once_every_region_has_polled(listing: dict[str, Listing]) -> None:
    for region in ("r1", "r2", "r3"):
        listing[region] = returning(group(f"g-{region}", "Normal"))
    listing["r3"] = raising(APIError("InternalError", "down"))
    poller, _ = make(("r1", "r2", "r3"))
    assert not poller.ready
    await poller.poll("r1")
    assert not poller.ready
    await poller.poll("r3")
    assert not poller.ready
    await poller.poll("r2")
    assert poller.ready


def _source_failed(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    fields = ("region", "action", "code", "error_message", "request_id", "kept")
    return [
        {name: getattr(record, name, None) for name in fields}
        for record in caplog.records
        if record.getMessage() == "source failed"
    ]


async def test_a_secondary_failure_is_one_log_line_saying_what_failed_and_whether_its_result_stays(
    listing: dict[str, Listing], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    listing["r1"] = returning(group("g1", "Normal"))
    poller, _ = make(clock=clock, max_staleness=60.0, sources=(quiet_primary(), scripted_source(primary=False)))
    await poller.poll("r1")
    listing["r1"] = raising(APIError("UnauthorizedOperation", "not allowed", request_id="req-7"))
    clock.now += 30.0
    await poller.poll("r1")
    listing["r1"] = raising(ValueError("odd answer"))
    clock.now += 30.0  # exactly max_staleness after the last success: no longer kept
    await poller.poll("r1")
    assert _source_failed(caplog) == [
        {
            "region": "r1",
            "action": "DescribeModelServiceGroups",
            "code": "UnauthorizedOperation",
            "error_message": "not allowed",
            "request_id": "req-7",
            "kept": True,
        },
        {
            "region": "r1",
            "action": "DescribeModelServiceGroups",
            "code": "ExporterError",
            "error_message": "ValueError: odd answer",
            "request_id": None,
            "kept": False,
        },
    ]
    assert rendered.text(poller.exposition) == b""


async def test_a_poll_hands_its_sources_the_deadline_and_records_its_duration(listing: dict[str, Listing]) -> None:
    clock = Clock()
    deadlines: list[float] = []

    async def timed(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        deadlines.append(deadline)
        clock.now += 2.5  # the call takes 2.5 s
        return (group("g1", "Normal"),)

    poller, _ = make(clock=clock, timeout=7.0, sources=[scripted_source(timed)])
    started = clock.now
    status = await poller.poll("r1")
    assert deadlines == [started + 7.0]
    assert status.duration == pytest.approx(2.5)

    async def failing(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        clock.now += 1.5
        raise APIError("InternalError", "down")

    poller, _ = make(clock=clock, sources=[scripted_source(failing)])
    assert (await poller.poll("r1")).duration == pytest.approx(1.5)


async def test_a_poll_renders_with_the_plan_options(listing: dict[str, Listing]) -> None:
    listing["r1"] = returning(group("g1", "Normal"))
    poller, _ = make(options=RenderOptions(exclude=(re.compile("tione_service_status"),)))
    await poller.poll("r1")
    assert b"tione_service_group_info{" in rendered.text(poller.exposition)
    assert b"tione_service_status{" not in rendered.text(poller.exposition)


async def test_stale_series_go_at_their_expiry_between_two_polls(listing: dict[str, Listing]) -> None:
    """Expiry falls between two polls: the loop drops the series then, not at the next (failed) poll."""
    listing["r1"] = returning(group("g1", "Normal"))
    poller, _ = make(interval=1.0, timeout=0.2, max_staleness=1.5, rng=random.Random(3))
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.sleep(0.2)
        listing["r1"] = raising(APIError("InternalError", "down"))
        await asyncio.sleep(1.0)  # the second poll (at about 1.0 s) failed: stale until 1.5 s
        assert rendered.status(poller, "r1").stale
        assert rendered.text(poller.exposition)
        await asyncio.sleep(0.55)  # about 1.75 s: expired, and the third poll (about 2.0 s) not yet run
        assert rendered.status(poller, "r1").polls == 2
        assert rendered.text(poller.exposition) == b""
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_each_poll_runs_under_the_pause_the_app_hands_in(listing: dict[str, Listing]) -> None:
    held: list[str] = []

    @contextlib.contextmanager
    def pause() -> Iterator[None]:
        held.append("paused")
        yield
        held.append("resumed")

    listing["r1"] = returning(group("g1", "Normal"))
    plan = PollPlan(regions=("r1",), sources=(scripted_source(),))
    poller = Poller(plan, SelfMetrics(("r1",)), pause=pause)
    assert (await poller.poll("r1")).outcome == "success"
    listing["r1"] = raising(KeyError("surprise"))
    assert (await poller.poll("r1")).outcome == "failure"
    assert held == ["paused", "resumed"] * 2, "every poll, failed ones too, and nothing outside them"


async def test_an_exporter_fault_leaves_its_traceback_at_debug_with_its_region(
    listing: dict[str, Listing], caplog: pytest.LogCaptureFixture
) -> None:
    """A fault of the exporter (not an API error) is a one-line failure at info; its traceback, for whoever
    looks into it, is at debug, saying which region, whichever source raised it."""
    caplog.set_level(logging.DEBUG, logger="exporter.poller")
    listing["r1"] = raising(KeyError("surprise"))

    async def odd(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        raise ValueError("odd answer")

    poller, _ = make(regions=("r1", "r2"), sources=(scripted_source(odd, primary=False), scripted_source()))
    listing["r2"] = returning()
    await poller.poll_all()
    traced = [r for r in caplog.records if r.getMessage() == "unexpected error while polling"]
    assert all(r.levelno == logging.DEBUG for r in traced)
    seen = sorted((getattr(r, "region", None), r.exc_info[0].__name__) for r in traced if r.exc_info)
    assert seen == [("r1", "KeyError"), ("r1", "ValueError"), ("r2", "ValueError")]
    assert len(traced) == 3


async def test_a_source_hands_on_the_client_s_error_as_a_source_error(listing: dict[str, Listing]) -> None:
    """What the poller sees of a failed call: the API's code, message and RequestId, and whether asking
    again may help; the client's error stays reachable as its cause."""

    async def failing(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        raise APIError("RequestLimitExceeded", "slow down", request_id="req-9")

    with pytest.raises(SourceError) as caught:
        await scripted_source(failing).run("r1", RegionSnapshot("r1"), 0.0, NoSink())
    error = caught.value
    assert (error.code, error.message, error.request_id, error.retryable) == (
        "RequestLimitExceeded",
        "slow down",
        "req-9",
        True,
    )
    assert str(error) == "slow down"
    assert isinstance(error.__cause__, APIError)


SKIPPED_FIELDS = ("region", "skipped", "kind", "id", "service_group_id", "field", "reason")


def _left_out(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        {name: getattr(record, name, None) for name in SKIPPED_FIELDS}
        for record in caplog.records
        if record.getMessage() == "left out objects that could not be read" and record.levelno == logging.WARNING
    ]


async def test_objects_left_out_are_counted_at_every_poll_and_said_once_in_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The same unreadable object comes back at every poll: the counter counts it each time, by kind and
    reason; one warning per region at most every `SKIP_LOG_INTERVAL` says what the first one is."""
    clock = Clock()
    replicas = Skipped("service", "svc-1", "ms-1", "Services[0].ServiceInfo.Replicas", "wrong_type")
    wrong = Skipped("service", "svc-2", "ms-1", "Services[1].Status", "wrong_type")
    nameless = Skipped("service_group", "", "", "", "no_id")
    left_out: dict[str, tuple[Skipped, ...]] = {"r1": (replicas, nameless, wrong), "r2": (nameless,)}

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[Skipped, ...]:
        return left_out[region]

    def store(snapshot: RegionSnapshot, skipped: tuple[Skipped, ...]) -> RegionSnapshot:
        return dataclasses.replace(snapshot, skipped=skipped)

    source = Source("DescribeModelServiceGroups", fetch, store, empty=(), probe=_probe, primary=True)
    poller, metrics = make(("r1", "r2"), clock, sources=[source])

    def counted(region: str) -> tuple[float | None, float | None]:
        return (
            sample(metrics, "tione_exporter_skipped_objects_total", region=region, kind="service", reason="wrong_type"),
            sample(
                metrics, "tione_exporter_skipped_objects_total", region=region, kind="service_group", reason="no_id"
            ),
        )

    await poller.poll_all()
    assert (counted("r1"), counted("r2")) == ((2.0, 1.0), (0.0, 1.0))
    first = {"region": "r1", "skipped": 3, "kind": "service", "id": "svc-1", "service_group_id": "ms-1"}
    first |= {"field": "Services[0].ServiceInfo.Replicas", "reason": "wrong_type"}
    second = {"region": "r2", "skipped": 1, "kind": "service_group", "id": "(none)", "service_group_id": "(none)"}
    second |= {"field": "(the object itself)", "reason": "no_id"}
    assert sorted(_left_out(caplog), key=lambda fields: fields["region"]) == [first, second]
    caplog.clear()

    clock.now += 299.0
    status = await poller.poll("r1")
    assert status.skipped == (replicas, nameless, wrong), "the page lists them"
    assert counted("r1") == (4.0, 2.0)
    assert _left_out(caplog) == [], "said less than SKIP_LOG_INTERVAL ago"
    left_out["r1"] = ()
    clock.now += 1.0  # SKIP_LOG_INTERVAL since the warning
    await poller.poll("r1")
    assert counted("r1") == (4.0, 2.0)
    assert _left_out(caplog) == [], "nothing left out: nothing to say"
    left_out["r1"] = (wrong,)
    await poller.poll("r1")
    assert counted("r1") == (5.0, 2.0)
    assert _left_out(caplog) == [first | {"skipped": 1, "id": "svc-2", "field": "Services[1].Status"}]


async def test_a_secondary_source_is_handed_half_of_what_is_left_of_the_poll(listing: dict[str, Listing]) -> None:
    clock = Clock()
    deadlines: list[float] = []

    async def slow_primary(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[()]:
        clock.now += 3.0  # the listing takes 3 s of the 10 s timeout
        return ()

    async def secondary(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceGroup, ...]:
        deadlines.append(deadline)
        return ()

    primary = Source(
        "DescribePrimary", slow_primary, lambda snapshot, _: snapshot, empty=(), probe=_probe, primary=True
    )
    poller, _ = make(clock=clock, timeout=10.0, sources=(primary, scripted_source(secondary, primary=False)))
    assert (await poller.poll("r1")).outcome == "success"
    assert deadlines == [1003.0 + 3.5]


async def test_each_poll_outcome_is_one_log_line_at_its_level(
    listing: dict[str, Listing], caplog: pytest.LogCaptureFixture
) -> None:
    """A success at info with what it found, an API failure a warning with the API's code and RequestId, a
    fault of the exporter an error; series dropped once too old, a warning saying after how long."""
    caplog.set_level(logging.INFO, logger="exporter.poller")
    clock = Clock()
    poller, _ = make(clock=clock, max_staleness=60.0)
    fields = ("region", "outcome", "duration", "groups", "services", "code", "error_message", "request_id")
    fields += ("max_staleness",)

    def lines() -> list[tuple[int, str, dict[str, Any]]]:
        found = [
            (r.levelno, r.getMessage(), {name: getattr(r, name) for name in fields if hasattr(r, name)})
            for r in caplog.records
            if r.name == "exporter.poller"
        ]
        caplog.clear()
        return found

    async def slow(region: str) -> list[ServiceGroup]:
        clock.now += 2.5
        return [group("g1", "Normal", "Stopped")]

    listing["r1"] = slow
    await poller.poll("r1")
    finished = {"region": "r1", "outcome": "success", "duration": 2.5, "groups": 1, "services": 2}
    assert lines() == [(logging.INFO, "poll finished", finished)]
    listing["r1"] = raising(APIError("InternalError", "try later", request_id="req-1"))
    clock.now += 30.0
    await poller.poll("r1")
    failed = {"region": "r1", "outcome": "failure", "duration": 0.0, "groups": 1, "services": 2}
    failed |= {"code": "InternalError"}
    failed |= {"error_message": "try later", "request_id": "req-1"}
    assert lines() == [(logging.WARNING, "poll failed", failed)]
    listing["r1"] = raising(KeyError("surprise"))
    clock.now += 30.0  # max_staleness after the last success (at the end of its poll): the series go
    await poller.poll("r1")
    failed = {"region": "r1", "outcome": "failure", "duration": 0.0, "groups": 1, "services": 2}
    failed |= {"code": "ExporterError"}
    failed |= {"error_message": "KeyError: 'surprise'"}
    assert lines() == [
        (logging.ERROR, "poll failed", failed),
        (logging.WARNING, "dropped stale series", {"region": "r1", "max_staleness": 60.0}),
    ]
    clock.now += 30.0
    await poller.poll("r1")
    failed = {"region": "r1", "outcome": "failure", "duration": 0.0, "code": "ExporterError"}
    failed |= {"error_message": "KeyError: 'surprise'"}
    assert lines() == [(logging.ERROR, "poll failed", failed)], "the series went once, and are not said to go again"


async def test_a_failed_poll_says_when_it_ended_and_shows_its_message_up_to_max_text(
    listing: dict[str, Listing],
) -> None:
    """The page shows when the last poll ended, failed or not, and an error message cut at `MAX_TEXT`
    characters: long enough for a whole API message, bounded against an answer that is not one."""
    wall = Clock()
    wall.now = 1_800_000_000.0
    listing["r1"] = returning(group("g1", "Normal"))
    poller = Poller(PollPlan(regions=("r1",), sources=(scripted_source(),)), SelfMetrics(("r1",)), wall_clock=wall)
    assert (await poller.poll("r1")).last_poll == 1_800_000_000.0
    wall.now += 30.0
    long = "the API says " + "no " * 600
    listing["r1"] = raising(APIError("InternalError", long))
    status = await poller.poll("r1")
    assert (status.outcome, status.last_poll, status.last_success) == ("failure", 1_800_000_030.0, 1_800_000_000.0)
    assert status.error_message == long[:MAX_TEXT]


async def test_the_gzip_forms_scrapes_asked_for_are_ready_after_the_next_poll(listing: dict[str, Listing]) -> None:
    """The first compressed scrape after a poll finds its form deflated already (in the poll's render thread)."""
    listing["r1"] = returning(group("g1", "Normal"))
    poller, _ = make()
    await poller.poll("r1")
    assert poller.exposition.gzipped() == ()
    poller.exposition.gzip(True)
    await poller.poll("r1")
    assert poller.exposition.gzipped() == (True,)
