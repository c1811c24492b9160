"""Log lines: logfmt and JSON encodings, levels, one line per record, and the redaction safety net."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from exporter.logs import (
    REDACTED,
    forget_secrets,
    poll_fields,
    redact,
    register_secret,
    register_secrets,
    setup_logging,
)


@pytest.fixture
def capture() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    touched = [
        logging.getLogger(name) for name in ("", "httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access")
    ]
    levels = [logger.level for logger in touched]
    yield stream
    forget_secrets()
    for logger, level in zip(touched, levels, strict=True):
        logger.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "stream", None) is stream:
            root.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_logfmt_poll_line(capture: io.StringIO) -> None:
    setup_logging("info", "logfmt", capture)
    fields = poll_fields(
        region="ap-guangzhou",
        outcome="failure",
        duration=1.23456,
        groups=3,
        services=7,
        code="AuthFailure.SignatureFailure",
        message='the "signature" is wrong',
        request_id="req-1",
    )
    logging.getLogger("exporter.poller").info("poll finished", extra=fields)
    (line,) = lines(capture)
    assert line.startswith("ts=")
    assert (
        ' level=info logger=exporter.poller msg="poll finished" region=ap-guangzhou outcome=failure duration=1.235 '
        'groups=3 services=7 code=AuthFailure.SignatureFailure error_message="the \\"signature\\" is wrong" '
        "request_id=req-1"
    ) in line


def test_json_lines_parse_back(capture: io.StringIO) -> None:
    setup_logging("info", "json", capture)
    logging.getLogger("exporter.poller").warning(
        "multi\nline", extra=poll_fields(region="r", outcome="ok", duration=0.5)
    )
    (line,) = lines(capture)
    record = json.loads(line)
    assert record["level"] == "warn"
    assert record["msg"] == "multi\nline"
    assert record["region"] == "r"
    assert record["duration"] == 0.5
    assert record["ts"].endswith("Z")


def test_newlines_never_split_a_logfmt_record(capture: io.StringIO) -> None:
    setup_logging("info", "logfmt", capture)
    logging.getLogger("x").error("first\nsecond\ttab", extra={"detail": "a\r\nb"})
    (line,) = lines(capture)
    assert 'msg="first\\nsecond\\u0009tab"' in line
    assert 'detail="a\\r\\nb"' in line


@pytest.mark.parametrize(("level", "shown"), [("debug", 4), ("info", 3), ("warn", 2), ("error", 1)])
def test_levels(capture: io.StringIO, level: str, shown: int) -> None:
    setup_logging(level, "logfmt", capture)
    log = logging.getLogger("exporter.test")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    assert len(lines(capture)) == shown
    assert lines(capture)[-1].split(" ")[1] == "level=error"


def test_registered_secrets_are_redacted_everywhere(capture: io.StringIO) -> None:
    setup_logging("debug", "logfmt", capture)
    register_secrets(["TopSecretKey123", "session-token-XYZ", None, ""])
    log = logging.getLogger("httpx")
    log.info("sent %s", "TopSecretKey123", extra={"header": "Token session-token-XYZ"})
    try:
        raise RuntimeError("failed with TopSecretKey123")
    except RuntimeError:
        log.exception("crash")
    text = capture.getvalue()
    assert "TopSecretKey123" not in text
    assert "session-token-XYZ" not in text
    assert text.count(REDACTED) >= 4  # message, extra, error field, traceback


def test_redaction_survives_json_escaping(capture: io.StringIO) -> None:
    setup_logging("info", "json", capture)
    register_secret('quote"and\\slash')
    logging.getLogger("x").info('value quote"and\\slash here')
    record = json.loads(lines(capture)[0])
    assert record["msg"] == f"value {REDACTED} here"


def test_short_values_are_not_registered() -> None:
    register_secret("ab")
    assert redact("abc") == "abc"
    forget_secrets()


def test_a_secret_containing_another_is_redacted_whole() -> None:
    register_secret("abcd")
    register_secret("xxabcdxx")
    assert redact("xxabcdxx and abcd") == f"{REDACTED} and {REDACTED}"
    forget_secrets()


def test_tracebacks_only_at_debug(capture: io.StringIO) -> None:
    setup_logging("info", "logfmt", capture)
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("x").error("poll crashed", exc_info=True)
    (line,) = lines(capture)
    assert 'error="ValueError: bad value"' in line
    assert "Traceback" not in line


def test_uvicorn_and_httpx_go_through_the_same_handler(capture: io.StringIO) -> None:
    setup_logging("info", "json", capture)
    logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
    logging.getLogger("uvicorn.error").info("Started server process")  # quiet at info
    logging.getLogger("httpx").info("HTTP Request: POST / 200")  # quiet at info
    (line,) = lines(capture)
    assert json.loads(line)["logger"] == "uvicorn.error"
    setup_logging("debug", "json", capture)
    logging.getLogger("httpx").debug("HTTP Request: POST / 200")
    assert json.loads(lines(capture)[-1])["logger"] == "httpx"
