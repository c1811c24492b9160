"""The package's imports point one way: `cli -> app -> poller/web -> metrics -> tione -> tencentcloud`.

Walked from the source (ast), lazy imports inside functions included, so that a new arrow against the
direction fails here rather than in review. The simulator is a room apart: it may use the TI-ONE
models, the API's identity (never a source module: it spells the actions it serves itself), and the
signing code; only the entry points import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import exporter

PACKAGE = Path(exporter.__file__).parent

LAYERS: dict[str, int] = {
    "exporter.cli": 0,
    "exporter.__main__": -1,
    "exporter.demo": 1,
    "exporter.check": 1,
    "exporter.app": 2,
    "exporter.wiring": 3,
    "exporter.config": 4,
    "exporter.web": 5,
    "exporter.poller": 6,
    "exporter.metrics": 7,
    "exporter.tione": 8,
    "exporter.tencentcloud": 9,
    "exporter.logs": 10,
    "exporter.console": 10,
    "exporter.durations": 10,
    "exporter.memory": 10,
    "exporter.files": 10,
    "exporter": 11,
}
"""Lower layers never import higher ones (a smaller number is higher). `web` reads the poller's statuses;
`config` knows the models of the filters it parses; logs, console, file reading and the version are used by
anyone."""

SIMULATOR = "exporter.simulator"
SIMULATOR_MAY_USE = (
    "exporter.durations",
    "exporter.tione.models",
    "exporter.tione.api",
    "exporter.tione.monitor_api",
    "exporter.tencentcloud.signing",
    "exporter.tencentcloud.errors",
    "exporter.tencentcloud.gcpause",
)
SIMULATOR_USERS = ("exporter.cli", "exporter.demo", "exporter.app")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports() -> dict[str, set[str]]:
    """Every module of the package and the modules of the package it imports.

    `from package import name` imports the module `package.name` when there is one, else the package.
    """
    paths = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name.startswith("exporter"))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("exporter"):
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    targets.add(submodule if submodule in paths else node.module)
    return graph


def room(module: str) -> str:
    """The longest prefix of `module` that `LAYERS` names, or the simulator."""
    if module == SIMULATOR or module.startswith(SIMULATOR + "."):
        return SIMULATOR
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return prefix
    raise AssertionError(f"{module} belongs to no room: add it to LAYERS")


def test_every_module_has_a_room() -> None:
    for module in imports():
        room(module)


def test_imports_point_down() -> None:
    wrong = []
    for module, targets in imports().items():
        source = room(module)
        for target in targets:
            destination = room(target)
            if SIMULATOR in (source, destination):
                continue
            if source != destination and LAYERS[destination] <= LAYERS[source]:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_the_simulator_is_a_room_apart() -> None:
    wrong = []
    for module, targets in imports().items():
        for target in targets:
            inside, to_it = room(module) == SIMULATOR, room(target) == SIMULATOR
            if inside and not to_it and not target.startswith(SIMULATOR_MAY_USE):
                wrong.append(f"{module} imports {target}")
            if to_it and not inside and room(module) not in SIMULATOR_USERS:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def source_modules() -> set[str]:
    """The modules of `exporter.tione` that offer a source: a top-level `source(...)` (`tione/source.py`)."""
    found = set()
    for path in sorted((PACKAGE / "tione").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.FunctionDef) and node.name == "source" for node in tree.body):
            found.add(module_name(path))
    return found


def test_the_poller_knows_no_particular_source_and_no_client() -> None:
    """The poller runs every source through `Source.run` alike: it imports no source module, nothing of
    `tencentcloud/` (a source's failure is a `SourceError`, the GC pause a service the app hands in)."""
    sources = source_modules()
    assert {"exporter.tione.service_groups", "exporter.tione.events"} <= sources, "the detection finds the sources"
    wrong = [
        f"{module} imports {target}"
        for module, targets in imports().items()
        if room(module) == "exporter.poller"
        for target in targets
        if target in sources or room(target) == "exporter.tencentcloud"
    ]
    assert wrong == []


def test_no_import_cycle() -> None:
    graph = imports()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if target not in graph:
                continue
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target] if target in path else [module, target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
