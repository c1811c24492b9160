"""`AssumeRoleProvider` against a scripted STS (an httpx mock transport) on a fake clock.

The clock the provider reads for expiry is the test's; the STS answers are built from it, so renewal
margins, backoff and expiry are exact without waiting.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from exporter.tencentcloud.assume_role import AssumeRoleProvider, RoleArn
from exporter.tencentcloud.client import ClientHooks
from exporter.tencentcloud.credentials import Credentials, StaticProvider
from exporter.tencentcloud.errors import CredentialError
from exporter.tencentcloud.signing import parse_authorization

ARN = "qcs::cam::uin/100012345678:roleName/tione-readonly"
BASE = Credentials("AKIDbase0001", "base-secret-key-0001")
STS_URL = "https://sts.tencentcloudapi.com"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Sts:
    """Answers `AssumeRole` with numbered keys living `lifetime` seconds on `clock`, or the error `error`."""

    def __init__(self, clock: Clock, lifetime: int = 60) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.error: tuple[str, str] | None = None
        self.answer: dict[str, Any] | None = None
        self.requests: list[httpx.Request] = []
        self.delay = 0.0
        self.error_request_id: str | None = "r-err"

    def key(self, number: int) -> Credentials:
        return Credentials(f"AKIDtmp{number:04d}", f"tmp-secret-key-{number:04d}", f"tmp-session-token-{number:04d}")

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            body: dict[str, Any] = {"Error": {"Code": self.error[0], "Message": self.error[1]}}
            if self.error_request_id is not None:
                body["RequestId"] = self.error_request_id
        elif self.answer is not None:
            body = self.answer
        else:
            keys = self.key(len(self.requests))
            body = {
                "Credentials": {"TmpSecretId": keys.secret_id, "TmpSecretKey": keys.secret_key, "Token": keys.token},
                "ExpiredTime": int(self.clock.now) + self.lifetime,
                "Expiration": "2023-11-14T22:14:20Z",
                "RequestId": "r-ok",
            }
        return httpx.Response(200, json={"Response": body})


def provider(sts: Sts, **options: Any) -> AssumeRoleProvider:
    http = httpx.AsyncClient(transport=httpx.MockTransport(sts))
    return AssumeRoleProvider(
        options.pop("base", StaticProvider(BASE)), options.pop("role_arn", ARN), http=http, clock=sts.clock, **options
    )


async def test_assume_role_is_a_signed_sts_call_with_the_role_and_session() -> None:
    sts = Sts(Clock())
    role = provider(sts, session_name="tione-exporter-prod", external_id="ext-id-42", duration_seconds=3600)
    assert await role.get() == sts.key(1)
    (request,) = sts.requests
    assert str(request.url) == STS_URL + "/"
    assert request.headers["x-tc-action"] == "AssumeRole"
    assert request.headers["x-tc-version"] == "2018-08-13"
    assert request.headers["x-tc-region"] == "ap-guangzhou"
    assert "x-tc-token" not in request.headers
    signed = parse_authorization(request.headers["authorization"])
    assert signed is not None and (signed.secret_id, signed.service) == (BASE.secret_id, "sts")
    assert json.loads(request.content) == {
        "RoleArn": ARN,
        "RoleSessionName": "tione-exporter-prod",
        "DurationSeconds": 3600,
        "ExternalId": "ext-id-42",
    }
    assert role.uin == "100012345678"


async def test_keys_are_reused_until_a_quarter_of_their_life_is_left_then_renewed() -> None:
    clock = Clock()
    sts = Sts(clock, lifetime=60)
    role = provider(sts)
    first = await role.get()
    assert role.renew_at == clock.now + 45 and role.expires_at == clock.now + 60
    clock.now += 44.9
    assert await role.get() is first
    assert len(sts.requests) == 1
    clock.now += 0.2  # 45.1 s: 14.9 s before expiry, renewed
    assert await role.get() == sts.key(2)
    assert role.refreshes == 2


async def test_long_lived_keys_are_renewed_the_refresh_margin_before_expiry() -> None:
    clock = Clock()
    sts = Sts(clock, lifetime=7200)
    role = provider(sts, refresh_margin=300)
    await role.get()
    assert role.renew_at == clock.now + 6900


async def test_a_failed_renewal_keeps_the_valid_keys_and_backs_off() -> None:
    clock = Clock()
    sts = Sts(clock, lifetime=60)
    role = provider(sts, retry_base=1.0, retry_cap=8.0)
    first = await role.get()
    clock.now += 46
    sts.error = ("InternalError.SystemError", "try again")
    asked: list[float] = []
    for _ in range(28):  # 46 s .. 59.5 s in steps of 0.5 s: the renewal is tried at 46, 47, 49, 53, (61)
        before = len(sts.requests)
        assert await role.get() is first
        if len(sts.requests) > before:
            asked.append(round(clock.now - 1_700_000_000, 1))
        clock.now += 0.5
    assert asked == [46.0, 47.0, 49.0, 53.0]
    sts.error = None
    clock.now = 1_700_000_000 + 57.0  # still in the backoff after the attempt at 53 s (until 61 s): old keys
    assert await role.get() is first
    clock.now = 1_700_000_000 + 61.0  # expired, and due: STS answers again and the account recovers
    assert (await role.get()).secret_id == sts.key(len(sts.requests)).secret_id


async def test_once_the_keys_expire_the_sts_code_is_raised_and_sts_is_not_hammered() -> None:
    clock = Clock()
    sts = Sts(clock, lifetime=60)
    role = provider(sts, retry_base=2.0, retry_cap=30.0)
    await role.get()
    sts.error = ("UnauthorizedOperation", "the role no longer trusts the caller")
    clock.now += 61
    with pytest.raises(CredentialError) as caught:
        await role.get()
    assert caught.value.code == "UnauthorizedOperation"
    assert not caught.value.retryable
    assert str(caught.value) == (
        f"UnauthorizedOperation: assume-role {ARN}: AssumeRole failed: the role no longer trusts the caller "
        "(request_id=r-err)"
    )
    calls = len(sts.requests)
    for _ in range(5):  # inside the backoff: the last failure again, as a new error each time
        with pytest.raises(CredentialError) as again:
            await role.get()
        assert again.value is not caught.value and again.value.code == "UnauthorizedOperation"
    assert len(sts.requests) == calls
    clock.now += 2.0
    with pytest.raises(CredentialError):
        await role.get()
    assert len(sts.requests) == calls + 1


async def test_a_role_that_cannot_be_assumed_fails_at_once_with_its_code() -> None:
    sts = Sts(Clock())
    sts.error = ("ResourceNotFound.RoleNotFound", "The role does not exist")
    with pytest.raises(CredentialError) as caught:
        await provider(sts).get()
    assert caught.value.code == "ResourceNotFound.RoleNotFound"
    assert caught.value.provider == f"assume-role {ARN}"


async def test_concurrent_gets_share_one_renewal() -> None:
    clock = Clock()
    sts = Sts(clock, lifetime=60)
    sts.delay = 0.05
    role = provider(sts)
    results = await asyncio.gather(*(role.get() for _ in range(20)))
    assert {keys.secret_id for keys in results} == {sts.key(1).secret_id}
    clock.now += 50
    results = await asyncio.gather(*(role.get() for _ in range(20)))
    assert {keys.secret_id for keys in results} == {sts.key(2).secret_id}
    assert len(sts.requests) == 2 and role.refreshes == 2


async def test_the_exporters_own_credentials_failing_is_named_as_such() -> None:
    class Broken:
        name = "environment"

        async def get(self) -> Credentials:
            raise CredentialError("environment", "neither TENCENTCLOUD_SECRET_ID nor TENCENTCLOUD_SECRET_ID_FILE")

    sts = Sts(Clock())
    with pytest.raises(CredentialError) as caught:
        await provider(sts, base=Broken()).get()
    assert caught.value.code == "CredentialError"
    assert "the exporter's own credentials: environment: neither TENCENTCLOUD_SECRET_ID" in str(caught.value)
    assert sts.requests == []


@pytest.mark.parametrize(
    ("answer", "reason", "code"),
    [
        (
            {"Credentials": {"TmpSecretId": "AKIDx", "Token": "t"}, "ExpiredTime": 1},
            "AssumeRole answer lacks Credentials.TmpSecretKey",
            "MalformedResponse",
        ),
        (
            {"ExpiredTime": 1},
            "AssumeRole answer lacks Credentials.TmpSecretId, Credentials.TmpSecretKey, Credentials.Token",
            "MalformedResponse",
        ),
        (
            {"Credentials": {"TmpSecretId": "AKIDx", "TmpSecretKey": "k", "Token": "t"}},
            "AssumeRole answer lacks ExpiredTime",
            "MalformedResponse",
        ),
        (
            {"Credentials": {"TmpSecretId": "AKIDx", "TmpSecretKey": "k", "Token": "t"}, "ExpiredTime": 0},
            "AssumeRole answer lacks ExpiredTime",
            "MalformedResponse",
        ),
        (
            {"Credentials": {"TmpSecretId": 5}, "ExpiredTime": 1},
            "AssumeRole answer has a field of the wrong type",
            "MalformedResponse",
        ),
        (
            {"Credentials": {"TmpSecretId": "AKID x", "TmpSecretKey": "k", "Token": "t"}, "ExpiredTime": 9},
            "secret id contains whitespace, control or non-ASCII characters",
            "CredentialError",
        ),
    ],
)
async def test_a_malformed_answer_is_a_clear_error(answer: dict[str, Any], reason: str, code: str) -> None:
    """The account behind the role fails with `MalformedResponse` (STS answered, but not usably)."""
    sts = Sts(Clock())
    sts.answer = answer
    with pytest.raises(CredentialError) as caught:
        await provider(sts).get()
    assert (caught.value.provider, caught.value.reason, caught.value.code) == (f"assume-role {ARN}", reason, code)


async def test_an_expiry_time_spelled_as_a_string_of_digits_is_read() -> None:
    clock = Clock()
    sts = Sts(clock)
    keys = sts.key(1)
    expiry = int(clock.now) + 600
    sts.answer = {
        "Credentials": {"TmpSecretId": keys.secret_id, "TmpSecretKey": keys.secret_key, "Token": keys.token},
        "ExpiredTime": str(expiry),
    }
    role = provider(sts)
    assert await role.get() == keys
    assert role.expires_at == expiry


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"role_arn": "arn:aws:iam::1:role/x"}, "is not of the form qcs::cam::uin/"),
        ({"role_arn": "qcs::cam::uin/abc:roleName/x"}, "is not of the form"),
        ({"session_name": "a"}, "role session name 'a' must be 2-128 characters"),
        ({"session_name": "has space"}, "must be 2-128 characters"),
        ({"external_id": "x y"}, "external id must be 2-128 characters"),
        ({"duration_seconds": 0}, "session duration must be 1 to 43200 seconds, not 0"),
        ({"duration_seconds": 43201}, "not 43201"),
        ({"sts_endpoint": "http://sts.example.com"}, "plain http to a non-loopback host"),
    ],
)
def test_bad_settings_are_refused_with_a_one_line_reason(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        provider(Sts(Clock()), **options)


def test_role_arns_of_every_documented_form_are_read() -> None:
    assert RoleArn.parse(" qcs::cam::uin/12345678:roleName/testRoleName ").role == "testRoleName"
    assert RoleArn.parse("qcs::cam::uin/12345678:role/4611686018427397919").uin == "12345678"
    service = RoleArn.parse("qcs::cam::uin/12345678:role/tencentcloudServiceRole/4611686018427397920")
    assert service.role == "tencentcloudServiceRole/4611686018427397920"


async def test_temporary_keys_never_reach_a_repr_an_error_or_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """STS echoing the keys it issued, the external id and the caller's key in an error: all scrubbed."""
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    sts = Sts(clock, lifetime=60)
    role = provider(sts, external_id="ext-secret-77")
    first = await role.get()
    planted = (first.secret_key, first.token or "", "ext-secret-77", BASE.secret_key)
    sts.error = ("InternalError", " ".join(f"echo {value}" for value in planted))
    clock.now += 50
    assert await role.get() is first  # failed renewal, logged
    clock.now += 20
    with pytest.raises(CredentialError) as caught:
        await role.get()
    shown = "\n".join([caplog.text, str(caught.value), repr(caught.value), repr(role), repr(first), str(first)])
    assert "echo ***" in str(caught.value)
    for value in planted:
        assert value not in shown
    assert "renewing credentials failed" in caplog.text


def test_credential_errors_keep_their_code_when_copied() -> None:
    error = CredentialError("assume-role x", "AssumeRole failed: no", code="UnauthorizedOperation")
    error.region = "ap-guangzhou"
    copied = error.copy()
    assert (copied.code, copied.provider, copied.reason, copied.region) == (
        "UnauthorizedOperation",
        "assume-role x",
        "AssumeRole failed: no",
        "",
    )
    assert not copied.retryable


@pytest.mark.parametrize("seconds", [1, 43200])
async def test_session_durations_at_both_limits_are_asked_for(seconds: int) -> None:
    sts = Sts(Clock())
    await provider(sts, duration_seconds=seconds).get()
    assert json.loads(sts.requests[0].content)["DurationSeconds"] == seconds


def test_plain_http_sts_may_be_allowed_for_a_private_access_point() -> None:
    role = provider(Sts(Clock()), sts_endpoint="http://sts.internal", allow_insecure=True)
    assert role.sts_url == "http://sts.internal/"


async def test_a_refused_role_is_asked_again_no_further_apart_than_the_retry_cap() -> None:
    clock = Clock()
    sts = Sts(clock)
    sts.error = ("UnauthorizedOperation", "not trusted")
    role = provider(sts, retry_base=1.0, retry_cap=2.0)
    asked: list[float] = []
    for step in range(20):  # 0 s .. 9.5 s: asked at 0, 1, 3 (backoff 1, 2), then every 2 s
        clock.now = 1_700_000_000 + step * 0.5
        before = len(sts.requests)
        with pytest.raises(CredentialError):
            await role.get()
        if len(sts.requests) > before:
            asked.append(step * 0.5)
    assert asked == [0.0, 1.0, 3.0, 5.0, 7.0, 9.0]


class RecordingHooks(ClientHooks):
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.throttle_waits: list[float] = []

    def on_request(self, region: str, action: str) -> None:
        self.requests.append((region, action))

    def on_throttle_wait(self, seconds: float) -> None:
        self.throttle_waits.append(seconds)


async def test_the_given_hooks_observe_the_sts_calls_in_the_given_region() -> None:
    sts = Sts(Clock())
    hooks = RecordingHooks()
    await provider(sts, hooks=hooks, region="ap-singapore").get()
    assert hooks.requests == [("ap-singapore", "AssumeRole")]
    assert sts.requests[0].headers["x-tc-region"] == "ap-singapore"


async def test_sts_calls_are_paced_to_50_a_second_after_a_burst_of_50() -> None:
    """Many roles renewing at once (or a role refused again and again) stay within STS's rate."""
    sts = Sts(Clock())
    sts.error = ("UnauthorizedOperation", "not trusted")
    hooks = RecordingHooks()
    role = provider(sts, hooks=hooks, retry_base=0.0)
    for _ in range(70):
        with pytest.raises(CredentialError):
            await role.get()
    assert len(sts.requests) == 70
    assert sum(hooks.throttle_waits[:50]) < 0.5  # the burst: no wait (the default bucket's 2 would wait 4.8 s)
    assert sum(hooks.throttle_waits[50:]) < 1.0  # then 1/50 s apart: 0.4 s (10 a second would take 2 s)


async def test_a_given_name_names_the_provider_in_its_errors() -> None:
    sts = Sts(Clock())
    sts.error = ("UnauthorizedOperation", "not trusted")
    with pytest.raises(CredentialError) as caught:
        await provider(sts, name="account prod").get()
    assert caught.value.provider == "account prod"


async def test_the_code_of_the_exporters_own_credentials_is_kept() -> None:
    """A chain of roles: the base is itself a role STS refused; the account fails with STS's code."""

    class Refused:
        name = "assume-role base"

        async def get(self) -> Credentials:
            raise CredentialError(self.name, "AssumeRole failed: no", code="UnauthorizedOperation")

    with pytest.raises(CredentialError) as caught:
        await provider(Sts(Clock()), base=Refused()).get()
    assert (caught.value.provider, caught.value.code) == (f"assume-role {ARN}", "UnauthorizedOperation")
    assert caught.value.reason == "the exporter's own credentials: assume-role base: AssumeRole failed: no"


async def test_an_sts_error_without_a_request_id_names_none() -> None:
    sts = Sts(Clock())
    sts.error = ("ResourceNotFound.RoleNotFound", "The role does not exist")
    sts.error_request_id = None
    with pytest.raises(CredentialError) as caught:
        await provider(sts).get()
    assert caught.value.reason == "AssumeRole failed: The role does not exist"


async def test_a_short_external_id_echoed_by_sts_is_scrubbed_too() -> None:
    sts = Sts(Clock())
    sts.error = ("InvalidParameter", "ExternalId q7 does not match")
    with pytest.raises(CredentialError) as caught:
        await provider(sts, external_id="q7").get()
    assert caught.value.reason == "AssumeRole failed: ExternalId *** does not match (request_id=r-err)"


async def test_each_assumption_is_logged_with_its_expiry_and_request_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="exporter.tencentcloud.assume_role")
    clock = Clock()
    sts = Sts(clock, lifetime=60)
    role = provider(sts)
    await role.get()
    keys = sts.key(2)
    sts.answer = {
        "Credentials": {"TmpSecretId": keys.secret_id, "TmpSecretKey": keys.secret_key, "Token": keys.token},
        "ExpiredTime": 1_700_000_170,
    }
    clock.now += 50
    await role.get()
    assert [record.getMessage() for record in caplog.records] == [
        f"assumed {ARN} until 1700000060 (request_id=r-ok)",
        f"assumed {ARN} until 1700000170 (request_id=)",
    ]
