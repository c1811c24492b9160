"""docs/configuration.md documents exactly the settings the model has: every flag, variable and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from exporter.config import OPTIONS, Settings, load_settings
from exporter.config import Section as SettingsSection
from exporter.config.accounts import ACCOUNT_KEYS
from exporter.console import ConfigError
from tests.conftest import REPO

DOC = (REPO / "docs" / "configuration.md").read_text()


def table_rows() -> list[list[str]]:
    rows = []
    for line in DOC.splitlines():
        if line.startswith("| `"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_every_flag_env_and_key_has_a_row_with_its_default() -> None:
    rows = table_rows()
    for option in OPTIONS:
        names = [f"`{name}`" for name in (option.flag, option.env, option.key) if name]
        matching = [row for row in rows if all(name in row for name in names)]
        assert len(matching) == 1, f"no single documentation row for {names}"
        assert f"`{option.default}`" in matching[0] or option.default in matching[0], (option, matching[0])


def test_documented_names_all_exist() -> None:
    flags = {option.flag for option in OPTIONS if option.flag} | {"--demo", "--format", "--help", "--version"}
    envs = {option.env for option in OPTIONS if option.env}
    keys = {option.key for option in OPTIONS if option.key}
    for flag in re.findall(r"`(--[a-z.-]+)", DOC):
        assert flag in flags, flag
    for env in re.findall(r"`(TIONE_EXPORTER_[A-Z_]+)`", DOC):
        assert env in envs, env
    for key in re.findall(r"^\| `([a-z][a-z-]*\.[a-z-]+)` \|", DOC, flags=re.MULTILINE):
        assert key in keys, key


def test_options_cover_the_whole_settings_model() -> None:
    paths = {option.path for option in OPTIONS}
    model_paths: set[tuple[str, ...]] = set()
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, SettingsSection):
            model_paths |= {(name, sub) for sub in annotation.model_fields}
        else:
            model_paths.add((name,))
    assert paths == model_paths


def test_the_documented_example_file_is_valid(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(web:.*?)```", DOC, flags=re.DOTALL)
    assert block is not None
    document = yaml.safe_load(block.group(1))
    written = {f"{section}.{key}" for section, body in document.items() if isinstance(body, dict) for key in body}
    written |= {section for section, body in document.items() if isinstance(body, list)}
    assert written == {option.key for option in OPTIONS if option.key}
    assert {key for entry in document["accounts"] for key in entry} == set(ACCOUNT_KEYS)
    path = tmp_path / "example.yaml"
    path.write_text(block.group(1))
    settings = load_settings({"--config.file": str(path)}, {})
    assert settings.tione.regions == ("ap-guangzhou", "ap-shanghai")
    assert settings.metrics.tag_labels == ("team", "env")
    assert [account.name for account in settings.accounts] == ["prod", "staging"]


def test_every_account_key_has_a_row() -> None:
    section = DOC.split("## Several accounts", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE)
    assert documented == list(ACCOUNT_KEYS)


def test_documented_error_lines_are_the_real_ones() -> None:
    for flags, env in (({"--poll.interval": "5x"}, {"TENCENTCLOUD_REGION": "ap-guangzhou"}), ({}, {})):
        with pytest.raises(ConfigError) as caught:
            load_settings(flags, env)
        assert f"tione-exporter: {caught.value.problems[0]}" in DOC
