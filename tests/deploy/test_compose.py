"""deploy/compose.yaml: every file it mounts or builds from exists, its Prometheus configuration (with the
rules mounted where the container sees them) passes `promtool check config`, and Grafana finds the
dashboards where the provisioning file says they are."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tests.conftest import REPO, require_tool

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
RULES_DIR = DEPLOY / "prometheus" / "rules"


def services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def mounts(service: str) -> dict[PurePosixPath, Path]:
    """Container path -> host path of a service's bind mounts (short syntax, relative to the compose file)."""
    found: dict[PurePosixPath, Path] = {}
    for volume in services()[service].get("volumes", []):
        host, container, *_ = volume.split(":")
        assert host.startswith("."), f"{volume}: only bind mounts of the repository's files"
        found[PurePosixPath(container)] = (DEPLOY / host).resolve()
    return found


def test_every_mounted_file_exists() -> None:
    all_mounts = [(name, host) for name in services() for host in mounts(name).values()]
    assert len(all_mounts) >= 5
    for name, host in all_mounts:
        assert host.exists(), f"{name} mounts {host}, which does not exist"
        assert REPO in host.parents, f"{name} mounts {host} from outside the repository"


def test_exporter_is_built_from_the_dockerfile_and_runs_the_demo() -> None:
    exporter = services()["tione-exporter"]
    context = (DEPLOY / exporter["build"]["context"]).resolve()
    assert (context / exporter["build"]["dockerfile"]).is_file()
    assert context == REPO
    assert exporter["command"][0] == "--demo"
    listen = exporter["command"][exporter["command"].index("--web.listen-address") + 1]
    assert listen.endswith(":10120") and not listen.startswith("127.")  # reachable from Prometheus' container
    assert exporter["read_only"] is True
    assert exporter["cap_drop"] == ["ALL"]


def test_prometheus_config_passes_promtool_with_the_rules(tmp_path: Path) -> None:
    root = tmp_path / "etc" / "prometheus"
    for container, host in mounts("prometheus").items():
        target = tmp_path / container.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if host.is_dir():
            shutil.copytree(host, target)
        else:
            shutil.copy(host, target)
    config = root / "prometheus.yml"
    assert config.exists(), "prometheus.yml is not mounted at /etc/prometheus/prometheus.yml"
    targets = [
        t
        for job in yaml.safe_load(config.read_text())["scrape_configs"]
        for c in job["static_configs"]
        for t in c["targets"]
    ]
    assert targets == ["tione-exporter:10120"]
    promtool = require_tool("promtool")  # only for the checks below: the ones above run without it
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checked = set(re.findall(r"Checking (\S+\.yml)", result.stdout + result.stderr))
    assert {Path(path).name for path in checked} >= {path.name for path in RULES_DIR.glob("*.yml")}


def test_grafana_is_provisioned_with_the_dashboards_and_a_prometheus() -> None:
    grafana = mounts("grafana")
    provisioning = next(host for container, host in grafana.items() if "provisioning/dashboards" in str(container))
    (provider,) = yaml.safe_load(provisioning.read_text())["providers"]
    dashboards = grafana[PurePosixPath(provider["options"]["path"])]
    assert sorted(dashboards.glob("*.json")) == sorted((REPO / "grafana" / "dashboards").glob("*.json"))
    datasources = next(host for container, host in grafana.items() if "provisioning/datasources" in str(container))
    (source,) = yaml.safe_load(datasources.read_text())["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (dashboards / PurePosixPath(home).relative_to(provider["options"]["path"])).is_file()
