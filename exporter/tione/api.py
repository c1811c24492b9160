"""The TI-ONE API's identity: the service name that signs every request, the version every action is
called in, and the name of every action the exporter calls.

Each source module binds its action (`listing.ACTION = api.DESCRIBE_MODEL_SERVICE_GROUPS`, ...); the
simulator imports this module, and no source module, so that it answers exactly what the exporter asks.
A new source adds its action's name here.
"""

from __future__ import annotations

SERVICE = "tione"
VERSION = "2021-11-11"

DESCRIBE_MODEL_SERVICE_GROUPS = "DescribeModelServiceGroups"
"""Service groups with their services and pods, by workspace (`listing.py`, the primary source)."""
DESCRIBE_WORKSPACES = "DescribeWorkspaces"
"""The workspaces of the account (`workspaces.py`)."""
DESCRIBE_BILLING_RESOURCE_GROUPS = "DescribeBillingResourceGroups"
"""Dedicated resource groups with their capacity and usage (`resource_groups.py`)."""
DESCRIBE_EVENTS = "DescribeEvents"
"""Warning events of a service (`events.py`)."""
DESCRIBE_TRAINING_TASKS = "DescribeTrainingTasks"
"""Training tasks of a workspace, which hold GPUs of resource groups too (`holders.py`)."""
DESCRIBE_NOTEBOOKS = "DescribeNotebooks"
"""Notebooks of a workspace, which hold GPUs of resource groups too (`holders.py`)."""
DESCRIBE_BILLING_SPECS_PRICE = "DescribeBillingSpecsPrice"
"""Hourly prices of pay-as-you-go specs (`prices.py`)."""

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
