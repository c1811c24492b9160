"""docs/deploy.md, docs/scaling.md and docs/security.md: their links and paths exist, and the overlay they
tell users to write renders with `kubectl kustomize` into what they say it does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, require_tool

DOCS = [
    REPO / "docs" / "deploy.md",
    REPO / "docs" / "scaling.md",
    REPO / "docs" / "security.md",
    REPO / "deploy" / "kubernetes" / "README.md",
]
LINK = re.compile(r"\]\(([^)\s]+)\)")
REPO_PATH = re.compile(r"`((?:deploy|grafana|docs|tests)/[\w./-]*|Dockerfile)`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_relative_links_and_named_paths_exist(doc: Path) -> None:
    text = doc.read_text()
    links = [link for link in LINK.findall(text) if not link.startswith(("http://", "https://", "#"))]
    assert links
    for link in links:
        assert (doc.parent / link.split("#")[0]).exists(), f"{doc.name} links to {link}, which does not exist"
    for path in REPO_PATH.findall(text):
        assert (REPO / path).exists(), f"{doc.name} names {path}, which does not exist"


def test_the_overlay_of_the_step_by_step_renders(tmp_path: Path) -> None:
    kubectl = require_tool("kubectl")
    text = (REPO / "docs" / "deploy.md").read_text()
    blocks = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
        if "my-tione/kustomization.yaml" in block
    ]
    assert len(blocks) == 1
    block = "\n".join(line[3:] if line.startswith("   ") else line for line in blocks[0].splitlines())
    (tmp_path / "tione-exporter").symlink_to(REPO)
    overlay = tmp_path / "my-tione"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(block)
    result = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    (deployment,) = [doc for doc in docs if doc["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ccr.ccs.tencentyun.com/NAMESPACE/tione-exporter:0.1.0"
    settings = next(
        doc["data"]
        for doc in docs
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("tione-exporter-settings")
    )
    assert settings["TIONE_EXPORTER_TIONE_REGIONS"] == "ap-guangzhou,ap-shanghai"
    assert settings["TIONE_EXPORTER_POLL_INTERVAL"] == "30s"  # the base's other settings are kept
    operator = [doc for doc in docs if doc["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {doc["kind"] for doc in operator} == {"ServiceMonitor", "PrometheusRule"}
    assert all(doc["metadata"]["labels"]["release"] == "my-release-name" for doc in operator)
