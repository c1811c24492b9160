"""Strict checks of request parameters, shared by every action.

Each failure raises `ParameterError` with the API's code and a message naming the field, because a
lenient simulator would hide exactly the client mistakes it exists to catch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class ParameterError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    values: tuple[str, ...]
    negative: bool = False
    fuzzy: bool = False


FILTER_KEYS = frozenset({"Name", "Values", "Negative", "Fuzzy"})
TAG_FILTER_KEYS = frozenset({"TagKey", "TagValues"})


def check_keys(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ParameterError("UnknownParameter", f"The parameter `{unknown[0]}` is not recognized.")


def required(body: Mapping[str, Any], key: str, path: str | None = None) -> Any:
    """`body[key]`, or a `MissingParameter` naming it by `path` (default: `key`), e.g. `Filters.0.Name`."""
    if key not in body:
        raise ParameterError("MissingParameter", f"The request is missing a required parameter `{path or key}`.")
    return body[key]


def integer(body: Mapping[str, Any], key: str, default: int, low: int, high: int | None) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError("InvalidParameter", f"The value type of parameter `{key}` is not valid: want an integer.")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ParameterError("InvalidParameterValue", f"The value of parameter `{key}` must be {bound}, not {value}.")
    return value


def string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ParameterError("InvalidParameter", f"The value type of parameter `{key}` is not valid: want a string.")
    return value


def strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ParameterError("InvalidParameter", f"The value type of parameter `{key}` is not valid: want a list.")
    return tuple(string(item, f"{key}.{index}") for index, item in enumerate(value))


def boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ParameterError("InvalidParameter", f"The value type of parameter `{key}` is not valid: want a boolean.")
    return value


def choice(body: Mapping[str, Any], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = string(body.get(key, default), key)
    if value not in allowed:
        raise ParameterError(
            "InvalidParameterValue", f"The value of parameter `{key}` must be {' or '.join(allowed)}, not {value!r}."
        )
    return value


def objects(body: Mapping[str, Any], key: str, allowed: frozenset[str]) -> list[Mapping[str, Any]]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise ParameterError("InvalidParameter", f"The value type of parameter `{key}` is not valid: want a list.")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ParameterError(
                "InvalidParameter", f"The value type of parameter `{key}.{index}` is not valid: want an object."
            )
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise ParameterError("UnknownParameter", f"The parameter `{key}.{index}.{unknown[0]}` is not recognized.")
    return value


def filters(body: Mapping[str, Any], names: tuple[str, ...], *, fold_case: bool = False) -> tuple[Filter, ...]:
    """`Filters` whose `Name` is one of `names` (matched ignoring case with `fold_case`, then spelt as listed)."""
    found = []
    for index, item in enumerate(objects(body, "Filters", FILTER_KEYS)):
        prefix = f"Filters.{index}"
        name = string(required(item, "Name", f"{prefix}.Name"), f"{prefix}.Name")
        known = {(known.lower() if fold_case else known): known for known in names}
        canonical = known.get(name.lower() if fold_case else name)
        if canonical is None:
            raise ParameterError(
                "InvalidParameterValue",
                f"The value of parameter `{prefix}.Name` is not supported: {name!r} (known: {', '.join(names)}).",
            )
        values = strings(required(item, "Values", f"{prefix}.Values"), f"{prefix}.Values")
        found.append(
            Filter(
                name=canonical,
                values=values,
                negative=boolean(item.get("Negative", False), f"{prefix}.Negative"),
                fuzzy=boolean(item.get("Fuzzy", False), f"{prefix}.Fuzzy"),
            )
        )
    return tuple(found)


def tag_filters(body: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    found = []
    for index, item in enumerate(objects(body, "TagFilters", TAG_FILTER_KEYS)):
        prefix = f"TagFilters.{index}"
        key = string(required(item, "TagKey", f"{prefix}.TagKey"), f"{prefix}.TagKey")
        found.append((key, strings(item.get("TagValues", []), f"{prefix}.TagValues")))
    return tuple(found)


def tags_match(tags: list[dict[str, Any]], key: str, values: tuple[str, ...]) -> bool:
    return any(tag["TagKey"] == key and (not values or tag["TagValue"] in values) for tag in tags)


def rfc3339(body: Mapping[str, Any], key: str, default: float) -> float:
    """Unix seconds of an RFC 3339 time parameter (with a zone: `Z` or an offset), `default` when absent."""
    if key not in body:
        return default
    text = string(body[key], key)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in text.upper():
        raise ParameterError(
            "InvalidParameterValue",
            f"The value of parameter `{key}` is not an RFC 3339 time (e.g. 2024-01-02T03:04:05Z): {text!r}.",
        )
    return parsed.timestamp()


def workspace(project_id: str, workspaces: tuple[str, ...]) -> str:
    """The workspace a request acts on: `TiProjectId`, or the default one (the first) when it is empty."""
    chosen = project_id or workspaces[0]
    if chosen not in workspaces:
        raise ParameterError("ResourceNotFound", f"The workspace (TiProjectId) {project_id!r} does not exist.")
    return chosen
