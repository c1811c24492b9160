"""Helpers for the end-to-end tests: free loopback ports, child processes that always die, the exporter and
Prometheus started as the tests run them, a small client of Prometheus' HTTP API, a time-scaled copy
of the alert rules, the whole stack (simulator, exporter, Prometheus with the rules) as one context, and
the dashboards' queries run against it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from exporter.simulator import SimulatorServer
from grafana.queries import panel_queries, parse_label_values, query_variables, substitute
from tests.conftest import REPO, exporter_command, require_tool, tree_environment

T = TypeVar("T")

_DURATION = re.compile(r"^(\d+)([smhd])$")
_RANGE = re.compile(r"\[(\d+)([smhd])\]")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

RULES = REPO / "deploy" / "prometheus" / "rules"
DASHBOARDS = REPO / "grafana" / "dashboards"
TIME_FACTOR = 60
"""The alert rules' `for` durations and range windows are divided by this: seconds instead of minutes."""
GRAFANA_GLOBALS = {"__rate_interval": "5s", "__interval": "1s", "__range": "2m"}
"""What Grafana would put in for its own variables, given Prometheus scraping every second."""
ALL = ".*"


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """A child process whose output goes to a log file, stopped (and if need be killed) by `stop()`."""

    def __init__(self, name: str, args: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        self._file = log.open("wb")
        self.popen = subprocess.Popen(
            list(args), stdout=self._file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        self._file.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 5 seconds; returns the exit code."""
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._file.close()
        return self.popen.returncode


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.2) -> T:
    """Call `probe` until it returns something other than None/False/empty; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except (httpx.HTTPError, OSError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last error: {last_error!r})")
        time.sleep(interval)


class PrometheusAPI:
    """The few calls of Prometheus' HTTP API the tests need."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10.0)

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = self.client.get(path, params=params)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def ready(self) -> bool:
        return self.client.get("/-/ready").status_code == 200

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr} if at is None else {"query": expr, "time": at}
        data = self._get("/api/v1/query", params)
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, seconds: float, step: str = "1s") -> list[dict[str, Any]]:
        end = time.time()
        data = self._get("/api/v1/query_range", {"query": expr, "start": end - seconds, "end": end, "step": step})
        result: list[dict[str, Any]] = data["result"]
        return result

    def label_values(self, label: str, selector: str | None) -> list[str]:
        params = {"match[]": selector} if selector else None
        values: list[str] = self._get(f"/api/v1/label/{label}/values", params)
        return values

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts, pending and firing."""
        alerts: list[dict[str, Any]] = self._get("/api/v1/alerts")["alerts"]
        return alerts

    def rule_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self._get("/api/v1/rules")["groups"]
        return groups

    def target_health(self) -> list[str]:
        return [target["health"] for target in self._get("/api/v1/targets")["activeTargets"]]


def _scaled(amount: int, unit: str, factor: int) -> str:
    return f"{max(1, amount * _SECONDS[unit] // factor)}s"


def time_scaled_rules(source: Path, target: Path, factor: int) -> None:
    """Copy a rule file with every `for` and every range window divided by `factor` (at least 1s).

    Dividing both keeps each alert's logic (a window of "no change" followed by a pending period) while
    a test waits seconds instead of minutes. Thresholds on values (e.g. seconds since a poll) stay.
    """
    document = yaml.safe_load(source.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                match = _DURATION.match(str(rule["for"]))
                if match is None:
                    raise ValueError(f"cannot scale `for: {rule['for']}` of {rule.get('alert')}")
                rule["for"] = _scaled(int(match.group(1)), match.group(2), factor)
            rule["expr"] = _RANGE.sub(lambda m: f"[{_scaled(int(m.group(1)), m.group(2), factor)}]", rule["expr"])
    target.write_text(yaml.safe_dump(document, sort_keys=False))


def stop_all(processes: Sequence[Process]) -> None:
    for process in reversed(processes):
        with contextlib.suppress(OSError):
            process.stop()


def exporter_process(
    name: str,
    endpoint: str,
    regions: Sequence[str],
    address: str,
    log: Path,
    credentials: Mapping[str, str],
    extra: Sequence[str] = (),
) -> Process:
    """`tione-exporter run` of this tree polling `endpoint` every second, serving on `address`, with any
    `extra` flags; only the given TENCENTCLOUD_* variables and none of the caller's TIONE_EXPORTER_* reach it."""
    env = tree_environment(
        {k: v for k, v in os.environ.items() if not k.startswith(("TIONE_EXPORTER_", "TENCENTCLOUD_"))}
    )
    arguments = [
        "--tione.endpoint",
        endpoint,
        "--monitor.endpoint",
        endpoint,
        # Cloud Monitor every second (the budget allows it here): traffic planted in the simulator shows at once.
        "--monitor.interval",
        "1s",
        "--monitor.max-requests-per-month",
        "1000000000",
        "--monitor.rate-limit",
        "100",
        "--tione.regions",
        ",".join(regions),
        "--poll.interval",
        "1s",
    ]
    command = [*exporter_command(), "run", *arguments, *extra, "--web.listen-address", address]
    return Process(name, command, log, env | dict(credentials))


def prometheus_process(name: str, binary: str, config: Mapping[str, Any], directory: Path) -> tuple[Process, str]:
    """Prometheus with `config` (written to `directory`), its data in `directory`; the process and its URL."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "prometheus.yml").write_text(yaml.safe_dump(dict(config)))
    address = f"127.0.0.1:{free_port()}"
    arguments = [
        binary,
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address={address}",
        "--log.level=warn",
    ]
    return Process(name, arguments, directory / f"{name}.log"), f"http://{address}"


@dataclass
class Stack:
    """The simulator, the exporter polling it and Prometheus scraping the exporter with the shipped rules."""

    simulator: SimulatorServer
    prometheus: PrometheusAPI
    processes: list[Process]
    rules_dir: Path

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log}) ---\n{p.tail()}" for p in self.processes)

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """Active alerts (pending or firing) whose labels include `labels`."""
        return [a for a in self.prometheus.alerts() if all(a["labels"].get(k) == v for k, v in labels.items())]

    def services(self, region: str, account: str | None = None) -> list[dict[str, Any]]:
        """The services of the region's default workspace (of a hosted `account`, or the simulator's own)."""
        groups = self.simulator.fleet(region, project_id="", account=account)
        return [service for group in groups for service in group["Services"]]


@contextlib.contextmanager
def running_stack(
    tmp: Path,
    simulator: SimulatorServer,
    credentials: Mapping[str, str],
    regions: Sequence[str],
    settled: tuple[str, Callable[[PrometheusAPI], bool]],
    extra: Sequence[str] = (),
) -> Iterator[Stack]:
    """Start the exporter (`extra` flags) against the started `simulator` and Prometheus with the alert rules
    time-scaled and the recording rules as shipped; ready once the target is up, `settled` (what, probe)
    holds and every rule group has been evaluated. Everything stops on exit."""
    prometheus_bin = require_tool("prometheus")
    rules_dir = tmp / "rules"
    rules_dir.mkdir()
    time_scaled_rules(RULES / "tione-alerts.yml", rules_dir / "tione-alerts.yml", TIME_FACTOR)
    shutil.copy(RULES / "tione-recording.yml", rules_dir / "tione-recording.yml")
    processes: list[Process] = []
    prometheus: PrometheusAPI | None = None
    try:
        exporter_address = f"127.0.0.1:{free_port()}"
        log = tmp / "exporter.log"
        processes.append(
            exporter_process("exporter", simulator.url, regions, exporter_address, log, credentials, extra)
        )
        prometheus_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules_dir / "tione-alerts.yml"), str(rules_dir / "tione-recording.yml")],
            "scrape_configs": [{"job_name": "tione-exporter", "static_configs": [{"targets": [exporter_address]}]}],
        }
        process, url = prometheus_process("prometheus", prometheus_bin, prometheus_config, tmp)
        processes.append(process)
        prometheus = PrometheusAPI(url)
        built = Stack(simulator, prometheus, processes, rules_dir)
        api = prometheus
        try:
            wait_for("Prometheus to be ready", api.ready, timeout=20)
            wait_for("the exporter target to be up", lambda: api.target_health() == ["up"], timeout=20)
            wait_for(settled[0], lambda: settled[1](api), timeout=20)
            wait_for(
                "every rule group to be evaluated",
                lambda: all(not g["lastEvaluation"].startswith("0001") for g in api.rule_groups()),
                timeout=10,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{built.logs()}") from None
        yield built
    finally:
        if prometheus is not None:
            prometheus.close()
        stop_all(processes)


def returns_data(prometheus: PrometheusAPI, expr: str, instant: bool) -> list[dict[str, Any]]:
    """The series an instant query answers, or a range query over the last 20 s (empty: no data)."""
    if instant:
        return prometheus.query(expr)
    return prometheus.query_range(expr, seconds=20)


def live_records() -> list[str]:
    """The recording rules that record something against the simulator within a test's minutes: all but the
    idle-GPU ones, which read a rule of the user's (tione:service_gpu_utilisation:ratio) over 3 hours and are
    proven by their promtool tests (deploy/prometheus/tests/idle_gpus_test.yml)."""
    return [
        rule["record"]
        for group in yaml.safe_load((RULES / "tione-recording.yml").read_text())["groups"]
        if group["name"] != "tione.recording.idle_gpus"
        for rule in group["rules"]
    ]


def empty_queries(
    prometheus: PrometheusAPI,
    model: dict[str, Any],
    values: dict[str, str],
    wait: float = 0.0,
    check: Callable[[list[dict[str, Any]]], str | None] | None = None,
) -> list[str]:
    """The panel queries that return no data, each given up to `wait` seconds to return some: under load a
    scrape or a rule evaluation can land late, and one slow round must not fail the whole dashboard.
    `check` looks at the series of each query that has data and returns what is wrong with them, if anything
    (reported as well)."""
    variables = values | GRAFANA_GLOBALS
    empty = []
    for q in panel_queries(model):
        expr = substitute(q.expr, variables)
        deadline = time.monotonic() + wait
        while not (found := returns_data(prometheus, expr, q.instant)):
            if time.monotonic() >= deadline:
                empty.append(f"{q.panel} [{q.ref}]: {expr}")
                break
            time.sleep(0.5)
        problem = check(found) if found and check is not None else None
        if problem:
            empty.append(f"{q.panel} [{q.ref}]: {expr}: {problem}")
    return empty


def drill_down_group(
    prometheus: PrometheusAPI,
    model: dict[str, Any],
    account: str,
    check: Callable[[list[dict[str, Any]]], str | None] | None = None,
) -> tuple[tuple[str, str] | None, dict[str, list[str]]]:
    """The (region, service group) for which every panel of the drill-down `model` has data, its chained
    variables resolved the way Grafana does (`account` given, services: All), or None; and the queries each
    group tried left empty. Under load one round of queries can miss a scrape: before giving up, the groups
    that came closest get every query its own wait."""
    chain = dict(query_variables(model))
    misses: dict[str, list[str]] = {}
    listed: dict[str, list[str]] = {}
    region_selector, region_label = parse_label_values(chain["region"])
    for region in prometheus.label_values(region_label, substitute(region_selector or "", {"account": account})):
        selector, label = parse_label_values(chain["service_group_id"])
        where = {"account": account, "region": region}
        groups = prometheus.label_values(label, substitute(selector or "", where))
        listed[region] = groups
        assert groups, f"no service group listed for {region} (account {account})"
        for group in groups:
            selector, label = parse_label_values(chain["service_id"])
            values = where | {"service_group_id": group}
            assert prometheus.label_values(label, substitute(selector or "", values)), f"no service in {group}"
            missing = empty_queries(prometheus, model, values | {"service_id": ALL}, check=check)
            if not missing:
                return (region, group), misses
            misses[group] = missing
    for group in sorted(misses, key=lambda g: len(misses[g]))[:3]:
        region = next(r for r, groups in listed.items() if group in groups)
        values = {"account": account, "region": region, "service_group_id": group, "service_id": ALL}
        misses[group] = empty_queries(prometheus, model, values, wait=15.0, check=check)
        if not misses[group]:
            return (region, group), misses
    return None, misses
