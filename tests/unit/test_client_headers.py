"""The whole header set of a request (signed, with a token, and unsigned) equals what the official SDK builds."""

from __future__ import annotations

import json
import time as time_module
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from exporter.tencentcloud.request import encode_body, request_headers

SDK_ONLY = {"X-TC-TraceId"}
"""A random id per request that the SDK adds for its own tracing; not part of the API contract."""


class Stop(Exception):
    pass


def sdk_request(
    *,
    service: str,
    version: str,
    action: str,
    region: str,
    host: str,
    timestamp: int,
    params: dict[str, Any],
    cred: credential.Credential | None,
    skip_sign: bool = False,
) -> tuple[dict[str, str], bytes, str]:
    """Let the SDK build (but not send) a request; return its headers, body and request-client string."""
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=host, reqMethod="POST"), language="en-US")
    client = CommonClient(service, version, cred, region, profile=profile)
    captured: dict[str, Any] = {}

    def fake_send(req: Any, *args: object, **kwargs: object) -> object:
        captured["header"] = dict(req.header)
        captured["data"] = req.data
        raise Stop

    client.request.send_request = fake_send  # type: ignore[method-assign]
    real_time = time_module.time
    time_module.time = lambda: float(timestamp)  # type: ignore[assignment]
    try:
        with pytest.raises(Exception):  # noqa: B017 - the SDK wraps our Stop in its own exception
            client.call_json(action, params, options={"SkipSign": skip_sign})
    finally:
        time_module.time = real_time  # type: ignore[assignment]
    data = captured["data"]
    body = data.encode() if isinstance(data, str) else data
    return captured["header"], body, client.request_client


@pytest.mark.parametrize(
    ("host", "timestamp", "token"),
    [
        ("tione.tencentcloudapi.com", 1700000000, None),
        ("127.0.0.1:18080", 1767225599, "session-token-example"),
        ("[::1]:8443", 1767225600, None),
    ],
)
def test_signed_headers_match_official_sdk(host: str, timestamp: int, token: str | None) -> None:
    params = {"Limit": 100, "Offset": 0, "Filters": [{"Name": "Status", "Values": ["Normal"]}]}
    cred = credential.Credential("AKIDexample0000000000000000000000", "key-example", token)
    expected, body, request_client = sdk_request(
        service="tione",
        version="2021-11-11",
        action="DescribeModelServiceGroups",
        region="ap-guangzhou",
        host=host,
        timestamp=timestamp,
        params=params,
        cred=cred,
    )
    ours = request_headers(
        service="tione",
        action="DescribeModelServiceGroups",
        version="2021-11-11",
        region="ap-guangzhou",
        host=host,
        timestamp=timestamp,
        body=body,
        secret_id="AKIDexample0000000000000000000000",
        secret_key="key-example",
        token=token,
        language="en-US",
        request_client=request_client,
    )
    assert ours == {name: value for name, value in expected.items() if name not in SDK_ONLY}
    assert ("X-TC-Token" in ours) == (token is not None)


def test_unsigned_sts_headers_match_official_sdk() -> None:
    params = {
        "ProviderId": "tke-provider",
        "WebIdentityToken": "web-identity-token",
        "RoleArn": "qcs::cam::uin/100000000001:roleName/exporter",
        "RoleSessionName": "tione-exporter-1",
        "DurationSeconds": 7200,
    }
    expected, body, request_client = sdk_request(
        service="sts",
        version="2018-08-13",
        action="AssumeRoleWithWebIdentity",
        region="ap-shanghai",
        host="127.0.0.1:9999",
        timestamp=1767225600,
        params=params,
        cred=None,
        skip_sign=True,
    )
    ours = request_headers(
        service="sts",
        action="AssumeRoleWithWebIdentity",
        version="2018-08-13",
        region="ap-shanghai",
        host="127.0.0.1:9999",
        timestamp=1767225600,
        body=body,
        secret_id=None,
        secret_key=None,
        language="en-US",
        request_client=request_client,
    )
    assert ours == {name: value for name, value in expected.items() if name not in SDK_ONLY}
    assert ours["Authorization"] == "SKIP"


def test_encode_body_is_compact_json() -> None:
    params = {"Filters": [{"Name": "ServiceGroupName", "Values": ["模型"], "Fuzzy": True}], "Limit": 100}
    body = encode_body(params)
    assert json.loads(body) == params
    assert b" " not in body
    body.decode("ascii")  # non-ASCII is escaped, so the signed bytes do not depend on an encoding


def test_headers_change_with_every_signed_input() -> None:
    base: dict[str, Any] = {
        "service": "tione",
        "action": "DescribeModelServiceGroups",
        "version": "2021-11-11",
        "region": "ap-guangzhou",
        "host": "tione.tencentcloudapi.com",
        "timestamp": int(time_module.time()),
        "body": b"{}",
        "secret_id": "id",
        "secret_key": "key",
    }
    reference = request_headers(**base)["Authorization"]
    for name, value in (("host", "other:1"), ("body", b"{ }"), ("secret_key", "key2"), ("service", "cvm")):
        assert request_headers(**{**base, name: value})["Authorization"] != reference, name
