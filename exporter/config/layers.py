"""The three places a setting comes from (flags, `TIONE_EXPORTER_*` environment, YAML file), each a layer.

Each layer keeps the name every value was given under, so that a validation error says `--poll.interval`
or `poll.interval (in exporter.yaml)` instead of a model path the user never wrote.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from exporter.config.files import read_yaml
from exporter.config.options import ENV_PREFIX
from exporter.config.settings import FLAG_OPTIONS, KEY_OPTIONS, OPTIONS, SECTIONS, Settings
from exporter.config.values import MAX_SHOWN, shown
from exporter.console import ConfigError


class LayerSource(PydanticBaseSettingsSource):
    """Settings from one place (flags, environment or file), with the name each value was given under."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        values: dict[str, Any],
        names: dict[tuple[str, ...], str],
        where: str = "",
    ) -> None:
        super().__init__(settings_cls)
        self.values = values
        self.names = names
        self.where = where

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.values

    def name_of(self, path: tuple[str | int, ...]) -> str | None:
        """The user's name for the value at `path` (or for its nearest given ancestor)."""
        for length in range(len(path), 0, -1):
            name = self.names.get(tuple(str(part) for part in path[:length]))
            if name is not None:
                suffix = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path[length:])
                return name + suffix + self.where
        return None


def _put(tree: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


def flag_source(values: Mapping[str, str]) -> LayerSource:
    """Flags already parsed into `{flag: raw string}`."""
    tree: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    for flag, raw in values.items():
        option = FLAG_OPTIONS[flag]
        _put(tree, option.path, raw)
        names[option.path] = flag
    return LayerSource(Settings, tree, names)


def env_source(environ: Mapping[str, str]) -> LayerSource:
    """`TIONE_EXPORTER_*` variables; an empty variable counts as unset, as most tools treat it."""
    tree: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    for option in OPTIONS:
        if option.env and environ.get(option.env, "").strip():
            _put(tree, option.path, environ[option.env])
            names[option.path] = option.env
    return LayerSource(Settings, tree, names)


def file_source(path: Path) -> LayerSource:
    """The YAML file: sections named as the flags' first part, keys spelled as the flags' rest."""
    where = f"--config.file {path}"
    document = read_yaml(path, where)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError([f"{where}: the top level must be a mapping of sections ({', '.join(TOP_LEVEL)})"])

    tree: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    problems: list[str] = []
    for section, body in document.items():
        if section in TOP_KEYS:  # a setting of its own at the top level (`accounts`), not a section
            if body is not None:
                _put(tree, KEY_OPTIONS[section].path, body)
                names[KEY_OPTIONS[section].path] = str(section)
            continue
        if section not in SECTIONS:
            problems.append(f"{where}: unknown key {_quoted_with_hint(str(section), TOP_LEVEL)}")
            continue
        if body is None:
            continue
        if not isinstance(body, dict):
            problems.append(f"{where}: {section}: expected a mapping of keys, not {type(body).__name__}")
            continue
        for key, value in body.items():
            dotted = f"{section}.{key}"
            option = KEY_OPTIONS.get(dotted)
            if option is None:
                known = [name for name in KEY_OPTIONS if name.startswith(section + ".")]
                problems.append(f"{where}: unknown key {_quoted_with_hint(dotted, known)}")
                continue
            _put(tree, option.path, value)
            names[option.path] = dotted
    if problems:
        raise ConfigError(problems)
    return LayerSource(Settings, tree, names, where=f" (in {path})")


TOP_KEYS: tuple[str, ...] = tuple(option.key for option in OPTIONS if option.key and len(option.path) == 1)
"""Settings of the file's top level that are not sections: `accounts`."""
TOP_LEVEL: tuple[str, ...] = (*SECTIONS, *TOP_KEYS)


def _quoted_with_hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1) if len(name) <= MAX_SHOWN else []
    return f'"{shown(name)}"' + (f' (did you mean "{close[0]}"?)' if close else f" (known: {', '.join(known)})")


def unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """A warning for each `TIONE_EXPORTER_*` variable that names no setting, with the nearest that does.

    Not an error, unlike an unknown key in the file: the environment is shared with other software and
    older deployments, and a variable is easy to leave behind. Only names are quoted, never values.
    """
    known = [option.env for option in OPTIONS if option.env]
    file_only = {ENV_PREFIX + "_".join(option.path).upper(): option.key for option in OPTIONS if option.env is None}
    found = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        if name in file_only:
            found.append(f"environment variable {name} is ignored: {file_only[name]} is set in the --config.file only")
            continue
        # Compared without the prefix that every name shares, which would make any two names look alike.
        close = difflib.get_close_matches(
            name.removeprefix(ENV_PREFIX), [n.removeprefix(ENV_PREFIX) for n in known], n=1
        )
        hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
        found.append(f"unknown environment variable {shown(name)} is ignored{hint}")
    return found
