"""What a setting's value may be: one parser per kind of value, each with the range it allows.

Every parser turns what a user wrote (a flag's string, a variable, a YAML scalar or list) into the typed
value or one `PydanticCustomError` line that quotes the bad value, shortened by `shown`: the error ends up
in a terminal or a log, where a pasted megabyte or a control character would bury the message.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from exporter.durations import format_duration, parse_go_duration
from exporter.tencentcloud.endpoint import Endpoint, EndpointError, is_loopback
from exporter.tione import monitor_extra
from exporter.tione.listing import FILTER_NAMES

MIN_INTERVAL = 0.5
"""The shortest `--poll.interval`: below it a poll's implied timeout cannot hold a request and a retry (an
API answer takes 50-300 ms), polls fail on the rate limiter, and the log fills with failures."""
MIN_TIMEOUT = 0.25
"""The shortest `--poll.timeout`: room for one request to the API and its answer, with the client's 50 ms
floor for an attempt to spare."""
MAX_DURATION = 24 * 3600.0
"""The longest of any duration setting: a day. Longer is a typo (`1e300`, `30000m`), not a schedule."""
MIN_RATE_LIMIT = 0.1
"""Requests per second below which a poll of even a small fleet cannot finish within its timeout."""
MAX_RATE_LIMIT = 1000.0
"""Requests per second above which the setting can only be a mistake: 50 times what the API allows."""
MIN_WEB_TIMEOUT = 0.1
"""The shortest `--web.header-timeout` and `--web.write-timeout`: below it a client on a slow link is cut off."""
MAX_WEB_TIMEOUT = 3600.0
MAX_WEB_COUNT = 100_000
"""The largest `--web.max-connections` and `--web.max-concurrent-scrapes`: more is a typo, not a plan."""
MAX_COUNT = 100_000
"""The largest `--events.max-services`: far beyond any fleet's troubled services in one poll."""
MAX_MONTHLY_REQUESTS = 1_000_000_000
"""The largest `--monitor.max-requests-per-month`: a thousand times the account's free allowance."""
MIN_MONITOR_DELAY = 60.0
"""The least `--monitor.delay`: Cloud Monitor's data arrive a minute or more late (`tione/monitor.MIN_DELAY`)."""
MONITOR_PERIODS: tuple[int, ...] = (10, 60, 300, 3600, 86400)
"""The statistic periods Cloud Monitor offers for `QCE/TI_MODEL` (`tione/monitor_api.PERIODS`)."""
MAX_SHOWN = 60
"""Characters of a bad value quoted in an error line: enough to recognise it, and one line whatever it is."""

LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warn", "error")
LOG_FORMATS: tuple[str, ...] = ("logfmt", "json")
STATE_SETS: tuple[str, ...] = ("current", "full")


def shown(value: object) -> str:
    """A value as quoted in an error line: shortened to `MAX_SHOWN` characters, control characters escaped."""
    if isinstance(value, list | tuple):
        return "[...]"
    if isinstance(value, dict):
        return "{...}"
    text = str(value).strip()
    if len(text) > MAX_SHOWN:
        text = f"{text[: MAX_SHOWN - 1]}… ({len(text)} characters)"
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


# --- value types -------------------------------------------------------------------------------------------


def parse_duration(value: object) -> float:
    """Seconds from a Go-style duration (`500ms`, `1h30m`) or a plain number of seconds; always positive."""
    if isinstance(value, bool):
        raise PydanticCustomError("duration", 'invalid duration "{value}"', {"value": shown(value)})
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an integer of hundreds of digits
            seconds = math.inf
    elif isinstance(value, str):
        try:
            seconds = parse_go_duration(value)
        except ValueError:
            raise PydanticCustomError(
                "duration", 'invalid duration "{value}"', {"value": shown(value.strip())}
            ) from None
    else:
        raise PydanticCustomError("duration", "invalid duration: expected a string or a number")
    if math.isnan(seconds) or seconds <= 0:  # infinity is left to the range check, which names the range
        raise PydanticCustomError("duration", 'duration must be positive, not "{value}"', {"value": shown(value)})
    return seconds


def _in_range(
    low: float,
    high: float,
    parse: Callable[[object], float],
    show: Callable[[float], str] = format_duration,
    *,
    off: bool = False,
) -> BeforeValidator:
    """`parse`, then a value outside [low, high] refused with one message naming the allowed range (and the
    value as written: `1e300` seconds spelled out would be 300 digits). With `off`, 0 is allowed too."""

    def check(value: object) -> float:
        number = parse(value)
        if off and number == 0.0:
            return number
        if not low <= number <= high:
            raise PydanticCustomError(
                "range",
                'must be between {low} and {high}, not "{value}"',
                {"low": show(low), "high": show(high), "value": shown(str(value).strip())},
            )
        return number

    return BeforeValidator(check)


def _list_items(value: object) -> list[object]:
    """Comma-separated strings (flags, environment) and YAML lists both become a list of trimmed items."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list):
        raise PydanticCustomError("list", "expected a comma-separated string or a list")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise PydanticCustomError("number", 'invalid number "{value}"', {"value": shown(value)})
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    except (TypeError, ValueError):
        raise PydanticCustomError("number", 'invalid number "{value}"', {"value": shown(value)}) from None
    if math.isnan(number) or number <= 0:
        raise PydanticCustomError("number", 'must be a positive number, not "{value}"', {"value": shown(value)})
    return number


def _whole_number(value: object, text: str, low: int, high: int) -> int:
    """`text` (what `value` reads as) as a whole number from `low` to `high`; a bool is not a number."""
    if isinstance(value, bool) or not _digits(text) or not low <= int(text) <= high:
        raise PydanticCustomError(
            "count",
            f'must be a whole number from {low} to {{high}}, not "{{value}}"',
            {"high": high, "value": shown(value)},
        )
    return int(text)


def _count(value: object) -> int:
    """A whole number from 0 to `MAX_COUNT` (`--events.max-services 0` switches the events off)."""
    return _whole_number(value, str(value).strip(), 0, MAX_COUNT)


def _digits(text: str) -> bool:
    """ASCII digits only, and few enough to be a number rather than a paste: `str.isdigit` also takes `²`."""
    return text.isascii() and text.isdigit() and len(text) <= 20


def _choice(choices: tuple[str, ...]) -> BeforeValidator:
    def check(value: object) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise PydanticCustomError(
                "choice",
                'must be one of {choices}, not "{value}"',
                {"choices": ", ".join(choices), "value": shown(value)},
            )
        return text

    return BeforeValidator(check)


def _listen_address(value: object) -> str:
    text = str(value).strip()
    host, _port = split_host_port(text)
    if host and not _valid_host(host):
        raise PydanticCustomError(
            "address", 'invalid host "{host}" in "{value}"', {"host": shown(host), "value": shown(text)}
        )
    return text


def split_host_port(address: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (all interfaces) as (host, port); host "" means all interfaces."""
    host, sep, port_text = address.rpartition(":")
    if not sep:
        raise PydanticCustomError("address", 'expected host:port, not "{value}"', {"value": shown(address)})
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise PydanticCustomError(
            "address", 'an IPv6 host must be in brackets, as "[::1]:10120", not "{value}"', {"value": shown(address)}
        )
    if not _digits(port_text) or int(port_text) > 65535:
        raise PydanticCustomError(
            "address", 'invalid port "{port}" in "{value}"', {"port": shown(port_text), "value": shown(address)}
        )
    return host, int(port_text)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host) is not None
    return True


def _telemetry_path(value: object) -> str:
    text = str(value).strip()
    if not text.startswith("/") or text == "/" or text.startswith("/-/"):
        raise PydanticCustomError(
            "path", 'must start with "/" and be neither "/" nor under "/-/", not "{value}"', {"value": shown(text)}
        )
    if re.search(r"[\s?#]", text):
        raise PydanticCustomError(
            "path", 'must be a plain path without spaces, "?" or "#", not "{value}"', {"value": shown(text)}
        )
    return text


def _endpoint(value: object) -> str:
    """An API base URL. Error messages quote only its scheme and host: a URL may carry a password or token."""
    text = str(value).strip().rstrip("/")
    parts = urlsplit(text)
    visible = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.scheme else "(no scheme)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("url", 'must be an http:// or https:// URL, not "{value}"', {"value": shown(visible)})
    if parts.username is not None or parts.password is not None:
        raise PydanticCustomError("url", "must not carry a user or password (credentials never go in a URL)")
    if parts.path or parts.query or parts.fragment:
        raise PydanticCustomError(
            "url", 'must be a base URL without a path, query or fragment, like "{value}"', {"value": shown(visible)}
        )
    try:
        parts.port  # noqa: B018 - evaluating it validates the port
    except ValueError:
        raise PydanticCustomError("url", 'invalid port in "{value}"', {"value": shown(visible)}) from None
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise PydanticCustomError(
            "url",
            'plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost); use https, not "{value}"',
            {"value": shown(visible)},
        )
    try:
        Endpoint.parse(text)
    except EndpointError as error:
        raise PydanticCustomError("url", "{error}", {"error": str(error)}) from None
    return text


MAX_REGION_LENGTH = 40
"""Characters of a region name at most; the longest today (`ap-southeast-3`-like) are under 20."""
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def _regions(value: object) -> tuple[str, ...]:
    regions: dict[str, None] = {}  # a dict keeps the order and deduplicates in linear time
    for item in _list_items(value):
        region = str(item).strip() if isinstance(item, str | int) else ""
        if len(region) > MAX_REGION_LENGTH or not _REGION.fullmatch(region):
            raise PydanticCustomError("region", 'invalid region "{value}" (e.g. ap-guangzhou)', {"value": shown(item)})
        regions[region] = None
    return tuple(regions)


def _strings(value: object) -> tuple[str, ...]:
    result: dict[str, None] = {}  # a dict keeps the order and deduplicates in linear time
    for item in _list_items(value):
        if not isinstance(item, str | int) or isinstance(item, bool):
            raise PydanticCustomError("list", 'expected strings, not "{value}"', {"value": shown(item)})
        text = str(item).strip()
        if text:
            result[text] = None
    return tuple(result)


def _non_empty(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise PydanticCustomError("list", "must list at least one value")
    return value


def _monitor_metrics(value: tuple[str, ...]) -> tuple[str, ...]:
    """Names that can become `tione_monitor_<snake_case name>` families, one family each."""
    problems = monitor_extra.check_names(value)
    if problems:
        raise PydanticCustomError("metrics", "{problems}", {"problems": "; ".join(problems)})
    return value


def _optional_path(value: object) -> Path | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return Path(str(value).strip())


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise PydanticCustomError("bool", 'expected true or false, not "{value}"', {"value": shown(value)})


def parse_interval(value: object) -> float:
    """A duration, or 0 (also `0s`) for "never": the interval of a source that can be switched off."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    if isinstance(value, str) and value.strip() in {"0", "0s", "0ms", "0m", "0h"}:
        return 0.0
    return parse_duration(value)


IntervalOrOff = Annotated[float, _in_range(MIN_INTERVAL, MAX_DURATION, parse_interval, off=True)]
"""Seconds, or 0 for off; written `30s`, `5m`, `1h30m`, `500ms` or `30`."""
Interval = Annotated[float, _in_range(MIN_INTERVAL, MAX_DURATION, parse_duration)]
Timeout = Annotated[float, _in_range(MIN_TIMEOUT, MAX_DURATION, parse_duration)]
Staleness = Annotated[float, _in_range(MIN_INTERVAL, MAX_DURATION, parse_duration)]
RateLimit = Annotated[float, _in_range(MIN_RATE_LIMIT, MAX_RATE_LIMIT, _number, "{:g}".format)]
WebTimeout = Annotated[float, _in_range(MIN_WEB_TIMEOUT, MAX_WEB_TIMEOUT, parse_duration)]


def _web_count(value: object) -> int:
    """A whole number from 1 to `MAX_WEB_COUNT`."""
    return _whole_number(value, str(value).strip(), 1, MAX_WEB_COUNT)


WebCount = Annotated[int, BeforeValidator(_web_count)]


def _monthly_requests(value: object) -> int:
    """A whole number from 0 (off) to `MAX_MONTHLY_REQUESTS`."""
    return _whole_number(value, str(value).strip().replace("_", ""), 0, MAX_MONTHLY_REQUESTS)


def _monitor_period(value: object) -> float:
    """One of the periods Cloud Monitor offers, written as a duration (`60s`, `5m`)."""
    seconds = parse_duration(value)
    if seconds not in MONITOR_PERIODS:
        raise PydanticCustomError(
            "period",
            'must be one of {periods}, not "{value}"',
            {"periods": ", ".join(format_duration(p) for p in MONITOR_PERIODS), "value": shown(value)},
        )
    return seconds


MonthlyRequests = Annotated[int, BeforeValidator(_monthly_requests)]
MonitorPeriod = Annotated[float, BeforeValidator(_monitor_period)]
MonitorDelay = Annotated[float, _in_range(MIN_MONITOR_DELAY, MAX_DURATION, parse_duration)]


ListenAddress = Annotated[str, BeforeValidator(_listen_address)]
TelemetryPath = Annotated[str, BeforeValidator(_telemetry_path)]
EndpointUrl = Annotated[str, BeforeValidator(_endpoint)]
Regions = Annotated[tuple[str, ...], BeforeValidator(_regions)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
NonEmptyStrings = Annotated[tuple[str, ...], BeforeValidator(_strings), AfterValidator(_non_empty)]
MonitorMetrics = Annotated[tuple[str, ...], BeforeValidator(_strings), AfterValidator(_monitor_metrics)]
OptionalPath = Annotated[Path | None, BeforeValidator(_optional_path)]
Boolean = Annotated[bool, BeforeValidator(_boolean)]
Count = Annotated[int, BeforeValidator(_count)]
LogLevel = Annotated[Literal["debug", "info", "warn", "error"], _choice(LOG_LEVELS)]
LogFormat = Annotated[Literal["logfmt", "json"], _choice(LOG_FORMATS)]
StateSetForm = Annotated[Literal["current", "full"], _choice(STATE_SETS)]


def _filter_name(value: object) -> str:
    if value not in FILTER_NAMES:
        raise PydanticCustomError(
            "filter",
            'unknown filter name "{value}" (known: {names})',
            {"value": shown(value), "names": ", ".join(FILTER_NAMES)},
        )
    return str(value)


FilterName = Annotated[str, BeforeValidator(_filter_name)]
