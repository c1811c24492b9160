"""Hourly prices: fen to yuan, the distinct pay-as-you-go specs in use, batching, and what a call reads.
The API is a mock transport; no network."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec
import pytest

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import MALFORMED_RESPONSE, APIError, TransportError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione import prices
from exporter.tione.holder_records import Notebook, ResourceConf, ResourceConfigInfo, SpecPrice, TrainingTask
from exporter.tione.holders import NOTEBOOKS_OF, TASKS_OF, Listed
from exporter.tione.prices import HourlyPrice, batches, hourly_price, read_prices, specs_in_use, yuan
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import NoSink
from tests.in_flight import InFlight

REGION = "ap-guangzhou"


def test_fen_are_yuan_per_hour() -> None:
    assert yuan(1234) == 12.34
    assert yuan(70) == 0.70
    assert yuan(2468, 2) == 12.34
    assert yuan(None) is None and yuan(100, 0) is None and yuan(100, None) is None
    price = SpecPrice(spec_name="TI.X.POST", spec_count=1, total_cost=1234, real_total_cost=987)
    assert hourly_price(price) == HourlyPrice("TI.X.POST", 12.34, 9.87)
    assert hourly_price(SpecPrice(spec_name="TI.X.POST", total_cost=1234)) == HourlyPrice("TI.X.POST", 12.34, None)
    assert hourly_price(SpecPrice(total_cost=1)) is None


def test_only_distinct_pay_as_you_go_specs_are_priced() -> None:
    groups = [
        msgspec.convert(
            {
                "ServiceGroupId": "ms-1",
                "Services": [
                    {"ChargeType": "POSTPAID_BY_HOUR", "ServiceInfo": {"InstanceType": "TI.B.POST"}},
                    {"ChargeType": "PREPAID", "ServiceInfo": {"InstanceType": "TI.PREPAID.ONLY"}},
                    {"ChargeType": "HYBRID_PAID", "ServiceInfo": {"InstanceType": "TI.C.POST"}},
                    {"ChargeType": "POSTPAID_BY_HOUR", "ServiceInfo": None},
                ],
            },
            ServiceGroup,
        ),
        msgspec.convert(
            {
                "ServiceGroupId": "ms-2",
                "Services": [{"ChargeType": "POSTPAID_BY_HOUR", "ServiceInfo": {"InstanceType": "TI.E.POST"}}],
            },
            ServiceGroup,
        ),
    ]
    tasks = [
        TrainingTask(
            charge_type="POSTPAID_BY_HOUR",
            resource_config_infos=[
                ResourceConfigInfo(instance_type="TI.A.POST"),
                ResourceConfigInfo(instance_type="TI.B.POST"),
            ],
        ),
        TrainingTask(charge_type="PREPAID", resource_config_infos=[ResourceConfigInfo(instance_type="TI.D.POST")]),
    ]
    notebooks = [
        Notebook(charge_type="POSTPAID_BY_HOUR", resource_conf=ResourceConf(instance_type="TI.A.POST")),
        Notebook(charge_type="POSTPAID_BY_HOUR", resource_conf=ResourceConf(instance_type="")),
        Notebook(charge_type="POSTPAID_BY_HOUR"),
    ]
    assert specs_in_use(groups, tasks, notebooks) == ("TI.A.POST", "TI.B.POST", "TI.C.POST", "TI.E.POST")


def test_specs_are_asked_in_batches_one_unit_each() -> None:
    specs = [f"TI.S{index:02d}.POST" for index in range(45)]
    found = batches(specs)
    assert [len(batch) for batch in found] == [20, 20, 5]
    assert [spec for batch in found for spec in batch] == specs
    assert batches([]) == []
    assert prices.request(("TI.A.POST", "TI.B.POST")) == {
        "SpecsParam": [{"SpecName": "TI.A.POST", "SpecCount": 1}, {"SpecName": "TI.B.POST", "SpecCount": 1}]
    }


class PriceApi:
    def __init__(self, table: dict[str, tuple[int, int]], answer: dict[str, Any] | None = None) -> None:
        self.table = table
        self.answer = answer
        self.bodies: list[dict[str, Any]] = []
        self.regions: set[str] = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        self.regions.add(request.headers["X-TC-Region"])
        if self.answer is not None:
            return httpx.Response(200, json={"Response": self.answer})
        found = [
            {
                "SpecName": unit["SpecName"],
                "SpecCount": 1,
                "TotalCost": self.table[unit["SpecName"]][0],
                "RealTotalCost": self.table[unit["SpecName"]][1],
            }
            for unit in body["SpecsParam"]
            if unit["SpecName"] in self.table
        ]
        return httpx.Response(200, json={"Response": {"SpecsPrice": found, "RequestId": "r"}})


Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def client_for(api: PriceApi, handler: Handler | None = None) -> TencentCloudClient:
    return TencentCloudClient(
        endpoint="http://127.0.0.1:1",
        service="tione",
        version="2021-11-11",
        credentials=Credentials("AKID", "key"),
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler or api.handler)),
        rate_limiter=TokenBucket(rate=1000, burst=100),
    )


async def test_prices_are_read_batch_by_batch() -> None:
    table = {f"TI.S{index:02d}.POST": (1000 + index, 800 + index) for index in range(25)}
    table["TI.PLANTED.POST"] = (1234, 987)
    api = PriceApi(table)
    specs = [*sorted(table), "TI.UNKNOWN.POST"]
    found = await read_prices(client_for(api), REGION, specs, deadline=time.monotonic() + 10)
    assert found["TI.PLANTED.POST"] == HourlyPrice("TI.PLANTED.POST", 12.34, 9.87)
    assert found["TI.S07.POST"] == HourlyPrice("TI.S07.POST", 10.07, 8.07)
    assert "TI.UNKNOWN.POST" not in found and len(found) == 26
    assert [len(body["SpecsParam"]) for body in api.bodies] == [20, 7]
    assert api.regions == {REGION}


async def test_batches_are_priced_one_after_the_other() -> None:
    table = {f"TI.S{index:02d}.POST": (1000, 800) for index in range(45)}
    api = PriceApi(table)
    slow = InFlight(api.handler, 0.01)

    found = await read_prices(client_for(api, slow), REGION, sorted(table), deadline=time.monotonic() + 10)
    assert len(found) == 45 and len(api.bodies) == 3
    assert slow.most == 1


async def test_an_answer_that_fits_is_read_in_one_pass_never_entry_by_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    def entry_by_entry(region: str, answer: dict[str, Any]) -> list[HourlyPrice]:
        raise AssertionError("an answer that fits was read entry by entry")

    monkeypatch.setattr(prices, "parse", entry_by_entry)
    api = PriceApi({"TI.A.POST": (1234, 987)})
    found = await read_prices(client_for(api), REGION, ["TI.A.POST"], deadline=time.monotonic() + 10)
    assert found == {"TI.A.POST": HourlyPrice("TI.A.POST", 12.34, 9.87)}


async def test_an_error_answer_is_the_call_s_error_never_an_empty_price_list() -> None:
    error = {"Code": "AuthFailure.UnauthorizedOperation", "Message": "no"}
    api = PriceApi({}, {"Error": error, "SpecsPrice": [], "RequestId": "r1"})
    with pytest.raises(APIError) as caught:
        await read_prices(client_for(api), REGION, ["TI.A.POST"], deadline=time.monotonic() + 10)
    assert caught.value.code == "AuthFailure.UnauthorizedOperation" and caught.value.request_id == "r1"


async def test_a_price_list_that_is_no_list_is_a_malformed_response() -> None:
    api = PriceApi({}, {"SpecsPrice": {"SpecName": "TI.A.POST"}, "RequestId": "r1"})
    with pytest.raises(TransportError) as caught:
        await read_prices(client_for(api), REGION, ["TI.A.POST"], deadline=time.monotonic() + 10)
    error = caught.value
    assert (error.code, error.request_id, error.action, error.region) == (
        MALFORMED_RESPONSE,
        "r1",
        prices.ACTION,
        REGION,
    )
    assert error.message.startswith(f"{prices.ACTION} answer ") and "model at SpecsPrice" in error.message


@pytest.mark.parametrize(
    "entry",
    [{"SpecName": "TI.A.POST", "TotalCost": "many"}, {"SpecName": 5}, "not an object"],
)
async def test_an_entry_that_does_not_fit_is_left_out(entry: Any) -> None:
    good = {"SpecName": "TI.B.POST", "SpecCount": 1, "TotalCost": 1234, "RealTotalCost": 1000}
    api = PriceApi({}, {"SpecsPrice": [entry, good], "RequestId": "r"})
    found = await read_prices(client_for(api), REGION, ["TI.A.POST", "TI.B.POST"], deadline=time.monotonic() + 10)
    assert found == {"TI.B.POST": HourlyPrice("TI.B.POST", 12.34, 10.0)}


async def test_beside_an_entry_that_does_not_fit_numbers_sent_as_text_are_read() -> None:
    text = {"SpecName": "TI.B.POST", "SpecCount": "2", "TotalCost": "2468", "RealTotalCost": "2000"}
    api = PriceApi({}, {"SpecsPrice": ["not an object", text], "RequestId": "r"})
    found = await read_prices(client_for(api), REGION, ["TI.B.POST"], deadline=time.monotonic() + 10)
    assert found == {"TI.B.POST": HourlyPrice("TI.B.POST", 12.34, 10.0)}


async def test_the_source_prices_what_the_snapshot_holds_and_calls_nothing_without_specs() -> None:
    api = PriceApi({"TI.TASK.POST": (1234, 987), "TI.NB.POST": (500, 400)})
    source = prices.source(client_for(api), 3600.0)
    assert (source.action, source.interval, source.primary) == ("DescribeBillingSpecsPrice", 3600.0, False)
    assert (source.empty, source.without) == ((), "no prices")
    empty = RegionSnapshot(REGION)
    assert await source.fetch(REGION, empty, time.monotonic() + 10, NoSink()) == ()
    assert api.bodies == [], "no spec in use: no call"
    task = TrainingTask(
        id="t", charge_type="POSTPAID_BY_HOUR", resource_config_infos=[ResourceConfigInfo(instance_type="TI.TASK.POST")]
    )
    notebook = Notebook(id="n", charge_type="POSTPAID_BY_HOUR", resource_conf=ResourceConf(instance_type="TI.NB.POST"))
    snapshot = TASKS_OF.stored(NOTEBOOKS_OF.stored(empty, Listed((notebook,))), Listed((task,)))
    found = await source.fetch(REGION, snapshot, time.monotonic() + 10, NoSink())
    assert found == (HourlyPrice("TI.NB.POST", 5.0, 4.0), HourlyPrice("TI.TASK.POST", 12.34, 9.87))
    assert prices.PRICES.of(source.store(empty, found)) == found
    assert api.regions == {REGION}


async def test_the_probe_asks_for_no_price_at_all() -> None:
    api = PriceApi({})
    source = prices.source(client_for(api), 3600.0)
    assert await source.probe(REGION, time.monotonic() + 10) == "DescribeBillingSpecsPrice permitted"
    assert api.bodies == [{"SpecsParam": []}] and api.regions == {REGION}
