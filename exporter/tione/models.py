"""Pydantic models of what the exporter reads through pydantic: the answers of `DescribeWorkspaces` and
`DescribeBillingResourceGroups`, the envelope of `DescribeModelServiceGroups`, and the listing's filters.

The service groups themselves are read as `msgspec` records (`exporter.tione.records`), the one
declaration of what is read of them; the events as `exporter.tione.event_models`. The whole documented
API objects, which nothing in production needs, are kept for the tests (`tests/api_models.py`).

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


class Tag(ApiModel):
    tag_key: str | None = None
    tag_value: str | None = None


class TagFilter(ApiModel):
    tag_key: str | None = None
    tag_values: list[str] | None = None


class Filter(ApiModel):
    name: str | None = None
    values: list[str] | None = None
    negative: bool | None = None
    fuzzy: bool | None = None


class GpuDetail(ApiModel):
    name: str | None = None
    value: int | None = None


class GroupResource(ApiModel):
    """What a resource group holds or uses (`DescribeBillingResourceGroups`): `Cpu` in 1/1000 core, `Memory`
    in MB, `Gpu` in 1/100 card (the sum of `GpuDetailSet`, whose entries give it by card model)."""

    cpu: int | None = None
    memory: int | None = None
    gpu: int | None = None
    gpu_detail_set: list[GpuDetail] | None = None


class ResourceGroup(ApiModel):
    """A dedicated (prepaid) resource group. Its `InstanceSet` (per-node figures) is not modelled: the
    exporter asks for none (`DontShowInstanceSet`) and reports the group's totals only."""

    resource_group_id: str | None = None
    resource_group_name: str | None = None
    free_instance: int | None = None
    total_instance: int | None = None
    used_resource: GroupResource | None = None
    total_resource: GroupResource | None = None
    tag_set: list[Tag] | None = None


class DescribeBillingResourceGroupsResponse(ApiModel):
    total_count: int | None = None
    """All groups matching the request, not just this page."""
    resource_group_set: list[ResourceGroup] | None = None
    request_id: str | None = None


class ServiceGroupsEnvelope(ApiModel):
    """`DescribeModelServiceGroups`' `Response` when its groups cannot be read in one pass: the envelope
    must fit, the groups are then read one by one as records (`decode.decode_groups`)."""

    total_count: int | None = None
    global_total_count: int | None = None
    request_id: str | None = None


class ResourceGroupInWorkspace(ApiModel):
    resource_group_id: str | None = None
    resource_group_name: str | None = None
    region: str | None = None
    occupied: bool | None = None


class Workspace(ApiModel):
    ti_project_id: str | None = None
    name: str | None = None
    description: str | None = None
    create_time: Timestamp = None
    resource_groups: list[ResourceGroupInWorkspace] | None = None
    action_type: list[str] | None = None
    status: str | None = None


class DescribeWorkspacesResponse(ApiModel):
    total_count: int | None = None
    workspaces: list[Workspace] | None = None
    request_id: str | None = None
