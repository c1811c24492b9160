"""Helpers only tests and benchmarks need: the full selection, an exposition or an answer joined into one
copy, a region's status by name."""

from __future__ import annotations

import re

from exporter.metrics.exposition import Format, LiveMetrics, answer
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import Exposition
from exporter.poller import Poller
from exporter.poller.status import RegionStatus


def everything(tag_labels: tuple[str, ...] = ()) -> RenderOptions:
    """Every family in its full form: what the exporter exposed before its defaults became lean."""
    return RenderOptions(tag_labels=tag_labels, pod_series=True, state_sets="full", include=(re.compile(".*"),))


def text(exposition: Exposition) -> bytes:
    """The text form joined into one bytes object: a copy, which serving never makes."""
    return b"".join(exposition.chunks(openmetrics=False))


def openmetrics(exposition: Exposition) -> bytes:
    """The OpenMetrics form (without `# EOF`) joined into one bytes object."""
    return b"".join(exposition.chunks(openmetrics=True))


def body(exposition: Exposition, live: LiveMetrics, output: Format, *, compressed: bool = False) -> bytes:
    """A `/metrics` answer joined into one bytes object."""
    return b"".join(answer(exposition, live, output, compressed=compressed).chunks)


def status(poller: Poller, region: str) -> RegionStatus:
    """The status the poller publishes for `region`."""
    return next(status for status in poller.statuses() if status.region == region)
