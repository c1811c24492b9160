"""STS `AssumeRole` and the accounts behind it: how one caller reaches the fleets of several accounts.

Each hosted account has a uin (from its seed, like the simulator's own), fleets in every region, the
role names that trust the caller and a TI-ONE rate budget of its own. `AssumeRole`, signed for service
`sts` by the simulator's own keys, names a role by ARN; the answer is the SDK's `AssumeRoleResponse`
with fresh random temporary keys that act in that account until `ExpiredTime`. After that they are
refused with `AuthFailure.TokenFailure`, as the API refuses an expired token.

Refusals use STS's codes: a malformed ARN `InvalidParameter.ResouceError` (sic, the API's spelling), a
role that does not exist `ResourceNotFound.RoleNotFound`, a role that does not trust the caller (or a
wrong `ExternalId`, or a caller that is not the trusted account) `UnauthorizedOperation`, a duration
out of range `InvalidParameter.OverTimeError`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.simulator import params
from exporter.simulator.answer import Answer, error, success
from exporter.simulator.auth import AuthError, CredentialStore
from exporter.simulator.config import AccountConfig, Credential
from exporter.simulator.fleet import RegionFleet
from exporter.simulator.monitor import MonitorState
from exporter.simulator.params import ParameterError
from exporter.simulator.ratelimit import SlidingWindow
from exporter.simulator.workload import iso_z

SERVICE = "sts"
VERSION = "2018-08-13"
ACTION = "AssumeRole"
RATE_LIMIT = 600.0
"""STS's own limit, per second, apart from TI-ONE's."""
DEFAULT_DURATION = 7200
MAX_DURATION = 43200
_BODY_KEYS = frozenset(
    {
        "RoleArn",
        "RoleSessionName",
        "DurationSeconds",
        "Policy",
        "ExternalId",
        "Tags",
        "SourceIdentity",
        "SerialNumber",
        "TokenCode",
    }
)
_ROLE_ARN = re.compile(r"qcs::cam::uin/(?P<uin>[0-9]+):(?P<kind>roleName|role)/(?P<role>[\w+=,.@/-]+)")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,128}", re.ASCII)


@dataclass(slots=True)
class HostedAccount:
    """An account's state: its fleets by region and its own TI-ONE and Cloud Monitor budgets (the real limits
    are per account). Guarded by the simulator's lock."""

    config: AccountConfig
    uin: str
    fleets: dict[str, RegionFleet]
    limiter: SlidingWindow
    monitor_limiter: SlidingWindow | None = None
    """None: the simulator's own Cloud Monitor budget."""
    monitor: MonitorState | None = None
    """Its Cloud Monitor figures (planted traffic of its own); None: the simulator's."""

    @property
    def name(self) -> str:
        return self.config.name

    def role_arn(self, role: str | None = None) -> str:
        """The ARN of `role` (default: the first role it trusts the caller with)."""
        chosen = role if role is not None else (self.config.roles or self.config.refused_roles or ("none",))[0]
        return role_arn(self.uin, chosen)


def role_arn(uin: str, role: str) -> str:
    return f"qcs::cam::uin/{uin}:roleName/{role}"


@dataclass(frozen=True, slots=True)
class AssumeRole:
    """A validated `AssumeRole` body."""

    uin: str
    role: str
    session_name: str
    duration: int
    external_id: str | None


def parse(body: Mapping[str, Any]) -> AssumeRole:
    """Raises `ParameterError` with STS's code and a message naming the field."""
    params.check_keys(body, _BODY_KEYS)
    for key in ("RoleArn", "RoleSessionName"):
        params.required(body, key)
    arn = params.string(body["RoleArn"], "RoleArn")
    found = _ROLE_ARN.fullmatch(arn)
    if found is None:
        raise ParameterError("InvalidParameter.ResouceError", "The parameter `RoleArn` is not a valid role ARN.")
    session_name = params.string(body["RoleSessionName"], "RoleSessionName")
    if _SESSION_NAME.fullmatch(session_name) is None:
        raise ParameterError(
            "InvalidParameter.ParamError", "`RoleSessionName` must be 2 to 128 characters of [\\w+=,.@-]."
        )
    duration = body.get("DurationSeconds", DEFAULT_DURATION)
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise ParameterError("InvalidParameter", "The value type of parameter `DurationSeconds` is not valid.")
    if not 0 < duration <= MAX_DURATION:
        raise ParameterError("InvalidParameter.OverTimeError", f"`DurationSeconds` must be at most {MAX_DURATION}.")
    external_id = body.get("ExternalId")
    if external_id is not None:
        params.string(external_id, "ExternalId")
    for key in ("Policy", "SourceIdentity", "SerialNumber", "TokenCode"):
        if key in body:
            params.string(body[key], key)
    if "Tags" in body and not isinstance(body["Tags"], list):
        raise ParameterError("InvalidParameter", "The value type of parameter `Tags` is not valid: want a list.")
    return AssumeRole(found["uin"], found["role"], session_name, duration, external_id)


def _issue(account: str, lifetime: float, now: float) -> Credential:
    """Fresh random keys of the same shape as the API's (an `AKID` id, a 32-character key, a long token)."""
    return Credential(
        secret_id="AKID" + secrets.token_urlsafe(27).replace("-", "x").replace("_", "y"),
        secret_key=secrets.token_urlsafe(24).replace("-", "x").replace("_", "y"),
        token=secrets.token_urlsafe(96).replace("-", "x").replace("_", "y"),
        account=account,
        expires_at=float(int(now + lifetime)),
    )


def _unauthorized(uin: str, role: str, why: str) -> tuple[str, str]:
    return "UnauthorizedOperation", (
        f"You are not authorized to perform operation (sts:AssumeRole) on resource ({role_arn(uin, role)}): {why}."
    )


def _refusal(request: AssumeRole, caller: Credential, accounts: Mapping[str, HostedAccount]) -> tuple[str, str] | None:
    account = accounts.get(request.uin)
    config = account.config if account is not None else None
    if config is None or request.role not in (*config.roles, *config.refused_roles):
        return "ResourceNotFound.RoleNotFound", f"The role `{request.role}` does not exist in account {request.uin}."
    if caller.account or request.role in config.refused_roles:
        return _unauthorized(request.uin, request.role, "the role does not trust the caller")
    if config.external_id is not None and request.external_id != config.external_id:
        return _unauthorized(request.uin, request.role, "the ExternalId does not match the role's")
    return None


def describe(
    request_headers: Mapping[str, str],
    body_bytes: bytes,
    *,
    received_at: float,
    credentials: CredentialStore,
    accounts: Mapping[str, HostedAccount],
    session_duration: float | None,
    request_id: str,
) -> Answer:
    """The answer to one `AssumeRole` request whose path and method are right. `accounts` are by uin."""
    version = request_headers.get("x-tc-version", "")
    if not version:
        return error("MissingParameter", "The request is missing a required parameter `Version`.", request_id)
    if version != VERSION:
        return error("NoSuchVersion", f"The API version `{version}` does not exist for action `{ACTION}`.", request_id)
    if not request_headers.get("x-tc-region", ""):
        return error("MissingParameter", "The request is missing a required parameter `Region`.", request_id)
    try:
        caller = credentials.check(request_headers, body_bytes, received_at, service=SERVICE)
    except AuthError as failure:
        return error(failure.code, failure.message, request_id)
    try:
        body = json.loads(body_bytes)
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        return error("InvalidParameter", "The request body is not a JSON object.", request_id)
    try:
        assume = parse(body)
    except ParameterError as invalid:
        return error(invalid.code, invalid.message, request_id)
    refusal = _refusal(assume, caller, accounts)
    if refusal is not None:
        return error(*refusal, request_id)
    lifetime = float(assume.duration) if session_duration is None else min(assume.duration, session_duration)
    issued = _issue(accounts[assume.uin].name, lifetime, received_at)
    assert issued.expires_at is not None
    credentials.forget_expired(received_at)
    credentials.add(issued)
    response = {
        "Credentials": {"Token": issued.token, "TmpSecretId": issued.secret_id, "TmpSecretKey": issued.secret_key},
        "ExpiredTime": int(issued.expires_at),
        "Expiration": iso_z(issued.expires_at),
    }
    return success(response, request_id)
