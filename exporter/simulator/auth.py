"""TC3-HMAC-SHA256 verification: the exporter's own signing code, used in reverse.

The checks and their codes follow the API: a header that is not TC3 at all, a timestamp more than
five minutes off, an unknown SecretId, a wrong signature (including one made for another service or
date), temporary keys presented without their token, and temporary keys past their expiry (the API
answers `AuthFailure.TokenFailure` for those too). Messages never echo a key or a token.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping

from exporter.simulator.config import Credential
from exporter.tencentcloud.signing import parse_authorization, verify
from exporter.tione.api import SERVICE

MAX_SKEW_SECONDS = 300
FORGET_EXPIRED_AFTER = 3600.0
"""Expired temporary keys are refused as expired for an hour, then forgotten (unknown: `SecretIdNotFound`)."""


class AuthError(Exception):
    """A request that fails verification; `code` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CredentialStore:
    """The keys the simulator accepts. Empty means requests are not checked at all."""

    def __init__(self, credentials: Iterable[Credential] = ()) -> None:
        self._by_id: dict[str, Credential] = {}
        for credential in credentials:
            self.add(credential)

    def add(self, credential: Credential) -> None:
        """Accept `credential` from now on; a second key under the same SecretId replaces the first."""
        self._by_id[credential.secret_id] = credential

    def remove(self, secret_id: str) -> None:
        self._by_id.pop(secret_id, None)

    def lookup(self, secret_id: str) -> Credential | None:
        return self._by_id.get(secret_id)

    def forget_expired(self, now: float) -> None:
        """Drop temporary keys that expired over `FORGET_EXPIRED_AFTER` ago, so a long run stays bounded."""
        stale = [
            secret_id
            for secret_id, credential in self._by_id.items()
            if credential.expires_at is not None and credential.expires_at + FORGET_EXPIRED_AFTER < now
        ]
        for secret_id in stale:
            del self._by_id[secret_id]

    @property
    def enabled(self) -> bool:
        return bool(self._by_id)

    def check(self, headers: Mapping[str, str], body: bytes, now: float, service: str = SERVICE) -> Credential:
        """The key a request is signed with; raises `AuthError` unless that is a known, unexpired key and the
        signature is right for `service` (the product the action belongs to: a signature made for another
        product fails). `headers` have lowercase names."""
        header = headers.get("authorization", "")
        parsed = parse_authorization(header) if header else None
        if parsed is None:
            raise AuthError(
                "AuthFailure.InvalidAuthorization",
                "The Authorization header is missing or is not a TC3-HMAC-SHA256 authorization.",
            )
        try:
            timestamp = int(headers.get("x-tc-timestamp", ""))
        except ValueError:
            raise AuthError(
                "AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing or is not a unix time in seconds."
            ) from None
        if abs(now - timestamp) > MAX_SKEW_SECONDS:
            raise AuthError(
                "AuthFailure.SignatureExpire",
                "Signature expired: the request timestamp is more than 5 minutes away from the server time.",
            )
        credential = self._by_id.get(parsed.secret_id)
        if credential is None:
            raise AuthError("AuthFailure.SecretIdNotFound", "The SecretId is not found; check that it is correct.")
        signed = parsed.service == service and verify(
            parsed,
            secret_key=credential.secret_key,
            content_type=headers.get("content-type", ""),
            host=headers.get("host", ""),
            timestamp=timestamp,
            body=body,
        )
        if not signed:
            raise AuthError(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated; check that the signature is correct.",
            )
        if credential.token is not None and not hmac.compare_digest(
            headers.get("x-tc-token", "").encode(), credential.token.encode()
        ):
            raise AuthError(
                "AuthFailure.TokenFailure", "The token is missing or invalid for these temporary credentials."
            )
        if credential.expires_at is not None and now >= credential.expires_at:
            raise AuthError("AuthFailure.TokenFailure", "The token has expired; request new temporary credentials.")
        return credential
