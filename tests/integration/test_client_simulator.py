"""The client against the simulated TI-ONE API over loopback HTTP: signatures, tokens, faults, retries, deadline."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.simulator import SimulatorConfig, SimulatorServer
from exporter.tencentcloud.client import ClientHooks, TencentCloudClient
from exporter.tencentcloud.credentials import (
    CredentialProvider,
    Credentials,
    EnvProvider,
)
from exporter.tencentcloud.errors import APIError, TransportError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tencentcloud.roles import CvmRoleProvider
from tests.integration.test_client_credentials import Metadata
from tests.loopback_http import FakeServer

ACTION = "DescribeModelServiceGroups"
REGION = "ap-guangzhou"
SECRET_ID, SECRET_KEY = "AKIDsimulated00000000000000000001", "simulated-secret-key-1"
TMP_ID, TMP_KEY, TMP_TOKEN = "AKIDtemporary0000000000000000001", "temporary-secret-key", "temporary-session-token"


class Counts(ClientHooks):
    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0
        self.errors: Counter[str] = Counter()

    def on_request(self, region: str, action: str) -> None:
        self.requests += 1

    def on_retry(self, region: str, action: str) -> None:
        self.retries += 1

    def on_error(self, region: str, action: str, code: str) -> None:
        self.errors[code] += 1


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        groups=5,
        regions=(REGION,),
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        credentials=((TMP_ID, TMP_KEY, TMP_TOKEN),),
        churn=False,
        rate_limit=None,
        timeout_hold=30,
    )
    with SimulatorServer(config) as server:
        yield server


def client(
    sim: SimulatorServer, credentials: Credentials | CredentialProvider, hooks: ClientHooks | None = None, **kw: Any
) -> TencentCloudClient:
    options: dict[str, Any] = {
        "endpoint": sim.url,
        "service": "tione",
        "version": "2021-11-11",
        "credentials": credentials,
        "rate_limiter": TokenBucket(rate=200, burst=20),
        "hooks": hooks,
        "backoff_base": 0.02,
        "backoff_cap": 0.2,
        **kw,
    }
    return TencentCloudClient(**options)


def soon(seconds: float = 10) -> float:
    return time.monotonic() + seconds


async def test_signed_call_is_accepted(sim: SimulatorServer) -> None:
    async with client(sim, Credentials(SECRET_ID, SECRET_KEY)) as api:
        answer = await api.call(ACTION, REGION, {"Limit": 100}, deadline=soon())
    assert answer["TotalCount"] == len(sim.fleet(REGION, ""))
    assert {group["ServiceGroupId"] for group in answer["ServiceGroups"]} == {
        group["ServiceGroupId"] for group in sim.fleet(REGION, "")
    }
    (recorded,) = sim.requests
    assert recorded.code == "" and recorded.headers["x-tc-action"] == ACTION
    assert recorded.headers["host"] == sim.endpoint and "x-tc-token" not in recorded.headers


async def test_temporary_credentials_with_token_are_accepted(sim: SimulatorServer) -> None:
    async with client(sim, Credentials(TMP_ID, TMP_KEY, TMP_TOKEN)) as api:
        assert "TotalCount" in await api.call(ACTION, REGION, {}, deadline=soon())
    assert sim.requests[-1].headers["x-tc-token"] == TMP_TOKEN


async def test_temporary_keys_without_their_token_fail_once(sim: SimulatorServer) -> None:
    hooks = Counts()
    async with client(sim, Credentials(TMP_ID, TMP_KEY), hooks) as api:
        with pytest.raises(APIError) as caught:
            await api.call(ACTION, REGION, {}, deadline=soon())
    assert caught.value.code == "AuthFailure.TokenFailure"
    assert sim.request_count == 1 and hooks.retries == 0


async def test_wrong_key_fails_once_without_retry(sim: SimulatorServer) -> None:
    hooks = Counts()
    async with client(sim, Credentials(SECRET_ID, "not-the-key"), hooks) as api:
        with pytest.raises(APIError) as caught:
            await api.call(ACTION, REGION, {}, deadline=soon())
    error = caught.value
    assert error.code == "AuthFailure.SignatureFailure"
    assert "AuthFailure.SignatureFailure" in str(error) and error.request_id
    assert "not-the-key" not in str(error)
    assert sim.request_count == 1
    assert (hooks.requests, hooks.retries, dict(hooks.errors)) == (1, 0, {"AuthFailure.SignatureFailure": 1})


async def test_unknown_secret_id_and_region_are_not_retried(sim: SimulatorServer) -> None:
    hooks = Counts()
    async with client(sim, Credentials("AKIDunknown", SECRET_KEY), hooks) as api:
        with pytest.raises(APIError, match=r"AuthFailure\.SecretIdNotFound"):
            await api.call(ACTION, REGION, {}, deadline=soon())
    async with client(sim, Credentials(SECRET_ID, SECRET_KEY), hooks) as api:
        with pytest.raises(APIError, match="UnsupportedRegion"):
            await api.call(ACTION, "ap-nowhere", {}, deadline=soon())
        with pytest.raises(APIError, match="InvalidParameterValue"):
            await api.call(ACTION, REGION, {"Limit": 1000}, deadline=soon())
    assert sim.request_count == 3 and hooks.retries == 0


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("error=InternalError", "InternalError"),
        ("error=RequestLimitExceeded", "RequestLimitExceeded"),
        ("error=FailedOperation.ClusterQueryFailed", "FailedOperation.ClusterQueryFailed"),
        ("http500", "HTTPError"),
        ("http502", "HTTPError"),
        ("http503", "HTTPError"),
        ("malformed", "MalformedResponse"),
        ("truncated", "MalformedResponse"),
        ("empty", "MalformedResponse"),
        ("timeout", "Timeout"),
    ],
)
async def test_injected_faults_are_retried_and_succeed(sim: SimulatorServer, fault: str, code: str) -> None:
    hooks = Counts()
    sim.inject(fault, count=2)
    async with client(sim, Credentials(SECRET_ID, SECRET_KEY), hooks, read_timeout=0.3) as api:
        answer = await api.call(ACTION, REGION, {}, deadline=soon())
    assert answer["TotalCount"] == len(sim.fleet(REGION, ""))
    assert sim.request_count == 3
    assert hooks.requests == 3 and hooks.retries == 2 and hooks.errors == {code: 2}


@pytest.mark.parametrize("code", ["InvalidParameter", "UnauthorizedOperation", "FailedOperation.NoPermission"])
async def test_injected_permanent_errors_are_not_retried(sim: SimulatorServer, code: str) -> None:
    hooks = Counts()
    sim.inject(f"error={code}", count=5)
    async with client(sim, Credentials(SECRET_ID, SECRET_KEY), hooks) as api:
        with pytest.raises(APIError) as caught:
            await api.call(ACTION, REGION, {}, deadline=soon())
    assert caught.value.code == code and sim.request_count == 1 and hooks.errors == {code: 1}


async def test_the_deadline_bounds_the_whole_call(sim: SimulatorServer) -> None:
    sim.inject("error=InternalError", count=10_000)
    hooks = Counts()
    async with client(sim, Credentials(SECRET_ID, SECRET_KEY), hooks, backoff_base=0.05, backoff_cap=0.2) as api:
        start = time.monotonic()
        with pytest.raises(APIError) as caught:
            await api.call(ACTION, REGION, {}, deadline=start + 1.0)
        elapsed = time.monotonic() - start
    assert caught.value.code == "InternalError"
    assert elapsed <= 1.0 + 0.15
    assert sim.request_count == hooks.requests >= 4 and hooks.retries == hooks.requests - 1


async def test_the_last_attempt_waits_only_for_the_time_left(sim: SimulatorServer) -> None:
    """A held answer with a 10 s read timeout: the call still ends at its 0.6 s deadline."""
    sim.inject("timeout", count=100)
    hooks = Counts()
    async with client(sim, Credentials(SECRET_ID, SECRET_KEY), hooks, read_timeout=10) as api:
        start = time.monotonic()
        with pytest.raises(TransportError) as caught:
            await api.call(ACTION, REGION, {}, deadline=start + 0.6)
        elapsed = time.monotonic() - start
    assert caught.value.code == "Timeout"
    assert 0.55 <= elapsed <= 0.9
    assert hooks.requests == 1 and hooks.errors == {"Timeout": 1}


async def test_rotated_file_secrets_are_used_for_the_next_call(sim: SimulatorServer, tmp_path: Path) -> None:
    id_file, key_file = tmp_path / "id", tmp_path / "key"
    id_file.write_text(SECRET_ID + "\n")
    key_file.write_text(SECRET_KEY + "\n")
    env = {"TENCENTCLOUD_SECRET_ID_FILE": str(id_file), "TENCENTCLOUD_SECRET_KEY_FILE": str(key_file)}
    async with client(sim, EnvProvider(env, files=True)) as api:
        await api.call(ACTION, REGION, {}, deadline=soon())
        sim.add_credentials("AKIDrotated", "rotated-secret-key")
        sim.remove_credentials(SECRET_ID)
        with pytest.raises(APIError, match=r"AuthFailure\.SecretIdNotFound"):
            await api.call(ACTION, REGION, {}, deadline=soon())
        (tmp_path / "id.new").write_text("AKIDrotated")
        (tmp_path / "key.new").write_text("rotated-secret-key")
        (tmp_path / "id.new").replace(id_file)
        (tmp_path / "key.new").replace(key_file)
        await api.call(ACTION, REGION, {}, deadline=soon())
    assert [request.code for request in sim.requests] == ["", "AuthFailure.SecretIdNotFound", ""]


async def test_cvm_role_keys_are_accepted_and_renewed(sim: SimulatorServer) -> None:
    metadata = Metadata(lifetime=3600)
    with FakeServer(metadata.route) as server:
        clock_offset = [0.0]
        provider = CvmRoleProvider(server.url, clock=lambda: time.time() + clock_offset[0])
        for version in (1, 2):
            sim.add_credentials(
                f"AKIDtmp{version}",
                f"tmp-Secret-Key-Value-0123456789{version}",
                f"tmp-Session-Token-0123456789{version}",
            )
        async with client(sim, provider) as api:
            await api.call(ACTION, REGION, {}, deadline=soon())
            clock_offset[0] = 3600 - 100  # within the renewal margin
            await api.call(ACTION, REGION, {}, deadline=soon())
    assert [request.headers["x-tc-token"] for request in sim.requests] == [
        "tmp-Session-Token-01234567891",
        "tmp-Session-Token-01234567892",
    ]
    assert all(request.code == "" for request in sim.requests)
