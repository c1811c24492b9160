"""Every metric family the exporter exposes, declared as data, one module per kind of object.

`workspace` names the workspaces polled; `group`, `component` (a group's gateways), `service` and
`pod` describe what the listing returns; `exporter` declares the exporter's own families (kept live
by `metrics/self.py`). `KINDS` is the exposition order: a kind's families follow its parent's. A new
kind of object is a new module here with its `KIND`, one entry in `KINDS`, its golden cases in
tests/fixtures/metrics/cases/ and its rows in docs/metrics.md.
"""

from __future__ import annotations

from typing import Any

from exporter.metrics.families import (
    component,
    events,
    exporter,
    group,
    pod,
    resource_group,
    service,
    traffic,
    workspace,
)
from exporter.metrics.families.family import Family, Kind, LiveFamily

KINDS: tuple[Kind[Any, Any], ...] = (
    workspace.KIND,
    group.KIND,
    component.KIND,
    service.KIND,
    pod.KIND,
    events.GROUP_KIND,
    events.KIND,
    resource_group.KIND,
    *traffic.KINDS,
)
"""Every kind a snapshot holds, parents before their children; also the exposition order."""

SNAPSHOT_FAMILIES: tuple[Family[Any], ...] = tuple(family for kind in KINDS for family in kind.families)
"""Exposition order of the families built from the snapshot."""

SELF_FAMILIES: tuple[LiveFamily, ...] = exporter.FAMILIES
