"""From settings to clients and the sources bound to them: the exporter's own account, or several.

Without YAML `accounts`, one client (one token bucket at `--api.rate-limit`) with the exporter's own
credentials, and the sources bound to it, polled in every region. With `accounts`, one `Unit` per entry:
the exporter's own credentials assume the entry's role (STS `AssumeRole`, renewed before expiry), and the
temporary keys sign that account's own client, with its own TI-ONE and Cloud Monitor budgets and its own
sources, polled in its regions; its requests are counted under `account/region` (`AccountHooks`). The
sources in use are listed once, in `make_sources()`; the poller, the self-metrics' `action` label values
and `check` all follow that list.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exporter import __version__
from exporter.config import Settings, listing_filters
from exporter.config.accounts import AccountSetting
from exporter.console import PROG
from exporter.logs import register_secrets
from exporter.metrics.labels import target_key
from exporter.metrics.options import RenderOptions
from exporter.metrics.self import SelfMetrics
from exporter.poller import Poller, PollPlan, PollTarget
from exporter.tencentcloud.assume_role import AssumeRoleProvider
from exporter.tencentcloud.client import Hooks, TencentCloudClient
from exporter.tencentcloud.credentials import CredentialProvider, Credentials
from exporter.tencentcloud.gcpause import paused_gc
from exporter.tencentcloud.ratelimit import DEFAULT_BURST, TokenBucket
from exporter.tione import events, holders, listing, prices, resource_groups, service_groups, traffic, workspaces
from exporter.tione.api import SERVICE, VERSION
from exporter.tione.source import Source

log = logging.getLogger("exporter")


class RedactingProvider:
    """Hands out credentials unchanged, registering their secret parts with the log redaction first."""

    def __init__(self, inner: CredentialProvider) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    async def get(self) -> Credentials:
        credentials = await self.inner.get()
        register_secrets([credentials.secret_id, credentials.secret_key, credentials.token])
        return credentials


class RetryProgress:
    """The self-metrics' hooks, plus a log line for each retry: `check` and `once` would otherwise say
    nothing while they retry an unreachable endpoint until their deadline (15 s and more)."""

    def __init__(self, inner: Hooks) -> None:
        self.inner = inner
        self._codes: dict[tuple[str, str], str] = {}
        self._retries: dict[tuple[str, str], int] = {}

    def on_request(self, region: str, action: str) -> None:
        self.inner.on_request(region, action)

    def on_error(self, region: str, action: str, code: str) -> None:
        self._codes[region, action] = code
        self.inner.on_error(region, action, code)

    def on_retry(self, region: str, action: str) -> None:
        retries = self._retries[region, action] = self._retries.get((region, action), 0) + 1
        log.info(
            "retrying",
            extra={"region": region, "action": action, "code": self._codes.get((region, action)), "retry": retries},
        )
        self.inner.on_retry(region, action)

    def on_duration(self, action: str, seconds: float) -> None:
        self.inner.on_duration(action, seconds)

    def on_throttle_wait(self, seconds: float) -> None:
        self.inner.on_throttle_wait(seconds)


def make_client(settings: Settings, credentials: CredentialProvider, hooks: Hooks) -> TencentCloudClient:
    """The process's one client, with its one token bucket, reporting to `hooks` (the self-metrics)."""
    return TencentCloudClient(
        endpoint=settings.tione.endpoint,
        service=SERVICE,
        version=VERSION,
        credentials=RedactingProvider(credentials),
        # A small burst: a bucket as deep as the rate would let each poll open at twice the configured rate.
        rate_limiter=TokenBucket(settings.api.rate_limit, min(DEFAULT_BURST, max(1, int(settings.api.rate_limit)))),
        hooks=hooks,
        request_client=f"{PROG}/{__version__}",
    )


def make_sources(settings: Settings, client: TencentCloudClient) -> tuple[Source[Any], ...]:
    """Every source a poll of a region runs, in the order it runs them (a source may read what an earlier
    one stored). Adding a source is one line here."""
    filters, tag_filters = listing_filters(settings)
    query = listing.ListingQuery(
        filters=tuple(filters),
        tag_filters=tuple(tag_filters),
        service_category=settings.tione.service_category,
    )
    discovery = settings.tione.discovery_interval
    polled: list[Source[Any]] = []
    if discovery > 0:
        polled.append(workspaces.source(client, discovery))
    polled.append(
        service_groups.source(client, query, settings.tione.project_ids, max_staleness=settings.poll.max_staleness)
    )
    if settings.capacity.interval:
        polled.append(resource_groups.source(client, settings.capacity.interval))
    if settings.holders.interval:
        polled += [
            holders.source(client, kind, settings.holders.interval, settings.tione.project_ids)
            for kind in holders.KINDS
        ]
    if settings.prices.interval:
        polled.append(prices.source(client, settings.prices.interval))
    if settings.monitor.max_requests_per_month:
        polled.append(traffic.source(client, settings.monitor))
    if settings.events.max_services > 0:
        # Last: the most expendable, and it may take all of its share of the poll when many services are troubled.
        polled.append(
            events.source(client, max_services=settings.events.max_services, refresh=settings.events.refresh_interval)
        )
    return tuple(polled)


def poll_plan(settings: Settings, sources: Sequence[Source[Any]], targets: Sequence[PollTarget] = ()) -> PollPlan:
    return PollPlan(
        regions=settings.tione.regions,
        sources=tuple(sources),
        options=RenderOptions(
            tag_labels=settings.metrics.tag_labels,
            exclude=settings.metrics.exclude,
            pod_series=settings.metrics.pod_series,
            state_sets=settings.metrics.state_sets,
            include=settings.metrics.include,
        ),
        interval=settings.poll.interval,
        timeout=settings.poll.timeout,
        max_staleness=settings.poll.max_staleness,
        rate_limit=settings.api.rate_limit,
        targets=tuple(targets),
    )


class AccountHooks:
    """One account's client hooks: each region named by its target key (`account/region`), so that the
    self-metrics count the account's requests, errors and retries under its `account` label."""

    def __init__(self, inner: Hooks, account: str) -> None:
        self.inner = inner
        self.account = account

    def on_request(self, region: str, action: str) -> None:
        self.inner.on_request(target_key(self.account, region), action)

    def on_error(self, region: str, action: str, code: str) -> None:
        self.inner.on_error(target_key(self.account, region), action, code)

    def on_retry(self, region: str, action: str) -> None:
        self.inner.on_retry(target_key(self.account, region), action)

    def on_duration(self, action: str, seconds: float) -> None:
        self.inner.on_duration(action, seconds)

    def on_throttle_wait(self, seconds: float) -> None:
        self.inner.on_throttle_wait(seconds)


def account_settings(settings: Settings, account: AccountSetting) -> Settings:
    """The settings as one account sees them: its regions, workspaces and budgets where the entry sets them,
    the global ones elsewhere (the global budgets are per-account figures)."""
    tione = settings.tione.model_copy(
        update={
            "regions": account.regions or settings.tione.regions,
            "project_ids": settings.tione.project_ids if account.project_ids is None else account.project_ids,
        }
    )
    api = settings.api.model_copy(update={"rate_limit": account.api_rate_limit or settings.api.rate_limit})
    monitor = settings.monitor.model_copy(
        update={
            "rate_limit": account.monitor_rate_limit or settings.monitor.rate_limit,
            "max_requests_per_month": settings.monitor.max_requests_per_month
            if account.monitor_max_requests_per_month is None
            else account.monitor_max_requests_per_month,
        }
    )
    return settings.model_copy(update={"tione": tione, "api": api, "monitor": monitor})


@dataclass(frozen=True)
class Unit:
    """One account's client and sources, and the settings as it sees them ("" without accounts)."""

    account: str
    settings: Settings
    client: TencentCloudClient
    sources: tuple[Source[Any], ...]
    role: AssumeRoleProvider | None = None
    """The role the account is read through (None: the exporter's own credentials)."""

    @property
    def regions(self) -> tuple[str, ...]:
        return self.settings.tione.regions

    @property
    def uin(self) -> str:
        return self.role.uin if self.role is not None else ""


SESSION_NAME = PROG
"""`RoleSessionName` of every `AssumeRole`: what the other account's CloudAudit shows as the session."""


def account_unit(settings: Settings, account: AccountSetting, base: CredentialProvider, hooks: Hooks) -> Unit:
    """One account: its role assumed with `base` (the exporter's own credentials), its client and sources."""
    own = account_settings(settings, account)
    counted = AccountHooks(hooks, account.name)
    external_id = account.secret_external_id()
    register_secrets([external_id])  # STS may echo it in an error message
    role = AssumeRoleProvider(
        base,
        account.role_arn,
        session_name=SESSION_NAME,
        external_id=external_id,
        duration_seconds=int(account.session_duration),
        sts_endpoint=settings.sts.endpoint,
        region=own.tione.regions[0],
        hooks=counted,
    )
    client = make_client(own, role, counted)
    return Unit(account.name, own, client, make_sources(own, client), role)


def regions_of(settings: Settings) -> list[str]:
    """What the self-metrics name the polled regions by: the regions, or each account's `account/region`."""
    if not settings.accounts:
        return list(settings.tione.regions)
    return [target_key(a.name, r) for a in settings.accounts for r in (a.regions or settings.tione.regions)]


class Wiring:
    """The self-metrics, the clients reporting to them, and the sources bound to each client."""

    def __init__(self, settings: Settings, credentials: CredentialProvider, *, progress: bool = False) -> None:
        """With `progress`, each retry of an API call is logged too (for the commands that end)."""
        accounts = [(account.name, account.uin) for account in settings.accounts]
        self.metrics = SelfMetrics(regions_of(settings), accounts=accounts)
        hooks: Hooks = RetryProgress(self.metrics) if progress else self.metrics
        if settings.accounts:
            own = RedactingProvider(credentials)  # the exporter's own keys sign the STS calls: redacted too
            self.units = tuple(account_unit(settings, account, own, hooks) for account in settings.accounts)
        else:
            client = make_client(settings, credentials, hooks)
            self.units = (Unit("", settings, client, make_sources(settings, client)),)
        self.metrics.declare_actions(source.action for unit in self.units for source in unit.sources)
        targets = [
            PollTarget(region, unit.sources, unit.account, unit.settings.api.rate_limit)
            for unit in self.units
            if unit.account
            for region in unit.regions
        ]
        self.plan = poll_plan(settings, self.units[0].sources, targets)

    @property
    def client(self) -> TencentCloudClient:
        """The one client without accounts (with accounts, the first account's)."""
        return self.units[0].client

    @property
    def sources(self) -> tuple[Source[Any], ...]:
        return self.units[0].sources

    async def aclose(self) -> None:
        """Close every client and every role's STS connections."""
        for unit in self.units:
            await unit.client.aclose()
            if unit.role is not None:
                await unit.role.aclose()

    def make_poller(self) -> Poller:
        """The poller of these sources; each poll runs with the garbage collector paused (`gcpause`)."""
        return Poller(self.plan, self.metrics, pause=paused_gc)
