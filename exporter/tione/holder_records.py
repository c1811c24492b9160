"""What is read of the other GPU holders and of prices: `DescribeTrainingTasks`, `DescribeNotebooks` and
`DescribeBillingSpecsPrice`, as small `msgspec` records decoded straight from the answer's bytes.

Only the fields the exporter reports are declared (ids, names, status, charge, resource group, resources,
start time, spec names and prices). That is also the secrets rule: a training task's `Envs` and
`CallbackUrl` and a notebook's `SSHConfig` may hold tokens and keys, and a field a record does not
declare is skipped by the decoder without being built, so they are never in the exporter's objects,
whatever they hold. Like the service records (`exporter.tione.records`), the records are frozen, not
tracked by the cyclic collector, lax about numbers sent as strings, and every field is optional.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from exporter.tione.models import lenient_time
from exporter.tione.records import Answer, Body, Record, Resources


class ResourceConf(Resources, frozen=True):
    """A notebook's resources, and what each role of a training task has per instance: `Gpu` cards of
    `GpuType` (set for those on a resource group); `InstanceType` the pay-as-you-go spec name (priced by
    `DescribeBillingSpecsPrice`)."""

    gpu_type: str | None = None
    instance_type: str | None = None


class ResourceConfigInfo(ResourceConf, frozen=True):
    """One role of a training task: `InstanceNum` instances, each with these resources."""

    role: str | None = None
    instance_num: int | None = None


class GpuHolder(Record, frozen=True):
    """What a training task and a notebook both say of themselves: who they are, how they are charged,
    where they run, their status and since when."""

    id: str | None = None
    name: str | None = None
    charge_type: str | None = None
    charge_status: str | None = None
    resource_group_id: str | None = None
    status: str | None = None
    start_time_sent: Any = msgspec.field(default=None, name="StartTime")

    @property
    def start_time(self) -> datetime | None:
        return lenient_time(self.start_time_sent)


class TrainingTask(GpuHolder, frozen=True):
    resource_config_infos: list[ResourceConfigInfo] | None = None


class Notebook(GpuHolder, frozen=True):
    resource_conf: ResourceConf | None = None


class SpecPrice(Record, frozen=True):
    """The price of `SpecCount` units of a spec for an hour, in fen: `TotalCost` the list price,
    `RealTotalCost` after the account's discount."""

    spec_name: str | None = None
    spec_count: int | None = None
    total_cost: int | None = None
    real_total_cost: int | None = None


class TrainingTasksAnswer(Answer, frozen=True):
    """The `Response` of `DescribeTrainingTasks`."""

    total_count: int | None = None
    training_task_set: list[TrainingTask] | None = None


class NotebooksAnswer(Answer, frozen=True):
    total_count: int | None = None
    notebook_set: list[Notebook] | None = None


class SpecsPriceAnswer(Answer, frozen=True):
    specs_price: list[SpecPrice] | None = None


TrainingTasksBody = Body[TrainingTasksAnswer]
NotebooksBody = Body[NotebooksAnswer]
SpecsPriceBody = Body[SpecsPriceAnswer]


HOLDER_RECORDS: tuple[type[Record], ...] = (TrainingTask, ResourceConfigInfo, Notebook, ResourceConf, SpecPrice)
"""Every record below an answer, each named like the SDK model it is a part of (but `TrainingTaskSetItem`
and `NotebookSetItem`)."""
