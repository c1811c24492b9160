"""`DescribeEvents` for online services: the Kubernetes events of a service's deployment and pods.

Events are derived, at the time of the request, from the service as the fleet holds it — its status,
its pods' phases and container states, its conditions and `CreateFailedReason` — so they can never
contradict it: a pod no node can take has `FailedScheduling` warnings until now, a crash-looping
container `BackOff` ones, a creation that failed on its image `Failed` pulls, a pod still starting
a few `FailedScheduling` tries then `Scheduled` (and `FailedMount` warnings when it stays stuck), and
a healthy pod only `Scheduled`, `Pulled`, `Created`, `Started`. A recurring event is a series (first
time, period); a request's time window keeps the occurrences inside it, so `FirstTimestamp`,
`LastTimestamp` and `Count` all describe the window. Ids are hashes of what the event is, stable
between requests.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.simulator import params
from exporter.simulator.fleet import BACKOFF_SECONDS, RegionFleet, parse_iso_z, unschedulable_message
from exporter.simulator.workload import JSON, MAIN_CONTAINER, iso_z, template_hash

ACTION = "DescribeEvents"

DEFAULT_LIMIT = 100
MAX_LIMIT = 100
DEFAULT_WINDOW = 86400.0
"""The API's default look-back when `StartTime` is not given: one day."""
SERVICES: tuple[str, ...] = ("TRAIN", "NOTEBOOK", "INFER", "BATCH")
"""Valid `Service` values; only `INFER` (online services) has anything here."""
FILTER_NAMES: tuple[str, ...] = ("Type", "ResourceKind")
SHARED_POOL_NODES = 5
"""Nodes the scheduler names for a pay-as-you-go service, which runs in the platform's shared pool."""
MOUNT_RETRY_SECONDS = 120
"""How often the kubelet reports a volume it cannot mount (about every two minutes)."""
_KEYS = frozenset(
    {"Service", "ServiceId", "TiProjectId", "StartTime", "EndTime", "Limit", "Offset", "Order", "OrderField", "Filters"}
)
_BAD = frozenset({"Abnormal", "CREATE_FAILED", "Pending", "Waiting", "CREATING", "TIMEOUT_EXCEPTION"})


@dataclass(frozen=True, slots=True)
class Series:
    """An event that happened at `first`, then every `period` seconds up to `last` (period 0: once)."""

    reason: str
    type: str
    kind: str
    name: str
    message: str
    first: int
    last: int
    period: int = 0

    def clip(self, start: float, end: float) -> tuple[int, int, int] | None:
        """(first, last, count) of the occurrences within [start, end], None when there is none."""
        if self.period <= 0:
            return (self.first, self.first, 1) if start <= self.first <= end else None
        top = (self.last - self.first) // self.period
        low = max(0, math.ceil((start - self.first) / self.period))
        high = min(top, math.floor((end - self.first) / self.period))
        if low > high:
            return None
        return self.first + low * self.period, self.first + high * self.period, high - low + 1

    def event_id(self, service_id: str) -> str:
        key = f"{service_id}|{self.reason}|{self.kind}|{self.name}|{self.first}|{self.message}"
        return str(uuid.UUID(bytes=hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()[:16]))


def _pod_series(service: JSON, pod: JSON, scheduler: str, since: int, now: int) -> list[Series]:
    name, namespace = pod["Name"], service.get("Namespace", "")
    info = service["ServiceInfo"]
    image = (info.get("ImageInfo") or {}).get("ImageUrl", "")
    created = int(min(parse_iso_z(pod["CreateTime"]), now))
    if not pod.get("NodeIP"):
        return [Series("FailedScheduling", "Warning", "Pod", name, scheduler, created, now, 60)]
    main = next((c for c in pod["ContainerInfos"] if c["Name"] == MAIN_CONTAINER), None)
    state = (main or {}).get("Status") or {}
    assigned = f"Successfully assigned {namespace}/{name} to {pod['NodeIP']}"
    if state.get("Reason") == "ContainerCreating":
        scheduled = min(created + 45, now)
        starting = [
            Series("FailedScheduling", "Warning", "Pod", name, scheduler, created, max(created, scheduled - 5), 20),
            Series("Scheduled", "Normal", "Pod", name, assigned, scheduled, scheduled),
            Series("Pulling", "Normal", "Pod", name, f'Pulling image "{image}"', min(scheduled + 2, now), now),
        ]
        if now - scheduled >= MOUNT_RETRY_SECONDS:
            # Still creating minutes after it was placed: the model volume does not mount.
            starting.append(
                Series(
                    "FailedMount",
                    "Warning",
                    "Pod",
                    name,
                    "Unable to attach or mount volumes: unmounted volumes=[model], unattached volumes=[model]: "
                    "timed out waiting for the condition",
                    scheduled + MOUNT_RETRY_SECONDS,
                    now,
                    MOUNT_RETRY_SECONDS,
                )
            )
        return starting
    started = min(created + 3, now)
    found = [
        Series("Scheduled", "Normal", "Pod", name, assigned, created, created),
        Series(
            "Pulled", "Normal", "Pod", name, f'Container image "{image}" already present on machine', started, started
        ),
        Series("Created", "Normal", "Pod", name, f"Created container {MAIN_CONTAINER}", started, started),
        Series("Started", "Normal", "Pod", name, f"Started container {MAIN_CONTAINER}", started, started),
    ]
    if state.get("Reason") == "CrashLoopBackOff":
        crashing = max(since, started)
        pod_ref = f"{name}_{namespace}({pod.get('Uid', '')})"
        found += [
            Series(
                "BackOff",
                "Warning",
                "Pod",
                name,
                f"Back-off restarting failed container {MAIN_CONTAINER} in pod {pod_ref}",
                crashing,
                now,
                BACKOFF_SECONDS,
            ),
            Series(
                "Unhealthy",
                "Warning",
                "Pod",
                name,
                f'Liveness probe failed: Get "http://{pod.get("IP", "")}:{info.get("ServicePort", 8501)}/v1/models": '
                f"dial tcp {pod.get('IP', '')}:{info.get('ServicePort', 8501)}: connect: connection refused",
                crashing,
                now,
                BACKOFF_SECONDS,
            ),
        ]
    return found


def _replica_set(service_id: str) -> str:
    return f"{service_id}-{template_hash(service_id)}"


def _scaled(service_id: str, replicas: int, at: int) -> Series:
    """The deployment scaling its replica set to `replicas` (down to 0, else up)."""
    direction = "down" if replicas == 0 else "up"
    return Series(
        "ScalingReplicaSet",
        "Normal",
        "Deployment",
        service_id,
        f"Scaled {direction} replica set {_replica_set(service_id)} to {replicas}",
        at,
        at,
    )


def _failed_creation(service: JSON, scheduler: str, since: int) -> list[Series]:
    """The events of the pod a failed creation ran (and lost) before its deadline passed at `since`."""
    service_id = service["ServiceId"]
    replica_set = _replica_set(service_id)
    pod = f"{replica_set}-{hashlib.sha256(f'{service_id}/pod'.encode()).hexdigest()[:5]}"
    image = (service["ServiceInfo"].get("ImageInfo") or {}).get("ImageUrl", "")
    start = since - 600
    found = [_scaled(service_id, 1, start)]
    if "pull image" in (service.get("CreateFailedReason") or ""):
        found += [
            Series(
                "Scheduled",
                "Normal",
                "Pod",
                pod,
                f"Successfully assigned {service.get('Namespace', '')}/{pod}",
                start,
                start,
            ),
            Series("Pulling", "Normal", "Pod", pod, f'Pulling image "{image}"', start + 2, since, 60),
            Series(
                "Failed",
                "Warning",
                "Pod",
                pod,
                f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and unpack image '
                f'"{image}": not found',
                start + 5,
                since,
                60,
            ),
            Series("Failed", "Warning", "Pod", pod, "Error: ErrImagePull", start + 5, since, 60),
            Series("BackOff", "Warning", "Pod", pod, f'Back-off pulling image "{image}"', start + 10, since, 30),
            Series("Failed", "Warning", "Pod", pod, "Error: ImagePullBackOff", start + 10, since, 30),
        ]
    else:
        found.append(Series("FailedScheduling", "Warning", "Pod", pod, scheduler, start, since, 60))
    found.append(
        Series(
            "ProgressDeadlineExceeded",
            "Warning",
            "Deployment",
            service_id,
            f'ReplicaSet "{replica_set}" has timed out progressing.',
            since,
            since,
        )
    )
    return found


def series(fleet: RegionFleet, service: JSON, now: float) -> list[Series]:
    """Every event of `service` up to `now`, whatever the window."""
    moment = int(now)
    since = min(int(parse_iso_z(service["UpdateTime"])), moment) if service.get("UpdateTime") else moment
    service_id = service["ServiceId"]
    info = service["ServiceInfo"]
    status = service["Status"]
    group = fleet.billing_group(service.get("ResourceGroupId", ""))
    nodes = len(group.nodes) if group is not None else SHARED_POOL_NODES
    resource = "nvidia.com/gpu" if (info.get("Resources") or {}).get("Gpu") else "cpu"
    scheduler = (
        unschedulable_message(nodes)
        if resource != "cpu"
        else f"0/{nodes} nodes are available: {nodes} Insufficient cpu."
    )
    if status == "CREATE_FAILED":
        return _failed_creation(service, scheduler, since)
    found: list[Series] = []
    desired = info["Replicas"]
    if status == "Stopped":
        found.append(_scaled(service_id, 0, since))
        if service.get("BusinessStatus") == "ARREARS_STOP":
            found.append(
                Series(
                    "ArrearsStop",
                    "Warning",
                    "Deployment",
                    service_id,
                    "The service was stopped because the account is in arrears (ARREARS_STOP); "
                    "top up the account to start it again.",
                    since,
                    since,
                )
            )
        return found
    if desired:
        found.append(_scaled(service_id, desired, since))
    for pod in info["PodInfos"]:
        found += _pod_series(service, pod, scheduler, since, moment)
    unwell = status in _BAD or info["Status"]["AvailableReplicas"] < desired
    false = [c for c in info["Status"].get("Conditions") or [] if c.get("Status") == "False"]
    if (unwell or false) and not any(item.type == "Warning" for item in found):
        why = false[0].get("Message") if false else "Deployment does not have minimum availability."
        found.append(
            Series("Unavailable", "Warning", "Deployment", service_id, str(why), since, moment, BACKOFF_SECONDS)
        )
    return [item for item in found if item.first <= moment]


def describe(body: Mapping[str, Any], fleet: RegionFleet, now: float) -> JSON:
    """The events of one service in the window, filtered, ordered (default `LastTimestamp` `DESC`), paged.

    An unknown `ServiceId`, one in another workspace than the call's, or another `Service` kind than
    `INFER` has no events: the API looks events up by labels, so there is nothing to find, not an error.
    """
    params.check_keys(body, _KEYS)
    for key in ("Service", "ServiceId"):
        params.required(body, key)
    kind = params.choice(body, "Service", "INFER", SERVICES)
    service_id = params.string(body["ServiceId"], "ServiceId")
    workspace = params.workspace(params.string(body.get("TiProjectId", ""), "TiProjectId"), fleet.workspaces)
    end = params.rfc3339(body, "EndTime", now)
    start = params.rfc3339(body, "StartTime", end - DEFAULT_WINDOW)
    if start > end:
        raise params.ParameterError("InvalidParameterValue", "The parameter `StartTime` must not be after `EndTime`.")
    limit = params.integer(body, "Limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    offset = params.integer(body, "Offset", 0, 0, None)
    descending = params.choice(body, "Order", "DESC", ("ASC", "DESC")) == "DESC"
    by_first = (
        params.choice(body, "OrderField", "LastTimestamp", ("FirstTimestamp", "LastTimestamp")) == "FirstTimestamp"
    )
    conditions = params.filters(body, FILTER_NAMES)
    found: list[tuple[int, int, JSON]] = []
    service = _find(fleet, service_id, workspace) if kind == "INFER" else None
    if service is not None:
        for index, item in enumerate(series(fleet, service, now)):
            window = item.clip(start, end)
            if window is None or not all(_matches(item, condition) for condition in conditions):
                continue
            first, last, count = window
            event = {
                "Id": item.event_id(service_id),
                "Message": item.message,
                "FirstTimestamp": iso_z(first),
                "LastTimestamp": iso_z(last),
                "Count": count,
                "Type": item.type,
                "ResourceKind": item.kind,
                "ResourceName": item.name,
            }
            found.append((first if by_first else last, index, event))
    found.sort(key=lambda entry: (entry[0], entry[1]), reverse=descending)
    return {"TotalCount": len(found), "Events": [event for _, _, event in found[offset : offset + limit]]}


def _find(fleet: RegionFleet, service_id: str, workspace: str) -> JSON | None:
    try:
        group, service = fleet.find_service(service_id)
    except KeyError:
        return None
    return service if fleet.meta[group["ServiceGroupId"]].workspace == workspace else None


def _matches(item: Series, condition: params.Filter) -> bool:
    """As documented: several values must all hold (so two different `Type`s match nothing), and
    `Negative` and `Fuzzy` are not used."""
    value = item.type if condition.name == "Type" else item.kind
    return all(value.lower() == wanted.lower() for wanted in condition.values)
