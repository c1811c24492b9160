"""TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0.

Written here rather than borrowed from the official SDK because the SDK's client is blocking and owns
its own retries; this module is pure (no clock, no I/O) so the client and the simulator's verifier
share one definition and tests can pin every input.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

ALGORITHM = "TC3-HMAC-SHA256"
SIGNED_HEADERS = "content-type;host"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def canonical_request(content_type: str, host: str, body: bytes, signed_headers: str = SIGNED_HEADERS) -> str:
    headers = {"content-type": content_type, "host": host}
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in signed_headers.split(";"))
    payload_hash = hashlib.sha256(body).hexdigest()
    return f"POST\n/\n\n{canonical_headers}\n{signed_headers}\n{payload_hash}"


def string_to_sign(service: str, timestamp: int, canonical: str) -> str:
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def signature(secret_key: str, service: str, timestamp: int, to_sign: str) -> str:
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), utc_date(timestamp))
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, "tc3_request")
    return hmac.new(k_signing, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    timestamp: int,
    body: bytes,
    content_type: str = "application/json",
) -> str:
    """The `Authorization` header value for a POST of `body` to `host` at `timestamp`."""
    to_sign = string_to_sign(service, timestamp, canonical_request(content_type, host, body))
    sig = signature(secret_key, service, timestamp, to_sign)
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={sig}"


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    secret_id: str
    date: str
    service: str
    signed_headers: str
    signature: str


def parse_authorization(header: str) -> ParsedAuthorization | None:
    """Split an `Authorization` header into its parts; None when it is not a TC3 header at all."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        return None
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts[key] = value
    credential = parts.get("Credential", "").split("/")
    if len(credential) != 4 or credential[3] != "tc3_request":
        return None
    if "SignedHeaders" not in parts or "Signature" not in parts:
        return None
    return ParsedAuthorization(
        secret_id=credential[0],
        date=credential[1],
        service=credential[2],
        signed_headers=parts["SignedHeaders"],
        signature=parts["Signature"],
    )


def verify(
    parsed: ParsedAuthorization,
    *,
    secret_key: str,
    content_type: str,
    host: str,
    timestamp: int,
    body: bytes,
) -> bool:
    """Whether `parsed` is the signature `secret_key` gives this request; constant-time compare."""
    if set(parsed.signed_headers.split(";")) - {"content-type", "host"}:
        return False
    canonical = canonical_request(content_type, host, body, parsed.signed_headers)
    expected = signature(secret_key, parsed.service, timestamp, string_to_sign(parsed.service, timestamp, canonical))
    return hmac.compare_digest(expected, parsed.signature) and parsed.date == utc_date(timestamp)
