"""Training tasks and notebooks: `DescribeTrainingTasks` and `DescribeNotebooks`, and what they hold.

A running task or notebook on a resource group holds that group's capacity: `RegionFleet.usage` adds
what `usage` sums here to what the services' pods hold, so `DescribeBillingResourceGroups` reports it as
used, and an exporter that lists every holder accounts for every used card. Every region starts with the
same cast (`seed_holders`): in the default workspace a training task of 2 instances x 4 A100 on the GPU
production group and a pay-as-you-go one, a task still pending, a notebook holding 2 A10 on the shared
group since days ago and a pay-as-you-go notebook, finished tasks and stopped notebooks (which a status
filter must leave out); in the second workspace one task and one starting notebook.

Every task carries secrets in `Envs` (a private token) and `CallbackUrl` (a token in the query), every
notebook in `SSHConfig` (a login command with a password): `secrets()` lists them for tests that prove
they never leave the exporter.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from exporter.simulator import capacity, params
from exporter.simulator.capacity import BillingGroup
from exporter.simulator.workload import JSON, iso_z, random_id

NOTEBOOK_ACTION = "DescribeNotebooks"
TRAINING_ACTION = "DescribeTrainingTasks"


HOUR = 3600.0
DAY = 86400.0
TRAINING_FILTERS: tuple[str, ...] = (
    "Name",
    "Id",
    "Status",
    "ResourceGroupId",
    "Creator",
    "ChargeType",
    "CHARGE_STATUS",
)
NOTEBOOK_FILTERS: tuple[str, ...] = (
    "Name",
    "Id",
    "Status",
    "Creator",
    "ChargeType",
    "ChargeStatus",
    "DefaultCodeRepoId",
    "AdditionalCodeRepoId",
    "LifecycleScriptId",
)
_KEYS = frozenset({"TiProjectId", "Filters", "TagFilters", "Offset", "Limit", "Order", "OrderField"})
FINISHED_TASK = frozenset({"STOPPED", "FAILED", "SUCCEED", "SUBMIT_FAILED"})
FINISHED_NOTEBOOK = frozenset({"Stopped", "Failed", "SubmitFailed"})


@dataclass(frozen=True, slots=True)
class Role:
    """One role of a task: `instance_num` instances of (1/1000 cores, MB, 1/100 cards of `gpu_type`)."""

    instance_num: int
    gpu: int
    gpu_type: str
    cpu: int
    memory: int
    instance_type: str = ""
    role: str = "WORKER"


@dataclass(slots=True)
class Holding:
    """What a training task and a notebook share, stated once so that listing, ordering and planting treat
    both alike."""

    name: str
    workspace: str
    status: str
    charge_type: str
    group: BillingGroup | None
    created: float
    started: float | None
    ended: float | None
    owner: tuple[str, str]


def _shared(holding: Holding) -> dict[str, Any]:
    """The `Holding` fields of `holding` as keywords: a task or notebook is built from them and its own."""
    return {item.name: getattr(holding, item.name) for item in fields(Holding)}


@dataclass(slots=True)
class TrainingTask(Holding):
    id: str
    roles: tuple[Role, ...]
    secret_env: str
    callback_token: str

    def holds(self) -> bool:
        return self.status == "RUNNING"


@dataclass(slots=True)
class Notebook(Holding):
    id: str
    conf: Role
    ssh_password: str

    def holds(self) -> bool:
        return self.status == "Running"


H = TypeVar("H", bound=Holding)


@dataclass(slots=True)
class Holders:
    """The training tasks and notebooks of one region, in creation order."""

    tasks: list[TrainingTask] = field(default_factory=list)
    notebooks: list[Notebook] = field(default_factory=list)

    def usage(self, group_id: str) -> capacity.Usage:
        """What the running tasks and notebooks on group `group_id` hold."""
        cpu = memory = 0
        gpus: dict[str, int] = {}
        held = [(task.group, role) for task in self.tasks if task.holds() for role in task.roles]
        held += [(notebook.group, notebook.conf) for notebook in self.notebooks if notebook.holds()]
        for group, role in held:
            if group is None or group.id != group_id:
                continue
            cpu += role.cpu * role.instance_num
            memory += role.memory * role.instance_num
            if role.gpu:
                gpus[role.gpu_type] = gpus.get(role.gpu_type, 0) + role.gpu * role.instance_num
        return capacity.Usage(cpu, memory, gpus)

    def secrets(self) -> list[str]:
        """Every secret planted in the holders' `Envs`, `CallbackUrl` and `SSHConfig`."""
        found = [secret for task in self.tasks for secret in (task.secret_env, task.callback_token)]
        return found + [notebook.ssh_password for notebook in self.notebooks]

    def find(self, holder_id: str) -> TrainingTask | Notebook:
        for task in self.tasks:
            if task.id == holder_id:
                return task
        for notebook in self.notebooks:
            if notebook.id == holder_id:
                return notebook
        raise KeyError(f"no training task or notebook {holder_id!r}")

    def add(self, holder: TrainingTask | Notebook) -> None:
        if isinstance(holder, TrainingTask):
            self.tasks.append(holder)
        else:
            self.notebooks.append(holder)


def _time(stamp: float | None) -> str | None:
    return iso_z(stamp) if stamp is not None else None


def _tags(workspace: str) -> list[JSON]:
    return [{"TagKey": "team-name", "TagValue": "ml-platform" if workspace else "platform"}]


def task_wire(task: TrainingTask, now: float, app_id: int) -> JSON:
    """A `TrainingTaskSetItem` as the API sends it, secrets included."""
    end = task.ended if task.ended is not None else now
    group = task.group
    return {
        "Id": task.id,
        "Name": task.name,
        "FrameworkName": "PYTORCH",
        "FrameworkVersion": "2.1",
        "FrameworkEnvironment": "torch2.1-py310-cu121",
        "ChargeType": task.charge_type,
        "ChargeStatus": "BILLING" if task.holds() else "NOT_BILLING",
        "ResourceGroupId": group.id if group is not None else "",
        "ResourceGroupName": group.name if group is not None else "",
        "ResourceConfigInfos": [
            {
                "Role": role.role,
                "Cpu": role.cpu,
                "Memory": role.memory,
                "GpuType": role.gpu_type,
                "Gpu": role.gpu,
                "InstanceType": role.instance_type,
                "InstanceNum": role.instance_num,
                "InstanceTypeAlias": role.instance_type,
                "RDMAConfig": {"Enable": False},
            }
            for role in task.roles
        ],
        "TrainingMode": "DDP" if sum(role.instance_num for role in task.roles) > 1 else "PS_WORKER",
        "Status": task.status,
        "RuntimeInSeconds": int(end - task.started) if task.started is not None else 0,
        "CreateTime": iso_z(task.created),
        "StartTime": _time(task.started),
        "EndTime": _time(task.ended),
        "UpdateTime": iso_z(task.ended or task.started or task.created),
        "Output": {"Bucket": f"ml-output-{app_id}", "Region": "ap-guangzhou", "Paths": [f"/train/{task.id}/"]},
        "FailureReason": "OOMKilled" if task.status == "FAILED" else "",
        "BillingInfo": "",
        "ImageInfo": {"ImageType": "PRESET", "ImageUrl": "ccr.ccs.tencentyun.com/tione-public-images/torch:2.1"},
        "Message": "",
        "Tags": _tags(task.workspace),
        "CallbackUrl": f"https://hooks.example.com/train/{task.id}?token={task.callback_token}",
        "SubUin": task.owner[0],
        "SubUinName": task.owner[1],
        "AppId": str(app_id),
        "Envs": [
            {"Name": "NCCL_DEBUG", "Value": "INFO", "IsPrivate": False},
            {"Name": "WANDB_API_KEY", "Value": task.secret_env, "IsPrivate": True},
        ],
    }


def notebook_wire(notebook: Notebook, now: float, app_id: int) -> JSON:
    """A `NotebookSetItem` as the API sends it, secrets included."""
    end = notebook.ended if notebook.ended is not None else now
    group, conf = notebook.group, notebook.conf
    return {
        "Id": notebook.id,
        "Name": notebook.name,
        "ChargeType": notebook.charge_type,
        "ResourceConf": {
            "Cpu": conf.cpu,
            "Memory": conf.memory,
            "Gpu": conf.gpu,
            "GpuType": conf.gpu_type,
            "InstanceType": conf.instance_type,
        },
        "ResourceGroupId": group.id if group is not None else "",
        "ResourceGroupName": group.name if group is not None else "",
        "VolumeSizeInGB": 100,
        "BillingInfos": [],
        "Tags": _tags(notebook.workspace),
        "CreateTime": iso_z(notebook.created),
        "StartTime": _time(notebook.started),
        "UpdateTime": iso_z(notebook.ended or notebook.started or notebook.created),
        "RuntimeInSeconds": int(end - notebook.started) if notebook.started is not None else 0,
        "ChargeStatus": "BILLING" if notebook.holds() else "NOT_BILLING",
        "Status": notebook.status,
        "FailureReason": "",
        "EndTime": _time(notebook.ended),
        "PodName": f"{notebook.id}-0",
        "InstanceTypeAlias": conf.instance_type,
        "AutoStopping": False,
        "AutomaticStopTime": 0,
        "VolumeSourceType": "CLOUD_PREMIUM",
        "Message": "",
        "UserTypes": [],
        "SSHConfig": {
            "Enable": True,
            "PublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample demo@example.com",
            "Port": 22,
            "LoginCommand": f"sshpass -p {notebook.ssh_password} ssh root@{notebook.id}.notebook.example.com",
            "IsAddressChanged": False,
            "PodSSHInfo": {"Host": f"{notebook.id}.notebook.example.com", "Port": 22, "LoginCommand": "ssh root@host"},
        },
        "SubUin": notebook.owner[0],
        "SubUinName": notebook.owner[1],
        "AppId": str(app_id),
        "Description": "",
    }


def _filter_value(wire: JSON, name: str) -> str:
    if name == "Creator":
        return str(wire["SubUin"])
    if name == "CHARGE_STATUS":
        return str(wire["ChargeStatus"])
    return str(wire.get(name) or "")


@dataclass(frozen=True, slots=True)
class Listing:
    """How one action lists its holders: the answer's key, its `Filters` names, `Limit` and `OrderField`s."""

    key: str
    names: tuple[str, ...]
    default_limit: int
    max_limit: int
    order_fields: tuple[str, ...]


TASKS = Listing("TrainingTaskSet", TRAINING_FILTERS, 10, 50, ("CreateTime", "UpdateTime", "StartTime"))
NOTEBOOKS = Listing("NotebookSet", NOTEBOOK_FILTERS, 10, 100, ("CreateTime", "UpdateTime"))


def _describe(
    body: Mapping[str, Any],
    workspaces: tuple[str, ...],
    listing: Listing,
    holders: Sequence[H],
    wire: Callable[[H], JSON],
) -> JSON:
    """One page of the call's workspace's `holders` (in creation order), filtered and ordered."""
    workspace = params.workspace(params.string(body.get("TiProjectId", ""), "TiProjectId"), workspaces)
    params.check_keys(body, _KEYS)
    offset = params.integer(body, "Offset", 0, 0, None)
    limit = params.integer(body, "Limit", listing.default_limit, 0, listing.max_limit)
    order = params.choice(body, "Order", "DESC", ("ASC", "DESC"))
    order_field = params.choice(body, "OrderField", "UpdateTime", listing.order_fields)
    conditions = params.filters(body, listing.names)
    tags = params.tag_filters(body)
    matched = []
    for index, holder in enumerate(item for item in holders if item.workspace == workspace):
        found = wire(holder)
        if not all((_filter_value(found, c.name) in c.values) != c.negative for c in conditions):
            continue
        if not all(params.tags_match(found["Tags"], key, values) for key, values in tags):
            continue
        updated = holder.ended or holder.started or holder.created
        stamp = {"CreateTime": holder.created, "UpdateTime": updated, "StartTime": holder.started or 0.0}[order_field]
        matched.append((stamp, index, found))
    matched.sort(key=lambda item: (item[0], item[1]), reverse=order == "DESC")
    return {listing.key: [found for _, _, found in matched[offset : offset + limit]], "TotalCount": len(matched)}


def describe_tasks(
    body: Mapping[str, Any], holders: Holders, workspaces: tuple[str, ...], now: float, app_id: int
) -> JSON:
    return _describe(body, workspaces, TASKS, holders.tasks, lambda task: task_wire(task, now, app_id))


def describe_notebooks(
    body: Mapping[str, Any], holders: Holders, workspaces: tuple[str, ...], now: float, app_id: int
) -> JSON:
    return _describe(body, workspaces, NOTEBOOKS, holders.notebooks, lambda item: notebook_wire(item, now, app_id))


def new_task(rng: random.Random, roles: Sequence[Role], holding: Holding) -> TrainingTask:
    return TrainingTask(
        **_shared(holding),
        id=f"train-{rng.randrange(10**17, 10**18)}",
        roles=tuple(roles),
        secret_env=f"wandb-{rng.getrandbits(128):032x}",
        callback_token=f"cbt-{rng.getrandbits(128):032x}",
    )


def new_notebook(rng: random.Random, conf: Role, holding: Holding) -> Notebook:
    return Notebook(
        **_shared(holding), id=f"nb-{random_id(rng, 12)}", conf=conf, ssh_password=f"sshpw-{rng.getrandbits(96):024x}"
    )


PREPAID = "PREPAID"
POSTPAID = "POSTPAID_BY_HOUR"
EIGHT_A100 = Role(instance_num=2, gpu=400, gpu_type="A100", cpu=40000, memory=237568)
"""The demo's big training task: 2 instances x 4 A100 = 8 cards."""
TASK_SPEC = "TI.GNV4.7XLARGE88.POST"
"""The pay-as-you-go spec of the demo's second task (2 A10)."""
NOTEBOOK_SPEC = "TI.GN7.2XLARGE32.POST"
"""The pay-as-you-go spec of the demo's second notebook (1 T4)."""


def seed_holders(
    rng: random.Random,
    now: float,
    workspaces: tuple[str, ...],
    groups: Sequence[BillingGroup],
    users: Sequence[tuple[str, str]],
) -> Holders:
    """The cast every region starts with (see the module docstring)."""
    default, second = workspaces[0], workspaces[1]
    production, shared = groups[0], groups[1]
    owner = users[0]
    a10_two = Role(instance_num=1, gpu=200, gpu_type="A10", cpu=28000, memory=90112, instance_type=TASK_SPEC)
    t4_one = Role(instance_num=1, gpu=100, gpu_type="T4", cpu=8000, memory=32768, instance_type=NOTEBOOK_SPEC)
    shared_a10 = Role(instance_num=1, gpu=100, gpu_type="A10", cpu=12000, memory=45056)
    notebook_a10 = Role(instance_num=1, gpu=200, gpu_type="A10", cpu=16000, memory=65536)
    finished = ("SUCCEED", "FAILED", "STOPPED", "SUCCEED", "SUBMIT_FAILED", "SUCCEED")
    tasks: list[tuple[str, str, str, str, BillingGroup | None, Role, float]] = [
        (f"sft-run-{index + 1:03d}", default, status, PREPAID, production, EIGHT_A100, (30 - index) * DAY)
        for index, status in enumerate(finished)
    ]
    tasks += [
        ("llm-sft-qwen7b", default, "RUNNING", PREPAID, production, EIGHT_A100, 6 * HOUR),
        ("ocr-finetune-a10", default, "RUNNING", POSTPAID, None, a10_two, 3 * HOUR),
        ("llm-sft-next", default, "PENDING", PREPAID, production, EIGHT_A100, 20 * 60),
        ("embed-distill", second, "RUNNING", PREPAID, shared, shared_a10, 2 * HOUR),
    ]
    notebooks: list[tuple[str, str, str, str, BillingGroup | None, Role, float]] = [
        ("alice-exploration", default, "Running", PREPAID, shared, notebook_a10, 4 * DAY),
        ("eval-notebook", default, "Running", POSTPAID, None, t4_one, 5 * HOUR),
        *(
            (f"old-notebook-{index + 1}", default, "Stopped", PREPAID, shared, notebook_a10, (20 + index) * DAY)
            for index in range(3)
        ),
        ("new-notebook", second, "Starting", PREPAID, shared, notebook_a10, 60),
    ]
    holders = Holders()
    for name, workspace, status, charge, group, role, age in tasks:
        started = None if status in {"PENDING", "SUBMITTING"} else now - age
        ended = now - age / 2 if status in FINISHED_TASK else None
        holding = Holding(name, workspace, status, charge, group, now - age - 300, started, ended, owner)
        holders.add(new_task(rng, (role,), holding))
    for name, workspace, status, charge, group, conf, age in notebooks:
        started = None if status == "Starting" else now - age
        ended = now - age / 2 if status in FINISHED_NOTEBOOK else None
        holding = Holding(name, workspace, status, charge, group, now - age - 120, started, ended, owner)
        holders.add(new_notebook(rng, conf, holding))
    return holders
