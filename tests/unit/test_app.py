"""The wiring's rules that need no network: what `check` says per source, and which errors are permissions."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from exporter.app import SWITCH_INTERVAL, WORKER_THREADS, PollThread, make_sources, use_worker_pool
from exporter.check import _check_region
from exporter.config import load_settings
from exporter.metrics.self import SelfMetrics
from exporter.poller import PollTarget
from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import Credentials, StaticProvider
from exporter.tencentcloud.errors import APIError, is_permission_error
from exporter.tione import resource_groups
from exporter.tione.listing import ACTION
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.source import Sink, Source
from exporter.wiring import make_client, poll_plan


def probed(action: str, answer: str | Exception, *, primary: bool = False) -> Source[Any]:
    async def probe(region: str, deadline: float) -> str:
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> None:
        return None

    return Source(action, fetch, lambda snapshot, _: snapshot, empty=None, probe=probe, primary=primary)


PRIMARY = probed("DescribeModelServiceGroups", "25 service groups", primary=True)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("UnauthorizedOperation", True),
        ("UnauthorizedOperation.NoPermission", True),
        ("AuthFailure.UnauthorizedOperation", True),
        ("AuthFailure.SignatureFailure", False),
        ("InternalError", False),
    ],
)
def test_permission_errors(code: str, expected: bool) -> None:
    assert is_permission_error(code) is expected


async def test_check_says_ok_with_what_each_source_found() -> None:
    ok, lines = await _check_region([PRIMARY, probed("DescribeWorkspaces", "3 workspaces")], "r1")
    assert (ok, lines) == (True, ["r1: ok (25 service groups, 3 workspaces)"])


async def test_check_a_secondary_source_not_permitted_is_a_warning() -> None:
    denied = APIError("AuthFailure.UnauthorizedOperation", "not allowed", request_id="req-1")
    ok, lines = await _check_region([PRIMARY, probed("DescribeEvents", denied)], "r1")
    assert ok
    assert lines == [
        "r1: ok (25 service groups)",
        "r1: warning: DescribeEvents is not permitted: AuthFailure.UnauthorizedOperation: not allowed (RequestId req-1)",
    ]


async def test_check_a_failing_secondary_source_fails_the_region_naming_its_action() -> None:
    ok, lines = await _check_region([PRIMARY, probed("DescribeEvents", APIError("InternalError", "down"))], "r1")
    assert (ok, lines) == (False, ["r1: DescribeEvents: InternalError: down"])


async def test_check_a_failing_primary_source_is_the_region_line() -> None:
    denied = APIError("UnauthorizedOperation", "not allowed")
    ok, lines = await _check_region([probed(ACTION, denied, primary=True)], "r1")
    assert (ok, lines) == (False, ["r1: UnauthorizedOperation: not allowed"])


async def test_the_action_labels_come_from_the_sources_in_use() -> None:
    settings = load_settings({"--tione.regions": "ap-guangzhou"}, {})
    metrics = SelfMetrics(["ap-guangzhou"])
    client = TencentCloudClient(
        endpoint="http://127.0.0.1:9", service="tione", version="2021-11-11", credentials=Credentials("AKIDx", "key")
    )
    in_use = make_sources(settings, client)
    metrics.declare_actions(source.action for source in in_use)
    actions = [
        "DescribeWorkspaces",
        ACTION,
        resource_groups.ACTION,
        "DescribeTrainingTasks",
        "DescribeNotebooks",
        "DescribeBillingSpecsPrice",
        "GetMonitorData",
        "DescribeEvents",
    ]
    assert [source.action for source in in_use] == actions
    assert [source.primary for source in in_use] == [False, True, False, False, False, False, False, False]
    for action in actions:
        assert (
            metrics.registry.get_sample_value(
                "tione_exporter_api_requests_total", {"region": "ap-guangzhou", "action": action}
            )
            == 0
        )
    await client.aclose()


async def test_the_events_can_be_switched_off() -> None:
    client = TencentCloudClient(
        endpoint="http://127.0.0.1:9", service="tione", version="2021-11-11", credentials=Credentials("AKIDx", "key")
    )
    off = load_settings({"--tione.regions": "ap-guangzhou", "--events.max-services": "0"}, {})
    assert "DescribeEvents" not in [source.action for source in make_sources(off, client)]
    await client.aclose()


async def test_holders_and_prices_can_be_switched_off_and_run_on_their_intervals() -> None:
    client = TencentCloudClient(
        endpoint="http://127.0.0.1:9", service="tione", version="2021-11-11", credentials=Credentials("AKIDx", "key")
    )
    on = {
        source.action: source.interval for source in make_sources(load_settings({"--tione.regions": "r1"}, {}), client)
    }
    assert (on["DescribeTrainingTasks"], on["DescribeNotebooks"], on["DescribeBillingSpecsPrice"]) == (300, 300, 3600)
    off = load_settings({"--tione.regions": "r1", "--holders.interval": "0", "--prices.interval": "0"}, {})
    left = {source.action for source in make_sources(off, client)}
    assert not left & {"DescribeTrainingTasks", "DescribeNotebooks", "DescribeBillingSpecsPrice"}


async def test_cloud_monitor_follows_its_budget_and_zero_leaves_it_out() -> None:
    client = TencentCloudClient(
        endpoint="http://127.0.0.1:9", service="tione", version="2021-11-11", credentials=Credentials("AKIDx", "key")
    )
    on = make_sources(load_settings({"--tione.regions": "ap-guangzhou"}, {}), client)
    actions = [source.action for source in on]
    assert actions.index("GetMonitorData") > actions.index(ACTION)  # after the listing it reads
    off = load_settings({"--tione.regions": "ap-guangzhou", "--monitor.max-requests-per-month": "0"}, {})
    assert "GetMonitorData" not in [source.action for source in make_sources(off, client)]
    await client.aclose()


async def test_workspace_discovery_runs_on_its_interval_and_can_be_switched_off() -> None:
    settings = load_settings({"--tione.regions": "ap-guangzhou", "--tione.discovery-interval": "0"}, {})
    client = TencentCloudClient(
        endpoint="http://127.0.0.1:9", service="tione", version="2021-11-11", credentials=Credentials("AKIDx", "key")
    )
    assert "DescribeWorkspaces" not in [source.action for source in make_sources(settings, client)]
    every_second = load_settings({"--tione.regions": "ap-guangzhou", "--tione.discovery-interval": "1s"}, {})
    found = [source.interval for source in make_sources(every_second, client) if source.action == "DescribeWorkspaces"]
    assert found == [1.0]
    await client.aclose()


async def test_the_capacity_source_runs_on_its_own_interval_and_zero_leaves_it_out() -> None:
    client = TencentCloudClient(
        endpoint="http://127.0.0.1:9", service="tione", version="2021-11-11", credentials=Credentials("AKIDx", "key")
    )
    default = make_sources(load_settings({"--tione.regions": "ap-guangzhou"}, {}), client)
    (capacity,) = [source for source in default if source.action == resource_groups.ACTION]
    assert (capacity.primary, capacity.interval) == (False, 300.0)
    every_minute = make_sources(load_settings({"--tione.regions": "r", "--capacity.interval": "1m"}, {}), client)
    assert [source.interval for source in every_minute if source.action == resource_groups.ACTION] == [60.0]
    off = make_sources(load_settings({"--tione.regions": "ap-guangzhou", "--capacity.interval": "0"}, {}), client)
    assert resource_groups.ACTION not in [source.action for source in off]
    await client.aclose()


def test_the_poll_plan_carries_the_configured_figures(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text(
        "metrics:\n  tag-labels: [team]\n  exclude: ['tione_pod_.*']\n  include: ['tione_service_gpu_.*']\n"
    )
    flags = {
        "--config.file": str(path),
        "--tione.regions": "ap-guangzhou,ap-shanghai",
        "--poll.interval": "1m",
        "--poll.timeout": "20s",
        "--poll.max-staleness": "10m",
        "--api.rate-limit": "3",
        "--metrics.pod-series": "true",
        "--metrics.state-sets": "full",
    }
    target = PollTarget("ap-guangzhou", (PRIMARY,), "prod")
    plan = poll_plan(load_settings(flags, {}), [PRIMARY], [target])
    assert (plan.regions, plan.sources, plan.targets) == (("ap-guangzhou", "ap-shanghai"), (PRIMARY,), (target,))
    assert (plan.interval, plan.timeout, plan.max_staleness, plan.rate_limit) == (60.0, 20.0, 600.0, 3.0)
    options = plan.options
    assert (options.tag_labels, options.pod_series, options.state_sets) == (("team",), True, "full")
    assert [p.pattern for p in options.exclude] == ["tione_pod_.*"]
    assert [p.pattern for p in options.include] == ["tione_service_gpu_.*"]


@pytest.mark.parametrize(("rate", "burst"), [("0.5", 1), ("1", 1), ("7", 2)])
async def test_the_clients_bucket_runs_at_the_rate_limit_with_a_burst_of_two_at_most(rate: str, burst: int) -> None:
    """A bucket as deep as the rate would let each poll open at twice the configured rate."""
    settings = load_settings({"--tione.regions": "ap-guangzhou", "--api.rate-limit": rate}, {})
    client = make_client(settings, StaticProvider(Credentials("AKIDx", "key")), SelfMetrics(["ap-guangzhou"]))
    assert (client.rate_limiter.rate, client.rate_limiter.burst) == (float(rate), burst)
    await client.aclose()


async def test_a_loops_worker_pool_is_fixed_in_size_and_named() -> None:
    """Many blocking calls at once never get more than `WORKER_THREADS` threads (asyncio's own pool would
    grow to the CPU count plus four): the ceiling the soak holds the process to."""
    use_worker_pool("test-worker")
    names: set[str] = set()
    running = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            names.add(threading.current_thread().name)
        release.wait(0.2)
        with lock:
            running -= 1

    await asyncio.gather(*(asyncio.to_thread(work) for _ in range(3 * WORKER_THREADS)))
    assert most == WORKER_THREADS
    assert len(names) == WORKER_THREADS
    assert all(name.startswith("test-worker") for name in names)


async def test_polling_on_its_own_thread_shortens_the_interpreters_switch_interval() -> None:
    """The serving loop gets the interpreter back from a computing poll thread within 1 ms, not 5."""

    class Quick:
        async def run(self) -> None:
            return None

        async def aclose(self) -> None:
            return None

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        await asyncio.wait_for(PollThread(Quick(), Quick()).start(), 5)  # type: ignore[arg-type]
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    finally:
        sys.setswitchinterval(before)
