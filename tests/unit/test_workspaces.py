"""Which workspaces the listing asks, and what one unreadable workspace costs."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import APIError, TencentCloudError, TransportError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione.decode import Skipped
from exporter.tione.listing import ListingQuery
from exporter.tione.records import ServiceGroup, Workspace
from exporter.tione.service_groups import _merge, _Part, _unreadable, count_groups, poll_requests
from exporter.tione.workspaces import Discovery, project_ids
from tests.listing_helpers import scan_workspaces
from tests.unit.test_client_listing import Fleet, deadline, group

FOUND = Discovery((Workspace(ti_project_id="ws-a"), Workspace(ti_project_id="ws-b"), Workspace(ti_project_id="")))


@pytest.mark.parametrize(
    ("discovery", "configured", "asked"),
    [
        (FOUND, (), ("ws-a", "ws-b")),
        (FOUND, ("ws-b", "ws-z"), ("ws-b", "ws-z")),  # configured ids are asked as given
        (Discovery(), (), (None,)),  # not run yet, or gone stale
        (Discovery(permitted=False), (), (None,)),
        (Discovery(permitted=False), ("ws-c",), ("ws-c",)),
        (Discovery((Workspace(ti_project_id="ws-a"),), permitted=False), (), (None,)),
    ],
)
def test_the_workspaces_asked(discovery: Discovery, configured: tuple[str, ...], asked: tuple[str | None, ...]) -> None:
    assert project_ids(discovery, configured) == asked


@pytest.mark.parametrize(
    ("error", "unreadable"),
    [
        (APIError("UnauthorizedOperation", "no"), True),
        (APIError("AuthFailure.UnauthorizedOperation", "no"), True),
        (APIError("ResourceNotFound.TiProjectId", "no"), True),
        (APIError("InvalidParameterValue.TiProjectId", "no"), True),
        (APIError("FailedOperation.NoPermission", "no"), True),
        (APIError("OperationDenied", "no"), True),
        (APIError("InternalError", "down"), False),
        (APIError("AuthFailure.SignatureFailure", "wrong key"), False),
        (APIError("RequestLimitExceeded", "slow down"), False),
        (TransportError("Timeout", "late"), False),
    ],
)
def test_which_errors_say_one_workspace_cannot_be_read(error: TencentCloudError, unreadable: bool) -> None:
    assert _unreadable(error) is unreadable


def client(fleets: dict[str, Fleet], failing: dict[str, str]) -> TencentCloudClient:
    def handler(request: httpx.Request) -> httpx.Response:
        project = json.loads(request.content).get("TiProjectId", "")
        if project in failing:
            error = {"Error": {"Code": failing[project], "Message": "refused"}, "RequestId": "r-x"}
            return httpx.Response(200, json={"Response": error})
        return fleets[project].handler(request)

    return TencentCloudClient(
        endpoint="http://127.0.0.1:1",
        service="tione",
        version="2021-11-11",
        credentials=Credentials("AKID", "key"),
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        rate_limiter=TokenBucket(rate=1000, burst=100),
        max_attempts=1,
    )


def fleets() -> dict[str, Fleet]:
    found = {"": Fleet(2), "ws-a": Fleet(0), "ws-b": Fleet(0)}
    found["ws-a"].groups = [group(index, project="a") for index in range(3)] + [group(0)]  # one also in the default
    found["ws-b"].groups = [group(index, project="b") for index in range(2)]
    return found


async def test_a_workspace_that_cannot_be_read_is_left_out_and_reported() -> None:
    result = await scan_workspaces(
        client(fleets(), {"ws-b": "ResourceNotFound"}), "r", ListingQuery(), [None, "ws-a", "ws-b"], deadline=deadline()
    )
    assert sorted(str(g.service_group_id) for g in result.groups) == sorted(
        ["ms-00000", "ms-00001", "ms-a00000", "ms-a00001", "ms-a00002"]
    )
    assert result.skipped == (Skipped("workspace", "ws-b", "", "", "not_readable", detail="ResourceNotFound"),)
    assert result.workspaces == (None, "ws-a")
    # a group listed both without an id and by its workspace's id belongs to that workspace
    assert result.workspace_of == {"ms-00000": "ws-a", "ms-a00000": "ws-a", "ms-a00001": "ws-a", "ms-a00002": "ws-a"}


async def test_when_no_workspace_can_be_read_the_first_error_is_the_listings() -> None:
    with pytest.raises(APIError) as caught:
        await scan_workspaces(
            client(fleets(), {"ws-a": "UnauthorizedOperation", "ws-b": "ResourceNotFound"}),
            "r",
            ListingQuery(),
            ["ws-a", "ws-b"],
            deadline=deadline(),
        )
    assert caught.value.code == "UnauthorizedOperation"


async def test_an_error_of_the_api_as_a_whole_fails_the_listing_even_with_other_workspaces_read() -> None:
    with pytest.raises(APIError) as caught:
        await scan_workspaces(
            client(fleets(), {"ws-b": "InternalError"}), "r", ListingQuery(), ["ws-a", "ws-b"], deadline=deadline()
        )
    assert (caught.value.code, caught.value.region) == ("InternalError", "r")


def test_the_parts_of_a_listing_add_up() -> None:
    """Requests add up over the workspaces; a second scan anywhere shows, and so does a seam left open."""
    parts = [
        _Part("ws-a", [ServiceGroup(service_group_id="ms-1")], requests=3, scans=1),
        _Part("ws-b", [ServiceGroup(service_group_id="ms-2")], requests=4, scans=2, consistent=False),
        _Part("ws-c", [], requests=1, scans=1),
    ]
    result = _merge("r", parts, [], ["ws-d"], 2)
    assert (result.requests, result.scans, result.consistent) == (8, 2, False)
    assert (result.workspaces, result.unlisted, result.unlisted_requests) == (("ws-a", "ws-b", "ws-c"), ("ws-d",), 2)
    assert _merge("r", parts[::2], [], [], 0).consistent is True


class Counts:
    """Answers `DescribeModelServiceGroups` with `TotalCount` of each workspace ("" the default one), and
    `DescribeWorkspaces` with `workspaces` (an error code instead: refused); every request's action and body."""

    def __init__(self, totals: dict[str, int | str], workspaces: int | str = 0) -> None:
        self.totals = totals
        self.workspaces = workspaces
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        action, body = request.headers["X-TC-Action"], json.loads(request.content)
        self.asked.append((action, body))
        total = self.workspaces if action == "DescribeWorkspaces" else self.totals[body.get("TiProjectId", "")]
        if isinstance(total, str):
            error = {"Error": {"Code": total, "Message": "refused"}, "RequestId": "r-x"}
            return httpx.Response(200, json={"Response": error})
        if action == "DescribeWorkspaces":
            answer = {"TotalCount": total, "Workspaces": [], "RequestId": "r-w"}
            return httpx.Response(200, json={"Response": answer})
        return httpx.Response(200, json={"Response": {"TotalCount": total, "ServiceGroups": [], "RequestId": "r"}})

    def client(self) -> TencentCloudClient:
        return TencentCloudClient(
            endpoint="http://127.0.0.1:1",
            service="tione",
            version="2021-11-11",
            credentials=Credentials("AKID", "key"),
            http=httpx.AsyncClient(transport=httpx.MockTransport(self.handler)),
            rate_limiter=TokenBucket(rate=1000, burst=100),
            max_attempts=1,
        )


async def test_groups_are_counted_once_per_workspace_from_one_single_group_request_each() -> None:
    counts = Counts({"": 7, "ws-a": 250, "ws-b": 0})
    total = await count_groups(counts.client(), "r", [None, "ws-a", "ws-b", "ws-a"], deadline=deadline())
    assert total == 7 + 250
    assert [body.get("TiProjectId") for _, body in counts.asked] == [None, "ws-a", "ws-b"]
    assert all((body["Offset"], body["Limit"]) == (0, 1) for _, body in counts.asked)


@pytest.mark.parametrize(
    ("configured", "discover", "workspaces", "requests"),
    [
        (("ws-a", "ws-b", "ws-a"), True, 40, 2),  # the configured ones, each once, without asking
        ((), False, 40, 1),  # the default one
        ((), True, 40, 40),  # every one discovery finds
        ((), True, 0, 1),  # none found: the default one
        ((), True, "UnauthorizedOperation", 1),  # may not discover: the default one
    ],
)
async def test_the_requests_a_poll_needs_are_one_per_workspace_it_lists(
    configured: tuple[str, ...], discover: bool, workspaces: int | str, requests: int
) -> None:
    counts = Counts({}, workspaces)
    assert await poll_requests(counts.client(), "r", configured, discover=discover, deadline=deadline()) == requests
    asked = [(action, body["Offset"], body["Limit"]) for action, body in counts.asked]
    assert asked == ([("DescribeWorkspaces", 0, 1)] if discover and not configured else [])


async def test_the_requests_a_poll_needs_cannot_be_counted_when_discovery_fails_otherwise() -> None:
    with pytest.raises(APIError) as caught:
        await poll_requests(Counts({}, "InternalError").client(), "r", (), discover=True, deadline=deadline())
    assert (caught.value.code, caught.value.region) == ("InternalError", "r")


async def test_groups_cannot_be_counted_in_a_workspace_that_refuses() -> None:
    with pytest.raises(APIError) as caught:
        await count_groups(Counts({"ws-a": "ResourceNotFound"}).client(), "r", ["ws-a"], deadline=deadline())
    assert (caught.value.code, caught.value.region) == ("ResourceNotFound", "r")
