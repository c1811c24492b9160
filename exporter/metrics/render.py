"""From a region's snapshot to exposition bytes, once per poll rather than once per scrape.

`collect_region` walks the kinds of objects a snapshot holds (`families.KINDS`: groups, their services,
their pods) and turns them into finished sample lines, family by family. `render` then only arranges,
copying nothing: family headers (one HELP and TYPE per family, in exposition order) beside every
region's lines for that family, so a poll of one region costs only that region's work.
The gzip form of an exposition is made once, on first demand, and kept with it (`Exposition.gzip`).

The sample lines are the same in the Prometheus text format 0.0.4 and in OpenMetrics 1.0 (no
timestamps, no exemplars); only the headers differ: OpenMetrics names a counter family without its
`_total`. The OpenMetrics form stops before `# EOF`, because the live self-metrics follow it.
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from prometheus_client.utils import floatToGoString

from exporter.metrics.families import KINDS, SNAPSHOT_FAMILIES, monitor_metrics
from exporter.metrics.families import group as groups
from exporter.metrics.families import service as services
from exporter.metrics.families.family import Family, Kind, Sample, TagFamily
from exporter.metrics.gzipped import GzipPrefix
from exporter.metrics.labels import ACCOUNT_LABEL, REGION_LABEL, Tag, TagSelection, clean_value, escape_value
from exporter.metrics.options import RenderOptions
from exporter.tione.snapshot import RegionSnapshot

AnyFamily = Family[Any]

_go_float: Callable[[float], str] = floatToGoString
"""prometheus_client's own number formatting, so the bytes match what it would write."""


@dataclass(frozen=True)
class FamilyLines:
    """One region's samples of one family: the lines and their count."""

    text: bytes
    series: int


@dataclass(frozen=True)
class RegionSamples:
    """Everything one poll of one region contributes to the exposition; immutable, safe to share."""

    region: str
    service_groups: int
    services: int
    families: Mapping[str, FamilyLines] = field(default_factory=lambda: MappingProxyType({}))
    services_by_status: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """The services counted in `services`, by `Status` (absent: `unknown`), in a stable order for display."""
    runtime: Mapping[str, AnyFamily] = field(default_factory=lambda: MappingProxyType({}))
    """The families among `families` named at run time (`monitor_metrics`), in their exposition order."""

    @property
    def series(self) -> int:
        return sum(lines.series for lines in self.families.values())

    account: str = ""
    """The YAML `accounts` entry the region's samples are of ("" without accounts)."""


@dataclass(frozen=True, slots=True)
class FamilyBlock:
    """One family of the snapshot: its header in each format, then every region's lines of it.

    The lines are the regions' own `FamilyLines.text`, shared, never copied: both formats write them.
    """

    text_header: bytes
    openmetrics_header: bytes
    lines: tuple[bytes, ...]


@dataclass(frozen=True)
class Exposition:
    """The snapshot in both formats, held once; the OpenMetrics form lacks `# EOF` (the live self-metrics follow it).

    The sample lines are the same in both formats and only the family headers differ, so the two forms are
    one sequence of family blocks, written as views (`chunks`) and never joined: the regions' lines are
    the only copy of the uncompressed snapshot. The gzip forms are open-ended members (`GzipPrefix`) made
    on first demand and kept: most setups scrape in one format only, and a scrape then compresses just its
    small live part.
    """

    families: tuple[FamilyBlock, ...] = ()
    _gzip: dict[bool, GzipPrefix] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def chunks(self, openmetrics: bool) -> tuple[memoryview, ...]:
        """The snapshot in one format as views to write in order, without copying it."""
        views: list[memoryview] = []
        for block in self.families:
            views.append(memoryview(block.openmetrics_header if openmetrics else block.text_header))
            views.extend(memoryview(lines) for lines in block.lines)
        return tuple(views)

    def size(self, openmetrics: bool) -> int:
        """Bytes of the uncompressed snapshot in one format."""
        return sum(len(chunk) for chunk in self.chunks(openmetrics))

    def gzipped(self) -> tuple[bool, ...]:
        """The formats (`openmetrics`) whose gzip form has been made."""
        with self._lock:
            return tuple(self._gzip)

    def gzip(self, openmetrics: bool) -> GzipPrefix:
        """The deflated snapshot in one format, computed once (thread-safe: scrapes call it from worker threads)."""
        with self._lock:
            prefix = self._gzip.get(openmetrics)
            if prefix is None:
                prefix = self._gzip[openmetrics] = GzipPrefix.of(self.chunks(openmetrics))
            return prefix


class _Tails(dict[Sample, bytes]):
    """A family's formatted tails by sample; a missing one is formatted on first use.

    It names its writer weakly: a writer holds its tails, and a cycle between them would keep the writer's
    caches (a label for every object of the region) alive after a poll until the collector's next pass,
    which then frees them all at once while every thread waits."""

    __slots__ = ("names", "writer")

    def __init__(self, names: tuple[str, ...], writer: _Writer) -> None:
        super().__init__()
        self.names = names
        self.writer = weakref.ref(writer)

    def __missing__(self, sample: Sample) -> bytes:
        values, number = sample
        writer = self.writer()
        assert writer is not None, "tails are used only while their writer formats"
        tail = self[sample] = writer.tail(self.names, values, number) if values else writer.ending(number)
        return tail


class _FamilyOut:
    """One family's lines while a region is collected: the pieces of its lines, joined once at the end."""

    __slots__ = ("family", "lines", "prefix", "samples", "tags", "tails")

    def __init__(self, family: AnyFamily, writer: _Writer) -> None:
        self.family = family
        self.samples: Callable[[Any], Sequence[Sample]] = _no_samples
        self.tags: Callable[[Any], Sequence[Tag] | None] | None = None
        if isinstance(family, TagFamily):
            self.tags = family.tags
        else:
            self.samples = family.samples
        self.prefix = f"{family.name}{{".encode()
        self.lines: list[bytes] = []
        self.tails = _Tails(family.labels, writer)


def _no_samples(subject: Any) -> Sequence[Sample]:
    return ()


class _KindOut:
    """One kind's selected families and the ids seen while a region is collected."""

    __slots__ = ("children", "count", "kind", "outs", "seen", "tag_outs", "tally")

    def __init__(self, kind: Kind[Any, Any], outs: list[_FamilyOut], children: list[_KindOut]) -> None:
        self.kind = kind
        self.outs = [out for out in outs if out.tags is None]
        self.tag_outs = [out for out in outs if out.tags is not None]
        self.children = children
        self.seen: set[str] = set()
        self.count = 0
        self.tally: collections.Counter[str] = collections.Counter()


class _Writer:
    """Accumulates the sample lines of the families selected by the options.

    A line is the family's prefix (its name and `{`), the object's identity labels (formatted once per
    object, shared by all its families) and a tail (extra labels and value). Tails repeat a great deal
    (every state set writes the same ones for every object), so each family's tails are formatted once
    per distinct sample. A line costs no bytes object of its own: its three pieces, all shared, go on
    the family's list, joined once when the region is done; an object with several lines in a family
    gets one block `head + tail + head + tail ...`.
    """

    def __init__(self, options: RenderOptions) -> None:
        self.options = options
        self.outs = {family.name: _FamilyOut(family, self) for family in options.families()}
        self.tags = TagSelection(options.tag_labels)
        self._labels: dict[str, str] = {}
        self._pairs: dict[tuple[str, str], str] = {}
        self._endings: dict[float, bytes] = {}
        self.kinds: dict[Kind[Any, Any], _KindOut] = {}
        self.roots = self._kinds(None)

    def _kinds(self, parent: Kind[Any, Any] | None) -> list[_KindOut]:
        """The kinds under `parent` to walk: all but an optional one with no selected family, itself or below."""
        found = []
        for kind in KINDS:
            if kind.parent is not parent:
                continue
            outs = [self.outs[family.name] for family in kind.families if family.name in self.outs]
            children = self._kinds(kind)
            out = self.kinds[kind] = _KindOut(kind, outs, children)
            if outs or children or not kind.optional:
                found.append(out)
        return found

    def forget(self, limit: int) -> None:
        """Empty each cache of label values and tails that holds more than `limit` entries.

        Most entries are of one object only (its id, name, image): a writer that formats a whole listing
        page by page would otherwise hold one for every object of the region until the poll ends, beside
        the records. The values that do repeat come back at the next object that has them."""
        caches: list[dict[Any, Any]] = [self._labels, self._pairs, *(out.tails for out in self.outs.values())]
        for cache in caches:
            if len(cache) > limit:
                cache.clear()

    def label(self, value: str) -> str:
        """A label value cleaned and escaped for the exposition."""
        text = self._labels.get(value)
        if text is None:
            text = self._labels[value] = escape_value(clean_value(value))
        return text

    def pair(self, pair: tuple[str, str]) -> str:
        """`,name="value"`."""
        text = self._pairs.get(pair)
        if text is None:
            text = self._pairs[pair] = f',{pair[0]}="{self.label(pair[1])}"'
        return text

    def ending(self, number: float) -> bytes:
        """`} value` and the newline."""
        text = self._endings.get(number)
        if text is None:
            text = self._endings[number] = f"}} {_go_float(number)}\n".encode()
        return text

    def tail(self, names: tuple[str, ...], values: tuple[str, ...], number: float) -> bytes:
        if len(names) != len(values):
            raise ValueError(f"labels {names} do not match values {values}")
        return "".join([self.pair(pair) for pair in zip(names, values, strict=True)]).encode() + self.ending(number)

    def walk(self, snapshot: RegionSnapshot, outs: list[_KindOut], parent: object, identity: str) -> None:
        """Each kind's objects under `parent`, their lines, then their children's, depth first."""
        for out in outs:
            kind = out.kind
            seen = set() if kind.unique_per_parent else out.seen
            prefix = f",{kind.id_label}="
            for object_id, subject in kind.each(snapshot, parent, seen):
                out.count += 1
                if kind.tally is not None:
                    out.tally[kind.tally(subject)] += 1
                own = f'{identity}{prefix}"{self.label(object_id)}"'
                self.emit(out, subject, own.encode())
                if out.children:
                    self.walk(snapshot, out.children, subject, own)

    def emit(self, kind: _KindOut, subject: Any, identity: bytes) -> None:
        """Append each family's lines for one object."""
        for out in kind.outs:
            samples = out.samples(subject)
            if not samples:
                continue
            if len(samples) == 1:
                out.lines += (out.prefix, identity, out.tails[samples[0]])
            else:
                head = out.prefix + identity
                out.lines += (head, head.join([out.tails[sample] for sample in samples]))
        for out in kind.tag_outs:
            assert out.tags is not None
            names, values = self.tags.labels(out.tags(subject))
            out.lines += (out.prefix, identity, self.tail(names, values, 1.0))


def collect_region(snapshot: RegionSnapshot, options: RenderOptions | None = None) -> RegionSamples:
    """The finished sample lines of one region's snapshot (pure; once per poll of the region).

    An object without an id cannot be told apart from another, and one listed twice would give
    duplicate series: both are skipped (the first of a repeated id is kept). Ids are compared as
    label values (`clean_value`): two that differ only in characters a label cannot hold are one id.
    The counts (groups, services, services by status) are of exactly the objects rendered.
    """
    writer = _Writer(options or RenderOptions())
    writer.walk(snapshot, writer.roots, snapshot, _region_identity(writer, snapshot.region, snapshot.account))
    families = {name: _lines(out.lines) for name, out in writer.outs.items()}
    service_kind = writer.kinds[services.KIND]
    counts = (writer.kinds[groups.KIND].count, service_kind.count, service_kind.tally)
    return _samples(snapshot, families, *counts, runtime=_runtime(writer, snapshot))


def _region_identity(writer: _Writer, region: str, account: str = "") -> str:
    """The identity labels every series of a snapshot starts with: its region, after its account if any."""
    if account:
        return f'{ACCOUNT_LABEL}="{writer.label(account)}",{REGION_LABEL}="{writer.label(region)}"'
    return f'{REGION_LABEL}="{writer.label(region)}"'


def _runtime(writer: _Writer, snapshot: RegionSnapshot) -> dict[str, tuple[AnyFamily, FamilyLines]]:
    """The selected families the region names at run time (`monitor_metrics.RUNTIME`), written like a kind's:
    each object after the region's identity under its family's id label; a repeated series is left out."""
    found: dict[str, tuple[AnyFamily, FamilyLines]] = {}
    identity = _region_identity(writer, snapshot.region, snapshot.account)
    for family, objects in monitor_metrics.RUNTIME(snapshot):
        if family.name in found or family.name in writer.outs or not writer.options.includes(family):
            continue
        out, seen = _FamilyOut(family, writer), set()
        for object_id, subject in ((clean_value(raw), subject) for raw, subject in objects):
            own = f'{identity},{family.identity_labels[-1]}="{writer.label(object_id)}"'.encode()
            for sample in family.samples(subject):
                if object_id and (object_id, *sample[0]) not in seen:
                    seen.add((object_id, *sample[0]))
                    out.lines += (out.prefix, own, out.tails[sample])
        if (lines := _lines(out.lines)).series:
            found[family.name] = (family, lines)
    return found


def _lines(pieces: list[bytes]) -> FamilyLines:
    """A family's pieces joined; every line ends in the only newline it has (label values are escaped)."""
    text = b"".join(pieces)
    pieces.clear()
    return FamilyLines(text=text, series=text.count(b"\n"))


def _samples(
    snapshot: RegionSnapshot,
    families: Mapping[str, FamilyLines],
    service_groups: int,
    service_count: int,
    tally: collections.Counter[str],
    *,
    runtime: Mapping[str, tuple[AnyFamily, FamilyLines]],
) -> RegionSamples:
    kept = {name: lines for name, lines in families.items() if lines.series} | {n: v[1] for n, v in runtime.items()}
    return RegionSamples(
        region=snapshot.region,
        account=snapshot.account,
        service_groups=service_groups,
        services=service_count,
        families=MappingProxyType(kept),
        services_by_status=MappingProxyType(dict(sorted(tally.items()))),
        runtime=MappingProxyType({name: family for name, (family, _) in runtime.items()}),
    )


class _Headers(NamedTuple):
    text: bytes
    openmetrics: bytes


def _headers(family: AnyFamily) -> _Headers:
    text_help = family.help.replace("\\", "\\\\").replace("\n", "\\n")
    text = f"# HELP {family.name} {text_help}\n# TYPE {family.name} {family.type}\n".encode()
    om_name = family.openmetrics_name
    om_help = escape_value(family.help)
    openmetrics = f"# HELP {om_name} {om_help}\n# TYPE {om_name} {family.type}\n".encode()
    return _Headers(text, openmetrics)


_HEADERS: dict[str, _Headers] = {family.name: _headers(family) for family in SNAPSHOT_FAMILIES}


def render(regions: Iterable[RegionSamples], like: Exposition | None = None) -> Exposition:
    """Merge regions family by family in exposition order; a family no region has is left out.

    Each region must appear once, as a label value (its series would otherwise be duplicated). The gzip
    forms `like` (the exposition this one replaces) was asked for are deflated now, in the caller's
    thread: the first gzip scrape after a poll then finds its form ready instead of deflating it.
    """
    regions = list(regions)
    names = [(clean_value(samples.account), clean_value(samples.region)) for samples in regions]
    if len(set(names)) != len(names):
        raise ValueError(f"a region appears more than once: {sorted(names)}")
    runtime = {name: family for samples in regions for name, family in samples.runtime.items()}
    blocks: list[FamilyBlock] = []
    for family in SNAPSHOT_FAMILIES:
        for name in (family.name, *(sorted(runtime) if family.name == monitor_metrics.AFTER else ())):
            lines = tuple(samples.families[name].text for samples in regions if name in samples.families)
            if lines:
                headers = _HEADERS.get(name) or _headers(runtime[name])
                blocks.append(FamilyBlock(headers.text, headers.openmetrics, lines))
    exposition = Exposition(tuple(blocks))
    for openmetrics in like.gzipped() if like is not None else ():
        exposition.gzip(openmetrics)
    return exposition
