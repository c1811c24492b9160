"""Shared test helpers: paths to the shared reference material and tools that CI must have."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from collections.abc import Iterator, Mapping
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


def exporter_command() -> list[str]:
    """The exporter as tests run it: `python -m exporter` from the tree under test (with `tree_environment`),
    never a `tione-exporter` console script, which may be an older install of some other tree."""
    return [sys.executable, "-m", "exporter"]


def tree_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with the repository root first on PYTHONPATH, so that a child
    `python -m exporter` imports this tree whatever its working directory and whatever is installed."""
    base = dict(os.environ if env is None else env)
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH")]))
    return base


@pytest.fixture
def seed_response() -> dict[str, Any]:
    """The contents of `Response` in the API's published example."""
    data: dict[str, Any] = json.loads((LOCAL_FIXTURES / "seed.json").read_text())["Response"]
    return data


def signed_simulator(
    regions: tuple[str, ...] = ("ap-guangzhou", "ap-shanghai"), groups: int = 6, seed: int = 1, **config: Any
) -> SimulatorServer:
    """A simulator (not started) that checks signatures with fresh keys, holds still (churn off) and never
    throttles; `config` sets any other `SimulatorConfig` field."""
    from exporter.simulator import SimulatorConfig, SimulatorServer

    return SimulatorServer(
        SimulatorConfig(
            groups=groups,
            regions=regions,
            secret_id="AKID" + secrets.token_hex(16),
            secret_key=secrets.token_urlsafe(24),
            churn=False,
            rate_limit=None,
            seed=seed,
            **config,
        )
    )


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """A simulated TI-ONE API on a free loopback port: default fleet, no churn, no signature check, 1000 req/s."""
    from exporter.simulator import SimulatorConfig, SimulatorServer

    with SimulatorServer(SimulatorConfig(churn=False, rate_limit=1000)) as server:
        yield server
