"""One Tencent Cloud API 3.0 client per process: signed POSTs over a shared keep-alive connection pool.

The client owns everything between "call this action" and "here is the `Response` object": credentials,
the process-wide token bucket, the signature, timeouts, and retries. Retries use exponential backoff
with full jitter and are bounded by the caller's deadline, never by a fixed count alone, because a poll
has a time budget and an attempt that cannot finish inside it is wasted quota. Errors that a retry
cannot fix (credentials, permissions, a wrong request) are raised at once.

Nothing here logs or raises a secret: messages are built from codes, statuses and exception types, and
anything that came back from the network is scrubbed of the key and token before it is used.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import httpx

from exporter.tencentcloud.credentials import CredentialProvider, Credentials, StaticProvider, unusable_part
from exporter.tencentcloud.endpoint import Endpoint
from exporter.tencentcloud.errors import (
    HTTP_ERROR,
    MALFORMED_RESPONSE,
    NETWORK_ERROR,
    TIMEOUT,
    APIError,
    CredentialError,
    TencentCloudError,
    TransportError,
)
from exporter.tencentcloud.gcpause import paused_gc
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tencentcloud.request import encode_body, request_headers

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_BACKOFF_BASE = 0.1
DEFAULT_BACKOFF_CAP = 5.0
DEFAULT_MIN_ATTEMPT_TIME = 0.05
"""An attempt is not started with less time than this left before the deadline: it could not finish."""
DEADLINE_SLACK = 0.01
"""A request cancelled at most this long before its deadline was cut by the deadline (timers may fire a
clock tick early): it is counted as a `Timeout`."""


_SENT = "waiting for the answer"

T = TypeVar("T")
Decode = Callable[[bytes], T | None]
"""Reads an answer's body straight into typed objects; None when it does not fit (the untyped path reads it)."""


def _untyped(content: bytes) -> None:
    return None


class Hooks(Protocol):
    """What the client tells an observer of its work (the exporter's self-metrics); see `ClientHooks`."""

    def on_request(self, region: str, action: str) -> None: ...

    def on_error(self, region: str, action: str, code: str) -> None: ...

    def on_retry(self, region: str, action: str) -> None: ...

    def on_duration(self, action: str, seconds: float) -> None: ...

    def on_throttle_wait(self, seconds: float) -> None: ...


class _WithoutThrottleWaits:
    """Another client's hooks, less the waits on the token bucket (a sibling's bucket is its own)."""

    def __init__(self, inner: Hooks) -> None:
        self.inner = inner

    def on_request(self, region: str, action: str) -> None:
        self.inner.on_request(region, action)

    def on_error(self, region: str, action: str, code: str) -> None:
        self.inner.on_error(region, action, code)

    def on_retry(self, region: str, action: str) -> None:
        self.inner.on_retry(region, action)

    def on_duration(self, action: str, seconds: float) -> None:
        self.inner.on_duration(action, seconds)

    def on_throttle_wait(self, seconds: float) -> None:
        return None


class ClientHooks:
    """Observers of the client's work that do nothing: the default, and a base to override any subset of.

    Called synchronously on the event loop, so they must be quick. An exception in a hook is logged
    and otherwise ignored: observing a call must never break it.
    """

    def on_request(self, region: str, action: str) -> None:
        """A request is about to be sent (every attempt, retries included)."""

    def on_error(self, region: str, action: str, code: str) -> None:
        """An attempt failed with this code (the API's, or `NetworkError`, `Timeout`, ...)."""

    def on_retry(self, region: str, action: str) -> None:
        """A failed attempt will be retried."""

    def on_duration(self, action: str, seconds: float) -> None:
        """One HTTP exchange took this long (from sending to the full answer, or to the failure)."""

    def on_throttle_wait(self, seconds: float) -> None:
        """An attempt waited this long for the token bucket."""


def _describe(exc: BaseException) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def well_formed(content: bytes) -> bytes:
    """`content` with every sequence that is not UTF-8 replaced by U+FFFD, or `content` itself when it is UTF-8.

    A JSON reader refuses a whole body for one stray byte, and one byte in one object's text (a group's
    name, an event's message) must not cost every other object of the answer. Only called once a reader
    has failed: a decode pass over a large answer is not free.
    """
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("utf-8", "replace").encode("utf-8")
    return content


def _scrub(text: str, credentials: Credentials | None) -> str:
    """Remove the secret key and token from text that came back from the network, just in case."""
    if credentials is None:
        return text
    for secret in (credentials.secret_key, credentials.token):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class TencentCloudClient:
    """Calls actions of one service (`service`, `version`) at one endpoint; see `call()`."""

    def __init__(
        self,
        *,
        endpoint: str,
        service: str,
        version: str,
        credentials: CredentialProvider | Credentials,
        rate_limiter: TokenBucket | None = None,
        hooks: Hooks | None = None,
        http: httpx.AsyncClient | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        allow_insecure: bool = False,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        max_attempts: int | None = None,
        min_attempt_time: float = DEFAULT_MIN_ATTEMPT_TIME,
        language: str | None = None,
        request_client: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """`endpoint` is a base URL (https unless loopback or `allow_insecure`); raises `EndpointError`.

        `http` may be shared with other users and is then not closed by `aclose()`; without it the
        client owns a keep-alive pool of its own. `max_attempts` (None: until the deadline) caps
        attempts per call in addition to the deadline.
        """
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if backoff_base <= 0 or backoff_cap < backoff_base:
            raise ValueError("backoff base must be positive and not above the cap")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.endpoint = Endpoint.parse(endpoint, allow_insecure=allow_insecure)
        self.service = service
        self.version = version
        self._credentials: CredentialProvider = (
            StaticProvider(credentials) if isinstance(credentials, Credentials) else credentials
        )
        self.rate_limiter = rate_limiter if rate_limiter is not None else TokenBucket()
        self.hooks: Hooks = hooks if hooks is not None else ClientHooks()
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=self._timeout(read_timeout))
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_attempts = max_attempts
        self._min_attempt_time = min_attempt_time
        self._language = language
        self._request_client = request_client
        self._rng = rng if rng is not None else random.Random()

    def sibling(self, *, endpoint: str, service: str, version: str, rate_limiter: TokenBucket) -> TencentCloudClient:
        """A client of another product (its own host, signing service, version and rate budget) with this
        one's credentials, hooks and connection pool: the pool is closed with this client, not with it.
        Its requests, errors, retries and durations are reported like this client's; the waits on its own
        token bucket are not (the throttle-wait hook is about this client's `--api.rate-limit`)."""
        return TencentCloudClient(
            endpoint=endpoint,
            service=service,
            version=version,
            credentials=self._credentials,
            rate_limiter=rate_limiter,
            hooks=_WithoutThrottleWaits(self.hooks),
            http=self._http,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            backoff_base=self._backoff_base,
            backoff_cap=self._backoff_cap,
            max_attempts=self._max_attempts,
            min_attempt_time=self._min_attempt_time,
            language=self._language,
            request_client=self._request_client,
        )

    async def __aenter__(self) -> TencentCloudClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def _timeout(self, left: float) -> httpx.Timeout:
        connect = min(self._connect_timeout, left)
        read = min(self._read_timeout, left)
        return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)

    @staticmethod
    def _fire(hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            log.exception("client hook %s failed", hook.__name__)

    def report_error(self, region: str, action: str, code: str) -> None:
        """Count an error found by the caller in an answer the client accepted (e.g. a model mismatch)."""
        self._fire(self.hooks.on_error, region, action, code)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)] for the attempt-th retry (from 0)."""
        ceiling = min(self._backoff_cap, self._backoff_base * (2.0 ** min(attempt, 62)))
        return self._rng.uniform(0.0, ceiling)

    async def call(self, action: str, region: str, params: dict[str, Any], *, deadline: float) -> dict[str, Any]:
        """Call `action` in `region`; returns the answer's `Response` object or raises `TencentCloudError`.

        `deadline` is an absolute `time.monotonic()` value that bounds the whole call, retries and
        waits for the token bucket included.
        """
        return await self.call_typed(action, region, params, _untyped, deadline=deadline)

    async def call_typed(
        self, action: str, region: str, params: dict[str, Any], decode: Decode[T], *, deadline: float
    ) -> T | dict[str, Any]:
        """`call`, but the body of a successful answer is first given to `decode`, whose result is returned
        when it has one: a large answer is read into typed objects in one pass, without a `json.loads`.
        When `decode` gives None, the answer is read as `call` reads it (its `Response` object, or the error).
        """
        body = encode_body(params)
        attempt = 0
        while True:
            try:
                return await self._attempt(action, region, body, decode, deadline)
            except TencentCloudError as exc:
                exc.region, exc.action = exc.region or region, exc.action or action
                if not exc.retryable:
                    raise
                attempt += 1
                if self._max_attempts is not None and attempt >= self._max_attempts:
                    raise
                delay = self.backoff(attempt - 1)
                if time.monotonic() + delay + self._min_attempt_time >= deadline:
                    raise
                self._fire(self.hooks.on_retry, region, action)
                log.debug(
                    "retrying %s in %s in %.3fs after %s (attempt %d)", action, region, delay, exc.code, attempt + 1
                )
                await asyncio.sleep(delay)

    async def _attempt(
        self, action: str, region: str, body: bytes, decode: Decode[T], deadline: float
    ) -> T | dict[str, Any]:
        left = deadline - time.monotonic()
        if left < self._min_attempt_time:
            raise TransportError(TIMEOUT, "deadline reached before the request could be sent")
        stage = "resolving credentials"
        try:
            async with asyncio.timeout(left):
                try:
                    credentials = await self._credentials.get()
                    part = unusable_part(credentials)
                    if part is not None:  # any provider, also plain `Credentials` handed in
                        reason = f"{part} contains whitespace, control or non-ASCII characters"
                        raise CredentialError(self._credentials.name, reason)
                except CredentialError as exc:
                    self._fire(self.hooks.on_error, region, action, exc.code)
                    raise
                stage = "waiting for the rate limiter"
                waited_from = time.monotonic()
                try:
                    await self.rate_limiter.acquire()
                finally:
                    self._fire(self.hooks.on_throttle_wait, time.monotonic() - waited_from)
                left = deadline - time.monotonic()
                if left < self._min_attempt_time:
                    raise TransportError(TIMEOUT, "deadline reached while waiting for the rate limiter")
                stage = _SENT
                return await self._send(action, region, body, credentials, left, decode=decode)
        except TimeoutError:
            if stage == _SENT:
                self._fire(self.hooks.on_error, region, action, TIMEOUT)
            raise TransportError(TIMEOUT, f"deadline reached while {stage}") from None
        except asyncio.CancelledError:
            # A caller that bounds its work by the same deadline (a secondary source's share of the poll, the
            # poll itself) may cancel the request a moment before this call's own timeout fires: that is the
            # deadline all the same, and a request that never answered in time is counted whoever noticed.
            # A cancellation well before the deadline is a stop, not an error of the API.
            if stage == _SENT and deadline - time.monotonic() <= max(self._min_attempt_time, DEADLINE_SLACK):
                self._fire(self.hooks.on_error, region, action, TIMEOUT)
            raise

    async def _send(
        self, action: str, region: str, body: bytes, credentials: Credentials, left: float, *, decode: Decode[T]
    ) -> T | dict[str, Any]:
        headers = request_headers(
            service=self.service,
            action=action,
            version=self.version,
            region=region,
            host=self.endpoint.host,
            timestamp=int(time.time()),
            body=body,
            secret_id=credentials.secret_id,
            secret_key=credentials.secret_key,
            token=credentials.token,
            language=self._language,
            request_client=self._request_client,
        )
        self._fire(self.hooks.on_request, region, action)
        started = time.monotonic()
        error: TencentCloudError | None = None
        try:
            response = await self._http.post(
                self.endpoint.url, content=body, headers=headers, timeout=self._timeout(left)
            )
        except httpx.TimeoutException as exc:
            error = TransportError(TIMEOUT, f"no answer in time ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            error = TransportError(NETWORK_ERROR, _scrub(_describe(exc), credentials))
        finally:
            self._fire(self.hooks.on_duration, action, time.monotonic() - started)
        try:
            if error is not None:
                raise error
            content = response.content
            # httpx's response and its stream name each other: the cycle would keep the answer's bytes until the
            # collector's next pass, and a poll runs with the collector paused (`gcpause`), so a listing would
            # hold every page it read. The stream is read to its end; nothing reads it again.
            response.stream = httpx.ByteStream(b"")
            if response.status_code == 200 and decode is not _untyped:
                typed = decode(content)
                if typed is None and (repaired := well_formed(content)) is not content:
                    content = repaired
                    typed = decode(content)
                if typed is not None:
                    return typed
            return self._parse(response, content, credentials)
        except TencentCloudError as exc:
            self._fire(self.hooks.on_error, region, action, exc.code)
            raise

    @staticmethod
    def _parse(response: httpx.Response, content: bytes, credentials: Credentials) -> dict[str, Any]:
        status = response.status_code
        if status != 200:
            raise TransportError(HTTP_ERROR, f"HTTP {status} {response.reason_phrase}".strip(), status=status)
        try:
            with paused_gc():
                try:
                    data = json.loads(content)
                except UnicodeDecodeError:
                    data = json.loads(well_formed(content))
        except ValueError:
            raise TransportError(MALFORMED_RESPONSE, "answer is not JSON", status=status) from None
        except RecursionError:
            raise TransportError(MALFORMED_RESPONSE, "answer is nested too deeply to read", status=status) from None
        answer = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(answer, dict):
            raise TransportError(MALFORMED_RESPONSE, "answer has no Response object", status=status)
        request_id = answer.get("RequestId")
        request_id = request_id if isinstance(request_id, str) else ""
        error = answer.get("Error")
        if error is None:
            return answer
        code = error.get("Code") if isinstance(error, dict) else None
        if not isinstance(code, str) or not code:
            raise TransportError(MALFORMED_RESPONSE, "answer has an Error without a Code", request_id=request_id)
        message = error.get("Message")
        message = _scrub(message, credentials) if isinstance(message, str) else ""
        raise APIError(_scrub(code, credentials), message, request_id=request_id, status=status)
