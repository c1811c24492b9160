"""Training tasks and notebooks: what is asked (status filter, paging, workspace), what is decoded (never a
secret), what each holds (exact GPU arithmetic) and who holds a resource group's GPUs. The API is a mock
transport; no network."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec
import pytest

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import MALFORMED_RESPONSE, APIError, TransportError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione import holders, workspaces
from exporter.tione.holder_records import Notebook, ResourceConf, ResourceConfigInfo, TrainingTask
from exporter.tione.holdings import (
    Allocation,
    GroupGpus,
    cards,
    group_gpus,
    notebook_allocation,
    task_allocation,
    unattributed,
)
from exporter.tione.models import as_utc
from exporter.tione.paging import MAX_TOTAL_COUNT
from exporter.tione.records import Workspace
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import NoSink
from tests.in_flight import InFlight

REGION = "ap-guangzhou"
SECRETS = ("env-secret-7f3a", "cb-token-91d2", "ssh-password-c0de")


def task(index: int, **extra: Any) -> dict[str, Any]:
    return {
        "Id": f"train-{index:04d}",
        "Name": f"task-{index}",
        "ChargeType": "PREPAID",
        "ResourceGroupId": "trsg-1",
        "Status": "RUNNING",
        "StartTime": "2024-05-01 10:00:00",
        "ResourceConfigInfos": [
            {"Role": "WORKER", "Cpu": 8000, "Memory": 32768, "GpuType": "A100", "Gpu": 400, "InstanceNum": 2}
        ],
        "Envs": [{"Name": "TOKEN", "Value": SECRETS[0], "IsPrivate": True}],
        "CallbackUrl": f"https://hooks.example.com/x?token={SECRETS[1]}",
        **extra,
    }


def notebook(index: int, **extra: Any) -> dict[str, Any]:
    return {
        "Id": f"nb-{index:04d}",
        "Name": f"notebook-{index}",
        "ChargeType": "PREPAID",
        "ResourceGroupId": "trsg-1",
        "Status": "Running",
        "ResourceConf": {"Cpu": 16000, "Memory": 65536, "Gpu": 200, "GpuType": "A10"},
        "SSHConfig": {"Enable": True, "LoginCommand": f"sshpass -p {SECRETS[2]} ssh root@host"},
        **extra,
    }


class Api:
    """Tasks and notebooks paged like the API; records every request (action, body)."""

    def __init__(self, tasks: int = 0, notebooks: int = 0, broken: dict[str, Any] | None = None) -> None:
        self.items = {
            holders.TRAINING_ACTION: ("TrainingTaskSet", [task(index) for index in range(tasks)]),
            holders.NOTEBOOK_ACTION: ("NotebookSet", [notebook(index) for index in range(notebooks)]),
        }
        self.broken = broken
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.regions: set[str] = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        action = request.headers["X-TC-Action"]
        self.requests.append((action, body))
        self.regions.add(request.headers["X-TC-Region"])
        if self.broken is not None:
            return httpx.Response(200, json={"Response": self.broken})
        key, items = self.items[action]
        page = items[body["Offset"] : body["Offset"] + body["Limit"]]
        answer = {"TotalCount": len(items), key: page, "RequestId": f"r{len(self.requests)}"}
        return httpx.Response(200, json={"Response": answer})


Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def client_for(api: Api, handler: Handler | None = None) -> TencentCloudClient:
    return TencentCloudClient(
        endpoint="http://127.0.0.1:1",
        service="tione",
        version="2021-11-11",
        credentials=Credentials("AKID", "key"),
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler or api.handler)),
        rate_limiter=TokenBucket(rate=1000, burst=100),
    )


def deadline() -> float:
    return time.monotonic() + 10


# -- requests and paging ------------------------------------------------------------------------------


def test_the_requests_ask_only_for_unfinished_holders_oldest_first() -> None:
    body = holders.training_params("ws-1")(50, 50)
    assert body == {
        "Offset": 50,
        "Limit": 50,
        "Filters": [{"Name": "Status", "Values": ["SUBMITTING", "PENDING", "STARTING", "RUNNING", "STOPPING"]}],
        "OrderField": "CreateTime",
        "Order": "ASC",
        "TiProjectId": "ws-1",
    }
    body = holders.notebook_params(None)(0, 100)
    assert body["Filters"] == [{"Name": "Status", "Values": ["Starting", "Running", "Stopping"]}]
    assert "TiProjectId" not in body


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (50, 1), (51, 2), (120, 3)])
async def test_training_tasks_are_paged_by_fifty(count: int, pages: int) -> None:
    api = Api(tasks=count)
    found = await holders.list_one(client_for(api), holders.TRAINING, REGION, "ws-1", deadline=deadline())
    assert [item.id for item in found] == [f"train-{index:04d}" for index in range(count)]
    assert sorted(body["Offset"] for _, body in api.requests) == [50 * page for page in range(pages)]
    assert all(body["Limit"] == 50 and body["TiProjectId"] == "ws-1" for _, body in api.requests)
    assert api.regions == {REGION}


async def test_every_workspace_is_read_and_each_holder_keeps_its_workspace() -> None:
    api = Api(tasks=2, notebooks=3)
    found = await holders.list_holders(client_for(api), REGION, [None, "ws-2"], deadline=deadline())
    assert [item.id for item in found.training_tasks] == ["train-0000", "train-0001"]
    assert [item.id for item in found.notebooks] == ["nb-0000", "nb-0001", "nb-0002"]
    assert dict(found.workspaces) == {
        **{f"train-{index:04d}": "" for index in range(2)},
        **{f"nb-{index:04d}": "" for index in range(3)},
    }, "the same ids in a second workspace are kept with the first"
    asked = {(action, body.get("TiProjectId")) for action, body in api.requests}
    assert asked == {
        (action, ws) for action in (holders.TRAINING_ACTION, holders.NOTEBOOK_ACTION) for ws in (None, "ws-2")
    }
    assert api.regions == {REGION}


async def test_a_holder_listed_twice_in_a_workspace_is_kept_once_as_first_listed() -> None:
    api = Api(tasks=3)
    api.items[holders.TRAINING_ACTION][1].append(task(0, Name="listed again"))
    found = await holders.list_one(client_for(api), holders.TRAINING, REGION, None, deadline=deadline())
    assert [(item.id, item.name) for item in found] == [(f"train-{index:04d}", f"task-{index}") for index in range(3)]


async def test_workspaces_are_read_two_at_a_time() -> None:
    api = Api(tasks=1)
    slow = InFlight(api.handler, 0.02)

    project_ids = [f"ws-{index}" for index in range(6)]
    found = await holders.list_listed(client_for(api, slow), holders.TRAINING, REGION, project_ids, deadline=deadline())
    assert len(api.requests) == 6 and dict(found.workspaces) == {"train-0000": "ws-0"}
    assert slow.most == holders.WORKSPACE_WORKERS == 2


# -- decoding ------------------------------------------------------------------------------------------


def test_a_page_is_decoded_in_one_pass_without_the_secrets() -> None:
    content = json.dumps({"Response": {"TotalCount": 1, "TrainingTaskSet": [task(1)], "RequestId": "r"}}).encode()
    decoded = holders.decode_training_tasks(content)
    assert decoded is not None
    total, tasks = decoded
    assert total == 1 and tasks[0].id == "train-0001"
    started = as_utc(tasks[0].start_time)
    assert started is not None and started.isoformat() == "2024-05-01T10:00:00+00:00"
    content = json.dumps({"Response": {"TotalCount": 1, "NotebookSet": [notebook(1)]}}).encode()
    decoded_notebooks = holders.decode_notebooks(content)
    assert decoded_notebooks is not None
    everything = repr(decoded) + repr(decoded_notebooks) + msgspec.json.encode([tasks, decoded_notebooks[1]]).decode()
    assert not [secret for secret in SECRETS if secret in everything]


async def test_a_task_that_does_not_fit_is_left_out_never_the_page() -> None:
    api = Api(tasks=4)
    listed = api.items[holders.TRAINING_ACTION][1]
    listed[1]["Status"] = {"odd": True}
    listed[2]["Id"] = ""
    listed[3]["ResourceConfigInfos"] = [{"Gpu": "400", "GpuType": "A100", "InstanceNum": "2"}]  # numbers as text
    found = await holders.list_one(client_for(api), holders.TRAINING, REGION, None, deadline=deadline())
    assert [item.id for item in found] == ["train-0000", "train-0003"], "the tasks after a misfit are kept too"
    allocation = task_allocation(found[1])
    assert allocation is not None and allocation.gpus == {"A100": 800}


async def test_a_notebook_that_does_not_fit_is_left_out_never_the_page() -> None:
    api = Api(notebooks=3)
    api.items[holders.NOTEBOOK_ACTION][1][1]["ResourceConf"] = {"Gpu": "many"}
    found = await holders.list_one(client_for(api), holders.NOTEBOOKS, REGION, None, deadline=deadline())
    assert [item.id for item in found] == ["nb-0000", "nb-0002"]
    assert [notebook_allocation(item) for item in found] == [Allocation(16000, 65536, {"A10": 200})] * 2


async def test_a_page_that_fits_is_read_in_one_pass_never_item_by_item() -> None:
    def item_by_item(region: str, answer: dict[str, Any]) -> tuple[int, list[TrainingTask]]:
        raise AssertionError("a page that fits was read item by item")

    api = Api(tasks=60)
    kind = dataclasses.replace(holders.TRAINING, parse=item_by_item)
    found = await holders.list_one(client_for(api), kind, REGION, None, deadline=deadline())
    assert len(found) == 60 and len(api.requests) == 2


@pytest.mark.parametrize("decode", [holders.decode_training_tasks, holders.decode_notebooks])
def test_one_pass_takes_any_plausible_total_and_leaves_the_rest_to_the_checked_path(
    decode: Callable[[bytes], Any],
) -> None:
    def answer(**response: Any) -> bytes:
        return json.dumps({"Response": {"RequestId": "r", **response}}).encode()

    assert decode(answer(TotalCount=0)) == (0, []), "an empty workspace fits"
    assert decode(answer(TotalCount=MAX_TOTAL_COUNT)) == (MAX_TOTAL_COUNT, [])
    assert decode(answer(TotalCount=MAX_TOTAL_COUNT + 1)) is None
    assert decode(answer(TotalCount=-1)) is None
    assert decode(answer()) is None
    assert decode(answer(TotalCount=1, Error={"Code": "InternalError", "Message": "down"})) is None
    assert decode(b"not json") is None


async def test_an_error_answer_is_never_read_as_a_page() -> None:
    error = {"Code": "AuthFailure.UnauthorizedOperation", "Message": "no"}
    api = Api(broken={"Error": error, "TotalCount": 1, "TrainingTaskSet": [task(0)], "RequestId": "r1"})
    with pytest.raises(APIError) as caught:
        await holders.list_one(client_for(api), holders.TRAINING, REGION, None, deadline=deadline())
    assert caught.value.code == "AuthFailure.UnauthorizedOperation" and caught.value.request_id == "r1"


@pytest.mark.parametrize(
    ("kind", "answer", "where"),
    [
        (holders.TRAINING, {"TrainingTaskSet": [], "RequestId": "r1"}, "TotalCount"),
        (holders.TRAINING, {"TotalCount": "many", "TrainingTaskSet": [], "RequestId": "r1"}, "TotalCount"),
        (holders.TRAINING, {"TotalCount": True, "TrainingTaskSet": [], "RequestId": "r1"}, "TotalCount"),
        (holders.TRAINING, {"TotalCount": 1, "TrainingTaskSet": {"Id": "x"}, "RequestId": "r1"}, "TrainingTaskSet"),
        (holders.NOTEBOOKS, {"NotebookSet": [], "RequestId": "r1"}, "TotalCount"),
        (holders.NOTEBOOKS, {"TotalCount": 1, "NotebookSet": {"Id": "x"}, "RequestId": "r1"}, "NotebookSet"),
    ],
)
async def test_a_broken_answer_is_a_malformed_response(
    kind: holders.HolderKind[Any], answer: dict[str, Any], where: str
) -> None:
    with pytest.raises(TransportError) as caught:
        await holders.list_one(client_for(Api(broken=answer)), kind, REGION, None, deadline=deadline())
    assert caught.value.code == MALFORMED_RESPONSE
    assert where in caught.value.message and caught.value.request_id == "r1"
    assert caught.value.message.startswith(f"{kind.action} answer ")
    assert (caught.value.action, caught.value.region) == (kind.action, REGION)


# -- the sources -----------------------------------------------------------------------------------------

DISCOVERED = workspaces.Discovery((Workspace(ti_project_id="ws-a"), Workspace(ti_project_id="ws-b")))


@pytest.mark.parametrize(
    ("discovery", "configured", "asked"),
    [
        (DISCOVERED, (), {"ws-a", "ws-b"}),
        (DISCOVERED, ("ws-c",), {"ws-c"}),
        (workspaces.Discovery(), (), {None}),
    ],
)
async def test_the_source_reads_the_workspaces_the_listing_polls(
    discovery: workspaces.Discovery, configured: tuple[str, ...], asked: set[str | None]
) -> None:
    api = Api(tasks=2)
    source = holders.source(client_for(api), holders.TRAINING, 600.0, configured)
    snapshot = workspaces.DISCOVERY.stored(RegionSnapshot(REGION), discovery)
    found = await source.run(REGION, snapshot, deadline(), NoSink())
    assert {body.get("TiProjectId") for _, body in api.requests} == asked
    assert {action for action, _ in api.requests} == {holders.TRAINING_ACTION} and api.regions == {REGION}
    assert [item.id for item in found.items] == ["train-0000", "train-0001"]
    assert holders.TASKS_OF.of(source.store(RegionSnapshot(REGION), found)) == found


@pytest.mark.parametrize(
    ("kind", "summary", "without"),
    [
        (
            holders.TRAINING,
            "3 unfinished training tasks in the default workspace",
            "no unfinished training tasks and no unattributed GPUs",
        ),
        (
            holders.NOTEBOOKS,
            "3 unfinished notebooks in the default workspace",
            "no unfinished notebooks and no unattributed GPUs",
        ),
    ],
)
async def test_the_probe_asks_the_default_workspace_for_one_holder(
    kind: holders.HolderKind[Any], summary: str, without: str
) -> None:
    api = Api(tasks=3, notebooks=3)
    source = holders.source(client_for(api), kind, 600.0, ("ws-a",))
    assert (source.action, source.interval, source.primary, source.without) == (kind.action, 600.0, False, without)
    assert source.empty == holders.Listed()
    assert await source.probe(REGION, deadline()) == summary
    asked = [(action, body["Offset"], body["Limit"], body.get("TiProjectId")) for action, body in api.requests]
    assert asked == [(kind.action, 0, 1, None)] and api.regions == {REGION}


# -- what each holds ---------------------------------------------------------------------------------


def decoded_task(**extra: Any) -> TrainingTask:
    return msgspec.convert(task(1, **extra), TrainingTask)


def test_two_instances_of_four_cards_are_eight_gpus() -> None:
    allocation = task_allocation(decoded_task())
    assert allocation is not None
    assert allocation.gpus == {"A100": 800}
    assert cards(allocation.gpus["A100"]) == 8.0
    assert (allocation.cpu, allocation.memory) == (16000, 65536)


def test_roles_add_up_by_card_model() -> None:
    roles = [
        {"Role": "PS", "Cpu": 4000, "Memory": 8192, "Gpu": 0, "InstanceNum": 1},
        {"Role": "WORKER", "Cpu": 8000, "Memory": 16384, "Gpu": 100, "GpuType": "T4", "InstanceNum": 3},
        {"Role": "CHIEF", "Cpu": 8000, "Memory": 16384, "Gpu": 50, "GpuType": "T4", "InstanceNum": 1},
    ]
    allocation = task_allocation(decoded_task(ResourceConfigInfos=roles))
    assert allocation is not None
    assert allocation.gpus == {"T4": 350}
    assert (allocation.cpu, allocation.memory) == (36000, 73728)


@pytest.mark.parametrize("status", ["PENDING", "STARTING", "STOPPING", "SUCCEED", None])
def test_a_task_holds_nothing_unless_running(status: str | None) -> None:
    assert task_allocation(decoded_task(Status=status)) is None


def test_a_role_without_instance_count_makes_the_holding_unknown() -> None:
    roles = [{"Gpu": 100, "GpuType": "T4", "InstanceNum": None}]
    assert task_allocation(decoded_task(ResourceConfigInfos=roles)) is None
    assert task_allocation(decoded_task(Status="running", ResourceConfigInfos=[])) == Allocation(None, None, {}), (
        "a running task without roles holds no GPUs and says nothing of its CPU or memory"
    )


def test_a_role_scaled_to_no_instances_holds_nothing_and_is_known() -> None:
    roles = [
        {"Cpu": 8000, "Memory": 32768, "Gpu": 400, "GpuType": "A100", "InstanceNum": 2},
        {"Cpu": 4000, "Memory": 8192, "Gpu": 100, "GpuType": "A100", "InstanceNum": 0},
    ]
    allocation = task_allocation(decoded_task(ResourceConfigInfos=roles))
    assert allocation is not None
    assert (allocation.cpu, allocation.memory, allocation.gpus) == (16000, 65536, {"A100": 800})


def test_cards_without_a_model_are_held_under_the_empty_model_the_group_counts_them_in() -> None:
    unnamed = TrainingTask(
        id="t1",
        status="RUNNING",
        resource_group_id="trsg-1",
        resource_config_infos=[ResourceConfigInfo(gpu=100, instance_num=1)],
    )
    allocation = task_allocation(unnamed)
    assert allocation is not None and allocation.gpus == {"": 100}
    found = group_gpus({"trsg-1": {"": 100}}, {}, [unnamed], [])
    assert found["trsg-1"].training_tasks == {"": 100} and found["trsg-1"].unattributed == {"": 0}


def test_a_notebook_holds_its_resource_conf_while_running() -> None:
    running = msgspec.convert(notebook(1), Notebook)
    allocation = notebook_allocation(running)
    assert allocation is not None and allocation.gpus == {"A10": 200} and allocation.cpu == 16000
    assert notebook_allocation(msgspec.convert(notebook(1, Status="Stopping"), Notebook)) is None
    assert notebook_allocation(msgspec.convert(notebook(1, ResourceConf=None), Notebook)) is None


# -- who holds a group's GPUs --------------------------------------------------------------------------


def test_every_used_gpu_is_attributed_or_unattributed_exactly() -> None:
    tasks = [
        TrainingTask(
            id="t1",
            status="RUNNING",
            resource_group_id="trsg-1",
            resource_config_infos=[
                ResourceConfigInfo(gpu=400, gpu_type="A100", instance_num=2),
            ],
        ),
        TrainingTask(
            id="t2",
            status="PENDING",
            resource_group_id="trsg-1",
            resource_config_infos=[
                ResourceConfigInfo(gpu=800, gpu_type="A100", instance_num=1),
            ],
        ),
        TrainingTask(
            id="t3",
            status="RUNNING",
            resource_config_infos=[ResourceConfigInfo(gpu=100, gpu_type="A100", instance_num=1)],
        ),
    ]
    notebooks = [
        Notebook(
            id="n1", status="Running", resource_group_id="trsg-1", resource_conf=ResourceConf(gpu=25, gpu_type="T4")
        ),
        Notebook(
            id="n2", status="Running", resource_group_id="trsg-2", resource_conf=ResourceConf(gpu=200, gpu_type="A10")
        ),
    ]
    used = {"trsg-1": {"A100": 1000, "T4": 100}, "trsg-2": {"A10": 200}, "trsg-3": {}}
    services = {"trsg-1": {"A100": 150, "T4": 25}}
    found = group_gpus(used, services, tasks, notebooks)
    one = found["trsg-1"]
    assert (one.services, one.training_tasks, one.notebooks) == ({"A100": 150, "T4": 25}, {"A100": 800}, {"T4": 25})
    assert one.unattributed == {"A100": 50, "T4": 50}
    for group in found.values():
        total = {card: group.attributed.get(card, 0) + group.unattributed[card] for card in group.used}
        assert total == group.used
    assert found["trsg-2"].unattributed == {"A10": 0}
    assert found["trsg-3"] == GroupGpus({})


def test_unattributed_is_never_below_zero() -> None:
    assert unattributed({"A100": 100, "T4": 0}, [{"A100": 300}, {"T4": 25}]) == {"A100": 0, "T4": 0}
