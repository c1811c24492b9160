"""The exporter's own families: polls, API calls, the rate limiter, inventory, build.

Declared here like every other family (name, help, type, labels) so that docs, dashboards and tests
read them from one place; `metrics/self.py` keeps them live.
"""

from __future__ import annotations

from exporter.metrics.families.family import LiveFamily

FAMILIES: tuple[LiveFamily, ...] = (
    LiveFamily("tione_up", "1 when the region's last poll succeeded, 0 when it failed.", "gauge", ("region",)),
    LiveFamily(
        "tione_exporter_build_info",
        "Version of the exporter and of Python running it (value 1).",
        "gauge",
        ("version", "python_version"),
    ),
    LiveFamily(
        "tione_exporter_last_poll_timestamp_seconds",
        "When the region's last poll finished, whatever its outcome, in unix seconds.",
        "gauge",
        ("region",),
    ),
    LiveFamily(
        "tione_exporter_last_poll_success_timestamp_seconds",
        "When the region's last successful poll finished, in unix seconds.",
        "gauge",
        ("region",),
    ),
    LiveFamily(
        "tione_exporter_poll_duration_seconds",
        "Duration of a region's poll, all pages and retries included.",
        "histogram",
        ("region",),
    ),
    LiveFamily("tione_exporter_polls_total", "Polls of the region, successful or not.", "counter", ("region",)),
    LiveFamily("tione_exporter_poll_errors_total", "Polls of the region that failed.", "counter", ("region",)),
    LiveFamily(
        "tione_exporter_api_requests_total",
        "Requests sent to the Tencent Cloud API, retries included.",
        "counter",
        ("region", "action"),
    ),
    LiveFamily(
        "tione_exporter_api_errors_total",
        "Failed API requests by error code (the API's code, or NetworkError, Timeout, HTTPError, MalformedResponse).",
        "counter",
        ("region", "action", "code"),
    ),
    LiveFamily("tione_exporter_api_retries_total", "API requests retried.", "counter", ("region", "action")),
    LiveFamily(
        "tione_exporter_api_request_duration_seconds",
        "Duration of one API request attempt, network included.",
        "histogram",
        ("action",),
    ),
    LiveFamily(
        "tione_exporter_api_throttle_wait_seconds_total",
        "Time spent waiting for the process-wide API rate limiter.",
        "counter",
    ),
    LiveFamily(
        "tione_exporter_service_groups",
        "Service groups of the region in the current snapshot.",
        "gauge",
        ("region",),
    ),
    LiveFamily("tione_exporter_services", "Services of the region in the current snapshot.", "gauge", ("region",)),
    LiveFamily(
        "tione_exporter_unlisted_workspaces",
        "Workspaces the region's last successful poll ran out of time to list: their series are from an "
        "earlier poll, or absent. Above 0 the poll was partial.",
        "gauge",
        ("region",),
    ),
    LiveFamily(
        "tione_exporter_skipped_objects_total",
        "Objects of API answers that could not be read and were left out, by kind and reason.",
        "counter",
        ("region", "kind", "reason"),
    ),
    LiveFamily(
        "tione_account_info",
        "Each YAML accounts entry and the account (uin) its role is in, from the role ARN (value 1). Only "
        "with accounts, which also put account before region on every per-region series.",
        "gauge",
        ("account", "uin"),
    ),
)


def self_family(name: str) -> LiveFamily:
    """The declaration of one of the exporter's own families."""
    for family in FAMILIES:
        if family.name == name:
            return family
    raise KeyError(name)
