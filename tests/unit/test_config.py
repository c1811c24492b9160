"""Settings: every flag, variable and key; precedence; durations; and one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.config import (
    DEFAULT_ENDPOINT,
    OPTIONS,
    Settings,
    listing_filters,
    load_settings,
)
from exporter.config.accounts import ACCOUNT_KEYS
from exporter.config.values import parse_duration
from exporter.console import ConfigError
from exporter.durations import format_duration

REGION = {"TENCENTCLOUD_REGION": "ap-guangzhou"}


def problems(flags: dict[str, str], env: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load_settings(flags, REGION | (env or {}))
    return caught.value.problems


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "exporter.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_match_the_interface() -> None:
    settings = load_settings({}, REGION)
    assert settings.web.listen_address == ":10120"
    assert settings.web.host_port == ("", 10120)
    assert settings.web.telemetry_path == "/metrics"
    assert settings.web.config_file is None
    assert settings.tione.regions == ("ap-guangzhou",)
    assert settings.tione.endpoint == DEFAULT_ENDPOINT
    assert settings.tione.project_ids == ()
    assert settings.tione.discovery_interval == 300.0
    assert settings.poll.interval == 30.0
    assert settings.poll.timeout == 25.0
    assert settings.poll.max_staleness == 300.0
    assert settings.api.rate_limit == 10.0
    assert settings.log.level == "info"
    assert settings.log.format == "logfmt"
    assert settings.metrics.pod_series is False
    assert settings.metrics.state_sets == "current"
    assert settings.metrics.tag_labels == ()
    assert settings.metrics.exclude == ()
    assert settings.metrics.include == ()
    assert settings.warnings() == []


ALL_FLAGS = {
    "--web.listen-address": ("127.0.0.1:9000", lambda s: s.web.listen_address == "127.0.0.1:9000"),
    "--web.telemetry-path": ("/prom", lambda s: s.web.telemetry_path == "/prom"),
    "--web.config.file": ("/etc/web.yml", lambda s: s.web.config_file == Path("/etc/web.yml")),
    "--tione.regions": ("ap-shanghai, ap-beijing", lambda s: s.tione.regions == ("ap-shanghai", "ap-beijing")),
    "--tione.endpoint": ("http://127.0.0.1:8080/", lambda s: s.tione.endpoint == "http://127.0.0.1:8080"),
    "--tione.project-ids": ("1,2", lambda s: s.tione.project_ids == ("1", "2")),
    "--tione.discovery-interval": ("10m", lambda s: s.tione.discovery_interval == 600.0),
    "--poll.interval": ("1m", lambda s: s.poll.interval == 60.0),
    "--poll.timeout": ("20s", lambda s: s.poll.timeout == 20.0),
    "--poll.max-staleness": ("1h30m", lambda s: s.poll.max_staleness == 5400.0),
    "--api.rate-limit": ("2.5", lambda s: s.api.rate_limit == 2.5),
    "--capacity.interval": ("10m", lambda s: s.capacity.interval == 600.0),
    "--holders.interval": ("0", lambda s: s.holders.interval == 0.0),
    "--prices.interval": ("2h", lambda s: s.prices.interval == 7200.0),
    "--log.level": ("debug", lambda s: s.log.level == "debug"),
    "--log.format": ("json", lambda s: s.log.format == "json"),
    "--events.max-services": ("0", lambda s: s.events.max_services == 0),
    "--events.refresh-interval": ("5m", lambda s: s.events.refresh_interval == 300.0),
    "--monitor.endpoint": ("http://127.0.0.1:8081", lambda s: s.monitor.endpoint == "http://127.0.0.1:8081"),
    "--monitor.max-requests-per-month": ("0", lambda s: s.monitor.max_requests_per_month == 0),
    "--monitor.interval": ("5m", lambda s: s.monitor.interval == 300.0),
    "--monitor.period": ("5m", lambda s: s.monitor.period == 300.0),
    "--monitor.delay": ("3m", lambda s: s.monitor.delay == 180.0),
    "--monitor.rate-limit": ("5", lambda s: s.monitor.rate_limit == 5.0),
    "--sts.endpoint": ("http://127.0.0.1:8082", lambda s: s.sts.endpoint == "http://127.0.0.1:8082"),
    "--web.max-connections": ("300", lambda s: s.web.max_connections == 300),
    "--web.max-concurrent-scrapes": ("7", lambda s: s.web.max_concurrent_scrapes == 7),
    "--web.header-timeout": ("2500ms", lambda s: s.web.header_timeout == 2.5),
    "--web.write-timeout": ("1m", lambda s: s.web.write_timeout == 60.0),
    "--metrics.pod-series": ("true", lambda s: s.metrics.pod_series is True),
    "--metrics.state-sets": ("full", lambda s: s.metrics.state_sets == "full"),
}


@pytest.mark.parametrize("flag", sorted(ALL_FLAGS))
def test_every_flag_and_its_environment_variable(flag: str) -> None:
    raw, check = ALL_FLAGS[flag]
    option = next(option for option in OPTIONS if option.flag == flag)
    assert option.env is not None
    assert check(load_settings({flag: raw}, REGION))
    assert check(load_settings({}, REGION | {option.env: raw}))


@pytest.mark.parametrize(("raw", "seconds"), [("0", 0.0), ("0s", 0.0), ("90s", 90.0)])
def test_discovery_can_be_switched_off_with_zero(raw: str, seconds: float) -> None:
    assert load_settings({"--tione.discovery-interval": raw}, REGION).tione.discovery_interval == seconds


def test_a_negative_discovery_interval_is_refused() -> None:
    assert any("tione.discovery-interval" in problem for problem in problems({"--tione.discovery-interval": "-5s"}))


def test_every_flag_is_tested() -> None:
    flags = {option.flag for option in OPTIONS if option.flag} - {"--config.file"}
    assert flags == set(ALL_FLAGS)


def test_environment_names_follow_the_flags() -> None:
    for option in OPTIONS:
        if option.flag:
            assert option.env is not None
            expected = "TIONE_EXPORTER_" + option.flag[2:].replace(".", "_").replace("-", "_").upper()
            assert option.env == expected


FULL_YAML = """
web:
  listen-address: "[::1]:9001"
  telemetry-path: /custom/metrics
  config-file: /etc/web.yml
  max-connections: 200
  max-concurrent-scrapes: 3
  header-timeout: 5s
  write-timeout: 45s
tione:
  regions: [ap-shanghai, ap-guangzhou]
  endpoint: http://localhost:8080
  project-ids: ["12", "34"]
  discovery-interval: 15m
  filters:
    - name: Status
      values: [Normal, Abnormal]
      negative: true
    - {name: ServiceGroupName, values: [llm], fuzzy: true}
  tag-filters:
    - {key: team, values: [search, ads]}
  service-category: LLM
poll:
  interval: 45
  timeout: 40s
  max-staleness: 10m
api:
  rate-limit: 5
log:
  level: WARN
  format: json
metrics:
  tag-labels: [team, env]
  exclude: ["tione_service_pod_.*", "tione_service_info"]
  include: ["tione_service_rolling_update_.*"]
  pod-series: true
  state-sets: FULL
events:
  max-services: 25
  refresh-interval: 2m
capacity:
  interval: 15m
holders:
  interval: 10m
prices:
  interval: 0
monitor:
  endpoint: http://127.0.0.1:8081
  max-requests-per-month: 50000
  interval: 2m
  period: 10s
  delay: 90s
  rate-limit: 4
  metrics: [GpuUtil, Cpuutil]
sts:
  endpoint: http://127.0.0.1:8082
accounts:
  - name: prod
    role-arn: qcs::cam::uin/100000000001:roleName/tione-exporter
    external-id: prod-ext-1
    session-duration: 1h
    regions: [ap-beijing]
    project-ids: ["56"]
    api-rate-limit: 8
    monitor-rate-limit: 3
    monitor-max-requests-per-month: 1000
  - name: staging
    role-arn: qcs::cam::uin/100000000002:roleName/tione-exporter
"""


def test_every_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_YAML)
    settings = load_settings({"--config.file": path}, {})
    assert settings.web.host_port == ("::1", 9001)
    assert settings.web.telemetry_path == "/custom/metrics"
    assert settings.web.config_file == Path("/etc/web.yml")
    assert (settings.web.max_connections, settings.web.max_concurrent_scrapes) == (200, 3)
    assert (settings.web.header_timeout, settings.web.write_timeout) == (5.0, 45.0)
    assert settings.tione.regions == ("ap-shanghai", "ap-guangzhou")
    assert settings.tione.endpoint == "http://localhost:8080"
    assert settings.tione.project_ids == ("12", "34")
    assert settings.tione.discovery_interval == 900.0
    assert settings.tione.service_category == "LLM"
    assert settings.poll.interval == 45.0
    assert settings.poll.timeout == 40.0
    assert settings.poll.max_staleness == 600.0
    assert settings.api.rate_limit == 5.0
    assert settings.log.level == "warn"
    assert settings.log.format == "json"
    assert settings.metrics.tag_labels == ("team", "env")
    assert [p.pattern for p in settings.metrics.exclude] == ["tione_service_pod_.*", "tione_service_info"]
    assert [p.pattern for p in settings.metrics.include] == ["tione_service_rolling_update_.*"]
    assert settings.metrics.pod_series is True
    assert settings.metrics.state_sets == "full"
    assert settings.events.max_services == 25
    assert settings.events.refresh_interval == 120.0
    assert settings.capacity.interval == 900.0
    assert (settings.holders.interval, settings.prices.interval) == (600.0, 0.0)
    assert settings.monitor.endpoint == "http://127.0.0.1:8081"
    assert (settings.monitor.max_requests_per_month, settings.monitor.interval) == (50_000, 120.0)
    assert (settings.monitor.period, settings.monitor.delay, settings.monitor.rate_limit) == (10.0, 90.0, 4.0)
    assert settings.monitor.metrics == ("GpuUtil", "Cpuutil")
    assert settings.sts.endpoint == "http://127.0.0.1:8082"
    prod, staging = settings.accounts
    assert (prod.name, prod.uin, prod.session_duration) == ("prod", "100000000001", 3600.0)
    assert prod.role_arn == "qcs::cam::uin/100000000001:roleName/tione-exporter"
    assert prod.secret_external_id() == "prod-ext-1" and "prod-ext-1" not in repr(settings)
    assert (prod.regions, prod.project_ids) == (("ap-beijing",), ("56",))
    assert (prod.api_rate_limit, prod.monitor_rate_limit, prod.monitor_max_requests_per_month) == (8.0, 3.0, 1000)
    assert (staging.name, staging.external_id, staging.session_duration) == ("staging", None, 7200.0)
    assert (staging.regions, staging.project_ids, staging.api_rate_limit) == (None, None, None)
    filters, tag_filters = listing_filters(settings)
    assert [f.to_api() for f in filters] == [
        {"Name": "Status", "Values": ["Normal", "Abnormal"], "Negative": True, "Fuzzy": False},
        {"Name": "ServiceGroupName", "Values": ["llm"], "Negative": False, "Fuzzy": True},
    ]
    assert [t.to_api() for t in tag_filters] == [{"TagKey": "team", "TagValues": ["search", "ads"]}]


def test_every_yaml_key_is_tested() -> None:
    document = yaml.safe_load(FULL_YAML)
    written = {f"{section}.{key}" for section, body in document.items() if isinstance(body, dict) for key in body}
    written |= {section for section, body in document.items() if isinstance(body, list)}
    assert written == {option.key for option in OPTIONS if option.key}
    entry_keys = {key for body in document["accounts"] for key in body}
    assert entry_keys == set(ACCOUNT_KEYS)


def test_precedence_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "poll:\n  interval: 3m\n  max-staleness: 20m\n  timeout: 10s\nlog:\n  level: error\n")
    env = {
        "TIONE_EXPORTER_CONFIG_FILE": path,
        "TIONE_EXPORTER_POLL_INTERVAL": "2m",
        "TIONE_EXPORTER_POLL_MAX_STALENESS": "15m",
        "TENCENTCLOUD_REGION": "ap-shanghai",
    }
    settings = load_settings({"--poll.interval": "1m"}, env)
    assert settings.poll.interval == 60.0  # flag beats env and file
    assert settings.poll.max_staleness == 900.0  # env beats file
    assert settings.poll.timeout == 10.0  # file beats default
    assert settings.log.level == "error"
    assert settings.log.format == "logfmt"  # default
    assert settings.tione.regions == ("ap-shanghai",)


def test_regions_from_any_source_beat_tencentcloud_region(tmp_path: Path) -> None:
    assert load_settings({"--tione.regions": "ap-beijing"}, REGION).tione.regions == ("ap-beijing",)
    env = REGION | {"TIONE_EXPORTER_TIONE_REGIONS": "ap-chengdu"}
    assert load_settings({}, env).tione.regions == ("ap-chengdu",)
    path = write(tmp_path, "tione:\n  regions: ap-nanjing\n")
    assert load_settings({"--config.file": path}, REGION).tione.regions == ("ap-nanjing",)


def test_no_region_anywhere_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {})
    assert caught.value.problems[0].startswith("--tione.regions: no region to poll")
    assert "TENCENTCLOUD_REGION" in caught.value.problems[0]


def test_empty_environment_variables_count_as_unset() -> None:
    settings = load_settings({}, REGION | {"TIONE_EXPORTER_POLL_INTERVAL": " ", "TIONE_EXPORTER_LOG_LEVEL": ""})
    assert settings.poll.interval == 30.0
    assert settings.log.level == "info"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1m30.5s", 90.5),
        ("2h0m5s", 7205.0),
        ("250us", 0.00025),
        ("30", 30.0),
        ("0.25", 0.25),
        (15, 15.0),
        (1.5, 1.5),
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5x", "", "s", "1d", "m5", "-5s", "0s", "0", "5 s", "1h-5m", "nan"])
def test_bad_durations(text: str) -> None:
    found = problems({"--poll.max-staleness": text})
    assert len(found) == 1
    assert found[0].startswith("--poll.max-staleness: ")
    assert "duration" in found[0]


def test_format_duration_round_trips() -> None:
    for seconds in (0.5, 1.0, 30.0, 90.0, 300.0, 5400.0, 3661.0):
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--poll.interval", "5x", '--poll.interval: invalid duration "5x"'),
        ("--api.rate-limit", "fast", '--api.rate-limit: invalid number "fast"'),
        ("--api.rate-limit", "0", '--api.rate-limit: must be a positive number, not "0"'),
        ("--api.rate-limit", "-3", '--api.rate-limit: must be a positive number, not "-3"'),
        ("--log.level", "verbose", '--log.level: must be one of debug, info, warn, error, not "verbose"'),
        ("--log.format", "xml", '--log.format: must be one of logfmt, json, not "xml"'),
        ("--web.listen-address", "10120", '--web.listen-address: expected host:port, not "10120"'),
        ("--web.listen-address", ":http", '--web.listen-address: invalid port "http" in ":http"'),
        ("--web.listen-address", ":70000", '--web.listen-address: invalid port "70000" in ":70000"'),
        ("--web.listen-address", "::1:80", "--web.listen-address: an IPv6 host must be in brackets"),
        ("--web.listen-address", "bad host:80", '--web.listen-address: invalid host "bad host"'),
        ("--web.telemetry-path", "metrics", '--web.telemetry-path: must start with "/"'),
        ("--web.telemetry-path", "/", '--web.telemetry-path: must start with "/"'),
        ("--web.telemetry-path", "/-/metrics", "--web.telemetry-path: must start with"),
        ("--web.telemetry-path", "/a b", "--web.telemetry-path: must be a plain path"),
        ("--tione.endpoint", "ftp://x", '--tione.endpoint: must be an http:// or https:// URL, not "ftp://x"'),
        ("--tione.endpoint", "http://x/api", "--tione.endpoint: must be a base URL without a path"),
        (
            "--tione.endpoint",
            "https://user:pw-S3CR3T@proxy.example",
            "--tione.endpoint: must not carry a user or password",
        ),
        (
            "--tione.endpoint",
            "https://proxy.example/p?token=S3CR3T",
            '--tione.endpoint: must be a base URL without a path, query or fragment, like "https://proxy.example"',
        ),
        ("--tione.endpoint", "http://x:99999", "--tione.endpoint: invalid port"),
        ("--tione.endpoint", "http://tione.example.com", "--tione.endpoint: plain http is allowed only to a loopback"),
        ("--tione.regions", "ap guangzhou", '--tione.regions: invalid region "ap guangzhou"'),
        ("--tione.regions", "AP-Guangzhou", '--tione.regions: invalid region "AP-Guangzhou"'),
    ],
)
def test_each_flag_problem_is_one_line_naming_the_flag(flag: str, value: str, expected: str) -> None:
    found = problems({flag: value})
    assert len(found) == 1, found
    assert found[0].startswith(expected), found[0]
    assert "\n" not in found[0]
    assert "S3CR3T" not in found[0]


def test_an_environment_problem_names_the_variable() -> None:
    found = problems({}, {"TIONE_EXPORTER_POLL_INTERVAL": "soon"})
    assert found == ('TIONE_EXPORTER_POLL_INTERVAL: invalid duration "soon"',)


def test_a_file_problem_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "poll:\n  interval: 5x\n")
    assert problems({"--config.file": path}) == (f'poll.interval (in {path}): invalid duration "5x"',)


def test_several_problems_are_all_reported() -> None:
    found = problems({"--poll.interval": "5x", "--log.level": "loud"}, {"TIONE_EXPORTER_API_RATE_LIMIT": "x"})
    assert len(found) == 3
    assert {line.split(":")[0] for line in found} == {
        "--poll.interval",
        "--log.level",
        "TIONE_EXPORTER_API_RATE_LIMIT",
    }


def test_timeout_must_be_shorter_than_interval() -> None:
    assert problems({"--poll.interval": "10s", "--poll.timeout": "10s"}) == (
        "--poll.timeout: 10s must be shorter than --poll.interval 10s",
    )
    assert problems({"--poll.interval": "10s"}, {"TIONE_EXPORTER_POLL_TIMEOUT": "20s"}) == (
        "TIONE_EXPORTER_POLL_TIMEOUT: 20s must be shorter than --poll.interval 10s",
    )


def test_an_unset_timeout_follows_a_short_interval() -> None:
    settings = load_settings({"--poll.interval": "5s"}, REGION)
    assert settings.poll.timeout == pytest.approx(4.0)
    assert load_settings({"--poll.interval": "1m"}, REGION).poll.timeout == 25.0


def test_rate_limit_above_the_api_limit_is_a_warning_not_an_error() -> None:
    settings = load_settings({"--api.rate-limit": "25"}, REGION)
    assert settings.api.rate_limit == 25.0
    assert len(settings.warnings()) == 1
    assert "--api.rate-limit 25 is above" in settings.warnings()[0]
    assert load_settings({"--api.rate-limit": "20"}, REGION).warnings() == []


def test_unknown_yaml_keys_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, "web:\n  listen_address: ':1'\npolling:\n  interval: 5s\n")
    found = problems({"--config.file": path})
    assert found == (
        f'--config.file {path}: unknown key "web.listen_address" (did you mean "web.listen-address"?)',
        f'--config.file {path}: unknown key "polling" (did you mean "poll"?)',
    )


def test_unknown_key_inside_a_filter_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "tione:\n  filters:\n    - {name: Status, values: [Normal], exact: true}\n")
    assert problems({"--config.file": path}) == (f"tione.filters[0].exact (in {path}): unknown key",)


def test_bad_filters_are_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "tione:\n  filters:\n    - {name: Colour, values: [red]}\n    - {name: Status, values: []}\n"
        "  tag-filters:\n    - {values: [a]}\n",
    )
    found = problems({"--config.file": path})
    assert found[0].startswith(f'tione.filters[0].name (in {path}): unknown filter name "Colour" (known: ClusterId')
    assert found[1] == f"tione.filters[1].values (in {path}): must list at least one value"
    assert found[2] == f"tione.tag-filters[0].key (in {path}): required"


def test_bad_metric_selection_flags_are_named() -> None:
    assert problems({"--metrics.pod-series": "sometimes"}) == (
        '--metrics.pod-series: expected true or false, not "sometimes"',
    )
    (line,) = problems({"--metrics.state-sets": "some"})
    assert line.startswith("--metrics.state-sets: ") and "current" in line and "full" in line


def test_bad_include_regex_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, 'metrics:\n  include: ["tione_(bad"]\n')
    (line,) = problems({"--config.file": path})
    assert line.startswith(f'metrics.include (in {path}): invalid regular expression "tione_(bad": missing )')


def test_bad_exclude_regex_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, 'metrics:\n  exclude: ["tione_ok", "tione_(bad"]\n')
    (line,) = problems({"--config.file": path})
    assert line.startswith(f'metrics.exclude (in {path}): invalid regular expression "tione_(bad": missing )')


def test_bad_yaml_types_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics:\n  pod-series: maybe\nweb: 3\n")
    found = problems({"--config.file": path})
    assert found == (f"--config.file {path}: web: expected a mapping of keys, not int",)
    path = write(tmp_path, "metrics:\n  pod-series: maybe\n")
    assert problems({"--config.file": path}) == (
        f'metrics.pod-series (in {path}): expected true or false, not "maybe"',
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("poll: [1, 2", "invalid YAML at line"),
        ("- a\n- b\n", "the top level must be a mapping"),
    ],
)
def test_broken_yaml_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    (line,) = problems({"--config.file": path})
    assert line.startswith(f"--config.file {path}: {expected}")


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert problems({"--config.file": str(missing)}) == (
        f"--config.file {missing}: cannot read the file: No such file or directory",
    )


def test_empty_file_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")
    assert load_settings({"--config.file": path}, REGION).poll.interval == 30.0


def test_credentials_are_not_settings() -> None:
    names = {name for option in OPTIONS for name in (option.flag, option.env, option.key) if name}
    assert not any("secret" in name.lower() or "token" in name.lower() for name in names)
    assert "secret_key" not in Settings.model_fields


def test_settings_are_immutable() -> None:
    settings = load_settings({}, REGION)
    with pytest.raises(Exception, match="frozen"):
        settings.poll.interval = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("raw", ["-1", "2.5", "ten", ""])
def test_events_max_services_is_a_whole_number(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"--events.max-services": raw}, REGION)
    assert any("events.max-services" in problem for problem in caught.value.problems)


def test_events_defaults() -> None:
    settings = load_settings({}, REGION)
    assert (settings.events.max_services, settings.events.refresh_interval) == (10, 60.0)


# --- the capacity source's interval ----------------------------------------------------------------


def test_capacity_is_read_every_five_minutes_by_default() -> None:
    assert load_settings({}, REGION).capacity.interval == 300.0


@pytest.mark.parametrize("raw", ["0", "0s", "0ms", " 0 "])
def test_a_zero_capacity_interval_switches_it_off(raw: str) -> None:
    assert load_settings({"--capacity.interval": raw}, REGION).capacity.interval == 0.0


def test_the_capacity_interval_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "capacity:\n  interval: 0\n")
    assert load_settings({"--config.file": path}, REGION).capacity.interval == 0.0
    path = write(tmp_path, "capacity:\n  interval: 2m\n")
    assert load_settings({"--config.file": path}, REGION).capacity.interval == 120.0


@pytest.mark.parametrize("raw", ["-1s", "soon", "true"])
def test_a_negative_or_unreadable_capacity_interval_is_refused(raw: str) -> None:
    (problem,) = problems({"--capacity.interval": raw})
    assert problem.startswith("--capacity.interval: ")


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--poll.interval", "1ms", '--poll.interval: must be between 500ms and 24h, not "1ms"'),
        ("--poll.interval", "499ms", '--poll.interval: must be between 500ms and 24h, not "499ms"'),
        ("--poll.interval", "1e300", '--poll.interval: must be between 500ms and 24h, not "1e300"'),
        ("--poll.interval", "24h1s", '--poll.interval: must be between 500ms and 24h, not "24h1s"'),
        ("--poll.timeout", "100ms", '--poll.timeout: must be between 250ms and 24h, not "100ms"'),
        ("--poll.max-staleness", "1e300", '--poll.max-staleness: must be between 500ms and 24h, not "1e300"'),
        ("--poll.max-staleness", "100ms", '--poll.max-staleness: must be between 500ms and 24h, not "100ms"'),
        ("--tione.discovery-interval", "48h", '--tione.discovery-interval: must be between 500ms and 24h, not "48h"'),
        ("--tione.discovery-interval", "1ms", '--tione.discovery-interval: must be between 500ms and 24h, not "1ms"'),
        ("--api.rate-limit", "1e-9", '--api.rate-limit: must be between 0.1 and 1000, not "1e-9"'),
        ("--api.rate-limit", "0.09", '--api.rate-limit: must be between 0.1 and 1000, not "0.09"'),
        ("--api.rate-limit", "1001", '--api.rate-limit: must be between 0.1 and 1000, not "1001"'),
        ("--web.header-timeout", "50ms", '--web.header-timeout: must be between 100ms and 1h, not "50ms"'),
        ("--web.write-timeout", "2h", '--web.write-timeout: must be between 100ms and 1h, not "2h"'),
        ("--web.max-connections", "0", '--web.max-connections: must be a whole number from 1 to 100000, not "0"'),
        (
            "--web.max-concurrent-scrapes",
            "100001",
            '--web.max-concurrent-scrapes: must be a whole number from 1 to 100000, not "100001"',
        ),
    ],
)
def test_settings_outside_their_range_are_one_line_naming_the_range(flag: str, value: str, expected: str) -> None:
    found = problems({flag: value})
    assert found == (expected,)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--poll.interval", "500ms"),
        ("--poll.interval", "24h"),
        ("--poll.max-staleness", "24h"),
        ("--tione.discovery-interval", "0"),
        ("--tione.discovery-interval", "24h"),
        ("--api.rate-limit", "0.1"),
        ("--api.rate-limit", "1000"),
    ],
)
def test_the_bounds_themselves_are_allowed(flag: str, value: str) -> None:
    load_settings({flag: value}, REGION)


def test_the_shortest_timeout_is_allowed_below_the_shortest_interval() -> None:
    settings = load_settings({"--poll.interval": "500ms", "--poll.timeout": "250ms"}, REGION)
    assert (settings.poll.interval, settings.poll.timeout) == (0.5, 0.25)
    assert load_settings({"--poll.interval": "500ms"}, REGION).poll.timeout == pytest.approx(0.4)


def test_rate_limits_between_the_api_limit_and_the_ceiling_warn() -> None:
    assert len(load_settings({"--api.rate-limit": "1000"}, REGION).warnings()) == 1


def test_a_bad_file_value_is_an_error_even_where_a_flag_overrides_it(tmp_path: Path) -> None:
    path = write(tmp_path, "poll:\n  interval: 1e300\n  timeout: 5x\napi:\n  rate-limit: 0\n")
    flags = {"--config.file": path, "--poll.interval": "30s", "--poll.timeout": "5s", "--api.rate-limit": "5"}
    assert problems(flags) == (
        f'poll.interval (in {path}): must be between 500ms and 24h, not "1e300"',
        f'poll.timeout (in {path}): invalid duration "5x"',
        f'api.rate-limit (in {path}): must be a positive number, not "0"',
    )


def test_a_bad_variable_is_an_error_even_where_a_flag_overrides_it() -> None:
    found = problems({"--log.level": "info"}, {"TIONE_EXPORTER_LOG_LEVEL": "loud"})
    assert found == ('TIONE_EXPORTER_LOG_LEVEL: must be one of debug, info, warn, error, not "loud"',)


def test_holders_every_five_minutes_and_prices_every_hour_by_default() -> None:
    settings = load_settings({}, REGION)
    assert (settings.holders.interval, settings.prices.interval) == (300.0, 3600.0)


@pytest.mark.parametrize(
    ("flag", "raw"),
    [("--monitor.period", "30s"), ("--monitor.delay", "30s"), ("--monitor.max-requests-per-month", "-1")],
)
def test_monitor_settings_refuse_what_cloud_monitor_cannot_do(flag: str, raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({flag: raw}, REGION)
    assert any(flag.removeprefix("--") in problem for problem in caught.value.problems)


def test_monitor_defaults() -> None:
    monitor = load_settings({}, REGION).monitor
    assert (monitor.max_requests_per_month, monitor.interval, monitor.period, monitor.delay, monitor.rate_limit) == (
        300_000,
        60.0,
        60.0,
        120.0,
        10.0,
    )
    assert monitor.endpoint == "https://monitor.tencentcloudapi.com" and monitor.metrics == ()
