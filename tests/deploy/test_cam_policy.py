"""deploy/cam-policy.json: least privilege, read-only, and covering every action the exporter calls."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO

POLICY = REPO / "deploy" / "cam-policy.json"
EXPECTED = {
    "tione:DescribeModelServiceGroups",
    "tione:DescribeWorkspaces",
    "tione:DescribeEvents",
    "tione:DescribeBillingResourceGroups",
    "tione:DescribeTrainingTasks",
    "tione:DescribeNotebooks",
    "tione:DescribeBillingSpecsPrice",
    "monitor:GetMonitorData",
    "monitor:DescribeBaseMetrics",
}
MONITOR_ACTIONS = {"GetMonitorData", "DescribeBaseMetrics"}
"""Cloud Monitor's actions: granted under `monitor:`, every other action the exporter names under `tione:`."""


def actions() -> set[str]:
    policy = json.loads(POLICY.read_text())
    assert policy["version"] == "2.0"
    assert all(statement["effect"] == "allow" for statement in policy["statement"])
    return {action for statement in policy["statement"] for action in statement["action"]}


def test_policy_grants_exactly_the_read_actions_of_the_exporter() -> None:
    granted = actions()
    assert granted == EXPECTED
    # no wildcard, no write
    assert all(re.fullmatch(r"tione:Describe[A-Za-z]+|monitor:(Get|Describe)[A-Za-z]+", action) for action in granted)


def test_policy_covers_every_action_the_exporter_calls() -> None:
    """Every `Action` named in the exporter's API code (the simulator aside) is granted."""
    called = {
        match
        for path in (REPO / "exporter").rglob("*.py")
        if "simulator" not in path.parts
        for match in re.findall(r"\"((?:Describe|GetMonitor)[A-Z][A-Za-z]+)\"", path.read_text())
    }
    assert {"DescribeModelServiceGroups", "GetMonitorData"} <= called
    product = {action: "monitor" if action in MONITOR_ACTIONS else "tione" for action in called}
    assert {f"{product[action]}:{action}" for action in called} <= actions()
