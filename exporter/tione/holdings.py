"""What a training task or notebook holds, and who holds a resource group's GPUs: pure arithmetic.

Everything is kept in the API's integer units (CPU in 1/1000 core, memory in MB, GPUs in 1/100 card by
card model) and only divided when a value is shown, so that the holders of a group and what nobody
accounts for add up to the group's used GPUs exactly, card model by card model.

A task or notebook holds resources while it runs (`RUNNING`, `Running`; compared ignoring case): one
that is starting waits for them and one that is stopping is giving them back. A task holds, for each of
its roles (`ResourceConfigInfos`), `InstanceNum` instances of the role's resources: 2 instances of 4
cards (`Gpu` 400) are 8 cards. A role without `InstanceNum` makes the task's holding unknown (None),
never a guess. A notebook holds its `ResourceConf`; the API fills `Cpu`, `Memory` and `Gpu` for notebooks
on a resource group, while a pay-as-you-go notebook may only name its spec (`InstanceType`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from exporter.tione.holder_records import Notebook, ResourceConf, ResourceConfigInfo, TrainingTask

RUNNING = "RUNNING"
GPU_HUNDREDTHS = 100
"""`Gpu` counts hundredths of a card."""

Cards = dict[str, int]
"""Hundredths of cards by card model."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one holder holds: CPU in 1/1000 core, memory in MB, GPUs in 1/100 card by card model (each
    None when the answer does not say)."""

    cpu: int | None = None
    memory: int | None = None
    gpus: Cards = field(default_factory=dict)


def is_running(status: str | None) -> bool:
    return status is not None and status.strip().upper() == RUNNING


def _cards(gpu: int | None, gpu_type: str | None, times: int) -> Cards:
    if not gpu:
        return {}
    return {gpu_type or "": gpu * times}


def _add(into: Cards, more: Mapping[str, int]) -> None:
    for card, value in more.items():
        into[card] = into.get(card, 0) + value


def _sum(values: Iterable[int | None]) -> int | None:
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def role_allocation(role: ResourceConfigInfo) -> Allocation | None:
    """`InstanceNum` times the role's resources; None without `InstanceNum`."""
    count = role.instance_num
    if count is None or count < 0:
        return None
    cpu = None if role.cpu is None else role.cpu * count
    memory = None if role.memory is None else role.memory * count
    return Allocation(cpu, memory, _cards(role.gpu, role.gpu_type, count))


def task_allocation(task: TrainingTask) -> Allocation | None:
    """What a running task holds, summed over its roles; None when it is not running or a role is unknown."""
    if not is_running(task.status):
        return None
    roles = [role_allocation(role) for role in task.resource_config_infos or ()]
    if any(role is None for role in roles):
        return None
    known = [role for role in roles if role is not None]
    gpus: Cards = {}
    for role in known:
        _add(gpus, role.gpus)
    cpu = _sum(role.cpu for role in known) if known else None
    memory = _sum(role.memory for role in known) if known else None
    return Allocation(cpu, memory, gpus)


def conf_allocation(conf: ResourceConf) -> Allocation:
    return Allocation(conf.cpu, conf.memory, _cards(conf.gpu, conf.gpu_type, 1))


def notebook_allocation(notebook: Notebook) -> Allocation | None:
    """What a running notebook holds; None when it is not running or says nothing of its resources."""
    if not is_running(notebook.status) or notebook.resource_conf is None:
        return None
    return conf_allocation(notebook.resource_conf)


def cards(hundredths: int) -> float:
    """Cards as shown: hundredths ÷ 100 (400 → 4.0)."""
    return hundredths / GPU_HUNDREDTHS


def held_by_group(allocations: Iterable[tuple[str | None, Allocation | None]]) -> dict[str, Cards]:
    """GPUs held per resource group from (resource group id, allocation) pairs; a holder without a group
    (pay-as-you-go) or without a known allocation holds nothing of any group."""
    held: dict[str, Cards] = {}
    for group_id, allocation in allocations:
        if group_id and allocation is not None and allocation.gpus:
            _add(held.setdefault(group_id, {}), allocation.gpus)
    return held


def tasks_by_group(tasks: Iterable[TrainingTask]) -> dict[str, Cards]:
    return held_by_group((task.resource_group_id, task_allocation(task)) for task in tasks)


def notebooks_by_group(notebooks: Iterable[Notebook]) -> dict[str, Cards]:
    return held_by_group((notebook.resource_group_id, notebook_allocation(notebook)) for notebook in notebooks)


@dataclass(frozen=True, slots=True)
class GroupGpus:
    """Who holds a resource group's used GPUs, in hundredths of cards by card model.

    `unattributed` is what the group reports as used less what the listed holders hold, never below 0;
    when no holder over-claims, `services + training_tasks + notebooks + unattributed == used` exactly."""

    used: Cards
    services: Cards = field(default_factory=dict)
    training_tasks: Cards = field(default_factory=dict)
    notebooks: Cards = field(default_factory=dict)

    @property
    def attributed(self) -> Cards:
        total: Cards = {}
        for held in (self.services, self.training_tasks, self.notebooks):
            _add(total, held)
        return total

    @property
    def unattributed(self) -> Cards:
        return unattributed(self.used, (self.services, self.training_tasks, self.notebooks))


def unattributed(used: Mapping[str, int], held: Iterable[Mapping[str, int]]) -> Cards:
    """Per card model of `used`, what the holders in `held` do not account for (never below 0)."""
    total: Cards = {}
    for one in held:
        _add(total, one)
    return {card: max(0, value - total.get(card, 0)) for card, value in used.items()}


def group_gpus(
    used: Mapping[str, Mapping[str, int]],
    services: Mapping[str, Mapping[str, int]],
    tasks: Iterable[TrainingTask],
    notebooks: Iterable[Notebook],
) -> dict[str, GroupGpus]:
    """Every resource group in `used` (its used GPUs by card model, by group id) with what its services
    (computed by the caller from the listing, by group id), running training tasks and notebooks hold."""
    by_task, by_notebook = tasks_by_group(tasks), notebooks_by_group(notebooks)
    return {
        group_id: GroupGpus(
            dict(cards_used),
            dict(services.get(group_id, {})),
            by_task.get(group_id, {}),
            by_notebook.get(group_id, {}),
        )
        for group_id, cards_used in used.items()
    }
