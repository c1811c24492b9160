"""The extra Cloud Monitor metrics end to end: the simulator's test-only per-service metric named in
`monitor.metrics` (with one the namespace does not offer), through `once`, `check` and a running
exporter's /metrics, over loopback HTTP."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.simulator.monitor import TEST_METRIC
from exporter.simulator.server import SimulatorServer
from exporter.tione import monitor
from exporter.tione import monitor_api as api
from tests.conftest import require_tool, signed_simulator
from tests.integration.test_cli_commands import environment, run
from tests.integration.test_exporter_simulator import running_exporter, value
from tests.integration.test_traffic_exporter import fleet

REGION = "ap-guangzhou"
FAMILY = "tione_monitor_simulated_test_gpu_util"
MISSING = "NoSuchMetricAnywhere"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with signed_simulator((REGION,), groups=0, seed=5, monitor_rate_limit=None, monitor_test_metric=True) as server:
        yield server


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "exporter.yml"
    path.write_text(f"monitor:\n  metrics: [{TEST_METRIC}, {MISSING}]\n")
    return path


def running_services(sim: SimulatorServer, running: list[str]) -> set[tuple[str, str]]:
    return {
        (group["ServiceGroupId"], service["ServiceId"])
        for group in sim.fleet(REGION)
        if group["ServiceGroupId"] in running
        for service in group["Services"]
        if service["Status"] == "Normal"
    }


def extra_requests(sim: SimulatorServer, metric: str) -> list[dict[str, object]]:
    return [r.body for r in sim.requests if r.action == api.GET_MONITOR_DATA and r.body.get("MetricName") == metric]


def test_once_exports_the_test_metric_per_service_and_asks_nothing_for_a_missing_one(
    sim: SimulatorServer, config: Path
) -> None:
    running, _ = fleet(sim)
    services = running_services(sim, running)
    sim.clear_requests()
    result = run(
        ["once", "--tione.regions", REGION, "--events.max-services", "0", "--config.file", str(config)],
        environment(sim),
    )
    assert result.returncode == 0, result.stderr
    families = {family.name: family for family in parse_text(result.stdout)}
    gpu = families[FAMILY]
    assert gpu.type == "gauge" and "unit: %" in gpu.documentation and TEST_METRIC in gpu.documentation
    assert {(s.labels["service_group_id"], s.labels["service_id"]) for s in gpu.samples} == services
    assert all(set(s.labels) == {"region", "service_group_id", "service_id"} for s in gpu.samples)
    assert all(20 <= s.value <= 95 and s.labels["region"] == REGION for s in gpu.samples)
    assert not [name for name in families if "no_such" in name]
    names = list(families)
    assert names.index("tione_service_group_monitor_period_end_timestamp_seconds") < names.index(FAMILY)
    assert names.index(FAMILY) < names.index("tione_exporter_monitor_interval_seconds")
    asked = extra_requests(sim, TEST_METRIC)
    assert len(asked) == math.ceil(len(services) / api.MAX_INSTANCES) and not extra_requests(sim, MISSING)
    for body in asked:
        instances = body["Instances"]
        assert isinstance(instances, list) and 0 < len(instances) <= api.MAX_INSTANCES
        assert all({d["Name"] for d in item["Dimensions"]} == {"ServiceGroupId", "ServiceId"} for item in instances)
    warnings = [line for line in result.stderr.splitlines() if MISSING in line]
    assert len(warnings) == 1 and "level=warn" in warnings[0] and "not offered by QCE/TI_MODEL" in warnings[0]
    promtool = require_tool("promtool")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=result.stdout, capture_output=True, text=True, check=False
    )
    assert "error" not in (checked.stdout + checked.stderr).lower(), checked.stdout + checked.stderr


def test_check_says_which_extra_metrics_are_exported_and_which_cannot_be(sim: SimulatorServer, config: Path) -> None:
    fleet(sim)
    result = run(["check", "--tione.regions", REGION, "--config.file", str(config)], environment(sim))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert f"    monitor.metrics {TEST_METRIC}: exported as {FAMILY} (dimensions ServiceGroupId,ServiceId)" in lines
    assert any(line.startswith(f"    monitor.metrics {MISSING}: NOT ASKED, not offered") for line in lines)
    assert any(line.startswith(f"    {TEST_METRIC} (%; periods") for line in lines)


async def test_a_running_exporter_serves_the_test_metric_and_budgets_its_requests(
    sim: SimulatorServer, config: Path
) -> None:
    running, _ = fleet(sim)
    services = running_services(sim, running)
    per_collection = 4 * math.ceil(len(running) / 10) + math.ceil(len(services) / 10)
    budget = per_collection * monitor.SECONDS_PER_MONTH // 5  # one collection every 5 s at most
    flags = {
        "--config.file": str(config),
        "--monitor.interval": "500ms",
        "--monitor.max-requests-per-month": str(budget),
        "--monitor.rate-limit": "100",
        "--poll.timeout": "2s",
        "--poll.interval": "2500ms",
    }
    async with running_exporter(sim, (REGION,), **flags) as run_:
        samples = await run_.wait_for(lambda s: any(name == FAMILY for name, _ in s), "the test metric's series")
        logs = run_.logs.getvalue()
    found = {(dict(ls)["service_group_id"], dict(ls)["service_id"]) for name, ls in samples if name == FAMILY}
    assert found == services
    interval = value(samples, "tione_exporter_monitor_interval_seconds", region=REGION)
    assert interval is not None and interval == pytest.approx(monitor.SECONDS_PER_MONTH * per_collection / budget)
    month = value(samples, "tione_exporter_monitor_requests_per_month", region=REGION)
    assert month is not None and month <= budget and month == pytest.approx(budget, rel=1e-6)
    assert sum(MISSING in line for line in logs.splitlines()) == 1
    assert not extra_requests(sim, MISSING)
