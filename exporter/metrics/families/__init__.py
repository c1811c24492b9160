"""Every metric family the exporter exposes, declared as data, one module per kind of object.

`workspace` names the workspaces polled; `group`, `component` (a group's gateways), `service` and
`pod` describe what the listing returns; `exporter` declares the exporter's own families (kept live
by `metrics/self.py`). `KINDS` is every `Kind` a module of this package declares, in the exposition order
each states (`Kind.order`): a new kind of object is a new module here and nothing else in the code, with
its golden cases in tests/fixtures/metrics/cases/ and its rows in docs/metrics.md. `monitor_metrics` declares
no kind: its families are named at run time (`monitor.metrics`), and the renderer asks it for them.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from exporter.metrics.families import exporter
from exporter.metrics.families.family import Family, Kind, LiveFamily


def discover_kinds(package: str, path: list[str]) -> tuple[Kind[Any, Any], ...]:
    """Every `Kind` the modules of `package` declare at their top level, by `order`; a clash of places, or a
    parent placed after its child, fails the import rather than reorder the exposition by chance."""
    found: dict[int, Kind[Any, Any]] = {}
    for info in sorted(pkgutil.iter_modules(path), key=lambda info: info.name):
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Kind) and found.setdefault(value.order, value) is not value:
                raise ImportError(f"kinds {found[value.order].name} and {value.name} share order {value.order}")
    kinds = tuple(found[order] for order in sorted(found))
    for kind in kinds:
        if kind.parent is not None and kind.parent.order >= kind.order:
            raise ImportError(f"kind {kind.name} is ordered before its parent {kind.parent.name}")
    return kinds


KINDS: tuple[Kind[Any, Any], ...] = discover_kinds(__name__, __path__)
"""Every kind a snapshot holds, parents before their children; also the exposition order."""

SNAPSHOT_FAMILIES: tuple[Family[Any], ...] = tuple(family for kind in KINDS for family in kind.families)
"""Exposition order of the families built from the snapshot."""

SELF_FAMILIES: tuple[LiveFamily, ...] = exporter.FAMILIES
