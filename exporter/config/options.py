"""How a setting is declared once and spelled everywhere: `setting(...)` on a field, `Option` derived from it.

A setting is a field of a section model (`poll.interval`), declared with `setting(default, help, ...)`. Its
type carries the parser and the range (`exporter/config/values.py`); `options_of` derives from the model
the flag (`--poll.interval`), the environment variable (`TIONE_EXPORTER_POLL_INTERVAL`), the YAML key
(`poll.interval`), the default as help and the documentation show it, and the help line. The command line,
the three settings sources and `docs/configuration.md` (held to it by a test) all follow that table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from exporter.durations import format_duration

ENV_PREFIX = "TIONE_EXPORTER_"


class Section(BaseModel):
    """A group of settings: the first part of each one's flag, and a section of the YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Option:
    """One setting: where it lives in `Settings` and how a user spells it in each source."""

    path: tuple[str, ...]
    flag: str | None
    env: str | None
    key: str | None
    default: str
    help: str
    metavar: str = "VALUE"


def setting(
    default: object,
    help_text: str,
    *,
    metavar: str = "VALUE",
    shown: str | None = None,
    flag: str | bool = True,
    key: bool = True,
) -> Any:
    """A setting's one declaration, as the default of its field.

    Spelled the usual way from its place: `poll.max_staleness` -> `--poll.max-staleness`,
    `TIONE_EXPORTER_POLL_MAX_STALENESS` and key `poll.max-staleness`. `flag` gives another flag name, or
    False for a setting of the file only (no flag, no variable); `key=False` keeps it out of the file.
    `shown` is the default as help shows it, when the value itself does not say it (`()` meaning "every
    workspace found"); otherwise it is derived (`300.0` with metavar DURATION -> `5m`).
    """
    return Field(
        default,
        description=help_text,
        json_schema_extra={"metavar": metavar, "shown": shown, "flag": flag, "key": key},
    )


def options_of(model: type[BaseModel]) -> tuple[Option, ...]:
    """Every setting of `model`, in declaration order: its own fields and those of its sections."""
    options: list[Option] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            options.extend(_option((name, sub), sub_info) for sub, sub_info in annotation.model_fields.items())
        else:
            options.append(_option((name,), info))
    return tuple(options)


def _option(path: tuple[str, ...], info: FieldInfo) -> Option:
    spelling = info.json_schema_extra
    if not isinstance(spelling, dict) or info.description is None:
        raise TypeError(f"setting {'.'.join(path)} is not declared with setting(default, help)")
    flag, key, metavar, shown = spelling["flag"], spelling["key"], spelling["metavar"], spelling["shown"]
    dashed = ".".join(part.replace("_", "-") for part in path)
    return Option(
        path=path,
        flag=flag if isinstance(flag, str) else "--" + dashed if flag else None,
        env=ENV_PREFIX + "_".join(path).upper() if flag is not False else None,
        key=dashed if key else None,
        default=shown if isinstance(shown, str) else _shown_default(info.default, str(metavar)),
        help=info.description,
        metavar=str(metavar),
    )


def _shown_default(value: object, metavar: str) -> str:
    """A default as help and `docs/configuration.md` write it: `5m`, `10`, `false`, `none`."""
    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and metavar == "DURATION":
        return format_duration(value)
    if isinstance(value, int | float):
        return f"{value:g}"
    return str(value)
