"""Dedicated resource groups as nodes, and what the fleet's replicas hold on them.

Capacity is a list of nodes per group; usage is never stored but summed from the pods the fleet has
placed on the group, so `UsedResource` cannot drift from the services whatever churn or a test does.
The nodes are sized once, from the usage of the generated fleet, with one group left nearly full (less
free than any replica it runs asks for, so a new replica there cannot schedule); when usage outgrows a
group later, nodes are added, as an operator buys more, so used never exceeds total.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from exporter.simulator.workload import JSON, iso_cst, random_id

NODE_CARDS = 800
"""1/100 cards on one full GPU node (8 cards)."""
CPU_PER_CARD = 16000
"""1/1000 cores a GPU node has per card."""
MEMORY_PER_CARD = 131072
"""MB a GPU node has per card."""
CPU_NODE = (64000, 262144)
"""(1/1000 cores, MB) of a CPU node."""

_GPU_INSTANCE_TYPES = {
    "T4": "GN7.20XLARGE320",
    "V100": "GN10Xp.20XLARGE320",
    "A10": "GNV4.24XLARGE368",
    "A100": "GT4.41XLARGE948",
    "L20": "GNV6.32XLARGE512",
    "H20": "HCCPNV6.32XLARGE1024",
}


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU in 1/1000 cores, memory in MB, GPUs in 1/100 cards by card model."""

    cpu: int = 0
    memory: int = 0
    gpus: dict[str, int] = field(default_factory=dict)

    @property
    def gpu(self) -> int:
        return sum(self.gpus.values())

    def plus(self, other: Usage) -> Usage:
        gpus = dict(self.gpus)
        for card, value in other.gpus.items():
            gpus[card] = gpus.get(card, 0) + value
        kept = {card: value for card, value in sorted(gpus.items()) if value}
        return Usage(self.cpu + other.cpu, self.memory + other.memory, kept)


@dataclass(frozen=True, slots=True)
class Node:
    instance_id: str
    cvm_id: str
    ip: str
    cpu: int
    memory: int
    card: str
    """The card model, "" for a CPU node."""
    cards: int
    """1/100 cards."""
    created: float


@dataclass(slots=True)
class BillingGroup:
    """A dedicated resource group: its identity, tags and nodes."""

    id: str
    name: str
    cluster_id: str
    created: float
    tags: list[dict[str, str]]
    nodes: list[Node] = field(default_factory=list)

    def total(self) -> Usage:
        gpus: dict[str, int] = {}
        for node in self.nodes:
            if node.card:
                gpus[node.card] = gpus.get(node.card, 0) + node.cards
        return Usage(sum(node.cpu for node in self.nodes), sum(node.memory for node in self.nodes), gpus)


def pod_resources(service: JSON) -> tuple[int, int, dict[str, int]]:
    """What one pod of `service` holds: its `ServiceInfo.Resources` (per instance; a DIST replica runs
    `InstancePerReplicas` such pods), GPUs by card from `RealGpuDetailSet`."""
    resources = service["ServiceInfo"]["Resources"]
    gpus: dict[str, int] = {}
    for detail in resources.get("RealGpuDetailSet") or []:
        gpus[detail["Name"]] = gpus.get(detail["Name"], 0) + int(detail["Value"])
    return int(resources.get("Cpu") or 0), int(resources.get("Memory") or 0), gpus


def placed_pods(service: JSON) -> int:
    """Pods of `service` bound to a node (a pod the scheduler could not place holds nothing)."""
    return sum(1 for pod in service["ServiceInfo"]["PodInfos"] if pod.get("NodeIP"))


def usage(services: Iterable[JSON], group_id: str) -> Usage:
    """The sum of what the placed pods of the services on group `group_id` hold."""
    cpu = memory = 0
    gpus: dict[str, int] = {}
    for service in services:
        if service.get("ResourceGroupId") != group_id:
            continue
        pods = placed_pods(service)
        if not pods:
            continue
        pod_cpu, pod_memory, pod_gpus = pod_resources(service)
        cpu += pod_cpu * pods
        memory += pod_memory * pods
        for card, value in pod_gpus.items():
            gpus[card] = gpus.get(card, 0) + value * pods
    return Usage(cpu, memory, {card: value for card, value in sorted(gpus.items()) if value})


def _node(rng: random.Random, now: float, card: str, cards: int) -> Node:
    address = rng.getrandbits(16)
    if card:
        cpu, memory = cards * CPU_PER_CARD // 100, cards * MEMORY_PER_CARD // 100
    else:
        cpu, memory = CPU_NODE
    return Node(
        instance_id=f"trsi-{random_id(rng)}",
        cvm_id=f"ins-{random_id(rng)}",
        ip=f"172.16.{address >> 8 & 63}.{2 + (address & 255) % 252}",
        cpu=max(cpu, 1000),
        memory=max(memory, 1024),
        card=card,
        cards=cards,
        created=now,
    )


def size(
    group: BillingGroup, used: Usage, rng: random.Random, now: float, *, nearly_full: bool, minimum: Usage
) -> None:
    """Give a new group nodes for `used`: a spare node per card model, or — `nearly_full` — for each card
    model less free than half of the smallest pod `minimum.gpus` names (rounded down to a quarter card)."""
    for card, value in sorted(used.gpus.items()):
        if nearly_full:
            total = value + (minimum.gpus.get(card, 0) // 2) // 25 * 25
        else:
            total = (value // NODE_CARDS + 1) * NODE_CARDS
        _add_gpu_nodes(group, card, total, rng, now)
    for card, need in sorted(minimum.gpus.items()):
        if nearly_full and card not in used.gpus and need // 2 >= 25:
            _add_gpu_nodes(group, card, (need // 2) // 25 * 25, rng, now)
    headroom = 0 if nearly_full else 2
    _add_cpu_nodes(group, used, rng, now, spare=headroom)


def _add_gpu_nodes(group: BillingGroup, card: str, cards: int, rng: random.Random, now: float) -> None:
    while cards > 0:
        step = min(cards, NODE_CARDS)
        group.nodes.append(_node(rng, now, card, step))
        cards -= step


def _add_cpu_nodes(group: BillingGroup, used: Usage, rng: random.Random, now: float, *, spare: int = 0) -> None:
    total = group.total()
    while total.cpu < used.cpu or total.memory < used.memory:
        group.nodes.append(_node(rng, now, "", 0))
        total = group.total()
    for _ in range(spare):
        group.nodes.append(_node(rng, now, "", 0))


def grow(group: BillingGroup, used: Usage, rng: random.Random, now: float) -> None:
    """Add nodes until the group holds `used` (an operator buying capacity); never removes any."""
    total = group.total()
    for card, value in sorted(used.gpus.items()):
        missing = value - total.gpus.get(card, 0)
        if missing > 0:
            _add_gpu_nodes(group, card, -(-missing // NODE_CARDS) * NODE_CARDS, rng, now)
    _add_cpu_nodes(group, used, rng, now)


def _resource_info(cpu: int, memory: int, gpus: dict[str, int]) -> JSON:
    card = next(iter(gpus), "")
    return {
        "Cpu": cpu,
        "Memory": memory,
        "Gpu": sum(gpus.values()),
        "GpuType": card,
        "RealGpu": sum(gpus.values()),
        "RealGpuDetailSet": [{"Name": name, "Value": value} for name, value in gpus.items()],
    }


def group_resource(value: Usage) -> JSON:
    """The API's `GroupResource`: `Gpu` is the sum of `GpuDetailSet`."""
    return {
        "Cpu": value.cpu,
        "Memory": value.memory,
        "Gpu": value.gpu,
        "GpuDetailSet": [{"Name": card, "Value": cards} for card, cards in sorted(value.gpus.items())],
    }


def instances(group: BillingGroup, used: Usage, region: str, owner: str) -> list[JSON]:
    """The group's nodes as `Instance`s, the usage spread over them in order (first nodes fill first), so
    the nodes' used figures add up to the group's."""
    left_cpu, left_memory, left_gpus = used.cpu, used.memory, dict(used.gpus)
    answer: list[JSON] = []
    for index, node in enumerate(group.nodes):
        cpu, memory = min(left_cpu, node.cpu), min(left_memory, node.memory)
        left_cpu, left_memory = left_cpu - cpu, left_memory - memory
        gpus = 0
        if node.card:
            gpus = min(left_gpus.get(node.card, 0), node.cards)
            left_gpus[node.card] = left_gpus.get(node.card, 0) - gpus
        node_gpus = {node.card: node.cards} if node.card else {}
        used_gpus = {node.card: gpus} if node.card else {}
        free_gpus = {node.card: node.cards - gpus} if node.card else {}
        kind = _GPU_INSTANCE_TYPES.get(node.card, "SA5.16XLARGE256") if node.card else "SA5.16XLARGE256"
        answer.append(
            {
                "InstanceId": node.instance_id,
                "UsedResource": _resource_info(cpu, memory, used_gpus),
                "TotalResource": _resource_info(node.cpu, node.memory, node_gpus),
                "AvailableResource": _resource_info(node.cpu - cpu, node.memory - memory, free_gpus),
                "InstanceStatus": "RUNNING",
                "SubUin": owner,
                "CreateTime": iso_cst(node.created)[:19].replace("T", " "),
                "ExpireTime": iso_cst(node.created + 365 * 86400)[:19].replace("T", " "),
                "AutoRenewFlag": "NOTIFY_AND_AUTO_RENEW",
                "SpecId": f"SV_{kind.replace('.', '_')}",
                "SpecAlias": kind,
                "SpecFeatures": [],
                "CvmInstanceId": node.cvm_id,
                "ErrCode": "",
                "ErrMsg": "",
                "InstanceIP": node.ip,
                "InstanceName": f"{group.name}-node-{index + 1}",
                "CvmInstanceType": kind,
                "AutoRenew": True,
                "Isolated": False,
                "ZoneName": f"{region}-3",
            }
        )
    return answer
