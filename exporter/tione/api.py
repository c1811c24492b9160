"""The TI-ONE API's identity: the service name that signs every request and the version every action is
called in, with what an action's parameters may say.

Each source module spells its own action (`listing.ACTION = "DescribeModelServiceGroups"`, ...), so a new
source is one module more and no line here; the simulator spells the actions it serves itself, as the real
API would, and a test holds every source's action to what the simulator serves.
"""

from __future__ import annotations

SERVICE = "tione"
VERSION = "2021-11-11"

SERVICE_GROUP_FILTERS: tuple[str, ...] = (
    "ClusterId",
    "ServiceId",
    "ServiceGroupName",
    "ServiceGroupId",
    "Status",
    "CreatedBy",
    "ModelVersionId",
)
"""The `Filters[].Name` values `DescribeModelServiceGroups` understands."""
