"""Every setting, declared once: its place, type (parser and range), default, help and spelling.

A new setting is one field declared with `setting(...)` in its section here, and one row in
`docs/configuration.md`; its flag, variable, YAML key and help line follow (`exporter/config/options.py`).
The order of the fields is the order of `--help` and of the sections named in errors.
Credentials are deliberately absent: they never come from a flag.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from exporter.config.accounts import AccountSetting
from exporter.config.options import Option, Section, options_of, setting
from exporter.config.patterns import Patterns
from exporter.config.values import (
    Boolean,
    Count,
    EndpointUrl,
    FilterName,
    Interval,
    IntervalOrOff,
    ListenAddress,
    LogFormat,
    LogLevel,
    MonitorDelay,
    MonitorMetrics,
    MonitorPeriod,
    MonthlyRequests,
    NonEmptyStrings,
    OptionalPath,
    RateLimit,
    Regions,
    Staleness,
    StateSetForm,
    Strings,
    TelemetryPath,
    Timeout,
    WebCount,
    WebTimeout,
    split_host_port,
)
from exporter.tione.listing import FILTER_NAMES
from exporter.tione.models import Filter, TagFilter

DEFAULT_ENDPOINT = "https://tione.tencentcloudapi.com"
DEFAULT_MONITOR_ENDPOINT = "https://monitor.tencentcloudapi.com"
DEFAULT_STS_ENDPOINT = "https://sts.tencentcloudapi.com"
API_RATE_LIMIT = 20.0
"""What the API allows per second for this action; a higher `--api.rate-limit` only earns throttling."""


class FilterSetting(Section):
    """One `Filters` entry of the listing request, as written in the YAML file."""

    name: FilterName
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
    listen_address: ListenAddress = setting(
        ":10120", "host:port to serve on; :PORT listens on all interfaces", metavar="ADDR"
    )
    telemetry_path: TelemetryPath = setting("/metrics", "path of the metrics endpoint", metavar="PATH")
    config_file: OptionalPath = setting(
        None,
        "web configuration file (exporter-toolkit format: TLS, basic auth)",
        flag="--web.config.file",
        metavar="PATH",
    )
    max_connections: WebCount = setting(
        1000,
        "open HTTP connections at most (lowered to the descriptor limit less 128); beyond it the longest idle "
        "connection is closed to make room",
        metavar="NUMBER",
    )
    max_concurrent_scrapes: WebCount = setting(
        40,
        "metrics answers written at once; beyond it one whose client stopped reading makes room, or the "
        "request waits up to 5s, then gets 503",
        metavar="NUMBER",
    )
    header_timeout: WebTimeout = setting(
        10.0,
        "a connection that has not sent a complete request head this long after it opened (or after the "
        "first byte of its next request) is closed",
        metavar="DURATION",
    )
    write_timeout: WebTimeout = setting(
        30.0, "a client that reads nothing of its answer for this long is disconnected", metavar="DURATION"
    )

    @property
    def host_port(self) -> tuple[str, int]:
        return split_host_port(self.listen_address)


class TioneSettings(Section):
    regions: Regions = setting(
        (),
        "comma-separated regions to poll (default: the TENCENTCLOUD_REGION environment variable)",
        shown="$TENCENTCLOUD_REGION",
        metavar="LIST",
    )
    endpoint: EndpointUrl = setting(
        DEFAULT_ENDPOINT, "API base URL (http://127.0.0.1:PORT for the simulator)", metavar="URL"
    )
    project_ids: Strings = setting(
        (),
        "comma-separated TI workspace ids (TiProjectId) to poll instead of every workspace DescribeWorkspaces lists",
        shown="every workspace found",
        metavar="LIST",
    )
    discovery_interval: IntervalOrOff = setting(
        300.0,
        "time between two DescribeWorkspaces listings of a region's workspaces; 0 switches discovery off",
        metavar="DURATION",
    )
    filters: tuple[FilterSetting, ...] = setting(
        (),
        "request Filters: list of {name, values, negative, fuzzy}; name one of " + ", ".join(FILTER_NAMES),
        flag=False,
    )
    tag_filters: tuple[TagFilterSetting, ...] = setting((), "request TagFilters: list of {key, values}", flag=False)
    service_category: str | None = setting(None, "request ServiceCategory", flag=False)


class PollSettings(Section):
    interval: Interval = setting(30.0, "time between polls of a region (500ms, 30s, 5m or seconds)", metavar="DURATION")
    timeout: Timeout = setting(
        25.0,
        "deadline for one region's whole poll, retries included; must be below --poll.interval "
        "(when not set: 25s, or 80% of a shorter interval)",
        metavar="DURATION",
    )
    max_staleness: Staleness = setting(
        300.0, "how long a failing region keeps its last good series", metavar="DURATION"
    )


class CapacitySettings(Section):
    interval: IntervalOrOff = setting(
        300.0,
        "time between reads of the resource groups' capacity (DescribeBillingResourceGroups) per region; 0: off",
        metavar="DURATION",
    )


class HoldersSettings(Section):
    interval: IntervalOrOff = setting(
        300.0,
        "time between reads of the unfinished training tasks and notebooks (DescribeTrainingTasks, "
        "DescribeNotebooks) per region; 0: off",
        metavar="DURATION",
    )


class PricesSettings(Section):
    interval: IntervalOrOff = setting(
        3600.0,
        "time between reads of the hourly prices of the pay-as-you-go specs in use (DescribeBillingSpecsPrice) "
        "per region; 0: off",
        metavar="DURATION",
    )


class ApiSettings(Section):
    rate_limit: RateLimit = setting(
        10.0, "API requests per second for the whole process (the API allows 20)", metavar="NUMBER"
    )


class LogSettings(Section):
    level: LogLevel = setting("info", "debug, info, warn or error", metavar="LEVEL")
    format: LogFormat = setting("logfmt", "logfmt or json", metavar="FORMAT")


class MetricsSettings(Section):
    tag_labels: Strings = setting((), "tag keys exported as tag_<key> labels of the *_tags series", flag=False)
    exclude: Patterns = setting(
        (), "regular expressions; metric families whose name matches one are not exported", flag=False
    )
    include: Patterns = setting(
        (), "regular expressions; opt-in metric families whose name matches one are exported too", flag=False
    )
    pod_series: Boolean = setting(
        False,
        "export the per-pod and per-container series (tione_service_pod_*): true or false",
        metavar="BOOL",
    )
    state_sets: StateSetForm = setting(
        "current",
        "state sets as their current value only (current) or with a 0 for every other known value (full)",
        metavar="FORM",
    )


class EventsSettings(Section):
    max_services: Count = setting(
        10,
        "services in trouble whose Warning events are asked (DescribeEvents) per poll and region; 0: none",
        metavar="NUMBER",
    )
    refresh_interval: Interval = setting(
        60.0, "a troubled service's Warning events are asked again at most this often", metavar="DURATION"
    )


class MonitorSettings(Section):
    endpoint: EndpointUrl = setting(
        DEFAULT_MONITOR_ENDPOINT, "Cloud Monitor API base URL (the simulator serves it too)", metavar="URL"
    )
    max_requests_per_month: MonthlyRequests = setting(
        300_000,
        "Cloud Monitor requests a month at most (GetMonitorData is billed beyond the account's free 1,000,000); "
        "decides the effective interval; 0 switches Cloud Monitor off",
        metavar="NUMBER",
    )
    interval: Interval = setting(
        60.0,
        "shortest time between two Cloud Monitor collections of a region (lengthened to respect the budget)",
        metavar="DURATION",
    )
    period: MonitorPeriod = setting(
        60.0, "Cloud Monitor statistic period asked for: 10s, 1m, 5m, 1h or 24h", metavar="DURATION"
    )
    delay: MonitorDelay = setting(
        120.0, "the window asked ends this long before now (data arrive late; at least 1m)", metavar="DURATION"
    )
    rate_limit: RateLimit = setting(
        10.0, "Cloud Monitor requests per second for the process (separate from --api.rate-limit)", metavar="NUMBER"
    )
    metrics: MonitorMetrics = setting(
        (), "extra QCE/TI_MODEL metrics to export as tione_monitor_<snake_case name> (check lists them)", flag=False
    )


class StsSettings(Section):
    endpoint: EndpointUrl = setting(
        DEFAULT_STS_ENDPOINT,
        "STS base URL for the accounts' AssumeRole calls (the simulator serves it too)",
        metavar="URL",
    )


class Settings(BaseSettings):
    """Everything the exporter can be told; built by `load_settings`, immutable afterwards."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    config_file: OptionalPath = setting(
        None,
        "YAML file with any of the settings (strict: an unknown key is an error)",
        flag="--config.file",
        key=False,
        metavar="PATH",
    )
    web: WebSettings = WebSettings()
    tione: TioneSettings = TioneSettings()
    poll: PollSettings = PollSettings()
    capacity: CapacitySettings = CapacitySettings()
    holders: HoldersSettings = HoldersSettings()
    prices: PricesSettings = PricesSettings()
    api: ApiSettings = ApiSettings()
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()
    events: EventsSettings = EventsSettings()
    monitor: MonitorSettings = MonitorSettings()
    sts: StsSettings = StsSettings()
    accounts: tuple[AccountSetting, ...] = setting(
        (),
        "accounts to read through a role in each (STS AssumeRole): list of {name, role-arn, external-id, "
        "session-duration, regions, project-ids, api-rate-limit, monitor-rate-limit, "
        "monitor-max-requests-per-month}; none: the account of the exporter's own credentials",
        flag=False,
    )

    def warnings(self) -> list[str]:
        """Allowed but unwise choices, to be logged once logging is set up."""
        found = []
        if self.api.rate_limit > API_RATE_LIMIT:
            found.append(
                f"--api.rate-limit {self.api.rate_limit:g} is above the API's own limit of {API_RATE_LIMIT:g} "
                "requests per second; expect RequestLimitExceeded errors"
            )
        return found


OPTIONS: tuple[Option, ...] = options_of(Settings)
FLAG_OPTIONS: dict[str, Option] = {option.flag: option for option in OPTIONS if option.flag}
KEY_OPTIONS: dict[str, Option] = {option.key: option for option in OPTIONS if option.key}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(option.path[0] for option in OPTIONS if len(option.path) == 2))
