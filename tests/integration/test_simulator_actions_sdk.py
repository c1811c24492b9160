"""The official Tencent Cloud SDK reads the simulator's other actions into its models."""

from __future__ import annotations

import json
import warnings

import pytest
from tencentcloud.common.credential import Credential
from tencentcloud.tione.v20211111 import models

from exporter.simulator import SimulatorConfig, SimulatorServer
from tests.integration.test_simulator_sdk import SECRET_ID, SECRET_KEY, client


def test_the_sdk_reads_the_other_actions_without_unknown_fields() -> None:
    """Each answer deserializes into the SDK's models with no "fileds are useless" warning: every key we
    send is one the SDK knows, at every depth."""
    config = SimulatorConfig(churn=False, rate_limit=None, incidents=True, secret_id=SECRET_ID, secret_key=SECRET_KEY)
    with SimulatorServer(config) as server:
        sdk = client(server, Credential(SECRET_ID, SECRET_KEY))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spaces = sdk.DescribeWorkspaces(models.DescribeWorkspacesRequest())
            groups = sdk.DescribeBillingResourceGroups(models.DescribeBillingResourceGroupsRequest())
            found = []
            for service_id in server.incidents().values():
                built = models.DescribeEventsRequest()
                built.from_json_string(json.dumps({"Service": "INFER", "ServiceId": service_id}))
                found.append(sdk.DescribeEvents(built))
        assert [str(warning.message) for warning in caught if "useless" in str(warning.message)] == []
        assert {ws.TiProjectId for ws in spaces.Workspaces} == set(server.workspaces("ap-guangzhou"))
        with pytest.deprecated_call():  # the SDK still documents and reads it, but marks it deprecated
            bound = spaces.Workspaces[0].ResourceGroups
        assert isinstance(bound[0], models.ResourceGroupInWorkspace)
        truth = server.resource_groups("ap-guangzhou")
        assert groups.TotalCount == len(truth)
        first = groups.ResourceGroupSet[0]
        assert first.UsedResource.Gpu == truth[0]["UsedResource"]["Gpu"]
        assert isinstance(first.UsedResource.GpuDetailSet[0], models.GpuDetail)
        assert isinstance(first.InstanceSet[0].TotalResource, models.ResourceInfo)
        assert isinstance(first.TagSet[0], models.Tag)
        events = [event for answer in found for event in answer.Events]
        assert events and all(isinstance(event.Count, int) for event in events)
        assert {event.Type for event in events} == {"Normal", "Warning"}
