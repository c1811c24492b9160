"""Polls every region on a schedule and keeps the exposition that scrapes are served from.

One asyncio task per region runs the sources due (`exporter.tione.source`: the listing of service
groups every poll, others on their own interval), assembles the region's `RegionSnapshot`, turns it into
that region's samples and swaps them in; the exposition is re-rendered from all regions' samples right
away, so a scrape only ever copies bytes and never sees half a poll. A failed poll (its primary source
failed) keeps the region's last good samples for `max_staleness` after its last success, then drops
them: a short API outage does not blank dashboards, a long one does not show stale numbers as current.
A secondary source's failure keeps that source's last result under the same rule and fails nothing.
Nothing a poll raises ends the loop; the outcome of each poll is a log line, self-metrics, and the
status the landing page shows.

The poller knows sources only as `Source`s: it runs each through `Source.run`, hands it the region's
`RegionStream` as its sink (the listing's pages are formatted while the listing waits for the next
one), and sees its failures as `SourceError`s. It holds no client; the app hands in the pause of the
garbage collector a poll runs under (`pause`).

The poller runs on an event loop of its own, in a thread of its own (`exporter.app`), while the web
server reads it from another: what the server reads (`exposition`, `ready`, `statuses()`) is one
immutable `Published` object (`status.py`), replaced whole after each change, so a reader always sees one state.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from exporter import memory
from exporter.logs import poll_fields, redact
from exporter.metrics.attention import AttentionRow, attention_rows
from exporter.metrics.labels import clean_value
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import Exposition, RegionSamples, collect_region, render
from exporter.metrics.stream import RegionStream
from exporter.poller.budget import RequestBudget, budget_message
from exporter.poller.plan import PollPlan, PollRecorder, PollTarget
from exporter.poller.status import UNEXPECTED_ERROR, Failure, Published, RegionStatus
from exporter.tione.decode import Skipped
from exporter.tione.paging import raise_if_cancelling
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import SOURCE_TIMEOUT, Source, SourceError
from exporter.tione.text import MAX_TEXT

__all__ = ["UNEXPECTED_ERROR", "PollPlan", "PollTarget", "Poller", "Published", "RegionStatus", "budget_message"]

log = logging.getLogger(__name__)

Pause = Callable[[], contextlib.AbstractContextManager[object]]
"""What a poll runs under: the app's pause of the garbage collector (`tencentcloud.gcpause.paused_gc`)."""

JITTER_SHARE = 0.05
"""Each wait between polls is the interval plus or minus this share of it (at most `JITTER_MAX`), so that
regions and replicas of the exporter drift apart instead of calling the API in lockstep."""
JITTER_MAX = 1.0
DEADLINE_GRACE = 1.0
"""Extra seconds before a poll that overran its own deadline is cancelled from outside."""
SECONDARY_SHARE = 0.5
"""The share of what is left of a poll's deadline that a secondary source may spend."""
SECONDARY_GRACE = 0.1
"""Seconds past its own deadline before a secondary source is cut off from outside (the client stops on time)."""
SKIP_LOG_INTERVAL = 300.0
"""Seconds between two warnings about unreadable objects of one region: the same broken object comes back
every poll, and the counter and the status page already say so each time."""


def _empty(target: PollTarget) -> RegionSnapshot:
    return RegionSnapshot(target.region, account=target.account)


def _collect(
    snapshot: RegionSnapshot, options: RenderOptions, stream: RegionStream
) -> tuple[RegionSamples, tuple[AttentionRow, ...]]:
    """A region's samples and its services that need attention, from one snapshot (in a worker thread):
    merged from the pages formatted during the listing where they say it all, else collected whole."""
    samples = stream.finish(snapshot)
    if samples is None:
        stream.discard()  # its pages are of no use now: not held while the region is collected whole
        samples = collect_region(snapshot, options)
    return samples, attention_rows(snapshot)


def _release(failed: bool) -> None:
    """The poll's memory back to the system, in a worker thread once the poll has ended.

    A failed poll's error left reference cycles (its traceback's frames hold the pages read so far): they
    are freed first, so that the trim returns their memory too and a poll that did not finish keeps nothing
    of its work. The collector was paused during the poll, so what the poll allocated is in the youngest
    generation: this pass is the one the collector would make anyway when it comes back, made before the
    trim. A poll that succeeds leaves no cycles, and no pass is added after it.
    """
    if failed:
        gc.collect(0)
    memory.trim()


def _failure(region: str, exc: Exception) -> Failure:
    """A source's error as it is, anything else (a fault of the exporter) with `UNEXPECTED_ERROR`."""
    if isinstance(exc, SourceError):
        return Failure(exc.code, exc.message, exc.request_id)
    log.debug("unexpected error while polling", exc_info=True, extra={"region": region})
    return Failure(UNEXPECTED_ERROR, f"{type(exc).__name__}: {exc}")


def _log_fields(status: RegionStatus) -> dict[str, object]:
    """The fields of the line logged for a poll's outcome: what its status says."""
    return poll_fields(
        region=status.where,
        outcome=status.outcome,
        duration=status.duration or 0.0,
        groups=status.service_groups,
        services=status.services,
        code=status.error_code,
        message=status.error_message,
        request_id=status.request_id,
    )


@dataclass
class _Run:
    """One poll of a region in progress: the snapshot being assembled and when each source ran."""

    snapshot: RegionSnapshot
    ran: dict[tuple[str, int], float] = field(default_factory=dict)
    succeeded: dict[tuple[str, int], float] = field(default_factory=dict)


class Poller:
    """Owns the per-region samples, their freshness and the rendered exposition."""

    def __init__(
        self,
        plan: PollPlan,
        recorder: PollRecorder,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        pause: Pause = contextlib.nullcontext,
    ) -> None:
        targets = plan.all_targets()
        if not targets:
            raise ValueError("no region to poll")
        if any(sum(source.primary for source in target.sources) != 1 for target in targets):
            raise ValueError("a poll needs exactly one primary source")
        self.plan = plan
        self.recorder = recorder
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng if rng is not None else random.Random()
        self._pause = pause
        self._targets: dict[str, PollTarget] = {target.key: target for target in targets}
        """By key: the region alone without accounts, `account/region` with them (`target_key`)."""
        self._samples: dict[str, RegionSamples] = {}
        self._snapshots: dict[str, RegionSnapshot] = {key: _empty(target) for key, target in self._targets.items()}
        """The last good snapshot of each region: what every secondary source last returned, kept results included.
        The primary source's result (the listing, most of the memory) is dropped once formatted."""
        self._source_ran: dict[tuple[str, int], float] = {}
        self._source_succeeded: dict[tuple[str, int], float] = {}
        self._last_success: dict[str, float] = {}
        self._status: dict[str, RegionStatus] = {
            key: RegionStatus(target.region, account=target.account) for key, target in self._targets.items()
        }
        self._locks: dict[str, asyncio.Lock] = {key: asyncio.Lock() for key in self._targets}
        self._exposition = render([])
        self._published = Published(self._exposition, tuple(self._status.values()))
        self._render_lock = asyncio.Lock()
        self._skip_logged: dict[str, float] = {}
        self._unlisted_requests: dict[str, int] = {}
        self._budgets: dict[str, RequestBudget] = {
            target.account: RequestBudget(
                target.rate_limit if target.rate_limit is not None else plan.rate_limit,
                plan.timeout,
                plan.interval,
                clock,
            )
            for target in targets
        }
        """One per account: each has its own rate limit (without accounts, one for the process)."""

    # --- what the web app reads ---------------------------------------------------------------------------

    @property
    def published(self) -> Published:
        """The exposition and the statuses as of the last change, safe to read from any thread."""
        return self._published

    @property
    def exposition(self) -> Exposition:
        return self._published.exposition

    @property
    def ready(self) -> bool:
        """True once every region's first poll has finished, whatever its outcome."""
        return self._published.ready

    def statuses(self) -> list[RegionStatus]:
        return list(self._published.statuses)

    def _set_status(self, region: str, status: RegionStatus) -> None:
        self._status[region] = status
        self._publish()

    def _publish(self) -> None:
        self._published = Published(self._exposition, tuple(self._status.values()))

    # --- polling ----------------------------------------------------------------------------------------

    async def poll(self, region: str) -> RegionStatus:
        """Poll one region now (waiting for a poll of it already running) and return its new status."""
        async with self._locks[region]:
            before = self.recorder.requests_made(region)
            with self._pause():  # a poll allocates in bursts and makes no cycles: see `gcpause`
                status = await self._poll(region)
            await asyncio.to_thread(_release, status.outcome != "success")
            made = self.recorder.requests_made(region) - before
            # What a poll needs, not what it made: the workspaces it did not reach at what they last took.
            budget = self._budgets[self._targets[region].account]
            budget.check(region, made + self._unlisted_requests.get(region, 0))
            return status

    async def poll_all(self) -> list[RegionStatus]:
        """One poll of every region, concurrently (for `once` and `check`-like uses)."""
        return list(await asyncio.gather(*(self.poll(key) for key in self._targets)))

    async def run(self) -> None:
        """Poll every region on its schedule until cancelled; the first polls start at once."""
        async with asyncio.TaskGroup() as group:
            for key in self._targets:
                group.create_task(self._region_loop(key), name=f"poll {key}")

    async def _region_loop(self, region: str) -> None:
        while True:
            started = self._clock()
            try:
                await self.poll(region)
            except Exception as exc:  # `poll` handles the listing's errors; this guards the bookkeeping too
                raise_if_cancelling()
                log.error("poll bookkeeping failed", extra={"region": region, "error": f"{type(exc).__name__}: {exc}"})
            raise_if_cancelling()  # a stop swallowed below (and so a poll that seemed to end) still ends the loop
            next_poll = started + self._next_delay()
            expiry = self._expiry(region)
            if expiry is not None and expiry < next_poll:
                await asyncio.sleep(max(0.0, expiry - self._clock()))
                try:
                    await self._expire(region)
                except Exception as exc:  # the loop outlives its bookkeeping; the next poll tries again
                    raise_if_cancelling()
                    log.error(
                        "dropping stale series failed",
                        extra={"region": region, "error": f"{type(exc).__name__}: {exc}"},
                    )
            await asyncio.sleep(max(0.0, next_poll - self._clock()))

    def _next_delay(self) -> float:
        spread = min(self.plan.interval * JITTER_SHARE, JITTER_MAX)
        return self.plan.interval + self._rng.uniform(-spread, spread)

    async def _poll(self, region: str) -> RegionStatus:
        started = self._clock()
        deadline = started + self.plan.timeout
        run = _Run(self._snapshots[region])
        target = self._targets[region]
        # Each page of the listing is formatted as it arrives, while the listing waits for the next one.
        stream = RegionStream(target.region, self.plan.options, target.account)
        try:
            async with asyncio.timeout(self.plan.timeout + DEADLINE_GRACE):
                await self._run_sources(region, run, (started, deadline), stream)
            # What is left (the merge, or a whole region) off the event loop, so scrapes are not held up.
            samples, attention = await asyncio.to_thread(_collect, run.snapshot, self.plan.options, stream)
        except TimeoutError:
            error = Failure(SOURCE_TIMEOUT, f"poll did not finish within {self.plan.timeout:g}s")
        except Exception as exc:  # the loop must survive anything a poll can throw
            error = _failure(region, exc)
        else:
            # Only a poll that succeeds moves the sources' clocks: a failed one changed nothing.
            # The primary source runs at every poll: its result, formatted now, need not be held until the next.
            primary = next(source for source in target.sources if source.primary)
            unlisted = run.snapshot.unlisted_workspaces
            self._unlisted_requests[region] = run.snapshot.unlisted_requests
            self._snapshots[region] = primary.store(run.snapshot, primary.empty)
            self._source_ran.update(run.ran)
            self._source_succeeded.update(run.succeeded)
            finished = self._wall_clock()
            skipped = run.snapshot.skipped
            self._record_skipped(region, skipped)
            # The listing is formatted: not held while the exposition is rendered beside the previous one.
            del run, stream
            return await self._succeeded(
                region,
                samples,
                self._clock() - started,
                finished,
                skipped=skipped,
                attention=attention,
                unlisted=unlisted,
            )
        # Whatever the poll built goes now, before its failure is recorded (and stale series maybe dropped).
        stream.discard()
        del run, stream
        # A poll cut short by a stop is no failure: what it raised may be a cancellation swallowed below.
        raise_if_cancelling()
        return await self._failed(region, error, self._clock() - started, self._wall_clock())

    async def _run_sources(self, region: str, run: _Run, times: tuple[float, float], sink: RegionStream) -> None:
        """The sources due run in order, each seeing what the earlier ones stored in `run.snapshot` and
        handing parts of its result to `sink` as they arrive. `times`: when the poll started, its deadline.

        A source not due keeps its last result. The primary source's failure is raised (the poll fails);
        a secondary one's is logged, and its last result kept until it is older than `max_staleness`.
        """
        started, deadline = times
        target = self._targets[region]
        for index, source in enumerate(target.sources):
            key = (region, index)
            last = self._source_ran.get(key)
            if source.interval is not None and last is not None and started - last < source.interval:
                continue
            run.ran[key] = started
            if source.primary:
                result = await source.run(target.region, run.snapshot, deadline, sink)
            else:
                left = max(0.0, deadline - self._clock())
                try:
                    # At most a share of the time left, so that a slow or throttled secondary call (retried by
                    # the client until its deadline) can never make the whole poll overrun and fail.
                    async with asyncio.timeout(left * SECONDARY_SHARE + SECONDARY_GRACE):
                        result = await source.run(
                            target.region, run.snapshot, self._clock() + left * SECONDARY_SHARE, sink
                        )
                except Exception as exc:  # a secondary source never fails the region
                    raise_if_cancelling()
                    if isinstance(exc, TimeoutError):  # cut off at the end of its share: a passing trouble
                        message = f"{source.action} did not finish in its share of the poll"
                        exc = SourceError(SOURCE_TIMEOUT, message, retryable=True)
                    run.snapshot = self._secondary_failed(region, key, source, run.snapshot, exc)
                    if not isinstance(exc, SourceError) or exc.retryable:
                        del run.ran[key]  # a passing trouble: asked again at the next poll
                    continue
            run.snapshot = source.store(run.snapshot, result)
            run.succeeded[key] = self._clock()

    def _secondary_failed(
        self, region: str, key: tuple[str, int], source: Source[Any], snapshot: RegionSnapshot, exc: Exception
    ) -> RegionSnapshot:
        succeeded = self._source_succeeded.get(key)
        keep = succeeded is not None and self._clock() - succeeded < self.plan.max_staleness
        error = _failure(region, exc)
        fields: dict[str, object] = {"region": region, "action": source.action, "code": error.code}
        fields["error_message"] = redact(error.message)
        if error.request_id:
            fields["request_id"] = error.request_id
        fields["kept"] = keep
        log.warning("source failed", extra=fields)
        return snapshot if keep else source.store(snapshot, source.empty)

    def _record_skipped(self, region: str, skipped: Sequence[Skipped]) -> None:
        """Count what was left out, and say so in one warning at most every `SKIP_LOG_INTERVAL`."""
        counts = collections.Counter((item.kind, item.reason) for item in skipped)
        for (kind, reason), count in sorted(counts.items()):
            self.recorder.record_skipped(region, kind, reason, count)
        if not skipped:
            return
        now = self._clock()
        last = self._skip_logged.get(region)
        if last is not None and now - last < SKIP_LOG_INTERVAL:
            return
        self._skip_logged[region] = now
        first = skipped[0]
        log.warning(
            "left out objects that could not be read",
            extra={
                "region": region,
                "skipped": len(skipped),
                "kind": first.kind,
                "id": first.object_id or "(none)",
                "service_group_id": first.group_id or "(none)",
                "field": first.path or "(the object itself)",
                "reason": first.reason,
            },
        )

    async def _succeeded(
        self,
        region: str,
        samples: RegionSamples,
        duration: float,
        finished: float,
        *,
        skipped: Sequence[Skipped] = (),
        attention: Sequence[AttentionRow] = (),
        unlisted: tuple[str, ...] = (),
    ) -> RegionStatus:
        self._samples[region] = samples
        self._last_success[region] = self._clock()
        await self._rerender()
        self.recorder.record_poll(region, success=True, duration=duration, finished_at=finished)
        self.recorder.set_inventory(region, samples.service_groups, samples.services, len(unlisted))
        target = self._targets[region]
        status = RegionStatus(
            region=target.region,
            account=target.account,
            outcome="success",
            polls=self._status[region].polls + 1,
            last_poll=finished,
            last_success=finished,
            duration=duration,
            service_groups=samples.service_groups,
            services=samples.services,
            services_by_status=samples.services_by_status,
            skipped=tuple(skipped),
            attention=tuple(attention),
            unlisted_workspaces=unlisted,
        )
        self._set_status(region, status)
        fields = _log_fields(status)
        if unlisted:
            fields["unlisted_workspaces"] = len(unlisted)  # the poll was partial: the rest come next poll
        log.info("poll finished", extra=fields)
        return status

    async def _failed(self, region: str, error: Failure, duration: float, finished: float) -> RegionStatus:
        message = clean_value(error.message, MAX_TEXT)  # shown on the page as well as logged
        self.recorder.record_poll(region, success=False, duration=duration, finished_at=finished)
        previous = self._status[region]
        status = replace(
            previous,
            outcome="failure",
            polls=previous.polls + 1,
            last_poll=finished,
            duration=duration,
            error_code=error.code,
            error_message=message,
            request_id=error.request_id or None,
            stale=region in self._samples,
        )
        self._set_status(region, status)
        level = logging.ERROR if error.code == UNEXPECTED_ERROR else logging.WARNING
        log.log(
            level,
            "poll failed",
            extra=_log_fields(status),
        )
        await self._expire(region)
        return self._status[region]

    def _expiry(self, region: str) -> float | None:
        """When the region's last good samples must go, if it currently serves stale ones."""
        if not self._status[region].stale or region not in self._last_success:
            return None
        return self._last_success[region] + self.plan.max_staleness

    async def _expire(self, region: str) -> None:
        expiry = self._expiry(region)
        if expiry is None or self._clock() < expiry:
            return
        self._samples.pop(region, None)
        self._snapshots[region] = _empty(self._targets[region])
        # Every source's result went with the snapshot: all of them run again at the next poll.
        for clocks in (self._source_ran, self._source_succeeded):
            for key in [key for key in clocks if key[0] == region]:
                del clocks[key]
        await self._rerender()
        self.recorder.forget_inventory(region)
        self._set_status(
            region,
            replace(
                self._status[region],
                stale=False,
                service_groups=None,
                services=None,
                services_by_status=MappingProxyType({}),
                attention=(),
            ),
        )
        log.warning(
            "dropped stale series",
            extra={"region": region, "max_staleness": self.plan.max_staleness},
        )

    async def _rerender(self) -> None:
        """Render in a worker thread; the lock keeps a slower, older render from replacing a newer one."""
        async with self._render_lock:
            regions = [self._samples[key] for key in self._targets if key in self._samples]
            self._exposition = await asyncio.to_thread(render, regions, self._exposition)
            self._publish()
