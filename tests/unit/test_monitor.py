"""The Cloud Monitor logic without a network: which groups, batches, window, budget, parsing, fault handling."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import msgspec
import pytest

from exporter.tencentcloud.errors import APIError
from exporter.tione import monitor
from exporter.tione import monitor_api as api
from exporter.tione.records import ServiceGroup

NOW = 1_800_000_030.0


def group(group_id: str, *statuses: str, running: int | None = None) -> ServiceGroup:
    services = [{"ServiceId": f"{group_id}-{n}", "Status": status} for n, status in enumerate(statuses, 1)]
    wire: dict[str, Any] = {"ServiceGroupId": group_id, "Services": services, "RunningServiceCount": running}
    return msgspec.convert(wire, ServiceGroup)


def test_only_groups_with_a_running_service_are_asked() -> None:
    groups = [
        group("ms-a", "Normal"),
        group("ms-b", "Stopped", "Stopped"),
        group("ms-c", "Stopped", "Abnormal"),
        group("ms-d", "CREATE_FAILED"),
        group("ms-e", running=1),
        group("ms-f", running=0),
        group("ms-a", "Normal"),
    ]
    assert monitor.instances(groups) == [
        (("ServiceGroupId", "ms-a"),),
        (("ServiceGroupId", "ms-c"),),
        (("ServiceGroupId", "ms-e"),),
    ]


def test_a_per_service_metric_asks_each_running_service() -> None:
    found = monitor.instances([group("ms-a", "Normal", "Stopped", "Pending")], ("ServiceGroupId", "ServiceId"))
    assert found == [
        (("ServiceGroupId", "ms-a"), ("ServiceId", "ms-a-1")),
        (("ServiceGroupId", "ms-a"), ("ServiceId", "ms-a-3")),
    ]
    with pytest.raises(ValueError, match="SubUin"):
        monitor.instances([], ("ServiceGroupId", "SubUin"))


def test_batches_hold_at_most_ten_instances() -> None:
    assert [len(batch) for batch in monitor.batches(list(range(23)))] == [10, 10, 3]
    assert monitor.batches([]) == []
    with pytest.raises(ValueError, match="1 to 10"):
        monitor.request("Apicalltotal", [(("ServiceGroupId", "x"),)] * 11, monitor.window(NOW, period=60, delay=120))


def test_the_window_ends_on_a_period_boundary_at_least_the_delay_before_now() -> None:
    window = monitor.window(NOW, period=60, delay=120)
    assert window.end == 1_799_999_880 and window.end % 60 == 0 and NOW - window.end >= 120
    assert window.start == window.end - 5 * 60
    assert window.params() == {
        "Period": 60,
        "StartTime": "2027-01-15T07:53:00+00:00",
        "EndTime": "2027-01-15T07:58:00+00:00",
    }
    for delay in (60, 61, 119.5):
        assert NOW - monitor.window(NOW, period=60, delay=delay).end >= 60


def test_the_latest_complete_period_is_taken() -> None:
    window = monitor.Window(start=600, end=900, period=60)
    points = [(600.0, 1.0), (780.0, 3.0), (840.0, 4.0), (900.0, 99.0), (720.0, 2.0), (540.0, 0.5)]
    assert monitor.latest(points, window) == (900.0, 4.0)
    assert monitor.latest([(900.0, 99.0)], window) is None
    assert monitor.latest([], window) is None


def test_planted_figures_convert_exactly() -> None:
    samples = [
        monitor.Sample("Apicalltotal", (("ServiceGroupId", "ms-a"),), 600.0, 900.0, 60),
        monitor.Sample("Apicallerrortotal", (("ServiceGroupId", "ms-a"),), 120.0, 900.0, 60),
        monitor.Sample("Apicalllimittotal", (("ServiceGroupId", "ms-a"),), 0.0, 900.0, 60),
        monitor.Sample("Apiresponsetime", (("ServiceGroupId", "ms-a"),), 120.0, 900.0, 60),
        monitor.Sample("Apicalltotal", (("ServiceGroupId", "ms-b"),), 30.0, 840.0, 60),
        monitor.Sample("SomethingElse", (("ServiceGroupId", "ms-b"),), 7.0, 840.0, 60),
    ]
    traffic = monitor.group_traffic(samples)
    a, b = traffic["ms-a"], traffic["ms-b"]
    assert a.requests_per_second == 10.0 and a.errors_per_second == 2.0 and a.throttled_per_second == 0.0
    assert a.response_time_seconds == 0.12 and a.period_end == 900.0 and a.error_ratio == 0.2
    assert b.requests_per_second == 0.5 and b.errors_per_second is None and b.response_time_seconds is None
    assert b.error_ratio is None


def test_the_budget_decides_the_interval() -> None:
    assert monitor.requests_per_collection([23] * 4) == 12
    assert monitor.requests_per_collection([100] * 5) == 50
    assert monitor.requests_per_collection([0, 10, 11]) == 3
    fits = monitor.plan(12, interval=60, budget=1_000_000)
    assert fits.interval == 60 and not fits.lengthened
    assert fits.requests_per_month == 12 * monitor.SECONDS_PER_MONTH / 60 == 535_680
    tight = monitor.plan(50, interval=60, budget=300_000)
    assert tight.lengthened and tight.interval == 50 * 31 * 86400 / 300_000 == 446.4
    assert tight.requests_per_month == pytest.approx(300_000)
    five = monitor.plan(10, interval=60, budget=math.floor(10 * monitor.SECONDS_PER_MONTH / 300))
    assert five.interval >= 300 and five.requests_per_month <= five.budget
    assert monitor.plan(0, interval=60, budget=1).requests_per_month == 0
    assert "--monitor.max-requests-per-month" in monitor.budget_message(tight)
    with pytest.raises(ValueError, match="positive"):
        monitor.plan(1, interval=60, budget=0)


def test_answers_that_do_not_fit_cost_only_themselves() -> None:
    answer = {
        "Period": "60",
        "DataPoints": [
            {"Dimensions": [{"Name": "ServiceGroupId", "Value": "ms-a"}], "Timestamps": [840, 780], "Values": [2, 1]},
            {"Dimensions": "oops", "Timestamps": [840], "Values": [5]},
            {"Dimensions": [{"Name": "ServiceGroupId", "Value": "ms-b"}], "Timestamps": [840, 900], "Values": [7]},
            {"Dimensions": [{"Name": "ServiceGroupId", "Value": "ms-c"}], "Timestamps": [], "Values": []},
            {"Dimensions": [{"Name": "ServiceGroupId", "Value": "ms-d"}], "Timestamps": None, "Values": None},
        ],
    }
    data = api.parse_monitor_data(answer)
    assert data.period == 60 and len(data.data_points or ()) == 4
    asked = [(("ServiceGroupId", g),) for g in ("ms-a", "ms-b", "ms-c", "ms-d")]
    found = monitor.samples_of(data, "Apicalltotal", monitor.Window(600, 900, 60), asked)
    assert [(dict(s.dimensions)["ServiceGroupId"], s.value, s.period_end) for s in found] == [
        ("ms-a", 2.0, 900.0),
        ("ms-b", 7.0, 900.0),
    ]
    assert api.parse_monitor_data({}).data_points == []
    for bad in ([], "x", {"DataPoints": "x"}, {"Period": "sixty"}):
        with pytest.raises(api.MalformedAnswerError):
            api.parse_monitor_data(bad)


def test_the_catalogue_lists_metrics_and_usable_dimension_combinations() -> None:
    answer = {
        "MetricSet": [
            {
                "MetricName": "Apicalltotal",
                "Unit": "count",
                "Period": [60, 10],
                "Periods": [{"Period": "60", "StatType": ["sum"]}],
                "Dimensions": [
                    {"Dimensions": ["ServiceGroupId", "Source", "SubUin"]},
                    {"Dimensions": ["ServiceGroupId"]},
                ],
                "Meaning": {"En": "calls"},
            },
            {"MetricName": "GpuThing", "Dimensions": [{"Dimensions": ["InstanceId"]}]},
            {"MetricName": 5},
            "junk",
        ]
    }
    found = monitor.catalogue(answer)
    assert set(found) == {"Apicalltotal", "GpuThing"}
    calls = found["Apicalltotal"]
    assert calls.periods == (10, 60) and calls.statistics == ("sum",) and calls.dimensions() == ("ServiceGroupId",)
    assert calls.line() == (
        "Apicalltotal (count; periods 10,60s; sum; dimensions ServiceGroupId,Source,SubUin | ServiceGroupId)"
    )
    assert found["GpuThing"].dimensions() is None


def test_extra_metric_names_are_snake_case_families() -> None:
    assert monitor.family_name("DcgmFiDevFbUsed") == "tione_monitor_dcgm_fi_dev_fb_used"
    assert monitor.snake_case("GPUUtil") == "gpu_util"
    assert monitor.snake_case("Cpuutil") == "cpuutil"


class FakeMonitor:
    """A `Call` that answers each batch from planted values, refusing listed instances or every request."""

    def __init__(self, values: dict[str, float], *, unknown: set[str] = frozenset(), deny: str = "") -> None:
        self.values, self.unknown, self.deny = values, unknown, deny
        self.asked: list[list[str]] = []

    async def __call__(self, action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        ids = [item["Dimensions"][0]["Value"] for item in params["Instances"]]
        self.asked.append(ids)
        if self.deny:
            raise APIError(self.deny, "You are not authorized to perform operation (monitor:GetMonitorData)")
        if self.unknown & set(ids):
            raise APIError("FailedOperation", "Unauthorized operation or the instance has been destroyed.")
        points = [
            {
                "Dimensions": [{"Name": "ServiceGroupId", "Value": gid}],
                "Timestamps": [1_799_999_820],
                "Values": [self.values[gid]],
            }
            for gid in ids
            if gid in self.values
        ]
        return {"Period": 60, "MetricName": params["MetricName"], "DataPoints": points}


def run(call: monitor.Call, ids: list[str], metrics: tuple[str, ...] = ("Apicalltotal",)) -> monitor.Collection:
    queries = [monitor.Query(metric, tuple((("ServiceGroupId", gid),) for gid in ids)) for metric in metrics]
    return asyncio.run(
        monitor.collect(call, "ap-guangzhou", queries, monitor.window(NOW, period=60, delay=120), deadline=0)
    )


def test_one_request_per_metric_per_batch() -> None:
    ids = [f"ms-{n:02}" for n in range(23)]
    fake = FakeMonitor(dict.fromkeys(ids, 600.0))
    found = run(fake, ids, ("Apicalltotal", "Apiresponsetime"))
    assert found.requests == len(fake.asked) == 6 and sorted(len(ids) for ids in fake.asked) == [3, 3, 10, 10, 10, 10]
    assert len(found.samples) == 46 and found.errors == () and found.denied == ""


def test_a_batch_refused_for_an_unknown_instance_is_asked_again_without_it() -> None:
    ids = [f"ms-{n:02}" for n in range(10)]
    fake = FakeMonitor(dict.fromkeys(ids, 600.0), unknown={"ms-07"})
    found = run(fake, ids)
    assert found.unknown == ((("ServiceGroupId", "ms-07"),),)
    assert sorted(dict(s.dimensions)["ServiceGroupId"] for s in found.samples) == [i for i in ids if i != "ms-07"]
    assert found.requests == len(fake.asked) <= 8


def test_an_error_naming_the_instance_costs_one_retry() -> None:
    ids = [f"ms-{n:02}" for n in range(10)]

    async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        asked = [item["Dimensions"][0]["Value"] for item in params["Instances"]]
        if "ms-03" in asked:
            raise APIError("InvalidParameterValue", "The instance ServiceGroupId=ms-03 has been destroyed.")
        return {"DataPoints": []}

    found = run(call, ids)
    assert found.requests == 2 and found.unknown == ((("ServiceGroupId", "ms-03"),),)


@pytest.mark.parametrize("code", ["UnauthorizedOperation", "AuthFailure.UnauthorizedOperation"])
def test_a_permission_error_stops_the_collection_at_once(code: str) -> None:
    ids = [f"ms-{n:02}" for n in range(95)]
    fake = FakeMonitor({}, deny=code)
    found = run(fake, ids, api.GROUP_METRICS)
    assert found.denied == code and found.samples == ()
    assert found.requests == len(fake.asked) <= 4


def test_other_errors_and_malformed_answers_cost_their_batch_only() -> None:
    async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        if params["MetricName"] == "Apicallerrortotal":
            raise APIError("InternalError", "boom")
        if params["MetricName"] == "Apicalllimittotal":
            return {"DataPoints": "not a list"}
        return await FakeMonitor({"ms-1": 60.0})(action, region, params, deadline)

    found = run(call, ["ms-1"], api.GROUP_METRICS)
    assert sorted(found.errors) == ["InternalError", "MalformedResponse"]
    assert sorted(s.metric for s in found.samples) == ["Apicalltotal", "Apiresponsetime"]


def test_bind_passes_the_deadline_by_keyword() -> None:
    class Client:
        async def call(self, action: str, region: str, params: dict[str, Any], *, deadline: float) -> dict[str, Any]:
            return {"seen": (action, region, params, deadline)}

    call = monitor.bind(Client())
    assert asyncio.run(call("A", "r", {"x": 1}, 5.0)) == {"seen": ("A", "r", {"x": 1}, 5.0)}
