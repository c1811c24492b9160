"""Pydantic models of what the exporter reads through pydantic: the envelope of `DescribeModelServiceGroups`
and the listing's filters, and the base of the events' models (`exporter.tione.event_models`).

What the other answers hold is read as `msgspec` records (`exporter.tione.records`), one declaration per
object kind. The whole documented API objects, which nothing in production needs, are kept for the tests
(`tests/api_models.py`).

The API documents nearly every field as nullable and adds fields without notice, so every field is
optional and unknown fields are ignored rather than rejected. Enumerations stay plain strings: a value
the API invents tomorrow must reach the exporter intact instead of failing validation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


def lenient_time(value: Any) -> datetime | None:
    """A time as the API may send it, or None when it is absent or unreadable.

    The official SDK documents these fields as plain strings without promising a format; the API is known
    to send RFC 3339 (`Z` or offset), `YYYY-MM-DD HH:MM:SS` (UTC) and "" for none. Anything else means the
    time is unknown: it must never cost the object that carries it.
    """
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


Timestamp = Annotated[datetime | None, BeforeValidator(lenient_time)]
"""A time the SDK documents as `str`: RFC 3339 or `YYYY-MM-DD HH:MM:SS` (naive, taken as UTC); None if unreadable."""


class ApiModel(BaseModel):
    """Base of every API object: PascalCase on the wire, snake_case in Python, unknown keys ignored."""

    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        frozen=True,
        alias_generator=lambda name: "".join(part[:1].upper() + part[1:] for part in name.split("_")),
    )

    def to_api(self) -> dict[str, Any]:
        """The object as the API spells it (a request's filters), fields never set left out."""
        return self.model_dump(by_alias=True, mode="json", exclude_unset=True)


def as_utc(value: datetime | None) -> datetime | None:
    """Naive times from the API are UTC; everything downstream compares aware datetimes."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class TagFilter(ApiModel):
    tag_key: str | None = None
    tag_values: list[str] | None = None


class Filter(ApiModel):
    name: str | None = None
    values: list[str] | None = None
    negative: bool | None = None
    fuzzy: bool | None = None


class ServiceGroupsEnvelope(ApiModel):
    """`DescribeModelServiceGroups`' `Response` when its groups cannot be read in one pass: the envelope
    must fit, the groups are then read one by one as records (`decode.decode_groups`)."""

    total_count: int | None = None
    global_total_count: int | None = None
    request_id: str | None = None
