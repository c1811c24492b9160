"""Over loopback: signatures, the rate limit, each injected fault, latency, churn on a timer, lifecycle."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from exporter.simulator import Simulator, SimulatorConfig, SimulatorServer
from tests.integration.test_simulator_api import call, error_code, ok

KEY = ("AKIDbehaviour", "behaviour-key")


# -- signatures -------------------------------------------------------------------------------------


def test_signature_codes_over_http() -> None:
    with SimulatorServer(SimulatorConfig(churn=False, secret_id=KEY[0], secret_key=KEY[1])) as server:
        assert ok(call(server, {"Limit": 1}, key=KEY))["TotalCount"] > 0
        assert error_code(call(server, {"Limit": 1})) == "AuthFailure.InvalidAuthorization"
        assert error_code(call(server, key=(KEY[0], "other"))) == "AuthFailure.SignatureFailure"
        assert error_code(call(server, key=("AKIDwho", KEY[1]))) == "AuthFailure.SecretIdNotFound"
        old = int(time.time()) - 600
        assert error_code(call(server, key=KEY, timestamp=old)) == "AuthFailure.SignatureExpire"
        assert error_code(call(server, key=KEY, timestamp=int(time.time()) + 600)) == "AuthFailure.SignatureExpire"
        assert ok(call(server, key=KEY, timestamp=int(time.time()) - 200))["TotalCount"] > 0


def test_signature_covers_the_body() -> None:
    with SimulatorServer(SimulatorConfig(churn=False, secret_id=KEY[0], secret_key=KEY[1])) as server:
        signed = call(server, {"Limit": 1}, key=KEY)
        assert ok(signed)
        request = signed.request
        tampered = httpx.post(
            server.url,
            content=b'{"Limit": 2}',
            headers={k: v for k, v in request.headers.items() if k != "content-length"},
        )
        assert error_code(tampered) == "AuthFailure.SignatureFailure"


def test_credentials_added_at_run_time_turn_checking_on(simulator: SimulatorServer) -> None:
    assert ok(call(simulator))
    simulator.add_credentials("AKIDlate", "late-key", token="late-token")
    assert error_code(call(simulator)) == "AuthFailure.InvalidAuthorization"
    assert error_code(call(simulator, key=("AKIDlate", "late-key"))) == "AuthFailure.TokenFailure"
    assert ok(call(simulator, key=("AKIDlate", "late-key"), token="late-token"))


# -- rate limit -------------------------------------------------------------------------------------


def codes(server: SimulatorServer, count: int) -> list[str]:
    found = []
    for _ in range(count):
        answer = call(server).json()["Response"]
        found.append(answer.get("Error", {}).get("Code", "ok"))
    return found


def test_rate_limit_rejects_a_burst_over_it_and_recovers() -> None:
    with SimulatorServer(SimulatorConfig(groups=3, churn=False, rate_limit=5)) as server:
        burst = codes(server, 8)
        assert burst[:5] == ["ok"] * 5
        assert set(burst[5:]) == {"RequestLimitExceeded"}
        assert server.rate_limited_count == len(burst) - 5
        assert server.request_count == 8
        time.sleep(1.05)
        assert codes(server, 5) == ["ok"] * 5, "within the limit after the window slid"
        server.set_rate_limit(50)
        assert codes(server, 12) == ["ok"] * 12, "17 in the window, under the new limit"
        server.set_rate_limit(None)
        assert codes(server, 60) == ["ok"] * 60


def test_rejected_answers_validate_as_error_envelopes() -> None:
    with SimulatorServer(SimulatorConfig(groups=1, churn=False, rate_limit=0)) as server:
        assert error_code(call(server)) == "RequestLimitExceeded"
        assert server.requests[-1].code == "RequestLimitExceeded"


# -- faults -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status"),
    [("http500", 500), ("http502", 502), ("http503", 503)],
)
def test_http_status_faults(simulator: SimulatorServer, fault: str, status: int) -> None:
    simulator.inject(fault)
    response = call(simulator)
    assert response.status_code == status
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert ok(call(simulator)), "an injected fault strikes once"


@pytest.mark.parametrize("code", ["InternalError", "RequestLimitExceeded", "FailedOperation.ApiGatewayQueryFailed"])
def test_error_faults(simulator: SimulatorServer, code: str) -> None:
    simulator.inject(f"error={code}", count=2)
    assert [error_code(call(simulator)), error_code(call(simulator))] == [code, code]
    assert ok(call(simulator))


def test_malformed_truncated_and_empty_bodies(simulator: SimulatorServer) -> None:
    simulator.inject("malformed")
    simulator.inject("truncated")
    simulator.inject("empty")
    malformed, truncated, empty = call(simulator), call(simulator), call(simulator)
    for response in (malformed, truncated, empty):
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
    assert truncated.content.startswith(b'{"Response":{')
    assert len(truncated.content) > 100
    assert empty.content == b""


def test_timeout_fault_outlasts_the_client_and_frees_the_server(simulator: SimulatorServer) -> None:
    simulator.inject("timeout")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        call(simulator, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    started = time.monotonic()
    assert ok(call(simulator))
    assert time.monotonic() - started < 1


def test_stop_cuts_a_held_answer_short() -> None:
    server = SimulatorServer(SimulatorConfig(groups=2, churn=False))
    server.start()
    server.inject("timeout")
    outcome: list[Any] = []

    def hang() -> None:
        try:
            outcome.append(call(server, timeout=30).status_code)
        except httpx.HTTPError as exc:
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=hang)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    server.stop()
    thread.join(5)
    assert time.monotonic() - started < 2.5
    assert outcome, "the client is still waiting"


def test_random_faults_follow_their_probability_and_seed() -> None:
    def run(seed: int) -> list[int]:
        config = SimulatorConfig(groups=2, seed=seed, churn=False, rate_limit=None, faults=())
        with SimulatorServer(config) as server:
            server.set_faults(["http500:0.3", "error=InternalError:0.2"])
            statuses = []
            for _ in range(60):
                response = call(server)
                statuses.append(
                    response.status_code if response.status_code != 200 else 200 + ("Error" in response.text)
                )
            server.set_faults([])
            assert ok(call(server))
            return statuses

    first, again, other = run(4), run(4), run(5)
    assert first == again != other
    assert 5 < first.count(500) < 35 and first.count(201) > 2 and first.count(200) > 10


def test_faults_from_the_config() -> None:
    from exporter.simulator import Fault

    with SimulatorServer(SimulatorConfig(groups=2, churn=False, faults=(Fault.parse("empty:1"),))) as server:
        assert call(server).content == b""


# -- latency ----------------------------------------------------------------------------------------


def timed(server: SimulatorServer) -> float:
    started = time.monotonic()
    ok(call(server, {"Limit": 1}))
    return time.monotonic() - started


def test_latency_is_added_to_every_answer(simulator: SimulatorServer) -> None:
    quick = min(timed(simulator) for _ in range(3))
    simulator.set_latency(0.25)
    slow = min(timed(simulator) for _ in range(2))
    simulator.inject("error=InternalError")
    started = time.monotonic()
    error_code(call(simulator))
    assert time.monotonic() - started >= 0.25
    simulator.set_latency(0)
    assert slow >= 0.25 > quick
    assert timed(simulator) < 0.25


def test_latency_from_the_config() -> None:
    with SimulatorServer(SimulatorConfig(groups=2, churn=False, latency=0.15)) as server:
        assert timed(server) >= 0.15


# -- records ----------------------------------------------------------------------------------------


def test_requests_are_recorded_without_authorization() -> None:
    with SimulatorServer(SimulatorConfig(groups=3, churn=False, secret_id=KEY[0], secret_key=KEY[1])) as server:
        call(server, {"Limit": 3}, key=KEY, region="ap-shanghai")
        call(server, raw=b"garbage", key=KEY)
        first, second = server.requests
        assert (first.region, first.action, first.body, first.status, first.code) == (
            "ap-shanghai",
            "DescribeModelServiceGroups",
            {"Limit": 3},
            200,
            "",
        )
        assert "authorization" not in first.headers and first.headers["x-tc-version"] == "2021-11-11"
        assert second.body is None and second.code == "InvalidParameter"
        assert server.request_count == 2
        server.clear_requests()
        assert server.requests == [] and server.request_count == 2


# -- churn on a timer -------------------------------------------------------------------------------


def test_timed_churn_walks_the_same_steps_as_manual_churn() -> None:
    config = SimulatorConfig(groups=15, seed=11, churn=True, churn_interval=0.05, start_time=1_750_000_000.0)
    with SimulatorServer(config) as server:
        deadline = time.monotonic() + 5
        while server.steps < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
    steps = server.steps
    assert steps >= 5
    manual = Simulator(
        SimulatorConfig(groups=15, seed=11, churn=False, churn_interval=0.05, start_time=1_750_000_000.0)
    )
    manual.churn_step(steps)
    assert server.fleet("ap-guangzhou") == manual.fleet("ap-guangzhou")
    assert server.fleet("ap-shanghai") == manual.fleet("ap-shanghai")


def test_answers_stay_consistent_while_the_fleet_churns() -> None:
    config = SimulatorConfig(groups=30, churn=True, churn_interval=0.01, rate_limit=None)
    failures: list[str] = []
    with SimulatorServer(config) as server:

        def poll() -> None:
            with httpx.Client() as client:
                for _ in range(15):
                    response = client.post(
                        server.url,
                        content=b'{"Limit": 100}',
                        headers={
                            "X-TC-Region": "ap-guangzhou",
                            "X-TC-Action": "DescribeModelServiceGroups",
                            "X-TC-Version": "2021-11-11",
                        },
                    )
                    answer = response.json()["Response"]
                    if answer["TotalCount"] != len(answer["ServiceGroups"]):
                        failures.append("count")
                    for group in answer["ServiceGroups"]:
                        if group["ServiceCount"] != len(group["Services"]):
                            failures.append("services")
                        if group["ReplicasCount"] != sum(
                            s["ServiceInfo"]["Status"]["Replicas"] for s in group["Services"]
                        ):
                            failures.append("replicas")

        threads = [threading.Thread(target=poll) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert server.steps > 0
    assert failures == []


# -- lifecycle --------------------------------------------------------------------------------------


def test_start_and_stop_are_quick_and_leave_nothing_behind() -> None:
    threads_before = set(threading.enumerate())
    started = time.monotonic()
    server = SimulatorServer(SimulatorConfig(churn=True))
    server.start()
    port = server.port
    assert port > 0 and server.url == f"http://127.0.0.1:{port}"
    assert ok(call(server))
    server.stop()
    assert time.monotonic() - started < 1.5
    assert set(threading.enumerate()) == threads_before
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"http://127.0.0.1:{port}/", content=b"{}", timeout=1)


def test_two_servers_side_by_side_and_a_busy_port() -> None:
    with (
        SimulatorServer(SimulatorConfig(groups=2, churn=False)) as first,
        SimulatorServer(SimulatorConfig(groups=3, churn=False)) as second,
    ):
        assert first.port != second.port
        assert ok(call(first))["GlobalTotalCount"] == 2 and ok(call(second))["GlobalTotalCount"] == 3
        with pytest.raises(OSError):
            SimulatorServer(SimulatorConfig(groups=1, churn=False), port=first.port).start()


def _has_ipv6_loopback() -> bool:
    """Whether this host has `::1` at all: a socket can bind it (independently of the code under test)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_ipv6_loopback() -> None:
    """Skipped only on a host without `::1`; where `::1` exists, the simulator failing to bind it fails."""
    if not _has_ipv6_loopback():
        pytest.skip("::1 is not configured here")
    server = SimulatorServer(SimulatorConfig(groups=2, churn=False), host="::1")
    server.start()
    try:
        assert server.url.startswith("http://[::1]:")
        assert ok(call(server))["GlobalTotalCount"] == 2
    finally:
        server.stop()
