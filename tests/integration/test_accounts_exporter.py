"""Several accounts in one exporter, over real loopback HTTP: the whole exporter against the simulator's STS
and the fleets of the accounts it hosts.

Three accounts: `prod` and `staging` trust the exporter's own account, `sandbox` does not. The first two
export their fleets under their `account` label, each within its own budget; the third's regions are down
with STS's code. Short-lived temporary keys are renewed with no poll lost, and neither they nor the
external id are ever shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.simulator import AccountConfig, SimulatorServer
from exporter.simulator import sts as simulated_sts
from exporter.simulator.config import Credential
from exporter.tione.listing import ACTION as LISTING
from tests.conftest import signed_simulator
from tests.integration.test_cli_commands import environment, run
from tests.integration.test_exporter_simulator import Running, Samples, running_exporter, samples_of, value

GZ, SH = "ap-guangzhou", "ap-shanghai"
EXTERNAL_ID = "staging-ext-9d2e71"
PROD_RATE, STAGING_RATE, BURST = 6.0, 4.0, 2
ACCOUNTS = (
    AccountConfig("prod", groups=4),
    AccountConfig("staging", groups=3, external_id=EXTERNAL_ID),
    AccountConfig("sandbox", roles=(), refused_roles=("tione-exporter",)),
)
BUDGETED = (
    # Each account admits its own budget plus the exporter's burst in any second, and no more.
    AccountConfig("prod", groups=4, rate_limit=PROD_RATE + BURST),
    AccountConfig("staging", groups=3, external_id=EXTERNAL_ID, rate_limit=STAGING_RATE + BURST),
    ACCOUNTS[2],
)
SELF = ("tione_up", "tione_exporter_", "tione_account_info")
"""The exporter's own families: every other `tione_` family is drawn from a snapshot."""


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with signed_simulator((GZ, SH), groups=5, accounts=ACCOUNTS, session_duration=4) as server:
        yield server


@pytest.fixture
def budgeted() -> Iterator[SimulatorServer]:
    """Each hosted account throttles beyond the budget the exporter is given for it."""
    with signed_simulator((GZ, SH), groups=5, accounts=BUDGETED, session_duration=4) as server:
        yield server


@pytest.fixture
def issued(monkeypatch: pytest.MonkeyPatch) -> list[Credential]:
    """Every temporary key pair the simulator's STS hands out, to be searched for in everything shown."""
    found: list[Credential] = []
    issue = simulated_sts._issue

    def spy(account: str, lifetime: float, now: float) -> Credential:
        credential = issue(account, lifetime, now)
        found.append(credential)
        return credential

    monkeypatch.setattr(simulated_sts, "_issue", spy)
    return found


def config_file(tmp_path: Path, simulator: SimulatorServer, budgets: bool) -> str:
    """The three accounts; with `budgets`, prod's and staging's own TI-ONE budgets (else the global 200/s)."""
    prod = f"    api-rate-limit: {PROD_RATE}\n" if budgets else ""
    staging = f"    api-rate-limit: {STAGING_RATE}\n" if budgets else ""
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        f"  - name: prod\n    role-arn: {simulator.role_arn('prod')}\n{prod}"
        f"  - name: staging\n    role-arn: {simulator.role_arn('staging')}\n    external-id: {EXTERNAL_ID}\n"
        f"    regions: [{GZ}]\n{staging}"
        f"  - name: sandbox\n    role-arn: {simulator.role_arn('sandbox', 'tione-exporter')}\n"
    )
    return str(path)


@contextlib.asynccontextmanager
async def exporter(
    simulator: SimulatorServer, tmp_path: Path, *, budgets: bool = False, **flags: str
) -> AsyncIterator[Running]:
    async with running_exporter(
        simulator,
        regions=(GZ, SH),
        log_level="debug",
        **{
            "--config.file": config_file(tmp_path, simulator, budgets),
            "--sts.endpoint": simulator.url,
            "--monitor.max-requests-per-month": "0",
            **flags,
        },
    ) as running:
        yield running


TARGETS = {("prod", GZ): 1.0, ("prod", SH): 1.0, ("staging", GZ): 1.0, ("sandbox", GZ): 0.0, ("sandbox", SH): 0.0}


def settled(samples: Samples) -> bool:
    return all(value(samples, "tione_up", account=a, region=r) == up for (a, r), up in TARGETS.items())


def groups_of(samples: Samples, account: str, region: str) -> set[str]:
    return {
        dict(labels)["service_group_id"]
        for (name, labels), _ in samples.items()
        if name == "tione_service_group_info" and {("account", account), ("region", region)} <= labels
    }


def fleet_ids(simulator: SimulatorServer, account: str, region: str) -> set[str]:
    return {group["ServiceGroupId"] for group in simulator.fleet(region, None, account=account)}


async def test_three_accounts_two_export_their_fleets_and_the_third_is_down_with_the_sts_code(
    budgeted: SimulatorServer, tmp_path: Path
) -> None:
    simulator = budgeted
    async with exporter(
        simulator, tmp_path, budgets=True, **{"--poll.interval": "1s", "--poll.timeout": "900ms"}
    ) as running:
        started = time.monotonic()
        samples = await running.wait_for(settled, "every account's regions up or down")
        await asyncio.sleep(3.0)  # a few more polls at each account's own pace
        samples = await running.scrape()
        elapsed = time.monotonic() - started
        page = (await running.http.get("/")).text
        attention = json.loads((await running.http.get("/api/v1/attention")).text)["services"]
        metrics_text = (await running.http.get("/metrics")).text

    # each account's fleet, under its own label; nothing of the account that could not be assumed
    for account, region in (("prod", GZ), ("prod", SH), ("staging", GZ)):
        assert groups_of(samples, account, region) == fleet_ids(simulator, account, region) != set()
    assert groups_of(samples, "staging", SH) == set()  # staging polls only its own region
    assert len({frozenset(fleet_ids(simulator, a, GZ)) for a in ("prod", "staging")}) == 2
    snapshot = [labels for (name, labels) in samples if name.startswith("tione_") and not name.startswith(SELF)]
    assert snapshot and all(dict(labels).get("account") in ("prod", "staging") for labels in snapshot)
    assert not any(dict(labels).get("account") == "sandbox" for labels in snapshot)

    # which account each name is, and why sandbox is down
    for account in ("prod", "staging", "sandbox"):
        assert value(samples, "tione_account_info", account=account, uin=simulator.account_uin(account)) == 1
    refused = {"account": "sandbox", "region": GZ, "action": LISTING, "code": "UnauthorizedOperation"}
    assert (value(samples, "tione_exporter_api_errors_total", **refused) or 0) >= 1
    assert 'tione_up{account="sandbox",region="ap-shanghai"} 0.0' in metrics_text
    assert "sandbox/ap-guangzhou" in page and "<code>UnauthorizedOperation</code>" in page
    assert "prod/ap-shanghai" in page
    assert all(row["account"] in ("prod", "staging") for row in attention)

    # each account's requests within its own budget: never throttled by its own limit, and no more than
    # its rate allows over the run (plus the burst), although together they exceed either one
    by_account: dict[str, list[str]] = {}
    for request in simulator.requests:
        by_account.setdefault(request.account, []).append(request.code)
    assert set(by_account) == {"", "prod", "staging"}
    for account, rate in (("prod", PROD_RATE), ("staging", STAGING_RATE)):
        codes = by_account[account]
        assert "RequestLimitExceeded" not in codes and set(codes) == {""}, account
        assert len(codes) <= rate * (elapsed + 1.0) + BURST, (account, len(codes), elapsed)
    assert len(by_account["prod"]) + len(by_account["staging"]) > PROD_RATE * elapsed * 0.5
    sts_calls = [r for r in simulator.requests if r.action == simulated_sts.ACTION]
    assert sts_calls and all(r.account == "" for r in sts_calls)


async def test_short_lived_keys_are_renewed_before_expiry_and_no_poll_is_lost(
    simulator: SimulatorServer, tmp_path: Path, issued: list[Credential]
) -> None:
    """Keys that live 4 s over a run of four lifetimes: renewed each time, and every poll succeeds."""
    async with exporter(simulator, tmp_path) as running:
        await running.wait_for(settled, "every account's regions up or down")
        await asyncio.sleep(16.0)
        samples = await running.scrape()
        logs = running.logs.getvalue()

    for account, region in (("prod", GZ), ("prod", SH), ("staging", GZ)):
        where = {"account": account, "region": region}
        polls = value(samples, "tione_exporter_polls_total", **where)
        assert polls is not None and polls >= 20, (where, polls)
        failed = [line for line in logs.splitlines() if "poll failed" in line and "sandbox" not in line]
        assert value(samples, "tione_exporter_poll_errors_total", **where) == 0, failed[:3]
    renewals = {account: sum(1 for c in issued if c.account == account) for account in ("prod", "staging")}
    assert all(count >= 4 for count in renewals.values()), renewals
    refused = [r for r in simulator.requests if r.account in ("prod", "staging") and r.code]
    assert refused == [], refused[:3]
    assert "poll failed" not in "\n".join(line for line in logs.splitlines() if "sandbox" not in line)


async def test_temporary_keys_and_the_external_id_are_never_shown(
    simulator: SimulatorServer, tmp_path: Path, issued: list[Credential]
) -> None:
    """The keys STS issued and the external id, planted in a group's name and a condition message of each
    account's fleet as the API could echo them, show as `[REDACTED]`; none is found anywhere."""
    seen: list[tuple[str, str]] = []

    async def read(running: Running) -> dict[str, str]:
        http = running.http
        found = {
            "metrics": (await http.get("/metrics")).text,
            "openmetrics": (await http.get("/metrics", headers={"Accept": "application/openmetrics-text"})).text,
            "page": (await http.get("/")).text,
            "attention": (await http.get("/api/v1/attention")).text,
        }
        seen.extend(found.items())
        return found

    def plant(account: str) -> None:
        keys = [c for c in issued if c.account == account][-1]
        group = simulator.fleet(GZ, "", account=account)[0]

        def edit(wire: dict[str, Any]) -> None:
            name = f"team {keys.secret_id} {keys.token} {simulator.config.secret_id}"
            wire["ServiceGroupName"] = name
            for service in wire["Services"]:
                service["ServiceGroupName"] = name
                service["Status"] = "Abnormal"
                service["ServiceInfo"]["Status"]["Conditions"] = [
                    {
                        "Type": "Available",
                        "Status": "False",
                        "Reason": "Echo",
                        "Message": f"key {keys.secret_key} external {EXTERNAL_ID}",
                    }
                ]

        simulator.edit_group(GZ, group["ServiceGroupId"], edit, account=account)

    async with exporter(simulator, tmp_path) as running:
        await running.wait_for(settled, "every account's regions up or down")
        for account in ("prod", "staging"):
            plant(account)
        redacted = 'service_group_name="team [REDACTED] [REDACTED] [REDACTED]"'
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            found = await read(running)
            if found["metrics"].count(redacted) >= 2 and found["attention"].count("key [REDACTED] external [REDACTED]"):
                break
            assert asyncio.get_running_loop().time() < deadline, "the planted groups never showed"
            await asyncio.sleep(0.1)
        await asyncio.sleep(9.0)  # past two lifetimes: renewed keys too
        await read(running)
        logs = running.logs.getvalue()
    seen.append(("logs", logs))
    assert "level=debug" in logs and "sandbox" in logs
    assert len(issued) >= 4
    own_id, own_key = simulator.config.secret_id, simulator.config.secret_key
    forbidden: dict[str, Any] = {EXTERNAL_ID: "external id", own_id: "own SecretId", own_key: "own SecretKey"}
    for credential in issued:
        forbidden |= {credential.secret_id: "TmpSecretId", credential.secret_key: "TmpSecretKey"}
        forbidden[credential.token or ""] = "Token"
    forbidden.pop("", None)
    leaks = sorted({(where, forbidden[secret]) for where, text in seen for secret in forbidden if secret in text})
    assert not leaks, leaks


def test_check_assumes_every_role_and_names_the_account_that_cannot_be(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    """The real command: a line per account and region, and for the role that cannot be assumed one line
    naming the account and STS's code; exit 1 because of it."""
    env = environment(simulator, TIONE_EXPORTER_MONITOR_MAX_REQUESTS_PER_MONTH="0")
    args = ["check", "--tione.regions", f"{GZ},{SH}", "--config.file", config_file(tmp_path, simulator, False)]
    result = run([*args, "--sts.endpoint", simulator.url], env)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("    ")]
    assert [line.split(": ")[0] for line in lines] == [f"prod/{GZ}", f"prod/{SH}", f"staging/{GZ}", "account sandbox"]
    for line in lines[:3]:
        assert ": ok (" in line and "service groups in the default workspace" in line, line
    arn = simulator.role_arn("sandbox", "tione-exporter")
    assert lines[3].startswith(f"account sandbox: cannot assume role {arn}: UnauthorizedOperation: AssumeRole failed: ")
    assert EXTERNAL_ID not in result.stdout + result.stderr
    listed = {r.account for r in simulator.requests if r.action == LISTING}
    assert listed == {"prod", "staging"}


def test_once_prints_every_accounts_series_with_its_label(simulator: SimulatorServer, tmp_path: Path) -> None:
    env = environment(simulator, TIONE_EXPORTER_MONITOR_MAX_REQUESTS_PER_MONTH="0")
    args = ["once", "--tione.regions", GZ, "--config.file", config_file(tmp_path, simulator, False)]
    result = run([*args, "--sts.endpoint", simulator.url], env)
    assert result.returncode == 1, result.stderr  # sandbox's polls failed
    samples = samples_of(result.stdout)
    assert value(samples, "tione_up", account="prod", region=GZ) == 1
    assert value(samples, "tione_up", account="staging", region=GZ) == 1
    assert value(samples, "tione_up", account="sandbox", region=GZ) == 0
    assert groups_of(samples, "prod", GZ) == fleet_ids(simulator, "prod", GZ)
    assert 'code="UnauthorizedOperation"' in result.stdout and EXTERNAL_ID not in result.stdout + result.stderr
