"""`tione-exporter simulate --incidents --deny ACTION` as a real process."""

from __future__ import annotations

import signal
from typing import Any

import httpx

from exporter.simulator import VERSION
from tests.integration.test_simulator_command import serving, stop


def post(url: str, action: str, body: bytes = b"{}") -> Any:
    headers = {"X-TC-Region": "ap-guangzhou", "X-TC-Action": action, "X-TC-Version": VERSION}
    return httpx.post(url, content=body, headers=headers, timeout=10).json()["Response"]


def test_incidents_and_denials_from_the_command_line() -> None:
    flags = ("--groups", "5", "--no-churn", "--incidents", "--deny", "DescribeWorkspaces")
    with serving(*flags) as (process, url, lines):
        assert post(url, "DescribeWorkspaces")["Error"]["Code"] == "UnauthorizedOperation"
        groups = post(url, "DescribeModelServiceGroups", b'{"Limit": 100}')
        assert groups["GlobalTotalCount"] == 5 + 4  # the incidents are extra groups
        statuses = {service["Status"] for group in groups["ServiceGroups"] for service in group["Services"]}
        assert {"Pending", "Abnormal", "CREATE_FAILED"} <= statuses
        assert len(post(url, "DescribeBillingResourceGroups")["ResourceGroupSet"]) == 3
        code, _ = stop(process, signal.SIGTERM)
        assert code == 0
    start = next(line for line in lines if "url=" in line)
    assert "incidents=on" in start and "denied=DescribeWorkspaces" in start
