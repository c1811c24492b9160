"""deploy/systemd/tione-exporter.service: hardened as docs/deploy.md says, accepted by `systemd-analyze
verify` (Debian's `systemd`), and rated low exposure by `systemd-analyze security`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from exporter.tencentcloud.credentials import ENV_SECRET_ID, ENV_SECRET_KEY, FILE_SUFFIX
from tests.conftest import REPO, require_tool

UNIT = REPO / "deploy" / "systemd" / "tione-exporter.service"
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 (locked down) .. 10 (exposed); under 2 is rated "OK"


def parse(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value given (systemd keys may repeat), comments and blank lines skipped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a key outside any section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service() -> dict[str, list[str]]:
    return parse(UNIT.read_text())["Service"]


def test_unit_is_hardened() -> None:
    svc = service()
    expected = {
        "DynamicUser": "yes",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
    }
    for key, value in expected.items():
        assert svc.get(key) == [value], f"{key}={svc.get(key)}"
    assert svc["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert "@system-service" in svc["SystemCallFilter"]
    assert "User" not in svc  # DynamicUser makes one up


def test_credentials_come_through_load_credential_and_file_variables() -> None:
    svc = service()
    loaded = dict(value.split(":", 1) for value in svc["LoadCredential"])
    environment = dict(value.split("=", 1) for value in svc["Environment"])
    for variable in (ENV_SECRET_ID, ENV_SECRET_KEY):
        path = environment[variable + FILE_SUFFIX]
        assert path.startswith("%d/"), path  # systemd's credentials directory of the unit
        assert path.removeprefix("%d/") in loaded
        assert variable not in environment  # never the key itself
    assert all(source.startswith("/etc/tione-exporter/credentials/") for source in loaded.values())


def test_exit_2_is_not_restarted() -> None:
    svc = service()
    assert svc["Restart"] == ["on-failure"]
    assert svc["RestartPreventExitStatus"] == ["2"]  # bad configuration: a restart will not fix it
    assert re.fullmatch(r"/\S+/tione-exporter run", svc["ExecStart"][0])


def _unit_with_a_stub_program(tmp_path: Path) -> Path:
    """A copy of the unit whose ExecStart names an executable that exists here; nothing else changes."""
    program = service()["ExecStart"][0].split()[0]
    stub = tmp_path / "bin" / Path(program).name
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(f"ExecStart={program} ", f"ExecStart={stub} "))
    assert unit.read_text() != UNIT.read_text()
    return unit


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    unit = _unit_with_a_stub_program(tmp_path)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""  # an unknown or misspelt key is only a warning: none allowed


def test_systemd_analyze_verify_would_catch_a_misspelt_key(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    unit = _unit_with_a_stub_program(tmp_path)
    unit.write_text(unit.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False)
    assert "NoNewPrivilege" in result.stdout + result.stderr


def test_systemd_analyze_security_rates_exposure_low(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    unit = _unit_with_a_stub_program(tmp_path)
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match is not None, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE
