"""Reading a list of API objects one by one, so that one odd object costs that object, never the page.

The API adds and changes fields without notice, and nothing it sends is worth a blind region: an
object whose JSON does not fit the models is repaired where that is safe and left out where it is not.

- A field the exporter does not read (the caller says which it reads) that does not fit is dropped,
  and the object is kept whole: a wrong type in a field nobody looks at costs nothing.
- A field the exporter reads that does not fit costs the smallest object that holds it: the service
  when it lies inside one of a group's services, else the group. Its other services, the other groups,
  pages and workspaces are kept.
- Every object left out is reported as a `Skipped` record: kind, id, the field path (never the value:
  it may be anything, a secret included) and a reason from `SKIP_REASONS`.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from exporter.tione.models import Service, ServiceGroup

Kind = Literal["service_group", "service", "workspace"]
Reason = Literal["not_an_object", "wrong_type", "no_id", "not_readable"]
SKIP_LABELS: tuple[tuple[Kind, Reason], ...] = (
    ("service_group", "not_an_object"),
    ("service_group", "wrong_type"),
    ("service_group", "no_id"),
    ("service", "not_an_object"),
    ("service", "wrong_type"),
    ("service", "no_id"),
    ("workspace", "not_readable"),
)
"""Every (kind, reason) an object can be left out for: the label values of
`tione_exporter_skipped_objects_total`, each series there from the start."""

Reads = Mapping[type[BaseModel], frozenset[str]]
"""Per model class, the fields the exporter reads (Python names). A field is unread when it is missing
from its class's set; a class without a set is taken as read whole, so that forgetting one costs an
object rather than hiding a broken field the exporter relies on."""

_NOT_AN_OBJECT = frozenset({"model_type", "model_attributes_type", "dict_type"})
SERVICES = "Services"


@dataclass(frozen=True, slots=True)
class Skipped:
    """One object left out of an answer."""

    kind: Kind
    object_id: str
    """Its id as the answer gave it, or "" when it has none that can be read."""
    group_id: str
    """The id of the group it belongs to (its own id for a group), or ""."""
    path: str
    """Where in the group the problem is, e.g. `Services[0].ServiceInfo.Replicas` ("" for the group itself)."""
    reason: Reason
    detail: str = ""
    """What else explains it: for a workspace, the API's error code."""


@dataclass(frozen=True, slots=True)
class Decoded:
    groups: list[ServiceGroup]
    skipped: list[Skipped]
    dropped: int
    """Fields the exporter does not read that were dropped because they did not fit."""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class inside an annotation (through Optional and list), if any. An annotation this does
    not see into ends the search, and the fields below count as read: the safe side."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _by_alias(model: type[BaseModel]) -> dict[str, str]:
    return {(info.alias or name): name for name, info in model.model_fields.items()}


def _unread(model: type[BaseModel], loc: Sequence[int | str], reads: Reads | None) -> int | None:
    """How many parts of the error's path `loc` reach the first field on it that the exporter does not
    read (everything below it goes unread too), or None when every field on the path is read."""
    current: type[BaseModel] | None = model
    for depth, part in enumerate(loc, start=1):
        if isinstance(part, int):
            continue
        if current is None:
            return None
        name = _by_alias(current).get(part)
        if name is None:
            return None
        if reads is not None and name not in reads.get(current, frozenset(current.model_fields)):
            return depth
        current = _model_of(current.model_fields[name].annotation)
    return None


def _reason(error: ErrorDetails) -> Reason:
    return "not_an_object" if error["type"] in _NOT_AN_OBJECT else "wrong_type"


def field_path(loc: Sequence[int | str]) -> str:
    """`Services[0].ServiceInfo.Replicas` for `("Services", 0, "ServiceInfo", "Replicas")`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _delete(document: Any, keys: Sequence[int | str]) -> None:
    """Remove the field at `keys` (a path the validator reported, so it leads somewhere) from a JSON document;
    already removed is fine (two errors below one unread field share its path)."""
    for key in keys[:-1]:
        document = document[key]
    document.pop(keys[-1], None)


def _group(item: dict[str, Any], reads: Reads | None, skipped: list[Skipped]) -> tuple[ServiceGroup | None, int]:
    """One group, repaired where safe; None when it must be left out. Also the count of fields dropped."""
    try:
        return ServiceGroup.model_validate(item), 0
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
    group_id = _text(item.get("ServiceGroupId"))
    services = item.get(SERVICES)
    drop: list[tuple[int | str, ...]] = []
    bad_services: dict[int, Skipped] = {}
    for error in errors:
        loc = tuple(error["loc"])
        index = loc[1] if len(loc) > 1 and loc[0] == SERVICES and isinstance(loc[1], int) else None
        if index is not None and isinstance(services, list):
            service = services[index]
            service_id = _text(service.get("ServiceId")) if isinstance(service, dict) else ""
            unread = _unread(Service, loc[2:], reads)
            if unread is not None:
                drop.append(loc[: 2 + unread])
            elif index not in bad_services:
                bad_services[index] = Skipped("service", service_id, group_id, field_path(loc), _reason(error))
            continue
        unread = _unread(ServiceGroup, loc, reads)
        if unread is not None:
            drop.append(loc[:unread])
            continue
        skipped.append(Skipped("service_group", group_id, group_id, field_path(loc), _reason(error)))
        return None, 0
    repaired = copy.deepcopy(item)
    for keys in drop:
        _delete(repaired, keys)
    if bad_services and isinstance(services, list):
        repaired[SERVICES] = [service for index, service in enumerate(repaired[SERVICES]) if index not in bad_services]
    try:
        group = ServiceGroup.model_validate(repaired)
    except ValidationError as exc:  # a repair that did not hold: the group cannot be trusted
        error = exc.errors(include_url=False, include_input=False)[0]
        skipped.append(Skipped("service_group", group_id, group_id, field_path(error["loc"]), _reason(error)))
        return None, 0
    skipped.extend(bad_services[index] for index in sorted(bad_services))
    return group, len(drop)


def decode_groups(items: Sequence[Any], reads: Reads | None = None) -> Decoded:
    """The service groups of one answer's `ServiceGroups`, object by object (see the module docstring).

    A group or a service without an id is left out too (`no_id`): it cannot be told apart or labelled.
    """
    groups: list[ServiceGroup] = []
    skipped: list[Skipped] = []
    dropped = 0
    for item in items:
        if not isinstance(item, dict):
            skipped.append(Skipped("service_group", "", "", "", "not_an_object"))
            continue
        group, fixed = _group(item, reads, skipped)
        dropped += fixed
        if group is None:
            continue
        if not group.service_group_id:
            skipped.append(Skipped("service_group", "", "", "ServiceGroupId", "no_id"))
            continue
        anonymous = [i for i, service in enumerate(group.services or ()) if not service.service_id]
        if anonymous:
            group_id = group.service_group_id
            skipped.extend(Skipped("service", "", group_id, f"{SERVICES}[{i}].ServiceId", "no_id") for i in anonymous)
            kept = [service for service in group.services or () if service.service_id]
            group = group.model_copy(update={"services": kept})
        groups.append(group)
    return Decoded(groups, skipped, dropped)
