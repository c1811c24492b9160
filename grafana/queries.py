"""The PromQL inside generated dashboards: every panel query and variable query, and the substitution of
Grafana's variables, so that tests can check the queries against the metric catalogue and run them
against a real Prometheus."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

GROUPING = re.compile(r"\b(by|on|without|ignoring)\s*\(([^)]*)\)")
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$", re.DOTALL)


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref: str
    expr: str
    legend: str
    instant: bool


def panels(model: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel, rows' collapsed children included, rows themselves excluded."""
    for panel in model.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_queries(model: Mapping[str, Any]) -> list[PanelQuery]:
    return [
        PanelQuery(
            dashboard=model["uid"],
            panel=panel["title"],
            ref=target.get("refId", ""),
            expr=target["expr"],
            legend=target.get("legendFormat", ""),
            instant=bool(target.get("instant")),
        )
        for panel in panels(model)
        for target in panel.get("targets", [])
    ]


def query_variables(model: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, `label_values(...)` query) of each query variable, in dashboard order (chained ones last)."""
    result = []
    for variable in model.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            definition = variable["query"]
            result.append((variable["name"], definition["query"] if isinstance(definition, dict) else definition))
    return result


def parse_label_values(query: str) -> tuple[str | None, str]:
    """The series selector (or None) and label of a `label_values([selector,] label)` query."""
    match = LABEL_VALUES.match(query.strip())
    if match is None:
        raise ValueError(f"not a label_values() query: {query!r}")
    return match.group("selector"), match.group("label")


def variables_used(expr: str) -> set[str]:
    return {braced or bare for braced, bare in VARIABLE.findall(expr)}


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace `$name` and `${name}` as Grafana would, for single values; an unknown name is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return values[name]

    return VARIABLE.sub(replace, expr)


def groupings_losing(label: str, expr: str) -> list[str]:
    """The clauses of `expr` that would merge, or fail to match, series differing only in `label`: a `by` or
    `on` that does not list it, a `without` or `ignoring` that does. An identity label such as `account` must
    pass every one of them, and an absent label matches an absent label, so keeping it costs nothing when it
    is not there."""
    wrong = []
    for keyword, grouping in GROUPING.findall(expr):
        listed = {name.strip() for name in grouping.split(",")}
        if (keyword in ("by", "on")) != (label in listed):
            wrong.append(f"{keyword} ({grouping.strip()})")
    return wrong
