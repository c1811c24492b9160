"""Several accounts over real HTTP: `AssumeRoleProvider` against the simulator's STS and hosted accounts.

The simulator hosts the caller's own account and three more; its STS issues temporary keys that expire
after a few seconds, so renewals and expiry happen within a test.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import msgspec
import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sts.v20180813 import models, sts_client

from exporter.simulator import AccountConfig, SimulatorServer, Traffic
from exporter.tencentcloud.assume_role import AssumeRoleProvider
from exporter.tencentcloud.client import ClientHooks, TencentCloudClient
from exporter.tencentcloud.credentials import Credentials, StaticProvider
from exporter.tencentcloud.errors import APIError, CredentialError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione import monitor, monitor_api
from exporter.tione.api import SERVICE, VERSION
from exporter.tione.listing import ACTION
from exporter.tione.records import ServiceGroup
from tests.conftest import signed_simulator

REGION = "ap-guangzhou"
PLANTED = 123.0
"""Calls per second planted in one account's group: no drawn figure."""
ACCOUNTS = (
    AccountConfig("prod", roles=("tione-exporter",), groups=4),
    AccountConfig("staging", roles=("tione-exporter",), external_id="staging-ext-1", groups=3, rate_limit=5),
    AccountConfig("sandbox", refused_roles=("tione-exporter",)),
)


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with signed_simulator((REGION,), groups=5, accounts=ACCOUNTS, session_duration=6) as server:
        yield server


def own_keys(simulator: SimulatorServer) -> StaticProvider:
    assert simulator.config.secret_id is not None and simulator.config.secret_key is not None
    return StaticProvider(Credentials(simulator.config.secret_id, simulator.config.secret_key))


def assume(simulator: SimulatorServer, account: str, role: str | None = None, **options: object) -> AssumeRoleProvider:
    return AssumeRoleProvider(
        own_keys(simulator),
        simulator.role_arn(account, role),
        sts_endpoint=simulator.url,
        retry_base=0.2,
        **options,  # type: ignore[arg-type]
    )


class Codes(ClientHooks):
    def __init__(self) -> None:
        self.errors: list[tuple[str, str, str]] = []

    def on_error(self, region: str, action: str, code: str) -> None:
        self.errors.append((region, action, code))


async def list_ids(client: TencentCloudClient) -> list[str]:
    answer = await client.call(ACTION, REGION, {"Limit": 100}, deadline=time.monotonic() + 10)
    return sorted(group["ServiceGroupId"] for group in answer["ServiceGroups"])


def fleet_ids(simulator: SimulatorServer, account: str | None) -> list[str]:
    return sorted(group["ServiceGroupId"] for group in simulator.fleet(REGION, "", account=account))


async def test_each_assumed_role_sees_its_own_accounts_fleet(simulator: SimulatorServer) -> None:
    prod = assume(simulator, "prod")
    staging = assume(simulator, "staging", external_id="staging-ext-1")
    providers = {"prod": prod, "staging": staging, None: own_keys(simulator)}
    seen: dict[str | None, list[str]] = {}
    for account, provider in providers.items():
        async with TencentCloudClient(
            endpoint=simulator.url, service=SERVICE, version=VERSION, credentials=provider
        ) as client:
            seen[account] = await list_ids(client)
    for account in providers:
        assert seen[account] == fleet_ids(simulator, account) and seen[account]
    assert len({tuple(ids) for ids in seen.values()}) == 3
    assert prod.uin == simulator.account_uin("prod") != simulator.account_uin()
    uins = {group["Uin"] for group in simulator.fleet(REGION, account="staging")}
    assert uins == {staging.uin}
    listed = [(r.account, r.code) for r in simulator.requests if r.action == ACTION]
    assert listed == [("prod", ""), ("staging", ""), ("", "")]


async def test_short_lived_keys_are_renewed_before_expiry_and_no_call_fails(simulator: SimulatorServer) -> None:
    provider = assume(simulator, "prod")
    used: set[str] = set()
    async with TencentCloudClient(
        endpoint=simulator.url, service=SERVICE, version=VERSION, credentials=provider
    ) as client:
        started = time.monotonic()
        while time.monotonic() - started < 14:
            assert await list_ids(client) == fleet_ids(simulator, "prod")
            used.add((await provider.get()).secret_id)
            await asyncio.sleep(0.25)
    assert provider.refreshes >= 3 and len(used) == provider.refreshes
    listed = [r for r in simulator.requests if r.action == ACTION]
    assert len(listed) > 40 and all(r.code == "" for r in listed)


async def test_a_role_that_cannot_be_assumed_fails_with_the_sts_code(simulator: SimulatorServer) -> None:
    cases = {
        ("sandbox", None, None): "UnauthorizedOperation",
        ("prod", "no-such-role", None): "ResourceNotFound.RoleNotFound",
        ("staging", None, "wrong-ext"): "UnauthorizedOperation",
    }
    for (account, role, external_id), code in cases.items():
        provider = assume(simulator, account, role, external_id=external_id)
        hooks = Codes()
        async with TencentCloudClient(
            endpoint=simulator.url, service=SERVICE, version=VERSION, credentials=provider, hooks=hooks
        ) as client:
            with pytest.raises(CredentialError) as caught:
                await list_ids(client)
        assert caught.value.code == code
        assert str(caught.value).startswith(f"{code}: assume-role {provider.role}: AssumeRole failed: ")
        assert "\n" not in str(caught.value)
        assert (caught.value.region, caught.value.action) == (REGION, ACTION)
        assert hooks.errors == [(REGION, ACTION, code)]
    assert not [r for r in simulator.requests if r.action == ACTION]


async def test_expired_unknown_and_tokenless_temporary_keys_are_refused(simulator: SimulatorServer) -> None:
    provider = assume(simulator, "prod")
    keys = await provider.get()
    assert provider.expires_at is not None and provider.expires_at - time.time() <= 6

    async def code_with(credentials: Credentials) -> str:
        async with TencentCloudClient(
            endpoint=simulator.url, service=SERVICE, version=VERSION, credentials=credentials, max_attempts=1
        ) as client:
            try:
                await list_ids(client)
            except APIError as exc:
                return exc.code
        return ""

    assert await code_with(keys) == ""
    assert await code_with(Credentials(keys.secret_id, keys.secret_key)) == "AuthFailure.TokenFailure"
    assert await code_with(Credentials(keys.secret_id, keys.secret_key, "forged-token")) == "AuthFailure.TokenFailure"
    assert (
        await code_with(Credentials("AKIDunknown0000", keys.secret_key, keys.token)) == "AuthFailure.SecretIdNotFound"
    )
    await asyncio.sleep(max(0.0, provider.expires_at - time.time()) + 0.1)
    assert await code_with(keys) == "AuthFailure.TokenFailure"
    assert (await provider.get()).secret_id != keys.secret_id  # the provider itself renews


async def test_each_account_has_its_own_rate_budget(simulator: SimulatorServer) -> None:
    """`staging` admits 5 requests a second; the caller's own account (no limit here) is not touched by it."""
    staging = assume(simulator, "staging", external_id="staging-ext-1")
    keys = await staging.get()
    home = own_keys(simulator)
    fast = TokenBucket(rate=1000, burst=100)
    async with (
        TencentCloudClient(
            endpoint=simulator.url,
            service=SERVICE,
            version=VERSION,
            credentials=keys,
            max_attempts=1,
            rate_limiter=fast,
        ) as limited,
        TencentCloudClient(endpoint=simulator.url, service=SERVICE, version=VERSION, credentials=home) as own,
    ):
        calls = (limited.call(ACTION, REGION, {}, deadline=time.monotonic() + 5) for _ in range(9))
        results = await asyncio.gather(*calls, return_exceptions=True)
        for _ in range(9):
            await list_ids(own)
    refused = [r for r in results if isinstance(r, APIError) and r.code == "RequestLimitExceeded"]
    assert len(refused) == 4
    by_account = {(r.account, r.code) for r in simulator.requests if r.action == ACTION}
    assert by_account == {("staging", ""), ("staging", "RequestLimitExceeded"), ("", "")}


async def test_a_renewal_that_fails_keeps_the_keys_until_they_expire(simulator: SimulatorServer) -> None:
    provider = assume(simulator, "prod")
    first = await provider.get()
    assert provider.renew_at is not None and provider.expires_at is not None
    simulator.inject("error=InternalError", 1000)
    await asyncio.sleep(provider.renew_at - time.time() + 0.05)
    assert await provider.get() is first  # renewal failed, keys still valid
    await asyncio.sleep(provider.expires_at - time.time() + 0.05)
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert caught.value.code == "InternalError"


async def test_the_official_sdk_reads_the_simulated_assume_role(simulator: SimulatorServer) -> None:
    """The SDK's own client, signing and deserializing: the simulator's `AssumeRole` is what the SDK expects."""
    assert simulator.config.secret_id is not None and simulator.config.secret_key is not None
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=simulator.endpoint, protocol="http", reqTimeout=10))
    client = sts_client.StsClient(
        credential.Credential(simulator.config.secret_id, simulator.config.secret_key), REGION, profile
    )
    request = models.AssumeRoleRequest()
    request.RoleArn = simulator.role_arn("prod")
    request.RoleSessionName = "sdk-session"
    request.DurationSeconds = 900

    def call() -> models.AssumeRoleResponse:
        return client.AssumeRole(request)

    answer = await asyncio.to_thread(call)
    assert answer.Credentials.TmpSecretId.startswith("AKID") and answer.Credentials.Token
    assert 0 < answer.ExpiredTime - time.time() <= 6 and answer.Expiration.endswith("Z")
    request.RoleArn = simulator.role_arn("sandbox")
    with pytest.raises(TencentCloudSDKException) as caught:
        await asyncio.to_thread(call)
    assert caught.value.code == "UnauthorizedOperation"


async def test_temporary_keys_stay_out_of_logs_and_errors(
    simulator: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = assume(simulator, "prod")
    keys = await provider.get()
    simulator.inject("error=AuthFailure.TokenFailure", 1)
    errors: list[str] = []
    async with TencentCloudClient(
        endpoint=simulator.url, service=SERVICE, version=VERSION, credentials=provider, max_attempts=1
    ) as client:
        try:
            await list_ids(client)
        except APIError as exc:
            errors.append(f"{exc} {exc!r}")
        simulator.inject("error=InternalError", 100)  # renewals fail from now on, then the keys expire
        assert provider.expires_at is not None
        await asyncio.sleep(provider.expires_at - time.time() + 0.1)
        try:
            await list_ids(client)
        except CredentialError as exc:
            errors.append(f"{exc} {exc!r}")
    shown = "\n".join([caplog.text, *errors, repr(provider), repr(keys), str(keys)])
    assert len(errors) == 2 and "InternalError" in errors[1]
    assert keys.secret_key not in shown and (keys.token or "") not in shown


async def test_without_accounts_assume_role_is_not_served() -> None:
    """The single-account simulator stays as it was: `AssumeRole` is an action it does not know."""
    with signed_simulator((REGION,), groups=1) as server:
        provider = assume_with(server, "qcs::cam::uin/100000000001:roleName/tione-exporter")
        with pytest.raises(CredentialError) as caught:
            await provider.get()
    assert caught.value.code == "InvalidAction"


def assume_with(simulator: SimulatorServer, arn: str) -> AssumeRoleProvider:
    return AssumeRoleProvider(own_keys(simulator), arn, sts_endpoint=simulator.url)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"accounts": (AccountConfig("a"),)}, "accounts need secret_id and secret_key"),
        ({"accounts": (AccountConfig("a"), AccountConfig("a")), "secret_id": "x", "secret_key": "y"}, "unique"),
        ({"session_duration": 0}, "session_duration must be > 0"),
    ],
)
def test_simulator_account_settings_are_checked(config: dict[str, object], message: str) -> None:
    from exporter.simulator import SimulatorConfig

    with pytest.raises(ValueError, match=message):
        SimulatorConfig(**config)  # type: ignore[arg-type]


async def test_two_accounts_of_one_seed_are_copies_changed_one_at_a_time() -> None:
    """Accounts copied from one template: the same fleets, ids included, told apart by their own uins; a
    status, planted traffic or a resource group asked for in one account is that account's only."""
    copies = (AccountConfig("prod", seed=7, groups=3), AccountConfig("staging", seed=7, groups=3, uin="100077770042"))
    with signed_simulator((REGION,), groups=1, accounts=copies) as simulator:
        providers = {name: assume(simulator, name) for name in ("prod", "staging")}
        assert simulator.account_uin("staging") == "100077770042" != simulator.account_uin("prod")
        assert {g["Uin"] for g in simulator.fleet(REGION, account="staging")} == {"100077770042"}
        ids = {name: fleet_ids(simulator, name) for name in providers}
        assert ids["prod"] == ids["staging"] != []
        assert simulator.resource_groups(REGION, account="prod") == simulator.resource_groups(REGION, account="staging")

        group = simulator.fleet(REGION, "", account="prod")[0]
        service_id = group["Services"][0]["ServiceId"]
        simulator.set_service_status(REGION, service_id, "Abnormal", ready=0, account="staging")
        simulator.set_traffic(REGION, group["ServiceGroupId"], Traffic(calls_per_second=PLANTED), account="prod")
        for name, provider in providers.items():
            async with TencentCloudClient(
                endpoint=simulator.url, service=SERVICE, version=VERSION, credentials=provider
            ) as client:
                assert await list_ids(client) == ids[name]
            statuses = {
                s["ServiceId"]: s["Status"] for g in simulator.fleet(REGION, account=name) for s in g["Services"]
            }
            assert (statuses[service_id] == "Abnormal") == (name == "staging")
            async with TencentCloudClient(
                endpoint=simulator.url, service=monitor_api.SERVICE, version=monitor_api.VERSION, credentials=provider
            ) as client:
                records = [
                    msgspec.convert(g, ServiceGroup, strict=False) for g in simulator.fleet(REGION, "", account=name)
                ]
                queries = [
                    monitor.Query(metric, tuple(monitor.instances(records))) for metric in monitor_api.GROUP_METRICS
                ]
                window = monitor.window(time.time(), period=60, delay=120)
                deadline = time.monotonic() + 10
                found = await monitor.collect(monitor.bind(client), REGION, queries, window, deadline=deadline)
            traffic = monitor.group_traffic(found.samples)
            assert (traffic[group["ServiceGroupId"]].requests_per_second == PLANTED) == (name == "prod"), name
