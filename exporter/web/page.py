"""The landing page: what a person opening the exporter in a browser needs to see first.

Every value placed in the page is HTML-escaped, and the page shows only what the poller recorded
(codes, counts, times, the API's error message already scrubbed of credentials), never request
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
from exporter.logs import redact
from exporter.metrics.attention import AttentionEvent, AttentionRow, ordered
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


def _e(value: object) -> str:
    return html.escape(redact(str(value)), quote=True)


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
        f"<td>{_e(status.region)}</td>",
        f"<td>{_time(status.last_poll)}</td>",
        f'<td class="{_e(status.outcome)}">{_e(status.outcome)}</td>',
        f'<td class="num">{duration}</td>',
        f"<td>{_time(status.last_success)}</td>",
        f'<td class="num">{_count(status.service_groups)}</td>',
        f'<td class="num">{_count(status.services)}</td>',
        f"<td>{by_status}</td>",
        f"<td>{error}</td>",
    ]
    return "<tr>" + "".join(cells) + "</tr>"


MAX_SKIPPED_ROWS = 50
"""Objects left out that the page lists by name; beyond that it gives the count (the counter has them all)."""


def _skipped(statuses: Sequence[RegionStatus]) -> str:
    """The objects the last polls left out because they could not be read: what to look up in the console."""
    items = [(status.region, item) for status in statuses for item in status.skipped]
    if not items:
        return ""
    rows = [
        "<tr>"
        f"<td>{_e(region)}</td><td>{_e(item.kind)}</td><td><code>{_e(item.object_id or '(none)')}</code></td>"
        f"<td><code>{_e(item.group_id or '(none)')}</code></td><td><code>{_e(item.path or '(the object)')}</code></td>"
        f"<td>{_e(item.reason)}</td>"
        "</tr>"
        for region, item in items[:MAX_SKIPPED_ROWS]
    ]
    more = len(items) - MAX_SKIPPED_ROWS
    tail = f'<p class="muted">and {more} more</p>' if more > 0 else ""
    return (
        "<h2>Left out: objects that could not be read</h2>\n"
        '<p class="muted">The API answered, but these objects did not fit the types the exporter knows; '
        "they have no series until the API sends them readable again.</p>\n"
        "<table><thead><tr><th>Region</th><th>Kind</th><th>Id</th><th>Service group</th><th>Field</th>"
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


def _event(event: AttentionEvent, now: float) -> str:
    count = f"&times;{event.count} " if event.count and event.count > 1 else ""
    when = f' <span class="muted">{age(now - event.last_timestamp)} ago</span>' if event.last_timestamp else ""
    where = f'<span class="muted">{_e(event.resource_kind)} {_e(event.resource_name)}</span><br>'
    return f"<li>{where}{count}{_e(event.message)}{when}</li>"


def _events(row: AttentionRow, now: float, asked: bool) -> str:
    if not asked:
        return '<span class="muted">events off (--events.max-services 0)</span>'
    if row.events_total is None:
        return '<span class="muted">not asked yet</span>'
    if not row.events:
        return '<span class="muted">no Warning events in the last hour</span>'
    more = row.events_total - len(row.events)
    tail = f'<li class="muted">and {more} more</li>' if more > 0 else ""
    return '<ul class="events">' + "".join(_event(event, now) for event in row.events) + tail + "</ul>"


def _attention_row(row: AttentionRow, now: float, events: bool) -> str:
    since = f'<span title="since {_time(row.since)} UTC">for {age(now - row.since)}</span>' if row.since else "?"
    model = _e(row.model_name) + (f' <span class="muted">{_e(row.model_version)}</span>' if row.model_version else "")
    status = _e(row.status) + (
        f'<br><span class="muted">{_e(row.business_status)}</span>' if row.business_status else ""
    )
    searchable = " ".join(
        (
            *(row.region, row.service_group_name, row.service_group_id, row.service_id, row.model_name),
            *(row.status, row.business_status, row.reason, row.message),
            *(event.message for event in row.events),
        )
    ).lower()
    cells = [
        f'<td class="sev">{_e(row.severity)}</td>',
        f'<td class="region">{_e(row.region)}</td>',
        f"<td>{_e(row.service_group_name)}<br><code>{_e(row.service_id)}</code></td>",
        f"<td>{model}</td>",
        f"<td>{status}</td>",
        f'<td class="num">{_replicas(row)}</td>',
        f'<td class="reason"><b>{_e(row.reason)}</b><br>{_e(row.message)}</td>',
        f'<td class="age">{since}</td>',
        f'<td class="num">{_gpus(row)}</td>',
        f'<td class="events">{_events(row, now, events)}</td>',
    ]
    return (
        f'<tr class="{_e(row.severity)}" data-region="{_e(row.region)}" data-text="{_e(searchable)}" '
        f'data-service-id="{_e(row.service_id)}">' + "".join(cells) + "</tr>"
    )


def _needs_attention(statuses: Sequence[RegionStatus], now: float, events: bool) -> str:
    rows = attention(statuses)
    if not rows:
        return '<h2>Needs attention</h2>\n<p class="ok" id="attention-none">Nothing needs attention.</p>\n'
    regions = "".join(f'<option value="{_e(status.region)}">{_e(status.region)}</option>' for status in statuses)
    return (
        f'<h2>Needs attention <span class="muted" id="attention-count">{len(rows)}</span></h2>\n'
        '<form class="filter" onsubmit="return false"><label>Region <select id="f-region"><option value="">all</option>'
        f"{regions}</select></label> "
        '<label>Text <input id="f-text" type="search" placeholder="group, model, reason&hellip;"></label></form>\n'
        '<div class="scroll"><table id="attention"><thead><tr><th>Severity</th><th>Region</th><th>Service</th>'
        "<th>Model</th><th>Status</th><th>Replicas</th><th>Reason</th><th>How long</th><th>GPUs held</th>"
        "<th>Latest Warning events</th></tr></thead>\n<tbody>\n"
        + "\n".join(_attention_row(row, now, events) for row in rows)
        + "\n</tbody></table></div>\n"
    )


def status_page(
    statuses: Sequence[RegionStatus], context: PageContext, *, ready: bool, now: float | None = None
) -> bytes:
    moment = time.time() if now is None else now
    page = _TEMPLATE.substitute(
        attention=_needs_attention(statuses, moment, context.events),
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
