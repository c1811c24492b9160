"""From API objects to exposition bytes, once per poll rather than once per scrape.

`collect_region` turns one region's service groups into finished sample lines, family by family.
`render` then only concatenates: family headers (one HELP and TYPE per family, in catalogue order)
followed by every region's lines for that family, so a poll of one region costs only that region's work.
The gzip form of an exposition is made once, on first demand, and kept with it (`Exposition.gzip`).

The sample lines are the same in the Prometheus text format 0.0.4 and in OpenMetrics 1.0 (no
timestamps, no exemplars); only the headers differ: OpenMetrics names a counter family without its
`_total`. The OpenMetrics form stops before `# EOF`, because the live self-metrics follow it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from prometheus_client.utils import floatToGoString

from exporter.metrics.catalogue import (
    GROUP_FAMILIES,
    POD_FAMILIES,
    SERVICE_FAMILIES,
    SNAPSHOT_FAMILIES,
    Family,
    PodOfService,
    Sample,
    ServiceInGroup,
    pods,
)
from exporter.metrics.gzipped import GzipPrefix
from exporter.metrics.labels import TagSelection, clean_value, escape_value
from exporter.tione.models import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot

AnyFamily = Family[ServiceGroup] | Family[ServiceInGroup] | Family[PodOfService]

_go_float: Callable[[float], str] = floatToGoString
"""prometheus_client's own number formatting, so the bytes match what it would write."""


@dataclass(frozen=True)
class RenderOptions:
    """What to expose: tag keys that become labels (`("*",)` for all), families to leave out
    (regexes matched against the whole family name), and whether per-pod series are wanted."""

    tag_labels: tuple[str, ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    pod_series: bool = True

    def includes(self, family: AnyFamily) -> bool:
        if family.pods and not self.pod_series:
            return False
        if family.tags is not None and not TagSelection(self.tag_labels).enabled:
            return False
        return not any(pattern.fullmatch(family.name) for pattern in self.exclude)


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

    @property
    def series(self) -> int:
        return sum(lines.series for lines in self.families.values())


@dataclass(frozen=True)
class Exposition:
    """The snapshot in both formats; the OpenMetrics form lacks `# EOF` (the live self-metrics follow it).

    The gzip forms are open-ended members (`GzipPrefix`) made on first demand and kept: most setups
    scrape in one format only, and a scrape then compresses just its small live part.
    """

    text: bytes
    openmetrics: bytes
    _gzip: dict[bool, GzipPrefix] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def gzip(self, openmetrics: bool) -> GzipPrefix:
        """The deflated snapshot in one format, computed once (thread-safe: scrapes call it from worker threads)."""
        with self._lock:
            prefix = self._gzip.get(openmetrics)
            if prefix is None:
                prefix = self._gzip[openmetrics] = GzipPrefix.of(self.openmetrics if openmetrics else self.text)
            return prefix


class _Tails(dict[Sample, bytes]):
    """A family's formatted tails by sample; a missing one is formatted on first use."""

    __slots__ = ("names", "writer")

    def __init__(self, names: tuple[str, ...], writer: _Writer) -> None:
        super().__init__()
        self.names = names
        self.writer = writer

    def __missing__(self, sample: Sample) -> bytes:
        tail = self[sample] = self.writer.tail(self.names, *sample)
        return tail


class _FamilyOut:
    """One family's lines while a region is collected."""

    __slots__ = ("family", "lines", "prefix", "samples", "series", "tails")

    def __init__(self, family: AnyFamily, writer: _Writer) -> None:
        self.family = family
        self.samples: Callable[[Any], Sequence[Sample]] | None = family.samples
        self.prefix = f"{family.name}{{".encode()
        self.lines: list[bytes] = []
        self.tails = _Tails(family.labels, writer)
        self.series = 0


class _Writer:
    """Accumulates the sample lines of the families selected by the options.

    A line is the family's head (name and identity labels, once per object) and a tail (extra
    labels and value). Tails repeat a great deal (every state set writes the same ones for every
    object), so each family's tails are formatted once per distinct sample, and one object's lines
    of a family are written as one block `head + tail + head + tail ...`.
    """

    def __init__(self, options: RenderOptions) -> None:
        self.outs = {family.name: _FamilyOut(family, self) for family in SNAPSHOT_FAMILIES if options.includes(family)}
        self.tags = TagSelection(options.tag_labels)
        self._labels: dict[str, str] = {}
        self._pairs: dict[tuple[str, str], str] = {}
        self._endings: dict[float, str] = {}

    def selected(self, families: Iterable[AnyFamily]) -> list[_FamilyOut]:
        return [self.outs[family.name] for family in families if family.name in self.outs]

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

    def ending(self, number: float) -> str:
        """`} value` and the newline."""
        text = self._endings.get(number)
        if text is None:
            text = self._endings[number] = f"}} {_go_float(number)}\n"
        return text

    def tail(self, names: tuple[str, ...], values: tuple[str, ...], number: float) -> bytes:
        if len(names) != len(values):
            raise ValueError(f"labels {names} do not match values {values}")
        parts = [self.pair(pair) for pair in zip(names, values, strict=True)]
        parts.append(self.ending(number))
        return "".join(parts).encode()

    def emit(self, outs: list[_FamilyOut], subject: Any, identity: bytes) -> None:
        """Append each family's lines for one object (a group, `ServiceInGroup` or `PodOfService`)."""
        for out in outs:
            head = out.prefix + identity
            if out.samples is None:
                assert out.family.tags is not None
                names, values = self.tags.labels(out.family.tags(subject))
                out.lines.append(head + self.tail(names, values, 1.0))
                out.series += 1
                continue
            samples = out.samples(subject)
            if not samples:
                continue
            block = list(map(out.tails.__getitem__, samples))
            out.lines.append(head + head.join(block))
            out.series += len(block)


def collect_region(snapshot: RegionSnapshot, options: RenderOptions | None = None) -> RegionSamples:
    """The finished sample lines of one region's snapshot (pure; once per poll of the region).

    A group or service without an id cannot be told apart from another, and one listed twice would
    give duplicate series: both are skipped (the first of a repeated id is kept). Ids are compared as
    label values (`clean_value`): two that differ only in characters a label cannot hold are one id.
    """
    writer = _Writer(options or RenderOptions())
    group_outs = writer.selected(GROUP_FAMILIES)
    service_outs = writer.selected(SERVICE_FAMILIES)
    pod_outs = writer.selected(POD_FAMILIES)
    region_label = f'region="{writer.label(snapshot.region)}"'
    seen_groups: set[str] = set()
    seen_services: set[str] = set()
    for group in snapshot.groups:
        group_id = clean_value(group.service_group_id)
        if not group_id or group_id in seen_groups:
            continue
        seen_groups.add(group_id)
        group_identity = f'{region_label},service_group_id="{writer.label(group_id)}"'
        writer.emit(group_outs, group, group_identity.encode())
        for service in group.services or ():
            service_id = clean_value(service.service_id)
            if not service_id or service_id in seen_services:
                continue
            seen_services.add(service_id)
            service_identity = f'{group_identity},service_id="{writer.label(service_id)}"'
            writer.emit(service_outs, ServiceInGroup(service, group), service_identity.encode())
            for pod in pods(service) if pod_outs else ():
                pod_identity = f'{service_identity},pod_name="{writer.label(pod.name or "")}"'
                writer.emit(pod_outs, PodOfService(pod, service, group), pod_identity.encode())

    families: dict[str, FamilyLines] = {}
    for name, out in writer.outs.items():
        if out.lines:
            text = b"".join(out.lines)
            out.lines.clear()
            families[name] = FamilyLines(text=text, series=out.series)
    return RegionSamples(
        region=snapshot.region,
        service_groups=len(seen_groups),
        services=len(seen_services),
        families=MappingProxyType(families),
    )


@dataclass(frozen=True)
class _Headers:
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


def render(regions: Iterable[RegionSamples]) -> Exposition:
    """Merge regions family by family in catalogue order; a family no region has is left out.

    Each region must appear once, as a label value (its series would otherwise be duplicated).
    """
    regions = list(regions)
    names = [clean_value(samples.region) for samples in regions]
    if len(set(names)) != len(names):
        raise ValueError(f"a region appears more than once: {sorted(names)}")
    text: list[bytes] = []
    openmetrics: list[bytes] = []
    for family in SNAPSHOT_FAMILIES:
        parts = [samples.families[family.name] for samples in regions if family.name in samples.families]
        if not parts:
            continue
        headers = _HEADERS[family.name]
        text.append(headers.text)
        openmetrics.append(headers.openmetrics)
        for part in parts:
            text.append(part.text)
            openmetrics.append(part.text)
    return Exposition(text=b"".join(text), openmetrics=b"".join(openmetrics))
