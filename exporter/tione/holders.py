"""The other GPU holders of a workspace: training tasks (`DescribeTrainingTasks`) and notebooks
(`DescribeNotebooks`) that are not finished.

A resource group's used GPUs include training tasks and notebooks, so these are read beside the services
to say who holds a group's cards and what they cost. Finished tasks pile up for years, so the API is asked
to filter by status (`Filters` `Status`, several values are any of them) and only the unfinished ones are
paged: starting, running or stopping. Pages are ordered by creation time, oldest first, so that a task
created while the pages are read lands on the last page instead of shifting the others; one listed twice
all the same is kept once.

Each page is decoded from the answer's bytes into the records of `holder_records`, which do not declare
`Envs`, `CallbackUrl` or `SSHConfig`: those are skipped unread. Only when a page does not fit in one pass
(or is an error) does the client read it as JSON; then each task or notebook is converted on its own and
one that does not fit (or has no id) is left out, never the page.

The functions take the shared client and a deadline; `list_holders` reads every workspace of a region.
`source(client, kind, ...)` makes the secondary source of one kind (`TRAINING` or `NOTEBOOKS`, each run on
`--holders.interval`): every workspace the listing polls, its result under the kind's `ResultKey`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import msgspec

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tione import workspaces
from exporter.tione.holder_records import (
    Notebook,
    NotebooksAnswer,
    NotebooksBody,
    TrainingTask,
    TrainingTasksAnswer,
    TrainingTasksBody,
)
from exporter.tione.paging import MAX_TOTAL_COUNT, Params, call_parsed, check_total, each, malformed, read_pages
from exporter.tione.snapshot import RegionSnapshot, ResultKey
from exporter.tione.source import Sink, Source

TRAINING_ACTION = "DescribeTrainingTasks"
NOTEBOOK_ACTION = "DescribeNotebooks"
TRAINING_LIMIT = 50
"""The API's maximum page size for training tasks (the smaller of the two)."""
NOTEBOOK_LIMIT = 100
"""The API's maximum page size for notebooks."""
TRAINING_UNFINISHED: tuple[str, ...] = ("SUBMITTING", "PENDING", "STARTING", "RUNNING", "STOPPING")
"""Training task statuses asked for: every one the SDK documents but the finished ones (`STOPPED`,
`FAILED`, `SUCCEED`, `SUBMIT_FAILED`)."""
NOTEBOOK_UNFINISHED: tuple[str, ...] = ("Starting", "Running", "Stopping")
"""Notebook statuses asked for: every one the SDK documents but `Stopped`, `Failed` and `SubmitFailed`."""
WORKSPACE_WORKERS = 2
"""Workspaces read at once in a region: the pages share the token bucket with the listing."""

H = TypeVar("H", TrainingTask, Notebook)
B = TypeVar("B", TrainingTasksBody, NotebooksBody)


def _params(statuses: tuple[str, ...], project_id: str | None) -> Callable[[int, int], Params]:
    def params(offset: int, limit: int) -> Params:
        body: Params = {
            "Offset": offset,
            "Limit": limit,
            "Filters": [{"Name": "Status", "Values": list(statuses)}],
            "OrderField": "CreateTime",
            "Order": "ASC",
        }
        if project_id:
            body["TiProjectId"] = project_id
        return body

    return params


def training_params(project_id: str | None) -> Callable[[int, int], Params]:
    """The request for a page of a workspace's unfinished training tasks (None: the default workspace)."""
    return _params(TRAINING_UNFINISHED, project_id)


def notebook_params(project_id: str | None) -> Callable[[int, int], Params]:
    """The request for a page of a workspace's unfinished notebooks (None: the default workspace)."""
    return _params(NOTEBOOK_UNFINISHED, project_id)


def _total(total: int | None, error: Any) -> int | None:
    """`TotalCount` of a one-pass read, None when the untyped path must read the answer (and report it)."""
    if error is not None or total is None or not 0 <= total <= MAX_TOTAL_COUNT:
        return None
    return total


_TASKS = msgspec.json.Decoder(TrainingTasksBody, strict=False)
_NOTEBOOKS = msgspec.json.Decoder(NotebooksBody, strict=False)


def _decoded(decoder: msgspec.json.Decoder[B], content: bytes) -> B | None:
    try:
        return decoder.decode(content)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


def _kept(answer: TrainingTasksAnswer | NotebooksAnswer, items: Sequence[H] | None) -> tuple[int, list[H]] | None:
    total = _total(answer.total_count, answer.error)
    return None if total is None else (total, [item for item in items or () if item.id])


def decode_training_tasks(content: bytes) -> tuple[int, list[TrainingTask]] | None:
    """(`TotalCount`, tasks with an id) of a whole answer in one pass; None when anything does not fit."""
    body = _decoded(_TASKS, content)
    return None if body is None else _kept(body.response, body.response.training_task_set)


def decode_notebooks(content: bytes) -> tuple[int, list[Notebook]] | None:
    """(`TotalCount`, notebooks with an id) of a whole answer in one pass; None when anything does not fit."""
    body = _decoded(_NOTEBOOKS, content)
    return None if body is None else _kept(body.response, body.response.notebook_set)


def _items(action: str, key: str, kind: type[H], region: str, answer: dict[str, Any]) -> tuple[int, list[H]]:
    sent = answer.get("TotalCount")
    total = check_total(action, region, answer, sent if _is_int(sent) else None)
    raw = answer.get(key)
    if raw is None:
        return total, []
    if not isinstance(raw, list):
        raise malformed(action, region, answer, f"does not fit the model at {key}: not a list")
    kept: list[H] = []
    for item in raw:
        try:
            record = msgspec.convert(item, kind, strict=False)
        except msgspec.ValidationError:
            continue
        if record.id:
            kept.append(record)
    return total, kept


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_training_tasks(region: str, answer: dict[str, Any]) -> tuple[int, list[TrainingTask]]:
    """The untyped path: (`TotalCount`, the tasks that fit and have an id) of a decoded `Response`."""
    return _items(TRAINING_ACTION, "TrainingTaskSet", TrainingTask, region, answer)


def parse_notebooks(region: str, answer: dict[str, Any]) -> tuple[int, list[Notebook]]:
    """The untyped path: (`TotalCount`, the notebooks that fit and have an id) of a decoded `Response`."""
    return _items(NOTEBOOK_ACTION, "NotebookSet", Notebook, region, answer)


def _unique(items: Sequence[H]) -> tuple[H, ...]:
    seen: dict[str, H] = {}
    for item in items:
        if item.id and item.id not in seen:
            seen[item.id] = item
    return tuple(seen.values())


@dataclass(frozen=True, slots=True)
class Holders:
    """The unfinished training tasks and notebooks of a region, and the workspace each was listed in."""

    training_tasks: tuple[TrainingTask, ...] = ()
    notebooks: tuple[Notebook, ...] = ()
    workspaces: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The workspace (`TiProjectId`, "" for the default one) by task or notebook id."""


async def list_holders(
    client: TencentCloudClient, region: str, project_ids: Sequence[str | None], *, deadline: float
) -> Holders:
    """Training tasks and notebooks of every workspace in `project_ids` (None: the default one).

    A failure of any call is raised (the source's last result is then kept by the poller); an id listed
    in two workspaces is kept with the first."""
    tasks = await list_listed(client, TRAINING, region, project_ids, deadline=deadline)
    notebooks = await list_listed(client, NOTEBOOKS, region, project_ids, deadline=deadline)
    return Holders(tasks.items, notebooks.items, MappingProxyType({**notebooks.workspaces, **tasks.workspaces}))


@dataclass(frozen=True, slots=True)
class Listed(Generic[H]):
    """One kind of holder of a region (training tasks or notebooks), and the workspace each was listed in."""

    items: tuple[H, ...] = ()
    workspaces: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The workspace (`TiProjectId`, "" for the default one) by id."""


@dataclass(frozen=True, slots=True)
class HolderKind(Generic[H]):
    """What differs between the training task and notebook sources: action, listing, where the result goes."""

    action: str
    noun: str
    params: Callable[[str | None], Callable[[int, int], Params]]
    parse: Callable[[str, dict[str, Any]], tuple[int, list[H]]]
    typed: Callable[[bytes], tuple[int, list[H]] | None]
    limit: int = TRAINING_LIMIT

    @property
    def key(self) -> ResultKey[Listed[H]]:
        """Where the result lives: under the action, empty before the first listing."""
        return ResultKey(self.action, Listed())


TRAINING: HolderKind[TrainingTask] = HolderKind(
    TRAINING_ACTION, "unfinished training tasks", training_params, parse_training_tasks, decode_training_tasks
)
NOTEBOOKS: HolderKind[Notebook] = HolderKind(
    NOTEBOOK_ACTION, "unfinished notebooks", notebook_params, parse_notebooks, decode_notebooks, NOTEBOOK_LIMIT
)
KINDS: tuple[HolderKind[Any], ...] = (TRAINING, NOTEBOOKS)
"""Both holder sources, in the order they run."""

TASKS_OF = TRAINING.key
"""The region's unfinished training tasks, read by their families and the prices source."""
NOTEBOOKS_OF = NOTEBOOKS.key
"""The region's unfinished notebooks, read by their families and the prices source."""


async def list_one(
    client: TencentCloudClient, kind: HolderKind[H], region: str, project_id: str | None, *, deadline: float
) -> tuple[H, ...]:
    """The unfinished holders of one kind in one workspace (None: the default one), each once."""
    found = await read_pages(
        client,
        kind.action,
        region,
        kind.params(project_id),
        kind.parse,
        limit=kind.limit,
        deadline=deadline,
        typed=kind.typed,
    )
    return _unique(found)


async def list_listed(
    client: TencentCloudClient,
    kind: HolderKind[H],
    region: str,
    project_ids: Sequence[str | None],
    *,
    deadline: float,
) -> Listed[H]:
    """One kind of holder in every workspace of `project_ids` (None: the default one); an id listed in two
    workspaces is kept with the first, a failed call is raised."""

    async def one(project_id: str | None) -> tuple[str, tuple[H, ...]]:
        return project_id or "", await list_one(client, kind, region, project_id, deadline=deadline)

    found = await each(one, list(dict.fromkeys(project_ids)), workers=WORKSPACE_WORKERS)
    where: dict[str, str] = {}
    items: list[H] = []
    for project_id, listed in found:
        for item in listed:
            if item.id and item.id not in where:
                where[item.id] = project_id
                items.append(item)
    return Listed(tuple(items), MappingProxyType(where))


def source(
    client: TencentCloudClient, kind: HolderKind[H], interval: float, configured: tuple[str, ...] = ()
) -> Source[Listed[H]]:
    """The secondary source of one kind of holder, every `interval` seconds per region, in the workspaces the
    listing polls (`workspaces.project_ids`: the configured ones, else those discovery found)."""

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> Listed[H]:
        ids = workspaces.project_ids(workspaces.DISCOVERY.of(snapshot), configured)
        return await list_listed(client, kind, region, ids, deadline=deadline)

    async def probe(region: str, deadline: float) -> str:
        total, _ = await call_parsed(
            client, kind.action, region, kind.params(None)(0, 1), kind.parse, deadline=deadline
        )
        return f"{total} {kind.noun} in the default workspace"

    return Source(
        kind.action,
        fetch,
        kind.key.stored,
        empty=kind.key.empty,
        probe=probe,
        interval=interval,
        without=f"no {kind.noun} and no unattributed GPUs",
    )
