"""End to end on a real Prometheus with several accounts: the simulator hosting `prod` and `staging`, one
`tione-exporter run` reading both through STS roles (YAML `accounts`), and `prometheus` with the shipped
alert rules (time-scaled) and recording rules.

The two accounts are copies of one template: the same seed, so the same regions, group and service ids,
names, resource groups and notebooks, told apart by their uins only. Whatever a rule or a dashboard joins
or sums without `account` mixes them, and the tests below see it: each account's sums are its own fleet's,
an alert planted in one account names it and not the other, every dashboard query has data with `$account`
All and with one account, and its series carry `account`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.simulator import AccountConfig, SimulatorServer, Traffic
from grafana.queries import parse_label_values, query_variables
from tests.conftest import signed_simulator
from tests.e2e.stack import (
    ALL,
    DASHBOARDS,
    Stack,
    drill_down_group,
    empty_queries,
    live_records,
    running_stack,
    wait_for,
)

pytestmark = pytest.mark.e2e

REGIONS = ("ap-guangzhou", "ap-shanghai")
SEED = 11
ACCOUNTS = (
    AccountConfig("prod", seed=SEED, groups=5),
    AccountConfig("staging", seed=SEED, groups=5, uin="100077770042"),
)
NAMES = tuple(account.name for account in ACCOUNTS)
Check = Callable[[list[dict[str, Any]]], str | None]


def accounts_file(directory: Path, simulator: SimulatorServer) -> Path:
    path = directory / "accounts.yaml"
    entries = [{"name": name, "role-arn": simulator.role_arn(name)} for name in NAMES]
    path.write_text(yaml.safe_dump({"accounts": entries}))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e-accounts")
    with signed_simulator(REGIONS, groups=2, seed=SEED, accounts=ACCOUNTS) as simulator:
        config = simulator.config
        assert config.secret_id is not None and config.secret_key is not None
        credentials = {"TENCENTCLOUD_SECRET_ID": config.secret_id, "TENCENTCLOUD_SECRET_KEY": config.secret_key}
        extra = ["--config.file", str(accounts_file(tmp, simulator)), "--sts.endpoint", simulator.url]
        targets = len(NAMES) * len(REGIONS)
        settled = (
            "service series of every account and region",
            lambda api: len(api.query("count by (account, region) (tione_service_status)")) == targets,
        )
        with running_stack(tmp, simulator, credentials, REGIONS, settled, extra) as built:
            yield built


def services(stack: Stack, region: str, account: str) -> list[dict[str, Any]]:
    """Every service of the account's region, in every workspace (the exporter polls all of them)."""
    return [s for group in stack.simulator.fleet(region, None, account=account) for s in group["Services"]]


def scalar(stack: Stack, expr: str) -> float | None:
    found = stack.prometheus.query(expr)
    return float(found[0]["value"][1]) if found else None


def firing(stack: Stack, **labels: str) -> list[dict[str, Any]]:
    return [alert for alert in stack.alerts(**labels) if alert["state"] == "firing"]


def test_the_accounts_are_copies_told_apart_by_their_uins(stack: Stack) -> None:
    """The premise: the same ids in both accounts, each account's series under its own label and uin."""
    for region in REGIONS:
        ids = [{s["ServiceId"] for s in services(stack, region, name)} for name in NAMES]
        assert ids[0] == ids[1] != set()
    info = {(r["metric"]["account"], r["metric"]["uin"]) for r in stack.prometheus.query("tione_account_info == 1")}
    from_arns = {(name, re.findall(r"uin/(\d+):", stack.simulator.role_arn(name))[0]) for name in NAMES}
    assert info == from_arns == {(name, stack.simulator.account_uin(name)) for name in NAMES}
    assert len({uin for _, uin in info}) == len(NAMES)
    shared = stack.prometheus.query("count by (region, service_id) (tione_service_info) == 2")
    assert len(shared) == sum(len(services(stack, region, NAMES[0])) for region in REGIONS)


def test_the_recording_rules_sum_each_account_alone(stack: Stack) -> None:
    """A service of prod scaled up by three: prod's desired replicas grow by three, staging's stay its own."""
    region = REGIONS[0]
    service = next(
        s
        for s in services(stack, region, "prod")
        if s["Status"] == "Normal" and s["ServiceInfo"]["ScaleMode"] == "MANUAL" and s["ServiceInfo"]["Replicas"]
    )
    replicas = service["ServiceInfo"]["Replicas"] + 3
    stack.simulator.set_service_status(
        region, service["ServiceId"], "Normal", replicas=replicas, ready=replicas, account="prod"
    )
    desired = {name: sum(s["ServiceInfo"]["Replicas"] for s in services(stack, region, name)) for name in NAMES}
    assert desired["prod"] == desired["staging"] + 3

    def sums() -> dict[str, float | None]:
        rule = "region:tione_service_spec_replicas:sum"
        return {name: scalar(stack, f'{rule}{{account="{name}", region="{region}"}}') for name in NAMES}

    wait_for(f"each account's desired replicas {desired}", lambda: sums() == desired, timeout=20)
    for name in NAMES:
        statuses: dict[str, int] = {}
        for s in services(stack, region, name):
            statuses[s["Status"]] = statuses.get(s["Status"], 0) + 1
        counted = stack.prometheus.query(f'region_status:tione_services:count{{account="{name}", region="{region}"}}')
        assert {r["metric"]["status"]: int(float(r["value"][1])) for r in counted} == statuses, name


def test_an_alert_planted_in_one_account_names_it_and_not_the_other(stack: Stack) -> None:
    """Staging's copy of a service goes down and prod's copy of a group fails a fifth of its calls: each
    alert fires for its own account only, although the ids are the same in both."""
    region = REGIONS[1]
    down = next(
        s
        for s in services(stack, region, "staging")
        if s["Status"] == "Normal" and s["ServiceInfo"]["ScaleMode"] == "MANUAL" and s["ServiceInfo"]["Replicas"] >= 2
    )
    group = next(
        g
        for g in stack.simulator.fleet(region, None, account="prod")
        if g["Services"]
        and all(s["Status"] == "Normal" for s in g["Services"])
        and g["ServiceGroupId"] != down["ServiceGroupId"]
    )
    service_id, group_id = down["ServiceId"], group["ServiceGroupId"]
    stack.simulator.set_service_status(region, service_id, "Abnormal", ready=0, account="staging")
    traffic = Traffic(calls_per_second=10, errors_per_second=2, response_ms=80)
    stack.simulator.set_traffic(region, group_id, traffic, account="prod")
    try:
        (alert,) = wait_for(
            "TIONEServiceDown firing in staging",
            lambda: firing(stack, alertname="TIONEServiceDown", service_id=service_id),
            timeout=30,
        )
        (ratio,) = wait_for(
            "TIONEServiceGroupErrorRatioHigh firing in prod",
            lambda: firing(stack, alertname="TIONEServiceGroupErrorRatioHigh", service_group_id=group_id),
            timeout=40,
        )
        assert not stack.alerts(alertname="TIONEServiceDown", service_id=service_id, account="prod")
        ratio_alerts = stack.alerts(alertname="TIONEServiceGroupErrorRatioHigh", service_group_id=group_id)
        assert [a["labels"]["account"] for a in ratio_alerts] == ["prod"]
    finally:
        stack.simulator.set_service_status(region, service_id, "Normal", account="staging")
        stack.simulator.set_traffic(region, group_id, None, account="prod")
    assert (alert["labels"]["account"], alert["labels"]["region"]) == ("staging", region)
    assert alert["annotations"]["summary"].endswith(f"is down in {region} (account staging)")
    assert (ratio["labels"]["account"], ratio["labels"]["region"]) == ("prod", region)
    assert float(ratio["value"]) == pytest.approx(0.2)
    assert not stack.alerts(alertname="TIONEServiceDown", account="prod", service_id=service_id)


def labelled(accounts: set[str]) -> Check:
    """A series that keeps `region` keeps `account` too (a panel may sum `account` away only with `region`),
    and every `account` shown is one of `accounts`."""

    def check(found: list[dict[str, Any]]) -> str | None:
        for series in found:
            labels = series["metric"]
            if "region" in labels and labels.get("account") not in accounts:
                return f"a series without an account of {sorted(accounts)}: {labels}"
            if "account" in labels and labels["account"] not in accounts:
                return f"a series of another account: {labels}"
        return None

    return check


def make_the_rare_panels_show(stack: Stack, account: str) -> None:
    """A service short of replicas in `account`, and errors the client retries (one a rate limit) and one
    failing a poll: injected faults meet whichever account asks next, so again until `account` has met them."""
    region = REGIONS[1]
    short = next(
        s for s in services(stack, region, account) if s["Status"] == "Normal" and s["ServiceInfo"]["Replicas"] >= 2
    )
    stack.simulator.set_service_status(region, short["ServiceId"], "Abnormal", account=account)
    where = f'account="{account}"'
    faults = {
        "error=InternalError": f'tione_exporter_api_errors_total{{{where}, code="InternalError"}}',
        "error=RequestLimitExceeded": f'tione_exporter_api_errors_total{{{where}, code="RequestLimitExceeded"}}',
        "error=AuthFailure.SignatureFailure": f"tione_exporter_poll_errors_total{{{where}}} > 0",
    }
    for fault, expr in faults.items():
        # A fault meets the next listing request of either account (a secondary source's request does not
        # fail the poll): a few at a time, until the chosen account has met one.
        for _ in range(20):
            if stack.prometheus.query(expr):
                break
            stack.simulator.inject(fault, 4, action="DescribeModelServiceGroups")
            time.sleep(2.0)
        wait_for(expr, lambda expr=expr: stack.prometheus.query(expr), timeout=10)
    wait_for("retries", lambda: stack.prometheus.query(f"tione_exporter_api_retries_total{{{where}}} > 0"), 10)


def test_every_dashboard_query_has_data_for_all_accounts_and_for_one(stack: Stack) -> None:
    one = "staging"
    make_the_rare_panels_show(stack, one)
    for record in live_records():
        expr = f'{record}{{account="{one}"}}'
        wait_for(expr, lambda expr=expr: stack.prometheus.query(expr), timeout=10)
        assert {r["metric"].get("account") for r in stack.prometheus.query(record)} <= set(NAMES), record
    limited = f'region_code:tione_exporter_api_errors:rate5m{{account="{one}", code="RequestLimitExceeded"}}'
    wait_for(limited, lambda: stack.prometheus.query(limited), timeout=10)
    models = {
        uid: json.loads((DASHBOARDS / f"{uid}.json").read_text())
        for uid in ("tione-overview", "tione-exporter-health", "tione-service-group")
    }

    for uid, model in models.items():
        selector, label = parse_label_values(dict(query_variables(model))["account"])
        assert stack.prometheus.label_values(label, selector) == sorted(NAMES), uid

    problems: list[str] = []
    for account, accounts in ((ALL, set(NAMES)), (one, {one})):
        check = labelled(accounts)
        for uid in ("tione-overview", "tione-exporter-health"):
            found = empty_queries(stack.prometheus, models[uid], {"account": account, "region": ALL}, 15.0, check)
            problems += [f"{uid} (account {account}): {line}" for line in found]
        covered, misses = drill_down_group(stack.prometheus, models["tione-service-group"], account, check)
        if covered is None:
            problems.append(f"tione-service-group (account {account}): no group fills every panel: {misses}")
    assert not problems, "dashboard queries without data or without `account`:\n" + "\n".join(problems)
