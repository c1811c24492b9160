"""Is the exporter itself healthy: scrape target up, each region polled on time, poll durations, API traffic,
errors, retries and rate limiting, and how many objects it exports."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.models import dashboard

from grafana.panels import (
    ACCOUNT,
    GREEN,
    RED,
    Panels,
    new_dashboard,
    oldest_replica,
    queries,
    query,
    region_variable,
    stat_panel,
    table_panel,
    time_since_last_poll,
    timeseries_panel,
    with_rows,
)

UID = "tione-exporter-health"
SELECTED = f'{ACCOUNT}, region=~"$region"'
# The exporter's scrape job is assumed to have "tione" in its name, as in the alert rules.
JOB = 'job=~".*tione.*"'

UP_MAPPINGS: list[dashboard.ValueMapping] = [
    dashboard.ValueMap(
        options={
            "0": dashboard.ValueMappingResult(text="failing", color=RED, index=0),
            "1": dashboard.ValueMappingResult(text="ok", color=GREEN, index=1),
        }
    )
]


def build() -> dashboard_builder.Dashboard:
    dashboard = new_dashboard(
        UID,
        "TI-ONE exporter health",
        "tione-exporter itself: scrape target, polls per region, API traffic, errors and rate limiting.",
    ).with_variable(region_variable(multi=True))
    return with_rows(
        dashboard,
        ("Exporter", _exporter()),
        ("Polls", _polls()),
        ("TI-ONE API", _ti_one_api()),
        ("Exported objects", _exported_objects()),
    )


def _exporter() -> Panels:
    return [
        stat_panel(
            "Scrape targets up",
            "Exporter targets Prometheus scrapes successfully (jobs whose name contains 'tione').",
            "short",
            [query(f"sum(up{{{JOB}}})")],
            steps=((None, RED), (1, GREEN)),
        ),
        stat_panel(
            "Region polls",
            "Whether each region's last poll succeeded (at every exporter polling it).",
            "none",
            [query(oldest_replica(f"tione_up{{{SELECTED}}}"), "{{account}} {{region}}")],
            steps=((None, RED), (1, GREEN)),
            mappings=UP_MAPPINGS,
            width=8,
        ),
        table_panel(
            "Version",
            "Exporter version and Python version, per target (replicas: per pod).",
            "none",
            [query("tione_exporter_build_info", instant=True)],
            hide=("Time", "Value", "__name__", "job"),
            height=4,
        ),
    ]


def _polls() -> Panels:
    return [
        time_since_last_poll(SELECTED, "{{account}} {{region}} {{instance}} {{pod}}", per_target=True),
        timeseries_panel(
            "Poll duration",
            "Duration of one region's whole poll (all pages, retries included): 95th and 50th percentile.",
            "s",
            queries(
                (f"region:tione_exporter_poll_duration_seconds:p95_5m{{{SELECTED}}}", "{{account}} {{region}} p95"),
                (
                    "histogram_quantile(0.5, sum by (account, region, le) "
                    f"(rate(tione_exporter_poll_duration_seconds_bucket{{{SELECTED}}}[$__rate_interval])))",
                    "{{account}} {{region}} p50",
                ),
            ),
            width=8,
        ),
        timeseries_panel(
            "Failed polls",
            "Share of polls that failed, per region.",
            "percentunit",
            [query(f"region:tione_exporter_poll_errors:ratio_rate5m{{{SELECTED}}}", "{{account}} {{region}}")],
            width=8,
        ),
    ]


def _ti_one_api() -> Panels:
    return [
        timeseries_panel(
            "Requests by action",
            "Requests per second to the TI-ONE API, per region and action.",
            "reqps",
            [
                query(
                    f"region_action:tione_exporter_api_requests:rate5m{{{SELECTED}}}",
                    "{{account}} {{region}} {{action}}",
                )
            ],
            width=8,
        ),
        timeseries_panel(
            "Errors by code",
            "Errors per second, per region and error code (API codes, NetworkError, Timeout, HTTPError, ...).",
            "reqps",
            [query(f"region_code:tione_exporter_api_errors:rate5m{{{SELECTED}}}", "{{account}} {{region}} {{code}}")],
            width=8,
        ),
        timeseries_panel(
            "Retries",
            "Requests retried per second, per region and action.",
            "reqps",
            [
                query(
                    "sum by (account, region, action) "
                    f"(rate(tione_exporter_api_retries_total{{{SELECTED}}}[$__rate_interval]))",
                    "{{account}} {{region}} {{action}}",
                )
            ],
            width=8,
        ),
        timeseries_panel(
            "Request duration",
            "Duration of one API request, 95th percentile, per action.",
            "s",
            [
                query(
                    "histogram_quantile(0.95, sum by (action, le) "
                    "(rate(tione_exporter_api_request_duration_seconds_bucket[$__rate_interval])))",
                    "{{action}} p95",
                )
            ],
            width=8,
        ),
        timeseries_panel(
            "Rate-limiter wait",
            "Seconds per second that requests waited for the exporter's own rate limiter (--api.rate-limit).",
            "s",
            [
                query(
                    "sum by (instance, pod) (rate(tione_exporter_api_throttle_wait_seconds_total[$__rate_interval]))",
                    "{{instance}} {{pod}}",
                )
            ],
            width=8,
        ),
        timeseries_panel(
            "Rate limited by the API",
            "RequestLimitExceeded answers per second, per region.",
            "reqps",
            [
                query(
                    "sum by (account, region) (region_code:tione_exporter_api_errors:rate5m"
                    f'{{{SELECTED}, code=~"RequestLimitExceeded.*"}})',
                    "{{account}} {{region}}",
                )
            ],
            width=8,
        ),
    ]


def _exported_objects() -> Panels:
    return [
        timeseries_panel(
            "Services and groups exported",
            "Objects in each region's current snapshot, per exporter target.",
            "short",
            queries(
                (f"tione_exporter_services{{{SELECTED}}}", "{{account}} {{region}} {{instance}} {{pod}} services"),
                (f"tione_exporter_service_groups{{{SELECTED}}}", "{{account}} {{region}} {{instance}} {{pod}} groups"),
            ),
        ),
        timeseries_panel(
            "Scrape",
            "Duration of Prometheus' scrape of the exporter.",
            "s",
            [query(f"scrape_duration_seconds{{{JOB}}}", "{{instance}} {{pod}}")],
        ),
    ]
