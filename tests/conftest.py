"""Shared test helpers: paths to the shared reference material and tools that CI must have."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from exporter.simulator import SimulatorServer

REPO = Path(__file__).resolve().parent.parent
LOCAL_FIXTURES = Path(__file__).resolve().parent / "fixtures"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_tool(name: str) -> str:
    """The path of a tool the test needs: in CI its absence fails the test; elsewhere it skips."""
    path = shutil.which(name)
    if path is None:
        if in_ci():
            pytest.fail(f"{name} is required in CI but is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture
def seed_response() -> dict[str, Any]:
    """The contents of `Response` in the API's published example."""
    data: dict[str, Any] = json.loads((LOCAL_FIXTURES / "seed.json").read_text())["Response"]
    return data


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """A simulated TI-ONE API on a free loopback port: default fleet, no churn, no signature check, 1000 req/s."""
    from exporter.simulator import SimulatorConfig, SimulatorServer

    with SimulatorServer(SimulatorConfig(churn=False, rate_limit=1000)) as server:
        yield server
