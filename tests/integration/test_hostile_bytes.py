"""Bytes that are not UTF-8 in an answer cost nothing but themselves, never the region.

The whole exporter polls the simulator over loopback HTTP; raw bytes are planted in one group's name, in
the image reference a failed creation quotes (its label and its `CreateFailedReason`), and in the pod id a
crash-looping service's Warning events quote, as a broken upstream might send them. The listing and the events
stay whole: each raw byte is read as U+FFFD, `tione_up` stays 1 and every group is exported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from exporter.simulator.server import SimulatorServer
from tests.conftest import signed_simulator
from tests.integration.test_exporter_simulator import running_exporter, value

REGION = "ap-guangzhou"
RAW = "\udcff"
"""The simulator sends this lone surrogate as the raw byte 0xFF (`simulator.answer.encode`)."""
READ = "\ufffd"
"""What the exporter reads a byte that is not UTF-8 as."""


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with signed_simulator((REGION,), groups=30, seed=3, incidents=True) as server:
        server.set_region_outage(REGION, False)
        yield server


def _group_of(simulator: SimulatorServer, service_id: str) -> str:
    return next(
        group["ServiceGroupId"]
        for group in simulator.fleet(REGION, "")
        if any(service["ServiceId"] == service_id for service in group["Services"])
    )


def _plant(simulator: SimulatorServer) -> tuple[str, str, str, str]:
    """Raw bytes in a healthy group's name, the failed creation's image and the crash-looping pods' ids;
    (group id, its new name, the failed service's id, the crash-looping one's)."""
    failed, crashing = simulator.incidents()["create_failed"], simulator.incidents()["crash_loop"]
    named = next(
        group
        for group in simulator.fleet(REGION, "")
        if all(service["ServiceId"] not in simulator.incidents().values() for service in group["Services"])
    )
    name = f"bad{RAW}name"
    simulator.edit_group(REGION, named["ServiceGroupId"], lambda group: group.update(ServiceGroupName=name))

    def broken_image(group: dict[str, Any]) -> None:
        service = next(service for service in group["Services"] if service["ServiceId"] == failed)
        image = service["ServiceInfo"]["ImageInfo"]
        service["CreateFailedReason"] = service["CreateFailedReason"].replace(image["ImageUrl"], f"im{RAW}age")
        image["ImageUrl"] = f"im{RAW}age"

    def broken_pods(group: dict[str, Any]) -> None:
        service = next(service for service in group["Services"] if service["ServiceId"] == crashing)
        for pod in service["ServiceInfo"]["PodInfos"]:
            pod["Uid"] = f"pod{RAW}uid"

    simulator.edit_group(REGION, _group_of(simulator, failed), broken_image)
    simulator.edit_group(REGION, _group_of(simulator, crashing), broken_pods)
    return named["ServiceGroupId"], name, failed, crashing


async def test_a_raw_byte_in_a_name_or_a_message_costs_nothing_else(simulator: SimulatorServer) -> None:
    group_id, name, failed, crashing = _plant(simulator)
    groups = len(simulator.fleet(REGION))
    flags = {"--poll.interval": "2s", "--poll.timeout": "1800ms", "--events.max-services": "10"}
    async with running_exporter(simulator, regions=(REGION,), **flags) as running:
        samples = await running.wait_for(
            lambda s: (value(s, "tione_exporter_polls_total", region=REGION) or 0) >= 2,
            "two polls",
        )
        assert value(samples, "tione_up", region=REGION) == 1.0
        assert value(samples, "tione_exporter_service_groups", region=REGION) == groups
        listed = {labels for (metric, labels) in samples if metric == "tione_service_group_info"}
        assert len(listed) == groups, "every group is exported"
        shown = name.replace(RAW, READ)
        assert value(samples, "tione_service_group_info", service_group_id=group_id, service_group_name=shown) == 1.0
        assert not any(
            labels for (metric, labels), v in samples.items() if metric == "tione_exporter_api_errors_total" and v
        ), "a stray byte is no error of the API"

        answer = (await running.http.get("/api/v1/attention")).json()
        rows = {row["service_id"]: row for row in answer["services"]}
        assert f"im{READ}age" in rows[failed]["message"]
        quoting = [event for event in rows[crashing]["events"] if f"pod{READ}uid" in event["message"]]
        assert quoting, "the events that quote the broken pod id are kept"
        assert value(samples, "tione_service_warning_events", service_id=crashing)
        page = await running.http.get("/")
        assert page.status_code == 200 and f"pod{READ}uid" in page.text
