"""deploy/cam-policy.json: least privilege, read-only, and covering every action the exporter calls."""

from __future__ import annotations

import json
import re

from exporter.tione import monitor_api
from tests.conftest import REPO

POLICY = REPO / "deploy" / "cam-policy.json"
# The listing today; workspace discovery, Warning events and resource-group capacity are being added.
EXPECTED = {
    "tione:DescribeModelServiceGroups",
    "tione:DescribeWorkspaces",
    "tione:DescribeEvents",
    "tione:DescribeBillingResourceGroups",
    "monitor:GetMonitorData",
    "monitor:DescribeBaseMetrics",
}


def actions() -> set[str]:
    policy = json.loads(POLICY.read_text())
    assert policy["version"] == "2.0"
    assert all(statement["effect"] == "allow" for statement in policy["statement"])
    return {action for statement in policy["statement"] for action in statement["action"]}


def test_policy_grants_exactly_the_read_actions_of_the_exporter() -> None:
    granted = actions()
    assert granted == EXPECTED
    # no wildcard, no write: TI-ONE's Describe actions and Cloud Monitor's two reads
    assert all(
        re.fullmatch(r"tione:Describe[A-Za-z]+|monitor:(GetMonitorData|DescribeBaseMetrics)", action)
        for action in granted
    )


def test_policy_covers_every_action_the_exporter_calls() -> None:
    """Every `Action` named in the exporter's API code (the simulator aside) is granted."""
    called = {
        match
        for path in (REPO / "exporter").rglob("*.py")
        if "simulator" not in path.parts
        for match in re.findall(r"\"(Describe[A-Z][A-Za-z]+)\"", path.read_text())
    }
    assert "DescribeModelServiceGroups" in called
    monitor_actions = set(monitor_api.ACTIONS)
    assert {f"tione:{action}" for action in called - monitor_actions} <= actions()
    assert {f"monitor:{action}" for action in monitor_actions} <= actions()
