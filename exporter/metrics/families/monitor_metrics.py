"""The extra Cloud Monitor metrics (`monitor.metrics`): one gauge family each, named at run time.

Unlike every other module here, the families are not fixed at import: their names come from the settings,
their labels and units from what `DescribeBaseMetrics` said. They are still data: `family(extra)` declares
one as a `SampleFamily` (name `tione_monitor_<snake_case name>`, the unit in HELP, the dimensions other
than the group as labels after `region` and `service_group_id`), and `RUNTIME` gives a region's families
with their objects for the renderer to write like any other. They come right after the groups' traffic
families (`AFTER`), sorted by name, so that the exposition's order is stable; with no extra metric set the
exposition is exactly what it was without them. A point is a sample; no point, no series.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from exporter.metrics.families import traffic
from exporter.metrics.families.family import Sample, SampleFamily
from exporter.metrics.labels import clean_value
from exporter.tione import monitor_api
from exporter.tione.monitor_extra import Extra, Point
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.traffic import TRAFFIC

SCOPE = "monitor_metric"
IDENTITY: tuple[str, ...] = traffic.IDENTITY
AFTER = traffic.FAMILIES[-1].name
"""The family after which the extra families come in the exposition."""
RuntimeFamily = tuple[SampleFamily[Point], Sequence[tuple[str, Point]]]
"""A family and its objects: (service group id, point)."""


def _samples(point: Point) -> Sequence[Sample]:
    return ((point.values, point.value),)


def family(extra: Extra) -> SampleFamily[Point]:
    """The family of an extra metric; the unit and meaning are Cloud Monitor's words, cleaned like a label."""
    unit = clean_value(extra.unit) or "no unit given"
    meaning = f" ({clean_value(extra.meaning)})" if extra.meaning else ""
    help_text = (
        f"Cloud Monitor {monitor_api.NAMESPACE} metric {extra.name}{meaning} in the latest complete period, "
        f"as Cloud Monitor gives it; unit: {unit} (monitor.metrics)."
    )
    return SampleFamily(
        extra.family, help_text, "gauge", extra.labels, _samples, SCOPE, IDENTITY, stability="experimental"
    )


def families(snapshot: RegionSnapshot) -> Iterable[RuntimeFamily]:
    """A region's extra families, in exposition order, each with its points by group."""
    found = [(family(figures.extra), figures.points) for figures in TRAFFIC.of(snapshot).extras]
    for declared, points in sorted(found, key=lambda item: item[0].name):
        yield declared, [(point.group_id, point) for point in points]


RUNTIME = families
"""What the renderer calls for the families a region names at run time."""
