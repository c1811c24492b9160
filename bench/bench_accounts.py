"""Several accounts over a long run: every account's temporary keys renewed before they expire, no poll lost.

A simulated API (`exporter.simulator`, in this process, on loopback) hosts `--accounts` accounts besides
the caller's own, each with a fleet in every region and a role that trusts the caller; its STS issues
temporary keys of exactly the `DurationSeconds` asked for (`--session`, 60 s by default) and refuses any
request signed with expired ones (`AuthFailure.TokenFailure`), as the API does. The whole exporter
(`exporter.app.Exporter`: the wiring `tione-exporter run` builds from a YAML `accounts` list, its poll
thread and web server) polls every (account, region) every `--interval` for `--duration` seconds.

Measured: per account, the keys STS issued, and for each renewal its lead (how long before the previous
keys' `ExpiredTime` the next were issued: positive is in time); per (account, region) the polls made and
failed (the exporter's own counters, scraped from `/metrics` at the end); the requests the simulator
refused for the accounts' keys.

    python -m bench.bench_accounts [--duration 300] [--session 60] [--interval 5] [--accounts 3] [--json FILE]

The result is recorded in docs/performance.md ("Several accounts").
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.config import load_settings
from exporter.simulator import AccountConfig, SimulatorConfig, SimulatorServer
from exporter.simulator import sts as simulated_sts
from exporter.simulator.config import Credential
from exporter.tencentcloud.credentials import Credentials, StaticProvider

REGIONS = ("ap-guangzhou", "ap-shanghai")


@dataclass
class AccountResult:
    name: str
    keys_issued: int = 0
    renewal_leads: list[float] = field(default_factory=list)
    """Seconds between each renewal and the `ExpiredTime` of the keys it replaced."""
    polls: dict[str, float] = field(default_factory=dict)
    poll_errors: dict[str, float] = field(default_factory=dict)
    refused_requests: int = 0
    refused_codes: dict[str, int] = field(default_factory=dict)
    """`action code` of the requests the simulator refused for the account's keys, and how many."""


def _config(simulator: SimulatorServer, accounts: list[str], session: float) -> str:
    lines = ["accounts:"]
    for name in accounts:
        role = simulator.role_arn(name)
        lines += [f"  - name: {name}", f"    role-arn: {role}", f"    session-duration: {session:g}s"]
    path = Path(tempfile.mkdtemp()) / "accounts.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


async def _run(args: argparse.Namespace) -> dict[str, object]:
    names = [f"account-{index}" for index in range(1, args.accounts + 1)]
    issued: list[tuple[float, Credential]] = []
    issue = simulated_sts._issue

    def spy(account: str, lifetime: float, now: float) -> Credential:
        credential = issue(account, lifetime, now)
        issued.append((now, credential))
        return credential

    simulated_sts._issue = spy  # type: ignore[assignment]
    config = SimulatorConfig(
        groups=args.groups,
        regions=REGIONS,
        secret_id="AKID" + secrets.token_hex(16),
        secret_key=secrets.token_urlsafe(24),
        churn=False,
        rate_limit=None,
        accounts=tuple(AccountConfig(name, groups=args.groups) for name in names),
    )
    with SimulatorServer(config) as simulator:
        settings = load_settings(
            {
                "--web.listen-address": "127.0.0.1:0",
                "--tione.endpoint": simulator.url,
                "--monitor.endpoint": simulator.url,
                "--sts.endpoint": simulator.url,
                "--tione.regions": ",".join(REGIONS),
                "--poll.interval": f"{args.interval:g}s",
                "--config.file": _config(simulator, names, args.session),
            },
            environ={},
        )
        assert config.secret_id is not None and config.secret_key is not None
        exporter = Exporter(settings, StaticProvider(Credentials(config.secret_id, config.secret_key)))
        stop = asyncio.Event()
        listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(exporter.serve(stop, listening.set_result))
        base = await asyncio.wait_for(listening, 10)
        started = time.time()
        await asyncio.sleep(args.duration)
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            text = (await http.get("/metrics")).text
        stop.set()
        await asyncio.wait_for(task, 10)
        elapsed = time.time() - started
        refused = [r for r in simulator.requests if r.account and r.code]
    simulated_sts._issue = issue  # type: ignore[assignment]

    results = {name: AccountResult(name) for name in names}
    for name in names:
        mine = sorted(((when, c) for when, c in issued if c.account == name), key=lambda item: item[0])
        results[name].keys_issued = len(mine)
        for (_, previous), (when, _) in itertools.pairwise(mine):
            assert previous.expires_at is not None
            results[name].renewal_leads.append(round(previous.expires_at - when, 1))
        mine_refused = [f"{r.action} {r.code}" for r in refused if r.account == name]
        results[name].refused_requests = len(mine_refused)
        results[name].refused_codes = {code: mine_refused.count(code) for code in sorted(set(mine_refused))}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            account, region = sample.labels.get("account"), sample.labels.get("region")
            if account not in results or region is None:
                continue
            if sample.name == "tione_exporter_polls_total":
                results[account].polls[region] = sample.value
            elif sample.name == "tione_exporter_poll_errors_total":
                results[account].poll_errors[region] = sample.value
    return {
        "duration": round(elapsed, 1),
        "session": args.session,
        "interval": args.interval,
        "regions": list(REGIONS),
        "accounts": [asdict(result) for result in results.values()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--session", type=float, default=60.0, help="session-duration of every account")
    parser.add_argument("--interval", type=float, default=5.0, help="--poll.interval")
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--groups", type=int, default=10, help="service groups per account and region")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args))
    ok = True
    print(f"{result['duration']}s, keys of {args.session:g}s, polls every {args.interval:g}s in {len(REGIONS)} regions")
    for account in result["accounts"]:  # type: ignore[attr-defined]
        leads = account["renewal_leads"]
        lost = sum(account["poll_errors"].values())
        polls = sum(account["polls"].values())
        in_time = all(lead > 0 for lead in leads)
        ok = ok and in_time and lost == 0 and account["refused_requests"] == 0 and account["keys_issued"] > 1
        print(
            f"  {account['name']}: {account['keys_issued']} keys issued, renewals {min(leads, default=0):g}-"
            f"{max(leads, default=0):g}s before expiry, {polls:g} polls, {lost:g} failed, "
            f"{account['refused_requests']} requests refused {account['refused_codes'] or ''}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print("ok" if ok else "FAILED: a renewal came late or a poll was lost")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
