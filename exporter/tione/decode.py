"""Reading the service groups of an answer, so that one odd object costs that object, never the page.

The API adds and changes fields without notice, and nothing it sends is worth a blind region. The
records (`exporter.tione.records`) hold only the fields the exporter reads, so:

- A field the exporter does not read is skipped by the decoder whatever it holds: it costs nothing.
- A field the exporter reads that does not fit costs the smallest object that holds it: the service
  when it lies inside one of a group's services, else the group. Its other services, the other groups,
  pages and workspaces are kept.
- Every object left out is reported as a `Skipped` record: kind, id, the field path (never the value:
  it may be anything, a secret included) and a reason from `SKIP_LABELS`.

A whole page is decoded from the answer's bytes in one pass (`decode_answer`), which is faster than
`json.loads` alone; only when that fails is the page read again object by object (`decode_groups`),
which finds what does not fit and reproduces the page's outcome minus those objects.

Free text longer than the records keep (`records.FreeText`) costs nothing either: it makes the one-pass
read fail, and the object-by-object read cuts it where the decoder points and reads the object again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import msgspec

from exporter.tione.records import Service, ServiceGroup, ServiceGroupsAnswer, ServiceGroupsBody
from exporter.tione.text import KEPT_TEXT

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

SERVICES = "Services"
_ANSWER = msgspec.json.Decoder(ServiceGroupsBody, strict=False)
_AT = re.compile(r" - at `\$([^`]*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_TOO_LONG = f"Expected `str` of length <= {KEPT_TEXT}"
R = TypeVar("R", Service, ServiceGroup)


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


def decode_answer(content: bytes) -> ServiceGroupsAnswer | None:
    """The `Response` of an answer's body with every group in it, or None when anything does not fit
    (or it is an error answer): the caller then reads the body untyped and each group on its own."""
    try:
        answer = _ANSWER.decode(content).response
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    return answer if answer.error is None else None


def _location(error: msgspec.ValidationError) -> tuple[int | str, ...]:
    """The path of the first misfit as keys and indices, from the decoder's message (`... - at `$.A[0].B``)."""
    found = _AT.search(str(error))
    if found is None:
        return ()
    return tuple(key if key else int(index) for key, index in _STEP.findall(found.group(1)))


def field_path(loc: Sequence[int | str]) -> str:
    """`Services[0].ServiceInfo.Replicas` for `("Services", 0, "ServiceInfo", "Replicas")`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _reason(error: msgspec.ValidationError) -> Reason:
    return "not_an_object" if str(error).startswith("Expected `object") else "wrong_type"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _cut(item: Any, loc: tuple[int | str, ...]) -> Any:
    """`item` with the text at `loc` cut to `KEPT_TEXT` characters, the containers on the way copied (the
    answer is left as it was); None when there is no longer text there."""
    if not loc:
        return None if not isinstance(item, str) or len(item) <= KEPT_TEXT else item[:KEPT_TEXT]
    step, rest = loc[0], loc[1:]
    if isinstance(item, dict) and isinstance(step, str) and step in item:
        inner = _cut(item[step], rest)
        return None if inner is None else {**item, step: inner}
    if isinstance(item, list) and isinstance(step, int) and 0 <= step < len(item):
        inner = _cut(item[step], rest)
        return None if inner is None else [*item[:step], inner, *item[step + 1 :]]
    return None


def _convert(item: Any, kind: type[R]) -> R:
    """`item` as a `kind` record, each free text the records keep shorter cut first (see the module
    docstring); raises `msgspec.ValidationError` for anything else that does not fit."""
    while True:
        try:
            return msgspec.convert(item, kind, strict=False)
        except msgspec.ValidationError as exc:
            shorter = _cut(item, _location(exc)) if str(exc).startswith(_TOO_LONG) else None
            if shorter is None:
                raise
            item = shorter


def _service(item: Any, index: int, group_id: str, skipped: list[Skipped]) -> Service | None:
    try:
        return _convert(item, Service)
    except msgspec.ValidationError as exc:
        service_id = _text(item.get("ServiceId")) if isinstance(item, dict) else ""
        path = field_path((SERVICES, index, *_location(exc)))
        skipped.append(Skipped("service", service_id, group_id, path, _reason(exc)))
        return None


def _group(item: dict[str, Any], skipped: list[Skipped]) -> ServiceGroup | None:
    """One group, or None when a field of its own does not fit; a service that does not fit is left out."""
    try:
        return _convert(item, ServiceGroup)
    except msgspec.ValidationError as exc:
        error = exc
    group_id = _text(item.get("ServiceGroupId"))
    loc = _location(error)
    services = item.get(SERVICES)
    if len(loc) < 2 or loc[0] != SERVICES or not isinstance(services, list):
        skipped.append(Skipped("service_group", group_id, group_id, field_path(loc), _reason(error)))
        return None
    try:
        group = _convert({**item, SERVICES: None}, ServiceGroup)
    except msgspec.ValidationError as exc:
        loc = _location(exc)
        skipped.append(Skipped("service_group", group_id, group_id, field_path(loc), _reason(exc)))
        return None
    own: list[Skipped] = []
    kept = [service for index, item in enumerate(services) if (service := _service(item, index, group_id, own))]
    skipped.extend(own)
    return msgspec.structs.replace(group, services=kept)


def identified(groups: list[ServiceGroup], skipped: list[Skipped]) -> list[ServiceGroup]:
    """The groups that can be told apart: one without an id is left out, and so is a service without one."""
    kept: list[ServiceGroup] = []
    for group in groups:
        group_id = group.service_group_id
        if not group_id:
            skipped.append(Skipped("service_group", "", "", "ServiceGroupId", "no_id"))
            continue
        services = group.services
        if not services or all(service.service_id for service in services):
            kept.append(group)
            continue
        skipped.extend(
            Skipped("service", "", group_id, f"{SERVICES}[{index}].ServiceId", "no_id")
            for index, service in enumerate(services)
            if not service.service_id
        )
        kept.append(msgspec.structs.replace(group, services=[service for service in services if service.service_id]))
    return kept


def decode_groups(items: Sequence[Any]) -> Decoded:
    """The service groups of one answer's `ServiceGroups` (decoded JSON), object by object (see the
    module docstring). A group or a service without an id is left out too (`no_id`): it cannot be told
    apart or labelled."""
    groups: list[ServiceGroup] = []
    skipped: list[Skipped] = []
    for item in items:
        if not isinstance(item, dict):
            skipped.append(Skipped("service_group", "", "", "", "not_an_object"))
            continue
        group = _group(item, skipped)
        if group is None:
            continue
        groups.extend(identified([group], skipped))
    return Decoded(groups, skipped)
