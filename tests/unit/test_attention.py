"""Which services need attention, the rows the poller makes of them, and how the page and the JSON show them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from exporter.logs import forget_secrets, register_secrets
from exporter.metrics.attention import AttentionEvent, AttentionRow, attention_rows, ordered
from exporter.metrics.render import collect_region, render
from exporter.poller import RegionStatus
from exporter.tione.attention import trouble
from exporter.tione.event_models import Event, ServiceEvents
from exporter.tione.events import EVENTS
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.text import KEPT_TEXT, MAX_TEXT
from exporter.web.page import PageContext, age, status_page
from exporter.web.server import ExporterApp, WebServer, bind
from tests.api_models import Service, ServiceGroup
from tests.unit.test_web import FixedLive, FixedSnapshot

T0 = "2024-05-01T10:00:00Z"


def service(status: str | None = "Normal", desired: int | None = 2, available: int | None = 2, **extra: Any) -> Service:
    workload: dict[str, Any] = {"Replicas": desired, "AvailableReplicas": available}
    workload.update(extra.pop("workload", {}))
    raw: dict[str, Any] = {
        "ServiceId": "ms-a-1",
        "Status": status,
        "ServiceInfo": {"Replicas": desired, "Status": workload},
    }
    raw.update(extra)
    return Service.model_validate(raw)


@pytest.mark.parametrize(
    ("svc", "expected"),
    [
        (service(), False),
        (service("Stopped", 0, 0), False),
        (service("Stopping", 2, 0), False),
        (service("Stopped", 0, 0, BusinessStatus="ARREARS_STOP"), True),
        (service("Abnormal", 2, 2), True),
        (service("CREATE_FAILED", 1, 0), True),
        (service("TIMEOUT_EXCEPTION", None, None), True),
        (service("Normal", 3, 1), True),
        (service("Pending", 2, 0), True),
        (service("Normal", 2, None), False),
        (service(workload={"Conditions": [{"Type": "Available", "Status": "False"}]}), True),
        (service(workload={"Conditions": [{"Type": "Available", "Status": "True"}]}), False),
        (service("Stopped", 0, 0, workload={"Conditions": [{"Type": "Available", "Status": "False"}]}), False),
    ],
)
def test_the_rule(svc: Service, expected: bool) -> None:
    assert (trouble(svc) is not None) is expected


def test_severity_reason_and_since() -> None:
    crash = trouble(
        service(
            "Abnormal",
            3,
            1,
            UpdateTime="2024-05-01 12:00:00",
            workload={
                "Conditions": [
                    {"Type": "Progressing", "Status": "True", "LastTransitionTime": "2024-04-01T00:00:00Z"},
                    {
                        "Type": "Available",
                        "Status": "False",
                        "Reason": "MinimumReplicasUnavailable",
                        "Message": "Deployment does not have minimum availability.",
                        "LastTransitionTime": T0,
                    },
                ]
            },
        )
    )
    assert crash is not None
    assert (crash.severity, crash.reason) == ("warning", "MinimumReplicasUnavailable")
    assert crash.message == "Deployment does not have minimum availability."
    assert crash.since == datetime(2024, 5, 1, 10, tzinfo=UTC)  # the failing condition's, not the update's
    failed = trouble(service("CREATE_FAILED", 1, 0, CreateFailedReason="image not found", UpdateTime=T0))
    assert failed is not None
    assert (failed.severity, failed.reason, failed.message) == ("critical", "CREATE_FAILED", "image not found")
    assert failed.since == datetime(2024, 5, 1, 10, tzinfo=UTC)
    arrears = trouble(service("Stopped", 0, 0, BusinessStatus="ARREARS_STOP"))
    assert arrears is not None and (arrears.severity, arrears.reason) == ("critical", "ARREARS_STOP")
    short = trouble(service("Normal", 3, 2))
    assert short is not None and (short.severity, short.message) == ("warning", "2 of 3 replicas available")
    down = trouble(service("Pending", 2, 0))
    assert down is not None and down.severity == "critical"


def test_how_long_is_since_the_trouble_began_not_since_the_last_change() -> None:
    """A crash loop that began minutes ago in a service last changed months ago (no failing condition):
    its first recent Warning event says when, not the `UpdateTime`. A state a change put the service in
    (stopped for arrears, pending after a start) began at its `UpdateTime`, whatever its events say."""
    first = datetime(2024, 5, 1, 9, 50, tzinfo=UTC)
    old = "2023-11-01T00:00:00Z"

    def row(raw: dict[str, Any], *, events: bool = True) -> AttentionRow:
        asked = (Event(message="Back-off", first_timestamp=first, last_timestamp=first, count=2),) if events else ()
        snapshot = EVENTS.stored(
            RegionSnapshot("r", (_group("ms-h", "g", raw),)),
            (ServiceEvents("ms-h", raw["ServiceId"], asked, len(asked), 0.0),),
        )
        [found] = attention_rows(snapshot)
        return found

    crash = row(_raw("ms-h-1", "Abnormal", 3, 2, old))
    assert (crash.since, crash.since_basis) == (first.timestamp(), "event")
    quiet = row(_raw("ms-h-1", "Abnormal", 3, 2, old), events=False)
    assert (quiet.since, quiet.since_basis) == (datetime(2023, 11, 1, tzinfo=UTC).timestamp(), "update")
    arrears = row(_raw("ms-h-1", "Stopped", 0, 0, old, BusinessStatus="ARREARS_STOP"))
    assert (arrears.since, arrears.since_basis) == (datetime(2023, 11, 1, tzinfo=UTC).timestamp(), "changed")
    pending = row(_raw("ms-h-1", "Pending", 1, 0, T0))
    assert (pending.since, pending.since_basis) == (datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp(), "changed")
    condition = {"Type": "Available", "Status": "False", "LastTransitionTime": "2024-05-01T08:00:00Z"}
    raw = _raw("ms-h-1", "Abnormal", 3, 0, old)
    raw["ServiceInfo"]["Status"]["Conditions"] = [condition]
    failing = row(raw)
    assert (failing.since, failing.since_basis) == (datetime(2024, 5, 1, 8, tzinfo=UTC).timestamp(), "condition")


def _group(group_id: str, name: str, *services: dict[str, Any]) -> ServiceGroup:
    return ServiceGroup.model_validate(
        {"ServiceGroupId": group_id, "ServiceGroupName": name, "Services": list(services)}
    )


def _raw(service_id: str, status: str, desired: int, available: int, update: str, **extra: Any) -> dict[str, Any]:
    return {
        "ServiceId": service_id,
        "Status": status,
        "UpdateTime": update,
        "ServiceInfo": {
            "Replicas": desired,
            "Status": {"Replicas": desired, "AvailableReplicas": available},
            "ModelInfo": {"ModelName": f"model-{service_id}", "ModelVersion": "v3"},
            "Resources": {"Cpu": 8000, "Memory": 32768, "Gpu": 100, "GpuType": "A10", "RealGpu": 100},
        },
        **extra,
    }


def sample_snapshot() -> RegionSnapshot:
    groups = (
        _group("ms-g1", "ranker", _raw("ms-g1-1", "Normal", 2, 2, "2024-05-01T08:00:00Z")),
        _group(
            "ms-g2",
            "chat <b>bot</b>",
            _raw("ms-g2-1", "Normal", 3, 1, "2024-05-01T07:00:00Z"),
            _raw("ms-g2-2", "Abnormal", 2, 0, "2024-05-01T09:00:00Z"),
        ),
        _group("ms-g3", "old", _raw("ms-g3-1", "Pending", 1, 0, "2024-05-01T06:00:00Z")),
    )
    events = (
        ServiceEvents(
            "ms-g2",
            "ms-g2-2",
            (
                Event(message="older", last_timestamp=datetime(2024, 5, 1, 9, 0, tzinfo=UTC), count=2, type="Warning"),
                Event(message="Back-off <restarting>", last_timestamp=datetime(2024, 5, 1, 9, 30, tzinfo=UTC), count=7),
            ),
            2,
            1_714_557_600.0,
        ),
    )
    return EVENTS.stored(RegionSnapshot("ap-guangzhou", groups), events)


def test_rows_are_the_troubled_services_most_severe_then_oldest() -> None:
    rows = attention_rows(sample_snapshot())
    assert [(row.service_id, row.severity) for row in rows] == [
        ("ms-g3-1", "critical"),
        ("ms-g2-2", "critical"),
        ("ms-g2-1", "warning"),
    ]
    row = rows[1]
    assert (row.service_group_name, row.model_name, row.model_version) == ("chat <b>bot</b>", "model-ms-g2-2", "v3")
    assert (row.desired_replicas, row.available_replicas, row.gpus) == (2, 0, 2.0)
    assert [event.message for event in row.events] == ["Back-off <restarting>", "older"]  # newest first
    assert row.events_total == 2
    assert rows[0].events_total is None  # not asked
    assert rows[2].gpus == 3.0


def test_ordering_across_regions() -> None:
    def row(region: str, severity: str, since: float | None) -> AttentionRow:
        return AttentionRow(
            region, "g", "", f"{region}-{since}", "", "", "", "", None, None, severity, "", "", since, None
        )  # type: ignore[arg-type]

    rows = ordered(
        [row("b", "warning", 1.0), row("a", "critical", None), row("c", "critical", 5.0), row("a", "warning", 0.5)]
    )
    assert [(r.region, r.severity, r.since) for r in rows] == [
        ("c", "critical", 5.0),
        ("a", "critical", None),
        ("a", "warning", 0.5),
        ("b", "warning", 1.0),
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5 s"),
        (61, "1 min"),
        (17 * 60 + 5, "17 min"),
        (3 * 3600, "3 h"),
        (3 * 3600 + 300, "3 h 5 min"),
        (50 * 3600, "2 d 2 h"),
    ],
)
def test_ages_read_at_a_glance(seconds: float, text: str) -> None:
    assert age(seconds) == text


CONTEXT = PageContext(version="1.0", started=0.0, telemetry_path="/metrics", interval=30.0, max_staleness=300.0)
NOW = 1_714_557_600.0 + 17 * 60


def statuses() -> list[RegionStatus]:
    rows = attention_rows(sample_snapshot())
    return [
        RegionStatus("ap-guangzhou", outcome="success", polls=1, attention=rows),
        RegionStatus("ap-shanghai", outcome="success", polls=1),
    ]


def test_the_page_lists_the_rows_escaped_coloured_and_filterable() -> None:
    page = status_page(statuses(), CONTEXT, ready=True, now=NOW).decode()
    attention, _ = page.split("<h2>Regions</h2>")
    assert attention.index("ms-g3-1") < attention.index("ms-g2-2") < attention.index("ms-g2-1")
    assert "ms-g1-1" not in attention
    assert "chat &lt;b&gt;bot&lt;/b&gt;" in attention and "<b>bot</b>" not in page
    assert "Back-off &lt;restarting&gt;" in attention
    assert 'class="critical"' in attention and 'class="warning"' in attention
    assert "for 1 h 17 min" in attention  # ms-g2-2, troubled since 09:00, seen at 10:17
    assert "47 min ago" in attention  # its latest Warning event, at 09:30
    assert "not asked yet" in attention
    assert 'id="f-region"' in attention and '<option value="ap-shanghai">' in attention and 'id="f-text"' in attention
    assert "location.reload" not in page and "fetch(location.pathname" in page  # refreshed in place
    assert 'href="api/v1/attention"' in page
    assert 'name="viewport"' in page
    for external in ("http://", "https://", "src=", "<link"):
        assert external not in page.replace('href="metrics"', ""), external


def test_the_page_says_when_the_events_are_off() -> None:
    off = PageContext(
        version="1", started=0.0, telemetry_path="/metrics", interval=30.0, max_staleness=300.0, events=False
    )
    page = status_page(statuses(), off, ready=True, now=NOW).decode()
    assert "events off (--events.max-services 0)" in page
    assert "not asked yet" not in page and "Back-off" not in page


def test_nothing_needs_attention() -> None:
    page = status_page([RegionStatus("r", outcome="success", polls=1)], CONTEXT, ready=True, now=NOW).decode()
    assert "Nothing needs attention." in page
    assert 'id="attention"' not in page


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    snapshot = FixedSnapshot(render([]), ready=True, region_statuses=statuses())
    server = WebServer(ExporterApp(snapshot, FixedLive(), CONTEXT), bind("127.0.0.1", 0))
    task = asyncio.create_task(server.serve())
    async with httpx.AsyncClient(base_url=f"http://{server.address}", timeout=5) as client:
        yield client
    server.stop()
    await asyncio.wait_for(task, 5)


async def test_the_json_has_the_same_rows(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/attention")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    services = response.json()["services"]
    assert [item["service_id"] for item in services] == ["ms-g3-1", "ms-g2-2", "ms-g2-1"]
    first = services[1]
    for key in (
        "region",
        "service_group_id",
        "service_group_name",
        "service_id",
        "model_name",
        "status",
        "business_status",
        "desired_replicas",
        "available_replicas",
        "reason",
        "message",
        "since",
        "events",
    ):
        assert key in first, key
    assert first["events"][0] == {
        "message": "Back-off <restarting>",
        "count": 7,
        "first_timestamp": None,
        "last_timestamp": 1_714_555_800.0,
        "resource_kind": "",
        "resource_name": "",
    }
    assert (await http.post("/api/v1/attention")).status_code == 405


def test_registered_secrets_never_reach_the_rows() -> None:
    register_secrets(["SuperSecretKey42"])
    try:
        snapshot = EVENTS.stored(
            RegionSnapshot(
                "r",
                (
                    _group(
                        "ms-s",
                        "g",
                        _raw(
                            "ms-s-1", "CREATE_FAILED", 1, 0, T0, CreateFailedReason="pull with SuperSecretKey42 failed"
                        ),
                    ),
                ),
            ),
            (ServiceEvents("ms-s", "ms-s-1", (Event(message="key SuperSecretKey42"),), 1, 0.0),),
        )
        rows = attention_rows(snapshot)
        text = json.dumps([row.to_json() for row in rows])
        page = status_page([RegionStatus("r", attention=rows)], CONTEXT, ready=True, now=NOW).decode()
        assert "ms-s-1" in text and "ms-s-1" in page
        assert "SuperSecretKey42" not in text and "SuperSecretKey42" not in page
    finally:
        forget_secrets()


def test_event_rows_keep_a_bounded_message() -> None:
    long = "x" * 5000
    snapshot = EVENTS.stored(
        RegionSnapshot("r", (_group("ms-l", "g", _raw("ms-l-1", "Abnormal", 1, 0, T0)),)),
        (ServiceEvents("ms-l", "ms-l-1", tuple(Event(message=long) for _ in range(9)), 9, 0.0),),
    )
    [row] = attention_rows(snapshot)
    assert len(row.events) == 5 and all(len(event.message) <= 1000 for event in row.events)
    assert isinstance(row.events[0], AttentionEvent)


def test_gpus_held_count_only_pods_placed_on_a_node() -> None:
    raw = _raw("ms-p-1", "Pending", 2, 0, T0)
    raw["ServiceInfo"]["PodInfos"] = [{"Name": "a", "NodeIP": ""}, {"Name": "b", "NodeIP": "10.0.0.2"}]
    [row] = attention_rows(RegionSnapshot("r", (_group("ms-p", "g", raw),)))
    assert row.gpus == 1.0  # one card a replica, one of two pods placed
    raw["ServiceInfo"]["PodInfos"] = []
    [row] = attention_rows(RegionSnapshot("r", (_group("ms-p", "g", raw),)))
    assert row.gpus == 0.0


def test_every_field_of_every_row_and_each_fallback() -> None:
    """The whole JSON of the rows of a region with each odd case the rows must handle: a service with its
    own group id and one without (the group's), duplicates and an empty id (left out), a healthy service
    between troubled ones, no model, no ServiceInfo, no resources, CPU only, no readable replicas."""
    events = (
        Event(
            message=None,
            first_timestamp=datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
            last_timestamp=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
            count=3,
            resource_kind="Pod",
            resource_name="p-1",
        ),
    )
    cpu = _raw("ms-f-cpu", "Abnormal", 1, 0, T0, BusinessStatus="ARREARS_STOP")
    cpu["ServiceInfo"]["Resources"] = {"Cpu": 2000, "Memory": 4096, "Gpu": 0, "RealGpu": 0}
    group = _group(
        "ms-f",
        "full",
        _raw("ms-f-ok", "Normal", 1, 1, T0),
        {**_raw("ms-f-1", "Abnormal", 2, 0, T0), "ServiceGroupId": "ms-own", "ServiceGroupName": "own"},
        _raw("ms-f-ok2", "Normal", 1, 1, T0),
        _raw("ms-f-1", "Abnormal", 9, 0, T0),  # the same id again: left out
        _raw("", "Abnormal", 1, 0, T0),  # no id: left out
        {"ServiceId": "ms-f-bare", "Status": "CREATE_FAILED", "UpdateTime": T0, "CreateFailedReason": "quota"},
        {"ServiceId": "ms-f-nomodel", "Status": "Abnormal", "UpdateTime": T0, "ServiceInfo": {"Replicas": 1}},
        cpu,
        {
            "ServiceId": "ms-f-noreplicas",
            "Status": "Abnormal",
            "UpdateTime": T0,
            "ServiceInfo": {"Resources": {"Gpu": 100, "GpuType": "A10", "RealGpu": 100}},
        },
    )
    snapshot = EVENTS.stored(
        RegionSnapshot("ap-guangzhou", (group,)), (ServiceEvents("ms-own", "ms-f-1", events, 4, 1_714_557_000.5),)
    )
    since = 1_714_557_600.0
    base = {
        "region": "ap-guangzhou",
        "service_group_id": "ms-f",
        "service_group_name": "full",
        "model_name": "",
        "model_version": "",
        "business_status": "",
        "severity": "critical",
        "since": since,
        "since_basis": "update",
        "gpus": None,
        "events_total": None,
        "events_asked": None,
        "events": [],
        "requests_per_second": None,
        "error_ratio": None,
        "throttled_per_second": None,
        "response_time_seconds": None,
    }
    rows = [row.to_json() for row in attention_rows(snapshot)]
    by_id = {row["service_id"]: row for row in rows}
    assert sorted(by_id) == ["ms-f-1", "ms-f-bare", "ms-f-cpu", "ms-f-nomodel", "ms-f-noreplicas"]
    assert by_id["ms-f-1"] == base | {
        "service_group_id": "ms-own",
        "service_group_name": "own",
        "service_id": "ms-f-1",
        "model_name": "model-ms-f-1",
        "model_version": "v3",
        "status": "Abnormal",
        "desired_replicas": 2,
        "available_replicas": 0,
        "reason": by_id["ms-f-1"]["reason"],
        "message": by_id["ms-f-1"]["message"],
        "gpus": 2.0,
        "since": 1_714_554_000.0,  # no failing condition: the first Warning event, not the UpdateTime
        "since_basis": "event",
        "events_total": 4,
        "events_asked": 1_714_557_000.5,
        "events": [
            {
                "message": "",
                "count": 3,
                "first_timestamp": 1_714_554_000.0,
                "last_timestamp": 1_714_555_800.0,
                "resource_kind": "Pod",
                "resource_name": "p-1",
            }
        ],
    }
    assert by_id["ms-f-1"]["reason"] and by_id["ms-f-1"]["reason"] == trouble(group.services[1]).reason  # type: ignore[index,union-attr]
    assert by_id["ms-f-bare"]["status"] == "CREATE_FAILED" and by_id["ms-f-bare"]["message"] == "quota"
    assert (
        by_id["ms-f-cpu"]["business_status"] == "ARREARS_STOP" and by_id["ms-f-cpu"]["model_name"] == "model-ms-f-cpu"
    )
    for service_id in ("ms-f-bare", "ms-f-nomodel", "ms-f-cpu", "ms-f-noreplicas"):
        assert by_id[service_id]["gpus"] is None, service_id
        assert by_id[service_id]["service_group_id"] == "ms-f", service_id
    assert (by_id["ms-f-nomodel"]["model_name"], by_id["ms-f-nomodel"]["model_version"]) == ("", "")
    # `account` is there only with YAML accounts (test_accounts_wiring.py)
    assert all(set(row) == set(AttentionRow.__dataclass_fields__) - {"account"} for row in rows)


@pytest.mark.parametrize(("length", "kept"), [(999, 999), (1000, 1000), (1001, 1000)])
def test_a_message_is_kept_whole_up_to_1000_characters(length: int, kept: int) -> None:
    snapshot = EVENTS.stored(
        RegionSnapshot("r", (_group("ms-l", "g", _raw("ms-l-1", "Abnormal", 1, 0, T0)),)),
        (ServiceEvents("ms-l", "ms-l-1", (Event(message="m" * length),), 1, 0.0),),
    )
    [row] = attention_rows(snapshot)
    message = row.events[0].message
    assert len(message) == kept
    assert message == "m" * length if length <= 1000 else message == "m" * 999 + "…"


def test_a_secret_across_the_end_of_what_is_shown_is_still_scrubbed() -> None:
    """Messages are cut when read (`KEPT_TEXT`) and scrubbed when shown: what is kept reaches past what is
    shown, so a secret that begins in the shown part is still whole when the scrubber looks."""
    register_secrets(["SuperSecretKey42"])
    try:
        message = "m" * (MAX_TEXT - 8) + "SuperSecretKey42" + "y" * (1 << 20)
        snapshot = EVENTS.stored(
            RegionSnapshot("r", (_group("ms-l", "g", _raw("ms-l-1", "Abnormal", 1, 0, T0)),)),
            (ServiceEvents("ms-l", "ms-l-1", (Event(message=message),), 1, 0.0),),
        )
        assert len(EVENTS.of(snapshot)[0].events[0].message or "") == KEPT_TEXT
        [row] = attention_rows(snapshot)
        shown = row.events[0].message
        assert len(shown) == MAX_TEXT and "Super" not in shown and shown.startswith("m" * (MAX_TEXT - 8))
    finally:
        forget_secrets()


def test_rows_count_the_services_the_series_count() -> None:
    """A service id equal to another once cleaned as a label value, and a group listed twice, are counted
    once by the series; the rows count them as the series do, or the page would show what no series says."""
    snapshot = RegionSnapshot(
        "r",
        (
            _group("g1", "first", _raw("ms-a-1", "Abnormal", 1, 0, T0)),
            _group("g2", "second", _raw("ms-a-1\x00", "Abnormal", 1, 0, T0)),
            _group("g1", "first again", _raw("ms-z-1", "Abnormal", 1, 0, T0)),
        ),
    )
    rows = attention_rows(snapshot)
    assert [(row.service_group_id, row.service_id) for row in rows] == [("g1", "ms-a-1")]
    assert collect_region(snapshot).services == len(rows)


def _traffic_snapshot(calls: float, errors: float, throttled: float = 0.0) -> RegionSnapshot:
    from exporter.tione.monitor import GroupTraffic
    from exporter.tione.traffic import TRAFFIC, Traffic

    healthy = _group("ms-t", "ranker", _raw("ms-t-1", "Normal", 2, 2, T0), _raw("ms-t-2", "Normal", 1, 1, T0))
    broken = _group("ms-b", "broken", _raw("ms-b-1", "Abnormal", 2, 0, T0))
    figures = {
        "ms-t": GroupTraffic("ms-t", calls, errors, throttled, 0.12, 1_714_557_600.0),
        "ms-b": GroupTraffic("ms-b", 1.0, 0.0, 0.0, 0.05, 1_714_557_600.0),
    }
    return TRAFFIC.stored(RegionSnapshot("ap-guangzhou", (healthy, broken)), Traffic(groups=figures))  # type: ignore[arg-type]


def test_a_group_failing_a_fifth_of_its_calls_needs_attention_with_every_replica_available() -> None:
    rows = {row.service_id: row for row in attention_rows(_traffic_snapshot(10.0, 2.0))}
    assert set(rows) == {"", "ms-b-1"}
    group = rows[""]
    assert (group.service_group_id, group.service_group_name, group.severity) == ("ms-t", "ranker", "warning")
    assert (group.reason, group.message) == (
        "HighErrorRatio",
        "20% of 10 calls a second failed (Cloud Monitor, latest period)",
    )
    assert (group.desired_replicas, group.available_replicas) == (3, 3)
    assert (group.requests_per_second, group.error_ratio, group.response_time_seconds) == (10.0, 0.2, 0.12)
    # A troubled service's row carries its group's figures too.
    assert (rows["ms-b-1"].requests_per_second, rows["ms-b-1"].error_ratio) == (1.0, 0.0)
    json.dumps([row.to_json() for row in rows.values()])
    assert rows[""].to_json()["error_ratio"] == 0.2


@pytest.mark.parametrize(
    ("calls", "errors", "throttled", "reason"),
    [
        (10.0, 0.5, 0.0, None),  # 5%: not more than the threshold
        (0.05, 0.05, 0.0, None),  # every call failing, but too few calls to mean something
        (10.0, 0.0, 0.5, "Throttled"),
        (10.0, 0.0, 0.1, None),
    ],
)
def test_the_traffic_thresholds(calls: float, errors: float, throttled: float, reason: str | None) -> None:
    rows = [row for row in attention_rows(_traffic_snapshot(calls, errors, throttled)) if not row.service_id]
    assert [row.reason for row in rows] == ([reason] if reason else [])


def test_the_page_shows_a_group_row_with_its_figures() -> None:
    rows = attention_rows(_traffic_snapshot(10.0, 2.0))
    status = RegionStatus("ap-guangzhou", outcome="success", polls=1, attention=rows)
    page = status_page([status], CONTEXT, ready=True, now=NOW).decode()
    assert "HighErrorRatio" in page and "service group</span> <code>ms-t</code>" in page
    assert "10 calls/s &middot; 20.0% errors &middot; 120 ms" in page
