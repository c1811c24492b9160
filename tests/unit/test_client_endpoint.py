from __future__ import annotations

import pytest

from exporter.tencentcloud.endpoint import Endpoint, EndpointError, is_loopback


@pytest.mark.parametrize(
    ("value", "url", "host"),
    [
        ("https://tione.tencentcloudapi.com", "https://tione.tencentcloudapi.com/", "tione.tencentcloudapi.com"),
        ("tione.tencentcloudapi.com", "https://tione.tencentcloudapi.com/", "tione.tencentcloudapi.com"),
        ("https://tione.tencentcloudapi.com:443/", "https://tione.tencentcloudapi.com/", "tione.tencentcloudapi.com"),
        ("https://example.internal:8443", "https://example.internal:8443/", "example.internal:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/", "127.0.0.1:8080"),
        ("http://localhost", "http://localhost/", "localhost"),
        ("http://[::1]:9000/", "http://[::1]:9000/", "[::1]:9000"),
        ("HTTPS://TIONE.TENCENTCLOUDAPI.COM", "https://tione.tencentcloudapi.com/", "tione.tencentcloudapi.com"),
    ],
)
def test_parse(value: str, url: str, host: str) -> None:
    endpoint = Endpoint.parse(value)
    assert (endpoint.url, endpoint.host) == (url, host)


def test_plain_http_to_a_remote_host_needs_explicit_permission() -> None:
    with pytest.raises(EndpointError, match="plain http to a non-loopback host"):
        Endpoint.parse("http://proxy.internal:3128")
    endpoint = Endpoint.parse("http://proxy.internal:3128", allow_insecure=True)
    assert (endpoint.scheme, endpoint.host) == ("http", "proxy.internal:3128")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("ftp://host", "scheme must be https or http"),
        ("https://host/v3", "without path"),
        ("https://host/?a=1", "without path"),
        ("https://user:pw@host", "user information"),
        ("https://", "no host"),
    ],
)
def test_rejects(value: str, message: str) -> None:
    with pytest.raises(EndpointError, match=message):
        Endpoint.parse(value)


def test_user_information_is_not_echoed() -> None:
    with pytest.raises(EndpointError) as caught:
        Endpoint.parse("https://user:hunter2@host")
    assert "user information" in str(caught.value) and "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("localhost", True), ("10.0.0.1", False), ("a.b", False)],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected
