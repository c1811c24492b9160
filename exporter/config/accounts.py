"""The YAML `accounts` list: one entry per Tencent Cloud account the exporter reads through a role in it.

Each entry is checked alone here (its name, role ARN, external id, session duration and overrides); the
checks across entries (unique names, a region for each) are in `load.py`. The external id guards the role
like a password: no error line quotes it and the settings hold it as a `SecretStr`.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, SecretStr
from pydantic_core import PydanticCustomError

from exporter.config.options import Section
from exporter.config.values import MonthlyRequests, RateLimit, Regions, Strings, parse_duration, shown
from exporter.durations import format_duration
from exporter.tencentcloud.assume_role import RoleArn, check_external_id

ACCOUNT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
"""An account's name, the value of its `account` label: lower-case letters, digits, `_` and `-`, starting
with a letter, at most 63 characters. Conservative, so that it reads the same in a label, a log field, a URL
and a Grafana variable, and cannot hold the `/` of a target key (`metrics.labels.target_key`)."""
MIN_SESSION = 60.0
"""The shortest `session-duration`: the keys are renewed a quarter of their lifetime before they expire."""
MAX_SESSION = 43200.0
"""The longest STS `AssumeRole` grants (`DurationSeconds`)."""
DEFAULT_SESSION = 7200.0
"""STS's own default `DurationSeconds`."""


def _name(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not ACCOUNT_NAME.fullmatch(text):
        raise PydanticCustomError(
            "account_name",
            'invalid account name "{value}": 1-63 lower-case letters, digits, _ and -, starting with a letter',
            {"value": shown(value)},
        )
    return text


def _role_arn(value: object) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("role_arn", "expected a role ARN: qcs::cam::uin/<account uin>:roleName/<role name>")
    try:
        return RoleArn.parse(value).text
    except ValueError:
        raise PydanticCustomError(
            "role_arn",
            'invalid role ARN "{value}": expected qcs::cam::uin/<account uin>:roleName/<role name>',
            {"value": shown(value)},
        ) from None


def _external_id(value: object) -> str:
    """Never quoted: the message says what is allowed only."""
    if isinstance(value, int | float):
        # YAML reads an unquoted id of digits as a number (0123 as 83): only the text as written is safe.
        raise PydanticCustomError("external_id", "external id must be text: quote it in the YAML file")
    text = value.strip() if isinstance(value, str) else ""
    try:
        return check_external_id(text)
    except ValueError as error:
        raise PydanticCustomError("external_id", str(error)) from None


def _session(value: object) -> float:
    seconds = parse_duration(value)
    if not MIN_SESSION <= seconds <= MAX_SESSION:
        raise PydanticCustomError(
            "range",
            'must be between {low} and {high}, not "{value}"',
            {"low": format_duration(MIN_SESSION), "high": format_duration(MAX_SESSION), "value": shown(value)},
        )
    return seconds


AccountName = Annotated[str, BeforeValidator(_name)]
RoleArnText = Annotated[str, BeforeValidator(_role_arn)]
ExternalId = Annotated[SecretStr, BeforeValidator(_external_id)]
SessionDuration = Annotated[float, BeforeValidator(_session)]


class AccountSetting(Section):
    """One entry of `accounts`; keys spelled with dashes like every other key (`role-arn`).

    `regions` and `project-ids` default to the global `tione.regions` and `tione.project-ids`; the budget
    overrides to the global `--api.rate-limit`, `--monitor.rate-limit` and
    `--monitor.max-requests-per-month`, each of which is a per-account figure (the API's limits are per account).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=lambda name: name.replace("_", "-"))

    name: AccountName
    role_arn: RoleArnText
    external_id: ExternalId | None = None
    session_duration: SessionDuration = DEFAULT_SESSION
    regions: Regions | None = None
    project_ids: Strings | None = None
    api_rate_limit: RateLimit | None = None
    monitor_rate_limit: RateLimit | None = None
    monitor_max_requests_per_month: MonthlyRequests | None = None

    @property
    def uin(self) -> str:
        """The account the role is in, from its ARN (`tione_account_info{uin}`)."""
        return RoleArn.parse(self.role_arn).uin

    def secret_external_id(self) -> str | None:
        return None if self.external_id is None else self.external_id.get_secret_value()


ACCOUNT_KEYS: tuple[str, ...] = tuple(info.alias or name for name, info in AccountSetting.model_fields.items())
"""The keys of an entry, as written in the YAML file (`docs/configuration.md` lists each)."""
