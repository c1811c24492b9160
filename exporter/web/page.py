"""The landing page: what a person opening the exporter in a browser needs to see first.

Every value placed in the page is cleaned as a label value is (`clean_value`: no control characters,
lone surrogates, credentials or the exporter's secrets; bounded) and HTML-escaped, and the page shows
only what the poller recorded (codes, counts, times, the API's error message), never request
details or configuration values that could hold a secret.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from string import Template

from exporter.durations import format_duration
from exporter.metrics.attention import AttentionEvent, AttentionRow, ordered
from exporter.metrics.labels import clean_value
from exporter.poller.status import RegionStatus

_TEMPLATE = Template(files("exporter.web").joinpath("status.html").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class PageContext:
    """What the page says besides the regions' statuses."""

    version: str
    started: float
    telemetry_path: str
    interval: float
    max_staleness: float
    events: bool = True
    """Whether Warning events are asked at all (`--events.max-services` above 0)."""


MAX_SHOWN = 20_000
"""Characters of one value placed in the page: the rows are bounded where they are made, this bounds the
rest (an unreadable object's id can be a megabyte)."""


def _e(value: object) -> str:
    return html.escape(clean_value(str(value), MAX_SHOWN), quote=True)


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def _count(value: int | None) -> str:
    return "&ndash;" if value is None else str(value)


def _row(status: RegionStatus) -> str:
    by_status = ", ".join(f"{_e(name)}&nbsp;{count}" for name, count in status.services_by_status.items()) or "&ndash;"
    if status.error_code and status.outcome == "failure":
        error = f"<code>{_e(status.error_code)}</code>: {_e(status.error_message or '')}"
        if status.request_id:
            error += f'<br><span class="muted">RequestId {_e(status.request_id)}</span>'
        if status.stale:
            error += '<br><span class="muted">serving the last good series</span>'
    else:
        error = ""
    duration = "&ndash;" if status.duration is None else f"{status.duration:.3f}s"
    cells = [
        f'<td class="region">{_e(status.where)}</td>',
        f'<td data-label="Last poll">{_time(status.last_poll)}</td>',
        f'<td class="{_e(status.outcome)}" data-label="Outcome">{_e(status.outcome)}</td>',
        f'<td class="num" data-label="Duration">{duration}</td>',
        f'<td data-label="Last success">{_time(status.last_success)}</td>',
        f'<td class="num" data-label="Service groups">{_count(status.service_groups)}</td>',
        f'<td class="num" data-label="Services">{_count(status.services)}</td>',
        f'<td data-label="By status">{by_status}</td>',
        f'<td data-label="Error">{error}</td>' if error else '<td class="empty"></td>',
    ]
    return "<tr>" + "".join(cells) + "</tr>"


MAX_SKIPPED_ROWS = 50
"""Objects left out that the page lists by name; beyond that it gives the count (the counter has them all)."""


def _skipped(statuses: Sequence[RegionStatus]) -> str:
    """The objects the last polls left out because they could not be read: what to look up in the console."""
    items = [(status.where, item) for status in statuses for item in status.skipped]
    if not items:
        return ""
    rows = [
        "<tr>"
        f'<td class="region">{_e(region)}</td><td data-label="Kind">{_e(item.kind)}</td>'
        f'<td data-label="Id"><code>{_e(item.object_id or "(none)")}</code></td>'
        f'<td data-label="Service group"><code>{_e(item.group_id or "(none)")}</code></td>'
        f'<td data-label="Field"><code>{_e(item.path or "(the object)")}</code></td>'
        f'<td data-label="Reason">{_e(item.reason)}</td>'
        "</tr>"
        for region, item in items[:MAX_SKIPPED_ROWS]
    ]
    more = len(items) - MAX_SKIPPED_ROWS
    tail = f'<p class="muted">and {more} more</p>' if more > 0 else ""
    return (
        "<h2>Left out: objects that could not be read</h2>\n"
        '<p class="muted">The API answered, but these objects did not fit the types the exporter knows; '
        "they have no series until the API sends them readable again.</p>\n"
        '<table class="cards"><thead><tr><th>Region</th><th>Kind</th><th>Id</th><th>Service group</th><th>Field</th>'
        "<th>Reason</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n" + tail
    )


def attention(statuses: Sequence[RegionStatus]) -> list[AttentionRow]:
    """Every region's services that need attention, as one list: most severe first, then the oldest."""
    return ordered(row for status in statuses for row in status.attention)


def age(seconds: float) -> str:
    """A duration as a person reads it at a glance: `45 s`, `17 min`, `3 h 5 min`, `2 d 4 h`."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _replicas(row: AttentionRow) -> str:
    available = "?" if row.available_replicas is None else str(row.available_replicas)
    desired = "?" if row.desired_replicas is None else str(row.desired_replicas)
    return f"{available}/{desired}"


def _gpus(row: AttentionRow) -> str:
    return "&ndash;" if row.gpus is None else f"{row.gpus:g}"


def _traffic(row: AttentionRow) -> str:
    """The group's calls, error ratio, throttled calls and latency (Cloud Monitor), as far as known."""
    parts = []
    if row.requests_per_second is not None:
        parts.append(f"{row.requests_per_second:.3g} calls/s")
    if row.error_ratio is not None:
        parts.append(f"{row.error_ratio:.1%} errors")
    if row.throttled_per_second:
        parts.append(f"{row.throttled_per_second:.3g} throttled/s")
    if row.response_time_seconds is not None:
        parts.append(f"{row.response_time_seconds * 1000:.0f} ms")
    if not parts:
        return ""
    return '<br><span class="muted">traffic</span> ' + " &middot; ".join(parts)


GENERIC_REASONS: frozenset[str] = frozenset(
    {
        "MinimumReplicasUnavailable",
        "ReplicaSetUpdated",
        "NewReplicaSetAvailable",
        "ProgressDeadlineExceeded",
        "ConditionFalse",
        "Available",
        "Progressing",
        "unknown",
    }
)
"""Reasons that say only that replicas are missing, not why: a Pending or crash-looping service's
condition says `MinimumReplicasUnavailable`, its Warning events say `Insufficient nvidia.com/gpu` or
`Back-off restarting failed container`."""

ORDINARY_BUSINESS: tuple[str, ...] = ("CREATE_SUCCEED", "BILLING")
"""Business statuses of a service that was created and is billed as usual: not worth a word on the page."""

EVENTS_SHOWN = 3
"""Warning events a row shows (the headline's included); the rest are counted."""

SINCE_BASIS: dict[str, str] = {
    "condition": "when a workload condition turned False",
    "changed": "when the service last changed, into this state",
    "update": "the service's last change (the trouble may have begun later)",
    "event": "the first of its recent Warning events",
    "creation": "when the service was created",
}


def _told_by_event(row: AttentionRow) -> bool:
    """Whether the latest Warning event tells the cause better than the condition's reason and message."""
    return bool(row.events) and (row.reason in GENERIC_REASONS or row.reason in (row.status, row.business_status))


def _event_tail(event: AttentionEvent, now: float) -> str:
    count = f"&times;{event.count}" if event.count and event.count > 1 else ""
    when = f"{age(now - event.last_timestamp)} ago" if event.last_timestamp else ""
    kind, name = event.resource_kind, event.resource_name
    where = f'{_e(kind)} <span class="token">{_e(name)}</span>'.strip() if (kind or name) else ""
    parts = [part for part in (count, where, when) if part]
    return f' <span class="muted">{" &middot; ".join(parts)}</span>' if parts else ""


def _event(event: AttentionEvent, now: float) -> str:
    return f"<li>{_e(event.message)}{_event_tail(event, now)}</li>"


def _events_note(row: AttentionRow, asked: bool) -> str:
    if not row.service_id:
        return ""  # a group's row: its callers' experience, no service's events
    if not asked:
        return '<p class="muted">events off (--events.max-services 0)</p>'
    if row.events_total is None:
        return '<p class="muted">Warning events not asked yet</p>'
    if not row.events:
        return '<p class="muted">no Warning events in the last hour</p>'
    return ""


def _cause(row: AttentionRow, now: float, asked: bool) -> str:
    """The most telling of the condition's reason and message and the latest Warning event first, in
    full words; the rest below it. Only long tokens (ids, pod names, URLs) may break inside."""
    condition = f"<b>{_e(row.reason)}</b>" + (f": {_e(row.message)}" if row.message else "")
    if not asked:
        return f'<p class="headline">{condition}</p>' + _events_note(row, asked)
    if _told_by_event(row):
        first, *others = row.events
        headline = f'<p class="headline">{_e(first.message)}{_event_tail(first, now)}</p>'
        detail = f'<p class="detail">{condition}</p>'
        listed = others[: EVENTS_SHOWN - 1]
        shown = 1 + len(listed)
    else:
        headline = f'<p class="headline">{condition}</p>'
        detail = ""
        listed = list(row.events[:EVENTS_SHOWN])
        shown = len(listed)
    more = (row.events_total or 0) - shown
    items = "".join(_event(event, now) for event in listed)
    if more > 0:
        items += f'<li class="muted">and {more} more Warning event{"s" if more > 1 else ""}</li>'
    events = f'<ul class="events">{items}</ul>' if items else ""
    return headline + detail + events + _events_note(row, asked)


def _since(row: AttentionRow, now: float) -> str:
    if not row.since:
        return '<span class="muted">?</span>'
    basis = SINCE_BASIS.get(row.since_basis, "")
    title = f"since {_time(row.since)} UTC" + (f": {basis}" if basis else "")
    return f'<span title="{_e(title)}">for {age(now - row.since)}</span>'


def _subject(row: AttentionRow) -> str:
    """The service's id, or for a row about the whole group (its callers' experience), the group's."""
    if row.service_id:
        return f"<code>{_e(row.service_id)}</code>"
    return f'<span class="muted">service group</span> <code>{_e(row.service_group_id)}</code>'


def _attention_row(row: AttentionRow, now: float, events: bool, stale: RegionStatus | None) -> str:
    model = _e(row.model_name) + (f' <span class="muted">{_e(row.model_version)}</span>' if row.model_version else "")
    telling = row.business_status not in ("", row.status, *ORDINARY_BUSINESS)
    business = f' <span class="muted">{_e(row.business_status)}</span>' if telling else ""
    searchable = " ".join(
        (
            *(row.where, row.service_group_name, row.service_group_id, row.service_id, row.model_name),
            *(row.status, row.business_status, row.reason, row.message),
            *(event.message for event in row.events),
        )
    ).lower()
    badge = ""
    if stale is not None:
        title = f"from the last good poll of {row.where}, at {_time(stale.last_success)} UTC"
        badge = f' <span class="badge" title="{_e(title)}">stale</span>'
    cells = [
        f'<td class="sev">{_e(row.severity)}{badge}</td>',
        f'<td class="age">{_since(row, now)}</td>',
        f'<td class="service"><b>{_e(row.service_group_name)}</b> <span class="region">{_e(row.where)}</span>'
        f"<br>{_subject(row)}<br>{model}</td>",
        f'<td class="state">{_e(row.status)}{business}<br><span class="muted">replicas</span> {_replicas(row)}'
        f' <span class="muted">&middot; GPUs</span> {_gpus(row)}{_traffic(row)}</td>',
        f'<td class="cause">{_cause(row, now, events)}</td>',
    ]
    classes = _e(row.severity) + (" stale" if stale is not None else "")
    return (
        f'<tr class="{classes}" data-region="{_e(row.where)}" data-text="{_e(searchable)}" '
        f'data-service-id="{_e(row.service_id)}">' + "".join(cells) + "</tr>"
    )


def _filter(statuses: Sequence[RegionStatus]) -> str:
    if not statuses:
        return ""
    regions = "".join(f'<option value="{_e(status.where)}">{_e(status.where)}</option>' for status in statuses)
    return (
        '<form class="filter" onsubmit="return false"><label>Region <select id="f-region"><option value="">all</option>'
        f"{regions}</select></label> "
        '<label>Text <input id="f-text" type="search" placeholder="group, model, reason&hellip;"></label></form>\n'
    )


def _needs_attention(statuses: Sequence[RegionStatus], now: float, events: bool) -> str:
    rows = attention(statuses)
    if not rows:
        return '<h2>Needs attention</h2>\n<p class="ok" id="attention-none">Nothing needs attention.</p>\n'
    stale = {status.where: status for status in statuses if status.stale}
    return (
        f'<h2>Needs attention <span class="muted" id="attention-count">{len(rows)}</span></h2>\n'
        '<table id="attention" class="cards"><colgroup><col class="c-sev"><col class="c-age"><col class="c-service">'
        '<col class="c-state"><col class="c-cause"></colgroup>\n'
        "<thead><tr><th>Severity</th><th>How long</th><th>Service</th><th>State</th>"
        "<th>Cause: reason, message, latest Warning events</th></tr></thead>\n<tbody>\n"
        + "\n".join(_attention_row(row, now, events, stale.get(row.where)) for row in rows)
        + "\n</tbody></table>\n"
    )


MAX_BANNER_MESSAGE = 300
"""Characters of a region's error message the banner shows; the Regions table has it whole."""


def _banner(status: RegionStatus, now: float, started: float) -> str:
    """A failing region, above everything: its error code, since when it has no good poll, what it serves."""
    message = status.error_message or ""
    if len(message) > MAX_BANNER_MESSAGE:
        message = message[: MAX_BANNER_MESSAGE - 1] + "…"
    code = f" with <code>{_e(status.error_code)}</code>" if status.error_code else ""
    text = f": {_e(message)}" if message else ""
    if status.last_success is not None:
        since = f"no successful poll since {_time(status.last_success)} UTC ({age(now - status.last_success)} ago)"
    else:
        since = f"no successful poll since the exporter started at {_time(started)} UTC ({age(now - started)} ago)"
    if status.stale:
        serving = f"its {len(status.attention)} rows below are from that poll, marked stale" if status.attention else ""
        serving = "; ".join(part for part in ("serving its last good series", serving) if part)
    elif status.last_success is not None:
        serving = "its last good series were dropped (older than the maximum staleness)"
    else:
        serving = "no series for it yet"
    return (
        f'<div class="banner" role="alert" data-region="{_e(status.where)}"><b>{_e(status.where)}</b>: '
        f"polls fail{code}{text}<br>{since}; {serving}.</div>"
    )


def _banners(statuses: Sequence[RegionStatus], now: float, started: float) -> str:
    return "".join(_banner(status, now, started) + "\n" for status in statuses if status.outcome == "failure")


def status_page(
    statuses: Sequence[RegionStatus], context: PageContext, *, ready: bool, now: float | None = None
) -> bytes:
    moment = time.time() if now is None else now
    page = _TEMPLATE.substitute(
        banners=_banners(statuses, moment, context.started),
        filter=_filter(statuses),
        attention=_needs_attention(statuses, moment, context.events),
        generated=_time(moment),
        refresh_ms=str(int(min(max(context.interval, 5.0), 60.0) * 1000)),
        version=_e(context.version),
        started=_time(context.started),
        metrics_href=_e(context.telemetry_path.lstrip("/")),
        readiness="ready" if ready else "waiting for the first poll of every region",
        rows="\n".join(_row(status) for status in statuses),
        skipped=_skipped(statuses),
        interval=_e(format_duration(context.interval)),
        max_staleness=_e(format_duration(context.max_staleness)),
    )
    return page.encode("utf-8")
