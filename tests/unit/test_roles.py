"""The CVM role and TKE workload identity providers against a loopback metadata service and STS.

The clock the providers read for expiry is the test's, and the answers are built from it, so renewal
times are exact; the requests go over a real socket to `tests.loopback_http.FakeServer`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import CredentialError
from exporter.tencentcloud.roles import CvmRoleProvider, TkeOidcProvider
from tests.loopback_http import FakeServer, Recorded

ROLE_PATH = "/latest/meta-data/cam/security-credentials/"
ROLE = "exporter-role"
KEYS = Credentials("AKIDtmp0001", "tmp-secret-key-0001", "tmp-session-token-0001")
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there
LIFETIME = 3600


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def keys_answer(clock: Clock, **changes: Any) -> dict[str, Any]:
    """The keys of a role as the metadata service and STS spell them, living `LIFETIME` on `clock`."""
    answer: dict[str, Any] = {
        "TmpSecretId": KEYS.secret_id,
        "TmpSecretKey": KEYS.secret_key,
        "Token": KEYS.token,
        "ExpiredTime": int(clock.now) + LIFETIME,
    }
    answer.update(changes)
    return {key: value for key, value in answer.items() if value is not None}


class Metadata:
    """The CVM metadata service: `roles` is the role list's text, `answer` the role's keys (or any text)."""

    def __init__(self, clock: Clock) -> None:
        self.roles = ROLE + "\n"
        self.answer: Any = {**keys_answer(clock), "Code": "Success", "Expiration": "2023-11-14T23:13:20Z"}
        self.status = 200
        self.keys_delay = 0.0

    def route(self, request: Recorded) -> tuple[int, str]:
        if request.path == ROLE_PATH:
            return self.status, self.roles
        if request.path == ROLE_PATH + ROLE:
            time.sleep(self.keys_delay)
            return self.status, self.answer if isinstance(self.answer, str) else json.dumps(self.answer)
        return 404, "not found"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def metadata(clock: Clock) -> Iterator[tuple[Metadata, FakeServer]]:
    service = Metadata(clock)
    with FakeServer(service.route) as server:
        yield service, server


class Timeouts:
    """An httpx client shared with the provider, recording each request's URL and read timeout."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []
        self.http = httpx.AsyncClient(event_hooks={"request": [self.record]})

    async def record(self, request: httpx.Request) -> None:
        self.seen.append((request.url.path, request.extensions["timeout"]["read"]))


async def test_cvm_role_keys_come_from_the_first_role_the_metadata_service_names(
    metadata: tuple[Metadata, FakeServer], clock: Clock
) -> None:
    service, server = metadata
    service.roles = f"\n  {ROLE}  \nanother-role\n"
    provider = CvmRoleProvider(server.url, clock=clock)
    assert await provider.available()
    assert await provider.get() == KEYS
    assert [request.path for request in server.requests] == [ROLE_PATH, ROLE_PATH, ROLE_PATH + ROLE]
    assert provider.expires_at == clock.now + LIFETIME
    assert provider.renew_at == clock.now + LIFETIME - 300  # the default margin: 5 minutes before expiry


async def test_cvm_role_keys_are_renewed_the_given_margin_before_they_expire(
    metadata: tuple[Metadata, FakeServer], clock: Clock
) -> None:
    service, server = metadata
    provider = CvmRoleProvider(server.url, refresh_margin=600, clock=clock)
    first = await provider.get()
    assert provider.renew_at == clock.now + LIFETIME - 600
    clock.now += LIFETIME - 601
    assert await provider.get() is first
    clock.now += 2
    service.answer = {**service.answer, "TmpSecretId": "AKIDtmp0002", "ExpiredTime": int(clock.now) + LIFETIME}
    assert (await provider.get()).secret_id == "AKIDtmp0002"
    assert provider.refreshes == 2


async def test_the_metadata_probe_and_fetch_have_their_own_timeouts(metadata: tuple[Metadata, FakeServer]) -> None:
    """The probe runs wherever the exporter starts, CVM or not: it waits one second, a fetch five."""
    _, server = metadata
    shared = Timeouts()
    assert await CvmRoleProvider(server.url + "/", http=shared.http).available()  # a trailing slash: not doubled
    await CvmRoleProvider(server.url + "/", http=shared.http).get()
    assert shared.seen == [(ROLE_PATH, 1.0), (ROLE_PATH, 5.0), (ROLE_PATH + ROLE, 5.0)]
    shared.seen.clear()
    provider = CvmRoleProvider(server.url, http=shared.http, probe_timeout=0.25, timeout=2.5)
    assert await provider.available()
    await provider.get()
    assert shared.seen == [(ROLE_PATH, 0.25), (ROLE_PATH, 2.5), (ROLE_PATH + ROLE, 2.5)]
    await shared.http.aclose()


async def test_a_slow_metadata_service_is_given_up_at_the_timeout(metadata: tuple[Metadata, FakeServer]) -> None:
    service, server = metadata
    service.keys_delay = 1.0
    provider = CvmRoleProvider(server.url, timeout=0.15)
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert caught.value.provider == "cvm-role"
    assert caught.value.reason.startswith(f"metadata service {server.url}{ROLE_PATH}{ROLE} unreachable: ReadTimeout")
    server.delay = 1.0
    assert not await CvmRoleProvider(server.url, probe_timeout=0.15).available()


async def test_the_metadata_service_is_asked_directly_never_through_a_proxy(
    metadata: tuple[Metadata, FakeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It is link-local: a proxy from the environment could not reach it (or would answer for another host)."""
    _, server = metadata
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, UNREACHABLE)
    assert await CvmRoleProvider(server.url).get() == KEYS


async def test_an_instance_without_a_role_is_not_available_and_the_log_says_why(
    metadata: tuple[Metadata, FakeServer], caplog: pytest.LogCaptureFixture
) -> None:
    service, server = metadata
    service.roles = " \n\n"
    caplog.set_level(logging.DEBUG, logger="exporter.tencentcloud.credentials")
    provider = CvmRoleProvider(server.url)
    assert not await provider.available()
    assert [record.getMessage() for record in caplog.records] == [
        "CVM role not available: CredentialError: cvm-role: no role is attached to this instance"
    ]
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert (caught.value.provider, caught.value.reason) == ("cvm-role", "no role is attached to this instance")


async def test_an_unreachable_metadata_service_is_named(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="exporter.tencentcloud.credentials")
    provider = CvmRoleProvider(UNREACHABLE)
    assert not await provider.available()
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert caught.value.provider == "cvm-role"
    assert caught.value.reason.startswith(f"metadata service {UNREACHABLE}{ROLE_PATH} unreachable: ConnectError")
    assert (
        f"CVM role not available: CredentialError: cvm-role: metadata service {UNREACHABLE}{ROLE_PATH} unreachable"
        in caplog.text
    )


@pytest.mark.parametrize("status", [404, 500, 201])
async def test_any_answer_but_200_from_the_metadata_service_is_an_error(
    metadata: tuple[Metadata, FakeServer], status: int
) -> None:
    service, server = metadata
    service.status = status
    provider = CvmRoleProvider(server.url)
    assert not await provider.available()
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert caught.value.provider == "cvm-role"
    assert caught.value.reason == f"metadata service answered HTTP {status} for {server.url}{ROLE_PATH}"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("{not json", f"metadata answer for role {ROLE} is not JSON"),
        ("[1, 2]", f"metadata answer for role {ROLE} is not a JSON object"),
        ({"Code": "AccessDenied"}, f"metadata service refused role {ROLE}: Code=AccessDenied"),
        ({}, f"metadata service refused role {ROLE}: Code=None"),
        ({"Code": "E" * 100}, f"metadata service refused role {ROLE}: Code={'E' * 64}"),
        ({"Code": "Success", "TmpSecretKey": None}, "metadata answer lacks TmpSecretKey"),
        ({"Code": "Success", "ExpiredTime": None}, "answer has no valid ExpiredTime"),
        ({"Code": "Success", "ExpiredTime": "soon"}, "answer has no valid ExpiredTime"),
    ],
)
async def test_a_malformed_metadata_answer_is_named_without_the_keys_it_holds(
    metadata: tuple[Metadata, FakeServer], clock: Clock, answer: Any, reason: str
) -> None:
    service, server = metadata
    if isinstance(answer, dict):
        answer = keys_answer(clock, **answer)
    service.answer = answer
    with pytest.raises(CredentialError) as caught:
        await CvmRoleProvider(server.url, clock=clock).get()
    assert (caught.value.provider, caught.value.reason) == ("cvm-role", reason)
    assert KEYS.secret_key not in str(caught.value) and str(KEYS.token) not in str(caught.value)


# TKE workload identity


REGION = "ap-shanghai"
PROVIDER_ID = "oidc-provider"
ROLE_ARN = "qcs::cam::uin/100000000001:roleName/exporter"
WEB_TOKEN = "web-identity-token-0001"


class Sts:
    """STS `AssumeRoleWithWebIdentity`: `answer` is the `Response` object it gives, or `body` the whole text."""

    def __init__(self, clock: Clock) -> None:
        self.answer: dict[str, Any] = {"Credentials": keys_answer(clock), "RequestId": "sts-1"}
        self.answer["ExpiredTime"] = self.answer["Credentials"].pop("ExpiredTime")
        self.status = 200
        self.body: str | None = None

    def route(self, request: Recorded) -> tuple[int, str]:
        return self.status, self.body if self.body is not None else json.dumps({"Response": self.answer})


@pytest.fixture
def sts(clock: Clock) -> Iterator[tuple[Sts, FakeServer]]:
    service = Sts(clock)
    with FakeServer(service.route) as server:
        yield service, server


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(WEB_TOKEN + "\n")
    return path


def tke_env(token_file: Path, **changes: str | None) -> dict[str, str]:
    environ: dict[str, str | None] = {
        "TKE_REGION": REGION,
        "TKE_PROVIDER_ID": PROVIDER_ID,
        "TKE_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "TKE_ROLE_ARN": ROLE_ARN,
        **changes,
    }
    return {name: value for name, value in environ.items() if value is not None}


async def test_tke_exchanges_the_pods_token_at_sts_in_an_unsigned_call(
    sts: tuple[Sts, FakeServer], token_file: Path, clock: Clock
) -> None:
    _, server = sts
    shared = Timeouts()
    provider = TkeOidcProvider(tke_env(token_file), sts_endpoint=server.url, http=shared.http, clock=clock)
    assert await provider.get() == KEYS
    assert provider.expires_at == clock.now + LIFETIME and provider.renew_at == clock.now + LIFETIME - 300
    assert shared.seen == [("/", 10.0)]  # through the shared client, with the default timeout
    (request,) = server.requests
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert (request.method, request.path) == ("POST", "/")
    assert {name: headers[name] for name in ("x-tc-action", "x-tc-version", "x-tc-region", "authorization")} == {
        "x-tc-action": "AssumeRoleWithWebIdentity",
        "x-tc-version": "2018-08-13",
        "x-tc-region": REGION,
        "authorization": "SKIP",
    }
    assert headers["host"] == server.url.removeprefix("http://")
    assert headers["content-type"] == "application/json"
    assert abs(int(headers["x-tc-timestamp"]) - time.time()) < 5
    body = json.loads(request.body)
    session = body.pop("RoleSessionName")
    assert body == {
        "ProviderId": PROVIDER_ID,
        "WebIdentityToken": WEB_TOKEN,
        "RoleArn": ROLE_ARN,
        "DurationSeconds": 7200,
    }
    found = re.fullmatch(r"tione-exporter-([0-9]+)", session)
    assert found is not None, session
    assert abs(int(found[1]) - time.time_ns() // 1000) < 5_000_000  # the time in microseconds
    await shared.http.aclose()


async def test_tke_session_name_duration_and_timeout_are_the_given_ones(
    sts: tuple[Sts, FakeServer], token_file: Path, clock: Clock
) -> None:
    _, server = sts
    shared = Timeouts()
    provider = TkeOidcProvider(
        tke_env(token_file),
        sts_endpoint=server.url,
        http=shared.http,
        clock=clock,
        session_name="exporter-prod",
        duration_seconds=900,
        timeout=2.5,
        refresh_margin=60,
    )
    await provider.get()
    body = json.loads(server.requests[0].body)
    assert body["RoleSessionName"].startswith("exporter-prod-") and body["DurationSeconds"] == 900
    assert shared.seen == [("/", 2.5)]
    assert provider.renew_at == clock.now + LIFETIME - 60
    await shared.http.aclose()


async def test_tke_reads_the_rotated_token_at_each_renewal_with_a_client_of_its_own(
    sts: tuple[Sts, FakeServer], token_file: Path, clock: Clock
) -> None:
    service, server = sts
    provider = TkeOidcProvider(tke_env(token_file), sts_endpoint=server.url, clock=clock)
    assert await provider.get() == KEYS
    token_file.write_text("web-identity-token-0002-rotated")
    clock.now += LIFETIME - 200
    service.answer["ExpiredTime"] = int(clock.now) + LIFETIME
    await provider.get()
    tokens = [json.loads(request.body)["WebIdentityToken"] for request in server.requests]
    assert tokens == [WEB_TOKEN, "web-identity-token-0002-rotated"]
    actions = [request.headers.get("X-TC-Action") for request in server.requests]
    assert actions == ["AssumeRoleWithWebIdentity"] * 2


async def test_a_slow_sts_is_given_up_at_the_timeout(sts: tuple[Sts, FakeServer], token_file: Path) -> None:
    _, server = sts
    server.delay = 1.0
    with pytest.raises(CredentialError) as caught:
        await TkeOidcProvider(tke_env(token_file), sts_endpoint=server.url, timeout=0.15).get()
    assert caught.value.reason.startswith(f"STS {server.url}/ unreachable: ReadTimeout")


async def test_tke_is_configured_by_the_role_or_the_token_file(
    token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await TkeOidcProvider({"TKE_ROLE_ARN": ROLE_ARN}).available()
    assert await TkeOidcProvider({"TKE_WEB_IDENTITY_TOKEN_FILE": str(token_file)}).available()
    assert not await TkeOidcProvider({"TKE_ROLE_ARN": "  ", "TKE_REGION": REGION}).available()
    monkeypatch.delenv("TKE_WEB_IDENTITY_TOKEN_FILE", raising=False)
    monkeypatch.setenv("TKE_ROLE_ARN", ROLE_ARN)
    assert await TkeOidcProvider().available()  # the process's environment
    monkeypatch.delenv("TKE_ROLE_ARN")
    assert not await TkeOidcProvider().available()


def test_tke_sts_over_plain_http_only_to_loopback_or_when_allowed() -> None:
    with pytest.raises(ValueError, match="plain http"):
        TkeOidcProvider({}, sts_endpoint="http://sts.internal")
    TkeOidcProvider({}, sts_endpoint="http://sts.internal", allow_insecure=True)


async def test_missing_tke_settings_are_named_and_nothing_is_sent(
    sts: tuple[Sts, FakeServer], token_file: Path
) -> None:
    _, server = sts
    environ = tke_env(token_file, TKE_REGION=None, TKE_PROVIDER_ID=" ")
    with pytest.raises(CredentialError) as caught:
        await TkeOidcProvider(environ, sts_endpoint=server.url).get()
    assert (caught.value.provider, caught.value.reason) == (
        "tke-oidc",
        "missing environment variable TKE_REGION, TKE_PROVIDER_ID",
    )
    assert server.requests == []


async def test_a_missing_or_empty_token_file_is_named_and_nothing_is_sent(
    sts: tuple[Sts, FakeServer], tmp_path: Path
) -> None:
    _, server = sts
    path = tmp_path / "token"
    provider = TkeOidcProvider(tke_env(path), sts_endpoint=server.url)
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert caught.value.provider == "tke-oidc"
    assert caught.value.reason == f"cannot read TKE_WEB_IDENTITY_TOKEN_FILE {path}: No such file or directory"
    path.write_text(" \n")
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert (caught.value.provider, caught.value.reason) == ("tke-oidc", f"TKE_WEB_IDENTITY_TOKEN_FILE {path} is empty")
    assert server.requests == []


async def test_an_unreachable_sts_is_named(token_file: Path) -> None:
    with pytest.raises(CredentialError) as caught:
        await TkeOidcProvider(tke_env(token_file), sts_endpoint=UNREACHABLE).get()
    assert caught.value.provider == "tke-oidc"
    assert caught.value.reason.startswith(f"STS {UNREACHABLE}/ unreachable: ConnectError")


@pytest.mark.parametrize(
    ("status", "body", "answer", "reason"),
    [
        (500, None, {}, "STS {url}/ answered HTTP 500"),
        (201, None, {}, "STS {url}/ answered HTTP 201"),
        (200, "{not json", {}, "STS {url}/ answer is not JSON"),
        (200, "[]", {}, "STS {url}/ answer has no Response object"),
        (200, '{"response": {}}', {}, "STS {url}/ answer has no Response object"),
        (200, None, {"Credentials": None}, "STS {url}/ answer lacks Credentials"),
        (200, None, {"Credentials": ["AKID"]}, "STS {url}/ answer lacks Credentials"),
        (200, None, {"Credentials": {"TmpSecretId": "AKIDtmp", "TmpSecretKey": "k"}}, "STS answer lacks Token"),
        (200, None, {"ExpiredTime": None}, "answer has no valid ExpiredTime"),
    ],
)
async def test_a_failed_or_malformed_sts_answer_is_named(
    sts: tuple[Sts, FakeServer], token_file: Path, status: int, body: str | None, answer: dict[str, Any], reason: str
) -> None:
    service, server = sts
    service.status, service.body = status, body
    service.answer = {key: value for key, value in {**service.answer, **answer}.items() if value is not None}
    with pytest.raises(CredentialError) as caught:
        await TkeOidcProvider(tke_env(token_file), sts_endpoint=server.url).get()
    assert (caught.value.provider, caught.value.reason) == ("tke-oidc", reason.format(url=server.url))


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            {"Code": f"InvalidParameter.{WEB_TOKEN}", "Message": f"token {WEB_TOKEN}\n  rejected"},
            "InvalidParameter.***: token *** rejected",
        ),
        ({"Code": "C" * 150, "Message": "M" * 400}, f"{'C' * 97}...: {'M' * 297}..."),
        ({}, ": "),
    ],
)
async def test_an_sts_error_is_reported_one_line_bounded_and_without_the_token(
    sts: tuple[Sts, FakeServer], token_file: Path, error: dict[str, str], shown: str
) -> None:
    service, server = sts
    service.answer = {"Error": error, "RequestId": "sts-err"}
    with pytest.raises(CredentialError) as caught:
        await TkeOidcProvider(tke_env(token_file), sts_endpoint=server.url).get()
    assert caught.value.provider == "tke-oidc"
    assert caught.value.reason == f"AssumeRoleWithWebIdentity failed: {shown} (request_id=sts-err)"
    del service.answer["RequestId"]
    with pytest.raises(CredentialError) as caught:
        await TkeOidcProvider(tke_env(token_file), sts_endpoint=server.url).get()
    assert caught.value.reason.endswith(f"{shown} (request_id=)")


async def test_a_failed_tke_renewal_logs_no_secret(
    sts: tuple[Sts, FakeServer], token_file: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    service, server = sts
    caplog.set_level(logging.DEBUG)
    provider = TkeOidcProvider(tke_env(token_file), sts_endpoint=server.url, clock=clock)
    first = await provider.get()
    planted = (WEB_TOKEN, KEYS.secret_key, str(KEYS.token))
    service.answer = {"Error": {"Code": "InternalError", "Message": f"echo {WEB_TOKEN}"}, "RequestId": "r"}
    clock.now += LIFETIME - 100
    assert await provider.get() is first  # failed renewal, logged, keys still valid
    clock.now += 200
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    shown = "\n".join([caplog.text, str(caught.value), repr(caught.value), repr(first)])
    assert "renewing credentials failed" in caplog.text and "echo ***" in shown
    for value in planted:
        assert value not in shown
