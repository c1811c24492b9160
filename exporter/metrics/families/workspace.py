"""Workspaces: which workspaces (`TiProjectId`) the listing read, with their names from discovery.

`tione_service_group_info{tione_project_id}` says which workspace a group lives in; this family gives
that id a name a person recognises. A workspace read only as the default one (without its id, when
discovery is not permitted) has no series: its id is not known.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.metrics.families.family import Declare, Family, Kind, Sample
from exporter.metrics.labels import REGION_LABEL
from exporter.tione.records import Workspace
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.workspaces import DISCOVERY

SCOPE = "workspace"
IDENTITY: tuple[str, ...] = (REGION_LABEL, "tione_project_id")
_family: Declare[Workspace] = Declare(SCOPE, IDENTITY)


def _info(workspace: Workspace) -> tuple[Sample, ...]:
    return (((workspace.name or "", workspace.status or ""), 1.0),)


FAMILIES: tuple[Family[Workspace], ...] = (
    _family(
        "tione_workspace_info",
        "A workspace (TiProjectId) whose service groups are polled, with its name and status (value 1).",
        "gauge",
        ("workspace_name", "status"),
        _info,
    ),
)


def _workspaces(snapshot: RegionSnapshot, _: RegionSnapshot) -> Iterable[tuple[str | None, Workspace]]:
    known = {workspace.ti_project_id: workspace for workspace in DISCOVERY.of(snapshot).workspaces}
    for project_id in snapshot.polled_workspaces:
        yield project_id, known.get(project_id) or Workspace(ti_project_id=project_id)


KIND: Kind[RegionSnapshot, Workspace] = Kind(SCOPE, IDENTITY, FAMILIES, _workspaces, order=10)
