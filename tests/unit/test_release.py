"""The release's paperwork agrees with the code: the version in the changelog, `--version`, the build-info
metric and the package are one; the licence is the one the package declares, in full."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from exporter import __version__
from exporter.metrics.self import SelfMetrics
from tests.conftest import REPO, tree_environment

SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")


def released_versions() -> list[str]:
    return re.findall(r"^## (\d[^\s]*)\s*$", (REPO / "CHANGELOG.md").read_text(), flags=re.MULTILINE)


def test_the_version_is_semver_and_the_newest_in_the_changelog() -> None:
    assert SEMVER.match(__version__), __version__
    versions = released_versions()
    assert versions and versions[0] == __version__, f"CHANGELOG.md's newest release is not {__version__}"
    assert all(SEMVER.match(version) for version in versions)
    assert "## Versioning" in (REPO / "CHANGELOG.md").read_text()


def test_version_flag_and_build_info_show_the_package_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--version"],
        capture_output=True,
        text=True,
        check=False,
        env=tree_environment(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tione-exporter", __version__]
    body = SelfMetrics(standard=()).render(False).decode()
    assert f'tione_exporter_build_info{{python_version="{sys.version.split()[0]}",version="{__version__}"}} 1.0' in body
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" in project["dynamic"]


def test_the_licence_is_apache_2_in_full() -> None:
    text = (REPO / "LICENSE").read_text()
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"] == {"text": "Apache-2.0"}
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    for part in ("1. Definitions.", "4. Redistribution.", "9. Accepting Warranty", "END OF TERMS AND CONDITIONS"):
        assert part in text, part
    assert len(text) > 11_000
