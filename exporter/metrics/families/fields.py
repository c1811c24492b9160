"""Shared helpers of the sample functions: null fields, times, state sets, units, label-safe names.

Conventions (docs/metrics.md states them for users): a null field gives no series, never a fake 0;
enumerations are state sets with one series per known value plus the current one if it is unknown; units
are converted to base units with the constants here and nowhere else.

Names and states are compared as they will be rendered (`clean_value`): two raw values that differ only
in characters a label value cannot hold, or beyond its length cap, are one label value, so they must be
one name or one state here too, or a family would show the same label set twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from exporter.metrics.families.family import Sample
from exporter.metrics.labels import clean_value
from exporter.tione.models import as_utc

MILLICORES_PER_CORE = 1000
BYTES_PER_MIB = 1048576
GPU_HUNDREDTHS = 100

CONDITION_STATES: tuple[str, ...] = ("true", "false", "unknown")

NONE: tuple[Sample, ...] = ()
_stateset_cache: dict[tuple[tuple[str, ...], str], tuple[Sample, ...]] = {}
"""Every object in the same state gets the same samples: built once per known state, then shared."""


class _HasName(Protocol):
    @property
    def name(self) -> str | None: ...


_Named = TypeVar("_Named", bound=_HasName)


class _Resources(Protocol):
    """CPU in 1/1000 core and memory in MB, as every API answer and holding gives them."""

    @property
    def cpu(self) -> int | None: ...
    @property
    def memory(self) -> int | None: ...


def cpu_cores(resources: _Resources | None) -> tuple[Sample, ...]:
    """CPU cores of an API figure in millicores, or none when it is not given."""
    if resources is None or resources.cpu is None:
        return NONE
    return scalar(resources.cpu / MILLICORES_PER_CORE)


def memory_bytes(resources: _Resources | None) -> tuple[Sample, ...]:
    """Bytes of an API figure in MB (MiB), or none when it is not given."""
    if resources is None or resources.memory is None:
        return NONE
    return scalar(resources.memory * BYTES_PER_MIB)


def scalar(value: float | None) -> tuple[Sample, ...]:
    """One unlabelled sample, or none for a null field."""
    if value is None:
        return NONE
    return (((), float(value)),)


def timestamp(value: datetime | None) -> tuple[Sample, ...]:
    """Unix seconds of an API time; a naive time is UTC."""
    moment = as_utc(value)
    if moment is None:
        return NONE
    return (((), moment.timestamp()),)


def state_set(current: str | None, known: tuple[str, ...], *prefix: str) -> tuple[Sample, ...]:
    """1 for `current`, 0 for every other known value; an unknown `current` is added, never dropped.

    `current` is compared as rendered (`clean_value`): `Normal` followed by a NUL byte is the known
    `Normal`. Null or blank (once cleaned) means the API has no value: no series at all. `prefix` are
    label values that come before the state label, for a family with more labels than the state.
    """
    current = clean_value(current)
    if not current.strip():
        return NONE
    if not prefix:
        cached = _stateset_cache.get((known, current))
        if cached is not None:
            return cached
    samples = [((*prefix, value), 1.0 if value == current else 0.0) for value in known]
    if current not in known:
        samples.append(((*prefix, current), 1.0))
    result = tuple(samples)
    if not prefix and current in known:
        _stateset_cache[(known, current)] = result
    return result


def condition_state(status: str | None) -> str | None:
    """Kubernetes condition status as a label value; an odd value is `unknown`, null is no value."""
    status = clean_value(status)
    if not status.strip():
        return None
    lowered = status.strip().lower()
    return lowered if lowered in CONDITION_STATES else "unknown"


def named_once(items: Sequence[_Named]) -> list[_Named]:
    """The items with a name that is not empty once cleaned, the first of each cleaned name."""
    seen: set[str] = set()
    unique: list[_Named] = []
    for item in items:
        name = clean_value(item.name)
        if name and name not in seen:
            seen.add(name)
            unique.append(item)
    return unique
