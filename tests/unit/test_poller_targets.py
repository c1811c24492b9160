"""The poller's targets: with accounts, each (account, region) polled with its own sources and named apart."""

from __future__ import annotations

from typing import Any

from exporter.metrics.self import SelfMetrics
from exporter.poller import Poller, PollPlan, PollTarget
from exporter.tencentcloud.errors import CredentialError
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import Sink, Source
from tests import render_helpers as rendered
from tests.unit.test_poller import group, sample, scripted_source

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
