"""The exporter's own metrics: polls, API calls, the rate limiter, inventory, build.

They change between scrapes (a retry, a throttle wait), so unlike the snapshot they are rendered live
at scrape time; they are few, so that is cheap. Their names, help and labels come from
`metrics/families/exporter.py`, where every family is declared.

`SelfMetrics` has the API client's hook methods (`on_request`, `on_error`, ...), so it is handed to the
client as its hooks as it is; it knows nothing of the client. The `action` label values it starts at 0
are those of the sources in use, declared by the wiring (`declare_actions`).
"""

from __future__ import annotations

import contextlib
import platform
import re
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.metrics.families.exporter import self_family
from exporter.metrics.labels import ACCOUNT_LABEL, REGION_LABEL, clean_value, split_target
from exporter.tione.decode import SKIP_LABELS

API_DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""One API call: tens of milliseconds when healthy, up to the read timeout when not."""

POLL_DURATION_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""One region's poll: a page or many, with retries and rate-limiter waits, bounded by the poll timeout."""

_OPENMETRICS_EOF = b"# EOF\n"

MAX_ERROR_CODES = 64
"""Distinct `code` label values kept; the API documents a few dozen codes for this action."""
OTHER_CODE = "Other"
"""The `code` of an error whose code is not shaped like an API code, or one past `MAX_ERROR_CODES`."""
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}(\.[A-Za-z0-9_]{1,64}){0,3}")


STANDARD_COLLECTORS: tuple[Collector, ...] = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)
"""prometheus_client's process (`process_*`, read from /proc at scrape time), platform (`python_info`) and
garbage-collector (`python_gc_*`) collectors: what generic "target memory" alerts and dashboards expect of
any exporter. They describe the process, not TI-ONE, so they are not in the family catalogue."""


class _WithoutCreated(Collector):
    """A view of collectors without the `_created` samples prometheus_client adds to counters and
    histograms: they double the series count and nobody graphs them. (prometheus_client can only
    switch them off process-wide.)"""

    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            for metric in collector.collect():
                metric.samples = [sample for sample in metric.samples if not sample.name.endswith("_created")]
                yield metric


def _labels(name: str, accounts: bool) -> tuple[str, ...]:
    """The family's labels, with `account` before `region` when accounts are set."""
    labels = self_family(name).labels
    return (ACCOUNT_LABEL, *labels) if accounts and REGION_LABEL in labels else labels


def _counter(name: str, registry: CollectorRegistry, accounts: bool = False) -> Counter:
    family = self_family(name)
    assert family.type == "counter"
    return Counter(name, family.help, _labels(name, accounts), registry=registry)


def _gauge(name: str, registry: CollectorRegistry, accounts: bool = False) -> Gauge:
    family = self_family(name)
    assert family.type == "gauge"
    return Gauge(name, family.help, _labels(name, accounts), registry=registry)


def _histogram(name: str, registry: CollectorRegistry, buckets: tuple[float, ...], accounts: bool = False) -> Histogram:
    family = self_family(name)
    assert family.type == "histogram"
    return Histogram(name, family.help, _labels(name, accounts), registry=registry, buckets=buckets)


class SelfMetrics:
    """Live counters, gauges and histograms of the exporter, in a registry of their own.

    Every region given at construction (and every action) has its counters and histograms at 0 from
    the start, so `rate()` and `increase()` see the first failure. Gauges such as `tione_up` appear
    with the first poll: before it there is nothing true to report. The `standard` collectors (the
    process's own figures) are rendered after them; they change with every scrape.

    With `accounts` (`(name, uin)` of each YAML `accounts` entry), a region is named by its target key
    (`metrics.labels.target_key`: `account/region`) and every per-region family carries `account` before
    `region`; `tione_account_info{account, uin}` says which account each name is. Without, nothing changes.
    """

    def __init__(
        self,
        regions: Iterable[str] = (),
        *,
        actions: Iterable[str] = (),
        version: str = __version__,
        standard: Iterable[Collector] = STANDARD_COLLECTORS,
        accounts: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._standard = tuple(standard)
        self.registry = CollectorRegistry()
        registry = self.registry
        self._accounts = bool(accounts)
        on = self._accounts
        self._up = _gauge("tione_up", registry, on)
        self._build_info = _gauge("tione_exporter_build_info", registry)
        self._last_poll = _gauge("tione_exporter_last_poll_timestamp_seconds", registry, on)
        self._last_success = _gauge("tione_exporter_last_poll_success_timestamp_seconds", registry, on)
        self._poll_duration = _histogram("tione_exporter_poll_duration_seconds", registry, POLL_DURATION_BUCKETS, on)
        self._polls = _counter("tione_exporter_polls_total", registry, on)
        self._poll_errors = _counter("tione_exporter_poll_errors_total", registry, on)
        self._requests = _counter("tione_exporter_api_requests_total", registry, on)
        self._errors = _counter("tione_exporter_api_errors_total", registry, on)
        self._retries = _counter("tione_exporter_api_retries_total", registry, on)
        self._request_duration = _histogram(
            "tione_exporter_api_request_duration_seconds", registry, API_DURATION_BUCKETS
        )
        self._throttle_wait = _counter("tione_exporter_api_throttle_wait_seconds_total", registry)
        self._service_groups = _gauge("tione_exporter_service_groups", registry, on)
        self._services = _gauge("tione_exporter_services", registry, on)
        self._unlisted = _gauge("tione_exporter_unlisted_workspaces", registry, on)
        self._skipped = _counter("tione_exporter_skipped_objects_total", registry, on)
        self._codes: set[str] = set()
        self._request_counts: dict[str, int] = {}

        self._regions = [self._where(region) for region in regions]
        self._build_info.labels(clean_value(version), platform.python_version()).set(1)
        if accounts:
            account_info = _gauge("tione_account_info", registry)
            for name, uin in accounts:
                account_info.labels(clean_value(name), clean_value(uin)).set(1)
        for where in self._regions:
            self._polls.labels(*where)
            self._poll_errors.labels(*where)
            self._poll_duration.labels(*where)
            for kind, reason in SKIP_LABELS:
                self._skipped.labels(*where, kind, reason)
        self.declare_actions(actions)

    def _where(self, region: str) -> tuple[str, ...]:
        """The label values naming a region: the region, or with accounts its target key's account and region."""
        if not self._accounts:
            return (clean_value(region),)
        account, name = split_target(region)
        return clean_value(account), clean_value(name)

    def declare_actions(self, actions: Iterable[str]) -> None:
        """Start the counters and histograms of these API actions at 0 in every region given at construction."""
        for action in (clean_value(action) for action in actions):
            self._request_duration.labels(action)
            for where in self._regions:
                self._requests.labels(*where, action)
                self._retries.labels(*where, action)

    # --- the API client's hooks -------------------------------------------------------------------

    def on_request(self, region: str, action: str) -> None:
        self._requests.labels(*self._where(region), clean_value(action)).inc()
        self._request_counts[region] = self._request_counts.get(region, 0) + 1

    def requests_made(self, region: str) -> int:
        """API requests sent in `region` so far, every action together (the poller's budget check)."""
        return self._request_counts.get(region, 0)

    def on_error(self, region: str, action: str, code: str) -> None:
        self._errors.labels(*self._where(region), clean_value(action), self._code_label(code)).inc()

    def _code_label(self, code: str) -> str:
        """The code as a label value, bounded: error codes come from the far side of the network, and a
        misbehaving proxy inventing a new one per answer must not grow the exposition without end."""
        if not _CODE.fullmatch(code):
            return OTHER_CODE
        if code not in self._codes:
            if len(self._codes) >= MAX_ERROR_CODES:
                return OTHER_CODE
            self._codes.add(code)
        return code

    def on_retry(self, region: str, action: str) -> None:
        self._retries.labels(*self._where(region), clean_value(action)).inc()

    def on_duration(self, action: str, seconds: float) -> None:
        self._request_duration.labels(clean_value(action)).observe(max(seconds, 0.0))

    def on_throttle_wait(self, seconds: float) -> None:
        if seconds > 0:
            self._throttle_wait.inc(seconds)

    # --- the poller's reports ---------------------------------------------------------------------

    def record_poll(
        self,
        region: str,
        *,
        success: bool,
        duration: float,
        finished_at: float,
    ) -> None:
        """One finished poll of a region (`finished_at` in unix seconds); its errors are counted by code
        through `on_error`, where they happen."""
        where = self._where(region)
        self._polls.labels(*where).inc()
        if not success:
            self._poll_errors.labels(*where).inc()
        self._up.labels(*where).set(1 if success else 0)
        self._last_poll.labels(*where).set(finished_at)
        if success:
            self._last_success.labels(*where).set(finished_at)
        self._poll_duration.labels(*where).observe(max(duration, 0.0))

    def record_skipped(self, region: str, kind: str, reason: str, count: int = 1) -> None:
        """Objects of an answer left out because they could not be read (kind and reason from small sets)."""
        self._skipped.labels(*self._where(region), clean_value(kind), clean_value(reason)).inc(count)

    def set_inventory(self, region: str, groups: int, services: int, unlisted_workspaces: int = 0) -> None:
        """Counts in the region's current snapshot, and the workspaces its poll could not list in time."""
        where = self._where(region)
        self._service_groups.labels(*where).set(groups)
        self._services.labels(*where).set(services)
        self._unlisted.labels(*where).set(unlisted_workspaces)

    def forget_inventory(self, region: str) -> None:
        """The region's snapshot is gone (stale): its counts must not linger as if current."""
        where = self._where(region)
        for gauge in (self._service_groups, self._services, self._unlisted):
            with contextlib.suppress(KeyError):  # never set, or already forgotten
                gauge.remove(*where)

    # --- exposition -------------------------------------------------------------------------------

    def render(self, openmetrics: bool) -> bytes:
        """The families in the Prometheus text format, or in OpenMetrics without its `# EOF`."""
        view = _WithoutCreated(self.registry, *self._standard)
        if not openmetrics:
            return generate_latest(view)
        document: bytes = generate_openmetrics(view)  # type: ignore[no-untyped-call]
        if not document.endswith(_OPENMETRICS_EOF):
            raise RuntimeError("prometheus_client wrote OpenMetrics without its # EOF")
        return document[: -len(_OPENMETRICS_EOF)]
