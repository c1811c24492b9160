"""deploy/cam-policy.json: least privilege, read-only, and covering every action the exporter calls; the
only other grant is assuming the exporter's roles in other accounts (YAML `accounts`), whose trust policy
is deploy/cam-trust-policy.json."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO

POLICY = REPO / "deploy" / "cam-policy.json"
TRUST = REPO / "deploy" / "cam-trust-policy.json"
ASSUME_ROLE = "sts:AssumeRole"
ROLE_NAME = "tione-exporter"
"""The role name the docs ask each read account to create; the policy lets the exporter assume only it."""
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


def statements() -> list[dict[str, object]]:
    policy = json.loads(POLICY.read_text())
    assert policy["version"] == "2.0"
    assert all(statement["effect"] == "allow" for statement in policy["statement"])
    return list(policy["statement"])


def actions() -> set[str]:
    """The read actions: every statement's but the one that assumes roles."""
    return {action for s in statements() for action in s["action"] if action != ASSUME_ROLE}  # type: ignore[attr-defined]


def test_assuming_roles_is_granted_alone_and_only_on_the_exporters_roles() -> None:
    assuming = [s for s in statements() if ASSUME_ROLE in s["action"]]  # type: ignore[operator]
    assert len(assuming) == 1 and assuming[0]["action"] == [ASSUME_ROLE]
    resources = assuming[0]["resource"]
    assert resources and all(
        re.fullmatch(rf"qcs::cam::uin/(\*|[0-9]+):roleName/{ROLE_NAME}", r)
        for r in resources  # type: ignore[attr-defined]
    )


def test_the_trust_policy_lets_one_account_assume_the_role_with_an_external_id() -> None:
    trust = json.loads(TRUST.read_text())
    assert trust["version"] == "2.0"
    (statement,) = trust["statement"]
    assert (statement["effect"], statement["action"]) == ("allow", "name/sts:AssumeRole")
    (principal,) = statement["principal"]["qcs"]
    assert re.fullmatch(r"qcs::cam::uin/[0-9]+:root", principal)
    assert set(statement["condition"]["string_equal"]) == {"sts:external_id"}


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
