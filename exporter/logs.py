"""Structured logs on standard error: logfmt (default) or JSON lines, with a redaction safety net.

Operators grep and ship these lines, so each one is a flat set of key=value fields with a stable `msg`.
Secrets must never be logged; the code is written so they are not, and the redaction here is the net
under that rule: every value registered with `register_secret` (the API SecretId, secret key, a session
token) is replaced by `[REDACTED]`, and credentials inside image references and URLs are removed
(`exporter.scrub`), in any record, whichever logger produced it. The same `redact` cleans every label
value and every text the page and the JSON show (`exporter.metrics.labels.clean_value`).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import IO, Final

from exporter.scrub import strip_credentials

REDACTED: Final = "[REDACTED]"
MIN_SECRET_LENGTH: Final = 4
"""Shorter values are not registered: replacing every "ab" in every line would destroy the logs, not protect."""

LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
_LEVEL_NAMES: Final = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn", logging.ERROR: "error"}

# Attributes every LogRecord has; anything else on a record came from `extra=` and is a field.
_RECORD_ATTRIBUTES: Final = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)


class _Secrets:
    """The registered secrets, longest first so a secret containing another is caught whole. The tuple is
    replaced whole under the lock and read without it: every label value is redacted, so reading must
    cost nothing."""

    values: tuple[str, ...] = ()
    lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a value that must never be shown (idempotent; short or empty values are ignored)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _Secrets.lock:
            if value not in _Secrets.values:
                _Secrets.values = tuple(sorted({*_Secrets.values, value}, key=len, reverse=True))


def forget_secrets() -> None:
    """Clear the registry (tests, and a process that starts over with other credentials)."""
    with _Secrets.lock:
        _Secrets.values = ()


def redact(text: str, limit: int | None = None) -> str:
    """`text` with every registered secret replaced and credentials in image references removed; only its
    first `limit` characters when a limit is given (cheaper than cutting afterwards for a long text)."""
    for secret in _Secrets.values:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return strip_credentials(text, limit)


def level_name(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "error"
    return _LEVEL_NAMES.get(levelno, "warn" if levelno >= logging.WARNING else "debug")


class StructuredFormatter(logging.Formatter):
    """Turns a record into fields (`ts`, `level`, `logger`, `msg`, extras, `error`) and encodes them."""

    def __init__(self, *, tracebacks: bool = False) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def fields(self, record: logging.LogRecord) -> dict[str, object]:
        created = time.gmtime(record.created)
        millis = int(record.msecs)
        fields: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", created) + f".{millis:03d}Z",
            "level": level_name(record.levelno),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and key not in fields:
                fields[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            fields.setdefault("error", f"{type(error).__name__}: {error}")
            if self.tracebacks:
                fields["traceback"] = self.formatException(record.exc_info)
        return {key: _redacted(value) for key, value in fields.items()}

    def encode(self, fields: Mapping[str, object]) -> str:
        raise NotImplementedError

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.encode(self.fields(record)))


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class LogfmtFormatter(StructuredFormatter):
    """`key=value` pairs; values with spaces, quotes or `=` are quoted, newlines escaped: one record, one line."""

    def encode(self, fields: Mapping[str, object]) -> str:
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())


def _logfmt_value(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    if text and not any(char in text for char in ' ="\\') and text.isprintable():
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    escaped = "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in escaped)
    return f'"{escaped}"'


class JsonFormatter(StructuredFormatter):
    """One JSON object per line."""

    def encode(self, fields: Mapping[str, object]) -> str:
        return json.dumps(fields, ensure_ascii=False, default=str, separators=(",", ":"))


HANDLER_NAME: Final = "tione-exporter"


def setup_logging(level: str = "info", log_format: str = "logfmt", stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger (ours, uvicorn's, httpx's) through one formatter on standard error.

    Calling it again replaces the handler it installed before (and only that one). Returns the handler so
    that a caller (a test) can remove it again.
    """
    formatter: StructuredFormatter = (
        JsonFormatter(tracebacks=level == "debug")
        if log_format == "json"
        else LogfmtFormatter(tracebacks=level == "debug")
    )
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(formatter)
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # One line per HTTP request, and uvicorn's start and stop chatter, are noise at info: the exporter logs
    # its own "serving" and "stopping" lines and one line per poll.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(quiet)
    return handler


def poll_fields(
    *,
    region: str,
    outcome: str,
    duration: float,
    groups: int | None = None,
    services: int | None = None,
    code: str | None = None,
    message: str | None = None,
    request_id: str | None = None,
) -> dict[str, object]:
    """The fields of the one line logged per poll outcome per region, in a fixed order."""
    fields: dict[str, object] = {"region": region, "outcome": outcome, "duration": round(duration, 3)}
    counts = {"groups": groups, "services": services}
    fields.update((name, count) for name, count in counts.items() if count is not None)
    error = {"code": code, "error_message": message, "request_id": request_id}
    fields.update((name, text) for name, text in error.items() if text)
    return fields


def register_secrets(values: Iterable[str | None]) -> None:
    for value in values:
        register_secret(value)
