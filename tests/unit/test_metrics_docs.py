"""docs/metrics.md and the catalogue agree, both ways: every family, its type, its labels, its states."""

from __future__ import annotations

import re
from typing import Any

import pytest

from exporter.metrics.families import SELF_FAMILIES, SNAPSHOT_FAMILIES
from exporter.metrics.families import attribution as attribution_kind
from exporter.metrics.families import component as component_kind
from exporter.metrics.families import events as events_kind
from exporter.metrics.families import group as group_kind
from exporter.metrics.families import holders as holders_kind
from exporter.metrics.families import pod as pod_kind
from exporter.metrics.families import price as price_kind
from exporter.metrics.families import resource_group as resource_group_kind
from exporter.metrics.families import service as service_kind
from exporter.metrics.families import traffic as traffic_kind
from exporter.metrics.families import workspace as workspace_kind
from exporter.metrics.families.family import Family, LiveFamily
from tests.conftest import REPO

GROUP_FAMILIES = group_kind.FAMILIES
SERVICE_FAMILIES = service_kind.FAMILIES
POD_FAMILIES = pod_kind.FAMILIES

DOC = REPO / "docs" / "metrics.md"

SECTIONS: dict[str, tuple[Family[Any] | LiveFamily, ...]] = {
    "Service groups": GROUP_FAMILIES,
    "Services": SERVICE_FAMILIES + POD_FAMILIES,
    "Warning events": events_kind.FAMILIES,
    "The exporter itself": SELF_FAMILIES,
    "Workspaces": workspace_kind.FAMILIES,
    "Gateways and schedulers": component_kind.FAMILIES,
    "Resource groups": resource_group_kind.FAMILIES + attribution_kind.FAMILIES,
    "Training tasks": holders_kind.TASK_FAMILIES,
    "Notebooks": holders_kind.NOTEBOOK_FAMILIES,
    "Spec prices": price_kind.FAMILIES,
    "What callers experience (Cloud Monitor)": traffic_kind.FAMILIES + traffic_kind.BUDGET_FAMILIES,
}
SECTION_IDENTITY = {
    "Service groups": group_kind.IDENTITY,
    "Services": service_kind.IDENTITY,
    "Warning events": events_kind.IDENTITY,
    "The exporter itself": (),
    "Workspaces": ("region",),
    "Gateways and schedulers": component_kind.IDENTITY,
    "Resource groups": resource_group_kind.IDENTITY,
    "Training tasks": holders_kind.TASK_IDENTITY,
    "Notebooks": holders_kind.NOTEBOOK_IDENTITY,
    "Spec prices": price_kind.IDENTITY,
    "What callers experience (Cloud Monitor)": traffic_kind.IDENTITY,
}


def documented_labels(family: Family[Any] | LiveFamily, title: str) -> tuple[str, ...]:
    """The labels the doc lists: those after the identity labels the section states once (a pod's
    series add `pod_name` to a service's identity, and the doc lists it)."""
    extra_identity = tuple(label for label in family.identity_labels if label not in SECTION_IDENTITY[title])
    return extra_identity + family.labels


def section(title: str) -> str:
    text = DOC.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"docs/metrics.md has no section '{title}'"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of the rows of the first table in `text` (header and rule skipped)."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def code_items(cell: str) -> tuple[str, ...]:
    return tuple(re.findall(r"`([^`]+)`", cell))


def documented(title: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (type cell, labels) of a section's table."""
    result: dict[str, tuple[str, tuple[str, ...]]] = {}
    for row in table_rows(section(title)):
        (name,) = code_items(row[0])
        assert name not in result, f"{name} documented twice"
        result[name] = (row[1], code_items(row[2]))
    return result


@pytest.mark.parametrize("title", list(SECTIONS))
def test_every_family_is_documented_with_its_type_and_labels_and_nothing_else(title: str) -> None:
    docs = documented(title)
    declared = {family.name: family for family in SECTIONS[title]}
    assert set(docs) == set(declared), "missing from the doc / missing from the code"
    for name, (type_cell, labels) in docs.items():
        family = declared[name]
        assert type_cell.split()[0] == family.type, name
        assert ("experimental" in type_cell) == (family.stability == "experimental"), name
        assert ("(state set)" in type_cell) == bool(family.states and family.name != "tione_service_status_condition")
        assert ("(opt-in)" in type_cell) == family.opt_in, name
        assert labels == documented_labels(family, title), name


def test_the_state_set_table_lists_the_known_values() -> None:
    rows = table_rows(section("State sets"))
    documented_states = {code_items(row[0])[0]: (code_items(row[1]), code_items(row[2])) for row in rows}
    declared = {family.name: family for family in SNAPSHOT_FAMILIES if family.states}
    assert set(documented_states) == set(declared)
    for name, (label, values) in documented_states.items():
        assert label == (declared[name].labels[-1],), name
        assert values == declared[name].states, name


def test_the_options_named_in_the_doc_exist_in_the_configuration_reference() -> None:
    configuration = (REPO / "docs" / "configuration.md").read_text()
    for option in (
        "metrics.tag-labels",
        "metrics.exclude",
        "metrics.include",
        "metrics.pod-series",
        "metrics.state-sets",
    ):
        assert option in DOC.read_text()
        assert option in configuration
