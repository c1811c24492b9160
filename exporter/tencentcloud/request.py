"""The headers of one API 3.0 request, signed or not; pure, so tests can pin the clock and the keys.

Kept apart from the client so that the exact header set can be compared with what the official SDK
builds, and so the STS call (which is sent unsigned) shares the same spelling of every header.
"""

from __future__ import annotations

import json
from typing import Any

from exporter.tencentcloud import signing

CONTENT_TYPE = "application/json"
UNSIGNED = "SKIP"
"""What the official SDK sends as `Authorization` for calls that take no signature (STS web identity)."""


def encode_body(params: dict[str, Any]) -> bytes:
    """The JSON body; compact and deterministic, since the signature covers these exact bytes."""
    return json.dumps(params, separators=(",", ":")).encode("ascii")


def request_headers(
    *,
    service: str,
    action: str,
    version: str,
    region: str | None,
    host: str,
    timestamp: int,
    body: bytes,
    secret_id: str | None,
    secret_key: str | None,
    token: str | None = None,
    language: str | None = None,
    request_client: str | None = None,
) -> dict[str, str]:
    """Every header of a POST to `host`; without `secret_id`/`secret_key` the request goes unsigned."""
    headers = {
        "Content-Type": CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": version,
    }
    optional = {
        "X-TC-RequestClient": request_client,
        "X-TC-Region": region,
        "X-TC-Token": token,
        "X-TC-Language": language,
    }
    headers.update((name, value) for name, value in optional.items() if value)
    if secret_id is None or secret_key is None:
        headers["Authorization"] = UNSIGNED
    else:
        headers["Authorization"] = signing.authorization(
            secret_id=secret_id,
            secret_key=secret_key,
            service=service,
            host=host,
            timestamp=timestamp,
            body=body,
            content_type=CONTENT_TYPE,
        )
    return headers
