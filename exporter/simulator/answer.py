"""What the simulator sends back for one request, independent of the HTTP server that sends it.

Keeping answers as plain data lets the request logic, the fault injector and the tests agree on one
shape, and keeps the ASGI layer down to copying bytes onto the socket.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

JSON_CONTENT_TYPE = "application/json"
"""Exactly this, without a charset: the official SDK looks for the error envelope only then."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer. The server waits `delay` seconds before sending it (the configured latency), and
    `hold` more seconds or until the client leaves (an injected timeout)."""

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    hold: float = 0.0
    code: str = field(default="")
    """The API error code carried in the body, "" for a successful answer (for records and logs)."""


def new_request_id() -> str:
    return str(uuid.uuid4())


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as the API sends it.

    A lone surrogate from U+DC80 to U+DCFF in a string is sent as the raw byte it stands for (Python's
    `surrogateescape`: "\\udcff" is the byte 0xFF), so that a test can plant bytes that are not UTF-8 in
    any text of an answer, as a broken upstream might (`Simulator.edit_group`).
    """
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogateescape")


def success(response: dict[str, Any], request_id: str) -> Answer:
    return Answer(200, encode({"Response": {**response, "RequestId": request_id}}))


def error(code: str, message: str, request_id: str, *, status: int = 200) -> Answer:
    """The API's error envelope; the API itself answers errors with HTTP 200."""
    body = {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}
    return Answer(status, encode(body), code=code)
