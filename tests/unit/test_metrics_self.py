"""The exporter's own metrics: each hook and report changes exactly the samples it should."""

from __future__ import annotations

import platform

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter import __version__
from exporter.metrics.families import SELF_FAMILIES
from exporter.metrics.families.exporter import self_family
from exporter.metrics.self import API_DURATION_BUCKETS, MAX_ERROR_CODES, OTHER_CODE, POLL_DURATION_BUCKETS, SelfMetrics
from exporter.tione.decode import SKIP_LABELS

GZ, SH = "ap-guangzhou", "ap-shanghai"
ACTION = "DescribeModelServiceGroups"


def samples(metrics: SelfMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exporter's own families in the text rendering, keyed by name and sorted labels
    (the process's standard figures, which move by themselves, left out)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in parse_text(metrics.render(False).decode())
        for sample in family.samples
        if sample.name.startswith("tione_")
    }


def changes(before: dict[tuple[str, tuple[tuple[str, str], ...]], float], metrics: SelfMetrics) -> dict[str, float]:
    """The samples that appeared or changed since `before`, as `name{labels}` -> value."""
    after = samples(metrics)
    return {
        f"{name}{{{','.join(f'{k}={v}' for k, v in labels)}}}": value
        for (name, labels), value in after.items()
        if before.get((name, labels)) != value
    }


def value(metrics: SelfMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def registered(metrics: SelfMetrics) -> set[tuple[str, str, tuple[str, ...]]]:
    """Each family the registry exports: its name as declared (counters with `_total`), type and labels."""
    found = set()
    for family in metrics.registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        (labels,) = {tuple(k for k in sample.labels if k != "le") for sample in family.samples}
        found.add((name, family.type, labels))
    return found


def test_the_registry_holds_exactly_the_declared_families() -> None:
    metrics = SelfMetrics([GZ], actions=[ACTION])
    metrics.on_error(GZ, ACTION, "InternalError")
    metrics.record_poll(GZ, success=True, duration=1.0, finished_at=1.0)
    metrics.set_inventory(GZ, 1, 1)
    declared = {(f.name, f.type, f.labels) for f in SELF_FAMILIES if f.name != "tione_account_info"}
    assert registered(metrics) == declared


def test_with_accounts_every_per_region_family_has_account_before_region() -> None:
    key = f"prod/{GZ}"
    metrics = SelfMetrics([key], actions=[ACTION], accounts=[("prod", "100000000001")])
    metrics.on_error(key, ACTION, "UnauthorizedOperation")
    metrics.record_poll(key, success=True, duration=1.0, finished_at=1.0)
    metrics.record_poll(key, success=False, duration=1.0, finished_at=2.0)
    metrics.set_inventory(key, 1, 1)
    declared = {(f.name, f.type, ("account", *f.labels) if "region" in f.labels else f.labels) for f in SELF_FAMILIES}
    assert registered(metrics) == declared
    assert value(metrics, "tione_up", account="prod", region=GZ) == 0
    assert value(metrics, "tione_account_info", account="prod", uin="100000000001") == 1
    labels = {"account": "prod", "region": GZ, "action": ACTION, "code": "UnauthorizedOperation"}
    assert value(metrics, "tione_exporter_api_errors_total", **labels) == 1


def test_configured_regions_start_with_zero_counters_and_no_gauges() -> None:
    metrics = SelfMetrics([GZ, SH], actions=[ACTION])
    for region in (GZ, SH):
        assert value(metrics, "tione_exporter_polls_total", region=region) == 0
        assert value(metrics, "tione_exporter_poll_errors_total", region=region) == 0
        assert value(metrics, "tione_exporter_api_requests_total", region=region, action=ACTION) == 0
        assert value(metrics, "tione_exporter_api_retries_total", region=region, action=ACTION) == 0
        assert value(metrics, "tione_exporter_poll_duration_seconds_count", region=region) == 0
        assert value(metrics, "tione_up", region=region) is None
        assert value(metrics, "tione_exporter_last_poll_timestamp_seconds", region=region) is None
        assert value(metrics, "tione_exporter_service_groups", region=region) is None
    assert value(metrics, "tione_exporter_api_request_duration_seconds_count", action=ACTION) == 0
    assert value(metrics, "tione_exporter_api_throttle_wait_seconds_total") == 0
    assert (
        value(metrics, "tione_exporter_build_info", version=__version__, python_version=platform.python_version()) == 1
    )


def test_no_created_series_are_rendered() -> None:
    metrics = SelfMetrics([GZ], actions=[ACTION])
    metrics.on_request(GZ, ACTION)
    for openmetrics in (False, True):
        assert b"_created" not in metrics.render(openmetrics)


def test_a_successful_poll() -> None:
    metrics = SelfMetrics([GZ, SH], actions=[ACTION])
    before = samples(metrics)
    metrics.record_poll(GZ, success=True, duration=1.5, finished_at=1_700_000_000.5)
    assert changes(before, metrics) == {
        "tione_up{region=ap-guangzhou}": 1.0,
        "tione_exporter_polls_total{region=ap-guangzhou}": 1.0,
        "tione_exporter_last_poll_timestamp_seconds{region=ap-guangzhou}": 1_700_000_000.5,
        "tione_exporter_last_poll_success_timestamp_seconds{region=ap-guangzhou}": 1_700_000_000.5,
        "tione_exporter_poll_duration_seconds_bucket{le=2.5,region=ap-guangzhou}": 1.0,
        "tione_exporter_poll_duration_seconds_bucket{le=5.0,region=ap-guangzhou}": 1.0,
        "tione_exporter_poll_duration_seconds_bucket{le=10.0,region=ap-guangzhou}": 1.0,
        "tione_exporter_poll_duration_seconds_bucket{le=30.0,region=ap-guangzhou}": 1.0,
        "tione_exporter_poll_duration_seconds_bucket{le=60.0,region=ap-guangzhou}": 1.0,
        "tione_exporter_poll_duration_seconds_bucket{le=120.0,region=ap-guangzhou}": 1.0,
        "tione_exporter_poll_duration_seconds_bucket{le=+Inf,region=ap-guangzhou}": 1.0,
        "tione_exporter_poll_duration_seconds_count{region=ap-guangzhou}": 1.0,
        "tione_exporter_poll_duration_seconds_sum{region=ap-guangzhou}": 1.5,
    }
    assert value(metrics, "tione_up", region=SH) is None


def test_a_failed_poll_after_a_successful_one() -> None:
    metrics = SelfMetrics([GZ], actions=[ACTION])
    metrics.record_poll(GZ, success=True, duration=0.05, finished_at=1_700_000_000.0)
    before = samples(metrics)
    metrics.record_poll(GZ, success=False, duration=200.0, finished_at=1_700_000_030.0)
    assert changes(before, metrics) == {
        "tione_up{region=ap-guangzhou}": 0.0,
        "tione_exporter_polls_total{region=ap-guangzhou}": 2.0,
        "tione_exporter_poll_errors_total{region=ap-guangzhou}": 1.0,
        "tione_exporter_last_poll_timestamp_seconds{region=ap-guangzhou}": 1_700_000_030.0,
        "tione_exporter_poll_duration_seconds_bucket{le=+Inf,region=ap-guangzhou}": 2.0,
        "tione_exporter_poll_duration_seconds_count{region=ap-guangzhou}": 2.0,
        "tione_exporter_poll_duration_seconds_sum{region=ap-guangzhou}": 200.05,
    }
    assert value(metrics, "tione_exporter_last_poll_success_timestamp_seconds", region=GZ) == 1_700_000_000.0


def test_a_region_not_configured_appears_with_its_first_poll() -> None:
    metrics = SelfMetrics([GZ], actions=[ACTION])
    assert value(metrics, "tione_exporter_polls_total", region=SH) is None
    metrics.record_poll(SH, success=False, duration=0.2, finished_at=1.0)
    assert value(metrics, "tione_exporter_poll_errors_total", region=SH) == 1


def test_api_hooks() -> None:
    metrics = SelfMetrics([GZ], actions=[ACTION])
    before = samples(metrics)
    metrics.on_request(GZ, ACTION)
    metrics.on_request(GZ, ACTION)
    metrics.on_error(GZ, ACTION, "RequestLimitExceeded")
    metrics.on_retry(GZ, ACTION)
    metrics.on_duration(ACTION, 0.07)
    metrics.on_throttle_wait(0.25)
    metrics.on_throttle_wait(0.0)
    assert changes(before, metrics) == {
        "tione_exporter_api_requests_total{action=DescribeModelServiceGroups,region=ap-guangzhou}": 2.0,
        "tione_exporter_api_errors_total{action=DescribeModelServiceGroups,code=RequestLimitExceeded,region=ap-guangzhou}": 1.0,
        "tione_exporter_api_retries_total{action=DescribeModelServiceGroups,region=ap-guangzhou}": 1.0,
        "tione_exporter_api_request_duration_seconds_bucket{action=DescribeModelServiceGroups,le=0.1}": 1.0,
        "tione_exporter_api_request_duration_seconds_bucket{action=DescribeModelServiceGroups,le=0.25}": 1.0,
        "tione_exporter_api_request_duration_seconds_bucket{action=DescribeModelServiceGroups,le=0.5}": 1.0,
        "tione_exporter_api_request_duration_seconds_bucket{action=DescribeModelServiceGroups,le=1.0}": 1.0,
        "tione_exporter_api_request_duration_seconds_bucket{action=DescribeModelServiceGroups,le=2.5}": 1.0,
        "tione_exporter_api_request_duration_seconds_bucket{action=DescribeModelServiceGroups,le=5.0}": 1.0,
        "tione_exporter_api_request_duration_seconds_bucket{action=DescribeModelServiceGroups,le=10.0}": 1.0,
        "tione_exporter_api_request_duration_seconds_bucket{action=DescribeModelServiceGroups,le=30.0}": 1.0,
        "tione_exporter_api_request_duration_seconds_bucket{action=DescribeModelServiceGroups,le=+Inf}": 1.0,
        "tione_exporter_api_request_duration_seconds_count{action=DescribeModelServiceGroups}": 1.0,
        "tione_exporter_api_request_duration_seconds_sum{action=DescribeModelServiceGroups}": 0.07,
        "tione_exporter_api_throttle_wait_seconds_total{}": 0.25,
    }


def test_hooks_never_raise_on_odd_input() -> None:
    metrics = SelfMetrics(actions=[ACTION])
    metrics.on_duration(ACTION, -1.0)
    metrics.on_throttle_wait(-3.0)
    metrics.on_error(GZ, ACTION, 'Bad"Code\n' + "x" * 1000)
    metrics.record_poll(GZ, success=True, duration=-0.5, finished_at=0.0)
    assert value(metrics, "tione_exporter_api_throttle_wait_seconds_total") == 0
    assert value(metrics, "tione_exporter_api_request_duration_seconds_sum", action=ACTION) == 0
    codes = [
        sample.labels["code"]
        for family in parse_text(metrics.render(False).decode())
        if family.name == "tione_exporter_api_errors"
        for sample in family.samples
    ]
    assert codes == [OTHER_CODE]  # not shaped like an API error code


def test_inventory_is_set_and_forgotten() -> None:
    metrics = SelfMetrics([GZ, SH], actions=[ACTION])
    metrics.set_inventory(GZ, 3, 7)
    metrics.set_inventory(SH, 1, 2)
    assert value(metrics, "tione_exporter_service_groups", region=GZ) == 3
    assert value(metrics, "tione_exporter_services", region=GZ) == 7
    metrics.forget_inventory(GZ)
    metrics.forget_inventory(GZ)  # twice is harmless
    assert value(metrics, "tione_exporter_service_groups", region=GZ) is None
    assert value(metrics, "tione_exporter_services", region=GZ) is None
    assert value(metrics, "tione_exporter_services", region=SH) == 2


def test_buckets_suit_api_calls_and_polls() -> None:
    assert API_DURATION_BUCKETS[0] == 0.05 and API_DURATION_BUCKETS[-1] == 30
    assert POLL_DURATION_BUCKETS[0] == 0.1 and POLL_DURATION_BUCKETS[-1] == 120
    assert list(API_DURATION_BUCKETS) == sorted(API_DURATION_BUCKETS)
    assert list(POLL_DURATION_BUCKETS) == sorted(POLL_DURATION_BUCKETS)


@pytest.mark.parametrize("openmetrics", [False, True])
def test_render_is_a_valid_document_without_eof(openmetrics: bool) -> None:
    metrics = SelfMetrics([GZ], actions=[ACTION])
    metrics.record_poll(GZ, success=True, duration=1.0, finished_at=1.0)
    body = metrics.render(openmetrics).decode()
    assert "# EOF" not in body
    if openmetrics:
        names = {family.name for family in parse_openmetrics(body + "# EOF\n")}
        assert "tione_exporter_polls" in names
        assert "# TYPE tione_exporter_polls counter" in body
    else:
        names = {family.name for family in parse_text(body)}
        assert "# TYPE tione_exporter_polls_total counter" in body
    assert "tione_up" in names


def test_build_info_uses_the_given_version() -> None:
    metrics = SelfMetrics(version="9.9.9", actions=[ACTION])
    assert value(metrics, "tione_exporter_build_info", version="9.9.9", python_version=platform.python_version()) == 1


def test_it_offers_every_client_hook() -> None:
    """Structural match with the client's `ClientHooks`: same method names and parameters."""
    import inspect

    client = pytest.importorskip("exporter.tencentcloud.client")
    hooks = client.ClientHooks
    for name in ("on_request", "on_error", "on_retry", "on_duration", "on_throttle_wait"):
        expected = list(inspect.signature(getattr(hooks, name)).parameters)
        assert list(inspect.signature(getattr(SelfMetrics, name)).parameters) == expected, name


def test_error_codes_are_bounded_in_shape_and_number() -> None:
    metrics = SelfMetrics(["ap-guangzhou"], actions=[ACTION])
    action = "DescribeModelServiceGroups"
    metrics.on_error("ap-guangzhou", action, "RequestLimitExceeded.UinLimitExceeded")
    metrics.on_error("ap-guangzhou", action, "<html>502 Bad Gateway</html>")
    for number in range(MAX_ERROR_CODES + 10):
        metrics.on_error("ap-guangzhou", action, f"Invented{number}")
    assert (
        value(
            metrics,
            "tione_exporter_api_errors_total",
            region="ap-guangzhou",
            action=action,
            code="RequestLimitExceeded.UinLimitExceeded",
        )
        == 1.0
    )
    codes = {
        labels["code"]
        for name, labels_items in samples(metrics)
        if name == "tione_exporter_api_errors_total"
        for labels in [dict(labels_items)]
    }
    assert len(codes) == MAX_ERROR_CODES + 1  # the kept codes and "Other"
    # "Other" holds the HTML one and the 11 invented past the first 63 (the real code took one place)
    assert (
        value(metrics, "tione_exporter_api_errors_total", region="ap-guangzhou", action=action, code=OTHER_CODE) == 12.0
    )
    metrics.on_error("ap-guangzhou", action, "RequestLimitExceeded.UinLimitExceeded")  # a known code still counts
    assert (
        value(
            metrics,
            "tione_exporter_api_errors_total",
            region="ap-guangzhou",
            action=action,
            code="RequestLimitExceeded.UinLimitExceeded",
        )
        == 2.0
    )


def test_every_skip_reason_of_a_configured_region_starts_at_zero() -> None:
    metrics = SelfMetrics([GZ, SH])
    for region in (GZ, SH):
        for kind, reason in SKIP_LABELS:
            sample = value(metrics, "tione_exporter_skipped_objects_total", region=region, kind=kind, reason=reason)
            assert sample == 0, (region, kind, reason)


def test_skipped_objects_are_counted_by_region_kind_and_reason() -> None:
    metrics = SelfMetrics([GZ])
    before = samples(metrics)
    metrics.record_skipped(GZ, "service", "wrong_type")
    metrics.record_skipped(GZ, "service", "wrong_type", 3)
    metrics.record_skipped(SH, "workspace", "not_readable")
    assert changes(before, metrics) == {
        "tione_exporter_skipped_objects_total{kind=service,reason=wrong_type,region=ap-guangzhou}": 4.0,
        "tione_exporter_skipped_objects_total{kind=workspace,reason=not_readable,region=ap-shanghai}": 1.0,
    }


def test_requests_made_counts_every_request_of_a_region() -> None:
    metrics = SelfMetrics([GZ, SH], actions=[ACTION])
    assert metrics.requests_made(GZ) == 0
    assert metrics.requests_made("ap-nowhere") == 0
    for _ in range(3):
        metrics.on_request(GZ, ACTION)
    metrics.on_request(GZ, "DescribeEvents")
    metrics.on_request(SH, ACTION)
    assert (metrics.requests_made(GZ), metrics.requests_made(SH)) == (4, 1)


def test_an_undeclared_self_family_is_named_in_the_error() -> None:
    with pytest.raises(KeyError, match="tione_exporter_no_such_family"):
        self_family("tione_exporter_no_such_family")


def test_the_process_and_python_collectors_are_rendered_after_the_own_families() -> None:
    metrics = SelfMetrics([GZ], actions=[ACTION])
    for openmetrics in (False, True):
        body = metrics.render(openmetrics).decode()
        names = [family.name for family in parse_text(body)] if not openmetrics else []
        for name in ("process_resident_memory_bytes", "process_open_fds", "python_info", "python_gc_collections"):
            assert f"\n{name}" in body, (name, openmetrics)
        assert body.index("tione_up") < body.index("process_resident_memory_bytes")
        assert not names or names.count("python_info") == 1
    assert b"process_" not in SelfMetrics([GZ], standard=()).render(False)
