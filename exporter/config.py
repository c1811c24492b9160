"""The exporter's settings: command-line flags > `TIONE_EXPORTER_*` environment > YAML file > defaults.

Every setting is declared once, in `OPTIONS`, with its flag, environment variable and YAML key; the
parser, the help text, the three settings sources and `docs/configuration.md` all follow that table, so
they cannot drift apart. Validation is strict and every problem becomes one line that names where the bad
value came from (`--poll.interval: invalid duration "5x"`), because a person fixing a deployment needs to
know which of three places to edit. Credentials are deliberately absent: they never come from a flag.
"""

from __future__ import annotations

import difflib
import importlib
import ipaddress
import math
import os
import re
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from exporter.console import ConfigError
from exporter.durations import format_duration, parse_go_duration
from exporter.files import FileRefusedError, read_small_file
from exporter.metrics.families import SNAPSHOT_FAMILIES
from exporter.tencentcloud.endpoint import Endpoint, EndpointError, is_loopback
from exporter.tione.listing import FILTER_NAMES
from exporter.tione.models import Filter, TagFilter

ENV_PREFIX = "TIONE_EXPORTER_"
REGION_ENV = "TENCENTCLOUD_REGION"
DEFAULT_ENDPOINT = "https://tione.tencentcloudapi.com"
API_RATE_LIMIT = 20.0
"""What the API allows per second for this action; a higher `--api.rate-limit` only earns throttling."""
DEFAULT_TIMEOUT_SHARE = 0.8
"""Without an explicit `--poll.timeout`, a short `--poll.interval` lowers the timeout to this share of it."""
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
MAX_FILE_BYTES = 256 * 1024
"""The largest `--config.file`. Every setting with long filter lists fits in a few KiB; a bigger file is the
wrong file (a log, an image, `/dev/zero`), and parsing megabytes of YAML takes seconds and gigabytes."""
MAX_NESTING = 100
"""Levels of YAML nesting in the configuration file at most; the settings need four."""
MAX_SHOWN = 60
"""Characters of a bad value quoted in an error line: enough to recognise it, and one line whatever it is."""
MAX_PATTERNS = 100
"""Regular expressions in `metrics.exclude` or `metrics.include` at most: there are fewer metric families."""
MAX_PATTERN_LENGTH = 1000
"""Characters of one such regular expression at most: a family name is under 100; this also bounds nesting."""
PATTERN_SECONDS = 0.5
"""CPU seconds one such regular expression may take to be matched against every metric family's name at
start-up. A pattern that needs longer backtracks catastrophically and would stall every poll's render."""


LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warn", "error")
LOG_FORMATS: tuple[str, ...] = ("logfmt", "json")
STATE_SETS: tuple[str, ...] = ("current", "full")


def _shown(value: object) -> str:
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
        raise PydanticCustomError("duration", 'invalid duration "{value}"', {"value": _shown(value)})
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
                "duration", 'invalid duration "{value}"', {"value": _shown(value.strip())}
            ) from None
    else:
        raise PydanticCustomError("duration", "invalid duration: expected a string or a number")
    if math.isnan(seconds) or seconds <= 0:  # infinity is left to the range check, which names the range
        raise PydanticCustomError("duration", 'duration must be positive, not "{value}"', {"value": _shown(value)})
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
                {"low": show(low), "high": show(high), "value": _shown(str(value).strip())},
            )
        return number

    return BeforeValidator(check)


def _split_list(value: object) -> object:
    """Comma-separated strings (flags, environment) and YAML lists both become a list of trimmed items."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise PydanticCustomError("number", 'invalid number "{value}"', {"value": _shown(value)})
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    except (TypeError, ValueError):
        raise PydanticCustomError("number", 'invalid number "{value}"', {"value": _shown(value)}) from None
    if math.isnan(number) or number <= 0:
        raise PydanticCustomError("number", 'must be a positive number, not "{value}"', {"value": _shown(value)})
    return number


def _count(value: object) -> int:
    """A whole number from 0 to `MAX_COUNT` (`--events.max-services 0` switches the events off)."""
    text = str(value).strip()
    if isinstance(value, bool) or not _digits(text) or int(text) > MAX_COUNT:
        raise PydanticCustomError(
            "count",
            'must be a whole number from 0 to {high}, not "{value}"',
            {"high": MAX_COUNT, "value": _shown(value)},
        )
    return int(text)


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
                {"choices": ", ".join(choices), "value": _shown(value)},
            )
        return text

    return BeforeValidator(check)


def _listen_address(value: object) -> str:
    text = str(value).strip()
    host, _port = split_host_port(text)
    if host and not _valid_host(host):
        raise PydanticCustomError(
            "address", 'invalid host "{host}" in "{value}"', {"host": _shown(host), "value": _shown(text)}
        )
    return text


def split_host_port(address: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (all interfaces) as (host, port); host "" means all interfaces."""
    host, sep, port_text = address.rpartition(":")
    if not sep:
        raise PydanticCustomError("address", 'expected host:port, not "{value}"', {"value": _shown(address)})
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise PydanticCustomError(
            "address", 'an IPv6 host must be in brackets, as "[::1]:10120", not "{value}"', {"value": _shown(address)}
        )
    if not _digits(port_text) or int(port_text) > 65535:
        raise PydanticCustomError(
            "address", 'invalid port "{port}" in "{value}"', {"port": _shown(port_text), "value": _shown(address)}
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
            "path", 'must start with "/" and be neither "/" nor under "/-/", not "{value}"', {"value": _shown(text)}
        )
    if re.search(r"[\s?#]", text):
        raise PydanticCustomError(
            "path", 'must be a plain path without spaces, "?" or "#", not "{value}"', {"value": _shown(text)}
        )
    return text


def _endpoint(value: object) -> str:
    """An API base URL. Error messages quote only its scheme and host: a URL may carry a password or token."""
    text = str(value).strip().rstrip("/")
    parts = urlsplit(text)
    shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.scheme else "(no scheme)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("url", 'must be an http:// or https:// URL, not "{value}"', {"value": _shown(shown)})
    if parts.username is not None or parts.password is not None:
        raise PydanticCustomError("url", "must not carry a user or password (credentials never go in a URL)")
    if parts.path or parts.query or parts.fragment:
        raise PydanticCustomError(
            "url", 'must be a base URL without a path, query or fragment, like "{value}"', {"value": _shown(shown)}
        )
    try:
        parts.port  # noqa: B018 - evaluating it validates the port
    except ValueError:
        raise PydanticCustomError("url", 'invalid port in "{value}"', {"value": _shown(shown)}) from None
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise PydanticCustomError(
            "url",
            'plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost); use https, not "{value}"',
            {"value": _shown(shown)},
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
    items = _split_list(value)
    if not isinstance(items, list):
        raise PydanticCustomError("list", "expected a comma-separated string or a list")
    regions: dict[str, None] = {}  # a dict keeps the order and deduplicates in linear time
    for item in items:
        region = str(item).strip() if isinstance(item, str | int) else ""
        if len(region) > MAX_REGION_LENGTH or not _REGION.fullmatch(region):
            raise PydanticCustomError("region", 'invalid region "{value}" (e.g. ap-guangzhou)', {"value": _shown(item)})
        regions[region] = None
    return tuple(regions)


def _strings(value: object) -> tuple[str, ...]:
    items = _split_list(value)
    if not isinstance(items, list):
        raise PydanticCustomError("list", "expected a comma-separated string or a list")
    result: dict[str, None] = {}  # a dict keeps the order and deduplicates in linear time
    for item in items:
        if not isinstance(item, str | int) or isinstance(item, bool):
            raise PydanticCustomError("list", 'expected strings, not "{value}"', {"value": _shown(item)})
        text = str(item).strip()
        if text:
            result[text] = None
    return tuple(result)


def _non_empty(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise PydanticCustomError("list", "must list at least one value")
    return value


def _patterns(value: object) -> tuple[re.Pattern[str], ...]:
    """Regular expressions matched against metric family names, each checked before it is used: a pattern
    that backtracks catastrophically would stall every poll's render with no message (see `_pattern`)."""
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_PATTERNS:
        raise PydanticCustomError(
            "regex", "at most {high} regular expressions, not {count}", {"high": MAX_PATTERNS, "count": len(items)}
        )
    return tuple(_pattern(item) for item in items)


def _pattern(item: object) -> re.Pattern[str]:
    if not isinstance(item, str):
        raise PydanticCustomError(
            "regex", 'expected a regular expression string, not "{value}"', {"value": _shown(item)}
        )
    if len(item) > MAX_PATTERN_LENGTH:
        raise PydanticCustomError(
            "regex",
            'regular expression "{value}" is longer than {high} characters',
            {"value": _shown(item), "high": MAX_PATTERN_LENGTH},
        )
    try:
        pattern = re.compile(item)
        nested = _nested_repeat(_PARSER.parse(item))
    except (re.error, OverflowError, RecursionError) as error:  # Overflow: `a{99999999999}`
        reason = str(error) if not isinstance(error, RecursionError) else "nested too deeply"
        raise PydanticCustomError(
            "regex", 'invalid regular expression "{value}": {error}', {"value": _shown(item), "error": reason}
        ) from None
    if nested:
        raise PydanticCustomError(
            "regex",
            'regular expression "{value}" has a repetition inside a repetition (like "(a+)+"), which can take '
            "exponential time to match; write it without the nesting",
            {"value": _shown(item)},
        )
    if not _matches_in_time(pattern, FAMILY_NAMES, PATTERN_SECONDS):
        raise PydanticCustomError(
            "regex",
            'regular expression "{value}" takes over {seconds} to match the metric names (catastrophic '
            "backtracking); simplify it",
            {"value": _shown(item), "seconds": format_duration(PATTERN_SECONDS)},
        )
    return pattern


_PARSER: Any = importlib.import_module("re._parser")  # the standard library's own parser; it has no stubs
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT"})  # POSSESSIVE_REPEAT never backtracks
FAMILY_NAMES: tuple[str, ...] = tuple(family.name for family in SNAPSHOT_FAMILIES)
"""What `metrics.exclude` and `metrics.include` are ever matched against."""


def _nested_repeat(tree: Any, outer: bool = False) -> bool:
    """Whether a variable repetition (`+`, `*`, `{n,m}` with 1 < m != n) sits inside a repetition (`(\\w+)+`).

    Star height above one is what makes a backtracking engine exponential: `(\\w+)+!` on a name without
    `!` tries every split of it. A fixed count inside (`(a{2})+`) splits one way only. Alternatives that
    overlap (`(a|a)*`) are left to `_matches_in_time`.
    """
    for op, argument in tree:
        name = str(op)
        if name in _REPEATS:
            low, high, body = argument
            if outer and high > 1 and high != low:
                return True
            found = _nested_repeat(body, outer or high > 1)
        elif name == "SUBPATTERN" or name in ("ASSERT", "ASSERT_NOT"):
            found = _nested_repeat(argument[-1], outer)
        elif name == "ATOMIC_GROUP":
            found = _nested_repeat(argument, outer)
        elif name == "BRANCH":
            found = any(_nested_repeat(branch, outer) for branch in argument[1])
        else:
            found = False
        if found:
            return True
    return False


class _TimeUpError(Exception):
    """The CPU time allowed for matching a pattern is used up."""


def _matches_in_time(pattern: re.Pattern[str], names: Sequence[str], seconds: float) -> bool:
    """Whether `pattern` is matched against every name within `seconds` of CPU time.

    The bound is a `SIGVTALRM` timer (the regex engine checks for signals while it backtracks; a thread
    could not interrupt it), so it applies on the main thread only, where the commands load their
    settings; elsewhere the match runs unbounded. A virtual (CPU-time) timer leaves `SIGALRM` to others.
    """
    if threading.current_thread() is not threading.main_thread():
        for name in names:
            pattern.fullmatch(name)
        return True
    armed = True

    def expire(_signum: int, _frame: object) -> None:
        if armed:
            raise _TimeUpError

    previous = signal.signal(signal.SIGVTALRM, expire)
    try:
        signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
        try:
            for name in names:
                pattern.fullmatch(name)
        finally:
            armed = False
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    except _TimeUpError:
        return False
    finally:
        signal.signal(signal.SIGVTALRM, previous)
    return True


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
    raise PydanticCustomError("bool", 'expected true or false, not "{value}"', {"value": _shown(value)})


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
    text = str(value).strip()
    if isinstance(value, bool) or not _digits(text) or not 1 <= int(text) <= MAX_WEB_COUNT:
        raise PydanticCustomError(
            "count",
            'must be a whole number from 1 to {high}, not "{value}"',
            {"high": MAX_WEB_COUNT, "value": _shown(value)},
        )
    return int(text)


WebCount = Annotated[int, BeforeValidator(_web_count)]


ListenAddress = Annotated[str, BeforeValidator(_listen_address)]
TelemetryPath = Annotated[str, BeforeValidator(_telemetry_path)]
EndpointUrl = Annotated[str, BeforeValidator(_endpoint)]
Regions = Annotated[tuple[str, ...], BeforeValidator(_regions)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
NonEmptyStrings = Annotated[tuple[str, ...], BeforeValidator(_strings), AfterValidator(_non_empty)]
Patterns = Annotated[tuple[re.Pattern[str], ...], BeforeValidator(_patterns)]
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
            {"value": _shown(value), "names": ", ".join(FILTER_NAMES)},
        )
    return str(value)


# --- the settings model ------------------------------------------------------------------------------------


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilterSetting(Section):
    """One `Filters` entry of the listing request, as written in the YAML file."""

    name: Annotated[str, BeforeValidator(_filter_name)]
    values: NonEmptyStrings
    negative: Boolean = False
    fuzzy: Boolean = False

    def to_model(self) -> Filter:
        return Filter(name=self.name, values=list(self.values), negative=self.negative, fuzzy=self.fuzzy)


class TagFilterSetting(Section):
    """One `TagFilters` entry: services carrying tag `key` with any of `values`."""

    key: str
    values: NonEmptyStrings

    def to_model(self) -> TagFilter:
        return TagFilter(tag_key=self.key, tag_values=list(self.values))


class WebSettings(Section):
    listen_address: ListenAddress = ":10120"
    telemetry_path: TelemetryPath = "/metrics"
    config_file: OptionalPath = None
    max_connections: WebCount = 1000
    """Open connections at most; lowered at start to leave room under the descriptor limit."""
    max_concurrent_scrapes: WebCount = 40
    header_timeout: WebTimeout = 10.0
    write_timeout: WebTimeout = 30.0

    @property
    def host_port(self) -> tuple[str, int]:
        return split_host_port(self.listen_address)


class TioneSettings(Section):
    regions: Regions = ()
    endpoint: EndpointUrl = DEFAULT_ENDPOINT
    project_ids: Strings = ()
    discovery_interval: IntervalOrOff = 300.0
    filters: tuple[FilterSetting, ...] = ()
    tag_filters: tuple[TagFilterSetting, ...] = ()
    service_category: str | None = None


class PollSettings(Section):
    interval: Interval = 30.0
    timeout: Timeout = 25.0
    max_staleness: Staleness = 300.0


class CapacitySettings(Section):
    interval: IntervalOrOff = 300.0
    """Seconds between two reads of the resource groups' capacity per region; 0: not read."""


class ApiSettings(Section):
    rate_limit: RateLimit = 10.0


class LogSettings(Section):
    level: LogLevel = "info"
    format: LogFormat = "logfmt"


class MetricsSettings(Section):
    tag_labels: Strings = ()
    exclude: Patterns = ()
    include: Patterns = ()
    """The opt-in families to export as well (regular expressions matched against the whole name)."""
    pod_series: Boolean = False
    state_sets: StateSetForm = "current"


class EventsSettings(Section):
    max_services: Count = 10
    refresh_interval: Interval = 60.0


class Settings(BaseSettings):
    """Everything the exporter can be told; built by `load_settings`, immutable afterwards."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    config_file: OptionalPath = None
    web: WebSettings = WebSettings()
    tione: TioneSettings = TioneSettings()
    poll: PollSettings = PollSettings()
    api: ApiSettings = ApiSettings()
    capacity: CapacitySettings = CapacitySettings()
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()
    events: EventsSettings = EventsSettings()

    def warnings(self) -> list[str]:
        """Allowed but unwise choices, to be logged once logging is set up."""
        found = []
        if self.api.rate_limit > API_RATE_LIMIT:
            found.append(
                f"--api.rate-limit {self.api.rate_limit:g} is above the API's own limit of {API_RATE_LIMIT:g} "
                "requests per second; expect RequestLimitExceeded errors"
            )
        return found


# --- the table of options ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One setting: where it lives in `Settings` and how a user spells it in each source."""

    path: tuple[str, ...]
    flag: str | None
    env: str | None
    key: str | None
    default: str
    help: str
    metavar: str = "VALUE"


def _option(
    path: str, default: str, help_text: str, *, flag: bool = True, key: bool = True, metavar: str = "VALUE"
) -> Option:
    """Spell a setting the usual way: `poll.max_staleness` -> `--poll.max-staleness`, env and YAML key alike."""
    parts = tuple(path.split("."))
    dashed = ".".join(part.replace("_", "-") for part in parts)
    flag_name = "--" + dashed
    env = ENV_PREFIX + "_".join(parts).upper()
    return Option(
        path=parts,
        flag=flag_name if flag else None,
        env=env if flag else None,
        key=dashed if key else None,
        default=default,
        help=help_text,
        metavar=metavar,
    )


OPTIONS: tuple[Option, ...] = (
    Option(
        path=("config_file",),
        flag="--config.file",
        env=ENV_PREFIX + "CONFIG_FILE",
        key=None,
        default="none",
        help="YAML file with any of the settings (strict: an unknown key is an error)",
        metavar="PATH",
    ),
    _option("web.listen_address", ":10120", "host:port to serve on; :PORT listens on all interfaces", metavar="ADDR"),
    _option("web.telemetry_path", "/metrics", "path of the metrics endpoint", metavar="PATH"),
    Option(
        path=("web", "config_file"),
        flag="--web.config.file",
        env=ENV_PREFIX + "WEB_CONFIG_FILE",
        key="web.config-file",
        default="none",
        help="web configuration file (exporter-toolkit format: TLS, basic auth)",
        metavar="PATH",
    ),
    _option(
        "web.max_connections",
        "1000",
        "open HTTP connections at most (lowered to the descriptor limit less 128); beyond it the longest idle "
        "connection is closed to make room",
        metavar="NUMBER",
    ),
    _option(
        "web.max_concurrent_scrapes",
        "40",
        "metrics answers written at once; beyond it one whose client stopped reading makes room, or the "
        "request waits up to 5s, then gets 503",
        metavar="NUMBER",
    ),
    _option(
        "web.header_timeout",
        "10s",
        "a connection that has not sent a complete request head this long after it opened (or after the "
        "first byte of its next request) is closed",
        metavar="DURATION",
    ),
    _option(
        "web.write_timeout",
        "30s",
        "a client that reads nothing of its answer for this long is disconnected",
        metavar="DURATION",
    ),
    _option(
        "tione.regions",
        "$TENCENTCLOUD_REGION",
        "comma-separated regions to poll (default: the TENCENTCLOUD_REGION environment variable)",
        metavar="LIST",
    ),
    _option(
        "tione.endpoint", DEFAULT_ENDPOINT, "API base URL (http://127.0.0.1:PORT for the simulator)", metavar="URL"
    ),
    _option(
        "tione.project_ids",
        "every workspace found",
        "comma-separated TI workspace ids (TiProjectId) to poll instead of every workspace DescribeWorkspaces lists",
        metavar="LIST",
    ),
    _option(
        "tione.discovery_interval",
        "5m",
        "time between two DescribeWorkspaces listings of a region's workspaces; 0 switches discovery off",
        metavar="DURATION",
    ),
    _option(
        "tione.filters",
        "none",
        "request Filters: list of {name, values, negative, fuzzy}; name one of " + ", ".join(FILTER_NAMES),
        flag=False,
    ),
    _option("tione.tag_filters", "none", "request TagFilters: list of {key, values}", flag=False),
    _option("tione.service_category", "none", "request ServiceCategory", flag=False),
    _option("poll.interval", "30s", "time between polls of a region (500ms, 30s, 5m or seconds)", metavar="DURATION"),
    _option(
        "poll.timeout",
        "25s",
        "deadline for one region's whole poll, retries included; must be below --poll.interval "
        "(when not set: 25s, or 80% of a shorter interval)",
        metavar="DURATION",
    ),
    _option(
        "poll.max_staleness",
        "5m",
        "how long a failing region keeps its last good series",
        metavar="DURATION",
    ),
    _option(
        "capacity.interval",
        "5m",
        "time between reads of the resource groups' capacity (DescribeBillingResourceGroups) per region; 0: off",
        metavar="DURATION",
    ),
    _option(
        "api.rate_limit",
        "10",
        "API requests per second for the whole process (the API allows 20)",
        metavar="NUMBER",
    ),
    _option("log.level", "info", "debug, info, warn or error", metavar="LEVEL"),
    _option("log.format", "logfmt", "logfmt or json", metavar="FORMAT"),
    _option("metrics.tag_labels", "none", "tag keys exported as tag_<key> labels of the *_tags series", flag=False),
    _option(
        "metrics.exclude",
        "none",
        "regular expressions; metric families whose name matches one are not exported",
        flag=False,
    ),
    _option(
        "metrics.include",
        "none",
        "regular expressions; opt-in metric families whose name matches one are exported too",
        flag=False,
    ),
    _option(
        "metrics.pod_series",
        "false",
        "export the per-pod and per-container series (tione_service_pod_*): true or false",
        metavar="BOOL",
    ),
    _option(
        "metrics.state_sets",
        "current",
        "state sets as their current value only (current) or with a 0 for every other known value (full)",
        metavar="FORM",
    ),
    _option(
        "events.max_services",
        "10",
        "services in trouble whose Warning events are asked (DescribeEvents) per poll and region; 0: none",
        metavar="NUMBER",
    ),
    _option(
        "events.refresh_interval",
        "1m",
        "a troubled service's Warning events are asked again at most this often",
        metavar="DURATION",
    ),
)

FLAG_OPTIONS: dict[str, Option] = {option.flag: option for option in OPTIONS if option.flag}
KEY_OPTIONS: dict[str, Option] = {option.key: option for option in OPTIONS if option.key}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(option.path[0] for option in OPTIONS if len(option.path) == 2))


def _put(tree: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


# --- the three sources -------------------------------------------------------------------------------------


class LayerSource(PydanticBaseSettingsSource):
    """Settings from one place (flags, environment or file), with the name each value was given under.

    The names let a validation error say `--poll.interval` or `poll.interval (in exporter.yaml)` instead of
    a model path the user never wrote.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        values: dict[str, Any],
        names: dict[tuple[str, ...], str],
        where: str = "",
    ) -> None:
        super().__init__(settings_cls)
        self.values = values
        self.names = names
        self.where = where

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.values

    def name_of(self, path: tuple[str | int, ...]) -> str | None:
        """The user's name for the value at `path` (or for its nearest given ancestor)."""
        for length in range(len(path), 0, -1):
            name = self.names.get(tuple(str(part) for part in path[:length]))
            if name is not None:
                suffix = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path[length:])
                return name + suffix + self.where
        return None


def flag_source(values: Mapping[str, str]) -> LayerSource:
    """Flags already parsed into `{flag: raw string}`."""
    tree: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    for flag, raw in values.items():
        option = FLAG_OPTIONS[flag]
        _put(tree, option.path, raw)
        names[option.path] = flag
    return LayerSource(Settings, tree, names)


def env_source(environ: Mapping[str, str]) -> LayerSource:
    """`TIONE_EXPORTER_*` variables; an empty variable counts as unset, as most tools treat it."""
    tree: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    for option in OPTIONS:
        if option.env and environ.get(option.env, "").strip():
            _put(tree, option.path, environ[option.env])
            names[option.path] = option.env
    return LayerSource(Settings, tree, names)


def file_source(path: Path) -> LayerSource:
    """The YAML file: sections named as the flags' first part, keys spelled as the flags' rest."""
    where = f"--config.file {path}"
    text = _read_text(path, where)
    if _nesting(text) > MAX_NESTING:
        raise ConfigError([f"{where}: invalid YAML: nested more than {MAX_NESTING} levels deep"])
    try:
        document = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader, libyaml's when present
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        position = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError([f"{where}: invalid YAML{position}: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{where}: invalid YAML: nested too deeply"]) from None
    except ValueError as error:  # an integer of thousands of digits
        raise ConfigError([f"{where}: invalid YAML: {_shown(error)}"]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError([f"{where}: the top level must be a mapping of sections ({', '.join(SECTIONS)})"])

    tree: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    problems: list[str] = []
    for section, body in document.items():
        if section not in SECTIONS:
            problems.append(f"{where}: unknown key {_quoted_with_hint(str(section), SECTIONS)}")
            continue
        if body is None:
            continue
        if not isinstance(body, dict):
            problems.append(f"{where}: {section}: expected a mapping of keys, not {type(body).__name__}")
            continue
        for key, value in body.items():
            dotted = f"{section}.{key}"
            option = KEY_OPTIONS.get(dotted)
            if option is None:
                known = [name for name in KEY_OPTIONS if name.startswith(section + ".")]
                problems.append(f"{where}: unknown key {_quoted_with_hint(dotted, known)}")
                continue
            _put(tree, option.path, value)
            names[option.path] = dotted
    if problems:
        raise ConfigError(problems)
    return LayerSource(Settings, tree, names, where=f" (in {path})")


_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: ten times faster than the pure-Python one."""


def _read_text(path: Path, where: str) -> str:
    """The file's text; a FIFO, a device or a file over `MAX_FILE_BYTES` is refused before it is read."""
    try:
        data = read_small_file(path, MAX_FILE_BYTES, "a configuration file")
    except FileRefusedError as refused:
        raise ConfigError([f"{where}: {refused}"]) from None
    except OSError as error:
        raise ConfigError([f"{where}: cannot read the file: {error.strerror or error}"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{where}: the file is not UTF-8 text"]) from None


def _nesting(text: str) -> int:
    """An upper bound of the YAML's nesting in flow (`[[[`) and compact block (`- - -`) style, from the text.

    Counted before parsing because libyaml's parser takes time quadratic in the depth and overflows the C
    stack at tens of thousands of levels (a crash, not an error). Brackets inside quoted strings count too:
    a real configuration is never within sight of the limit. Nesting by indentation is bounded by the size.
    """
    flow = deepest = 0
    for match in re.finditer(r"[\[\]{}]", text):
        flow = flow + 1 if match.group() in "[{" else max(0, flow - 1)
        deepest = max(deepest, flow)
    compact = max((line.count("- ") + line.count("? ") for line in text.splitlines()), default=0)
    return deepest + compact


def _quoted_with_hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1) if len(name) <= MAX_SHOWN else []
    return f'"{_shown(name)}"' + (f' (did you mean "{close[0]}"?)' if close else f" (known: {', '.join(known)})")


def unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """A warning for each `TIONE_EXPORTER_*` variable that names no setting, with the nearest that does.

    Not an error, unlike an unknown key in the file: the environment is shared with other software and
    older deployments, and a variable is easy to leave behind. Only names are quoted, never values.
    """
    known = [option.env for option in OPTIONS if option.env]
    file_only = {ENV_PREFIX + "_".join(option.path).upper(): option.key for option in OPTIONS if option.env is None}
    found = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        if name in file_only:
            found.append(f"environment variable {name} is ignored: {file_only[name]} is set in the --config.file only")
            continue
        # Compared without the prefix that every name shares, which would make any two names look alike.
        close = difflib.get_close_matches(
            name.removeprefix(ENV_PREFIX), [n.removeprefix(ENV_PREFIX) for n in known], n=1
        )
        hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
        found.append(f"unknown environment variable {_shown(name)} is ignored{hint}")
    return found


# --- loading -------------------------------------------------------------------------------------------------


def load_settings(flags: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from parsed flags, the environment and the YAML file they name; raise `ConfigError`."""
    env = os.environ if environ is None else environ
    layers = [flag_source(flags), env_source(env)]
    config_path = flags.get("--config.file") or env.get(ENV_PREFIX + "CONFIG_FILE", "").strip()
    if config_path:
        layers.append(file_source(Path(config_path)))
    region = env.get(REGION_ENV, "").strip()
    if region:
        layers.append(LayerSource(Settings, {"tione": {"regions": region}}, {("tione", "regions"): REGION_ENV}))

    # Each layer on its own first: a bad value is an error also where a higher layer overrides it (a flag
    # must not hide a broken file that will bite as soon as the flag goes).
    problems: list[str] = []
    for layer in layers:
        try:
            Settings(_build_sources=((layer,), {}))
        except ValidationError as error:
            problems.extend(_describe(item, [layer]) for item in error.errors())
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    try:
        settings = Settings(_build_sources=(tuple(layers), {}))
    except ValidationError as error:
        raise ConfigError([_describe(item, layers) for item in error.errors()]) from None

    if not _given(("poll", "timeout"), layers) and settings.poll.timeout >= settings.poll.interval:
        poll = settings.poll.model_copy(update={"timeout": settings.poll.interval * DEFAULT_TIMEOUT_SHARE})
        settings = settings.model_copy(update={"poll": poll})
    problems = _cross_checks(settings, layers)
    if problems:
        raise ConfigError(problems)
    return settings


def _given(path: tuple[str, ...], layers: Sequence[LayerSource]) -> bool:
    return any(path in layer.names for layer in layers)


def _describe(error: Any, layers: Sequence[LayerSource]) -> str:
    location: tuple[str | int, ...] = tuple(error["loc"])
    name = _name_of(location, layers)
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return f"{name}: unknown key"
    if error["type"] == "missing":
        return f"{name}: required"
    return f"{name}: {message}"


def _name_of(location: tuple[str | int, ...], layers: Sequence[LayerSource]) -> str:
    for layer in layers:
        name = layer.name_of(location)
        if name is not None:
            return name
    option = next((option for option in OPTIONS if option.path == tuple(map(str, location))), None)
    if option is not None:
        return option.flag or option.key or ".".join(option.path)
    return ".".join(str(part) for part in location)


def _cross_checks(settings: Settings, layers: Sequence[LayerSource]) -> list[str]:
    problems = []
    if not settings.tione.regions:
        problems.append(
            f"--tione.regions: no region to poll; set --tione.regions, {ENV_PREFIX}TIONE_REGIONS, "
            f"tione.regions in the config file or {REGION_ENV}"
        )
    if settings.poll.timeout >= settings.poll.interval:
        timeout = _name_of(("poll", "timeout"), layers)
        interval = _name_of(("poll", "interval"), layers)
        problems.append(
            f"{timeout}: {format_duration(settings.poll.timeout)} must be shorter than "
            f"{interval} {format_duration(settings.poll.interval)}"
        )
    return problems


def listing_filters(settings: Settings) -> tuple[list[Filter], list[TagFilter]]:
    """The configured request filters in the API's own model types, ready for a listing query."""
    return (
        [item.to_model() for item in settings.tione.filters],
        [item.to_model() for item in settings.tione.tag_filters],
    )
