"""The code style gates run with the tests, so CI fails when `ruff` or `mypy --strict` would."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    result = run("ruff", "check", "exporter", "tests", "bench", "grafana")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = run("ruff", "format", "--check", "exporter", "tests", "bench", "grafana")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = run("mypy", "--strict", "exporter")
    assert result.returncode == 0, result.stdout + result.stderr


MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
"""The house's size limits: a production module says one thing, a function (outside the simulator, whose
handlers are tables of the API's behaviour) fits on a screen."""


def test_no_module_over_500_lines_and_no_function_over_60_outside_the_simulator() -> None:
    too_long: list[str] = []
    for path in sorted((REPO / "exporter").rglob("*.py")):
        source = path.read_text()
        name = path.relative_to(REPO)
        if source.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {source.count(chr(10))} lines")
        if "simulator" in path.parts:
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}: {lines} lines")
    assert not too_long, "\n".join(too_long)
