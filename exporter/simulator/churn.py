"""The fleet changing over time: services stop, start, fail, recover and scale; groups come and go.

One step is a pure function of the fleet, the seed, the region and the step number: its random
generator is seeded from those alone, so two simulators with the same seed walk through the same
changes however fast or slow their steps run. Changes follow what a real fleet does: a scale-up
first raises the desired replicas and creates pods that become ready a step later (a rollout); a
start goes through Pending; a new group starts CREATING.
"""

from __future__ import annotations

import random
from typing import Any

from exporter.simulator.fleet import RegionFleet
from exporter.simulator.workload import JSON, apply_state

EVENT_RATE = 0.04
"""Events per step per service (at least one per step)."""

_SETTLE_PROBABILITY = 0.7
"""Chance that a rollout, start or creation in progress finishes at a given step."""


def _kind_weights(group_count: int, target: int) -> dict[str, float]:
    """How likely each kind of event is; group births and deaths lean towards the target size."""
    grow = 2.0 if group_count < target else 0.5 if group_count > target else 1.0
    return {
        "stop": 2.0,
        "start": 2.0,
        "fail": 2.0,
        "recover": 2.0,
        "scale_up": 1.5,
        "scale_down": 1.5,
        "add_group": grow,
        "delete_group": 1.0 / grow if group_count else 0.0,
    }


def step(fleet: RegionFleet, *, seed: int, number: int, now: float, target_groups: int) -> int:
    """Apply churn step `number` at simulated time `now`; returns how many changes were made."""
    rng = random.Random(f"{seed}/{fleet.region}/churn/{number}")
    touched: dict[str, JSON] = {}
    changed_services: set[str] = set()
    candidates: dict[str, list[tuple[JSON, JSON]]] = {kind: [] for kind in _kind_weights(0, 0)}
    changes = 0

    for group in fleet.groups.values():
        for service in group["Services"]:
            if service["ServiceId"] in fleet.pinned:
                continue
            status = service["Status"]
            info = service["ServiceInfo"]
            workload = info["Status"]
            settling = status in ("CREATING", "Pending") or (
                status == "Normal" and workload["ReadyReplicas"] < workload["Replicas"]
            )
            if settling:
                if rng.random() < _SETTLE_PROBABILITY:
                    low, _ = bounds(service)
                    apply_state(service, status="Normal", desired=info["Replicas"] or low, ready=None, now=now, rng=rng)
                    touched[group["ServiceGroupId"]] = group
                    changed_services.add(service["ServiceId"])
                    changes += 1
                continue
            pair = (group, service)
            if status == "Normal":
                low, high = bounds(service)
                candidates["stop"].append(pair)
                candidates["fail"].append(pair)
                if info["Replicas"] < high:
                    candidates["scale_up"].append(pair)
                if info["Replicas"] > low:
                    candidates["scale_down"].append(pair)
            elif status == "Abnormal":
                candidates["recover"].append(pair)
            elif status == "Stopped" and service["BusinessStatus"] != "ARREARS_STOP":
                candidates["start"].append(pair)

    service_total = sum(len(group["Services"]) for group in fleet.groups.values())
    weights = _kind_weights(len(fleet.groups), target_groups)
    kinds = list(weights)
    cumulative = []
    total = 0.0
    for kind in kinds:
        total += weights[kind]
        cumulative.append(total)

    for _ in range(max(1, round(service_total * EVENT_RATE))):
        kind = rng.choices(kinds, cum_weights=cumulative)[0]
        if kind == "add_group":
            group_id = fleet.create_group(rng, now, birth="creating")
            touched[group_id] = fleet.groups[group_id]
            changes += 1
            continue
        if kind == "delete_group":
            pinned = {service_id.rpartition("-")[0] for service_id in fleet.pinned}
            deletable = [group_id for group_id in fleet.groups if group_id not in pinned]
            if deletable:
                victim = rng.choice(deletable)
                fleet.delete_group(victim)
                touched.pop(victim, None)
                changes += 1
            continue
        pool = candidates[kind]
        while pool:
            index = rng.randrange(len(pool))
            group, service = pool[index]
            pool[index] = pool[-1]
            pool.pop()
            if group["ServiceGroupId"] in fleet.groups and service["ServiceId"] not in changed_services:
                _apply_event(kind, service, now, rng)
                touched[group["ServiceGroupId"]] = group
                changed_services.add(service["ServiceId"])
                changes += 1
                break

    for group in touched.values():
        fleet.touch(group, now)
    return changes


def _apply_event(kind: str, service: JSON, now: float, rng: random.Random) -> None:
    desired = service["ServiceInfo"]["Replicas"]
    low, high = bounds(service)
    if kind == "stop":
        apply_state(service, status="Stopped", desired=0, ready=0, now=now, rng=rng)
    elif kind == "start":
        apply_state(service, status="Pending", desired=rng.randint(low, min(high, low + 2)), ready=0, now=now, rng=rng)
    elif kind == "fail":
        apply_state(service, status="Abnormal", desired=desired, ready=None, now=now, rng=rng)
    elif kind == "recover":
        apply_state(service, status="Normal", desired=desired, ready=None, now=now, rng=rng)
    elif kind == "scale_up":
        target = min(high, desired + rng.randint(1, 2))
        apply_state(service, status="Normal", desired=target, ready=desired, now=now, rng=rng)
    elif kind == "scale_down":
        target = max(low, desired - rng.randint(1, 2))
        apply_state(service, status="Normal", desired=target, ready=target, now=now, rng=rng)


def bounds(service: JSON) -> tuple[int, int]:
    """The replica range churn keeps a service in: the autoscaler's, or 1..8 when scaled by hand."""
    hpa: dict[str, Any] | None = service["ServiceInfo"].get("HorizontalPodAutoscaler")
    if hpa:
        return int(hpa["MinReplicas"]), int(hpa["MaxReplicas"])
    return (1, 2) if service.get("DeployType") == "DIST" else (1, 8)
