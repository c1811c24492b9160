"""The official Tencent Cloud SDK's documented types, and checks of our models and answers against them.

The SDK (`tencentcloud-sdk-python-tione`) documents each field of each API object in its model's
`__init__` docstring (`:type Name: int`, `:type Tags: list of Tag`, ``:type Status: :class:`...WorkloadStatus` ``)
and reads nested objects in `_deserialize`. That is what the real API sends; our models must accept
every value of those types, and our simulator and fixtures must send nothing else.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import tencentcloud.monitor.v20180724.models as monitor_sdk
import tencentcloud.tione.v20211111.models as sdk
from pydantic import BaseModel, ValidationError

__all__ = ["monitor_sdk", "sdk"]
"""The SDK modules: TI-ONE's (the default of every function here) and Cloud Monitor's."""

SCALARS = ("str", "int", "bool", "float")

SAMPLES: dict[str, tuple[Any, ...]] = {
    "str": ("", "x", "60", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05", "not a time"),
    "int": (0, 60, -1, 2**40),
    "bool": (True, False),
    "float": (0.0, 1.5, 60),
}
"""Values of each documented type a field must accept (a documented `float` may arrive as a JSON integer)."""


@dataclass(frozen=True)
class SdkType:
    """One documented field type: a scalar name or an SDK class name, possibly a list of it."""

    name: str
    is_list: bool

    @property
    def is_object(self) -> bool:
        return self.name not in SCALARS

    def __str__(self) -> str:
        return f"list of {self.name}" if self.is_list else self.name


_CLASS_REF = re.compile(r":class:`(?:[\w.]+\.)?(\w+)`")


def parse_type(text: str) -> SdkType:
    text = text.strip()
    is_list = text.startswith("list of ")
    if is_list:
        text = text[len("list of ") :].strip()
    ref = _CLASS_REF.fullmatch(text)
    return SdkType(ref.group(1) if ref else text, is_list)


def sdk_class(name: str, models: types.ModuleType = sdk) -> type[sdk.AbstractModel]:
    """SDK model `name` of `models` (TI-ONE's by default, `monitor_sdk` for Cloud Monitor, STS's module for STS)."""
    cls = getattr(models, name, None)
    if not (inspect.isclass(cls) and issubclass(cls, sdk.AbstractModel)):
        raise KeyError(f"the SDK has no model {name}")
    return cls


def documented_fields(name: str, models: types.ModuleType = sdk) -> dict[str, SdkType]:
    """The fields of SDK model `name` with their documented types, in the SDK's order."""
    doc = sdk_class(name, models).__init__.__doc__ or ""
    return {field: parse_type(text) for field, text in re.findall(r":type (\w+): ([^\n]+)", doc)}


def deserialized_classes(name: str, models: types.ModuleType = sdk) -> dict[str, str]:
    """Field -> SDK class that `_deserialize` builds for it (the documented type, as the code reads it)."""
    source = inspect.getsource(sdk_class(name, models)._deserialize)
    found: dict[str, str] = {}
    pattern = r'params\.get\("(\w+)"\) is not None:\s*self\._\w+ = (?:\[\]\s*for item in params\.get\("\w+"\):\s*obj = )?(\w+)\(\)'
    for field, cls in re.findall(pattern, source):
        found[field] = cls
    return found


def _unwrap(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model class an annotation holds (through Optional, list, Annotated), and whether it is a list."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                found, is_list = _unwrap(arg)
                if found is not None:
                    return found, is_list
        return None, False
    if origin is list:
        inner, _ = _unwrap(typing.get_args(annotation)[0])
        return inner, True
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def _alias(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    return field.alias or name


def model_fields_by_alias(model: type[BaseModel]) -> dict[str, str]:
    return {_alias(model, name): name for name in model.model_fields}


def sample_values(kind: SdkType) -> tuple[Any, ...]:
    """JSON values of a documented type: each scalar sample, or an empty object of a class (its own fields
    are checked where the class is checked), in a list when the field is a list."""
    values: tuple[Any, ...] = SAMPLES[kind.name] if not kind.is_object else ({},)
    if kind.is_list:
        return ([], list(values), *([value] for value in values))
    return values


def model_pairs(model: type[BaseModel], sdk_name: str) -> Iterator[tuple[type[BaseModel], str]]:
    """(our model, the SDK's class) for `model` and every model reachable from it through documented fields."""
    seen: set[tuple[type[BaseModel], str]] = set()
    todo = [(model, sdk_name)]
    while todo:
        pair = todo.pop()
        if pair in seen:
            continue
        seen.add(pair)
        yield pair
        ours, theirs = pair
        by_alias = model_fields_by_alias(ours)
        for field, kind in documented_fields(theirs).items():
            if not kind.is_object or field not in by_alias:
                continue
            nested, _ = _unwrap(ours.model_fields[by_alias[field]].annotation)
            if nested is not None:
                todo.append((nested, kind.name))


def mismatches(model: type[BaseModel], sdk_name: str, ignored: dict[str, frozenset[str]]) -> list[str]:
    """Every way `model` (and what it reaches) disagrees with the SDK's class `sdk_name`.

    - a documented field missing from our model and not listed in `ignored[sdk class]`;
    - a documented field whose value of the documented type our model rejects;
    - a field `_deserialize` builds as another class than the documented one (the SDK contradicting itself).
    """
    problems: list[str] = []
    for ours, theirs in model_pairs(model, sdk_name):
        by_alias = model_fields_by_alias(ours)
        documented = documented_fields(theirs)
        for field, cls in deserialized_classes(theirs).items():
            if field in documented and documented[field].name != cls:
                problems.append(f"{theirs}.{field}: documented as {documented[field]}, _deserialize builds {cls}")
        for field, kind in documented.items():
            if field not in by_alias:
                if field not in ignored.get(theirs, frozenset()):
                    problems.append(f"{theirs}.{field} ({kind}) is not modelled by {ours.__name__}")
                continue
            for value in sample_values(kind):
                try:
                    ours.model_validate({field: value})
                except ValidationError as exc:
                    reason = exc.errors(include_url=False)[0]["msg"]
                    problems.append(f"{theirs}.{field} ({kind}): {ours.__name__} rejects {value!r}: {reason}")
                    break
    return problems


def _json_type_ok(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, dict)


def answer_mismatches(
    value: dict[str, Any], sdk_name: str, path: str = "", models: types.ModuleType = sdk
) -> list[str]:
    """Every value of a JSON answer whose type is not the one the SDK documents (null is always allowed),
    and every key the SDK does not document, with its path."""
    problems: list[str] = []
    documented = documented_fields(sdk_name, models)
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        kind = documented.get(key)
        if kind is None:
            problems.append(f"{where}: not documented on {sdk_name}")
            continue
        if item is None:
            continue
        items: list[Any]
        if kind.is_list:
            if not isinstance(item, list):
                problems.append(f"{where}: {type(item).__name__} where the SDK documents {kind}")
                continue
            items = item
        else:
            items = [item]
        for index, element in enumerate(items):
            at = f"{where}[{index}]" if kind.is_list else where
            if not _json_type_ok(kind.name, element):
                problems.append(f"{at}: {type(element).__name__} {element!r:.40} where the SDK documents {kind.name}")
            elif kind.is_object:
                problems += answer_mismatches(element, kind.name, at, models)
    return problems


def record_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The record class an annotation holds (through Optional and list), if any."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        found = [record_of(arg) for arg in typing.get_args(annotation)]
        return next((item for item in found if item is not None), None)
    return annotation if inspect.isclass(annotation) and issubclass(annotation, msgspec.Struct) else None


def record_mismatches(
    record: type[msgspec.Struct],
    sdk_name: str,
    ignored: frozenset[str] = frozenset(),
    models: types.ModuleType = sdk,
) -> tuple[list[str], set[str]]:
    """Every way a record of the poll (and the records it nests) disagrees with the SDK's class `sdk_name`,
        read both ways a poll reads an answer (from the body's bytes, and from decoded JSON): a field the SDK
        does not document (but those in `ignored`), or a value of the documented type the record rejects. Also
    the SDK classes reached."""
    problems: list[str] = []
    reached: set[str] = set()
    todo = [(record, sdk_name)]
    while todo:
        ours, theirs = todo.pop()
        if theirs in reached:
            continue
        reached.add(theirs)
        documented = documented_fields(theirs, models)
        hints = typing.get_type_hints(ours)
        for field in msgspec.structs.fields(ours):
            kind = documented.get(field.encode_name)
            if kind is None and field.encode_name in ignored:
                continue
            if kind is None:
                problems.append(f"{ours.__name__}.{field.encode_name} is not documented on {theirs}")
                continue
            nested = record_of(hints[field.name])
            if nested is not None:
                todo.append((nested, kind.name))
            for value in sample_values(kind):
                document = {field.encode_name: value}
                try:
                    msgspec.json.decode(json.dumps(document).encode(), type=ours, strict=False)
                    msgspec.convert(document, ours, strict=False)
                except msgspec.ValidationError as exc:
                    problems.append(f"{theirs}.{field.encode_name} ({kind}): {ours.__name__} rejects {value!r}: {exc}")
                    break
    return problems, reached


def record_wire_names(record: type[msgspec.Struct]) -> set[str]:
    """Every wire name a record and the records it nests declare: what a one-pass read can ever build."""
    names: set[str] = set()
    todo, seen = [record], set()
    while todo:
        ours = todo.pop()
        if ours in seen:
            continue
        seen.add(ours)
        hints = typing.get_type_hints(ours)
        for field in msgspec.structs.fields(ours):
            names.add(field.encode_name)
            nested = record_of(hints[field.name])
            if nested is not None:
                todo.append(nested)
    return names
