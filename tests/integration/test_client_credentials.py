"""Temporary credentials over real HTTP: a loopback fake of the CVM metadata service and of STS."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.tencentcloud.chain import default_chain
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import CredentialError
from exporter.tencentcloud.roles import CvmRoleProvider, TkeOidcProvider
from tests.loopback_http import FakeServer, Recorded

ROLE_PATH = "/latest/meta-data/cam/security-credentials/"
TMP_KEY = "tmp-Secret-Key-Value-0123456789"
TMP_TOKEN = "tmp-Session-Token-0123456789"


class Metadata:
    """The CVM metadata service: a role, and its keys that change at every fetch (`version`)."""

    def __init__(self, lifetime: float = 3600) -> None:
        self.role = "exporter-role"
        self.version = 0
        self.lifetime = lifetime
        self.code = "Success"

    def route(self, request: Recorded) -> tuple[int, str]:
        if request.path == ROLE_PATH:
            return 200, self.role
        if request.path == ROLE_PATH + self.role:
            self.version += 1
            return 200, json.dumps(
                {
                    "TmpSecretId": f"AKIDtmp{self.version}",
                    "TmpSecretKey": f"{TMP_KEY}{self.version}",
                    "Token": f"{TMP_TOKEN}{self.version}",
                    "ExpiredTime": int(time.time() + self.lifetime),
                    "Expiration": "2026-11-28T00:00:00Z",
                    "Code": self.code,
                }
            )
        return 404, "not found"


@pytest.fixture
def metadata() -> Iterator[tuple[Metadata, FakeServer]]:
    service = Metadata()
    with FakeServer(service.route) as server:
        yield service, server


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def test_cvm_role_credentials_are_fetched_cached_and_refreshed_before_expiry(
    metadata: tuple[Metadata, FakeServer],
) -> None:
    _, server = metadata
    clock = Clock()
    provider = CvmRoleProvider(server.url, refresh_margin=300, clock=clock)
    assert await provider.available()
    first = await provider.get()
    assert first == Credentials("AKIDtmp1", TMP_KEY + "1", TMP_TOKEN + "1")
    assert [r.path for r in server.requests] == [ROLE_PATH, ROLE_PATH, ROLE_PATH + "exporter-role"]

    clock.offset = 3600 - 301  # still more than the margin before expiry: cached
    assert await provider.get() is first
    assert len(server.requests) == 3

    clock.offset = 3600 - 299  # inside the margin, not yet expired: renewed now
    second = await provider.get()
    assert second.secret_id == "AKIDtmp2" and provider.refreshes == 2


async def test_concurrent_gets_during_a_refresh_trigger_one_refresh(metadata: tuple[Metadata, FakeServer]) -> None:
    service, server = metadata
    server.delay = 0.05
    provider = CvmRoleProvider(server.url)
    results = await asyncio.gather(*(provider.get() for _ in range(20)))
    assert {creds.secret_id for creds in results} == {"AKIDtmp1"}
    assert provider.refreshes == 1 and service.version == 1


async def test_cvm_role_failures_are_named_without_secrets(metadata: tuple[Metadata, FakeServer]) -> None:
    service, server = metadata
    service.code = "AccessDenied"
    provider = CvmRoleProvider(server.url)
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert str(caught.value) == (
        "CredentialError: cvm-role: metadata service refused role exporter-role: Code=AccessDenied"
    )
    service.code, service.role = "Success", ""
    with pytest.raises(CredentialError, match="cvm-role: no role is attached to this instance"):
        await CvmRoleProvider(server.url).get()


async def test_refresh_failure_keeps_still_valid_keys(metadata: tuple[Metadata, FakeServer]) -> None:
    service, server = metadata
    clock = Clock()
    provider = CvmRoleProvider(server.url, refresh_margin=300, clock=clock)
    first = await provider.get()
    service.code = "InternalError"
    clock.offset = 3600 - 100  # inside the margin: refresh fails, the keys are still valid
    assert await provider.get() is first
    clock.offset = 3600 + 1  # expired: the failure surfaces
    with pytest.raises(CredentialError, match="Code=InternalError"):
        await provider.get()


async def test_metadata_probe_gives_up_quickly(metadata: tuple[Metadata, FakeServer]) -> None:
    _, server = metadata
    server.delay = 2.0
    start = time.monotonic()
    assert not await CvmRoleProvider(server.url, probe_timeout=0.2).available()
    assert time.monotonic() - start < 1.0
    assert not await CvmRoleProvider("http://127.0.0.1:9", probe_timeout=0.2).available()


async def test_default_chain_uses_the_metadata_service_when_nothing_else_is_configured(
    metadata: tuple[Metadata, FakeServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    if Path("/etc/tencentcloud/credentials").exists():  # pragma: no cover
        pytest.skip("this machine has /etc/tencentcloud/credentials")
    _, server = metadata
    chain = default_chain(environ={}, metadata_url=server.url)
    assert (await chain.get()).secret_id == "AKIDtmp1"
    assert chain.name == "cvm-role"


class Sts:
    """STS `AssumeRoleWithWebIdentity`: checks the request like the real one would and issues numbered keys."""

    def __init__(self) -> None:
        self.issued = 0
        self.error: str | None = None
        self.tokens: list[str] = []

    def route(self, request: Recorded) -> tuple[int, str]:
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = json.loads(request.body)
        expected_headers = {
            "x-tc-action": "AssumeRoleWithWebIdentity",
            "x-tc-version": "2018-08-13",
            "x-tc-region": "ap-shanghai",
            "authorization": "SKIP",
            "content-type": "application/json",
        }
        if any(headers.get(name) != value for name, value in expected_headers.items()):
            return 200, json.dumps({"Response": {"Error": {"Code": "InvalidParameter", "Message": "headers"}}})
        if abs(int(headers["x-tc-timestamp"]) - time.time()) > 60:
            return 200, json.dumps({"Response": {"Error": {"Code": "AuthFailure.SignatureExpire", "Message": "t"}}})
        expected_keys = {"ProviderId", "WebIdentityToken", "RoleArn", "RoleSessionName", "DurationSeconds"}
        if set(body) != expected_keys or body["ProviderId"] != "oidc-provider":
            return 200, json.dumps({"Response": {"Error": {"Code": "InvalidParameter", "Message": "body"}}})
        self.tokens.append(body["WebIdentityToken"])
        if self.error:
            message = f"token {body['WebIdentityToken']}\n rejected"
            return 200, json.dumps({"Response": {"Error": {"Code": self.error, "Message": message}, "RequestId": "s"}})
        self.issued += 1
        credentials = {"TmpSecretId": f"AKIDsts{self.issued}", "TmpSecretKey": TMP_KEY, "Token": TMP_TOKEN}
        expired = int(time.time()) + body["DurationSeconds"]
        return 200, json.dumps({"Response": {"Credentials": credentials, "ExpiredTime": expired, "RequestId": "s"}})


@pytest.fixture
def sts() -> Iterator[tuple[Sts, FakeServer]]:
    service = Sts()
    with FakeServer(service.route) as server:
        yield service, server


def tke_env(token_file: Path) -> dict[str, str]:
    return {
        "TKE_REGION": "ap-shanghai",
        "TKE_PROVIDER_ID": "oidc-provider",
        "TKE_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "TKE_ROLE_ARN": "qcs::cam::uin/100000000001:roleName/exporter",
    }


async def test_tke_oidc_exchanges_the_token_and_refreshes_with_the_rotated_one(
    sts: tuple[Sts, FakeServer], tmp_path: Path
) -> None:
    service, server = sts
    token_file = tmp_path / "token"
    token_file.write_text("web-identity-token-1\n")
    clock = Clock()
    provider = TkeOidcProvider(tke_env(token_file), sts_endpoint=server.url, duration_seconds=3600, clock=clock)
    assert await provider.available()
    first = await provider.get()
    assert first == Credentials("AKIDsts1", TMP_KEY, TMP_TOKEN)
    assert await provider.get() is first and service.issued == 1

    token_file.write_text("web-identity-token-2-rotated\n")
    clock.offset = 3600 - 200  # inside the default 300 s margin
    assert (await provider.get()).secret_id == "AKIDsts2"
    assert service.tokens == ["web-identity-token-1", "web-identity-token-2-rotated"]
    request = server.requests[-1]
    assert request.method == "POST" and request.path == "/"
    assert request.headers["Host"] == server.url.removeprefix("http://")
    body = json.loads(request.body)
    assert body["RoleArn"] == "qcs::cam::uin/100000000001:roleName/exporter" and body["DurationSeconds"] == 3600
    assert body["RoleSessionName"].startswith("tione-exporter-")


async def test_tke_oidc_errors_name_the_cause_not_the_token(sts: tuple[Sts, FakeServer], tmp_path: Path) -> None:
    service, server = sts
    token_file = tmp_path / "token"
    token_file.write_text("web-identity-token-secret")
    service.error = "InvalidParameter.WebIdentityTokenError"
    provider = TkeOidcProvider(tke_env(token_file), sts_endpoint=server.url)
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert str(caught.value) == (
        "CredentialError: tke-oidc: AssumeRoleWithWebIdentity failed: "
        "InvalidParameter.WebIdentityTokenError: token *** rejected (request_id=s)"
    )
    token_file.unlink()
    with pytest.raises(CredentialError, match=f"tke-oidc: cannot read TKE_WEB_IDENTITY_TOKEN_FILE {token_file}"):
        await provider.get()
    (tmp_path / "t").write_text("x")
    unreachable = TkeOidcProvider(tke_env(tmp_path / "t"), sts_endpoint="http://127.0.0.1:9")
    with pytest.raises(CredentialError, match=r"tke-oidc: STS http://127.0.0.1:9/ unreachable: ConnectError"):
        await unreachable.get()


def test_sts_endpoint_must_be_https_unless_loopback_or_allowed() -> None:
    with pytest.raises(ValueError, match="plain http"):
        TkeOidcProvider({}, sts_endpoint="http://sts.internal")
    TkeOidcProvider({}, sts_endpoint="http://sts.internal", allow_insecure=True)


async def test_default_chain_prefers_tke_over_the_metadata_service(
    sts: tuple[Sts, FakeServer], metadata: tuple[Metadata, FakeServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _, sts_server = sts
    _, metadata_server = metadata
    token_file = tmp_path / "token"
    token_file.write_text("web-identity-token")
    chain = default_chain(environ=tke_env(token_file), metadata_url=metadata_server.url, sts_endpoint=sts_server.url)
    assert (await chain.get()).secret_id == "AKIDsts1"
    assert chain.name == "tke-oidc" and metadata_server.requests == []
