"""Helpers for the end-to-end tests: free loopback ports, child processes that always die, the exporter and
Prometheus started as the tests run them, a small client of Prometheus' HTTP API, and a time-scaled copy
of the alert rules."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from tests.conftest import exporter_command, tree_environment

T = TypeVar("T")

_DURATION = re.compile(r"^(\d+)([smhd])$")
_RANGE = re.compile(r"\[(\d+)([smhd])\]")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
    name: str, endpoint: str, regions: Sequence[str], address: str, log: Path, credentials: Mapping[str, str]
) -> Process:
    """`tione-exporter run` of this tree polling `endpoint` every second, serving on `address`; only the
    given TENCENTCLOUD_* variables and none of the caller's TIONE_EXPORTER_* reach it."""
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
    command = [*exporter_command(), "run", *arguments, "--web.listen-address", address]
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
