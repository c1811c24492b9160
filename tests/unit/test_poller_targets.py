"""The poller's targets: with accounts, each (account, region) polled with its own sources and named apart."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.metrics.labels import target_key
from exporter.metrics.self import SelfMetrics
from exporter.poller import Poller, PollPlan, PollTarget
from exporter.tencentcloud.errors import CredentialError
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import Sink, Source
from tests import render_helpers as rendered
from tests.unit.test_poller import BUDGET_WARNING, group, sample, scripted_source

REGION = "ap-guangzhou"


def listing_of(account: str, *, refused: bool = False) -> Source[Any]:
    """A primary source bound to one account: its own groups, or STS's refusal of its role."""

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> Any:
        assert region == REGION and snapshot.account == account  # the API sees the region, never the key
        if refused:
            error = CredentialError(
                f"assume-role {account}", "AssumeRole failed: no trust", code="UnauthorizedOperation"
            )
            raise error
        return (group(f"{account}-g", "Normal"),)

    return scripted_source(fetch)


async def test_two_accounts_in_one_region_are_two_targets_with_their_own_label() -> None:
    targets = (
        PollTarget(REGION, (listing_of("prod"),), "prod", rate_limit=5.0),
        PollTarget(REGION, (listing_of("staging"),), "staging"),
        PollTarget(REGION, (listing_of("sandbox", refused=True),), "sandbox"),
    )
    metrics = SelfMetrics([t.key for t in targets], accounts=[("prod", "1"), ("staging", "2"), ("sandbox", "3")])
    poller = Poller(PollPlan(regions=(REGION,), sources=(), targets=targets), metrics)
    statuses = await poller.poll_all()
    assert [(s.account, s.region, s.outcome, s.where) for s in statuses] == [
        ("prod", REGION, "success", f"prod/{REGION}"),
        ("staging", REGION, "success", f"staging/{REGION}"),
        ("sandbox", REGION, "failure", f"sandbox/{REGION}"),
    ]
    assert statuses[2].error_code == "UnauthorizedOperation"
    text = rendered.text(poller.exposition)
    for account in ("prod", "staging"):
        line = f'tione_service_group_info{{account="{account}",region="{REGION}",service_group_id="{account}-g"'
        assert line.encode() in text
    series = [line for line in text.splitlines() if line.startswith(b"tione_")]
    assert series and all(line.split(b"{", 1)[1].startswith(b'account="') for line in series)
    assert b"sandbox" not in text
    assert sample(metrics, "tione_up", account="prod", region=REGION) == 1.0
    assert sample(metrics, "tione_up", account="sandbox", region=REGION) == 0.0
    assert sample(metrics, "tione_account_info", account="staging", uin="2") == 1.0


async def test_without_accounts_a_target_is_a_region_and_nothing_is_labelled_account() -> None:
    plan = PollPlan(regions=(REGION,), sources=(listing_of(""),))
    assert [(t.key, t.account) for t in plan.all_targets()] == [(REGION, "")]
    metrics = SelfMetrics([REGION])
    poller = Poller(plan, metrics)
    (status,) = await poller.poll_all()
    assert (status.where, status.outcome) == (REGION, "success")
    assert b"account" not in rendered.text(poller.exposition) + metrics.render(False)


def requesting(account: str, requests: int, metrics: list[SelfMetrics]) -> Source[Any]:
    """A primary source of one account that sends `requests` requests per poll, as the client's hook counts them."""

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> Any:
        for _ in range(requests):
            metrics[0].on_request(target_key(account, region), "DescribeModelServiceGroups")
        return ()

    return scripted_source(fetch)


async def test_each_account_has_its_own_request_budget_at_its_own_rate(caplog: pytest.LogCaptureFixture) -> None:
    """Each account's keys have their own rate limit: their polls are counted apart, against the account's
    own limit where it has one, else the exporter's."""
    holder: list[SelfMetrics] = []
    targets = (
        PollTarget(REGION, (requesting("prod", 6, holder),), "prod", rate_limit=2.0),  # 6 of 10: fits
        PollTarget(REGION, (requesting("staging", 4, holder),), "staging"),  # 4 of 5: fits
        PollTarget("ap-shanghai", (requesting("staging", 4, holder),), "staging"),  # 8 of 5: does not
    )
    holder.append(SelfMetrics([t.key for t in targets], accounts=[("prod", "1"), ("staging", "2")]))
    plan = PollPlan(regions=(), sources=(), targets=targets, rate_limit=1.0, timeout=5.0, interval=10.0)
    poller = Poller(plan, holder[0])
    await poller.poll(f"prod/{REGION}")
    await poller.poll(f"staging/{REGION}")
    assert BUDGET_WARNING not in caplog.text, "prod's requests are not staging's"
    await poller.poll("staging/ap-shanghai")
    warnings = [r for r in caplog.records if r.getMessage().startswith(BUDGET_WARNING)]
    assert [(getattr(r, "requests", None), getattr(r, "allowed", None)) for r in warnings] == [(8, 5)]
