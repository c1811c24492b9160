"""What a scrape costs Prometheus, counted on the simulator's default fleet: the default selection of the TI-ONE
families stays within 30 series per service, and docs/metrics.md states what each option, and Cloud Monitor's
traffic families, add.

The installed command (`once`) polls the simulator over loopback, as a user would run it; series are every
sample line of the exposition, the exporter's own included, divided by the services polled.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from exporter.metrics.families import SNAPSHOT_FAMILIES
from exporter.simulator import SimulatorConfig, SimulatorServer
from tests.conftest import REPO, exporter_command, tree_environment

BUDGET = 30.0
"""Series per service the default selection may cost at the simulator's default fleet."""
SECRET_ID = "AKIDbudgetLoopbackOnly000000000000"
SECRET_KEY = "budget-loopback-only-secret-key-0"  # a key only the loopback simulator accepts
OPT_IN = [family.name for family in SNAPSHOT_FAMILIES if family.opt_in]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    """The default fleet (every region, every group the simulator makes by default), holding still."""
    config = SimulatorConfig(churn=False, rate_limit=None, secret_id=SECRET_ID, secret_key=SECRET_KEY)
    with SimulatorServer(config) as server:
        yield server


OFF = {"max-requests-per-month": 0}
"""Cloud Monitor off: the TI-ONE families the budget of 30 is about; Cloud Monitor's cost is a row of its own."""
CLOUD_MONITOR = "monitor.max-requests-per-month: 300000"


def exposition(
    simulator: SimulatorServer, tmp_path: Path, metrics: dict[str, object], monitor: dict[str, object] | None = None
) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "TIONE_EXPORTER_", "TKE_"))}
    env |= {"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}
    env["HOME"] = str(tmp_path)  # no credentials file of the user's
    env = tree_environment(env)
    config = tmp_path / f"exporter-{len(list(tmp_path.iterdir()))}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "tione": {"endpoint": simulator.url, "regions": list(simulator.config.regions)},
                "monitor": {"endpoint": simulator.url, **(OFF if monitor is None else monitor)},
                "metrics": metrics,
            }
        )
    )
    result = subprocess.run(
        [*exporter_command(), "once", "--config.file", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def series_by_family(text: str) -> Counter[str]:
    names: Counter[str] = Counter()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names[re.split(r"[{ ]", line, maxsplit=1)[0]] += 1
    return names


def services(counts: Counter[str], text: str) -> float:
    found = re.findall(r"^tione_exporter_services\{[^}]*\} (\S+)$", text, flags=re.MULTILINE)
    assert found, "no tione_exporter_services in the exposition"
    return sum(float(value) for value in found)


def per_service(
    simulator: SimulatorServer, tmp_path: Path, metrics: dict[str, object], monitor: dict[str, object] | None = None
) -> tuple[float, Counter[str]]:
    text = exposition(simulator, tmp_path, metrics, monitor)
    counts = series_by_family(text)
    polled = services(counts, text)
    assert polled > 50, "the default fleet has more services than that"
    return sum(counts.values()) / polled, Counter({name: round(n / polled, 2) for name, n in counts.items()})


def documented_costs() -> dict[str, float]:
    """`option: value` -> series per service, from the table in docs/metrics.md's "Default selection"."""
    text = (REPO / "docs" / "metrics.md").read_text()
    match = re.search(r"^## Default selection\n(.*?)(?=^## )", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "docs/metrics.md has no section 'Default selection'"
    costs: dict[str, float] = {}
    for row in re.findall(r"^\|(.+)\|$", match.group(1), flags=re.MULTILINE):
        cells = [cell.strip() for cell in row.split("|")]
        number = re.fullmatch(r"\+?([0-9.]+)", cells[-1])
        if cells[0].startswith("`") and number:
            costs[cells[0].strip("`")] = float(number.group(1))
    return costs


def test_the_default_selection_costs_at_most_30_series_per_service(
    simulator: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default, families = per_service(simulator, tmp_path, {})
    everything, all_families = per_service(
        simulator, tmp_path, {"pod-series": True, "state-sets": "full", "include": [".*"]}
    )
    with capsys.disabled():
        print(f"\n[series] per service: default {default:.2f}, every family in full {everything:.2f}")
    assert default <= BUDGET, f"{default:.2f} series per service by default: {families.most_common(8)}"
    assert everything > 2 * default, "the options select what the default leaves out"
    assert not set(families) - set(all_families), "everything the default exports is in the full selection"
    assert not {name for name in families if name.startswith("tione_service_pod_")}, "per-pod series are opt-in"
    assert not set(OPT_IN) & set(families), "opt-in families are off by default"
    assert families["tione_service_status"] == 1.0, "a state set costs one series per service by default"


def test_the_documented_cost_of_each_option_is_what_it_costs(simulator: SimulatorServer, tmp_path: Path) -> None:
    documented = documented_costs()
    default, _ = per_service(simulator, tmp_path, {})
    measured = {"default": default}
    _, opt_in = per_service(simulator, tmp_path, {"include": [".*"]})
    measured |= {name: opt_in[name] for name in OPT_IN if name in opt_in}
    for option, metrics in {
        "metrics.pod-series: true": {"pod-series": True},
        "metrics.state-sets: full": {"state-sets": "full"},
        'metrics.include: [".*"]': {"include": [".*"]},
        'metrics.pod-series: true, metrics.state-sets: full, metrics.include: [".*"]': {
            "pod-series": True,
            "state-sets": "full",
            "include": [".*"],
        },
    }.items():
        measured[option] = per_service(simulator, tmp_path, metrics)[0] - default
    measured[CLOUD_MONITOR] = per_service(simulator, tmp_path, {}, {})[0] - default
    assert set(measured) == set(documented), "rows measured / rows documented differ"
    wrong = {
        option: (documented[option], round(cost, 2))
        for option, cost in measured.items()
        if abs(documented[option] - cost) > 0.3
    }
    assert not wrong, f"docs/metrics.md states (documented, measured) series per service: {wrong}"
