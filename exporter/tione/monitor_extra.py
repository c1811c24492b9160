"""The extra Cloud Monitor metrics of `monitor.metrics`: which of them can be asked, how, and what came back.

The real namespace's per-service metrics (GPU, CPU, memory) are not documented anywhere the exporter could
rely on, so it names none itself: the user names them as `check` lists them, and `DescribeBaseMetrics`
says, at run time, each one's unit, periods and dimension combinations. A metric is asked through a listed
combination whose every dimension the listing can fill (`monitor.KNOWN_DIMENSIONS`), with exactly those
dimensions (Cloud Monitor answers a wrong dimension name with nothing), and costs one request per ten
instances a collection like the group metrics. A name the namespace does not offer, or offers only
through dimensions the exporter cannot fill, costs no request: it is reported once (`choose`).

Each point becomes a sample of the family `tione_monitor_<snake_case name>` labelled with the group it
belongs to (`service_group_id`, always known: every instance is built from one group) and the metric's
other dimensions as snake_case labels; the value is Cloud Monitor's own (a percentage, bytes...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from exporter.tione import monitor
from exporter.tione import monitor_api as api
from exporter.tione.records import ServiceGroup

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
"""A metric name the exporter accepts in `monitor.metrics` (Cloud Monitor's names are letters and digits)."""
LABEL = re.compile(r"[a-z][a-z0-9_]*")
"""A label name made from a dimension: Prometheus-safe, and never one of the reserved `__` names."""
RESERVED_LABELS: frozenset[str] = frozenset({"region", "account", "service_group_id", "namespace", "le", "quantile"})
"""Labels a dimension may not become: the identity labels of every series, and the histogram/summary ones."""
GROUP_LABEL = "service_group_id"


def label_name(dimension: str) -> str:
    """The label of a dimension (`ServiceId` -> `service_id`); raises `ValueError` when not Prometheus-safe."""
    name = monitor.snake_case(dimension)
    if not LABEL.fullmatch(name) or (name in RESERVED_LABELS and dimension != api.GROUP_DIMENSION):
        raise ValueError(f"dimension {dimension!r} does not make a label name of its own")
    return name


def check_names(names: Sequence[str]) -> list[str]:
    """What is wrong with `monitor.metrics` (empty when nothing): a name Cloud Monitor cannot have, a name
    repeated, or two names that make one family."""
    problems: list[str] = []
    families: dict[str, str] = {}
    for name in names:
        if not NAME.fullmatch(name):
            problems.append(f"{name!r} is not a Cloud Monitor metric name (letters, digits and _)")
            continue
        family = monitor.family_name(name)
        if family in families:
            problems.append(f"{name!r} and {families[family]!r} both make {family}")
        families[family] = name
    return problems


@dataclass(frozen=True, slots=True)
class Extra:
    """An extra metric as it is asked: its name, unit and the dimension combination chosen."""

    name: str
    unit: str
    dimensions: tuple[str, ...]
    meaning: str = ""

    @property
    def family(self) -> str:
        return monitor.family_name(self.name)

    @property
    def labels(self) -> tuple[str, ...]:
        """Its labels after `service_group_id`: the other dimensions, snake_case, in the combination's order."""
        return tuple(label_name(name) for name in self.dimensions if name != api.GROUP_DIMENSION)


def _problem(name: str, info: monitor.MetricInfo | None, period: int) -> str:
    """Why `name` cannot be asked ("" when it can). Every dimension of a fillable combination makes a label:
    each of `monitor.KNOWN_DIMENSIONS` does (the unit tests hold them to it)."""
    if name in api.GROUP_METRICS:
        return "collected already for every group (tione_service_group_*)"
    if info is None:
        return f"not offered by {api.NAMESPACE} (check lists what is)"
    if info.dimensions() is None:
        offered = " | ".join(",".join(combo) for combo in info.combinations) or "none"
        return f"no dimension combination the exporter can fill (offered: {offered})"
    if info.periods and period not in info.periods:
        return f"period {period}s not offered (offered: {','.join(str(p) for p in info.periods)}s)"
    return ""


def choose(
    names: Sequence[str], catalogue: Mapping[str, monitor.MetricInfo], period: int
) -> tuple[tuple[Extra, ...], dict[str, str]]:
    """The metrics of `names` that can be asked at `period`, and why each other one cannot (by name)."""
    extras: list[Extra] = []
    problems: dict[str, str] = {}
    for name in names:
        info = catalogue.get(name)
        problem = _problem(name, info, period)
        if problem or info is None:
            problems[name] = problem
            continue
        dimensions = info.dimensions()
        assert dimensions is not None
        extras.append(Extra(name, info.unit, dimensions, info.meaning))
    return tuple(extras), problems


def asked(groups: Iterable[ServiceGroup], dimensions: Sequence[str]) -> dict[monitor.Pairs, str]:
    """The instances to ask for a metric with `dimensions` (exactly those, names in `KNOWN_DIMENSIONS`), each
    with the id of the group it belongs to: one per asked group, or per running service of one."""
    found: dict[monitor.Pairs, str] = {}
    for pairs in monitor.instances(groups, dimensions):
        values = dict(pairs)
        found[tuple(sorted((name, values[name]) for name in dimensions))] = values[api.GROUP_DIMENSION]
    return found


@dataclass(frozen=True, slots=True)
class Point:
    """One instance's latest complete period of an extra metric."""

    group_id: str
    values: tuple[str, ...]
    """The values of `Extra.labels`, in order."""
    value: float
    period_end: float


@dataclass(frozen=True, slots=True)
class Figures:
    """An extra metric's points of one collection (an instance without a point has none)."""

    extra: Extra
    points: tuple[Point, ...] = ()


def figures(
    extras: Sequence[Extra], samples: Iterable[monitor.Sample], owners: Mapping[str, Mapping[monitor.Pairs, str]]
) -> tuple[Figures, ...]:
    """Each extra metric's points from a collection's samples; `owners` maps each metric's asked instances
    to their groups (`asked`). Samples of other metrics, or of instances not asked, are left out."""
    points: dict[str, list[Point]] = {extra.name: [] for extra in extras}
    for sample in samples:
        group_id = owners.get(sample.metric, {}).get(sample.dimensions)
        if group_id is None or sample.metric not in points:
            continue
        values = dict(sample.dimensions)
        extra = next(extra for extra in extras if extra.name == sample.metric)
        labelled = tuple(values[name] for name in extra.dimensions if name != api.GROUP_DIMENSION)
        points[sample.metric].append(Point(group_id, labelled, sample.value, sample.period_end))
    return tuple(Figures(extra, tuple(points[extra.name])) for extra in extras)
