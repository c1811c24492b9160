"""Which workspaces the listing asks, and what one unreadable workspace costs."""

from __future__ import annotations

import json

import httpx
import pytest

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials
from exporter.tencentcloud.errors import APIError, TencentCloudError, TransportError
from exporter.tencentcloud.ratelimit import TokenBucket
from exporter.tione.decode import Skipped
from exporter.tione.listing import ListingQuery
from exporter.tione.records import Workspace
from exporter.tione.service_groups import _unreadable
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
    assert caught.value.code == "InternalError"
