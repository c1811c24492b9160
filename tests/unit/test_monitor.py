"""The Cloud Monitor logic without a network: which groups, batches, window, budget, parsing, fault handling."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import msgspec
import pytest

from exporter.tencentcloud.errors import APIError, TransportError
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
        monitor.Sample("SomethingElse", (("ServiceGroupId", "ms-c"),), 7.0, 840.0, 60),
        monitor.Sample("Apicalltotal", (("ServiceId", "ms-c-1"),), 60.0, 900.0, 60),
        monitor.Sample("Apicalltotal", (("ServiceGroupId", "ms-a"),), 600.0, 900.0, 60),
        monitor.Sample("Apicallerrortotal", (("ServiceGroupId", "ms-a"),), 120.0, 900.0, 60),
        monitor.Sample("Apicalllimittotal", (("ServiceGroupId", "ms-a"),), 0.0, 900.0, 60),
        monitor.Sample("Apiresponsetime", (("ServiceGroupId", "ms-a"),), 120.0, 900.0, 60),
        monitor.Sample("Apicalltotal", (("ServiceGroupId", "ms-b"),), 30.0, 840.0, 60),
        monitor.Sample("SomethingElse", (("ServiceGroupId", "ms-b"),), 7.0, 840.0, 60),
    ]
    traffic = monitor.group_traffic(samples)
    assert sorted(traffic) == ["ms-a", "ms-b"]  # neither another metric nor a sample without its group
    a, b = traffic["ms-a"], traffic["ms-b"]
    assert (a.service_group_id, b.service_group_id) == ("ms-a", "ms-b")
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


def test_a_window_needs_a_positive_period_and_count_of_periods() -> None:
    for period, periods in ((0, 5), (-60, 5), (60, 0), (60, -1)):
        with pytest.raises(ValueError, match="positive"):
            monitor.window(NOW, period=period, delay=120, periods=periods)
    one = monitor.window(NOW, period=1, delay=60, periods=1)
    assert (one.start, one.end) == (NOW - 61, NOW - 60)


def test_a_period_starting_at_the_window_start_is_inside_it() -> None:
    window = monitor.Window(start=600, end=900, period=60)
    assert monitor.latest([(600.0, 1.0), (540.0, 0.5)], window) == (660.0, 1.0)


def test_the_interval_must_be_positive_but_may_be_under_a_second() -> None:
    for interval in (0, -1):
        with pytest.raises(ValueError, match="interval"):
            monitor.plan(1, interval=interval, budget=1_000_000)
    assert monitor.plan(1, interval=0.5, budget=100_000_000).interval == 0.5


def test_the_smallest_fillable_combination_is_chosen_not_the_first_in_order() -> None:
    both = ("ServiceGroupId", "ServiceId")
    info = monitor.MetricInfo("GpuUtil", combinations=(both, ("ServiceId",), ()))
    assert info.dimensions() == ("ServiceId",)
    assert monitor.MetricInfo("X", combinations=((), ("Source",))).dimensions() is None


def test_a_catalogue_line_says_what_is_missing() -> None:
    assert monitor.MetricInfo("Bare").line() == "Bare (no unit; periods ?s; ?; dimensions none)"
    rich = monitor.MetricInfo("GpuUtil", "%", (60, 300), ("avg", "max"), (("ServiceGroupId", "ServiceId"),))
    assert rich.line() == "GpuUtil (%; periods 60,300s; avg,max; dimensions ServiceGroupId,ServiceId)"


def test_the_catalogue_reads_past_a_nameless_metric_and_defaults_what_is_missing() -> None:
    answer = {
        "MetricSet": [
            {"Unit": "count"},
            {"MetricName": "", "Unit": "count"},
            {"MetricName": "Apicalltotal", "Unit": "count", "Meaning": {"En": "calls", "Zh": "调用"}},
            {"MetricName": "NoMeaning"},
            {"MetricName": "NoEnglish", "Meaning": {"Zh": "显存"}},
        ]
    }
    found = monitor.catalogue(answer)
    assert list(found) == ["Apicalltotal", "NoMeaning", "NoEnglish"]
    assert found["Apicalltotal"].meaning == "calls" and found["Apicalltotal"].unit == "count"
    bare = monitor.MetricInfo("NoMeaning")
    assert found["NoMeaning"] == bare and found["NoEnglish"] == monitor.MetricInfo("NoEnglish")


def test_describe_metrics_asks_the_namespace_in_the_region_by_the_deadline() -> None:
    seen: list[tuple[str, str, dict[str, Any], float]] = []

    def answering(answer: Any) -> monitor.Call:
        async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
            seen.append((action, region, params, deadline))
            return answer  # type: ignore[no-any-return]

        return call

    found = asyncio.run(
        monitor.describe_metrics(answering({"MetricSet": [{"MetricName": "A"}]}), "ap-shanghai", deadline=7.5)
    )
    assert list(found) == ["A"]
    assert seen == [("DescribeBaseMetrics", "ap-shanghai", {"Namespace": "QCE/TI_MODEL"}, 7.5)]
    asyncio.run(monitor.describe_metrics(answering({}), "ap-shanghai", deadline=1.0, namespace="QCE/TI_TRAINTASK"))
    assert seen[-1][2] == {"Namespace": "QCE/TI_TRAINTASK"}


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"MetricSet": "x"}, "a list of MetricSet expected, got str"),
        ([], "the answer is a list, not an object"),
        ({"RequestId": ["x"]}, "the answer does not fit BaseMetrics"),
    ],
)
def test_a_malformed_catalogue_is_a_transport_error_that_says_what_did_not_fit(answer: Any, said: str) -> None:
    async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> Any:
        return answer

    with pytest.raises(TransportError) as caught:
        asyncio.run(monitor.describe_metrics(call, "ap-shanghai", deadline=1.0))
    error = caught.value
    assert (error.code, error.region, error.action) == ("MalformedResponse", "ap-shanghai", "DescribeBaseMetrics")
    assert said in error.message


def test_a_request_names_the_namespace_metric_instances_and_window() -> None:
    window = monitor.window(NOW, period=60, delay=120)
    body = monitor.request("Apicalltotal", [(("ServiceGroupId", "ms-a"), ("ServiceId", "ms-a-1"))], window)
    assert body == {
        "Namespace": "QCE/TI_MODEL",
        "MetricName": "Apicalltotal",
        "Instances": [
            {"Dimensions": [{"Name": "ServiceGroupId", "Value": "ms-a"}, {"Name": "ServiceId", "Value": "ms-a-1"}]}
        ],
        **window.params(),
    }
    with pytest.raises(ValueError, match="not 0"):
        monitor.request("Apicalltotal", [], window)
    assert len(monitor.request("Apicalltotal", [(("ServiceGroupId", "x"),)] * 10, window)["Instances"]) == 10


def test_points_with_more_dimensions_than_asked_are_kept_as_the_instance_asked() -> None:
    def point(value: float, **dimensions: str) -> dict[str, Any]:
        pairs = [{"Name": name, "Value": v} for name, v in dimensions.items()]
        return {"Dimensions": pairs, "Timestamps": [840], "Values": [value]}

    data = api.parse_monitor_data(
        {
            "DataPoints": [
                point(1.0, ServiceGroupId="ms-x"),
                point(2.0, ServiceGroupId="ms-a", Source="api", SubUin="100"),
                point(3.0, Source="api"),
                point(4.0, ServiceGroupId="ms-b"),
            ]
        }
    )
    asked = [(("ServiceGroupId", "ms-a"),), (("ServiceGroupId", "ms-b"),)]
    found = monitor.samples_of(data, "Apicalltotal", monitor.Window(600, 900, 60), asked)
    assert [(s.dimensions, s.value) for s in found] == [(asked[0], 2.0), (asked[1], 4.0)]
    assert all(s.metric == "Apicalltotal" and s.period == 60 for s in found)


def test_a_dimension_without_a_name_or_value_is_left_out_and_so_is_a_point_not_finite() -> None:
    point = api.DataPoint(
        dimensions=[
            api.Dimension("ServiceGroupId", "ms-a"),
            api.Dimension("Source", None),
            api.Dimension(None, "x"),
            api.Dimension("SubUin", ""),
        ],
        timestamps=[720.0, 780.0, math.nan, 900.0],
        values=[math.inf, 1.0, 2.0],
    )
    assert api.dimensions_of(point) == (("ServiceGroupId", "ms-a"), ("SubUin", ""))
    assert api.series(point) == [(780.0, 1.0)]


def test_numbers_sent_as_strings_are_read() -> None:
    data = api.parse_monitor_data(
        {
            "DataPoints": [
                {"Dimensions": [{"Name": "ServiceGroupId", "Value": "ms-a"}], "Timestamps": ["840"], "Values": ["2.5"]}
            ]
        }
    )
    assert api.series((data.data_points or [])[0]) == [(840.0, 2.5)]
    metrics = monitor.catalogue({"MetricSet": [{"MetricName": "A", "Period": ["60", 300]}]})
    assert metrics["A"].periods == (60, 300)


def test_a_malformed_data_answer_says_what_did_not_fit() -> None:
    for bad, said in (({"DataPoints": {}}, "a list of DataPoint expected, got dict"), ("x", "the answer is a str")):
        with pytest.raises(api.MalformedAnswerError, match=said):
            api.parse_monitor_data(bad)
    with pytest.raises(api.MalformedAnswerError, match="does not fit MonitorData"):
        api.parse_monitor_data({"Period": [60]})


def test_each_batch_is_asked_with_its_action_region_and_deadline() -> None:
    seen: set[tuple[str, str, float]] = set()

    async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        seen.add((action, region, deadline))
        return {"DataPoints": []}

    queries = [monitor.Query("Apicalltotal", tuple((("ServiceGroupId", f"ms-{n}"),) for n in range(15)))]
    window = monitor.window(NOW, period=60, delay=120)
    asyncio.run(monitor.collect(call, "ap-shanghai", queries, window, deadline=123.5))
    assert seen == {("GetMonitorData", "ap-shanghai", 123.5)}


def test_a_batch_asked_again_asks_and_keeps_the_same_metric() -> None:
    ids = [f"ms-{n:02}" for n in range(10)]
    fake = FakeMonitor(dict.fromkeys(ids, 600.0), unknown={"ms-02"})
    metrics: list[str] = []

    async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        metrics.append(params["MetricName"])
        return await fake(action, region, params, deadline)

    found = run(call, ids, ("Apiresponsetime",))
    assert len(metrics) > 1 and set(metrics) == {"Apiresponsetime"}
    assert len(found.samples) == 9 and {s.metric for s in found.samples} == {"Apiresponsetime"}
    group = monitor.group_traffic(found.samples)["ms-00"]
    assert group.response_time_seconds == 0.6 and group.requests_per_second is None


@pytest.mark.parametrize(
    "code",
    [
        "FailedOperation",
        "InvalidParameter",
        "ResourceNotFound",
        "ResourceNotFound.InstanceNotExist",
        "FailedOperation.Instance.Destroyed",
    ],
)
def test_the_unknown_instance_families_include_their_sub_codes(code: str) -> None:
    async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        if any(item["Dimensions"][0]["Value"] == "ms-2" for item in params["Instances"]):
            raise APIError(code, "Unauthorized operation or the instance has been destroyed.")
        return {"DataPoints": []}

    found = run(call, ["ms-1", "ms-2"])
    assert found.requests == 3 and found.errors == () and found.unknown == ((("ServiceGroupId", "ms-2"),),)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InternalError", "internal error while reading ms-03"),
        ("InvalidParameterValue", "the period is not supported"),
        ("InvalidParameterValue", "neither ms-03 nor ms-04 is known"),
    ],
)
def test_an_error_that_names_no_single_unknown_instance_costs_its_batch_without_a_retry(
    code: str, message: str
) -> None:
    ids = [f"ms-{n:02}" for n in range(10)]
    asked: list[int] = []

    async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        asked.append(len(params["Instances"]))
        raise APIError(code, message)

    found = run(call, ids)
    assert asked == [10] and found.errors == (code,) and found.unknown == ()


def test_samples_found_before_a_permission_error_are_not_kept() -> None:
    values = {"ms-1": 60.0}

    async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        if params["MetricName"] == api.RESPONSE_TIME:
            raise APIError("UnauthorizedOperation", "You are not authorized (monitor:GetMonitorData)")
        return await FakeMonitor(values)(action, region, params, deadline)

    found = run(call, ["ms-1"], (api.CALLS, api.ERRORS, api.RESPONSE_TIME))
    assert found.requests == 3 and found.denied == "UnauthorizedOperation" and found.samples == ()


def test_a_collection_asks_four_batches_at_a_time() -> None:
    in_flight, most = 0, 0

    async def call(action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return {"DataPoints": []}

    found = run(call, [f"ms-{n:02}" for n in range(60)])
    assert found.requests == 6 and most == 4
