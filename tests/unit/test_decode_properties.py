"""Whatever one group of an answer holds, reading and rendering the page never fails, the exposition
stays valid and every other group is exported exactly as before.

Hypothesis mutates one group of a valid simulated page at a random place: a value of another JSON type,
null, a key removed, a key added, deep nesting, a huge string. The page then goes the way of a real
answer: JSON text, the listing's one-pass read (or `json.loads` and its object-by-object read when
that refuses the page), the catalogue and the renderer.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from exporter.metrics.options import RenderOptions
from exporter.metrics.render import collect_region, render
from exporter.simulator import Simulator, SimulatorConfig
from exporter.tione.listing import parse_page, typed_page
from exporter.tione.snapshot import RegionSnapshot
from tests import render_helpers as rendered
from tests.conftest import in_ci, require_tool

REGION = "ap-guangzhou"
OPTIONS = RenderOptions(tag_labels=("*",))
Path = tuple[str | int, ...]


def _page() -> list[dict[str, Any]]:
    simulator = Simulator(SimulatorConfig(groups=12, regions=(REGION,), churn=False, seed=21))
    simulator.churn_step(10)
    return simulator.fleet(REGION)


PAGE = _page()


def _exposition(groups: list[dict[str, Any]]) -> str:
    """The page read as the listing reads it: in one pass when it all fits, else object by object (and
    then the one-pass read must have refused it, or agree)."""
    content = json.dumps({"Response": {"TotalCount": len(groups), "ServiceGroups": groups, "RequestId": "r"}})
    answer = json.loads(content)["Response"]
    parsed = parse_page(REGION, answer)
    typed = typed_page(content.encode())
    assert typed is None or typed == parsed
    return rendered.text(render([collect_region(RegionSnapshot(REGION, tuple(parsed.groups)), OPTIONS)])).decode()


def _by_group(text: str) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for line in text.splitlines():
        found = re.search(r'service_group_id="([^"]*)"', line)
        if found:
            lines.setdefault(found.group(1), []).append(line)
    return lines


BASELINE = _by_group(_exposition(PAGE))


def _paths(node: Any, prefix: Path = ()) -> Iterator[Path]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _parent(document: Any, path: Path) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for level in range(depth):
        value = [value] if level % 2 else {"Nested": value}
    return value


@st.composite
def mutations(draw: st.DrawFn) -> tuple[int, Path, str, Any]:
    index = draw(st.integers(0, len(PAGE) - 1))
    path = draw(st.sampled_from(list(_paths(PAGE[index]))))
    kind = draw(st.sampled_from(["replace", "null", "delete", "add", "deep", "huge"]))
    if kind == "replace":
        payload: Any = draw(json_values)
    elif kind == "add":
        payload = (draw(st.text(max_size=12)), draw(json_values))
    elif kind == "deep":
        payload = _nested(draw(st.integers(10, 400)))
    elif kind == "huge":
        payload = draw(st.characters()) * draw(st.integers(10_000, 300_000))
    else:
        payload = None
    return index, path, kind, payload


def _mutate(group: dict[str, Any], path: Path, kind: str, payload: Any) -> dict[str, Any]:
    if kind == "add":
        target = _parent(group, (*path, "")) if path else group
        if isinstance(target, dict):
            key, value = payload
            target[key] = value
        return group
    if not path:
        return group if kind == "delete" else payload
    parent = _parent(group, path)
    if kind == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = payload
    return group


PROMTOOL = ""


@pytest.fixture(autouse=True, scope="module")
def promtool() -> None:
    """promtool where it is installed (in CI it must be): without it the property is still checked, all
    but promtool's verdict, which `test_mutated_pages_pass_promtool` then asks for."""
    global PROMTOOL  # noqa: PLW0603 - hypothesis examples cannot take function fixtures
    PROMTOOL = shutil.which("promtool") or (require_tool("promtool") if in_ci() else "")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_one_mutated_group_never_fails_the_page_or_touches_the_others(mutation: tuple[int, Path, str, Any]) -> None:
    """...and Prometheus's own checker accepts every exposition."""
    index, path, kind, payload = mutation
    groups = copy.deepcopy(PAGE)
    groups[index] = _mutate(groups[index], path, kind, payload)
    text = _exposition(groups)

    list(text_string_to_metric_families(text))  # parses as the text format
    mutated_id = PAGE[index]["ServiceGroupId"]
    after = _by_group(text)
    for group_id, lines in BASELINE.items():
        if group_id != mutated_id:
            assert after.get(group_id) == lines, f"group {group_id} changed"
    if PROMTOOL:
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
        assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize("kind", ["replace", "deep", "huge"])
def test_mutated_pages_pass_promtool(kind: str) -> None:
    """The same property through Prometheus's own checker, on a few fixed mutations of every group."""
    groups = copy.deepcopy(PAGE)
    payload = {"replace": {"Odd": [1, "two", None]}, "deep": _nested(300), "huge": '\u00e9"\\\n' * 50_000}[kind]
    for group in groups:
        service = group["Services"][0]
        service["ServiceInfo"]["Replicas" if kind == "replace" else "Env"] = payload
        service["ServiceGroupName"] = payload if kind == "huge" else service["ServiceGroupName"]
    text = _exposition(groups)
    assert "tione_service_group_info" in text
    promtool = require_tool("promtool")  # only for the last check: the exposition is made without it
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
