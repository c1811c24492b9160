"""Why a service is unwell: the Warning events `DescribeEvents` gives for the services that need attention.

A secondary source, run after the listing: it reads the listing's services, picks the ones that need
attention (`tione.attention`), the longest troubled first, and asks the API for each one's Warning events
of the last hour (`Service=INFER`, that `ServiceId`, `Type=Warning`, `Limit` 100), through the same
client and token bucket as everything else.

Its cost is bounded twice: at most `max_services` calls per poll and region, and a service's answer is
kept for `refresh` seconds before it is asked again, so a fleet with many broken services is covered a few
at a time instead of spending the API quota on the same events every poll. It never delays the listing's
series for long (the poller gives it half of what is left of the poll's time, and every call stops by then)
and never fails the region: a service
whose call fails keeps its last answer, and only when every call of a poll fails does the source report
the failure (logged and counted by the poller; the listing's series are served all the same).

Messages are free text from the platform: they go to the page and the JSON (escaped there), never into
a label.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.errors import TIMEOUT, TransportError
from exporter.tione.attention import trouble
from exporter.tione.event_models import DescribeEventsResponse, ServiceEvents
from exporter.tione.models import as_utc
from exporter.tione.paging import call_parsed, parse_answer
from exporter.tione.snapshot import RegionSnapshot, ResultKey
from exporter.tione.source import Sink, Source

ACTION = "DescribeEvents"
EVENTS: ResultKey[tuple[ServiceEvents, ...]] = ResultKey(ACTION, ())
"""Warning events of the services that need attention, read by the event families and the attention rows."""
SERVICE_KIND = "INFER"
"""`Service`: online inference services."""
WARNING = "Warning"
WINDOW_SECONDS = 3600.0
"""The look-back of each call: the last hour."""
LIMIT = 100
CONCURRENCY = 1
"""Calls in flight at once in one region. The token bucket is shared, first come first served: one events
call waiting in it at a time keeps other regions' calls (listing pages, capacity) from queueing behind a
batch of events."""
DEFAULT_MAX_SERVICES = 10
DEFAULT_REFRESH_SECONDS = 60.0
PROBE_SERVICE_ID = "ms-tione-exporter-check"
"""`check` asks about a service that does not exist: the API answers an empty list if the keys may call it."""


def request(service_id: str, project_id: str | None, now: float) -> dict[str, Any]:
    """The request body: the service's Warning events of the hour before `now`."""
    params: dict[str, Any] = {
        "Service": SERVICE_KIND,
        "ServiceId": service_id,
        "StartTime": _rfc3339(now - WINDOW_SECONDS),
        "EndTime": _rfc3339(now),
        "Limit": LIMIT,
        "Filters": [{"Name": "Type", "Values": [WARNING]}],
    }
    if project_id:
        params["TiProjectId"] = project_id
    return params


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(region: str, answer: dict[str, Any]) -> DescribeEventsResponse:
    return parse_answer(DescribeEventsResponse, ACTION, region, answer)


def troubled(snapshot: RegionSnapshot) -> list[tuple[str, str]]:
    """(group id, service id) of every service needing attention, the longest troubled first."""
    found: list[tuple[float, int, str, str]] = []
    for group in snapshot.groups:
        for service in group.services or ():
            group_id = service.service_group_id or group.service_group_id
            if not group_id or not service.service_id:
                continue
            problem = trouble(service)
            if problem is None:
                continue
            since = as_utc(problem.since)
            found.append((since.timestamp() if since else float("inf"), len(found), group_id, service.service_id))
    found.sort()
    return [(group_id, service_id) for _, _, group_id, service_id in found]


class EventsCache:
    """The last answer per (region, service), with the monotonic time it was asked."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], tuple[float, ServiceEvents]] = {}

    def keep_only(self, region: str, service_ids: set[str]) -> None:
        """Forget the services of `region` no longer in trouble: when trouble comes back, ask afresh."""
        for key in [key for key in self.entries if key[0] == region and key[1] not in service_ids]:
            del self.entries[key]


async def ask(
    client: TencentCloudClient,
    region: str,
    ids: tuple[str, str],
    project_id: str | None,
    *,
    deadline: float,
    now: float,
) -> ServiceEvents:
    """The Warning events of one service (`ids`: its group's id and its own) in workspace `project_id`."""
    group_id, service_id = ids
    answer = await call_parsed(client, ACTION, region, request(service_id, project_id, now), parse, deadline=deadline)
    events = tuple(event for event in answer.events or () if event.type in (None, WARNING))
    total = answer.total_count if answer.total_count is not None else len(events)
    return ServiceEvents(group_id, service_id, events, max(total, len(events)), now)


def source(
    client: TencentCloudClient,
    *,
    max_services: int = DEFAULT_MAX_SERVICES,
    refresh: float = DEFAULT_REFRESH_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> Source[tuple[ServiceEvents, ...]]:
    """The secondary source of Warning events; see the module docstring.

    Each call names the workspace (`TiProjectId`) the listing found the service's group in
    (`RegionSnapshot.group_workspaces`); without one it goes to the default workspace.
    """
    cache = EventsCache()

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[ServiceEvents, ...]:
        services = troubled(snapshot)
        cache.keep_only(region, {service_id for _, service_id in services})
        started = clock()
        due = [
            (group_id, service_id)
            for group_id, service_id in services
            if (entry := cache.entries.get((region, service_id))) is None or started - entry[0] >= refresh
        ][:max_services]
        # The poller gives a secondary source its share of the poll as `deadline`: every call ends by then.
        budget = deadline
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(group_id: str, service_id: str) -> BaseException | None:
            async with limit:
                try:
                    # The client keeps to the deadline; the timeout is the guarantee that the listing's
                    # series never wait on this source past its share of the poll, whatever happens below.
                    async with asyncio.timeout(max(0.0, budget - clock())):
                        workspace = snapshot.group_workspaces.get(group_id) or None
                        result = await ask(
                            client, region, (group_id, service_id), workspace, deadline=budget, now=wall_clock()
                        )
                except TimeoutError:
                    return TransportError(TIMEOUT, "no answer within the events' share of the poll", region=region)
                except Exception as exc:  # one service's failure keeps its last answer; others go on
                    return exc
            cache.entries[(region, service_id)] = (clock(), result)
            return None

        errors = await asyncio.gather(*(one(group_id, service_id) for group_id, service_id in due))
        failures = [error for error in errors if error is not None]
        if due and len(failures) == len(due):
            raise failures[0]
        return tuple(
            entry[1] for _, service_id in services if (entry := cache.entries.get((region, service_id))) is not None
        )

    async def probe(region: str, deadline: float) -> str:
        body = request(PROBE_SERVICE_ID, None, wall_clock())
        body["Limit"] = 1
        await call_parsed(client, ACTION, region, body, parse, deadline=deadline)
        return "DescribeEvents permitted"

    return Source(ACTION, fetch, EVENTS.stored, empty=(), probe=probe)
