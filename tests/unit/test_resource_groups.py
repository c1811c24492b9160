"""The capacity source: what it asks `DescribeBillingResourceGroups` for, how it pages, and what a broken
answer becomes. The API is a mock transport; no network."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import msgspec
import pytest

from exporter.metrics.families.resource_group import gpus_by_type
from exporter.metrics.self import SelfMetrics
from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import MALFORMED_RESPONSE, TransportError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione import resource_groups
from exporter.tione.records import GroupResource
from exporter.tione.resource_groups import ACTION, LIMIT, RESOURCE_GROUPS, list_resource_groups, source
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import NoSink
from tests import render_helpers as rendered

REGION = "ap-guangzhou"


def group(index: int) -> dict[str, Any]:
    return {
        "ResourceGroupId": f"trsg-{index:04d}",
        "ResourceGroupName": f"rg-{index}",
        "FreeInstance": 1,
        "TotalInstance": 2,
        "UsedResource": {"Cpu": 1000, "Memory": 1024, "Gpu": 100, "GpuDetailSet": [{"Name": "T4", "Value": 100}]},
        "TotalResource": {"Cpu": 8000, "Memory": 8192, "Gpu": 200, "GpuDetailSet": [{"Name": "T4", "Value": 200}]},
        "InstanceSet": None,
        "TagSet": [],
    }


class Groups:
    """Resource groups paged like the API; records every request body."""

    def __init__(self, count: int, answer: dict[str, Any] | None = None) -> None:
        self.groups = [group(index) for index in range(count)]
        self.answer = answer
        self.bodies: list[dict[str, Any]] = []
        self.actions: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        self.actions.append(request.headers["X-TC-Action"])
        if self.answer is not None:
            return httpx.Response(200, json={"Response": self.answer})
        offset, limit = body["Offset"], body["Limit"]
        page = self.groups[offset : offset + limit]
        answer = {"TotalCount": len(self.groups), "ResourceGroupSet": page, "RequestId": f"r{len(self.bodies)}"}
        return httpx.Response(200, json={"Response": answer})


def client_for(groups: Groups, hooks: SelfMetrics | None = None) -> TencentCloudClient:
    return TencentCloudClient(
        endpoint="http://127.0.0.1:1",
        service="tione",
        version="2021-11-11",
        credentials=Credentials("AKID", "key"),
        http=httpx.AsyncClient(transport=httpx.MockTransport(groups.handler)),
        hooks=hooks,
        rate_limiter=TokenBucket(rate=1000, burst=100),
    )


def deadline() -> float:
    return time.monotonic() + 10


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (3, 1), (100, 1), (101, 2), (250, 3)])
async def test_every_group_page_by_page_without_the_node_list(count: int, pages: int) -> None:
    groups = Groups(count)
    found = await list_resource_groups(client_for(groups), REGION, deadline=deadline())
    assert [item.resource_group_id for item in found] == [f"trsg-{index:04d}" for index in range(count)]
    assert len(groups.bodies) == pages
    assert sorted(body["Offset"] for body in groups.bodies) == [LIMIT * page for page in range(pages)]
    assert all(body["Limit"] == 100 and body["DontShowInstanceSet"] is True for body in groups.bodies)
    assert all("TiProjectId" not in body for body in groups.bodies)
    assert set(groups.actions) == {"DescribeBillingResourceGroups"}


async def test_the_source_is_secondary_on_its_interval_and_stores_the_groups() -> None:
    groups = Groups(2)
    capacity = source(client_for(groups), 120.0)
    assert (capacity.action, capacity.primary, capacity.interval, capacity.empty) == (ACTION, False, 120.0, ())
    result = await capacity.fetch(REGION, RegionSnapshot(REGION), deadline(), NoSink())
    stored = capacity.store(RegionSnapshot(REGION), result)
    assert [item.resource_group_name for item in RESOURCE_GROUPS.of(stored)] == ["rg-0", "rg-1"]
    assert stored.groups == ()
    assert await capacity.probe(REGION, deadline()) == "2 resource groups"
    assert groups.bodies[-1]["Limit"] == 1


@pytest.mark.parametrize(
    ("answer", "where"),
    [
        ({"ResourceGroupSet": [], "RequestId": "r1"}, "TotalCount"),
        ({"TotalCount": 1, "ResourceGroupSet": [{"TotalInstance": "many"}], "RequestId": "r1"}, "TotalInstance"),
        ({"TotalCount": 1, "ResourceGroupSet": {"ResourceGroupId": "x"}, "RequestId": "r1"}, "ResourceGroupSet"),
    ],
)
async def test_a_broken_answer_is_a_malformed_response_of_the_action(answer: dict[str, Any], where: str) -> None:
    metrics = SelfMetrics([REGION], actions=(ACTION,))
    with pytest.raises(TransportError) as caught:
        await list_resource_groups(client_for(Groups(0, answer), metrics), REGION, deadline=deadline())
    assert caught.value.code == MALFORMED_RESPONSE
    assert where in caught.value.message
    assert caught.value.request_id == "r1"
    labels = {"region": REGION, "action": ACTION, "code": MALFORMED_RESPONSE}
    assert metrics.registry.get_sample_value("tione_exporter_api_errors_total", labels) == 1


def test_the_simulator_names_the_action_from_the_source_module() -> None:
    from exporter.simulator import billing

    assert billing.ACTION is resource_groups.ACTION == "DescribeBillingResourceGroups"


def test_a_group_with_every_field_null_gives_only_its_info_and_tags_series() -> None:
    from exporter.metrics.options import RenderOptions
    from exporter.metrics.render import collect_region, render
    from exporter.tione.records import ResourceGroup

    def all_null(record: type[Any]) -> dict[str, Any]:
        return {field.encode_name: None for field in msgspec.structs.fields(record)}

    nulls = all_null(ResourceGroup) | {
        "ResourceGroupId": "trsg-n",
        "UsedResource": all_null(GroupResource),
        "TotalResource": all_null(GroupResource) | {"GpuDetailSet": [{"Name": "A100", "Value": None}]},
    }
    snapshot = RESOURCE_GROUPS.stored(RegionSnapshot(REGION), (msgspec.convert(nulls, ResourceGroup, strict=False),))
    text = rendered.text(render([collect_region(snapshot, RenderOptions(tag_labels=("*",)))])).decode()
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        'tione_resource_group_info{region="ap-guangzhou",resource_group_id="trsg-n",resource_group_name=""} 1.0',
        'tione_resource_group_tags{region="ap-guangzhou",resource_group_id="trsg-n"} 1.0',
    ]


@pytest.mark.parametrize(
    ("resource", "by_type"),
    [
        (None, None),
        ({"Gpu": 0}, {}),
        ({"Gpu": 1}, None),
        ({"Gpu": None}, None),
        ({"Gpu": 200, "GpuDetailSet": []}, {}),
        ({"GpuDetailSet": [{"Name": "A10", "Value": 100}, {"Name": "A10", "Value": 50}, {"Name": "T4"}]}, {"A10": 150}),
    ],
)
def test_gpus_by_type(resource: dict[str, Any] | None, by_type: dict[str, int] | None) -> None:
    parsed = None if resource is None else msgspec.convert(resource, GroupResource, strict=False)
    assert gpus_by_type(parsed) == by_type
