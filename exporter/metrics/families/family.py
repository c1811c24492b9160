"""The shapes of a metric family, and of a kind of object whose families a snapshot renders.

A family is data: a name, a help text, a type and labels, plus how its samples are made. There are three
explicit shapes: a `SampleFamily` maps one object to samples; a `TagFamily` names an object's tags and
the renderer turns the allow-listed ones into `tag_<key>` labels; a `LiveFamily` is only declared here
and kept live by the self-metrics. A `Kind` is one kind of object in a `RegionSnapshot` (service groups,
their services, their pods): where its objects come from, the label that tells them apart, and its
families. The renderer walks the kinds; it knows none of them by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Literal, TypeVar

from exporter.metrics.labels import Tag, clean_value
from exporter.tione.snapshot import RegionSnapshot

MetricType = Literal["gauge", "counter", "histogram"]
Stability = Literal["stable", "experimental"]
"""`stable`: name, labels and meaning change only with a major version. `experimental`: may still change."""

Sample = tuple[tuple[str, ...], float]
"""(values of the family's extra labels, in order; value)."""

T = TypeVar("T")
P = TypeVar("P")

POD_SCOPE = "pod"
"""The scope of per-pod families, left out when the `pod_series` option is off."""


class _Declared:
    """What every shape of family has: name, help, type, labels, identity and documentation."""

    name: str
    type: MetricType
    scope: str
    """The kind of object the family describes (`group`, `service`, `pod`, `exporter`, ...)."""

    @property
    def openmetrics_name(self) -> str:
        """OpenMetrics names a counter family without the `_total` its samples carry."""
        if self.type == "counter" and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        return self.name

    @property
    def pods(self) -> bool:
        """Per-pod series, left out when the `pod_series` option is off."""
        return self.scope == POD_SCOPE


@dataclass(frozen=True, eq=False)
class SampleFamily(_Declared, Generic[T]):
    """A family whose samples are a pure function of one object."""

    name: str
    help: str
    type: MetricType
    labels: tuple[str, ...]
    """Extra labels, after the identity labels of its kind."""
    samples: Callable[[T], Sequence[Sample]]
    scope: str
    identity_labels: tuple[str, ...]
    states: tuple[str, ...] = ()
    """Known values of a state set (documentation and tests; the sample function emits them)."""
    stability: Stability = "stable"
    opt_in: bool = False
    """Off by default: rarely needed, so exported only when the `include` option names it."""

    def current_only(self) -> SampleFamily[T]:
        """This state set as its current values only: the samples of value 1, none of the 0s.

        A state set of n known values costs n series per object; its current value alone costs one and
        still answers `family{state="X"} == 1`, which is what alerts and dashboards ask. Any other family
        is returned as it is.
        """
        if not self.states:
            return self
        return replace(self, samples=_nonzero(self.samples))


def _nonzero(samples: Callable[[T], Sequence[Sample]]) -> Callable[[T], Sequence[Sample]]:
    def current(subject: T) -> Sequence[Sample]:
        return [sample for sample in samples(subject) if sample[1]]

    return current


@dataclass(frozen=True, eq=False)
class TagFamily(_Declared, Generic[T]):
    """One series per object whose labels are its allow-listed tags (`tag_<key>`), value 1."""

    name: str
    help: str
    tags: Callable[[T], Sequence[Tag] | None]
    scope: str
    identity_labels: tuple[str, ...]
    type: MetricType = "gauge"
    labels: tuple[str, ...] = ("tag_<key>",)
    """Documents the pattern; the label names come from the tags."""
    states: tuple[str, ...] = ()
    stability: Stability = "stable"
    opt_in: bool = False

    def current_only(self) -> TagFamily[T]:
        return self


@dataclass(frozen=True, eq=False)
class LiveFamily(_Declared):
    """One of the exporter's own families: declared here, kept live by `SelfMetrics`."""

    name: str
    help: str
    type: MetricType
    labels: tuple[str, ...] = ()
    scope: str = "exporter"
    identity_labels: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    stability: Stability = "stable"
    opt_in: bool = False


Family = SampleFamily[T] | TagFamily[T]
"""A family rendered from the snapshot, once per poll."""


@dataclass(frozen=True)
class Declare(Generic[T]):
    """Declares the `SampleFamily`s of one kind: its scope and identity labels stated once."""

    scope: str
    identity: tuple[str, ...]

    def __call__(
        self,
        name: str,
        help_text: str,
        kind: MetricType,
        labels: tuple[str, ...],
        samples: Callable[[T], Sequence[Sample]],
        *,
        states: tuple[str, ...] = (),
        opt_in: bool = False,
    ) -> SampleFamily[T]:
        return SampleFamily(name, help_text, kind, labels, samples, self.scope, self.identity, states, opt_in=opt_in)


@dataclass(frozen=True, eq=False)
class Kind(Generic[P, T]):
    """One kind of object in a region's snapshot and the families that describe it.

    `objects(snapshot, parent)` gives the objects of one parent (the `RegionSnapshot` itself for a kind
    without a parent; a child kind may look up what the snapshot holds for its parent, e.g. a service's
    events) with
    their raw ids; the renderer labels each with `identity[-1]` after its parent's identity. An object
    without an id, or whose id was already seen (in the region, or with `unique_per_parent` only under
    the same parent), is skipped: it could not be told apart and would duplicate series.
    """

    name: str
    identity: tuple[str, ...]
    """Identity labels of its series: the region's, its parents', then its own id label."""
    families: tuple[Family[T], ...]
    objects: Callable[[RegionSnapshot, P], Iterable[tuple[str | None, T]]]
    order: int
    """Its place in the exposition among the kinds (`families.KINDS`), after its parent's: its module
    declares it, so a new kind is its module alone."""
    parent: Kind[Any, P] | None = None
    unique_per_parent: bool = False
    optional: bool = False
    """Walked only when one of its families (or its children's) is selected: per-pod series can be many."""
    tally: Callable[[T], str] | None = None
    """What the status page counts this kind's objects by (e.g. a service's status), if anything."""

    @property
    def id_label(self) -> str:
        return self.identity[-1]

    def each(self, snapshot: RegionSnapshot, parent: P, seen: set[str]) -> Iterator[tuple[str, T]]:
        """The objects of `parent` the exposition counts, with their ids as label values: the one rule of
        which objects count (an id empty once cleaned, or one in `seen`, is skipped; `seen` grows)."""
        for raw_id, subject in self.objects(snapshot, parent):
            object_id = clean_value(raw_id)
            if object_id and object_id not in seen:
                seen.add(object_id)
                yield object_id, subject


def counted(kind: Kind[Any, T], snapshot: RegionSnapshot) -> Iterator[tuple[str, T]]:
    """Every object of `kind` in the region the exposition counts (`Kind.each`), under each counted parent:
    what the status page and the attention table count, so that they say what the series say."""
    parents: Iterable[Any] = (
        (snapshot,) if kind.parent is None else (item for _, item in counted(kind.parent, snapshot))
    )
    seen: set[str] = set()
    for parent in parents:
        yield from kind.each(snapshot, parent, set() if kind.unique_per_parent else seen)
