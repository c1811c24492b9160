"""End to end on a real Prometheus: the simulator, `tione-exporter run` and `prometheus` on loopback, with the
shipped alert rules (their `for` durations and range windows divided by 60) and recording rules.

It shows through Prometheus' HTTP API that a normal rollout fires nothing, that a service going down fires
TIONEServiceDown (and how long that takes from the simulator's change) and that it resolves, and that every
dashboard query and every recording rule returns data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from exporter.simulator import SimulatorConfig, SimulatorServer, Traffic
from exporter.simulator.prices import PriceBook
from grafana.queries import parse_label_values, query_variables
from tests.e2e.stack import (
    ALL,
    DASHBOARDS,
    Stack,
    drill_down_group,
    empty_queries,
    live_records,
    running_stack,
    wait_for,
)

pytestmark = pytest.mark.e2e

REGIONS = ("ap-guangzhou", "ap-shanghai")
SECRET_ID = "AKIDe2eLoopbackOnly0000000000000000"
SECRET_KEY = "e2e-loopback-only-secret-key-000"  # a key only the loopback simulator accepts


def identity(alert: dict[str, Any]) -> str:
    return json.dumps(alert["labels"], sort_keys=True)


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Print to the terminal even while pytest captures output."""
    with capsys.disabled():
        print(f"\n[e2e] {line}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = SimulatorConfig(groups=6, regions=REGIONS, churn=False, secret_id=SECRET_ID, secret_key=SECRET_KEY)
    credentials = {"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}
    settled = (
        "service series from both regions",
        lambda api: len(api.query("count by (region) (tione_service_status)")) == len(REGIONS),
    )
    with (
        SimulatorServer(config) as simulator,
        running_stack(tmp_path_factory.mktemp("e2e"), simulator, credentials, REGIONS, settled) as built,
    ):
        yield built


def test_the_alert_rules_run_time_scaled(stack: Stack) -> None:
    scaled = yaml.safe_load((stack.rules_dir / "tione-alerts.yml").read_text())
    durations = {rule["alert"]: rule["for"] for group in scaled["groups"] for rule in group["rules"]}
    assert durations["TIONEServiceDown"] == "2s"
    assert durations["TIONEServiceReplicasMismatch"] == "10s"
    loaded = {rule["name"]: rule for group in stack.prometheus.rule_groups() for rule in group["rules"]}
    assert loaded["TIONEServiceDown"]["duration"] == 2
    assert "[10s]" in loaded["TIONEServiceReplicasMismatch"]["query"]
    assert all(rule["health"] == "ok" for rule in loaded.values()), [r for r in loaded.values() if r["health"] != "ok"]


def test_a_normal_rollout_fires_nothing(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    region = REGIONS[0]
    service = next(
        s for s in stack.services(region) if s["Status"] == "Normal" and s["ServiceInfo"]["ScaleMode"] == "MANUAL"
    )
    service_id, before = service["ServiceId"], service["ServiceInfo"]["Replicas"]
    selector = f'{{service_id="{service_id}"}}'
    # The available count has been steady for the whole "no change" window, as for a long-running service.
    wait_for(
        "10 s of steady history",
        lambda: stack.prometheus.query(f"count_over_time(tione_service_status_replicas_available{selector}[10s]) >= 9"),
        timeout=20,
    )
    # Alerts already pending or firing (the seeded fleet has, e.g., a service being created) are not news.
    baseline = {identity(a) for a in stack.alerts()}
    fired: dict[str, dict[str, Any]] = {}
    pending: set[str] = set()

    def watch(seconds: float) -> None:
        """Collect alerts that were not active before, or that concern the service at all."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for alert in stack.alerts():
                new = identity(alert) not in baseline or alert["labels"].get("service_id") == service_id
                if new and alert["state"] == "firing":
                    fired[identity(alert)] = alert
                elif new:
                    pending.add(alert["labels"]["alertname"])
            time.sleep(0.5)

    # Scale up by two; the new replicas take 12 s (12 scaled minutes), then 4 s, to become available:
    # longer than TIONEServiceReplicasMismatch's `for`, shorter than its "no change" window plus `for`.
    stack.simulator.set_service_status(region, service_id, "Normal", replicas=before + 2, ready=before)
    watch(12)
    stack.simulator.set_service_status(region, service_id, "Normal", replicas=before + 2, ready=before + 1)
    watch(4)
    stack.simulator.set_service_status(region, service_id, "Normal", replicas=before + 2, ready=before + 2)
    watch(11)

    span = "[40s]"
    assert stack.prometheus.query(f"max_over_time(tione_service_spec_replicas{selector}{span}) == {before + 2}")
    assert stack.prometheus.query(f"min_over_time(tione_service_status_replicas_available{selector}{span}) == {before}")
    assert stack.prometheus.query(f"tione_service_status_replicas_available{selector} == {before + 2}")
    assert fired == {}, f"a normal rollout of {service_id} fired alerts: {list(fired.values())}"

    stopped = {s["ServiceId"] for r in REGIONS for s in stack.services(r) if s["ServiceInfo"]["Replicas"] == 0}
    assert stopped, "the fleet has services deliberately stopped"
    assert not [a for a in stack.alerts() if a["labels"].get("service_id") in stopped]
    report(
        capsys,
        f"rollout of {service_id} from {before} to {before + 2} replicas over 16 s: nothing fired"
        f" (pending on the way: {sorted(pending) or 'none'})",
    )


def test_a_service_going_down_fires_the_down_alert_and_it_resolves(
    stack: Stack, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    region = REGIONS[1]
    service = next(
        s
        for s in stack.services(region)
        if s["Status"] == "Normal" and s["ServiceInfo"]["ScaleMode"] == "MANUAL" and s["ServiceInfo"]["Replicas"] >= 2
    )
    service_id, desired = service["ServiceId"], service["ServiceInfo"]["Replicas"]
    assert not stack.alerts(alertname="TIONEServiceDown", service_id=service_id)

    def firing() -> dict[str, Any] | None:
        alerts = stack.alerts(alertname="TIONEServiceDown", service_id=service_id)
        return next((alert for alert in alerts if alert["state"] == "firing"), None)

    changed = time.monotonic()
    stack.simulator.set_service_status(region, service_id, "Abnormal", ready=0)
    alert = wait_for(f"TIONEServiceDown firing for {service_id}", firing, timeout=30, interval=0.1)
    latency = time.monotonic() - changed
    record_property("down_alert_latency_seconds", round(latency, 2))
    report(capsys, f"TIONEServiceDown fired {latency:.1f} s after {service_id} went down (for: 2s, scrape 1s, poll 1s)")

    labels, annotations = alert["labels"], alert["annotations"]
    assert labels["severity"] == "critical"
    assert (labels["region"], labels["service_group_id"]) == (region, service["ServiceGroupId"])
    assert labels["job"] == "tione-exporter"
    group_name = service["ServiceGroupName"]
    model_name = service["ServiceInfo"]["ModelInfo"]["ModelName"]
    assert (labels["service_group_name"], labels["model_name"]) == (group_name, model_name)
    assert annotations["summary"] == f"TI-ONE service {group_name}/{service_id} ({model_name}) is down in {region}"
    assert f"wants {desired} replicas and has none available" in annotations["description"]
    assert annotations["runbook_url"] == "docs/runbooks.md#tioneservicedown"
    assert latency < 2 + 8, "poll, scrape, evaluation and `for` should take well under 10 s"

    restored = time.monotonic()
    stack.simulator.set_service_status(region, service_id, "Normal")
    wait_for(
        f"TIONEServiceDown for {service_id} to resolve",
        lambda: not stack.alerts(alertname="TIONEServiceDown", service_id=service_id),
        timeout=20,
        interval=0.1,
    )
    report(capsys, f"TIONEServiceDown resolved {time.monotonic() - restored:.1f} s after {service_id} came back")


def test_every_dashboard_query_and_recording_rule_returns_data(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # What some panels show only happens now and then; make it happen: a service short of replicas,
    # errors the client retries (one of them a rate limit), and one that fails a poll (of the listing: an
    # error of a secondary source's request does not fail the poll).
    region = REGIONS[1]
    short = next(s for s in stack.services(region) if s["Status"] == "Normal" and s["ServiceInfo"]["Replicas"] >= 2)
    stack.simulator.set_service_status(region, short["ServiceId"], "Abnormal")
    stack.simulator.inject("error=InternalError", 2)
    stack.simulator.inject("error=RequestLimitExceeded", 2)
    stack.simulator.inject("error=AuthFailure.SignatureFailure", 1, action="DescribeModelServiceGroups")
    prometheus = stack.prometheus
    for expr in (
        f'tione_service_status{{service_id="{short["ServiceId"]}", status="Abnormal"}} == 1',
        'tione_exporter_api_errors_total{code="InternalError"}',
        'tione_exporter_api_errors_total{code="RequestLimitExceeded"}',
        "tione_exporter_api_retries_total > 0",
        "tione_exporter_poll_errors_total > 0",
    ):
        wait_for(expr, lambda expr=expr: prometheus.query(expr), timeout=20)

    records = live_records()
    for record in records:
        wait_for(f"recording rule {record}", lambda record=record: prometheus.query(record), timeout=10)
    # The rate of a counter that just appeared needs a second scrape and an evaluation of the rule after it.
    limited = 'region_code:tione_exporter_api_errors:rate5m{code="RequestLimitExceeded"}'
    wait_for(limited, lambda: prometheus.query(limited), timeout=10)

    empty: list[str] = []
    for uid in ("tione-overview", "tione-exporter-health"):
        model = json.loads((DASHBOARDS / f"{uid}.json").read_text())
        empty += [
            f"{uid}: {line}"
            for line in empty_queries(stack.prometheus, model, {"account": ALL, "region": ALL}, wait=15.0)
        ]
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)

    # The drill-down, with its chained variables resolved the way Grafana does: some group (accounts and
    # services: All; this exporter polls one account, so `account` lists nothing) must fill every panel.
    model = json.loads((DASHBOARDS / "tione-service-group.json").read_text())
    account_selector, account_label = parse_label_values(dict(query_variables(model))["account"])
    assert prometheus.label_values(account_label, account_selector) == [], "one account: no `account` label"
    covered, misses = drill_down_group(prometheus, model, ALL)
    assert covered, f"no service group fills every drill-down panel: {misses}"
    report(capsys, f"{len(records)} recording rules and every dashboard query return data (drill-down: {covered})")
    stack.simulator.set_service_status(region, short["ServiceId"], "Normal")


def test_a_nearly_full_resource_group_fires_the_capacity_alert(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The simulator leaves `rg-gpu-prod` with less free than a replica of the services on it, which autoscale."""
    full = {
        (region, group["ResourceGroupId"])
        for region in REGIONS
        for group in stack.simulator.resource_groups(region)
        if group["ResourceGroupName"] == "rg-gpu-prod"
    }
    others = {
        (region, group["ResourceGroupId"])
        for region in REGIONS
        for group in stack.simulator.resource_groups(region)
        if group["ResourceGroupName"] != "rg-gpu-prod"
    }

    def firing() -> list[dict[str, Any]]:
        alerts = stack.alerts(alertname="TIONEResourceGroupNoRoomToScale")
        return [alert for alert in alerts if alert["state"] == "firing"]

    alerts = wait_for("TIONEResourceGroupNoRoomToScale firing", firing, timeout=30)
    where = {(alert["labels"]["region"], alert["labels"]["resource_group_id"]) for alert in alerts}
    assert where <= full and not where & others, where
    alert = alerts[0]
    assert alert["labels"]["severity"] == "warning"
    assert alert["labels"]["gpu_type"]
    assert alert["annotations"]["runbook_url"] == "docs/runbooks.md#tioneresourcegroupnoroomtoscale"
    free = stack.prometheus.query(
        "region_resource_group_id_gpu_type:tione_resource_group_free_gpus:max"
        f'{{resource_group_id="{alert["labels"]["resource_group_id"]}", gpu_type="{alert["labels"]["gpu_type"]}"}}'
    )
    assert free and float(free[0]["value"][1]) < float(alert["value"])
    report(
        capsys, f"TIONEResourceGroupNoRoomToScale fires for {sorted(where)}: nearly full, as the simulator leaves it"
    )


def test_a_pay_as_you_go_service_costs_its_replicas_times_its_price(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cost rule against the simulator's own price book: replicas x the discounted hourly price in yuan."""
    book = PriceBook()
    chosen = [
        (region, service)
        for region in REGIONS
        for group in stack.simulator.fleet(region)
        for service in group["Services"]
        if service["ChargeType"] == "POSTPAID_BY_HOUR"
        and service.get("DeployType") != "DIST"
        and (service["ServiceInfo"].get("Status") or {}).get("Replicas")
        and service["ServiceInfo"].get("InstanceType") in book.prices
    ]
    assert chosen, "the simulated fleet has running pay-as-you-go services"
    region, service = max(chosen, key=lambda pair: pair[1]["ServiceInfo"]["Status"]["Replicas"])
    replicas = service["ServiceInfo"]["Status"]["Replicas"]
    spec = service["ServiceInfo"]["InstanceType"]
    expected = replicas * book.prices[spec][1] / 100
    expr = (
        "region_service_group_id_service_id:tione_service_hourly_cost_yuan:sum"
        f'{{region="{region}", service_id="{service["ServiceId"]}"}}'
    )
    found = wait_for(expr, lambda: stack.prometheus.query(expr), timeout=20)
    assert float(found[0]["value"][1]) == pytest.approx(expected, rel=1e-12, abs=1e-9)
    total = wait_for(
        "the region's hourly cost",
        lambda: stack.prometheus.query(f'region:tione_hourly_cost_yuan:sum{{region="{region}"}}'),
        20,
    )
    assert float(total[0]["value"][1]) >= expected
    report(
        capsys, f"{service['ServiceId']}: {replicas} x {spec} at {book.prices[spec][1] / 100} yuan = {expected} yuan/h"
    )


def test_a_notebook_holding_gpus_for_days_fires_at_once(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """The simulator's notebook holding two A10 for four days: its start time is the API's, so no day of waiting."""
    region = REGIONS[0]
    (notebook,) = [n for n in stack.simulator.notebooks(region) if n["Name"] == "alice-exploration"]

    def firing() -> list[dict[str, Any]]:
        alerts = stack.alerts(alertname="TIONENotebookHoldingGPUs", region=region)
        return [alert for alert in alerts if alert["state"] == "firing"]

    alerts = wait_for("TIONENotebookHoldingGPUs firing", firing, timeout=40)
    assert {alert["labels"]["notebook_id"] for alert in alerts} == {notebook["Id"]}
    assert alerts[0]["labels"]["notebook_name"] == "alice-exploration"
    assert float(alerts[0]["value"]) > 4 * 24 * 3600 - 60
    report(
        capsys,
        f"TIONENotebookHoldingGPUs fires for {notebook['Id']} (held {float(alerts[0]['value']) / 86400:.1f} days)",
    )


def test_a_group_failing_a_fifth_of_its_calls_fires_the_error_ratio_alert(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every replica of the group available, a fifth of its calls failing: only Cloud Monitor says so."""
    region = REGIONS[0]
    group = next(
        g
        for g in stack.simulator.fleet(region, project_id="")
        if g["Services"] and all(s["Status"] == "Normal" for s in g["Services"])
    )
    group_id = group["ServiceGroupId"]
    stack.simulator.set_traffic(region, group_id, Traffic(calls_per_second=10, errors_per_second=2, response_ms=80))

    def firing() -> dict[str, Any] | None:
        alerts = stack.alerts(alertname="TIONEServiceGroupErrorRatioHigh", service_group_id=group_id)
        return next((alert for alert in alerts if alert["state"] == "firing"), None)

    try:
        alert = wait_for(f"TIONEServiceGroupErrorRatioHigh firing for {group_id}", firing, timeout=40, interval=0.2)
    finally:
        stack.simulator.set_traffic(region, group_id, None)
    labels = alert["labels"]
    assert (labels["region"], labels["service_group_name"]) == (region, group["ServiceGroupName"])
    assert float(alert["value"]) == pytest.approx(0.2)
    assert alert["annotations"]["runbook_url"] == "docs/runbooks.md#tioneservicegrouperrorratiohigh"
    assert not stack.alerts(alertname="TIONEServiceDown", service_group_id=group_id)
    report(capsys, f"TIONEServiceGroupErrorRatioHigh fired for {group_id} (20% of calls failing, replicas all up)")
