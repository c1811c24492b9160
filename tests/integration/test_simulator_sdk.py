"""The official Tencent Cloud SDK, pointed at the simulator, accepts it as the TI-ONE API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tione.v20211111 import models, tione_client

from exporter.simulator import SimulatorConfig, SimulatorServer

SECRET_ID = "AKIDsimulator00000000000000000000"
SECRET_KEY = "simulator-secret-key"


@pytest.fixture
def signed() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(groups=60, churn=False, rate_limit=None, secret_id=SECRET_ID, secret_key=SECRET_KEY)
    with SimulatorServer(config) as server:
        yield server


def client(server: SimulatorServer, credential: Credential, region: str = "ap-guangzhou") -> tione_client.TioneClient:
    # The SDK names the URL scheme `protocol` (it keeps a `scheme` attribute in step).
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=server.endpoint, protocol="http", reqTimeout=10))
    return tione_client.TioneClient(credential, region, profile)


def request(params: dict[str, object]) -> models.DescribeModelServiceGroupsRequest:
    built = models.DescribeModelServiceGroupsRequest()
    built.from_json_string(json.dumps(params))
    return built


def test_signed_paged_filtered_call_deserializes(signed: SimulatorServer) -> None:
    sdk = client(signed, Credential(SECRET_ID, SECRET_KEY))
    expected = [g for g in signed.fleet("ap-guangzhou", "") if "Normal" in {s["Status"] for s in g["Services"]}]
    expected_ids = [g["ServiceGroupId"] for g in expected]
    params = {"Limit": 7, "Offset": 3, "Filters": [{"Name": "Status", "Values": ["Normal"]}]}
    answer = sdk.DescribeModelServiceGroups(request(params))
    assert isinstance(answer, models.DescribeModelServiceGroupsResponse)
    assert answer.TotalCount == len(expected) > 10
    assert [group.ServiceGroupId for group in answer.ServiceGroups] == expected_ids[3:10]
    first, truth = answer.ServiceGroups[0], expected[3]
    assert first.ServiceGroupName == truth["ServiceGroupName"]
    assert first.ServiceCount == len(first.Services) == len(truth["Services"])
    service, true_service = first.Services[0], truth["Services"][0]
    assert isinstance(service, models.Service)
    assert service.ServiceId == true_service["ServiceId"]
    assert service.ServiceInfo.Resources.Cpu == true_service["ServiceInfo"]["Resources"]["Cpu"]
    assert service.ServiceInfo.Status.Replicas == true_service["ServiceInfo"]["Status"]["Replicas"]
    conditions = {c.Type: c.LastTransitionTime for c in service.ServiceInfo.Status.Conditions}
    assert conditions["Available"].endswith("+08:00")
    pods = service.ServiceInfo.PodInfos
    assert len(pods) == len(true_service["ServiceInfo"]["PodInfos"])
    assert answer.RequestId
    record = signed.requests[-1]
    assert record.body == params and record.region == "ap-guangzhou" and "authorization" not in record.headers


def test_walks_every_page_of_one_hundred(signed: SimulatorServer) -> None:
    sdk = client(signed, Credential(SECRET_ID, SECRET_KEY), region="ap-shanghai")
    seen: list[str] = []
    while True:
        answer = sdk.DescribeModelServiceGroups(request({"Limit": 100, "Offset": len(seen), "Order": "ASC"}))
        seen += [group.ServiceGroupId for group in answer.ServiceGroups]
        if len(seen) >= answer.TotalCount:
            break
    assert seen == [g["ServiceGroupId"] for g in reversed(signed.fleet("ap-shanghai", ""))]


def test_wrong_key_is_a_signature_failure(signed: SimulatorServer) -> None:
    sdk = client(signed, Credential(SECRET_ID, "not-the-key"))
    with pytest.raises(TencentCloudSDKException) as caught:
        sdk.DescribeModelServiceGroups(request({"Limit": 1}))
    assert caught.value.code == "AuthFailure.SignatureFailure"
    assert caught.value.requestId
    assert "not-the-key" not in str(caught.value) and SECRET_KEY not in str(caught.value)


def test_unknown_secret_id(signed: SimulatorServer) -> None:
    with pytest.raises(TencentCloudSDKException) as caught:
        client(signed, Credential("AKIDsomebodyelse", SECRET_KEY)).DescribeModelServiceGroups(request({}))
    assert caught.value.code == "AuthFailure.SecretIdNotFound"


def test_temporary_credentials_need_their_token(signed: SimulatorServer) -> None:
    signed.add_credentials("AKIDtemporary", "temporary-key", token="session-token")
    answer = client(signed, Credential("AKIDtemporary", "temporary-key", "session-token")).DescribeModelServiceGroups(
        request({"Limit": 2})
    )
    assert len(answer.ServiceGroups) == 2
    assert signed.requests[-1].headers["x-tc-token"] == "session-token"
    with pytest.raises(TencentCloudSDKException) as caught:
        client(signed, Credential("AKIDtemporary", "temporary-key")).DescribeModelServiceGroups(request({}))
    assert caught.value.code == "AuthFailure.TokenFailure"
    with pytest.raises(TencentCloudSDKException) as caught:
        client(signed, Credential("AKIDtemporary", "temporary-key", "old-token")).DescribeModelServiceGroups(
            request({})
        )
    assert caught.value.code == "AuthFailure.TokenFailure"
    signed.remove_credentials("AKIDtemporary")
    with pytest.raises(TencentCloudSDKException) as caught:
        client(signed, Credential("AKIDtemporary", "temporary-key", "session-token")).DescribeModelServiceGroups(
            request({})
        )
    assert caught.value.code == "AuthFailure.SecretIdNotFound"


def test_temporary_credentials_from_the_config() -> None:
    config = SimulatorConfig(churn=False, credentials=(("AKIDsts", "sts-key", "sts-token"),))
    with SimulatorServer(config) as server:
        answer = client(server, Credential("AKIDsts", "sts-key", "sts-token")).DescribeModelServiceGroups(request({}))
        assert answer.TotalCount == len(server.fleet("ap-guangzhou", ""))


def test_api_errors_reach_the_sdk_as_its_exceptions(signed: SimulatorServer) -> None:
    credential = Credential(SECRET_ID, SECRET_KEY)
    with pytest.raises(TencentCloudSDKException) as caught:
        client(signed, credential, region="ap-beijing").DescribeModelServiceGroups(request({}))
    assert caught.value.code == "UnsupportedRegion"
    with pytest.raises(TencentCloudSDKException) as caught:
        client(signed, credential).DescribeModelServiceGroups(request({"Limit": 101}))
    assert caught.value.code == "InvalidParameterValue"
    signed.inject("error=InternalError")
    with pytest.raises(TencentCloudSDKException) as caught:
        client(signed, credential).DescribeModelServiceGroups(request({}))
    assert caught.value.code == "InternalError"
    signed.set_rate_limit(0)
    with pytest.raises(TencentCloudSDKException) as caught:
        client(signed, credential).DescribeModelServiceGroups(request({}))
    assert caught.value.code == "RequestLimitExceeded"
