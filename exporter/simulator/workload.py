"""Keeping one service's workload consistent: desired replicas, workload status, conditions and pods.

Every change to a service (generation, churn, a test's `set_service_status`) goes through
`apply_state`, which derives all dependent fields from three facts — the service status, the desired
replicas and the ready replicas — so the answer never contradicts itself: pods match the current
replicas (times `InstancePerReplicas` for DIST deployments), ready pods match `ReadyReplicas`, a
condition's `LastTransitionTime` moves only when its status flips, and the group's counts follow.

The state is the API's own wire form (plain dicts): answering a request is then serialization only.
"""

from __future__ import annotations

import hashlib
import marshal
import random
import time
import uuid
from typing import Any

from exporter.tencentcloud.gcpause import paused_gc

JSON = dict[str, Any]

_WORKLOAD_STATUS = {
    "Normal": "Normal",
    "Abnormal": "Abnormal",
    "Stopped": "Stopped",
    "Stopping": "Stopping",
    "Pending": "Pending",
    "Waiting": "Waiting",
    "CREATING": "Waiting",
    "CREATE_FAILED": "Abnormal",
    "TIMEOUT_EXCEPTION": "Abnormal",
}
_BUSINESS_STATUS = {"CREATING": "CREATING", "CREATE_FAILED": "CREATE_FAILED", "TIMEOUT_EXCEPTION": "TIMEOUT_EXCEPTION"}
_RUNNING = frozenset({"Normal", "Abnormal"})
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
MAIN_CONTAINER = "model-server"
LOG_SIDECAR = "log-agent"


def freeze(value: Any) -> bytes:
    """JSON-shaped data (dicts, lists, strings, numbers, booleans, None) as bytes for `thaw`."""
    return marshal.dumps(value)


def thaw(frozen: bytes) -> Any:
    """A deep copy from `freeze`: marshal is several times faster than a JSON or pickle round trip, and
    safe here because the bytes never leave the process."""
    with paused_gc():
        return marshal.loads(frozen)  # noqa: S302 - our own bytes, made by `freeze` in this process


def iso_z(timestamp: float) -> str:
    """UTC in the `Z` form the API uses for create and update times."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def iso_cst(timestamp: float) -> str:
    """China Standard Time in the `+08:00` form the API uses for workload conditions."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(timestamp + 8 * 3600))


def random_id(rng: random.Random, length: int = 8) -> str:
    """`length` random lowercase letters and digits, like the suffix of an API id."""
    number = rng.getrandbits(6 * length)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        chars.append(_ALNUM[digit])
    return "".join(chars)


def template_hash(service_id: str) -> str:
    """A Kubernetes-like pod-template hash, stable per service so pod names survive scaling."""
    return hashlib.sha256(service_id.encode()).hexdigest()[:10]


def instances_per_replica(service: JSON) -> int:
    """Pods per replica: a DIST deployment runs `InstancePerReplicas` pods for each replica."""
    if service.get("DeployType") == "DIST":
        return max(1, int(service.get("InstancePerReplicas") or 1))
    return 1


def is_running(status: str) -> bool:
    return status in _RUNNING


def _set_condition(conditions: list[JSON], kind: str, *, status: str, reason: str, message: str, now: float) -> None:
    for condition in conditions:
        if condition.get("Type") == kind:
            if condition.get("Status") != status:
                condition["LastTransitionTime"] = iso_cst(now)
            if (condition.get("Status"), condition.get("Reason"), condition.get("Message")) != (
                status,
                reason,
                message,
            ):
                condition["LastUpdateTime"] = iso_cst(now)
            condition.update(Status=status, Reason=reason, Message=message)
            return
    stamp = iso_cst(now)
    conditions.append(
        {
            "Message": message,
            "Reason": reason,
            "Status": status,
            "Type": kind,
            "LastTransitionTime": stamp,
            "LastUpdateTime": stamp,
        }
    )


def _new_container(name: str, image: str, rng: random.Random) -> JSON:
    return {
        "Name": name,
        "ContainerId": f"containerd://{rng.getrandbits(256):064x}",
        "Image": image if name == MAIN_CONTAINER else f"tione.tencentcloudcr.com/qcloud-ti-platform/{name}:1.4.2",
        "Status": {"RestartCount": 0, "State": "Running", "Ready": True, "Reason": "", "Message": ""},
    }


def _new_pod(service: JSON, now: float, rng: random.Random) -> JSON:
    info = service["ServiceInfo"]
    image = (info.get("ImageInfo") or {}).get("ImageUrl", "")
    names = [MAIN_CONTAINER] + ([LOG_SIDECAR] if info.get("LogEnable") else [])
    address = rng.getrandbits(40)
    return {
        "Name": f"{service['ServiceId']}-{template_hash(service['ServiceId'])}-{random_id(rng, 5)}",
        "Uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "ChargeType": service.get("ChargeType", ""),
        "Phase": "Running",
        "IP": f"10.{address & 255}.{address >> 8 & 255}.{2 + (address >> 16 & 255) % 252}",
        "Status": "Running",
        "NodeIP": f"172.16.{address >> 24 & 63}.{2 + (address >> 32 & 255) % 252}",
        "NodeId": f"np-{random_id(rng)}",
        "CreateTime": iso_z(now),
        "StartScheduleTime": iso_z(now),
        "Message": "",
        "ResourceGroupId": service.get("ResourceGroupId", ""),
        "ResourceGroupName": service.get("ResourceGroupName", ""),
        "ContainerInfos": [_new_container(name, image, rng) for name in names],
    }


def _shape_pod(pod: JSON, status: str, ready: bool, rng: random.Random) -> None:
    """Set one pod's phase and container states for a service in `status`, ready or not."""
    for container in pod["ContainerInfos"]:
        state = container["Status"]
        sidecar = container["Name"] != MAIN_CONTAINER
        if ready or (sidecar and status == "Abnormal"):
            state.update(State="Running", Ready=True, Reason="", Message="")
        elif status == "Abnormal":
            state["RestartCount"] += rng.randint(1, 3)
            state.update(
                State="Waiting",
                Ready=False,
                Reason="CrashLoopBackOff",
                Message=f"back-off 5m0s restarting failed container={MAIN_CONTAINER}",
            )
        else:
            state.update(State="Waiting", Ready=False, Reason="ContainerCreating", Message="")
    if ready:
        pod.update(Phase="Running", Status="Running", Message="")
    elif status == "Abnormal":
        pod.update(Phase="Running", Status="CrashLoopBackOff", Message="container model-server is not ready")
    else:
        pod.update(Phase="Pending", Status="ContainerCreating", Message="")


def apply_state(
    service: JSON,
    *,
    status: str,
    desired: int,
    ready: int | None,
    now: float,
    rng: random.Random,
    business_status: str | None = None,
) -> None:
    """Make `service` a service in `status` with `desired` replicas of which `ready` are ready.

    `ready=None` picks the natural figure: all for Normal, all but one for Abnormal, none otherwise.
    Stopped forces 0 replicas; CREATE_FAILED keeps the desired figure but runs no pod.
    """
    info = service["ServiceInfo"]
    per_replica = instances_per_replica(service)
    desired = 0 if status == "Stopped" else max(0, desired)
    current = 0 if status == "CREATE_FAILED" else desired
    if ready is None:
        ready = current if status == "Normal" else max(0, current - 1) if status == "Abnormal" else 0
    ready = max(0, min(ready, current))

    info["Replicas"] = desired
    workload = info["Status"]
    workload.update(
        Replicas=current,
        UpdatedReplicas=current,
        ReadyReplicas=ready,
        AvailableReplicas=ready,
        UnavailableReplicas=current - ready,
        Status=_WORKLOAD_STATUS.get(status, status),
        Reason="CrashLoopBackOff" if status == "Abnormal" else "",
    )
    replica_set = f"{service['ServiceId']}-{template_hash(service['ServiceId'])}"
    conditions: list[JSON] = workload["Conditions"]
    if status in ("Normal", "Stopped") and (current == 0 or ready > 0):
        available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    else:
        available = ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    if status == "CREATE_FAILED":
        progressing = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{replica_set}" has timed out progressing.')
    elif ready < current:
        progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{replica_set}" is progressing.')
    else:
        progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{replica_set}" has successfully progressed.')
    for kind, (flag, reason, message) in (("Available", available), ("Progressing", progressing)):
        _set_condition(conditions, kind, status=flag, reason=reason, message=message, now=now)

    pods: list[JSON] = info["PodInfos"]
    wanted = current * per_replica
    del pods[wanted:]
    while len(pods) < wanted:
        pods.append(_new_pod(service, now, rng))
    ready_pods = ready * per_replica
    for index, pod in enumerate(pods):
        _shape_pod(pod, status, index < ready_pods, rng)

    previous = service.get("BusinessStatus")
    if business_status is None:
        keep_arrears = previous == "ARREARS_STOP" and status == "Stopped"
        business_status = "ARREARS_STOP" if keep_arrears else _BUSINESS_STATUS.get(status, "CREATE_SUCCEED")
    service["Status"] = status
    service["BusinessStatus"] = business_status
    service["CreateFailedReason"] = (
        "Insufficient resources: no node in the resource group can hold the requested GPUs."
        if status == "CREATE_FAILED"
        else business_status
    )
    service["UpdateTime"] = iso_z(now)


def group_status(statuses: list[str]) -> str:
    """A group's status from its services': shared status, else Abnormal over Normal over the rest."""
    if not statuses:
        return "Stopped"
    if all(status == statuses[0] for status in statuses):
        return statuses[0]
    for status in ("Abnormal", "Normal"):
        if status in statuses:
            return status
    return next(status for status in statuses if status != "Stopped")


def refresh_group(group: JSON) -> None:
    """Recompute the group's counts and statuses from its services."""
    services: list[JSON] = group["Services"]
    statuses = [service["Status"] for service in services]
    group["ServiceCount"] = len(services)
    group["RunningServiceCount"] = sum(1 for status in statuses if is_running(status))
    group["ReplicasCount"] = sum(service["ServiceInfo"]["Status"]["Replicas"] for service in services)
    group["AvailableReplicasCount"] = sum(service["ServiceInfo"]["Status"]["AvailableReplicas"] for service in services)
    group["Status"] = group_status(statuses)
    business = [service["BusinessStatus"] for service in services]
    if "CREATING" in business:
        group["BusinessStatus"] = "CREATING"
    elif all(value == "CREATE_FAILED" for value in business):
        group["BusinessStatus"] = "CREATE_FAILED"
    elif "ARREARS_STOP" in business:
        group["BusinessStatus"] = "ARREARS_STOP"
    elif group["RunningServiceCount"]:
        group["BusinessStatus"] = "BILLING"
    else:
        group["BusinessStatus"] = ""
