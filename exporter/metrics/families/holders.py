"""Training tasks and notebooks: the other holders of GPUs, and what they hold while they run.

A resource group's used GPUs include its training tasks and notebooks, and pay-as-you-go ones are billed
by the hour: these families say who they are (`*_info`, with the resource group and the workspace), what
state they are in, what they hold while running, since when, and on how many instances of which spec
(what the cost rules multiply by the spec's hourly price). Only unfinished ones are read (starting,
running, stopping), so a finished task's series go with it. Resources are the API's integer units
divided only here (`exporter.tione.holdings`): 2 instances of 4 cards are 8.0 GPUs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from exporter.metrics.families.family import Declare, Family, Kind, Sample
from exporter.metrics.families.fields import BYTES_PER_MIB, MILLICORES_PER_CORE, NONE, scalar, state_set, timestamp
from exporter.metrics.labels import REGION_LABEL, clean_value
from exporter.tione.holder_records import Notebook, TrainingTask
from exporter.tione.holders import NOTEBOOK_UNFINISHED, NOTEBOOKS_OF, TASKS_OF, TRAINING_UNFINISHED, Listed
from exporter.tione.holdings import Allocation, cards, is_running, notebook_allocation, task_allocation
from exporter.tione.snapshot import RegionSnapshot

H = TypeVar("H", TrainingTask, Notebook)


@dataclass(frozen=True, slots=True)
class Holder(Generic[H]):
    """A training task or notebook and the workspace (`TiProjectId`, "" the default one) it was listed in."""

    item: H
    project_id: str


def _info(holder: Holder[TrainingTask] | Holder[Notebook]) -> tuple[Sample, ...]:
    item = holder.item
    labels = (item.name or "", item.charge_type or "", item.resource_group_id or "", holder.project_id)
    return ((labels, 1.0),)


def _gpus(allocation: Allocation | None) -> list[Sample]:
    if allocation is None:
        return []
    by_card: dict[str, int] = {}
    for card, hundredths in allocation.gpus.items():
        name = clean_value(card)
        by_card[name] = by_card.get(name, 0) + hundredths
    return [((card,), cards(hundredths)) for card, hundredths in by_card.items()]


def _cpu(allocation: Allocation | None) -> tuple[Sample, ...]:
    if allocation is None or allocation.cpu is None:
        return NONE
    return scalar(allocation.cpu / MILLICORES_PER_CORE)


def _memory(allocation: Allocation | None) -> tuple[Sample, ...]:
    if allocation is None or allocation.memory is None:
        return NONE
    return scalar(float(allocation.memory * BYTES_PER_MIB))


def _task_instances(task: TrainingTask) -> list[Sample]:
    """Instances of each spec while running: what an hour of the task costs, in units of its specs."""
    if not is_running(task.status):
        return []
    by_spec: dict[str, int] = {}
    for role in task.resource_config_infos or ():
        if role.instance_type and role.instance_num:
            spec = clean_value(role.instance_type)
            by_spec[spec] = by_spec.get(spec, 0) + role.instance_num
    return [((spec,), float(count)) for spec, count in by_spec.items()]


def _notebook_instances(notebook: Notebook) -> tuple[Sample, ...]:
    conf = notebook.resource_conf
    if not is_running(notebook.status) or conf is None or not conf.instance_type:
        return NONE
    return (((clean_value(conf.instance_type),), 1.0),)


INFO_LABELS: tuple[str, ...] = ("charge_type", "resource_group_id", "tione_project_id")

TASK_SCOPE = "training_task"
TASK_IDENTITY: tuple[str, ...] = (REGION_LABEL, "training_task_id")
_task: Declare[Holder[TrainingTask]] = Declare(TASK_SCOPE, TASK_IDENTITY)

TASK_FAMILIES: tuple[Family[Holder[TrainingTask]], ...] = (
    _task(
        "tione_training_task_info",
        "An unfinished training task: its name, charge type, resource group and workspace (value 1).",
        "gauge",
        ("training_task_name", *INFO_LABELS),
        _info,
    ),
    _task(
        "tione_training_task_status",
        "Status of the training task: 1 for the current value, 0 for the other unfinished ones.",
        "gauge",
        ("status",),
        lambda h: state_set(h.item.status, TRAINING_UNFINISHED),
        states=TRAINING_UNFINISHED,
        opt_in=True,
    ),
    _task(
        "tione_training_task_allocated_gpus",
        "GPU cards the running training task holds by card model (sum over roles of Gpu / 100 x InstanceNum).",
        "gauge",
        ("gpu_type",),
        lambda h: _gpus(task_allocation(h.item)),
    ),
    _task(
        "tione_training_task_allocated_cpu_cores",
        "CPU cores the running training task holds (sum over roles of Cpu / 1000 x InstanceNum).",
        "gauge",
        (),
        lambda h: _cpu(task_allocation(h.item)),
        opt_in=True,
    ),
    _task(
        "tione_training_task_allocated_memory_bytes",
        "Memory the running training task holds, in bytes (sum over roles of Memory MB x InstanceNum).",
        "gauge",
        (),
        lambda h: _memory(task_allocation(h.item)),
        opt_in=True,
    ),
    _task(
        "tione_training_task_instances",
        "Instances of each spec the running training task runs on (sum of InstanceNum by InstanceType).",
        "gauge",
        ("spec",),
        lambda h: _task_instances(h.item),
    ),
    _task(
        "tione_training_task_start_timestamp_seconds",
        "When the training task started (StartTime), in Unix seconds.",
        "gauge",
        (),
        lambda h: timestamp(h.item.start_time),
        opt_in=True,
    ),
)

NOTEBOOK_SCOPE = "notebook"
NOTEBOOK_IDENTITY: tuple[str, ...] = (REGION_LABEL, "notebook_id")
_notebook: Declare[Holder[Notebook]] = Declare(NOTEBOOK_SCOPE, NOTEBOOK_IDENTITY)

NOTEBOOK_FAMILIES: tuple[Family[Holder[Notebook]], ...] = (
    _notebook(
        "tione_notebook_info",
        "A notebook not stopped: its name, charge type, resource group and workspace (value 1).",
        "gauge",
        ("notebook_name", *INFO_LABELS),
        _info,
    ),
    _notebook(
        "tione_notebook_status",
        "Status of the notebook: 1 for the current value, 0 for the other ones not stopped.",
        "gauge",
        ("status",),
        lambda h: state_set(h.item.status, NOTEBOOK_UNFINISHED),
        states=NOTEBOOK_UNFINISHED,
        opt_in=True,
    ),
    _notebook(
        "tione_notebook_allocated_gpus",
        "GPU cards the running notebook holds by card model (ResourceConf.Gpu / 100).",
        "gauge",
        ("gpu_type",),
        lambda h: _gpus(notebook_allocation(h.item)),
    ),
    _notebook(
        "tione_notebook_allocated_cpu_cores",
        "CPU cores the running notebook holds (ResourceConf.Cpu / 1000).",
        "gauge",
        (),
        lambda h: _cpu(notebook_allocation(h.item)),
        opt_in=True,
    ),
    _notebook(
        "tione_notebook_allocated_memory_bytes",
        "Memory the running notebook holds, in bytes (ResourceConf.Memory MB x 1048576).",
        "gauge",
        (),
        lambda h: _memory(notebook_allocation(h.item)),
        opt_in=True,
    ),
    _notebook(
        "tione_notebook_instances",
        "1 for the spec the running notebook runs on (ResourceConf.InstanceType).",
        "gauge",
        ("spec",),
        lambda h: _notebook_instances(h.item),
    ),
    _notebook(
        "tione_notebook_start_timestamp_seconds",
        "When the notebook started (StartTime), in Unix seconds: how long it has held its resources.",
        "gauge",
        (),
        lambda h: timestamp(h.item.start_time),
    ),
)


def _objects(
    listed: Callable[[RegionSnapshot], Listed[H]],
) -> Callable[[RegionSnapshot, RegionSnapshot], Iterable[tuple[str | None, Holder[H]]]]:
    def objects(snapshot: RegionSnapshot, _: RegionSnapshot) -> Iterable[tuple[str | None, Holder[H]]]:
        found = listed(snapshot)
        return ((item.id, Holder(item, found.workspaces.get(item.id or "", ""))) for item in found.items)

    return objects


TASK_KIND: Kind[RegionSnapshot, Holder[TrainingTask]] = Kind(
    TASK_SCOPE, TASK_IDENTITY, TASK_FAMILIES, _objects(TASKS_OF.of), order=90
)
NOTEBOOK_KIND: Kind[RegionSnapshot, Holder[Notebook]] = Kind(
    NOTEBOOK_SCOPE, NOTEBOOK_IDENTITY, NOTEBOOK_FAMILIES, _objects(NOTEBOOKS_OF.of), order=100
)

__all__: Sequence[str] = ("NOTEBOOK_KIND", "TASK_KIND", "Holder")
