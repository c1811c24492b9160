"""The status page, whole: every cell, every fallback and every limit of a page rich enough to show them all.

The other page tests look for what matters most in a page (escaping, order, filters); this one pins the
whole of it against `tests/fixtures/web/status_page.html`, so that a changed cell, a lost fallback (`?`,
`&ndash;`, `never`), a moved limit or a dropped row shows as a diff. After a deliberate change to the page,
rewrite the file with `UPDATE_GOLDEN=1 python -m pytest tests/unit/test_status_page.py` and read the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from exporter.metrics.attention import AttentionEvent, AttentionRow
from exporter.poller import RegionStatus
from exporter.tione.decode import Skipped
from exporter.web.page import MAX_SKIPPED_ROWS, PageContext, age, status_page

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "web" / "status_page.html"
NOW = 1_714_560_000.0  # 2024-05-01 10:40:00 UTC
CONTEXT = PageContext(
    version="1.2.3<b>", started=NOW - 7200, telemetry_path="/metrics", interval=2.0, max_staleness=90.0
)


def _event(message: str, count: int | None, last: float | None, kind: str = "Pod", name: str = "p-1") -> AttentionEvent:
    return AttentionEvent(message, count, None if last is None else last - 60, last, kind, name)


def _row(service_id: str, severity: str, **fields: object) -> AttentionRow:
    values: dict[str, object] = {
        "region": "ap-guangzhou",
        "service_group_id": f"g-{service_id}",
        "service_group_name": f"group {service_id}",
        "service_id": service_id,
        "model_name": "ranker",
        "model_version": "v7",
        "status": "Abnormal",
        "business_status": "",
        "desired_replicas": 3,
        "available_replicas": 1,
        "severity": severity,
        "reason": "CrashLoopBackOff",
        "message": "back-off <restarting> & failing",
        "since": NOW - 3 * 3600 - 300,
        "gpus": 2.5,
    }
    values.update(fields)
    return AttentionRow(**values)  # type: ignore[arg-type]


def statuses() -> list[RegionStatus]:
    rows = (
        _row(
            "ms-crit",
            "critical",
            events=(
                _event("Back-off restarting failed container", 12, NOW - 120),
                _event("Readiness probe failed", 1, NOW - 45, "Service", "svc"),
                _event("no time", None, None),
            ),
            events_total=5,
            events_asked=NOW - 10,
        ),
        _row(
            "ms-warn",
            "warning",
            model_version="",
            business_status="ARREARS_STOP",
            desired_replicas=None,
            available_replicas=None,
            since=None,
            gpus=None,
            events_total=0,
        ),
        _row("ms-unasked", "warning", since=NOW - 50, gpus=0.0),
    )
    skipped = tuple(
        Skipped("service", f"ms-s-{n}", "ms-s", f"Services[{n}].ServiceInfo.Replicas", "wrong_type")
        for n in range(MAX_SKIPPED_ROWS)
    )
    return [
        RegionStatus(
            "ap-guangzhou",
            outcome="success",
            polls=9,
            last_poll=NOW - 5,
            last_success=NOW - 5,
            duration=1.23456,
            service_groups=4,
            services=7,
            services_by_status={"Normal": 5, "Abnormal<x>": 2},
            skipped=(Skipped("service_group", "", "", "", "no_id"), *skipped),
            attention=rows,
        ),
        RegionStatus(
            "ap-shanghai",
            outcome="failure",
            polls=3,
            last_poll=NOW - 2,
            last_success=NOW - 600,
            duration=12.0,
            error_code="RequestLimitExceeded",
            error_message="too <many> requests",
            request_id="req-1",
            service_groups=1,
            services=1,
            services_by_status={"Normal": 1},
            stale=True,
            attention=(
                _row(
                    "ms-stale",
                    "critical",
                    region="ap-shanghai",
                    status="Pending",
                    business_status="CREATE_SUCCEED",
                    reason="MinimumReplicasUnavailable",
                    message="Deployment does not have minimum availability.",
                    since=NOW - 7200,
                    since_basis="condition",
                    events=(_event("0/8 nodes are available: 8 Insufficient nvidia.com/gpu.", 60, NOW - 20),),
                    events_total=1,
                ),
            ),
            skipped=(Skipped("workspace", "ws-1", "", "", "not_readable"),),
        ),
        RegionStatus("ap-beijing", outcome="failure", polls=1, last_poll=NOW - 1, error_code="AuthFailure"),
        RegionStatus("ap-singapore"),
    ]


def test_a_rich_page_is_exactly_the_golden_page() -> None:
    page = status_page(statuses(), CONTEXT, ready=False, now=NOW).decode()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(page, encoding="utf-8")
    assert page == GOLDEN.read_text(encoding="utf-8")


def test_the_golden_page_shows_each_fallback_and_limit() -> None:
    """What the golden page is for, said once in words, so a regenerated golden file cannot lose it unseen."""
    page = GOLDEN.read_text(encoding="utf-8")
    assert "waiting for the first poll of every region" in page
    assert "1.2.3&lt;b&gt;" in page and "2024-05-01 08:40:00" in page  # version escaped, start time
    assert '<td data-label="Last success">never</td>' in page  # a region never polled
    assert "<code>RequestLimitExceeded</code>: too &lt;many&gt; requests" in page
    assert "RequestId req-1" in page and "serving the last good series" in page
    assert "<code>AuthFailure</code>: <" in page  # no message, no request id, not stale
    assert "1.235s" in page and "Abnormal&lt;x&gt;&nbsp;2" in page
    assert page.count("<code>(none)</code></td>") == 2 and "(the object)" in page
    assert f"ms-s-{MAX_SKIPPED_ROWS - 2}" in page and f"ms-s-{MAX_SKIPPED_ROWS - 1}" not in page
    assert '<p class="muted">and 2 more</p>' in page
    assert "for 3 h 5 min" in page and "?/?" in page and "1/3" in page
    assert "&times;12 &middot;" in page and "&times;1 " not in page and "2 min ago" in page and "45 s ago" in page
    assert '<li class="muted">and 2 more Warning events</li>' in page
    assert "no Warning events in the last hour" in page and "not asked yet" in page
    assert "GPUs</span> 2.5</td>" in page and "GPUs</span> 0</td>" in page and "GPUs</span> &ndash;</td>" in page
    assert '<td class="num" data-label="Duration">&ndash;</td>' in page
    # A failing region: a banner before everything else, with its code, its message and since when.
    banners = page.split('<div id="live-banners">')[1].split("</div>\n<form")[0]
    assert page.index('id="live-banners"') < page.index("<h2>Needs attention") < page.index("<h2>Regions</h2>")
    assert "<b>ap-shanghai</b>: polls fail with <code>RequestLimitExceeded</code>: too &lt;many&gt; requests" in banners
    assert "no successful poll since 2024-05-01 10:30:00 UTC (10 min ago)" in banners
    assert "its 1 rows below are from that poll, marked stale" in banners
    assert "<b>ap-beijing</b>: polls fail with <code>AuthFailure</code>" in banners  # never succeeded
    assert "since the exporter started at 2024-05-01 08:40:00 UTC (2 h ago); no series for it yet" in banners
    assert "ap-singapore" not in banners and "ap-guangzhou" not in banners  # pending and healthy: no banner
    # ... and its rows marked stale; a generic reason gives way to the Warning event that says why.
    stale = page.split('data-service-id="ms-stale">')[1].split("</tr>")[0]
    assert page.count('<tr class="critical stale"') == 1 and 'title="from the last good poll' in stale
    assert '<p class="headline">0/8 nodes are available: 8 Insufficient nvidia.com/gpu.' in stale
    assert '<p class="detail"><b>MinimumReplicasUnavailable</b>: Deployment does not have' in stale
    assert "CREATE_SUCCEED" not in stale  # the ordinary business status says nothing
    assert 'title="since 2024-05-01 08:40:00 UTC: when a workload condition turned False"' in stale
    assert '<p class="headline"><b>CrashLoopBackOff</b>: back-off &lt;restarting&gt; &amp; failing</p>' in page


@pytest.mark.parametrize(
    ("interval", "refresh"), [(0.5, 5000), (5.0, 5000), (30.0, 30000), (60.0, 60000), (600.0, 60000)]
)
def test_the_page_refreshes_every_interval_but_within_5_s_to_a_minute(interval: float, refresh: int) -> None:
    context = PageContext(version="1", started=0.0, telemetry_path="/x", interval=interval, max_staleness=300.0)
    page = status_page([], context, ready=True, now=NOW).decode()
    assert re.findall(r"setInterval\(refresh, (\d+)\);", page) == [str(refresh)]
    assert "location.reload" not in page  # in place: the filter, the scroll position and the focus stay


QUIET = Path(__file__).resolve().parent.parent / "fixtures" / "web" / "status_page_quiet.html"


def test_a_quiet_page_is_exactly_the_golden_quiet_page() -> None:
    """Ready, nothing in trouble, nothing left out: the page says so and shows no empty tables."""
    context = PageContext(version="1", started=NOW, telemetry_path="/Xport/metrics", interval=30.0, max_staleness=300.0)
    page = status_page([RegionStatus("ap-guangzhou", outcome="success", polls=1)], context, ready=True, now=NOW)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        QUIET.write_text(page.decode(), encoding="utf-8")
    assert page.decode() == QUIET.read_text(encoding="utf-8")
    assert b'href="Xport/metrics"' in page and b"(ready)" in page and b"Left out" not in page


def test_limits_at_their_edges() -> None:
    """Exactly as many left-out objects as are listed (no "and 0 more"), one event more than shown, a
    count of 2, a failure without an error code, events switched off, and the current time by default."""
    skipped = tuple(Skipped("service", f"ms-{n}", "g", "", "wrong_type") for n in range(MAX_SKIPPED_ROWS))
    rows = (
        _row("ms-one-more", "critical", events=(_event("twice", 2, NOW - 30),), events_total=2),
        _row("ms-all-shown", "warning", events=(_event("once", 1, NOW - 30),), events_total=1),
    )
    statuses = [RegionStatus("r", outcome="failure", polls=1, skipped=skipped, attention=rows)]
    page = status_page(statuses, CONTEXT, ready=True).decode()  # now: the current time
    assert f"ms-{MAX_SKIPPED_ROWS - 1}" in page and "more</p>" not in page
    assert '</tbody></table>\n\n<p class="muted">Polling every' in page  # nothing after the last row
    assert page.count('<li class="muted">and 1 more Warning event</li></ul>') == 1 and "and 0 more" not in page
    assert page.count(" ago</span></li></ul>") == 1  # every event shown: nothing after the last
    one_over = (*skipped, Skipped("service", "ms-last", "g", "", "wrong_type"))
    over = status_page([RegionStatus("r", skipped=one_over)], CONTEXT, ready=True, now=NOW).decode()
    assert '<p class="muted">and 1 more</p>' in over and "ms-last" not in over
    assert 'twice <span class="muted">&times;2 &middot;' in page and "&times;1" not in page
    assert (
        '<td class="failure" data-label="Outcome">failure</td><td class="num" data-label="Duration">&ndash;</td>'
        '<td data-label="Last success">never</td>'
    ) in page
    assert "<code>" not in page.split("<h2>Regions</h2>")[1].split("<h2>Left out")[0]  # no error code, none shown
    off = PageContext(version="1", started=0.0, telemetry_path="/m", interval=30.0, max_staleness=300.0, events=False)
    page = status_page(statuses, off, ready=True, now=NOW).decode()
    assert page.count('<p class="muted">events off (--events.max-services 0)</p></td>') == 2


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0 s"),
        (0, "0 s"),
        (59.9, "59 s"),
        (60, "1 min"),
        (3599, "59 min"),
        (3600, "1 h"),
        (86399, "23 h 59 min"),
        (86400, "1 d"),
        (90000, "1 d 1 h"),
    ],
)
def test_ages_at_the_edges_of_each_unit(seconds: float, text: str) -> None:
    assert age(seconds) == text
