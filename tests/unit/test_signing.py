"""Our TC3 signature must equal, byte for byte, what the official SDK computes for the same inputs."""

from __future__ import annotations

import json

import pytest
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tione.v20211111 import tione_client

from exporter.tencentcloud import signing


def sdk_authorization(
    secret_id: str, secret_key: str, host: str, timestamp: int, params: dict[str, object]
) -> tuple[str, bytes]:
    """Let the SDK build (but not send) a signed request, and read back its header and body."""
    http = HttpProfile(endpoint=host, reqMethod="POST")
    client = tione_client.TioneClient(
        credential.Credential(secret_id, secret_key), "ap-guangzhou", ClientProfile(httpProfile=http)
    )
    captured: dict[str, object] = {}

    class Stop(Exception):
        pass

    def fake_request(req: object, *args: object, **kwargs: object) -> object:
        captured["header"] = req.header  # type: ignore[attr-defined]
        captured["data"] = req.data  # type: ignore[attr-defined]
        raise Stop

    client.request.send_request = fake_request  # type: ignore[method-assign]
    import time as time_module

    real_time = time_module.time
    time_module.time = lambda: float(timestamp)  # type: ignore[assignment]
    try:
        with pytest.raises(Exception):  # noqa: B017 - the SDK wraps our Stop in its own exception
            client.call_json("DescribeModelServiceGroups", params)
    finally:
        time_module.time = real_time  # type: ignore[assignment]
    header = captured["header"]
    data = captured["data"]
    assert isinstance(header, dict)
    body = data.encode() if isinstance(data, str) else data
    assert isinstance(body, bytes)
    assert int(header["X-TC-Timestamp"]) == timestamp
    return str(header["Authorization"]), body


@pytest.mark.parametrize(
    ("host", "timestamp", "params"),
    [
        ("tione.tencentcloudapi.com", 1700000000, {"Limit": 100, "Offset": 0}),
        ("127.0.0.1:18080", 1767225599, {"Filters": [{"Name": "Status", "Values": ["Normal"]}], "Limit": 10}),
        ("tione.intl.tencentcloudapi.com", 1767225600, {}),
    ],
)
def test_authorization_matches_official_sdk(host: str, timestamp: int, params: dict[str, object]) -> None:
    expected, body = sdk_authorization("AKIDexample0000000000000000000000", "key-example", host, timestamp, params)
    assert json.loads(body) == params
    ours = signing.authorization(
        secret_id="AKIDexample0000000000000000000000",
        secret_key="key-example",
        service="tione",
        host=host,
        timestamp=timestamp,
        body=body,
    )
    assert ours == expected


def test_verify_accepts_own_signature_and_rejects_tampering() -> None:
    body = b'{"Limit": 10}'
    header = signing.authorization(
        secret_id="id", secret_key="key", service="tione", host="h:1", timestamp=1700000000, body=body
    )
    parsed = signing.parse_authorization(header)
    assert parsed is not None and parsed.secret_id == "id" and parsed.date == "2023-11-14"
    ok = {"content_type": "application/json", "host": "h:1", "timestamp": 1700000000}
    assert signing.verify(parsed, secret_key="key", body=body, **ok)  # type: ignore[arg-type]
    assert not signing.verify(parsed, secret_key="other", body=body, **ok)  # type: ignore[arg-type]
    assert not signing.verify(parsed, secret_key="key", body=b'{"Limit": 11}', **ok)  # type: ignore[arg-type]


@pytest.mark.parametrize("header", ["", "Basic abc", "TC3-HMAC-SHA256 Credential=a/b, Signature=x"])
def test_parse_rejects_garbage(header: str) -> None:
    assert signing.parse_authorization(header) is None
