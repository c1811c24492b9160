"""`load_settings`: the layers merged (flags > environment > file > defaults), checked each alone and together.

Validation is strict and every problem becomes one line that names where the bad value came from
(`--poll.interval: invalid duration "5x"`), because a person fixing a deployment needs to know which of
three places to edit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from exporter.config.layers import LayerSource, env_source, file_source, flag_source
from exporter.config.options import ENV_PREFIX
from exporter.config.settings import OPTIONS, Settings
from exporter.console import ConfigError
from exporter.durations import format_duration
from exporter.tione.models import Filter, TagFilter

REGION_ENV = "TENCENTCLOUD_REGION"
DEFAULT_TIMEOUT_SHARE = 0.8
"""Without an explicit `--poll.timeout`, a short `--poll.interval` lowers the timeout to this share of it."""


def load_settings(flags: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from parsed flags, the environment and the YAML file they name; raise `ConfigError`."""
    env = os.environ if environ is None else environ
    layers = [flag_source(flags), env_source(env)]
    config_path = flags.get("--config.file") or env.get(ENV_PREFIX + "CONFIG_FILE", "").strip()
    if config_path:
        layers.append(file_source(Path(config_path)))
    region = env.get(REGION_ENV, "").strip()
    if region:
        layers.append(LayerSource(Settings, {"tione": {"regions": region}}, {("tione", "regions"): REGION_ENV}))

    # Each layer on its own first: a bad value is an error also where a higher layer overrides it (a flag
    # must not hide a broken file that will bite as soon as the flag goes).
    problems: list[str] = []
    for layer in layers:
        try:
            Settings(_build_sources=((layer,), {}))
        except ValidationError as error:
            problems.extend(_describe(item, [layer]) for item in error.errors())
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    try:
        settings = Settings(_build_sources=(tuple(layers), {}))
    except ValidationError as error:
        raise ConfigError([_describe(item, layers) for item in error.errors()]) from None

    if not _given(("poll", "timeout"), layers) and settings.poll.timeout >= settings.poll.interval:
        poll = settings.poll.model_copy(update={"timeout": settings.poll.interval * DEFAULT_TIMEOUT_SHARE})
        settings = settings.model_copy(update={"poll": poll})
    problems = _cross_checks(settings, layers)
    if problems:
        raise ConfigError(problems)
    return settings


def _given(path: tuple[str, ...], layers: Sequence[LayerSource]) -> bool:
    return any(path in layer.names for layer in layers)


def _describe(error: Any, layers: Sequence[LayerSource]) -> str:
    location: tuple[str | int, ...] = tuple(error["loc"])
    name = _name_of(location, layers)
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return f"{name}: unknown key"
    if error["type"] == "missing":
        return f"{name}: required"
    return f"{name}: {message}"


def _name_of(location: tuple[str | int, ...], layers: Sequence[LayerSource]) -> str:
    for layer in layers:
        name = layer.name_of(location)
        if name is not None:
            return name
    option = next((option for option in OPTIONS if option.path == tuple(map(str, location))), None)
    if option is not None:
        return option.flag or option.key or ".".join(option.path)
    return ".".join(str(part) for part in location)


def _cross_checks(settings: Settings, layers: Sequence[LayerSource]) -> list[str]:
    problems = _account_checks(settings, layers)
    if not settings.tione.regions and not (settings.accounts and all(a.regions for a in settings.accounts)):
        problems.append(
            f"--tione.regions: no region to poll; set --tione.regions, {ENV_PREFIX}TIONE_REGIONS, "
            f"tione.regions in the config file or {REGION_ENV}"
        )
    if settings.poll.timeout >= settings.poll.interval:
        timeout = _name_of(("poll", "timeout"), layers)
        interval = _name_of(("poll", "interval"), layers)
        problems.append(
            f"{timeout}: {format_duration(settings.poll.timeout)} must be shorter than "
            f"{interval} {format_duration(settings.poll.interval)}"
        )
    return problems


def _account_checks(settings: Settings, layers: Sequence[LayerSource]) -> list[str]:
    """Across the `accounts` entries: each name once (it is the `account` label value)."""
    problems = []
    seen: set[str] = set()
    for index, account in enumerate(settings.accounts):
        if account.name in seen:
            name = _name_of(("accounts", index, "name"), layers)
            problems.append(f'{name}: account name "{account.name}" is used by an earlier entry; names must be unique')
        seen.add(account.name)
    return problems


def listing_filters(settings: Settings) -> tuple[list[Filter], list[TagFilter]]:
    """The configured request filters in the API's own model types, ready for a listing query."""
    return (
        [item.to_model() for item in settings.tione.filters],
        [item.to_model() for item in settings.tione.tag_filters],
    )
