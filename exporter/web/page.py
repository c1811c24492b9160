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
from exporter.poller import RegionStatus

_TEMPLATE = Template(files("exporter.web").joinpath("status.html").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class PageContext:
    """What the page says besides the regions' statuses."""

    version: str
    started: float
    telemetry_path: str
    interval: float
    max_staleness: float


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


def status_page(statuses: Sequence[RegionStatus], context: PageContext, *, ready: bool) -> bytes:
    page = _TEMPLATE.substitute(
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
