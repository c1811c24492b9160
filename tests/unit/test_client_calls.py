"""The client's call logic against an in-process transport: answers, errors, retries, deadline, hooks, secrets."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec
import pytest

from exporter.tencentcloud import signing
from exporter.tencentcloud.client import ClientHooks, TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.endpoint import EndpointError
from exporter.tencentcloud.errors import APIError, CredentialError, TencentCloudError, TransportError
from exporter.tencentcloud.ratelimit import TokenBucket

SECRET_KEY = "sk-Very-Secret-Value-0123456789"
TOKEN = "tok-Very-Secret-Token-0123456789"
CREDS = Credentials("AKIDexample", SECRET_KEY, TOKEN)

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Recorder(ClientHooks):
    def __init__(self) -> None:
        self.requests = 0
        self.errors: Counter[str] = Counter()
        self.retries = 0
        self.durations: list[float] = []
        self.throttle_waits: list[float] = []
        self.seen: set[tuple[str, ...]] = set()

    def on_request(self, region: str, action: str) -> None:
        self.seen.add(("request", region, action))
        self.requests += 1

    def on_error(self, region: str, action: str, code: str) -> None:
        self.seen.add(("error", region, action))
        self.errors[code] += 1

    def on_retry(self, region: str, action: str) -> None:
        self.seen.add(("retry", region, action))
        self.retries += 1

    def on_duration(self, action: str, seconds: float) -> None:
        self.seen.add(("duration", action))
        self.durations.append(seconds)

    def on_throttle_wait(self, seconds: float) -> None:
        self.throttle_waits.append(seconds)


def ok(body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.Response(200, json={"Response": {**(body or {}), "RequestId": "req-ok"}})


def api_error(code: str, message: str = "something") -> httpx.Response:
    return httpx.Response(200, json={"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "req-e"}})


def scripted(*answers: httpx.Response | type[Exception]) -> tuple[Handler, list[httpx.Request]]:
    """A transport handler giving `answers` in order (the last one repeats); records the requests."""
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen) - 1, len(answers) - 1)]
        if isinstance(answer, type):
            raise answer("simulated failure")
        return answer

    return handler, seen


def make_client(handler: Handler, hooks: ClientHooks | None = None, **kwargs: Any) -> TencentCloudClient:
    options: dict[str, Any] = {
        "endpoint": "http://127.0.0.1:8080",
        "service": "tione",
        "version": "2021-11-11",
        "credentials": CREDS,
        "rate_limiter": TokenBucket(rate=1000, burst=100),
        "hooks": hooks,
        "http": httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        **kwargs,
    }
    return TencentCloudClient(**options)


def soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


async def test_success_returns_response_and_sends_signed_headers() -> None:
    handler, seen = scripted(ok({"TotalCount": 3}))
    client = make_client(handler)
    answer = await client.call("DescribeThings", "ap-guangzhou", {"Limit": 100}, deadline=soon())
    assert answer == {"TotalCount": 3, "RequestId": "req-ok"}
    (request,) = seen
    assert request.method == "POST" and str(request.url) == "http://127.0.0.1:8080/"
    assert json.loads(request.content) == {"Limit": 100}
    headers = request.headers
    assert headers["Host"] == "127.0.0.1:8080"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-TC-Action"] == "DescribeThings"
    assert headers["X-TC-Version"] == "2021-11-11"
    assert headers["X-TC-Region"] == "ap-guangzhou"
    assert headers["X-TC-Token"] == TOKEN
    assert abs(int(headers["X-TC-Timestamp"]) - time.time()) < 5
    parsed = signing.parse_authorization(headers["Authorization"])
    assert parsed is not None and parsed.secret_id == "AKIDexample" and parsed.service == "tione"
    assert signing.verify(
        parsed,
        secret_key=SECRET_KEY,
        content_type="application/json",
        host="127.0.0.1:8080",
        timestamp=int(headers["X-TC-Timestamp"]),
        body=request.content,
    )


@pytest.mark.parametrize(
    "answer",
    [
        api_error("InternalError"),
        api_error("RequestLimitExceeded.UinLimitExceeded"),
        api_error("FailedOperation.ClusterQueryFailed"),
        httpx.Response(500),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(429),
        httpx.Response(408),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"NoResponse": 1}),
        httpx.Response(200, json={"Response": {"Error": {"Message": "no code"}}}),
        httpx.ConnectError,
        httpx.ReadTimeout,
    ],
)
async def test_transient_failures_are_retried(answer: httpx.Response | type[Exception]) -> None:
    handler, seen = scripted(answer, answer, ok())
    hooks = Recorder()
    client = make_client(handler, hooks)
    assert (await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon()))["RequestId"] == "req-ok"
    assert len(seen) == 3
    assert hooks.requests == 3 and hooks.retries == 2 and sum(hooks.errors.values()) == 2
    assert len(hooks.durations) == 3 and len(hooks.throttle_waits) == 3
    assert hooks.seen == {
        ("request", "ap-guangzhou", "DescribeThings"),
        ("error", "ap-guangzhou", "DescribeThings"),
        ("retry", "ap-guangzhou", "DescribeThings"),
        ("duration", "DescribeThings"),
    }


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (httpx.Response(500), "HTTPError"),
        (httpx.Response(200, text="{"), "MalformedResponse"),
        (httpx.Response(200, json=[1, 2]), "MalformedResponse"),
        (httpx.ConnectError, "NetworkError"),
        (httpx.ReadTimeout, "Timeout"),
        (httpx.PoolTimeout, "Timeout"),
    ],
)
async def test_transport_failures_have_codes(answer: httpx.Response | type[Exception], code: str) -> None:
    handler, _ = scripted(answer)
    hooks = Recorder()
    client = make_client(handler, hooks, max_attempts=2)
    with pytest.raises(TransportError) as caught:
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon())
    assert caught.value.code == code
    assert (caught.value.region, caught.value.action) == ("ap-guangzhou", "DescribeThings")
    assert hooks.errors == {code: 2} and hooks.retries == 1


@pytest.mark.parametrize(
    "code",
    [
        "AuthFailure.SignatureFailure",
        "AuthFailure.SecretIdNotFound",
        "UnauthorizedOperation",
        "FailedOperation.NoPermission",
        "InvalidParameterValue.Limit",
        "MissingParameter",
        "UnsupportedRegion",
        "InvalidAction",
        "ResourceNotFound",
        "SomethingNobodyHasSeenBefore",
    ],
)
async def test_permanent_errors_are_not_retried(code: str) -> None:
    handler, seen = scripted(api_error(code, "the message"), ok())
    hooks = Recorder()
    client = make_client(handler, hooks)
    with pytest.raises(APIError) as caught:
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon())
    error = caught.value
    assert (error.code, error.message, error.request_id) == (code, "the message", "req-e")
    assert (error.region, error.action) == ("ap-guangzhou", "DescribeThings")
    assert str(error) == f"{code}: the message (region=ap-guangzhou action=DescribeThings request_id=req-e)"
    assert len(seen) == 1 and hooks.requests == 1 and hooks.retries == 0 and hooks.errors == {code: 1}


@pytest.mark.parametrize("status", [400, 403, 404, 405])
async def test_http_client_errors_are_final(status: int) -> None:
    handler, seen = scripted(httpx.Response(status), ok())
    hooks = Recorder()
    client = make_client(handler, hooks)
    with pytest.raises(TransportError) as caught:
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon())
    assert (caught.value.code, caught.value.status) == ("HTTPError", status)
    assert f"HTTP {status}" in str(caught.value)
    assert len(seen) == 1 and hooks.retries == 0


async def test_deadline_bounds_retries_and_the_last_error_is_reported() -> None:
    handler, seen = scripted(api_error("InternalError"))
    hooks = Recorder()
    client = make_client(handler, hooks, backoff_base=0.02, backoff_cap=0.1)
    start = time.monotonic()
    with pytest.raises(APIError) as caught:
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=start + 0.6)
    elapsed = time.monotonic() - start
    assert caught.value.code == "InternalError"
    assert elapsed <= 0.6 + 0.15
    assert len(seen) >= 4 and hooks.retries == len(seen) - 1


async def test_slow_answer_is_cut_at_the_deadline() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return ok()

    hooks = Recorder()
    client = make_client(slow, hooks)
    start = time.monotonic()
    with pytest.raises(TransportError) as caught:
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=start + 0.3)
    assert caught.value.code == "Timeout" and "deadline reached while waiting for the answer" in str(caught.value)
    assert time.monotonic() - start < 0.5
    assert hooks.errors == {"Timeout": 1} and hooks.requests == 1


async def test_no_attempt_starts_after_the_deadline() -> None:
    handler, seen = scripted(ok())
    client = make_client(handler)
    with pytest.raises(TransportError, match="deadline reached before the request could be sent"):
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=time.monotonic() - 1)
    assert seen == []


async def test_deadline_while_waiting_for_the_rate_limiter() -> None:
    handler, seen = scripted(ok())
    hooks = Recorder()
    bucket = TokenBucket(rate=1, burst=1)
    await bucket.acquire()
    client = make_client(handler, hooks, rate_limiter=bucket)
    with pytest.raises(TransportError, match="deadline reached while waiting for the rate limiter"):
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon(0.2))
    assert seen == [] and hooks.requests == 0 and hooks.errors == {}
    assert len(hooks.throttle_waits) == 1 and hooks.throttle_waits[0] >= 0.15


async def test_every_attempt_passes_the_bucket() -> None:
    class CountingBucket(TokenBucket):
        taken = 0

        async def acquire(self) -> float:
            CountingBucket.taken += 1
            return await super().acquire()

    handler, seen = scripted(api_error("InternalError"), httpx.Response(503), ok())
    hooks = Recorder()
    client = make_client(handler, hooks, rate_limiter=CountingBucket(rate=1000, burst=10))
    await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon())
    assert CountingBucket.taken == len(seen) == 3 == len(hooks.throttle_waits)


async def test_bucket_wait_is_reported() -> None:
    handler, _ = scripted(ok())
    hooks = Recorder()
    client = make_client(handler, hooks, rate_limiter=TokenBucket(rate=20, burst=1))
    for _ in range(3):
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon())
    assert hooks.throttle_waits[0] < 0.01 and all(0.03 < wait < 0.3 for wait in hooks.throttle_waits[1:])


async def test_max_attempts() -> None:
    handler, seen = scripted(api_error("InternalError"))
    client = make_client(handler, max_attempts=3)
    with pytest.raises(APIError):
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon())
    assert len(seen) == 3


def test_backoff_is_full_jitter_between_zero_and_the_capped_exponential() -> None:
    client = make_client(scripted(ok())[0], backoff_base=0.1, backoff_cap=1.0, rng=random.Random(7))
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (50, 1.0), (10_000, 1.0)]:
        samples = [client.backoff(attempt) for _ in range(400)]
        assert all(0.0 <= sample <= ceiling for sample in samples)
        assert min(samples) < ceiling * 0.1 and max(samples) > ceiling * 0.9


async def test_credential_errors_are_raised_without_a_request() -> None:
    class Broken:
        name = "broken"

        async def get(self) -> Credentials:
            raise CredentialError("broken", "no key")

    handler, seen = scripted(ok())
    hooks = Recorder()
    client = make_client(handler, hooks, credentials=Broken())
    with pytest.raises(CredentialError, match="broken: no key"):
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon())
    assert seen == [] and hooks.errors == {"CredentialError": 1} and hooks.retries == 0


async def test_secrets_never_reach_errors() -> None:
    echo = f"bad request, key {SECRET_KEY} token {TOKEN}"
    handler, _ = scripted(api_error("InvalidParameter", echo))
    client = make_client(handler)
    with pytest.raises(TencentCloudError) as caught:
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon())
    for text in (str(caught.value), repr(caught.value), caught.value.message):
        assert SECRET_KEY not in text and TOKEN not in text and "Authorization" not in text


async def test_network_error_text_is_scrubbed() -> None:
    async def leaky(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"proxy said: {request.headers['X-TC-Token']} {SECRET_KEY}")

    client = make_client(leaky, max_attempts=1)
    with pytest.raises(TransportError) as caught:
        await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon())
    assert caught.value.code == "NetworkError"
    assert TOKEN not in str(caught.value) and SECRET_KEY not in str(caught.value) and "***" in str(caught.value)


async def test_a_failing_hook_does_not_break_the_call() -> None:
    class Exploding(ClientHooks):
        def on_request(self, region: str, action: str) -> None:
            raise RuntimeError("hook bug")

    handler, seen = scripted(ok())
    client = make_client(handler, Exploding())
    assert (await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon()))["RequestId"] == "req-ok"
    assert len(seen) == 1


def test_plain_http_to_remote_host_is_refused() -> None:
    with pytest.raises(EndpointError, match="plain http"):
        make_client(scripted(ok())[0], endpoint="http://tione.example.com")
    client = make_client(scripted(ok())[0], endpoint="http://tione.example.com", allow_insecure=True)
    assert client.endpoint.url == "http://tione.example.com/"


async def test_owned_http_client_is_closed_and_shared_one_is_not() -> None:
    shared = httpx.AsyncClient()
    client = TencentCloudClient(
        endpoint="https://tione.tencentcloudapi.com", service="tione", version="v", credentials=CREDS, http=shared
    )
    await client.aclose()
    assert not shared.is_closed
    await shared.aclose()
    async with TencentCloudClient(
        endpoint="https://tione.tencentcloudapi.com", service="tione", version="v", credentials=CREDS
    ) as owned:
        inner = owned._http
    assert inner.is_closed


@pytest.mark.parametrize(
    ("creds", "part"),
    [
        (Credentials("\ufeffAKIDexample", "key"), "secret id"),
        (Credentials("AKIDexample", "k\u00e9y"), "secret key"),
        (Credentials("AKIDexample", "key", "TOKENsecretPART1\nTOKENsecretPART2"), "session token"),
    ],
)
async def test_credentials_unfit_for_a_header_fail_once_without_a_request(creds: Credentials, part: str) -> None:
    """A stray BOM, newline or non-ASCII character is a credential problem, named but never quoted, and final."""
    handler, seen = scripted(ok())
    errors: list[str] = []

    class Hooks(ClientHooks):
        def on_error(self, region: str, action: str, code: str) -> None:
            errors.append(code)

    client = make_client(handler, Hooks(), credentials=creds)
    with pytest.raises(CredentialError) as caught:
        await client.call("DescribeModelServiceGroups", "ap-guangzhou", {}, deadline=soon())
    await client.aclose()
    assert seen == []
    assert errors == ["CredentialError"]
    message = str(caught.value)
    assert part in message and "\n" not in message
    for fragment in ("TOKENsecret", "\ufeff", "k\u00e9y"):
        assert fragment not in message


NOT_UTF8 = b'{"Response":{"Items":[{"Name":"one"},{"Name":"t\xffw\xc3o"},{"Name":"three"}],"RequestId":"req-b"}}'
"""A body with two raw bytes that are not UTF-8 (a lone 0xFF, a truncated two-byte sequence) in one item."""


async def test_bytes_that_are_not_utf8_are_replaced_and_cost_nothing_else() -> None:
    handler, seen = scripted(httpx.Response(200, content=NOT_UTF8))
    hooks = Recorder()
    client = make_client(handler, hooks)
    answer = await client.call("DescribeThings", "ap-guangzhou", {}, deadline=soon())
    assert answer["Items"] == [{"Name": "one"}, {"Name": "t\ufffdw\ufffdo"}, {"Name": "three"}]
    assert len(seen) == 1 and hooks.errors == {} and hooks.retries == 0


async def test_the_typed_reader_is_given_the_repaired_bytes() -> None:
    """The one-pass reader (msgspec refuses a body that is not UTF-8) is asked again with the bytes repaired:
    a stray byte does not send a large answer down the slow untyped path."""
    read: list[bytes] = []

    def typed(content: bytes) -> list[str] | None:
        read.append(content)
        try:
            return [item["Name"] for item in msgspec.json.decode(content)["Response"]["Items"]]
        except msgspec.DecodeError:
            return None

    handler, _ = scripted(httpx.Response(200, content=NOT_UTF8))
    client = make_client(handler)
    names = await client.call_typed("DescribeThings", "ap-guangzhou", {}, typed, deadline=soon())
    assert names == ["one", "t\ufffdw\ufffdo", "three"]
    assert read == [NOT_UTF8, NOT_UTF8.replace(b"\xff", "\ufffd".encode()).replace(b"\xc3", "\ufffd".encode())]


async def test_a_typed_reader_that_refuses_valid_utf8_is_asked_once() -> None:
    read: list[bytes] = []

    def refuses(content: bytes) -> None:
        read.append(content)

    handler, _ = scripted(ok({"Name": "fine"}))
    client = make_client(handler)
    answer = await client.call_typed("DescribeThings", "ap-guangzhou", {}, refuses, deadline=soon())
    assert answer == {"Name": "fine", "RequestId": "req-ok"} and len(read) == 1


async def _hangs(request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(3600)
    return ok()


async def test_a_request_cut_by_the_callers_own_deadline_is_counted_as_a_timeout() -> None:
    """A caller bounding its work by the same deadline cancels the request before the client's own timeout
    fires (the events source does, for its share of the poll): still a `Timeout` of the action."""
    hooks = Recorder()
    client = make_client(_hangs, hooks)
    deadline = time.monotonic() + 0.2
    with pytest.raises(TimeoutError):
        async with asyncio.timeout_at(deadline):
            await client.call("DescribeEvents", "ap-guangzhou", {}, deadline=deadline)
    assert hooks.errors == {"Timeout": 1} and hooks.requests == 1
    assert ("error", "ap-guangzhou", "DescribeEvents") in hooks.seen


async def test_a_cut_a_moment_before_the_deadline_is_counted_as_a_timeout() -> None:
    """A caller's timer may fire a clock tick before the client's: a cut that close is the deadline's."""
    hooks = Recorder()
    client = make_client(_hangs, hooks)
    deadline = time.monotonic() + 0.2
    task = asyncio.create_task(client.call("DescribeEvents", "ap-guangzhou", {}, deadline=deadline))
    asyncio.get_running_loop().call_at(deadline - 0.005, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hooks.errors == {"Timeout": 1}


async def test_a_stop_well_before_the_deadline_is_no_error() -> None:
    hooks = Recorder()
    client = make_client(_hangs, hooks)
    task = asyncio.create_task(client.call("DescribeEvents", "ap-guangzhou", {}, deadline=soon()))
    await asyncio.sleep(0.1)
    assert hooks.requests == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hooks.errors == {}
