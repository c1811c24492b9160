"""The severity of every service status and state the attention rule knows, on the page and in the JSON.

The documented rule (`tione/attention.py`, `docs/`): `critical` when the service serves nothing (no
replica available of those desired, creation failed or timed out, stopped for arrears), `warning` when it
still serves (short of replicas, `Abnormal`, a failing condition), no row when it needs no attention or was
stopped by its owner. The table is written out by hand, not computed by the rule it checks, and must cover
every status of the API's lists.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from exporter.metrics.attention import attention_rows
from exporter.metrics.render import render
from exporter.poller import RegionStatus
from exporter.tione.records import SERVICE_BUSINESS_STATUSES, SERVICE_STATUSES
from exporter.tione.snapshot import RegionSnapshot
from exporter.web.page import status_page
from exporter.web.server import ExporterApp, WebServer, bind
from tests.api_models import ServiceGroup
from tests.unit.test_attention import CONTEXT, NOW, _raw
from tests.unit.test_web import FixedLive, FixedSnapshot

REGION = "ap-guangzhou"
FALSE = {"Type": "Available", "Status": "False", "Reason": "MinimumReplicasUnavailable"}
UNKNOWN = {"Type": "Available", "Status": "Unknown"}

Case = tuple[str, str | None, int, int, dict[str, Any] | None, str | None]
"""Status, business status, desired and available replicas, a workload condition, the expected severity."""

CASES: tuple[Case, ...] = (
    # status              business  desired available condition expected
    ("CREATING", None, 2, 2, None, None),
    ("CREATING", None, 2, 1, None, "warning"),
    ("CREATING", None, 2, 0, None, "critical"),
    ("CREATE_FAILED", None, 2, 2, None, "critical"),
    ("CREATE_FAILED", None, 2, 1, None, "critical"),
    ("CREATE_FAILED", None, 2, 0, None, "critical"),
    ("TIMEOUT_EXCEPTION", None, 2, 2, None, "critical"),
    ("TIMEOUT_EXCEPTION", None, 2, 1, None, "critical"),
    ("TIMEOUT_EXCEPTION", None, 2, 0, None, "critical"),
    ("Normal", None, 2, 2, None, None),
    ("Normal", None, 2, 1, None, "warning"),
    ("Normal", None, 2, 0, None, "critical"),
    ("Normal", None, 0, 0, None, None),
    ("Normal", None, 2, 2, FALSE, "warning"),
    ("Normal", None, 2, 0, FALSE, "critical"),
    ("Normal", None, 2, 2, UNKNOWN, None),
    ("Stopped", None, 2, 2, None, None),
    ("Stopped", None, 2, 1, None, None),
    ("Stopped", None, 0, 0, None, None),
    ("Stopped", None, 2, 0, FALSE, None),
    ("Stopping", None, 2, 2, None, None),
    ("Stopping", None, 2, 1, None, None),
    ("Stopping", None, 2, 0, None, None),
    ("Abnormal", None, 2, 2, None, "warning"),
    ("Abnormal", None, 2, 1, None, "warning"),
    ("Abnormal", None, 2, 0, None, "critical"),
    ("Abnormal", None, 0, 0, None, "warning"),
    ("Pending", None, 2, 2, None, None),
    ("Pending", None, 2, 1, None, "warning"),
    ("Pending", None, 2, 0, None, "critical"),
    ("Waiting", None, 2, 2, None, None),
    ("Waiting", None, 2, 1, None, "warning"),
    ("Waiting", None, 2, 0, None, "critical"),
    # every business status beside a healthy state, and where it changes what a stop means
    ("Normal", "CREATING", 2, 2, None, None),
    ("Normal", "CREATE_FAILED", 2, 2, None, None),
    ("Normal", "CREATE_SUCCEED", 2, 2, None, None),
    ("Normal", "ARREARS_STOP", 2, 2, None, "critical"),
    ("Normal", "WHITELIST_STOP", 2, 2, None, None),
    ("Normal", "RELEASE_FAILED", 2, 2, None, None),
    ("Normal", "WHITELIST_RELEASE_FAILED", 2, 2, None, None),
    ("Normal", "TIMEOUT_EXCEPTION", 2, 2, None, None),
    ("Normal", "BILLING", 2, 2, None, None),
    ("Normal", "WHITELIST_USING", 2, 2, None, None),
    ("Stopped", "ARREARS_STOP", 0, 0, None, "critical"),
    ("Stopping", "ARREARS_STOP", 2, 1, None, "critical"),
    ("Stopped", "WHITELIST_STOP", 0, 0, None, None),
    ("Normal", "BILLING", 2, 1, None, "warning"),
    ("Abnormal", "BILLING", 2, 0, None, "critical"),
)


def service_id(index: int) -> str:
    return f"ms-sev-{index:02d}"


def snapshot() -> RegionSnapshot:
    services = []
    for index, (status, business, desired, available, condition, _) in enumerate(CASES):
        raw = _raw(service_id(index), status, desired, available, "2024-05-01T09:00:00Z")
        if business is not None:
            raw["BusinessStatus"] = business
        if condition is not None:
            raw["ServiceInfo"]["Status"]["Conditions"] = [condition]
        services.append(raw)
    group = ServiceGroup.model_validate({"ServiceGroupId": "ms-sev", "ServiceGroupName": "g", "Services": services})
    return RegionSnapshot(REGION, (group,))


def expected() -> dict[str, str]:
    return {service_id(index): case[-1] for index, case in enumerate(CASES) if case[-1] is not None}


def region_statuses() -> list[RegionStatus]:
    return [RegionStatus(REGION, outcome="success", polls=1, attention=attention_rows(snapshot()))]


def test_the_table_covers_every_status_the_api_lists() -> None:
    statuses = {case[0] for case in CASES}
    assert statuses == set(SERVICE_STATUSES)
    for status in SERVICE_STATUSES:  # each with all, some and no replicas available
        assert {(case[2], case[3]) for case in CASES if case[0] == status and case[1] is None} >= {
            (2, 2),
            (2, 1),
            (2, 0),
        }, status
    assert {case[1] for case in CASES if case[1] is not None} == set(SERVICE_BUSINESS_STATUSES)
    assert {"critical", "warning", None} == {case[-1] for case in CASES}


def test_each_row_has_its_documented_severity() -> None:
    rows = attention_rows(snapshot())
    assert {row.service_id: row.severity for row in rows} == expected()


def test_the_page_shows_each_severity() -> None:
    page = status_page(region_statuses(), CONTEXT, ready=True, now=NOW).decode()
    shown = {
        match["id"]: (match["classes"].split()[0], match["cell"])
        for match in re.finditer(
            r'<tr class="(?P<classes>[^"]+)"[^>]*data-service-id="(?P<id>ms-sev-\d+)"><td class="sev">(?P<cell>\w+)',
            page,
        )
    }
    assert shown == {key: (severity, severity) for key, severity in expected().items()}


@pytest.mark.timeout(30)
async def test_the_json_gives_each_severity() -> None:
    served = FixedSnapshot(render([]), ready=True, region_statuses=region_statuses())
    server = WebServer(ExporterApp(served, FixedLive(), CONTEXT), bind("127.0.0.1", 0))
    task = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://{server.address}", timeout=5) as client:
            response = await client.get("/api/v1/attention")
    finally:
        server.stop()
        await asyncio.wait_for(task, 5)
    assert response.status_code == 200
    assert {item["service_id"]: item["severity"] for item in response.json()["services"]} == expected()
