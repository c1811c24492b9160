"""Whatever strings the API sends, the page, the JSON and the exposition answer 200 with valid, escaped,
bounded text.

Hypothesis puts strings made of lone surrogates, control characters (NUL, ESC, CR), markup, megabytes
and credentialed references in every free-text field a troubled service carries (names, model, image,
condition reason and message, `CreateFailedReason`, Warning events, tags, an unreadable object's id, the
region's error message), then asks a real server on loopback for `/`, `/api/v1/attention` and
`/metrics` in both formats. Prometheus's own checker reads the exposition.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.metrics.attention import MAX_TEXT, attention_rows
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import collect_region, render
from exporter.poller.status import RegionStatus
from exporter.tione.decode import Skipped
from exporter.tione.event_models import Event, ServiceEvents
from exporter.tione.events import EVENTS
from exporter.tione.snapshot import RegionSnapshot
from exporter.web.page import PageContext
from exporter.web.server import ExporterApp, WebServer, bind
from tests.api_models import ServiceGroup
from tests.conftest import in_ci, require_tool
from tests.unit.test_web import FixedLive, FixedSnapshot

REGION = "ap-guangzhou"
CONTEXT = PageContext(version="1.0", started=0.0, telemetry_path="/metrics", interval=30.0, max_staleness=300.0)
MARKUP = "<script>alert(1)</script>"
PASSWORD = "hostilePW0123"
MEGABYTE = "é<&\"'x" * 180_000

PIECES = st.one_of(
    st.sampled_from(
        [
            "\ud800",
            "\udfff",
            "\x00",
            "\x1b[31m",
            "\r",
            "\n",
            "\x7f",
            "\u0085",
            MARKUP,
            '"><img src=x onerror=alert(1)>',
            "&amp;",
            f"u:{PASSWORD}@reg.example.com/ns/img",
            "\\",
            "密",
        ]
    ),
    st.text(max_size=20),
)
HOSTILE = st.one_of(st.lists(PIECES, min_size=1, max_size=6).map("".join), st.just(MEGABYTE))


def _fleet(texts: list[str]) -> RegionSnapshot:
    name, model, image, reason, message, failed, event, tag = texts
    conditions = [{"Type": "Available", "Status": "False", "Reason": reason, "Message": message}]
    services: list[dict[str, Any]] = [
        {
            "ServiceId": "ms-hostile-1",
            "ServiceGroupName": name,
            "Status": "CREATE_FAILED",
            "CreateFailedReason": failed,
            "UpdateTime": "2024-05-01T10:00:00Z",
            "ServiceInfo": {
                "Replicas": 1,
                "Status": {"Replicas": 1, "AvailableReplicas": 0},
                "ModelInfo": {"ModelName": model, "ModelVersion": message},
                "ImageInfo": {"ImageUrl": image},
            },
        },
        {
            "ServiceId": "ms-hostile-2",
            "Status": "Abnormal",
            "UpdateTime": "2024-05-01T10:00:00Z",
            "Tags": [{"TagKey": tag, "TagValue": tag}],
            "ServiceInfo": {
                "Replicas": 2,
                "Status": {"Replicas": 2, "AvailableReplicas": 1, "Conditions": conditions},
                "ImageInfo": {"ImageUrl": image},
            },
        },
    ]
    group = ServiceGroup.model_validate(
        {"ServiceGroupId": "ms-hostile", "ServiceGroupName": name, "Services": services, "Tags": []}
    )
    moment = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    events = tuple(
        ServiceEvents(
            "ms-hostile",
            service_id,
            (Event(message=event, resource_kind=tag, resource_name=name, last_timestamp=moment, count=3),),
            1,
            0.0,
        )
        for service_id in ("ms-hostile-1", "ms-hostile-2")
    )
    return EVENTS.stored(RegionSnapshot(REGION, (group,)), events)


async def _answers(snapshot: FixedSnapshot) -> dict[str, httpx.Response]:
    server = WebServer(ExporterApp(snapshot, FixedLive(), CONTEXT), bind("127.0.0.1", 0))
    task = asyncio.create_task(server.serve())
    try:
        identity = {"Accept-Encoding": "identity"}
        async with httpx.AsyncClient(base_url=f"http://{server.address}", timeout=10, headers=identity) as http:
            return {
                "page": await http.get("/"),
                "json": await http.get("/api/v1/attention"),
                "text": await http.get("/metrics"),
                "openmetrics": await http.get("/metrics", headers={"Accept": "application/openmetrics-text"}),
            }
    finally:
        server.stop()
        await asyncio.wait_for(task, 5)


def _no_control_characters(text: str, where: str) -> None:
    bad = [ch for ch in text if (ord(ch) < 32 and ch not in "\n\t") or 127 <= ord(ch) < 160]
    assert not bad, f"control characters in {where}: {bad[:5]!r}"


PROMTOOL = ""


@pytest.fixture(autouse=True, scope="module")
def promtool() -> None:
    """promtool where it is installed (in CI it must be); hypothesis examples cannot take function fixtures."""
    global PROMTOOL  # noqa: PLW0603
    PROMTOOL = shutil.which("promtool") or (require_tool("promtool") if in_ci() else "")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(HOSTILE, min_size=8, max_size=8))
def test_hostile_strings_are_served_valid_escaped_and_bounded(texts: list[str]) -> None:
    region = _fleet(texts)
    rows = attention_rows(region)
    assert [row.service_id for row in rows] == ["ms-hostile-1", "ms-hostile-2"]
    status = RegionStatus(
        REGION,
        outcome="failure",
        polls=2,
        error_code="InternalError",
        error_message=texts[4],
        skipped=(Skipped("service", texts[0], "ms-hostile", "Services[3]", "wrong_type"),),
        attention=rows,
    )
    exposition = render([collect_region(region, RenderOptions(tag_labels=("*",)))])
    answers = asyncio.run(_answers(FixedSnapshot(exposition, ready=True, region_statuses=[status])))
    for where, answer in answers.items():
        assert answer.status_code == 200, where
        answer.content.decode("utf-8")  # strict: no lone surrogate encoded somehow
        assert PASSWORD not in answer.text, where

    page = answers["page"].text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "ms-hostile-1" in page and "ms-hostile-2" in page
    _no_control_characters(page, "the page")
    assert len(answers["page"].content) < 400_000  # a megabyte in every field, yet bounded

    services = answers["json"].json()["services"]
    assert [item["service_id"] for item in services] == ["ms-hostile-1", "ms-hostile-2"]
    for item in services:
        strings = [value for value in item.values() if isinstance(value, str)]
        strings += [value for event in item["events"] for value in event.values() if isinstance(value, str)]
        for value in strings:
            _no_control_characters(value, "the JSON")
            assert len(value) <= MAX_TEXT
    assert len(answers["json"].content) < 40_000

    assert "tione_service_info" in answers["text"].text
    list(parse_text(answers["text"].text))
    list(parse_openmetrics(answers["openmetrics"].text))
    if PROMTOOL:
        lint = subprocess.run(
            [PROMTOOL, "check", "metrics"], input=answers["text"].text, capture_output=True, text=True, check=False
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_a_lone_surrogate_in_every_field_still_serves_the_page_and_the_json() -> None:
    """The one example that took both down with HTTP 500 before every row was cleaned."""
    region = _fleet(
        ["\ud800 group", "model\udc00", "img\ud800", "Bad\ud800", "msg\ud800", "fail\ud800", "ev\ud800", "k"]
    )
    status = RegionStatus(REGION, outcome="success", polls=1, attention=attention_rows(region))
    exposition = render([collect_region(region, RenderOptions())])
    answers = asyncio.run(_answers(FixedSnapshot(exposition, ready=True, region_statuses=[status])))
    assert {where: answer.status_code for where, answer in answers.items()} == dict.fromkeys(answers, 200)
    assert answers["json"].json()["services"][0]["service_group_name"] == " group"
    assert "msg" in answers["page"].text
    promtool = require_tool("promtool")
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=answers["text"].text, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_json_strings_stay_strings_a_terminal_can_print() -> None:
    """A chat bot printing the JSON to a terminal gets no ANSI escape, NUL or carriage return."""
    region = _fleet(["g\x1b[2J", "m\x00", "i", "R\r", "line\r\nline\x1b[31m", "f", "e\x07", "k"])
    rows = attention_rows(region)
    text = json.dumps([row.to_json() for row in rows], ensure_ascii=False)
    for bad in ("\x1b", "\\u001b", "\x00", "\\u0000", "\r", "\\r", "\x07", "\\u0007"):
        assert bad not in text, repr(bad)
    assert "lineline[31m" in text
