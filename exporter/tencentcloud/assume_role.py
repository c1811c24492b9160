"""Temporary keys of a role in another account, from STS `AssumeRole`: how one exporter reads many accounts.

The exporter's own keys (any provider of the chain) sign an `AssumeRole` call like every other call
(TC3, service `sts`, version 2018-08-13), through the same client, so the signature, the endpoint rules
and the error envelope are the ones every call has. The keys it returns are reused until a margin before
`ExpiredTime` (at most a quarter of their lifetime), renewed one renewal at a time, and a failed renewal
is tried again with backoff while the current keys last. Once they have expired, `get()` raises a
`CredentialError` whose `code` is the one STS answered (`UnauthorizedOperation`,
`ResourceNotFound.RoleNotFound`, `Timeout`...), so that exactly the account behind this role fails, with
that code.

The temporary keys are secrets like the exporter's own: `Credentials` hides them from repr, messages are
scrubbed of them and of the `ExternalId`, and the caller registers them with its log redaction (the app
wraps every provider it uses in one that does, at each `get()`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import msgspec

from exporter.tencentcloud.client import Hooks, TencentCloudClient
from exporter.tencentcloud.credentials import (
    DEFAULT_REFRESH_MARGIN,
    DEFAULT_RETRY_BASE,
    DEFAULT_RETRY_CAP,
    DEFAULT_STS_ENDPOINT,
    STS_SERVICE,
    STS_VERSION,
    CredentialProvider,
    Credentials,
    _checked,
    _Expiring,
)
from exporter.tencentcloud.errors import MALFORMED_RESPONSE, CredentialError, TencentCloudError
from exporter.tencentcloud.ratelimit import TokenBucket

log = logging.getLogger(__name__)

ACTION = "AssumeRole"
DEFAULT_REGION = "ap-guangzhou"
"""STS is global; the region header only picks the access point that answers."""
DEFAULT_DURATION = 7200
MIN_DURATION = 1
MAX_DURATION = 43200
DEFAULT_SESSION_NAME = "tione-exporter"
DEFAULT_TIMEOUT = 10.0
DEFAULT_ATTEMPTS = 3
STS_RATE = 50.0
"""Requests per second this process sends to STS at most (STS allows 600; renewals need a handful)."""

_ROLE_ARN = re.compile(r"qcs::cam::uin/(?P<uin>[0-9]{1,20}):(?P<kind>roleName|role)/(?P<role>[\w+=,.@/-]{1,128})")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,128}", re.ASCII)
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,128}", re.ASCII)


@dataclass(frozen=True, slots=True)
class RoleArn:
    """`qcs::cam::uin/<owner uin>:roleName/<name>` (or `:role/<id>`): the role, and the account it is in."""

    text: str
    uin: str
    role: str

    @classmethod
    def parse(cls, text: str) -> RoleArn:
        """Raises ValueError naming what is wrong (the ARN is not a secret: it is shown)."""
        value = text.strip()
        found = _ROLE_ARN.fullmatch(value)
        if found is None:
            raise ValueError(
                f"role ARN {value!r:.200} is not of the form qcs::cam::uin/<account uin>:roleName/<role name>"
            )
        return cls(text=value, uin=found["uin"], role=found["role"])

    def __str__(self) -> str:
        return self.text


class AssumeRoleRequest(msgspec.Struct, rename="pascal", omit_defaults=True, frozen=True):
    """The body of `AssumeRole` (the SDK's `AssumeRoleRequest`, the fields the exporter sends)."""

    role_arn: str
    role_session_name: str
    duration_seconds: int = DEFAULT_DURATION
    external_id: str | None = None


class TemporaryKeys(msgspec.Struct, rename="pascal", frozen=True):
    """The SDK's `Credentials`; every field is checked before use, so a missing one is an error, not a crash."""

    tmp_secret_id: str | None = None
    tmp_secret_key: str | None = None
    token: str | None = None


class AssumeRoleResponse(msgspec.Struct, rename="pascal", frozen=True):
    """The SDK's `AssumeRoleResponse`."""

    credentials: TemporaryKeys | None = None
    expired_time: int | None = None
    expiration: str | None = None
    request_id: str | None = None


def check_session_name(value: str) -> str:
    """The `RoleSessionName` STS accepts (2-128 of `[A-Za-z0-9_+=,.@-]`); raises ValueError otherwise."""
    if _SESSION_NAME.fullmatch(value) is None:
        raise ValueError(f"role session name {value!r:.140} must be 2-128 characters of letters, digits and _+=,.@-")
    return value


def check_external_id(value: str) -> str:
    """The `ExternalId` STS accepts; the message does not quote it (it guards the role like a password)."""
    if _EXTERNAL_ID.fullmatch(value) is None:
        raise ValueError("external id must be 2-128 characters of letters, digits and _+=,.@:/-")
    return value


def check_duration(seconds: int) -> int:
    if isinstance(seconds, bool) or not MIN_DURATION <= seconds <= MAX_DURATION:
        raise ValueError(f"session duration must be {MIN_DURATION} to {MAX_DURATION} seconds, not {seconds!r}")
    return seconds


class AssumeRoleProvider(_Expiring):
    """Temporary keys of `role_arn`, assumed with the keys of `base`; see the module's docstring.

    `sts_endpoint` is a base URL (https, or plain http to loopback or with `allow_insecure`); raises
    `EndpointError` (a ValueError) for one that must not be used and ValueError for a bad ARN, session
    name, external id or duration. `http` may be a client shared with the other calls; `hooks` observe
    the STS calls like any other (region `region`, action `AssumeRole`).
    """

    def __init__(
        self,
        base: CredentialProvider,
        role_arn: str,
        *,
        session_name: str = DEFAULT_SESSION_NAME,
        external_id: str | None = None,
        duration_seconds: int = DEFAULT_DURATION,
        sts_endpoint: str = DEFAULT_STS_ENDPOINT,
        allow_insecure: bool = False,
        region: str = DEFAULT_REGION,
        http: httpx.AsyncClient | None = None,
        hooks: Hooks | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_ATTEMPTS,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        retry_base: float = DEFAULT_RETRY_BASE,
        retry_cap: float = DEFAULT_RETRY_CAP,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock, retry_base=retry_base, retry_cap=retry_cap)
        self.role = RoleArn.parse(role_arn)
        self._request = AssumeRoleRequest(
            role_arn=self.role.text,
            role_session_name=check_session_name(session_name),
            duration_seconds=check_duration(duration_seconds),
            external_id=None if external_id is None else check_external_id(external_id),
        )
        self._region = region
        self._timeout = timeout
        self._client = TencentCloudClient(
            endpoint=sts_endpoint,
            service=STS_SERVICE,
            version=STS_VERSION,
            credentials=base,
            rate_limiter=TokenBucket(rate=STS_RATE, burst=int(STS_RATE)),
            hooks=hooks,
            http=http,
            allow_insecure=allow_insecure,
            max_attempts=max_attempts,
        )
        self.name = name if name is not None else f"assume-role {self.role}"

    @property
    def uin(self) -> str:
        """The account the role is in (from its ARN): what `tione_account_info{uin}` shows."""
        return self.role.uin

    @property
    def sts_url(self) -> str:
        return self._client.endpoint.url

    def __repr__(self) -> str:
        return f"AssumeRoleProvider(role_arn={self.role.text!r}, session_name={self._request.role_session_name!r})"

    async def aclose(self) -> None:
        """Close the STS connection pool, when it is the provider's own (no `http` was given)."""
        await self._client.aclose()

    def _scrub(self, text: str) -> str:
        """A message from STS without the keys it issued before, or the external id (it echoes parameters)."""
        secrets = [self._request.external_id]
        if self._current is not None:
            secrets += [self._current.secret_key, self._current.token]
        for secret in secrets:
            if secret and len(secret) >= 2:
                text = text.replace(secret, "***")
        return text

    async def _fetch(self) -> tuple[Credentials, float]:
        params = msgspec.to_builtins(self._request)
        deadline = time.monotonic() + self._timeout
        try:
            answer = await self._client.call(ACTION, self._region, params, deadline=deadline)
        except CredentialError as exc:  # the exporter's own keys
            raise CredentialError(self.name, f"the exporter's own credentials: {exc.message}", code=exc.code) from None
        except TencentCloudError as exc:
            where = f" (request_id={exc.request_id})" if exc.request_id else ""
            reason = self._scrub(f"{ACTION} failed: {exc.message}{where}")
            raise CredentialError(self.name, reason, code=self._scrub(exc.code)) from None
        try:
            parsed = msgspec.convert(answer, AssumeRoleResponse, strict=False)
        except msgspec.ValidationError:
            reason = f"{ACTION} answer has a field of the wrong type"
            raise CredentialError(self.name, reason, code=MALFORMED_RESPONSE) from None
        keys = parsed.credentials or TemporaryKeys()
        fields = (("TmpSecretId", keys.tmp_secret_id), ("TmpSecretKey", keys.tmp_secret_key), ("Token", keys.token))
        missing = [label for label, value in fields if not value]
        if missing:
            reason = f"{ACTION} answer lacks Credentials." + ", Credentials.".join(missing)
            raise CredentialError(self.name, reason, code=MALFORMED_RESPONSE)
        if parsed.expired_time is None or parsed.expired_time <= 0:
            raise CredentialError(self.name, f"{ACTION} answer lacks ExpiredTime", code=MALFORMED_RESPONSE)
        credentials = _checked(self.name, keys.tmp_secret_id or "", keys.tmp_secret_key or "", keys.token)
        log.debug("assumed %s until %s (request_id=%s)", self.role, parsed.expired_time, parsed.request_id or "")
        return credentials, float(parsed.expired_time)
