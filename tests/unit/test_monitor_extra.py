"""The extra Cloud Monitor metrics (`monitor.metrics`) without a network: which can be asked and how, what
they cost in the monthly budget, and the families they become (named at run time, after the traffic)."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
import pytest

from exporter.config.load import load_settings
from exporter.console import ConfigError
from exporter.metrics.families import SNAPSHOT_FAMILIES, monitor_metrics, traffic
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import collect_region, render
from exporter.metrics.stream import RegionStream
from exporter.tencentcloud.errors import APIError
from exporter.tione import monitor, monitor_extra
from exporter.tione import monitor_api as api
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.traffic import KEEP_INTERVALS, TRAFFIC, Traffic
from tests.unit.test_traffic import REGION, Clock, FakeMonitor, collector, fetch

GPU = "GpuUtil"
FAMILY = "tione_monitor_gpu_util"


def info(name: str, *combinations: tuple[str, ...], unit: str = "%", periods: tuple[int, ...] = (60, 300)) -> Any:
    return monitor.MetricInfo(name, unit, periods, ("avg",), combinations, "GPU utilisation")


CATALOGUE = {
    GPU: info(GPU, ("ServiceGroupId", "ServiceId", "PodName"), ("ServiceGroupId", "ServiceId")),
    "GroupMem": info("GroupMem", ("ServiceGroupId",), unit="MB"),
    "PodOnly": info("PodOnly", ("PodName",)),
    "Hourly": info("Hourly", ("ServiceGroupId",), periods=(3600,)),
    api.CALLS: info(api.CALLS, ("ServiceGroupId",)),
}


def groups(running: int, services: int, stopped: int = 0) -> tuple[ServiceGroup, ...]:
    """`running` groups of `services` running services each, then `stopped` stopped groups."""
    wire = [
        {
            "ServiceGroupId": f"ms-{n}",
            "Services": [
                {"ServiceId": f"ms-{n}-{k}", "Status": "Normal" if n < running else "Stopped"} for k in range(services)
            ],
        }
        for n in range(running + stopped)
    ]
    return tuple(msgspec.convert(item, ServiceGroup) for item in wire)


def test_choose_asks_through_a_fillable_combination_and_says_why_the_others_cannot_be_asked() -> None:
    names = (GPU, "GroupMem", "PodOnly", "Hourly", api.CALLS, "Missing")
    extras, problems = monitor_extra.choose(names, CATALOGUE, 60)
    assert [(e.name, e.dimensions, e.unit) for e in extras] == [
        (GPU, ("ServiceGroupId", "ServiceId"), "%"),
        ("GroupMem", ("ServiceGroupId",), "MB"),
    ]
    assert extras[0].family == FAMILY and extras[0].labels == ("service_id",) and extras[1].labels == ()
    assert problems["Missing"].startswith("not offered by QCE/TI_MODEL")
    assert problems["PodOnly"].startswith("no dimension combination the exporter can fill (offered: PodName)")
    assert problems["Hourly"].startswith("period 60s not offered")
    assert problems[api.CALLS].startswith("collected already")
    assert extras[0].meaning == "GPU utilisation"


def test_why_a_metric_cannot_be_asked_names_what_is_offered() -> None:
    catalogue = {
        "TwoCombos": info("TwoCombos", ("PodName",), ("InstanceId", "PodName")),
        "NoCombo": info("NoCombo"),
        "Slow": info("Slow", ("ServiceGroupId",), periods=(300, 3600)),
    }
    extras, problems = monitor_extra.choose(tuple(catalogue), catalogue, 60)
    assert extras == ()
    assert problems == {
        "TwoCombos": "no dimension combination the exporter can fill (offered: PodName | InstanceId,PodName)",
        "NoCombo": "no dimension combination the exporter can fill (offered: none)",
        "Slow": "period 60s not offered (offered: 300,3600s)",
    }


def test_every_dimension_the_exporter_can_fill_makes_a_label() -> None:
    """`choose` accepts any combination of `KNOWN_DIMENSIONS` without checking its labels: this holds it to it."""
    labels = [monitor_extra.label_name(dimension) for dimension in monitor.KNOWN_DIMENSIONS]
    assert labels == ["service_group_id", "service_id"]


def test_names_must_make_distinct_prometheus_safe_families() -> None:
    assert monitor_extra.check_names(["GpuUtil", "DcgmFiDevFbUsed", "Cpuutil"]) == []
    problems = monitor_extra.check_names(["a-b", "GPUUtil", "GpuUtil", 'x"}', "9Lives", ""])
    assert len(problems) == 5 and problems[1] == "'GpuUtil' and 'GPUUtil' both make tione_monitor_gpu_util"
    for name in ("GpuUtil", "DcgmFiDevFbUsed", "A1b2"):
        assert re.fullmatch(r"tione_monitor_[a-z0-9_]+", monitor.family_name(name))
    assert monitor_extra.label_name("ServiceId") == "service_id"
    assert monitor_extra.label_name("ServiceGroupId") == "service_group_id"  # the identity label itself
    for dimension in ("9", "Region", "Account", "Le", "_"):
        with pytest.raises(ValueError, match="label name"):
            monitor_extra.label_name(dimension)


def test_a_bad_name_is_a_configuration_error(tmp_path: Any) -> None:
    path = tmp_path / "c.yml"
    path.write_text("monitor:\n  metrics: [GpuUtil, 'gpu-util{x=\"1\"}']\n")
    with pytest.raises(ConfigError, match="not a Cloud Monitor metric name"):
        load_settings({"--config.file": str(path), "--tione.regions": REGION}, environ={})
    path.write_text("monitor:\n  metrics: [GpuUtil, Cpuutil]\n")
    assert load_settings({"--config.file": str(path), "--tione.regions": REGION}, environ={}).monitor.metrics == (
        "GpuUtil",
        "Cpuutil",
    )


def test_instances_carry_exactly_the_combination_and_their_group() -> None:
    fleet = groups(2, 3, stopped=1)
    per_service = monitor_extra.asked(fleet, ("ServiceGroupId", "ServiceId"))
    assert len(per_service) == 6 and per_service[(("ServiceGroupId", "ms-1"), ("ServiceId", "ms-1-2"))] == "ms-1"
    only_service = monitor_extra.asked(fleet, ("ServiceId",))
    assert only_service[(("ServiceId", "ms-0-0"),)] == "ms-0" and len(only_service) == 6
    assert list(monitor_extra.asked(fleet, ("ServiceGroupId",)).values()) == ["ms-0", "ms-1"]


def test_figures_keep_each_asked_instance_with_its_group_and_dimension_values() -> None:
    both = ("ServiceGroupId", "ServiceId")
    gpu = monitor_extra.Extra(GPU, "%", both)
    mem = monitor_extra.Extra("GroupMem", "MB", ("ServiceGroupId",))
    fleet = groups(2, 1)
    owners = {GPU: monitor_extra.asked(fleet, both), "GroupMem": monitor_extra.asked(fleet, ("ServiceGroupId",))}
    samples = [
        monitor.Sample(GPU, (("ServiceGroupId", "ms-9"), ("ServiceId", "ms-9-0")), 1.0, 900.0, 60),  # not asked
        monitor.Sample(GPU, (("ServiceGroupId", "ms-1"), ("ServiceId", "ms-1-0")), 42.0, 900.0, 60),
        monitor.Sample("GroupMem", (("ServiceGroupId", "ms-0"),), 512.0, 840.0, 60),
        monitor.Sample(api.CALLS, (("ServiceGroupId", "ms-0"),), 60.0, 900.0, 60),  # not an extra metric
    ]
    found = monitor_extra.figures((gpu, mem), samples, owners)
    assert found == (
        monitor_extra.Figures(gpu, (monitor_extra.Point("ms-1", ("ms-1-0",), 42.0, 900.0),)),
        monitor_extra.Figures(mem, (monitor_extra.Point("ms-0", (), 512.0, 840.0),)),
    )


class Catalogued(FakeMonitor):
    """`FakeMonitor` that also lists `CATALOGUE` and answers the extra metrics (GPU: 42 %, GroupMem: 512)."""

    VALUES = {**FakeMonitor.VALUES, GPU: 42.0, "GroupMem": 512.0}

    def __init__(self, denied_catalogue: str = "") -> None:
        super().__init__()
        self.denied_catalogue = denied_catalogue
        self.described = 0
        self.throttled = False

    async def __call__(self, action: str, region: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        if action != api.DESCRIBE_BASE_METRICS:
            if self.throttled:
                raise APIError("RequestLimitExceeded", "slow down", region=region, action=action)
            return await super().__call__(action, region, params, deadline)
        self.described += 1
        if self.denied_catalogue:
            raise APIError(self.denied_catalogue, "no", region=region, action=action)
        return {
            "MetricSet": [
                {
                    "MetricName": m.name,
                    "Unit": m.unit,
                    "Period": list(m.periods),
                    "Dimensions": [{"Dimensions": list(c)} for c in m.combinations],
                    "Meaning": {"En": m.meaning},
                }
                for m in CATALOGUE.values()
            ]
        }


def metrics_asked(call: FakeMonitor) -> list[str]:
    return [params["MetricName"] for params in call.asked if "MetricName" in params]


def test_the_extra_metrics_are_asked_counted_in_the_budget_and_their_points_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call, clock = Catalogued(), Clock()
    source = collector(call, clock, metrics=(GPU, "GroupMem", "Missing"), max_requests_per_month=10_000_000)
    snapshot = RegionSnapshot(REGION, groups(12, 2, stopped=3))
    with caplog.at_level(logging.INFO):
        first = fetch(source, snapshot)
    asked = metrics_asked(call)
    # 12 running groups: ceil(12/10) = 2 requests per group metric (4 + GroupMem), 24 services: 3 for GpuUtil
    assert len(asked) == 2 * (4 + 1) + 3 and asked.count(GPU) == 3 and "Missing" not in asked
    assert first.budget is not None and first.budget.requests_per_collection == 13
    assert all(len(params["Instances"]) <= api.MAX_INSTANCES for params in call.asked if "Instances" in params)
    gpu = [p for p in call.asked if p.get("MetricName") == GPU]
    assert {d["Name"] for p in gpu for i in p["Instances"] for d in i["Dimensions"]} == {"ServiceGroupId", "ServiceId"}
    figures = {f.extra.name: f for f in first.extras}
    assert len(figures[GPU].points) == 24 and {p.value for p in figures[GPU].points} == {42.0}
    assert {p.group_id for p in figures["GroupMem"].points} == {f"ms-{n}" for n in range(12)}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and getattr(warnings[0], "metric", "") == "Missing"
    budget_lines = [r.getMessage() for r in caplog.records if "requests a collection" in r.getMessage()]
    month = f"{13 * monitor.SECONDS_PER_MONTH / 60:,.0f}"  # 13 requests a minute over 31 days: 580,320
    assert budget_lines == [
        f"Cloud Monitor collects every 60s: 13 requests a collection, about {month} a month (budget 10,000,000)"
    ]
    for _ in range(3):  # later collections: the catalogue is not asked again within a day, no new warning
        clock.now += 61
        fetch(source, snapshot)
    assert call.described == 1
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_a_budget_that_fits_the_group_metrics_only_lengthens_the_interval_for_the_extras() -> None:
    call, clock = Catalogued(), Clock()
    budget = int(4 * monitor.SECONDS_PER_MONTH / 60)  # 4 requests every minute: the group metrics alone fit
    source = collector(call, clock, metrics=(GPU,), max_requests_per_month=budget)
    found = fetch(source, RegionSnapshot(REGION, groups(10, 1)))
    assert found.budget is not None and found.budget.requests_per_collection == 5
    assert found.budget.interval == pytest.approx(75.0) and found.budget.requests_per_month <= budget


def test_without_the_catalogue_permission_only_the_extras_go_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    call, clock = Catalogued(denied_catalogue="AuthFailure.UnauthorizedOperation"), Clock()
    source = collector(call, clock, metrics=(GPU,))
    snapshot = RegionSnapshot(REGION, groups(3, 1))
    with caplog.at_level(logging.WARNING):
        first = fetch(source, snapshot)
        for _ in range(3):
            clock.now += 3601
            fetch(source, snapshot)
    assert first.extras == () and set(first.groups) == {"ms-0", "ms-1", "ms-2"}
    assert GPU not in metrics_asked(call) and call.described == 4  # once an hour, not every collection
    assert len(caplog.records) == 1 and "allow monitor:DescribeBaseMetrics" in str(caplog.records[0].__dict__)


def test_the_extra_figures_follow_the_staleness_rule_of_the_group_traffic() -> None:
    call, clock = Catalogued(), Clock()
    source = collector(call, clock, metrics=(GPU,), max_requests_per_month=10_000_000)
    snapshot = RegionSnapshot(REGION, groups(2, 1))
    first = fetch(source, snapshot)
    assert len(first.extras[0].points) == 2
    call.throttled = True  # every batch lost: the last figures stay for KEEP_INTERVALS intervals, then go
    for _ in range(KEEP_INTERVALS - 1):
        clock.now += 61
        fetch(source, snapshot)
        kept = fetch(source, snapshot)
        assert kept.extras == first.extras and kept.groups == first.groups
    clock.now += 61 * 2
    fetch(source, snapshot)
    gone = fetch(source, snapshot)
    assert gone.extras == (monitor_extra.Figures(first.extras[0].extra, ()),) and not gone.groups


# -- the families -----------------------------------------------------------------------------------------


def snapshot_with(extras: tuple[monitor_extra.Figures, ...], region: str = REGION) -> RegionSnapshot:
    traffic_of = Traffic(extras=extras)
    return RegionSnapshot(region, (), results={TRAFFIC.action: traffic_of})


GPU_EXTRA = monitor_extra.Extra(GPU, "%", ("ServiceGroupId", "ServiceId"), "GPU utilisation")
MEM_EXTRA = monitor_extra.Extra("GroupMem", "MB", ("ServiceGroupId",))
FIGURES = (
    monitor_extra.Figures(
        GPU_EXTRA,
        (
            monitor_extra.Point("ms-1", ("ms-1-a",), 37.5, 1.0),
            monitor_extra.Point("ms-1", ('ms-1-"b"\n',), 0.0, 1.0),
        ),
    ),
    monitor_extra.Figures(MEM_EXTRA, (monitor_extra.Point("ms-2", (), 512.0, 1.0),)),
    monitor_extra.Figures(monitor_extra.Extra("NoPoint", "", ("ServiceGroupId",)), ()),
)


def text(snapshot: RegionSnapshot, options: RenderOptions | None = None) -> str:
    exposition = render([collect_region(snapshot, options)])
    return b"".join(exposition.chunks(False)).decode()


def test_each_extra_metric_is_a_gauge_family_after_the_traffic_with_its_dimensions_and_unit() -> None:
    out = text(snapshot_with(FIGURES))
    assert out.splitlines() == [
        "# HELP tione_monitor_gpu_util Cloud Monitor QCE/TI_MODEL metric GpuUtil (GPU utilisation) in the latest "
        "complete period, as Cloud Monitor gives it; unit: % (monitor.metrics).",
        "# TYPE tione_monitor_gpu_util gauge",
        'tione_monitor_gpu_util{region="ap-guangzhou",service_group_id="ms-1",service_id="ms-1-a"} 37.5',
        'tione_monitor_gpu_util{region="ap-guangzhou",service_group_id="ms-1",service_id="ms-1-\\"b\\""} 0.0',
        "# HELP tione_monitor_group_mem Cloud Monitor QCE/TI_MODEL metric GroupMem in the latest complete period, "
        "as Cloud Monitor gives it; unit: MB (monitor.metrics).",
        "# TYPE tione_monitor_group_mem gauge",
        'tione_monitor_group_mem{region="ap-guangzhou",service_group_id="ms-2"} 512.0',
    ]
    assert "no_point" not in out  # no point, no series (never a fake 0)


def test_the_extra_families_sit_after_the_traffic_families_and_options_exclude_them() -> None:
    assert traffic.FAMILIES[-1].name == "tione_service_group_monitor_period_end_timestamp_seconds"
    assert not any(family.name.startswith("tione_monitor_") for family in SNAPSHOT_FAMILIES)
    group = monitor.GroupTraffic("ms-1", requests_per_second=1.0, period_end=5.0)
    budget = monitor.plan(5, interval=60, budget=300_000)
    both = RegionSnapshot(
        REGION, (), results={TRAFFIC.action: Traffic(groups={"ms-1": group}, extras=FIGURES, budget=budget)}
    )
    names = [line.split()[2] for line in text(both).splitlines() if line.startswith("# TYPE")]
    assert names == [
        "tione_service_group_requests_per_second",
        "tione_service_group_monitor_period_end_timestamp_seconds",
        "tione_monitor_gpu_util",
        "tione_monitor_group_mem",
        "tione_exporter_monitor_interval_seconds",
        "tione_exporter_monitor_requests_per_month",
        "tione_exporter_monitor_budget_requests_per_month",
    ]
    excluded = text(both, RenderOptions(exclude=(re.compile("tione_monitor_gpu.*"),)))
    assert "tione_monitor_gpu_util" not in excluded and "tione_monitor_group_mem{" in excluded


def test_regions_share_one_header_and_the_stream_gives_what_collect_region_gives() -> None:
    one, two = collect_region(snapshot_with(FIGURES)), collect_region(snapshot_with(FIGURES[:1], "ap-shanghai"))
    out = b"".join(render([one, two]).chunks(True)).decode()
    assert out.count("# TYPE tione_monitor_gpu_util gauge") == 1 and out.count("tione_monitor_gpu_util{") == 4
    stream = RegionStream(REGION)
    snapshot = snapshot_with(FIGURES)
    finished = stream.finish(snapshot)
    whole = collect_region(snapshot)
    assert finished is not None and finished.families == whole.families and set(finished.runtime) == set(whole.runtime)


def test_the_metrics_reference_documents_the_extra_family_as_declared() -> None:
    from tests.unit.test_metrics_docs import code_items, section, table_rows

    (row,) = table_rows(section("Extra Cloud Monitor metrics (`monitor.metrics`)"))
    declared = monitor_metrics.family(GPU_EXTRA)
    assert code_items(row[0]) == ("tione_monitor_<snake_case name>",) and declared.name == FAMILY
    assert row[1] == f"{declared.type}, {declared.stability}"
    assert code_items(row[2])[0] == declared.identity_labels[-1] and declared.labels == ("service_id",)
