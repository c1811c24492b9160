"""`check`: one cheap call of every source in every region (of every account), and whether one poll fits
the rate limit; with accounts, each role is assumed first.

It builds the client and the sources as `run` does (`app.Wiring`), so that a source in use is checked by
being in use; a region's line says ok with what the sources found, or what failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from exporter.app import Unit, Wiring, web_config
from exporter.config import Settings
from exporter.console import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, ConfigError, print_problems
from exporter.logs import redact
from exporter.metrics.labels import target_key
from exporter.poller import UNEXPECTED_ERROR, budget_message
from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import CredentialProvider
from exporter.tencentcloud.errors import CredentialError, TencentCloudError, is_permission_error
from exporter.tione import service_groups
from exporter.tione.paging import raise_if_cancelling
from exporter.tione.source import Source

CHECK_SECONDS = 15.0
"""Deadline of `check`'s calls in one region."""


async def check_command(settings: Settings, credentials: CredentialProvider) -> int:
    try:
        web_config(settings)
    except ConfigError as error:
        print_problems(error.problems)
        return EXIT_CONFIG
    wiring = Wiring(settings, credentials, progress=True)
    try:
        results = [result for found in await asyncio.gather(*map(_check_unit, wiring.units)) for result in found]
        if all(ok for ok, _ in results):
            budgets = await asyncio.gather(*(_check_budget(unit.settings, unit.client) for unit in wiring.units))
        else:
            budgets = []
    finally:
        await wiring.aclose()
    for _, lines in results:
        for line in lines:
            print(line)
    for unit, budget in zip(wiring.units, budgets, strict=False):
        if budget:
            print(f"{unit.account}: {budget}" if unit.account else budget)
    return EXIT_OK if all(ok for ok, _ in results) else EXIT_FAILED


async def _check_unit(unit: Unit) -> list[tuple[bool, list[str]]]:
    """An account's role assumed first (one line naming the account and STS's code if it cannot be), then
    each of its regions; without accounts, the regions."""
    if unit.role is not None:
        try:
            await unit.role.get()
        except TencentCloudError as error:
            role = unit.role.role
            return [(False, [f"account {unit.account}: cannot assume role {role}: {error.code}: {_reason(error)}"])]
    regions = unit.regions
    return list(await asyncio.gather(*(_check_region(unit.sources, r, target_key(unit.account, r)) for r in regions)))


def _reason(error: TencentCloudError) -> str:
    """A credential error's reason without the provider's name (the line already names the role)."""
    reason = error.reason if isinstance(error, CredentialError) else error.message
    return redact(reason)


async def _check_budget(settings: Settings, client: TencentCloudClient) -> str | None:
    """A warning line when one poll of every region needs more listing requests (one per workspace at
    least) than `--api.rate-limit` lets through in `--poll.timeout`: polls would then be partial."""
    deadline = time.monotonic() + CHECK_SECONDS
    try:
        counts = await asyncio.gather(
            *(
                service_groups.poll_requests(
                    client,
                    region,
                    settings.tione.project_ids,
                    discover=settings.tione.discovery_interval > 0,
                    deadline=deadline,
                )
                for region in settings.tione.regions
            )
        )
    except TencentCloudError as error:
        return f"warning: the requests a poll needs could not be counted: {_problem(error)}"
    needed = sum(counts)
    if needed <= settings.api.rate_limit * settings.poll.timeout:
        return None
    return "warning: " + budget_message(needed, settings.api.rate_limit, settings.poll.timeout, settings.poll.interval)


def _problem(error: Exception) -> str:
    if isinstance(error, TencentCloudError):
        request_id = f" (RequestId {error.request_id})" if error.request_id else ""
        return f"{error.code}: {redact(error.message)}{request_id}"
    return f"{UNEXPECTED_ERROR}: {type(error).__name__}: {redact(str(error))}"


async def _check_region(checked: Sequence[Source[Any]], region: str, where: str = "") -> tuple[bool, list[str]]:
    """One cheap call of each source in the region: the region's line says ok with what they found, or what
    failed. A secondary source the keys may not call is a warning line after it: the poll runs without it.
    A probe's summary after its first line are detail lines (indented), printed after the region's line.
    `where` names the region in the lines (`account/region` with accounts)."""
    where = where or region
    deadline = time.monotonic() + CHECK_SECONDS
    found: list[str] = []
    failed: list[str] = []
    warnings: list[str] = []
    details: list[str] = []
    for source in checked:
        try:
            summary, *more = (await source.probe(region, deadline)).split("\n")
            found.append(summary)
            details += more
        except Exception as error:  # one region's surprise must not hide the other regions' lines
            raise_if_cancelling()
            if source.primary:
                return False, [f"{where}: {_problem(error)}"]
            if isinstance(error, TencentCloudError) and is_permission_error(error.code):
                without = f"; {source.without}" if source.without else ""
                warnings.append(f"{where}: warning: {source.action} is not permitted: {_problem(error)}{without}")
            else:
                failed.append(f"{source.action}: {_problem(error)}")
    if failed:
        return False, [f"{where}: {'; '.join(failed)}", *warnings]
    return True, [f"{where}: ok ({', '.join(found)})", *details, *warnings]
