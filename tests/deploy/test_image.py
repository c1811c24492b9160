"""The container image: the shipped `Dockerfile`, built unchanged and run.

There is no Docker engine here, so the image is built with `buildah` (chroot isolation, vfs storage, in a
storage root of the test's own) on a base equal to `debian:bookworm-slim` made from Debian's archive by
`mmdebstrap`; only the `BASE` build argument differs from a plain `docker build`. Inside the image, as its
own non-root user, the exporter answers `--version` and polls the simulator running on 127.0.0.1 outside
(chroot isolation shares the host's network). See `../shared/recipes/container-image.md`.

Select with `-m image`; skip with `-m "not image"`. In CI (CI=true) a missing tool fails the test.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import __version__
from exporter.simulator.server import SimulatorServer
from tests.conftest import REPO, in_ci, require_tool
from tests.conftest import signed_simulator as signed

pytestmark = [pytest.mark.image, pytest.mark.timeout(300)]

LOCAL_BASE = "localhost/debian:bookworm-slim"
TAG = "localhost/tione-exporter:test"
USER_ID = 65532
MAX_ADDED_BYTES = 150 * 1000 * 1000
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
REGIONS = ("ap-guangzhou", "ap-shanghai")
GROUPS = 6


@dataclass
class Image:
    """The built image in a buildah/podman storage root of the test's own, and a working container of it."""

    root: Path
    container: str
    build_seconds: float

    @property
    def storage(self) -> list[str]:
        return ["--root", str(self.root / "root"), "--runroot", str(self.root / "run"), "--storage-driver", "vfs"]

    def buildah(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["buildah", *self.storage, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def run(
        self,
        *command: str,
        user: str | None = str(USER_ID),
        env: dict[str, str] | None = None,
        volumes: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        """`command` inside the image (its entrypoint is not applied: name the program)."""
        args = ["run", "--isolation", "chroot"]
        if user is not None:
            args += ["--user", user]
        for name, value in (env or {}).items():
            args += ["--env", f"{name}={value}"]
        for volume in volumes:
            args += ["--volume", volume]
        return self.buildah(*args, self.container, "--", *command)

    def config(self) -> dict[str, Any]:
        result = self.buildah("inspect", "--type", "image", TAG)
        assert result.returncode == 0, result.stderr
        inspected: dict[str, Any] = json.loads(result.stdout)
        return dict(inspected["Docker"]["config"])

    def size(self, name: str) -> int:
        result = subprocess.run(
            ["podman", *self.storage, "image", "inspect", "--format", "{{.Size}}", name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return int(result.stdout.strip())


def _require_root() -> None:
    if os.geteuid() != 0:
        if in_ci():
            pytest.fail("building the image needs root (buildah with chroot isolation and vfs storage)")
        pytest.skip("building the image needs root")


def _base_tarball() -> Path:
    """A bookworm minbase root filesystem from Debian's archive, cached for the day in the temp dir."""
    cache = Path(tempfile.gettempdir()) / f"tione-exporter-bookworm-{datetime.date.today():%Y%m%d}.tar"
    if not cache.exists():
        for stale in cache.parent.glob("tione-exporter-bookworm-*.tar"):
            if ".partial" not in stale.name:
                stale.unlink(missing_ok=True)  # an earlier day's base
        partial = cache.with_suffix(f".{os.getpid()}.partial.tar")  # mmdebstrap picks the format by suffix
        result = subprocess.run(
            ["mmdebstrap", "--quiet", "--variant=minbase", "--include=ca-certificates", "bookworm", str(partial)],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        partial.replace(cache)
    return cache


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    _require_root()
    for tool in ("buildah", "podman", "mmdebstrap"):
        require_tool(tool)
    root = Path(tempfile.mkdtemp(prefix="tione-image-"))
    storage = ["--root", str(root / "root"), "--runroot", str(root / "run"), "--storage-driver", "vfs"]
    container = ""
    try:
        base = _base_tarball()
        imported = subprocess.run(
            ["podman", *storage, "import", str(base), LOCAL_BASE],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert imported.returncode == 0, imported.stderr
        # The machine's CA bundle lets pip inside the build verify the package index (a property of this
        # machine, not of the image); HEALTHCHECK is kept only in the Docker image format.
        volume = [f"--volume={HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"] if HOST_CA_BUNDLE.exists() else []
        started = datetime.datetime.now(tz=datetime.UTC)
        build = subprocess.run(
            ["buildah", *storage, "bud", "--isolation", "chroot", "--format", "docker", *volume,
             "--build-arg", f"BASE={LOCAL_BASE}", "--tag", TAG, "--file", str(REPO / "Dockerfile"), str(REPO)],
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        seconds = (datetime.datetime.now(tz=datetime.UTC) - started).total_seconds()
        assert build.returncode == 0, (build.stdout + build.stderr)[-5000:]
        created = subprocess.run(
            ["buildah", *storage, "from", "--pull-never", TAG], capture_output=True, text=True, timeout=60, check=False
        )
        assert created.returncode == 0, created.stderr
        container = created.stdout.strip().splitlines()[-1]
        yield Image(root=root, container=container, build_seconds=seconds)
    finally:
        if container:
            subprocess.run(["buildah", *storage, "rm", container], capture_output=True, timeout=60, check=False)
        subprocess.run(["buildah", *storage, "rmi", "--all", "--force"], capture_output=True, timeout=120, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def signed_simulator() -> Iterator[SimulatorServer]:
    with signed(REGIONS, groups=GROUPS) as server:
        yield server


def test_version_as_the_non_root_user(image: Image) -> None:
    result = image.run("tione-exporter", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"tione-exporter {__version__}\n"


def test_once_polls_the_simulator_outside_with_credentials_from_files(
    image: Image, signed_simulator: SimulatorServer, tmp_path: Path
) -> None:
    """As a Kubernetes pod would: keys in mounted files named by the *_FILE variables, no keys in the env."""
    config = signed_simulator.config
    assert config.secret_id is not None and config.secret_key is not None
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "secret-id").write_text(config.secret_id + "\n")
    (secrets_dir / "secret-key").write_text(config.secret_key + "\n")
    for path in secrets_dir.iterdir():
        os.chown(path, USER_ID, USER_ID)
        path.chmod(0o400)
    result = image.run(
        "tione-exporter", "once", "--tione.regions", ",".join(REGIONS),
        env={
            "TENCENTCLOUD_SECRET_ID_FILE": "/run/secrets/tione/secret-id",
            "TENCENTCLOUD_SECRET_KEY_FILE": "/run/secrets/tione/secret-key",
            "TIONE_EXPORTER_TIONE_ENDPOINT": signed_simulator.url,
            "TIONE_EXPORTER_MONITOR_ENDPOINT": signed_simulator.url,
        },
        volumes=(f"{secrets_dir}:/run/secrets/tione:ro",),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    families = {family.name: family for family in text_string_to_metric_families(result.stdout)}
    assert {sample.labels["region"]: sample.value for sample in families["tione_up"].samples} == dict.fromkeys(
        REGIONS, 1.0
    )
    groups = {sample.labels["region"]: sample.value for sample in families["tione_exporter_service_groups"].samples}
    listed = {
        region: float(
            len(
                {
                    s.labels["service_group_id"]
                    for s in families["tione_service_group_info"].samples
                    if s.labels["region"] == region
                }
            )
        )
        for region in REGIONS
    }
    assert groups == listed
    assert all(count > 0 for count in listed.values())
    assert {sample.labels["region"] for sample in families["tione_service_status"].samples} == set(REGIONS)
    build = families["tione_exporter_build_info"].samples[0].labels
    assert build["version"] == __version__
    assert build["python_version"].startswith("3.11.")  # Debian bookworm's python3
    for secret in (config.secret_id, config.secret_key):
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_once_fails_without_credentials(image: Image, signed_simulator: SimulatorServer) -> None:
    result = image.run(
        "tione-exporter",
        "once",
        "--tione.regions",
        REGIONS[0],
        env={
            "TIONE_EXPORTER_TIONE_ENDPOINT": signed_simulator.url,
            "TIONE_EXPORTER_MONITOR_ENDPOINT": signed_simulator.url,
        },
    )
    assert result.returncode != 0
    assert "tione_up" not in result.stderr


def test_runs_as_the_declared_numeric_user(image: Image) -> None:
    config = image.config()
    assert config["User"] == f"{USER_ID}:{USER_ID}"
    result = image.run("id", "-u", user=None)  # the image's own user, as a runtime would pick it
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(USER_ID)
    passwd = image.run("getent", "passwd", str(USER_ID))
    assert passwd.stdout.split(":")[5] == "/nonexistent"  # no home directory to write to


def test_image_metadata(image: Image) -> None:
    config = image.config()
    assert config["Entrypoint"] == ["tione-exporter"]
    assert "10120/tcp" in config["ExposedPorts"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.base.name"] == LOCAL_BASE  # the BASE the image was built on
    test = config["Healthcheck"]["Test"]
    assert test[:2] == ["CMD", "python3"]
    assert "/-/healthy" in test[-1]


def test_no_compiler_pip_or_test_packages(image: Image) -> None:
    tools = image.run("sh", "-c", "for t in gcc cc c++ make pip pip3 curl wget; do command -v $t; done; true")
    assert tools.returncode == 0, tools.stderr
    assert tools.stdout == ""
    modules = ["pip", "setuptools", "tencentcloud", "pytest", "grafana_foundation_sdk", "mypy", "ruff"]
    probe = image.run(
        "python3", "-c", f"import importlib.util; print([m for m in {modules!r} if importlib.util.find_spec(m)])"
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]", f"importable in the image: {probe.stdout.strip()}"
    assert image.run("python3", "-c", "import exporter, httpx, pydantic").returncode == 0
    packages = image.run("dpkg-query", "--show", "--showformat", "${Package}\\n")
    assert packages.returncode == 0, packages.stderr
    installed = set(packages.stdout.split())
    assert "python3" in installed
    assert not {"gcc", "gcc-12", "cpp", "python3-pip", "python3-venv", "python3-dev", "build-essential"} & installed
    caches = image.run(
        "sh", "-c", "ls -d /root/.cache /var/lib/apt/lists/*_Packages /var/cache/apt/*.bin 2>/dev/null; true"
    )
    assert caches.stdout == "", caches.stdout
    runtime = image.run("python3", "-c", "import httpx, pydantic, uvicorn, yaml, bcrypt, exporter.cli")
    assert runtime.returncode == 0, runtime.stderr


def test_ca_certificates_are_present(image: Image) -> None:
    result = image.run("python3", "-c", "import ssl; print(ssl.create_default_context().cert_store_stats()['x509_ca'])")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 100
    package = image.run("dpkg-query", "--show", "--showformat", "${Status}", "ca-certificates")
    assert package.stdout == "install ok installed"


def test_healthcheck_command_answers_for_a_running_exporter(image: Image) -> None:
    """The image's own HEALTHCHECK command fails with nothing listening and passes once the demo serves."""
    check = image.config()["Healthcheck"]["Test"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = (
        'python3 -c "$HC" 2>/dev/null && { echo "healthy before start"; exit 3; }\n'
        f"tione-exporter --demo --web.listen-address 127.0.0.1:{port} >/dev/null 2>&1 & pid=$!\n"
        "i=0; while [ $i -lt 100 ]; do\n"
        '  if python3 -c "$HC" 2>/dev/null; then kill -TERM $pid; wait $pid; exit $?; fi\n'
        "  i=$((i+1)); sleep 0.1\n"
        "done\n"
        "kill -TERM $pid; echo never healthy; exit 4\n"
    )
    result = image.run(
        "sh", "-c", script, env={"HC": check[-1], "TIONE_EXPORTER_WEB_LISTEN_ADDRESS": f"127.0.0.1:{port}"}
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_adds_less_than_150_mb_to_its_base(image: Image, capsys: pytest.CaptureFixture[str]) -> None:
    added = image.size(TAG) - image.size(LOCAL_BASE)
    with capsys.disabled():
        print(f"\nimage: adds {added / 1e6:.1f} MB to its base; built in {image.build_seconds:.0f} s")
    assert 0 < added < MAX_ADDED_BYTES
