"""The simulator's Cloud Monitor without sockets: the demo's traffic incidents and traffic that follows the fleet."""

from __future__ import annotations

from exporter.simulator import SimulatorConfig
from exporter.simulator.core import Simulator
from exporter.simulator.monitor import TEST_METRIC, MonitorState
from exporter.tione import monitor_api as api


def test_incidents_hold_a_group_failing_a_fifth_of_its_calls_and_one_throttled_all_replicas_normal() -> None:
    sim = Simulator(SimulatorConfig(incidents=True, churn=False))
    held = sim.traffic_incidents()
    assert set(held) == {"errors", "throttled"}
    sim.churn_step(200)
    fleet = sim._fleets[sim.incident_region]
    for group_id in held.values():
        group = fleet.groups[group_id]
        assert all(service["Status"] == "Normal" for service in group["Services"])
        assert all(
            service["ServiceInfo"]["Status"]["ReadyReplicas"] == service["ServiceInfo"]["Replicas"] > 0
            for service in group["Services"]
        )
    state = sim._monitor
    errors = {api.GROUP_DIMENSION: held["errors"]}
    calls = state.value(fleet, api.CALLS, errors, 60, 0)
    failed = state.value(fleet, api.ERRORS, errors, 60, 0)
    assert calls is not None and failed is not None and failed / calls == 0.2
    throttled = state.value(fleet, api.THROTTLED, {api.GROUP_DIMENSION: held["throttled"]}, 60, 0)
    assert throttled is not None and throttled > 0
    assert Simulator(SimulatorConfig(churn=False)).traffic_incidents() == {}


def test_traffic_follows_the_fleet() -> None:
    sim = Simulator(SimulatorConfig(incidents=True, churn=False, groups=40))
    fleet = sim._fleets[sim.incident_region]
    state = MonitorState(seed=1)
    crash = fleet.find_service(sim.incidents()["crash_loop"])[0]["ServiceGroupId"]
    stopped = fleet.find_service(sim.incidents()["arrears_stop"])[0]["ServiceGroupId"]
    dims = {api.GROUP_DIMENSION: crash}
    calls, errors = state.value(fleet, api.CALLS, dims, 60, 0), state.value(fleet, api.ERRORS, dims, 60, 0)
    assert calls and errors and errors / calls > 0.2
    assert state.value(fleet, api.CALLS, {api.GROUP_DIMENSION: stopped}, 60, 0) is None
    assert state.value(fleet, api.CALLS, {"Wrong": crash}, 60, 0) is None
    assert TEST_METRIC not in state.metrics() and TEST_METRIC in MonitorState(seed=1, test_metric=True).metrics()
