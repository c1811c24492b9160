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
from exporter.metrics.families.fields import NONE, cpu_cores, memory_bytes, state_set, timestamp
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


@dataclass(frozen=True, slots=True)
class _HolderHelp:
    """What the families of training tasks and notebooks say differently: nouns, API fields, opt-ins."""

    noun: str
    info: str
    status: str
    gpus: str
    cpu: str
    memory: str
    instances: str
    start: str
    start_opt_in: bool


def _families(
    declare: Declare[Holder[H]],
    prefix: str,
    *,
    states: tuple[str, ...],
    allocation: Callable[[H], Allocation | None],
    instances: Callable[[H], Sequence[Sample]],
    text: _HolderHelp,
) -> tuple[Family[Holder[H]], ...]:
    """The families of one kind of holder: both kinds say the same things of what they hold."""
    return (
        declare(f"{prefix}_info", text.info, "gauge", (f"{declare.scope}_name", *INFO_LABELS), _info),
        declare(
            f"{prefix}_status",
            text.status,
            "gauge",
            ("status",),
            lambda h: state_set(h.item.status, states),
            states=states,
            opt_in=True,
        ),
        declare(
            f"{prefix}_allocated_gpus",
            f"GPU cards the running {text.noun} holds by card model ({text.gpus}).",
            "gauge",
            ("gpu_type",),
            lambda h: _gpus(allocation(h.item)),
        ),
        declare(
            f"{prefix}_allocated_cpu_cores",
            f"CPU cores the running {text.noun} holds ({text.cpu}).",
            "gauge",
            (),
            lambda h: cpu_cores(allocation(h.item)),
            opt_in=True,
        ),
        declare(
            f"{prefix}_allocated_memory_bytes",
            f"Memory the running {text.noun} holds, in bytes ({text.memory}).",
            "gauge",
            (),
            lambda h: memory_bytes(allocation(h.item)),
            opt_in=True,
        ),
        declare(f"{prefix}_instances", text.instances, "gauge", ("spec",), lambda h: instances(h.item)),
        declare(
            f"{prefix}_start_timestamp_seconds",
            text.start,
            "gauge",
            (),
            lambda h: timestamp(h.item.start_time),
            opt_in=text.start_opt_in,
        ),
    )


TASK_SCOPE = "training_task"
TASK_IDENTITY: tuple[str, ...] = (REGION_LABEL, "training_task_id")

TASK_FAMILIES: tuple[Family[Holder[TrainingTask]], ...] = _families(
    Declare(TASK_SCOPE, TASK_IDENTITY),
    "tione_training_task",
    states=TRAINING_UNFINISHED,
    allocation=task_allocation,
    instances=_task_instances,
    text=_HolderHelp(
        noun="training task",
        info="An unfinished training task: its name, charge type, resource group and workspace (value 1).",
        status="Status of the training task: 1 for the current value, 0 for the other unfinished ones.",
        gpus="sum over roles of Gpu / 100 x InstanceNum",
        cpu="sum over roles of Cpu / 1000 x InstanceNum",
        memory="sum over roles of Memory MB x InstanceNum",
        instances="Instances of each spec the running training task runs on (sum of InstanceNum by InstanceType).",
        start="When the training task started (StartTime), in Unix seconds.",
        start_opt_in=True,
    ),
)

NOTEBOOK_SCOPE = "notebook"
NOTEBOOK_IDENTITY: tuple[str, ...] = (REGION_LABEL, "notebook_id")

NOTEBOOK_FAMILIES: tuple[Family[Holder[Notebook]], ...] = _families(
    Declare(NOTEBOOK_SCOPE, NOTEBOOK_IDENTITY),
    "tione_notebook",
    states=NOTEBOOK_UNFINISHED,
    allocation=notebook_allocation,
    instances=_notebook_instances,
    text=_HolderHelp(
        noun="notebook",
        info="A notebook not stopped: its name, charge type, resource group and workspace (value 1).",
        status="Status of the notebook: 1 for the current value, 0 for the other ones not stopped.",
        gpus="ResourceConf.Gpu / 100",
        cpu="ResourceConf.Cpu / 1000",
        memory="ResourceConf.Memory MB x 1048576",
        instances="1 for the spec the running notebook runs on (ResourceConf.InstanceType).",
        start="When the notebook started (StartTime), in Unix seconds: how long it has held its resources.",
        start_opt_in=False,
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
