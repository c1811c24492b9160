"""The installed command as users run it: a subprocess talking to the simulator over loopback.

Checks exit codes, what goes to standard output versus standard error, promtool's verdict on the
exposition, a clean stop on SIGTERM, and the demo serving metrics that move.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.simulator.server import SimulatorServer
from exporter.tione import monitor_api as api
from exporter.tione.holders import NOTEBOOK_UNFINISHED, TRAINING_UNFINISHED
from tests.conftest import REPO, exporter_command, require_tool, signed_simulator, tree_environment
from tests.unit.test_web_config import PEM

REGIONS = ("ap-guangzhou", "ap-shanghai")
COMMAND = exporter_command()


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with signed_simulator(REGIONS, groups=8) as server:
        yield server


def environment(simulator: SimulatorServer | None = None, **extra: str) -> dict[str, str]:
    """The test's environment without any Tencent Cloud or exporter settings, plus the simulator's keys; a
    child `python -m exporter` imports this tree."""
    env = tree_environment(
        {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "TIONE_EXPORTER_", "TKE_"))}
    )
    env["HOME"] = str(REPO / "tests" / "fixtures")  # no credentials file of the user's
    if simulator is not None:
        assert simulator.config.secret_id is not None and simulator.config.secret_key is not None
        env["TENCENTCLOUD_SECRET_ID"] = simulator.config.secret_id
        env["TENCENTCLOUD_SECRET_KEY"] = simulator.config.secret_key
        env["TIONE_EXPORTER_TIONE_ENDPOINT"] = simulator.url
        env["TIONE_EXPORTER_MONITOR_ENDPOINT"] = simulator.url
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_once_prints_only_the_exposition_and_promtool_accepts_it(simulator: SimulatorServer) -> None:
    result = run(["once", "--tione.regions", ",".join(REGIONS)], environment(simulator))
    assert result.returncode == 0, result.stderr
    families = {family.name: family for family in parse_text(result.stdout)}
    assert {"tione_service_status", "tione_service_group_info", "tione_up", "tione_exporter_polls"} <= set(families)
    ups = {s.labels["region"]: s.value for s in families["tione_up"].samples}
    assert ups == dict.fromkeys(REGIONS, 1.0)
    assert "poll finished" in result.stderr
    promtool = require_tool("promtool")  # only for the last check: the ones above run without it
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=result.stdout, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout + lint.stderr == ""


def test_once_openmetrics_is_valid_openmetrics(simulator: SimulatorServer) -> None:
    """promtool (2.x) reads only the text format: OpenMetrics is validated by the reference parser."""
    result = run(["once", "--format", "openmetrics", "--tione.regions", REGIONS[0]], environment(simulator))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("# EOF\n")
    assert result.stdout.count("# EOF") == 1
    families = {family.name: family for family in parse_openmetrics(result.stdout)}
    assert families["tione_exporter_polls"].type == "counter"
    assert families["tione_service_status"].type == "gauge"


def test_once_with_a_failing_region_exits_1_and_still_prints(simulator: SimulatorServer) -> None:
    result = run(
        ["once", "--tione.regions", f"{REGIONS[0]},ap-nowhere", "--log.format", "json"], environment(simulator)
    )
    assert result.returncode == 1
    assert 'tione_up{region="ap-nowhere"} 0.0' in result.stdout
    assert 'tione_up{region="ap-guangzhou"} 1.0' in result.stdout
    failures = [json.loads(line) for line in result.stderr.splitlines() if '"poll failed"' in line]
    assert len(failures) == 1
    assert failures[0]["region"] == "ap-nowhere"
    assert failures[0]["code"] == "UnsupportedRegion"
    assert failures[0]["request_id"]


def test_once_with_bad_configuration_exits_2(simulator: SimulatorServer) -> None:
    result = run(["once", "--tione.regions", REGIONS[0], "--poll.interval", "5x"], environment(simulator))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == 'tione-exporter: --poll.interval: invalid duration "5x"\n'


NO_MONITOR = {"TIONE_EXPORTER_MONITOR_MAX_REQUESTS_PER_MONTH": "0"}
"""Cloud Monitor off, for the tests of other sources' `check` lines (its own lines are tested apart)."""
OFFERED = (*api.GROUP_METRICS, api.SUCCESSES)
"""What the simulator's `QCE/TI_MODEL` lists (without the test-only metric)."""


def test_check_reports_each_region(simulator: SimulatorServer) -> None:
    result = run(["check", "--tione.regions", ",".join(REGIONS)], environment(simulator))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("    ")]
    assert [line.split(":")[0] for line in lines] == list(REGIONS)
    for line, region in zip(lines, REGIONS, strict=True):
        count = len(simulator.fleet(region, ""))
        workspaces = len(simulator.workspaces(region))
        capacity = len(simulator.resource_groups(region))
        tasks = sum(task["Status"] in TRAINING_UNFINISHED for task in simulator.training_tasks(region, ""))
        notebooks = sum(notebook["Status"] in NOTEBOOK_UNFINISHED for notebook in simulator.notebooks(region, ""))
        assert line == (
            f"{region}: ok ({workspaces} workspaces, {count} service groups in the default workspace, "
            f"{capacity} resource groups, {tasks} unfinished training tasks in the default workspace, "
            f"{notebooks} unfinished notebooks in the default workspace, DescribeBillingSpecsPrice permitted, "
            f"{len(OFFERED)} QCE/TI_MODEL metrics, DescribeEvents permitted)"
        )
    details = [line.strip() for line in result.stdout.splitlines() if line.startswith("    ")]
    projections = [line for line in details if line.startswith("Cloud Monitor:")]
    assert len(projections) == len(REGIONS) and all("requests a month" in line for line in projections)
    assert {line.split(" ")[0] for line in details if line not in projections} == set(OFFERED)


def test_check_warns_when_workspaces_cannot_be_listed(simulator: SimulatorServer) -> None:
    simulator.deny("DescribeWorkspaces")
    try:
        off = ["--capacity.interval", "0", "--holders.interval", "0", "--prices.interval", "0"]
        result = run(["check", "--tione.regions", REGIONS[0], *off], environment(simulator, **NO_MONITOR))
    finally:
        simulator.allow("DescribeWorkspaces")
    assert result.returncode == 0, result.stdout + result.stderr
    ok, warning = result.stdout.splitlines()
    assert (
        ok
        == f"{REGIONS[0]}: ok ({len(simulator.fleet(REGIONS[0], ''))} service groups in the default workspace, DescribeEvents permitted)"
    )
    assert warning.startswith(f"{REGIONS[0]}: warning: DescribeWorkspaces is not permitted: UnauthorizedOperation")
    assert "the default workspace" in warning


def test_once_reads_the_resource_groups_whatever_their_interval(simulator: SimulatorServer) -> None:
    result = run(["once", "--tione.regions", REGIONS[0], "--capacity.interval", "1h"], environment(simulator))
    assert result.returncode == 0, result.stderr
    families = {family.name: family for family in parse_text(result.stdout)}
    nodes = {s.labels["resource_group_id"]: s.value for s in families["tione_resource_group_nodes"].samples}
    assert nodes == {g["ResourceGroupId"]: g["TotalInstance"] for g in simulator.resource_groups(REGIONS[0])}
    off = run(["once", "--tione.regions", REGIONS[0], "--capacity.interval", "0"], environment(simulator))
    assert off.returncode == 0, off.stderr
    assert "tione_resource_group_" not in off.stdout
    assert 'action="DescribeBillingResourceGroups"' not in off.stdout


def test_check_warns_when_the_keys_may_not_read_capacity(simulator: SimulatorServer) -> None:
    simulator.deny("DescribeBillingResourceGroups")
    try:
        flags = ["check", "--tione.regions", REGIONS[0], "--tione.discovery-interval", "0"]
        result = run(
            [*flags, "--holders.interval", "0", "--prices.interval", "0"], environment(simulator, **NO_MONITOR)
        )
    finally:
        simulator.allow("DescribeBillingResourceGroups")
    assert result.returncode == 0, result.stdout + result.stderr
    ok, warning = result.stdout.splitlines()
    assert (
        ok
        == f"{REGIONS[0]}: ok ({len(simulator.fleet(REGIONS[0], ''))} service groups in the default workspace, DescribeEvents permitted)"
    )
    assert warning.startswith(
        f"{REGIONS[0]}: warning: DescribeBillingResourceGroups is not permitted: UnauthorizedOperation"
    )


def test_check_warns_when_the_events_are_not_permitted(simulator: SimulatorServer) -> None:
    """The Warning events are optional: a key without `tione:DescribeEvents` passes, with a warning line."""
    simulator.deny("DescribeEvents")
    try:
        result = run(["check", "--tione.regions", REGIONS[0]], environment(simulator, **NO_MONITOR))
        off = run(
            ["check", "--tione.regions", REGIONS[0], "--events.max-services", "0"], environment(simulator, **NO_MONITOR)
        )
    finally:
        simulator.allow("DescribeEvents")  # the simulator serves the module's other tests
    assert result.returncode == 0, result.stderr
    ok, warning = result.stdout.splitlines()
    assert ok.startswith(f"{REGIONS[0]}: ok (") and "DescribeEvents" not in ok
    assert warning.startswith(f"{REGIONS[0]}: warning: DescribeEvents is not permitted: UnauthorizedOperation")
    assert off.stdout.splitlines() == [ok]


def test_check_warns_when_cloud_monitor_is_not_permitted(simulator: SimulatorServer) -> None:
    simulator.deny(api.DESCRIBE_BASE_METRICS, "AuthFailure.UnauthorizedOperation")
    try:
        result = run(["check", "--tione.regions", REGIONS[0], "--events.max-services", "0"], environment(simulator))
    finally:
        simulator.allow(api.DESCRIBE_BASE_METRICS)
    assert result.returncode == 0, result.stdout + result.stderr
    ok, warning = result.stdout.splitlines()
    assert ok.startswith(f"{REGIONS[0]}: ok (") and "QCE/TI_MODEL" not in ok
    assert warning.startswith(
        f"{REGIONS[0]}: warning: GetMonitorData is not permitted: AuthFailure.UnauthorizedOperation"
    )
    assert "no Cloud Monitor series" in warning


def test_check_with_a_failing_region_exits_1(simulator: SimulatorServer) -> None:
    result = run(["check", "--tione.regions", f"{REGIONS[0]},ap-nowhere"], environment(simulator, **NO_MONITOR))
    assert result.returncode == 1
    ok, failed = result.stdout.splitlines()
    assert ok.startswith(f"{REGIONS[0]}: ok")
    assert re.fullmatch(r"ap-nowhere: UnsupportedRegion: .+ \(RequestId [0-9a-f-]+\)", failed)


def test_check_with_wrong_credentials_names_the_code_and_hides_the_key(simulator: SimulatorServer) -> None:
    wrong_key = secrets.token_urlsafe(24)
    env = environment(simulator, TENCENTCLOUD_SECRET_KEY=wrong_key)
    result = run(["check", "--tione.regions", REGIONS[0]], env)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{REGIONS[0]}: AuthFailure.SignatureFailure: ")
    assert wrong_key not in result.stdout + result.stderr


def test_check_with_bad_configuration_exits_2(simulator: SimulatorServer) -> None:
    result = run(["check"], environment(simulator))
    assert result.returncode == 2
    assert result.stderr.startswith("tione-exporter: --tione.regions: no region to poll")
    env = environment(simulator, TIONE_EXPORTER_API_RATE_LIMIT="0")
    result = run(["check", "--tione.regions", REGIONS[0]], env)
    assert result.returncode == 2
    assert result.stderr == 'tione-exporter: TIONE_EXPORTER_API_RATE_LIMIT: must be a positive number, not "0"\n'


def test_version_and_help() -> None:
    version = run(["--version"], environment())
    assert version.returncode == 0
    assert re.fullmatch(r"tione-exporter \d+\.\d+\.\d+\n", version.stdout)
    assert run(["--help"], environment()).stdout.startswith("usage: tione-exporter")


def test_the_command_the_tests_run_is_this_tree(tmp_path: Path) -> None:
    """Spawned from another directory, the exporter the tests run imports `exporter` from this repository,
    ahead of any other copy on the path (here a decoy that would exit 3; an installed one comes later still,
    in site-packages). Python's verbose import log names every file it loads."""
    assert [sys.executable, "-m", "exporter"] == COMMAND
    decoy = tmp_path / "decoy" / "exporter"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit(3)\n")
    (decoy / "__main__.py").write_text("raise SystemExit(3)\n")
    env = tree_environment(environment() | {"PYTHONPATH": str(decoy.parent), "PYTHONVERBOSE": "1"})
    result = subprocess.run(
        [*COMMAND, "--version"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = {Path(path) for path in re.findall(r"(/\S+/exporter/(?:__init__|__main__|cli)\.py)\b", result.stderr)}
    assert {path.name for path in loaded} == {"__init__.py", "__main__.py", "cli.py"}, loaded
    assert {path.parent for path in loaded} == {REPO / "exporter"}, loaded


def wait_for_line(process: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    """Read the process's stream line by line until one matches (the stream is `process.stdout`)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    process.kill()
    raise AssertionError(f"no line matching {pattern!r} in {seen}")


def test_run_serves_and_stops_cleanly_on_sigterm(simulator: SimulatorServer) -> None:
    args = ["run", "--tione.regions", REGIONS[0], "--web.listen-address", "127.0.0.1:0", "--poll.interval", "1s"]
    process = subprocess.Popen(
        [*COMMAND, *args], env=environment(simulator), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        # logs go to standard error; read them as the process's "stdout" for wait_for_line
        process.stdout = process.stderr
        address = wait_for_line(process, r"msg=serving address=(\S+)", 15).group(1)
        deadline = time.monotonic() + 15
        while httpx.get(f"http://{address}/-/ready").status_code != 200:
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.05)
        assert "tione_up" in httpx.get(f"http://{address}/metrics").text
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_run_on_a_busy_port_exits_1_with_one_plain_line(simulator: SimulatorServer) -> None:
    busy = simulator.url.removeprefix("http://")
    result = run(["--tione.regions", REGIONS[0], "--web.listen-address", busy], environment(simulator))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"tione-exporter: --web.listen-address: cannot listen on {busy}: Address already in use\n"


# --- loose ends a newcomer hits --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "once"])
def test_each_command_has_its_own_help(command: str) -> None:
    result = run([command, "--help"], environment())
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: tione-exporter {command} ")
    assert "exit codes: 0 ok, 1 a region failed, 2 bad configuration" in result.stdout
    assert "--tione.regions LIST" in result.stdout
    assert "--demo" not in result.stdout  # the general help's, not this command's
    assert ("--format text|openmetrics" in result.stdout) == (command == "once")


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"], ["--version"]])
def test_a_reader_that_closes_early_ends_quietly_with_141(args: list[str]) -> None:
    """`--help | head` when head has gone: a pipe whose reading end is closed before anything is written."""
    reading, writing = os.pipe()
    os.close(reading)
    try:
        result = subprocess.run(
            [*COMMAND, *args],
            env=environment(),
            stdout=writing,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(writing)
    assert (result.returncode, result.stderr) == (141, "")


def test_a_mistyped_environment_variable_is_warned_about_by_name(simulator: SimulatorServer) -> None:
    env = environment(
        simulator,
        TIONE_EXPORTER_POLL_INTERVALL="1m",
        TIONE_EXPORTER_METRICS_EXCLUDE="tione_service_info",
        TIONE_EXPORTER_LOG_FORMAT="json",
    )
    result = run(["check", "--tione.regions", REGIONS[0]], env)
    assert result.returncode == 0, result.stderr
    warnings = [json.loads(line)["msg"] for line in result.stderr.splitlines() if '"level":"warn"' in line]
    assert warnings == [
        "environment variable TIONE_EXPORTER_METRICS_EXCLUDE is ignored: metrics.exclude is set in the "
        "--config.file only",
        "unknown environment variable TIONE_EXPORTER_POLL_INTERVALL is ignored "
        "(did you mean TIONE_EXPORTER_POLL_INTERVAL?)",
    ]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_check_says_it_is_retrying_an_unreachable_endpoint() -> None:
    """check retries for 15 s: a line about the retries arrives long before its verdict."""
    env = environment(
        TENCENTCLOUD_SECRET_ID="AKID" + "x" * 32,
        TENCENTCLOUD_SECRET_KEY="k" * 32,
        TIONE_EXPORTER_TIONE_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
        TIONE_EXPORTER_MONITOR_MAX_REQUESTS_PER_MONTH="0",
    )
    process = subprocess.Popen(
        [*COMMAND, "check", "--tione.regions", REGIONS[0]],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        process.stdout = process.stderr  # the log is on standard error
        started = time.monotonic()
        match = wait_for_line(process, r"msg=retrying region=(\S+) action=(\S+) code=(\S+) retry=1", 10)
        assert time.monotonic() - started < 10
        assert match.groups() == (REGIONS[0], "DescribeWorkspaces", "NetworkError")
        assert process.poll() is None  # still retrying: the line is progress, not the verdict
    finally:
        process.kill()
        process.wait()


def test_once_logs_each_retry_then_its_verdict() -> None:
    env = environment(
        TENCENTCLOUD_SECRET_ID="AKID" + "x" * 32,
        TENCENTCLOUD_SECRET_KEY="k" * 32,
        TIONE_EXPORTER_TIONE_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
        TIONE_EXPORTER_MONITOR_MAX_REQUESTS_PER_MONTH="0",
    )
    args = ["once", "--tione.regions", REGIONS[0], "--poll.interval", "3s", "--poll.timeout", "2s"]
    result = run([*args, "--log.format", "json"], env)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    retries = [line for line in lines if line["msg"] == "retrying"]
    assert retries, result.stderr
    assert {(line["region"], line["code"]) for line in retries} == {(REGIONS[0], "NetworkError")}
    first = {line["action"]: line["retry"] for line in reversed(retries)}
    assert set(first.values()) == {1}
    assert lines.index(retries[-1]) < next(i for i, line in enumerate(lines) if line["msg"] == "poll failed")


# --- hostile configuration ---------------------------------------------------------------------------------


def test_a_60_mb_config_file_and_a_fifo_each_exit_2_with_one_line(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as file:  # sparse: only the size is ever looked at
        file.write(b"tione:\n  project-ids: [p1, p2]\n")
        file.truncate(60_000_000)
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    for path, problem in ((huge, f"{huge.stat().st_size} bytes is too large"), (fifo, "not a regular file")):
        result = run(["check", "--config.file", str(path)], environment(), timeout=10)
        assert result.returncode == 2
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith(f"tione-exporter: --config.file {path}: {problem}")


@pytest.mark.timeout(30)
def test_run_with_a_fifo_or_device_as_web_config_exits_2_with_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "web.fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        args = ["run", "--tione.regions", REGIONS[0], "--web.listen-address", "127.0.0.1:0", "--web.config.file", path]
        result = run(args, environment(), timeout=10)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [f"tione-exporter: --web.config.file {path}: not a regular file"]


def test_a_catastrophic_exclude_pattern_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text('tione: {regions: ap-guangzhou}\nmetrics:\n  exclude: ["(\\\\w+)+!", "(\\\\w|\\\\w)*!"]\n')
    result = run(["run", "--config.file", str(path), "--web.listen-address", "127.0.0.1:0"], environment(), timeout=10)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f'tione-exporter: metrics.exclude (in {path}): regular expression "(\\w+)+!" has a repetition inside a '
        'repetition (like "(a+)+"), which can take exponential time to match; write it without the nesting'
    ]


def parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in parse_text(text) for s in f.samples}


def test_demo_serves_changing_metrics_within_ten_seconds() -> None:
    started = time.monotonic()
    process = subprocess.Popen(
        [*COMMAND, "--demo", "--web.listen-address", "127.0.0.1:0"],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    polls = ("tione_exporter_polls_total", (("region", "ap-guangzhou"),))
    try:
        url = wait_for_line(process, r"metrics\s+(http://\S+)", 10).group(1)
        first: dict[tuple[str, tuple[tuple[str, str], ...]], float] | None = None
        while time.monotonic() - started < 10:
            response = httpx.get(url)
            if response.status_code == 200:
                samples = parsed(response.text)
                if first is None and samples.get(polls) == 1.0:
                    first = samples
                elif first is not None and samples.get(polls, 0) >= 2.0:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the demo did not poll twice within 10 seconds")
        assert first is not None
        changed = {key for key in first.keys() | samples.keys() if first.get(key) != samples.get(key)}
        fleet_changes = {name for name, _ in changed if not name.startswith(("tione_exporter_", "tione_up"))}
        assert fleet_changes, "the simulated fleet did not change between two polls"
        # The incidents are on the page and in the JSON: a creation that failed, a stop for arrears.
        attention = httpx.get(url.replace("/metrics", "/api/v1/attention")).json()["services"]
        reasons = {row["reason"] for row in attention if row["region"] == "ap-guangzhou"}
        assert {"CREATE_FAILED", "ARREARS_STOP"} <= reasons, reasons
        assert "Needs attention" in httpx.get(url.replace("/metrics", "/")).text
        capacity = {labels: v for (name, labels), v in samples.items() if name == "tione_resource_group_capacity_gpus"}
        used = {labels: v for (name, labels), v in samples.items() if name == "tione_resource_group_used_gpus"}
        assert any(cards - used.get(labels, 0) < 1 for labels, cards in capacity.items()), "no nearly full group"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_demo_refuses_a_flag_it_would_override() -> None:
    result = subprocess.run(
        [*COMMAND, "--demo", "--tione.regions", "ap-beijing"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 2
    assert "--tione.regions cannot be used with --demo" in result.stderr


def test_run_with_a_web_config_serves_https_with_basic_auth(simulator: SimulatorServer, tmp_path: Path) -> None:
    for name, text in PEM.items():
        (tmp_path / name).write_text(text)
    hashed = bcrypt.hashpw(b"scrape-secret", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prom: {hashed}\n"
    )
    args = ["--tione.regions", REGIONS[0], "--web.listen-address", "127.0.0.1:0", "--web.config.file", str(web)]
    process = subprocess.Popen(
        [*COMMAND, *args], env=environment(simulator), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        process.stdout = process.stderr
        match = wait_for_line(process, r"msg=serving address=(\S+) scheme=(\S+) basic_auth=(\S+)", 15)
        address, scheme, basic_auth = match.groups()
        assert (scheme, basic_auth) == ("https", "true")
        verify = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        with httpx.Client(base_url=f"https://{address}", verify=verify, timeout=5) as client:
            assert client.get("/metrics").status_code == 401
            deadline = time.monotonic() + 15
            while "tione_up" not in (response := client.get("/metrics", auth=("prom", "scrape-secret"))).text:
                assert time.monotonic() < deadline, "no metrics over https"
                time.sleep(0.1)
            assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_check_warns_when_the_keys_may_not_read_training_tasks(simulator: SimulatorServer) -> None:
    simulator.deny("DescribeTrainingTasks")
    try:
        flags = ["check", "--tione.regions", REGIONS[0], "--tione.discovery-interval", "0", "--capacity.interval", "0"]
        result = run(flags, environment(simulator, **NO_MONITOR))
    finally:
        simulator.allow("DescribeTrainingTasks")
    assert result.returncode == 0, result.stdout + result.stderr
    ok, warning = result.stdout.splitlines()
    assert ok.startswith(f"{REGIONS[0]}: ok (") and "unfinished notebooks in the default workspace" in ok
    assert warning == (
        f"{REGIONS[0]}: warning: DescribeTrainingTasks is not permitted: UnauthorizedOperation: "
        + warning.split("UnauthorizedOperation: ", 1)[1]
    )
    assert warning.endswith("; no unfinished training tasks and no unattributed GPUs")


def test_once_collects_cloud_monitor_once(simulator: SimulatorServer) -> None:
    simulator.clear_requests()
    result = run(["once", "--tione.regions", REGIONS[0], "--events.max-services", "0"], environment(simulator))
    assert result.returncode == 0, result.stderr
    families = {family.name: family for family in parse_text(result.stdout)}
    calls = families["tione_service_group_requests_per_second"].samples
    assert calls and all(sample.value >= 0 for sample in calls)
    (interval,) = families["tione_exporter_monitor_interval_seconds"].samples
    assert interval.value >= 60.0
    asked = [r for r in simulator.requests if r.action == api.GET_MONITOR_DATA]
    groups = {item["Dimensions"][0]["Value"] for r in asked for item in r.body["Instances"]}
    assert len(asked) == len(api.GROUP_METRICS) * -(-len(groups) // api.MAX_INSTANCES)
