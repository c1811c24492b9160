"""Two replicas give the answers of one, on real Prometheus processes: one simulator, polled by one exporter
scraped by one Prometheus and by two exporters scraped by another. The second Prometheus labels its two
targets as the Prometheus operator does with the manifests' relabelling (the same `instance`, a `pod` of
their own), so every series reaches it twice, differing only in `pod`.

Every dashboard query about the fleet answers the same on both; every rule evaluates without error on the
pair; every alert fires once. Queries about the exporter processes themselves (their API traffic, poll
timings, scrape targets) measure the processes and differ by nature: they only have to answer.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from exporter.simulator import SimulatorConfig, SimulatorServer
from grafana.queries import panel_queries, substitute
from tests.conftest import require_tool
from tests.e2e.stack import (
    DASHBOARDS,
    GRAFANA_GLOBALS,
    RULES,
    Process,
    PrometheusAPI,
    exporter_process,
    free_port,
    prometheus_process,
    stop_all,
    time_scaled_rules,
    wait_for,
)

pytestmark = pytest.mark.e2e

REGIONS = ("ap-guangzhou", "ap-shanghai")
SECRET_ID = "AKIDe2eLoopbackOnly0000000000000001"
SECRET_KEY = "e2e-loopback-only-secret-key-001"  # a key only the loopback simulator accepts
REPLICA_LABELS = ("pod", "instance")
PROCESS_SERIES = re.compile(r"\btione_exporter_\w+|\bup\{|\bscrape_duration_seconds\b|\btime\(\)")
OWN_INTERVAL_SERIES = re.compile(
    r"hourly_cost_yuan|tione_gpus:sum|training_task|notebook|requests_per_second|response_time_seconds|monitor_"
)
"""Holders and prices are read every `--holders.interval` and `--prices.interval` (minutes), and Cloud
Monitor's latest complete period is the one before each collection's own moment: two stacks started apart
hold different readings of a churning fleet for a while, so these queries only have to answer here (their
replica reduction is held by the promtool tests, every series duplicated)."""
"""What measures the exporter processes (their API calls and polls, scrape targets, the age of their data):
two processes do twice the work, at their own moments."""
EXPORTER_ALERTS_GROUP = "tione.exporter"


@dataclass
class Pair:
    simulator: SimulatorServer
    one: PrometheusAPI
    two: PrometheusAPI
    processes: list[Process]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log}) ---\n{p.tail()}" for p in self.processes)


def _scrape_config(targets: list[str], *, as_pods: bool) -> dict[str, Any]:
    job: dict[str, Any] = {"job_name": "tione-exporter", "static_configs": [{"targets": targets}]}
    if as_pods:
        # What the ServiceMonitor gives two pods of one Deployment: `pod` their own, `instance` shared.
        job["relabel_configs"] = [
            {"source_labels": ["__address__"], "target_label": "pod"},
            {"target_label": "instance", "replacement": "tione-exporter"},
        ]
    return job


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    prometheus_bin = require_tool("prometheus")
    tmp = tmp_path_factory.mktemp("replicas")
    rules_dir = tmp / "rules"
    rules_dir.mkdir()
    time_scaled_rules(RULES / "tione-alerts.yml", rules_dir / "tione-alerts.yml", 60)
    shutil.copy(RULES / "tione-recording.yml", rules_dir / "tione-recording.yml")
    rule_files = [str(rules_dir / "tione-alerts.yml"), str(rules_dir / "tione-recording.yml")]

    config = SimulatorConfig(groups=6, regions=REGIONS, churn=False, secret_id=SECRET_ID, secret_key=SECRET_KEY)
    simulator = SimulatorServer(config)
    simulator.start()
    credentials = {"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}
    processes: list[Process] = []
    apis: list[PrometheusAPI] = []
    try:
        addresses = [f"127.0.0.1:{free_port()}" for _ in range(3)]
        for number, address in enumerate(addresses):
            log = tmp / f"exporter-{number}.log"
            processes.append(exporter_process(f"exporter-{number}", simulator.url, REGIONS, address, log, credentials))
        for name, targets, as_pods in (("one", addresses[:1], False), ("two", addresses[1:], True)):
            prometheus_config = {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": rule_files,
                "scrape_configs": [_scrape_config(targets, as_pods=as_pods)],
            }
            process, url = prometheus_process(f"prometheus-{name}", prometheus_bin, prometheus_config, tmp / name)
            processes.append(process)
            apis.append(PrometheusAPI(url))
        built = Pair(simulator, apis[0], apis[1], processes)
        try:
            for api, targets in ((apis[0], 1), (apis[1], 2)):
                wait_for("Prometheus to be ready", api.ready, timeout=20)
                wait_for(f"{targets} targets up", lambda api=api, n=targets: api.target_health() == ["up"] * n, 20)
                wait_for(
                    "service series from both regions",
                    lambda api=api: len(api.query("count by (region) (tione_service_status)")) == len(REGIONS),
                    timeout=20,
                )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{built.logs()}") from None
        yield built
    finally:
        for api in apis:
            api.close()
        stop_all(processes)
        simulator.stop()


def _answer(api: PrometheusAPI, expr: str, at: float) -> list[tuple[tuple[tuple[str, str], ...], str]]:
    """The instant answer at `at`, each series without the labels that tell replicas apart, sorted."""
    return sorted(
        (
            tuple(sorted((k, v) for k, v in sample["metric"].items() if k not in REPLICA_LABELS)),
            f"{float(sample['value'][1]):.6g}",
        )
        for sample in api.query(expr, at)
    )


def _dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL template) of every panel query of the three dashboards."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        model = json.loads(path.read_text())
        for query in panel_queries(model):
            found.append((f"{model['uid']}/{query.panel} [{query.ref}]", query.expr))
    return found


def _rule_errors(api: PrometheusAPI) -> list[str]:
    return [
        f"{rule['name']}: {rule.get('lastError')}"
        for group in api.rule_groups()
        for rule in group["rules"]
        if rule["health"] != "ok" or rule.get("lastError")
    ]


def _fleet_alerts(api: PrometheusAPI) -> list[str]:
    """Active alerts on the fleet (the exporter's own group left out), each as its labels without those of
    a replica; a duplicate shows up twice."""
    exporter_alerts = {
        rule["name"] for group in api.rule_groups() if group["name"] == EXPORTER_ALERTS_GROUP for rule in group["rules"]
    }
    return sorted(
        json.dumps({k: v for k, v in alert["labels"].items() if k not in REPLICA_LABELS}, sort_keys=True)
        for alert in api.alerts()
        if alert["labels"]["alertname"] not in exporter_alerts
    )


def test_two_replicas_give_the_dashboards_rules_and_alerts_of_one(pair: Pair) -> None:
    # Something to see: one service down (and Abnormal), which the service alerts and several panels show.
    region = REGIONS[1]
    down = next(
        s
        for group in pair.simulator.fleet(region, project_id="")
        for s in group["Services"]
        if s["Status"] == "Normal" and s["ServiceInfo"]["Replicas"] >= 2
    )
    pair.simulator.set_service_status(region, down["ServiceId"], "Abnormal", ready=0)
    wait_for(
        "the down service alerting on both",
        lambda: all(
            api.query(f'ALERTS{{alertname="TIONEServiceDown", service_id="{down["ServiceId"]}"}}')
            for api in (pair.one, pair.two)
        ),
        timeout=30,
    )
    # Let both see the same history: the change, a few polls, a few evaluations after it.
    time.sleep(8)

    group_id = down["ServiceGroupId"]
    values = {"account": ".*", "region": region, "service_group_id": group_id, "service_id": ".*"} | GRAFANA_GLOBALS
    compared, differing, process_queries = 0, [], 0
    for _attempt in range(5):
        at = time.time() - 2
        differing = []
        compared = process_queries = 0
        for where, template in _dashboard_queries():
            expr = substitute(template, {**values, "region": region if "$service_group_id" in template else ".*"})
            one, two = _answer(pair.one, expr, at), _answer(pair.two, expr, at)  # an error fails here
            if PROCESS_SERIES.search(expr) or OWN_INTERVAL_SERIES.search(expr):
                process_queries += 1
                continue
            compared += 1
            if one != two:
                differing.append(f"{where}: {expr}\n  one exporter: {one}\n  two replicas: {two}")
        if not differing:
            break
        time.sleep(2)  # one Prometheus may have been a scrape behind the other
    assert compared >= 30, compared
    assert process_queries >= 10, process_queries
    assert not differing, "dashboard answers differ with two replicas:\n" + "\n".join(differing)

    assert not _rule_errors(pair.two), _rule_errors(pair.two)
    assert not _rule_errors(pair.one), _rule_errors(pair.one)
    alerts_two = _fleet_alerts(pair.two)
    assert len(alerts_two) == len(set(alerts_two)), f"an alert fires once per replica: {alerts_two}"
    wait_for("the same alerts on both", lambda: _fleet_alerts(pair.one) == _fleet_alerts(pair.two), timeout=15)
    assert any("TIONEServiceDown" in alert for alert in alerts_two)

    records = [
        rule["name"] for group in pair.two.rule_groups() for rule in group["rules"] if rule["type"] == "recording"
    ]
    at = time.time() - 2
    fleet_records = [name for name in records if "tione_exporter_" not in name and not OWN_INTERVAL_SERIES.search(name)]
    for name in fleet_records:
        assert _answer(pair.one, name, at) == _answer(pair.two, name, at), name
    pair.simulator.set_service_status(region, down["ServiceId"], "Normal")
