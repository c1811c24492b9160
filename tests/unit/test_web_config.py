"""`--web.config.file`: parsing and checking the exporter-toolkit format, basic auth, and TLS on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import bcrypt
import httpx
import pytest

from exporter.console import ConfigError
from exporter.metrics.render import render
from exporter.poller import RegionStatus
from exporter.web.connections import Limits
from exporter.web.page import PageContext
from exporter.web.server import ExporterApp, WebServer, bind
from exporter.web.webconfig import (
    CHECKS_WAITING,
    FAILED_CHECK_PAUSE,
    MAX_WEB_CONFIG_BYTES,
    BasicAuth,
    WebConfig,
    load_web_config,
)
from tests.conftest import REPO

# Throw-away test material made with openssl for these tests only (100-year validity, EC P-256):
# a CA, a server certificate for 127.0.0.1/localhost and a client certificate it signed, and an
# unrelated self-signed pair. Nothing else trusts them.
PEM: dict[str, str] = {
    "ca.crt": (
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBmTCCAT+gAwIBAgIUKRaD10hR/Ze7M/71w3MDdT627hkwCgYIKoZIzj0EAwIw\n"
        "ITEfMB0GA1UEAwwWdGlvbmUtZXhwb3J0ZXIgdGVzdCBDQTAgFw0yNjExMjgxNjAw\n"
        "MzVaGA8yMTI2MTEwNDE2MDAzNVowITEfMB0GA1UEAwwWdGlvbmUtZXhwb3J0ZXIg\n"
        "dGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKj/95FVR73MALdCWjzo\n"
        "+dzEGfAUbogYW3dOklXyGBfpvcAtwH/TtJOOwWe+W32kTT+s5xqC0CKu4j1Vk/di\n"
        "mKCjUzBRMB0GA1UdDgQWBBR+Fp88Fglovw4lsdnygu8AsBCClTAfBgNVHSMEGDAW\n"
        "gBR+Fp88Fglovw4lsdnygu8AsBCClTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49\n"
        "BAMCA0gAMEUCIQDl9raPiBOhtiUtyWrER0jKgPs/RUon4o0/xZuWAiDJUAIgDNc1\n"
        "GoNox0Od4PW7rb7nrCp1Bn/dnAq1I3t0FjaoKXI=\n"
        "-----END CERTIFICATE-----\n"
    ),
    "server.crt": (
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBqzCCAVKgAwIBAgIUaXXX9JgwmNnUOaqREHsKIoRA2C0wCgYIKoZIzj0EAwIw\n"
        "ITEfMB0GA1UEAwwWdGlvbmUtZXhwb3J0ZXIgdGVzdCBDQTAgFw0yNjExMjgxNjAw\n"
        "MzVaGA8yMTI2MTEwNDE2MDAzNVowFDESMBAGA1UEAwwJMTI3LjAuMC4xMFkwEwYH\n"
        "KoZIzj0CAQYIKoZIzj0DAQcDQgAEU6FKX1ywBgZYtvZFhiP6aGhd7ux42lnEJWNh\n"
        "5db0jY5QuBXD/Aw8kMZDAuwtlQn/eHtjei7g8125BVm5y62YU6NzMHEwGgYDVR0R\n"
        "BBMwEYcEfwAAAYIJbG9jYWxob3N0MBMGA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1Ud\n"
        "DgQWBBRzckkZy5hP7C54woCQgi0f7UBYSzAfBgNVHSMEGDAWgBR+Fp88Fglovw4l\n"
        "sdnygu8AsBCClTAKBggqhkjOPQQDAgNHADBEAiAtrk8CJPoPFMI3VSpUPAQugGn3\n"
        "XDqZOW4Vu88G63EtEQIgBdL1L48sJ8zGgeVozPk5JTfYlW2URgoZge0cwE6932o=\n"
        "-----END CERTIFICATE-----\n"
    ),
    "server.key": (
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgE+zsHbkfZGgn4NWi\n"
        "uqZRiPjAmrDVAwkuazoMYyau2L6hRANCAARToUpfXLAGBli29kWGI/poaF3u7Hja\n"
        "WcQlY2Hl1vSNjlC4FcP8DDyQxkMC7C2VCf94e2N6LuDzXbkFWbnLrZhT\n"
        "-----END PRIVATE KEY-----\n"
    ),
    "client.crt": (
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBkTCCATegAwIBAgIUaXXX9JgwmNnUOaqREHsKIoRA2C4wCgYIKoZIzj0EAwIw\n"
        "ITEfMB0GA1UEAwwWdGlvbmUtZXhwb3J0ZXIgdGVzdCBDQTAgFw0yNjExMjgxNjAw\n"
        "MzVaGA8yMTI2MTEwNDE2MDAzNVowFTETMBEGA1UEAwwKcHJvbWV0aGV1czBZMBMG\n"
        "ByqGSM49AgEGCCqGSM49AwEHA0IABA1vZzD4Nk8HiGyDRmlJKAgeP2B2kDuQ3/BI\n"
        "oGn90Mx7CDbR/Nb2JLDSP1qg+Om1FuEb/f1eX7OX4HMuefOL3JSjVzBVMBMGA1Ud\n"
        "JQQMMAoGCCsGAQUFBwMCMB0GA1UdDgQWBBS16aL4WpHfgQo9YpQSOa7QRjp6NjAf\n"
        "BgNVHSMEGDAWgBR+Fp88Fglovw4lsdnygu8AsBCClTAKBggqhkjOPQQDAgNIADBF\n"
        "AiEA1CmS1yxO6/3uCaAk8eSLwOiB/7+nb2js9bopA8qcmUQCIFgpSrC5Ct7EQAVY\n"
        "EiF3wvU9fMkSy/GI80ZtHCoAS4su\n"
        "-----END CERTIFICATE-----\n"
    ),
    "client.key": (
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2yZAz6Gwuj4YWbVa\n"
        "WErM7Ri3k5Hygog1swCH31VUdS6hRANCAAQNb2cw+DZPB4hsg0ZpSSgIHj9gdpA7\n"
        "kN/wSKBp/dDMewg20fzW9iSw0j9aoPjptRbhG/39Xl+zl+BzLnnzi9yU\n"
        "-----END PRIVATE KEY-----\n"
    ),
    "other.crt": (
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBdjCCAR2gAwIBAgIUU/GsS7avLsH6LXOBIhrQVLyXV10wCgYIKoZIzj0EAwIw\n"
        "EDEOMAwGA1UEAwwFb3RoZXIwIBcNMjYxMTI4MTYwMDM1WhgPMjEyNjExMDQxNjAw\n"
        "MzVaMBAxDjAMBgNVBAMMBW90aGVyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
        "MZ+MGLlmkMvcB8GwwxKd9gKX7QUCq0+IpLyLAWlwW8M+9peXrRXq2WaZW3DjMd72\n"
        "dPs/Jn15t9U6Wnpd+WG8MqNTMFEwHQYDVR0OBBYEFD6YZfB563xOoRQvz9lg3KZV\n"
        "04SpMB8GA1UdIwQYMBaAFD6YZfB563xOoRQvz9lg3KZV04SpMA8GA1UdEwEB/wQF\n"
        "MAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgNlzoCBp8kd0EJeEiYZWlXqXFGIlJiNmW\n"
        "dxeqzVTU4JcCIE/Xl0LJ+cJrDpHlVwaRv0JtC4DGRdMWv2HxrCkUAwLX\n"
        "-----END CERTIFICATE-----\n"
    ),
    "other.key": (
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgt0b9u6l0TCb53duC\n"
        "qfJrThi07K69y34Jl4+gTHz5MKmhRANCAAQxn4wYuWaQy9wHwbDDEp32ApftBQKr\n"
        "T4ikvIsBaXBbwz72l5etFerZZplbcOMx3vZ0+z8mfXm31Tpael35Ybwy\n"
        "-----END PRIVATE KEY-----\n"
    ),
}

PASSWORD = "correct horse battery staple"


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    for name, text in PEM.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def hashed(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def write(directory: Path, text: str) -> Path:
    path = directory / "web.yml"
    path.write_text(text)
    return path


def problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load_web_config(path)
    return caught.value.problems


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_an_empty_file_means_plain_http_without_auth(tmp_path: Path) -> None:
    config = load_web_config(write(tmp_path, "# nothing\n"))
    assert (config.tls, dict(config.users), config.scheme) == (None, {}, "http")


def test_tls_and_users_are_loaded(tls_dir: Path) -> None:
    path = write(
        tls_dir,
        f"tls_server_config:\n  cert_file: server.crt\n  key_file: {tls_dir / 'server.key'}\n"
        f"  min_version: TLS13\nbasic_auth_users:\n  prometheus: {hashed(PASSWORD)}\n",
    )
    config = load_web_config(path)
    assert config.scheme == "https"
    assert config.tls is not None
    assert config.tls.minimum_version == ssl.TLSVersion.TLSv1_3
    assert config.tls.verify_mode == ssl.CERT_NONE
    assert list(config.users) == ["prometheus"]


def test_client_certificates(tls_dir: Path) -> None:
    path = write(
        tls_dir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    )
    config = load_web_config(path)
    assert config.tls is not None and config.tls.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tls_server_config:\n  key_file: server.key\n", "tls_server_config.cert_file: required"),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: nope.key\n",
            "tls_server_config.key_file: no such file",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
            "tls_server_config: cannot use cert_file and key_file together: KEY_VALUES_MISMATCH",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n",
            'tls_server_config.client_auth_type: "RequireAnyClientCert" is not supported',
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Whatever\n",
            'tls_server_config.client_auth_type: "Whatever" is unknown',
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  client_auth_type: VerifyClientCertIfGiven\n",
            "tls_server_config.client_ca_file: required",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS10\n",
            'tls_server_config.min_version: "TLS10" must be one of TLS12, TLS13',
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [X]\n",
            "tls_server_config.cipher_suites: not supported",
        ),
        ("http_server_config:\n  http2: true\n", "http_server_config: not supported"),
        ("basic_auth_user:\n  a: b\n", "basic_auth_user: unknown key"),
        ("basic_auth_users:\n  prometheus: hunter2-in-clear\n", "basic_auth_users.prometheus: not a bcrypt hash"),
        ("- a\n", "the top level must be a mapping"),
    ],
)
def test_each_problem_is_named(tls_dir: Path, text: str, expected: str) -> None:
    path = write(tls_dir, text)
    found = problems(path)
    assert any(line.startswith(f"--web.config.file {path}: {expected}") for line in found), found
    assert not any("hunter2" in line for line in found), "a plain password must not be echoed"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    assert problems(missing) == (f"--web.config.file {missing}: cannot read the file: No such file or directory",)


@pytest.mark.timeout(20)
def test_a_web_config_that_is_no_small_regular_file_is_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "web.fifo"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    huge = tmp_path / "huge.yml"
    with huge.open("wb") as file:  # sparse: only the size is ever looked at
        file.write(b"basic_auth_users: {}\n")
        file.truncate(60_000_000)
    size_problem = f"60000000 bytes is too large for a web configuration file (at most {MAX_WEB_CONFIG_BYTES})"
    for path, problem in (
        (fifo, "not a regular file"),
        (Path("/dev/zero"), "not a regular file"),
        (tmp_path, "not a regular file"),
        (huge, size_problem),
    ):
        assert problems(path) == (f"--web.config.file {path}: {problem}",)


def test_a_web_config_just_within_the_limit_is_read(tmp_path: Path) -> None:
    head = "basic_auth_users:\n"
    path = write(tmp_path, head + "#" * (MAX_WEB_CONFIG_BYTES - len(head) - 1) + "\n")
    assert path.stat().st_size == MAX_WEB_CONFIG_BYTES
    assert load_web_config(path) == WebConfig()


async def test_basic_auth_checks_and_remembers(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = BasicAuth({"prometheus": hashed(PASSWORD).encode()})
    assert await auth.allows(basic("prometheus", PASSWORD))
    calls = 0
    original = bcrypt.checkpw

    def counting(password: bytes, hashed_password: bytes) -> bool:
        nonlocal calls
        calls += 1
        return original(password, hashed_password)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    assert await auth.allows(basic("prometheus", PASSWORD))
    assert calls == 0, "a known good pair is not checked with bcrypt again"
    assert not await auth.allows(basic("prometheus", "wrong"))
    assert not await auth.allows(basic("nobody", PASSWORD))
    assert calls == 2, "wrong password and unknown user both cost a bcrypt check"
    for header in (None, "", "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()):
        assert not await auth.allows(header)


class Snapshot:
    exposition = render([])
    ready = True

    def statuses(self) -> list[RegionStatus]:
        return []


class Live:
    def render(self, openmetrics: bool) -> bytes:
        return b"# TYPE tione_up gauge\ntione_up 1\n"


@pytest.fixture
async def tls_server(tls_dir: Path) -> AsyncIterator[tuple[str, Path]]:
    path = write(
        tls_dir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n"
        f"basic_auth_users:\n  prometheus: {hashed(PASSWORD)}\n",
    )
    config: WebConfig = load_web_config(path)
    context = PageContext(version="1", started=0.0, telemetry_path="/metrics", interval=30.0, max_staleness=300.0)
    app = ExporterApp(Snapshot(), Live(), context, BasicAuth(config.users))
    server = WebServer(app, bind("127.0.0.1", 0), config.tls)
    task = asyncio.create_task(server.serve())
    yield f"https://{server.address}", tls_dir
    server.stop()
    await asyncio.wait_for(task, 5)


async def test_https_with_basic_auth_on_loopback(tls_server: tuple[str, Path]) -> None:
    url, directory = tls_server
    verify = ssl.create_default_context(cafile=str(directory / "ca.crt"))
    async with httpx.AsyncClient(base_url=url, verify=verify, timeout=5) as client:
        assert (await client.get("/metrics")).status_code == 401
        denied = await client.get("/", auth=("prometheus", "wrong"))
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == 'Basic realm="tione-exporter"'
        ok = await client.get("/metrics", auth=("prometheus", PASSWORD))
        assert ok.status_code == 200
        assert b"tione_up 1" in ok.content
        assert (await client.get("/-/healthy")).status_code == 200, "probes need no credentials"
        assert (await client.get("/-/ready")).status_code == 200
    with_cert = ssl.create_default_context(cafile=str(directory / "ca.crt"))
    with_cert.load_cert_chain(str(directory / "client.crt"), str(directory / "client.key"))
    async with httpx.AsyncClient(base_url=url, verify=with_cert, timeout=5) as client:
        assert (await client.get("/metrics", auth=("prometheus", PASSWORD))).status_code == 200
    wrong_cert = ssl.create_default_context(cafile=str(directory / "ca.crt"))
    wrong_cert.load_cert_chain(str(directory / "other.crt"), str(directory / "other.key"))
    async with httpx.AsyncClient(base_url=url, verify=wrong_cert, timeout=5) as client:
        with pytest.raises(httpx.HTTPError):
            await client.get("/-/healthy")


async def test_plain_http_to_a_tls_port_fails(tls_server: tuple[str, Path]) -> None:
    url, _ = tls_server
    async with httpx.AsyncClient(base_url=url.replace("https://", "http://"), timeout=5) as client:
        with pytest.raises(httpx.HTTPError):
            await client.get("/-/healthy")


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    block = re.search(r"```yaml\n(tls_server_config:.*?)```", doc, flags=re.DOTALL)
    assert block is not None
    (tmp_path / "tls.crt").write_text(PEM["server.crt"])
    (tmp_path / "tls.key").write_text(PEM["server.key"])
    (tmp_path / "ca.crt").write_text(PEM["ca.crt"])
    config = load_web_config(write(tmp_path, block.group(1)))
    assert config.tls is not None and config.tls.verify_mode == ssl.CERT_REQUIRED
    assert list(config.users) == ["prometheus"]


# --- what the TLS settings do over the wire -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(directory: Path, tls: str, limits: Limits | None = None) -> AsyncIterator[tuple[str, int]]:
    """The real server on loopback with `tls` as the body of `tls_server_config` (cert and key given)."""
    path = write(directory, f"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{tls}")
    config = load_web_config(path)
    context = PageContext(version="1", started=0.0, telemetry_path="/metrics", interval=30.0, max_staleness=300.0)
    app = ExporterApp(Snapshot(), Live(), context, BasicAuth({}))
    server = WebServer(app, bind("127.0.0.1", 0), config.tls, limits)
    task = asyncio.create_task(server.serve())
    try:
        host, _, port = server.address.rpartition(":")
        yield host, int(port)
    finally:
        server.stop()
        await asyncio.wait_for(task, 5)


def client_context(
    directory: Path,
    *,
    maximum: ssl.TLSVersion | None = None,
    certificate: str | None = None,
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(directory / "ca.crt"))
    if maximum is not None:
        context.maximum_version = maximum
    if certificate is not None:
        context.load_cert_chain(str(directory / f"{certificate}.crt"), str(directory / f"{certificate}.key"))
    return context


def _get(address: tuple[str, int], context: ssl.SSLContext) -> tuple[str, str]:
    """The negotiated TLS version and the status line of `GET /-/healthy`, with Python's own ssl module."""
    with (
        socket.create_connection(address, timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
        return str(tls.version()), answer.split(b"\r\n", 1)[0].decode()


async def get(address: tuple[str, int], context: ssl.SSLContext) -> tuple[str, str]:
    return await asyncio.to_thread(_get, address, context)


def _two_requests_apart(address: tuple[str, int], context: ssl.SSLContext, pause: float) -> list[str]:
    """The status lines of two requests on one kept-alive TLS connection, `pause` seconds apart."""
    statuses = []
    with (
        socket.create_connection(address, timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        for request in range(2):
            time.sleep(pause * request)
            tls.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while not answer.endswith(b"Healthy.\n") and (chunk := tls.recv(4096)):
                answer += chunk
            statuses.append(answer.split(b"\r\n", 1)[0].decode())
    return statuses


async def test_a_kept_alive_tls_connection_outlives_the_header_timeout(tls_dir: Path) -> None:
    """The header timeout bounds the wait for the handshake, not the connection it opens."""
    async with serving(tls_dir, "", Limits(header_timeout=0.3)) as address:
        statuses = await asyncio.to_thread(_two_requests_apart, address, client_context(tls_dir), 0.8)
    assert statuses == ["HTTP/1.1 200 OK"] * 2


async def test_beyond_the_cap_the_oldest_tls_connection_still_silent_makes_room(tls_dir: Path) -> None:
    """Connections that have sent nothing wait in front of their TLS handshake; beyond the cap, the one that
    has waited longest is closed for the newcomer."""
    async with serving(tls_dir, "", Limits(max_connections=2)) as address:
        silent = []
        for _ in range(2):
            silent.append(socket.create_connection(address, timeout=5))
            await asyncio.sleep(0.05)
        assert (await get(address, client_context(tls_dir)))[1] == "HTTP/1.1 200 OK"
        assert silent[0].recv(1) == b"", "the oldest is closed"
        silent[1].settimeout(0.2)
        with pytest.raises(TimeoutError):
            silent[1].recv(1)
        for sock in silent:
            sock.close()


async def test_a_silent_tls_connection_is_closed_at_the_header_timeout_and_counted_quietly(
    tls_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Quietly: a browser opens such sockets; the count comes with the next line there is reason for."""
    caplog.set_level(logging.INFO, logger="exporter.web.connections")
    async with serving(tls_dir, "", Limits(max_connections=2, header_timeout=0.3)) as address:
        with socket.create_connection(address, timeout=5) as silent:
            assert await asyncio.to_thread(silent.recv, 1) == b""
        assert caplog.records == []
        waiting = [socket.create_connection(address, timeout=5) for _ in range(3)]  # one beyond the cap
        await asyncio.sleep(0.1)
        for sock in waiting:
            sock.close()
    line = caplog.records[0]
    assert (line.__dict__["closed_silent"], line.__dict__["evicted_handshake"]) == (1, 1)


async def test_a_tls_handshake_begun_and_never_finished_is_closed_at_the_header_timeout(tls_dir: Path) -> None:
    async with serving(tls_dir, "", Limits(header_timeout=0.3)) as address:
        with socket.create_connection(address, timeout=5) as stalled:
            stalled.sendall(b"\x16\x03\x01\x02\x00")  # the head of a ClientHello record, and no more
            started = time.monotonic()
            assert await asyncio.to_thread(stalled.recv, 1) == b""
            assert time.monotonic() - started < 3.0


async def test_min_version_refuses_an_older_client_over_the_wire(tls_dir: Path) -> None:
    async with serving(tls_dir, "  min_version: TLS13\n") as address:
        assert await get(address, client_context(tls_dir)) == ("TLSv1.3", "HTTP/1.1 200 OK")
        with pytest.raises(ssl.SSLError):
            await get(address, client_context(tls_dir, maximum=ssl.TLSVersion.TLSv1_2))


async def test_max_version_caps_what_is_negotiated_over_the_wire(tls_dir: Path) -> None:
    async with serving(tls_dir, "  max_version: TLS12\n") as address:
        assert await get(address, client_context(tls_dir)) == ("TLSv1.2", "HTTP/1.1 200 OK")
    async with serving(tls_dir, "") as address:
        assert (await get(address, client_context(tls_dir)))[0] == "TLSv1.3", "without max_version: the newest"


async def test_a_client_without_a_certificate_is_refused_when_one_is_required(tls_dir: Path) -> None:
    required = "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
    async with serving(tls_dir, required) as address:
        assert (await get(address, client_context(tls_dir, certificate="client")))[1] == "HTTP/1.1 200 OK"
        for refused in (client_context(tls_dir), client_context(tls_dir, certificate="other")):
            # TLS 1.3 reports a refused certificate after the handshake: as an alert on the first read
            # or as a closed connection, never as an answer.
            try:
                _, status = await get(address, refused)
            except (ssl.SSLError, ConnectionError):
                continue
            assert status == "", status


def test_every_problem_of_every_section_is_listed_at_once(tls_dir: Path) -> None:
    path = write(
        tls_dir,
        "tls_server_config:\n  cert_file: ''\n  key_file: 5\n  client_auth_type: RequestClientCert\n"
        "basic_auth_users:\n  'a:b': x\n  '': y\n  good: not-a-hash\n  other: not-one-either\nextra: 1\n",
    )
    where = f"--web.config.file {path}"
    assert problems(path) == (
        f"{where}: extra: unknown key",
        f"{where}: tls_server_config.cert_file: required",
        f"{where}: tls_server_config.key_file: expected a file path",
        f'{where}: tls_server_config.client_auth_type: "RequestClientCert" is not supported (client certificates '
        "are always verified); use one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert",
        f"{where}: basic_auth_users: invalid user name 'a:b'",
        f"{where}: basic_auth_users: invalid user name ''",
        f"{where}: basic_auth_users.good: not a bcrypt hash (expected $2a$, $2b$ or $2y$...)",
        f"{where}: basic_auth_users.other: not a bcrypt hash (expected $2a$, $2b$ or $2y$...)",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tls_server_config: [a]\n", "tls_server_config: expected a mapping"),
        ("tls_server_config:\n  cert_file: server.crt\n", "tls_server_config.key_file: required"),
        ("basic_auth_users: [a]\n", "basic_auth_users: expected a mapping of user names to bcrypt hashes"),
        ("basic_auth_users:\n  7: x\n", "basic_auth_users: invalid user name 7"),
        ("a: [\n", "not a valid YAML file"),
    ],
)
def test_each_problem_is_exactly_this_line(tls_dir: Path, text: str, expected: str) -> None:
    path = write(tls_dir, text)
    assert problems(path) == (f"--web.config.file {path}: {expected}",)


def test_one_section_alone_leaves_the_other_empty(tls_dir: Path) -> None:
    tls_only = load_web_config(write(tls_dir, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"))
    assert tls_only.tls is not None and dict(tls_only.users) == {}
    users_only = load_web_config(write(tls_dir, f"basic_auth_users:\n  p: {hashed(PASSWORD)}\n"))
    assert users_only.tls is None and list(users_only.users) == ["p"] and users_only.scheme == "http"


def test_a_client_ca_file_that_cannot_be_loaded_is_named_and_one_not_used_is_not_read(tls_dir: Path) -> None:
    (tls_dir / "garbage.crt").write_text("not a certificate\n")
    base = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: garbage.crt\n"
    path = write(tls_dir, base + "  client_auth_type: RequireAndVerifyClientCert\n")
    [line] = problems(path)
    assert re.fullmatch(
        rf"--web\.config\.file {re.escape(str(path))}: tls_server_config\.client_ca_file: "
        r"cannot load it: [A-Z][A-Z_]+",
        line,
    ), line
    unused = load_web_config(write(tls_dir, base + "  client_auth_type: NoClientCert\n"))
    assert unused.tls is not None and unused.tls.verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize("prefix", ["2a", "2b", "2y"])
def test_each_bcrypt_variant_is_accepted(tmp_path: Path, prefix: str) -> None:
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    variant = f"${prefix}${digest[4:]}"
    config = load_web_config(write(tmp_path, f"basic_auth_users:\n  p: '{variant}'\n"))
    assert config.users == {"p": variant.encode()}


def test_a_hash_shaped_value_bcrypt_cannot_read_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "basic_auth_users:\n  p: '$2b$04$" + "!" * 53 + "'\n")
    assert problems(path) == (
        f"--web.config.file {path}: basic_auth_users.p: not a bcrypt hash (expected $2a$, $2b$ or $2y$...)",
    )


async def test_basic_credentials_as_clients_send_them() -> None:
    auth = BasicAuth({"prometheus": hashed("pa:ss").encode(), "nocolon": hashed("").encode()})
    good = base64.b64encode(b"prometheus:pa:ss").decode()
    assert await auth.allows("Basic " + good)  # a colon in the password is the password's
    assert await auth.allows("basic  " + good + " ")  # the scheme in any case, spaces around
    assert not await auth.allows("Basic " + good[:4] + "!" + good[4:])  # not base64: refused, not cleaned up
    assert not await auth.allows("Basic " + base64.b64encode(b"nocolon").decode())  # no colon: no user at all


# --- basic auth that tells nothing and costs a bounded amount -----------------------------------------------


class Recorded:
    """`bcrypt.checkpw` as the checks call it, recording the hash's cost and the thread of each call; with
    `gate`, every check waits for it (a slow hash, made slow on purpose)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, gate: threading.Event | None = None) -> None:
        self.costs: list[int] = []
        self.threads: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.gate = gate
        self.lock = threading.Lock()
        self.original = bcrypt.checkpw
        monkeypatch.setattr(bcrypt, "checkpw", self)

    def __call__(self, password: bytes, hashed_password: bytes) -> bool:
        with self.lock:
            self.costs.append(int(hashed_password[4:6]))
            self.threads.append(threading.current_thread().name)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.gate is not None:
                self.gate.wait(5)
            return bool(self.original(password, hashed_password))
        finally:
            with self.lock:
                self.running -= 1


async def test_an_unknown_user_costs_a_check_as_dear_as_a_known_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time of a refusal must not tell whether the user exists: the dummy hash an unknown user is checked
    against has the cost of the configured hashes (the dearest of them), not a cheap one."""
    users = {
        "prometheus": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=6)),
        "grafana": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)),
    }
    auth = BasicAuth(users)
    recorded = Recorded(monkeypatch)
    assert not await auth.allows(basic("prometheus", "wrong"))
    assert not await auth.allows(basic("nobody", "wrong"))
    assert not await auth.allows(basic("nobody", PASSWORD))
    assert recorded.costs == [6, 6, 6]
    assert all(name.startswith("auth") for name in recorded.threads), "never on the pool that compresses scrapes"


async def test_a_password_longer_than_bcrypt_takes_is_refused_quietly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """bcrypt refuses passwords over 72 bytes with an error: that was a 500 and an error line per request."""
    caplog.set_level(logging.DEBUG)
    auth = BasicAuth({"prometheus": hashed(PASSWORD).encode()})
    recorded = Recorded(monkeypatch)
    context = PageContext(version="1", started=0.0, telemetry_path="/metrics", interval=30.0, max_staleness=300.0)
    server = WebServer(ExporterApp(Snapshot(), Live(), context, auth), bind("127.0.0.1", 0))
    task = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://{server.address}", timeout=5) as client:
            for user in ("prometheus", "nobody"):
                answer = await client.get("/metrics", auth=(user, "p" * 100))
                assert answer.status_code == 401
            assert (await client.get("/metrics", auth=("prometheus", "p" * 72))).status_code == 401
    finally:
        server.stop()
        await asyncio.wait_for(task, 5)
    assert recorded.costs == [4], "only the 72-byte password was worth a check"
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []
    ours = [record for record in caplog.records if record.name.partition(".")[0] == "exporter"]
    assert not any("72" in record.getMessage() or record.exc_info for record in ours)
    assert not any(record.exc_info for record in caplog.records)


async def test_wrong_passwords_wait_for_one_checker_in_a_short_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """One check at a time; one waiting request per client address and `CHECKS_WAITING` addresses in all,
    the rest refused at once; remembered credentials pass while the queue is full."""
    auth = BasicAuth({"prometheus": hashed(PASSWORD).encode()})
    assert await auth.allows(basic("prometheus", PASSWORD), client="10.0.0.1")  # Prometheus, remembered
    gate = threading.Event()
    recorded = Recorded(monkeypatch, gate)
    waiting = [
        asyncio.create_task(auth.allows(basic("prometheus", f"wrong{n}"), client=f"10.0.1.{n}"))
        for n in range(CHECKS_WAITING)
    ]
    await asyncio.sleep(0.1)
    started = asyncio.get_running_loop().time()
    assert not await auth.allows(basic("prometheus", "wrong"), client="10.0.1.0"), "its address already waits"
    assert not await auth.allows(basic("nobody", "wrong"), client="10.0.2.1"), "every place in the queue is taken"
    assert await auth.allows(basic("prometheus", PASSWORD), client="10.0.2.2"), "remembered: no check, no queue"
    assert asyncio.get_running_loop().time() - started < 0.5
    gate.set()
    assert await asyncio.gather(*waiting) == [False] * CHECKS_WAITING
    assert recorded.most_at_once == 1
    assert len(recorded.costs) == CHECKS_WAITING


async def test_a_failed_check_is_followed_by_a_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrong passwords use at most about half of the checker's thread, whatever the hashes cost."""
    auth = BasicAuth({"prometheus": hashed(PASSWORD).encode()})
    gate = threading.Event()
    Recorded(monkeypatch, gate)
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, gate.set)  # the first check takes 0.3 s
    first = asyncio.create_task(auth.allows(basic("prometheus", "wrong"), client="a"))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(auth.allows(basic("prometheus", "wrong"), client="b"))
    assert not await first
    refused = loop.time()
    assert not await second
    assert loop.time() - refused >= 0.25 * FAILED_CHECK_PAUSE, "the next check waited for the rest"


async def test_every_route_but_the_probes_refuses_without_credentials() -> None:
    """The routes are read from the app, so a route added later is covered too; unknown paths and other
    methods are refused before they are told apart (a 404 or 405 would tell what exists)."""
    context = PageContext(version="1", started=0.0, telemetry_path="/custom", interval=30.0, max_staleness=300.0)
    app = ExporterApp(Snapshot(), Live(), context, BasicAuth({"prometheus": hashed(PASSWORD).encode()}))
    probes = {"/-/healthy", "/-/ready"}
    guarded = [path for path in app.routes if path not in probes]
    assert {"/custom", "/", "/api/v1/attention"} <= set(guarded)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://exporter") as client:
        for path in [*guarded, "/metrics", "/nope", "/-/other", "/api/v1/attention/"]:
            for method in ("GET", "HEAD", "POST"):
                answer = await client.request(method, path)
                assert answer.status_code == 401, (method, path)
                assert answer.headers["www-authenticate"] == 'Basic realm="tione-exporter"'
                answer = await client.request(method, path, auth=("prometheus", "wrong"))
                assert answer.status_code == 401, (method, path)
        for path in sorted(probes):
            assert (await client.get(path)).status_code == 200, path
        assert (await client.get("/custom", auth=("prometheus", PASSWORD))).status_code == 200
