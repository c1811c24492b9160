"""The YAML `accounts` list: each entry checked alone and the entries together, one line per problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.config import load_settings
from exporter.console import EXIT_CONFIG, ConfigError
from exporter.wiring import account_settings, regions_of

ARN = "qcs::cam::uin/100000000001:roleName/tione-exporter"
SECRET_EXTERNAL_ID = "ext id with spaces 7f3c"
"""Not a valid external id (spaces): the error must say so without quoting it."""


def load(tmp_path: Path, text: str, regions: str | None = "ap-guangzhou") -> object:
    path = tmp_path / "exporter.yaml"
    path.write_text(text)
    env = {"TENCENTCLOUD_REGION": regions} if regions else {}
    return load_settings({"--config.file": str(path)}, env)


def problems(tmp_path: Path, text: str, regions: str | None = "ap-guangzhou") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, regions)
    # the file's path named after the key is left out: " (in /tmp/.../exporter.yaml)"
    return [re.sub(r" \(in [^)]*\)", "", problem, count=1) for problem in caught.value.problems]


def entry(**keys: str) -> str:
    fields = {"name": "prod", "role-arn": ARN} | keys
    return "accounts:\n  - " + "\n    ".join(f"{key}: {value!r}" for key, value in fields.items()) + "\n"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"name": "Prod"}, 'accounts[0].name: invalid account name "Prod": 1-63 lower-case letters'),
        ({"name": "a/b"}, 'accounts[0].name: invalid account name "a/b"'),
        ({"name": "1st"}, 'accounts[0].name: invalid account name "1st"'),
        ({"name": "x" * 64}, "accounts[0].name: invalid account name"),
        ({"name": ""}, 'accounts[0].name: invalid account name ""'),
        ({"role-arn": "arn:aws:iam::1:role/x"}, 'accounts[0].role-arn: invalid role ARN "arn:aws:iam::1:role/x"'),
        ({"role-arn": "qcs::cam::uin/abc:roleName/x"}, "accounts[0].role-arn: invalid role ARN"),
        ({"session-duration": "30s"}, 'accounts[0].session-duration: must be between 1m and 12h, not "30s"'),
        ({"session-duration": "13h"}, 'accounts[0].session-duration: must be between 1m and 12h, not "13h"'),
        ({"session-duration": "soon"}, 'accounts[0].session-duration: invalid duration "soon"'),
        ({"regions": "Guangzhou!"}, 'accounts[0].regions: invalid region "Guangzhou!"'),
        ({"api-rate-limit": "0"}, 'accounts[0].api-rate-limit: must be a positive number, not "0"'),
        ({"monitor-rate-limit": "5000"}, 'accounts[0].monitor-rate-limit: must be between 0.1 and 1000, not "5000"'),
        ({"monitor-max-requests-per-month": "-1"}, "accounts[0].monitor-max-requests-per-month: must be a whole"),
        ({"role_arn": ARN}, "accounts[0].role_arn: unknown key"),
    ],
)
def test_a_bad_entry_is_one_line_naming_the_key(tmp_path: Path, keys: dict[str, str], expected: str) -> None:
    found = problems(tmp_path, entry(**keys))
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("name", "5", 'accounts[0].name: invalid account name "5": 1-63 lower-case letters'),
        (
            "role-arn",
            "100000000001",
            "accounts[0].role-arn: expected a role ARN: qcs::cam::uin/<account uin>:roleName/",
        ),
        ("role-arn", "[a, b]", "accounts[0].role-arn: expected a role ARN: qcs::cam::uin/<account uin>:roleName/"),
        # YAML reads it as a number (`0123` as 83): refused, never sent to STS as some other id
        ("external-id", "20240101", "accounts[0].external-id: external id must be text: quote it in the YAML"),
        ("external-id", "[a, b]", "accounts[0].external-id: external id must be 2-128 characters"),
    ],
)
def test_a_value_that_is_not_text_is_one_line(tmp_path: Path, key: str, value: str, expected: str) -> None:
    fields = {"name": "prod", "role-arn": ARN} | {key: value}  # unquoted: YAML reads a number or a list
    found = problems(tmp_path, "accounts:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in fields.items()) + "\n")
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize(("duration", "seconds"), [("1m", 60.0), ("12h", 43200.0), ("90m", 5400.0)])
def test_the_session_duration_may_be_from_1m_to_12h_both_included(
    tmp_path: Path, duration: str, seconds: float
) -> None:
    settings = load(tmp_path, entry(**{"session-duration": duration}))
    assert settings.accounts[0].session_duration == seconds  # type: ignore[attr-defined]


def test_without_a_session_duration_the_role_is_asked_for_stss_own_default_of_2h(tmp_path: Path) -> None:
    settings = load(tmp_path, entry())
    assert settings.accounts[0].session_duration == 7200.0  # type: ignore[attr-defined]


def test_a_bad_external_id_is_refused_without_quoting_it(tmp_path: Path) -> None:
    found = problems(tmp_path, entry(**{"external-id": SECRET_EXTERNAL_ID}))
    assert found == ["accounts[0].external-id: external id must be 2-128 characters of letters, digits and _+=,.@:/-"]
    assert "7f3c" not in " ".join(found)


def test_the_external_id_is_never_in_the_settings_repr(tmp_path: Path) -> None:
    settings = load(tmp_path, entry(**{"external-id": "prod-ext-7f3c"}))
    assert "7f3c" not in repr(settings) and "7f3c" not in str(settings.model_dump())
    assert settings.accounts[0].secret_external_id() == "prod-ext-7f3c"  # type: ignore[attr-defined]
    without = load(tmp_path, entry())
    assert without.accounts[0].secret_external_id() is None  # type: ignore[attr-defined]


def test_names_must_be_unique(tmp_path: Path) -> None:
    text = entry() + f"  - name: staging\n    role-arn: {ARN}\n  - name: prod\n    role-arn: {ARN}\n"
    assert problems(tmp_path, text) == [
        'accounts[2].name: account name "prod" is used by an earlier entry; names must be unique'
    ]


def test_accounts_must_be_a_list_of_entries(tmp_path: Path) -> None:
    assert problems(tmp_path, "accounts: prod\n") == ["accounts: Input should be a valid tuple"]
    assert problems(tmp_path, "accounts:\n  - prod\n")[0].startswith("accounts[0]")
    assert problems(tmp_path, "accounts:\n  - name: prod\n") == ["accounts[0].role-arn: required"]


def test_each_account_needs_a_region_its_own_or_the_global_ones(tmp_path: Path) -> None:
    text = entry(regions="ap-shanghai") + f"  - name: staging\n    role-arn: {ARN}\n"
    assert problems(tmp_path, text, regions=None)[0].startswith("--tione.regions: no region to poll")
    settings = load(tmp_path, entry(regions="ap-shanghai, ap-beijing"), regions=None)
    assert regions_of(settings) == ["prod/ap-shanghai", "prod/ap-beijing"]  # type: ignore[arg-type]
    without_accounts = load(tmp_path, "tione:\n  regions: [ap-shanghai, ap-beijing]\n", regions=None)
    assert regions_of(without_accounts) == ["ap-shanghai", "ap-beijing"]  # type: ignore[arg-type]


def test_an_entry_overrides_the_global_figures_for_its_account_only(tmp_path: Path) -> None:
    text = entry(
        **{
            "api-rate-limit": "4",
            "monitor-rate-limit": "2",
            "monitor-max-requests-per-month": "0",
            "project-ids": "7,8",
        }
    )
    text += f"  - name: staging\n    role-arn: {ARN}\n    regions: [ap-shanghai]\n"
    settings = load(tmp_path, text + "api:\n  rate-limit: 12\nmonitor:\n  rate-limit: 6\n")
    prod, staging = (account_settings(settings, a) for a in settings.accounts)  # type: ignore[arg-type, attr-defined]
    assert (prod.api.rate_limit, prod.monitor.rate_limit, prod.monitor.max_requests_per_month) == (4.0, 2.0, 0)
    assert (prod.tione.regions, prod.tione.project_ids) == (("ap-guangzhou",), ("7", "8"))
    assert (staging.api.rate_limit, staging.monitor.rate_limit, staging.monitor.max_requests_per_month) == (
        12.0,
        6.0,
        300_000,
    )
    assert (staging.tione.regions, staging.tione.project_ids) == (("ap-shanghai",), ())


def test_the_command_exits_2_with_one_line_and_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text(entry(name="Bad Name", **{"external-id": SECRET_EXTERNAL_ID}))
    assert main(["check", "--config.file", str(path), "--tione.regions", "ap-guangzhou"]) == EXIT_CONFIG
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in out.err and out.out == ""
    assert lines[0].startswith("tione-exporter: accounts[0].name (in ")
    assert "external-id" in lines[1] and "7f3c" not in out.err
