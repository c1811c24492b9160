"""Our TC3 signature must equal, byte for byte, what the official SDK computes for the same inputs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

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


@pytest.fixture(params=["CST-8", "PST8", "Asia/Shanghai"])
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The process's local time zone set to one far from UTC (POSIX spellings need no tz database), and
    restored afterwards."""
    zone = str(request.param)
    if "/" in zone and not os.path.exists(f"/usr/share/zoneinfo/{zone}"):
        pytest.skip(f"no tz database entry for {zone} (the POSIX spellings cover the same offsets)")
    saved = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield zone
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.parametrize(
    "timestamp",
    [
        1767225599,  # 2025-12-31 23:59:59 UTC: already 2026-01-01 east of UTC
        1767225600,  # 2026-01-01 00:00:00 UTC: still 2025-12-31 west of UTC
        1767200400,  # 2025-12-31 17:00:00 UTC: 01:00 the next day at UTC+8
        1767250800,  # 2026-01-01 07:00:00 UTC: 23:00 the day before at UTC-8
    ],
)
def test_authorization_matches_official_sdk_in_a_local_zone_far_from_utc(local_zone: str, timestamp: int) -> None:
    """The credential scope's date is the UTC date, whatever the host's zone: near midnight UTC a local date
    would differ from the API's (and the SDK's) by a day, and every request would fail its signature check."""
    if local_zone == "PST8":
        assert time.localtime(1767225600).tm_mday == 31, "the zone did not take effect"
    else:
        assert time.localtime(1767225599).tm_year == 2026, "the zone did not take effect"
    params: dict[str, object] = {"Limit": 100, "Offset": 0}
    expected, body = sdk_authorization(
        "AKIDexample0000000000000000000000", "key-example", "tione.tencentcloudapi.com", timestamp, params
    )
    ours = signing.authorization(
        secret_id="AKIDexample0000000000000000000000",
        secret_key="key-example",
        service="tione",
        host="tione.tencentcloudapi.com",
        timestamp=timestamp,
        body=body,
    )
    assert ours == expected
    assert signing.utc_date(timestamp) == time.strftime("%Y-%m-%d", time.gmtime(timestamp))
