"""`tione-exporter simulate` as a real process: serves on loopback, stops cleanly on a signal, refuses bad flags."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from exporter.simulator import ACTION, VERSION
from tests.conftest import REPO

URL = re.compile(r"url=(http://\S+)")
HEADERS = {"X-TC-Region": "ap-guangzhou", "X-TC-Action": ACTION, "X-TC-Version": VERSION}


@contextmanager
def serving(*flags: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """Start the simulator on a free port; yield the process, its URL and the stderr lines read so far."""
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter.simulator", "--listen", "127.0.0.1:0", *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if URL.search(line):
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(20), "".join(lines)
        match = next(URL.search(line) for line in lines if URL.search(line))
        assert match is not None
        yield process, match.group(1), lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        reader.join(5)


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, float]:
    started = time.monotonic()
    process.send_signal(sig)
    code = process.wait(10)
    return code, time.monotonic() - started


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_stops_on_a_signal(sig: int) -> None:
    with serving("--groups", "7", "--regions", "ap-guangzhou,ap-nanjing", "--no-churn") as (process, url, lines):
        answer = httpx.post(url, content=b'{"Limit": 100}', headers=HEADERS, timeout=10).json()["Response"]
        assert answer["GlobalTotalCount"] == 7
        nanjing = httpx.post(url, content=b"{}", headers={**HEADERS, "X-TC-Region": "ap-nanjing"}, timeout=10)
        assert "Error" not in nanjing.json()["Response"]
        code, took = stop(process, sig)
        assert code == 0 and took < 5
    start_lines = [line for line in lines if "url=" in line]
    assert len(start_lines) == 1
    assert "regions=ap-guangzhou,ap-nanjing" in start_lines[0] and "groups=7" in start_lines[0]
    assert not any("Traceback" in line for line in lines)


def test_flags_shape_the_server_and_secrets_stay_out_of_the_log() -> None:
    env = {"TIONE_SIMULATOR_SECRET_ID": "AKIDfromenv", "TIONE_SIMULATOR_SECRET_KEY": "key-from-env-42"}
    flags = ("--seed", "9", "--rate-limit", "2", "--latency", "50ms", "--churn-interval", "100ms", "--fault", "empty:0")
    with serving(*flags, env=env) as (process, url, lines):
        unsigned = httpx.post(url, content=b"{}", headers=HEADERS, timeout=10).json()["Response"]
        assert unsigned["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
        started = time.monotonic()
        limited = httpx.post(url, content=b"{}", headers=HEADERS, timeout=10).json()["Response"]
        assert time.monotonic() - started >= 0.05
        assert limited["Error"]["Code"] in ("AuthFailure.InvalidAuthorization", "RequestLimitExceeded")
        third = httpx.post(url, content=b"{}", headers=HEADERS, timeout=10).json()["Response"]
        assert third["Error"]["Code"] == "RequestLimitExceeded"
        assert stop(process)[0] == 0
    log = "".join(lines)
    assert "key-from-env-42" not in log and "signature=required" in log and "seed=9" in log


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (["--groups", "many"], "--groups"),
        (["--latency", "soon"], "--latency"),
        (["--churn-interval", "0s"], "--churn-interval"),
        (["--fault", "meteor:0.1"], "meteor"),
        (["--fault", "http500:7"], "between 0 and 1"),
        (["--rate-limit", "-3"], "--rate-limit"),
        (["--listen", "localhost"], "--listen"),
        (["--secret-id", "AKIDalone"], "--secret-key"),
        (["--no-such-flag"], "--no-such-flag"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(flags: list[str], complaint: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter.simulator", *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={key: value for key, value in os.environ.items() if not key.startswith("TIONE_SIMULATOR_")},
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and complaint in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_busy_port_is_one_line_and_exit_1() -> None:
    with serving("--groups", "1", "--no-churn") as (process, url, _):
        port = url.rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, "-m", "exporter.simulator", "--listen", f"127.0.0.1:{port}", "--groups", "1"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in result.stderr
        stop(process)


def test_the_exporter_command_dispatches_to_the_simulator() -> None:
    """`tione-exporter simulate ...` is this command (checked through `python -m exporter`)."""
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "simulate", "--groups", "lots"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("tione-exporter simulate: error: argument --groups"), result.stderr
    help_result = subprocess.run(
        [sys.executable, "-m", "exporter", "simulate", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert help_result.returncode == 0 and "--churn-interval" in help_result.stdout
