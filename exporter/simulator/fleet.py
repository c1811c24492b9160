"""A seeded, realistic fleet of service groups for one region, and the operations that change it.

Everything random comes from `random.Random` generators seeded from the seed, the region and a
purpose, so the same seed gives the same fleet, the same ids and the same secrets on every run. The
fleet is held in the API's wire form; `GroupMeta` keeps beside each group what the request handler
needs to filter and sort without parsing strings (its workspace and times).
"""

from __future__ import annotations

import calendar
import itertools
import random
import time
from dataclasses import dataclass, replace
from typing import Literal

from exporter.simulator import capacity, catalog, holders
from exporter.simulator.capacity import BillingGroup
from exporter.simulator.drawing import (
    WEIGHT_SPLITS,
    ResourceGroup,
    ServicePlan,
    auth_tokens,
    draw_tags,
    make_account,
    new_service,
    smart_router,
    spec_resources,
)
from exporter.simulator.prices import PriceBook
from exporter.simulator.workload import (
    JSON,
    apply_state,
    iso_z,
    random_id,
    refresh_group,
)
from exporter.tencentcloud.gcpause import paused_gc

DAY = 86400.0
BACKOFF_SECONDS = 300
"""Kubernetes' longest back-off between restarts of a crashing container, which a crash loop settles at."""


def unschedulable_message(nodes: int) -> str:
    """The scheduler's message for a pod no node of a `nodes`-node group has the GPUs for."""
    return f"0/{nodes} nodes are available: {nodes} Insufficient nvidia.com/gpu."


def parse_iso_z(text: str) -> float:
    """Unix seconds of a `Z` time as `iso_z` writes it."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


Birth = Literal["historic", "new", "creating"]
"""How a generated group came to be: see `RegionFleet.create_group`."""

_INITIAL_STATUSES: tuple[tuple[str, float], ...] = (
    ("Normal", 0.70),
    ("Stopped", 0.14),
    ("Abnormal", 0.05),
    ("Pending", 0.03),
    ("CREATING", 0.03),
    ("CREATE_FAILED", 0.02),
    ("ARREARS_STOP", 0.03),
)
_STATUS_NAMES = tuple(name for name, _ in _INITIAL_STATUSES)
_TROUBLED = frozenset({"Abnormal", "Pending", "CREATING", "CREATE_FAILED"})
TROUBLE_SPAN = 6 * 3600.0
"""A historic service in one of the `_TROUBLED` states entered it within this many seconds of the start."""
_STATUS_CUMULATIVE = tuple(itertools.accumulate(weight for _, weight in _INITIAL_STATUSES))


@dataclass(slots=True)
class GroupMeta:
    """What the handler filters and sorts on without reading the wire form: workspace and unix times.

    Times are whole seconds, as on the wire; `sequence` (creation order) breaks ties, so of two groups
    created in the same second the later one sorts as the newer, as the API's own records would.
    """

    workspace: str
    created: int
    updated: int
    sequence: int


@dataclass(frozen=True, slots=True)
class Workspace:
    """A workspace (`TiProjectId`) and the resource groups bound to it."""

    project_id: str
    name: str
    description: str
    created: float
    resource_groups: tuple[str, ...]


INCIDENT_KINDS: tuple[str, ...] = ("unschedulable", "crash_loop", "create_failed", "arrears_stop")
"""The services held broken when incidents are on: no GPUs to schedule on, a crash loop, a creation that
failed on its image, a stop for arrears."""
INCIDENT_NAMES: dict[str, str] = {
    "unschedulable": "held-incident-no-gpus",
    "crash_loop": "held-incident-crash-loop",
    "create_failed": "held-incident-image-pull",
    "arrears_stop": "held-incident-arrears",
}
"""The service group name of each held incident, so that the demo's page tells them from churn at a glance."""


class RegionFleet:
    """The service groups of one region, spread over a default workspace and one more.

    Not thread-safe: the simulator holds its lock around every call.
    """

    def __init__(
        self,
        region: str,
        seed: int,
        groups: int,
        now: float,
        *,
        incidents: bool = False,
        workspaces: int = 2,
        uin: str | None = None,
    ) -> None:
        """`uin`: the account's, instead of the one drawn from `seed` (everything else is drawn as usual)."""
        self.region = region
        self.seed = seed
        self.account = make_account(seed) if uin is None else replace(make_account(seed), uin=uin)
        setup = random.Random(f"{seed}/{region}/setup")
        self.workspaces: tuple[str, ...] = (f"ws-{random_id(setup)}", f"ws-{random_id(setup)}")
        more = random.Random(f"{seed}/{region}/workspaces")  # its own draws: the first two stay as they were
        self.workspaces += tuple(f"ws-{random_id(more)}" for _ in range(workspaces - 2))
        self.resource_groups: tuple[ResourceGroup, ...] = tuple(
            ResourceGroup(f"trsg-{random_id(setup)}", name, f"cls-{random_id(setup)}")
            for name in ("rg-gpu-prod", "rg-infer-shared")
        )
        self.groups: dict[str, JSON] = {}
        self.meta: dict[str, GroupMeta] = {}
        self.generation = 0  # changed by every group created, deleted or touched: `orders` are kept until then
        self.orders: dict[tuple[str, str, bool], tuple[int, list[str]]] = {}
        self._sequence = 0
        self._used_ids: set[str] = set()
        self._names: set[str] = set()
        self._name_suffix: dict[str, int] = {}
        self.ops_random = random.Random(f"{seed}/{region}/ops")
        """For changes asked through the Python API, so a scripted test is reproducible too."""
        self.pinned: set[str] = set()
        """Service ids churn leaves alone (the incidents)."""
        self.incidents: dict[str, str] = {}
        """Incident kind -> the service id held in it."""
        generator = random.Random(f"{seed}/{region}/fleet")
        self.create_groups(generator, groups, now, birth="historic")
        # Everything below draws from generators of its own, so the fleet above is the same with or without it.
        extra = random.Random(f"{seed}/{region}/billing")
        idle = ResourceGroup(f"trsg-{random_id(extra)}", "rg-cpu-general", f"cls-{random_id(extra)}")
        self.billing_groups: list[BillingGroup] = [
            BillingGroup(
                group.id,
                group.name,
                group.cluster_id,
                now - extra.uniform(400 * DAY, 600 * DAY),
                [{"TagKey": "team-name", "TagValue": team}, {"TagKey": "cost.center", "TagValue": center}],
            )
            for group, team, center in zip(
                (*self.resource_groups, idle), ("platform", "search", "ads"), catalog.COST_CENTERS, strict=True
            )
        ]
        self.workspace_info: tuple[Workspace, ...] = (
            Workspace(
                self.workspaces[0],
                "default",
                "The default workspace",
                now - extra.uniform(700 * DAY, 800 * DAY),
                tuple(group.id for group in self.billing_groups),
            ),
            Workspace(
                self.workspaces[1],
                "ml-platform",
                "Shared services of the ML platform team",
                now - extra.uniform(600 * DAY, 700 * DAY),
                tuple(group.id for group in self.billing_groups[:2]),
            ),
            *(
                Workspace(project_id, f"team-{index:03d}", "A team's workspace", now - (500 + index) * DAY, ())
                for index, project_id in enumerate(self.workspaces[2:], start=1)
            ),
        )
        self.holders = holders.seed_holders(
            random.Random(f"{seed}/{region}/holders"), now, self.workspaces, self.billing_groups, self.account.users
        )
        """Training tasks and notebooks; the running ones on a group hold its capacity (`usage`)."""
        self.prices = PriceBook()
        self._node_random = random.Random(f"{seed}/{region}/nodes")
        if incidents:
            self._create_incidents(now)
        self._size_capacity(now)

    @property
    def default_workspace(self) -> str:
        return self.workspaces[0]

    # -- resource groups --------------------------------------------------------------------------

    def usage(self, group_id: str) -> capacity.Usage:
        """What the placed pods of the services and the running training tasks and notebooks on the group hold."""
        services = capacity.usage((service for _, service in self.services()), group_id)
        return services.plus(self.holders.usage(group_id))

    def _size_capacity(self, now: float) -> None:
        """Nodes for each group's usage; the first group (the GPU production one) is left nearly full."""
        for index, group in enumerate(self.billing_groups):
            smallest: dict[str, int] = {}
            for _, service in self.services():
                if service.get("ResourceGroupId") == group.id:
                    for card, value in capacity.pod_resources(service)[2].items():
                        smallest[card] = min(smallest.get(card, value), value)
            capacity.size(
                group,
                self.usage(group.id),
                self._node_random,
                now,
                nearly_full=index == 0,
                minimum=capacity.Usage(gpus=smallest),
            )
        self._describe_unschedulable()

    def grow_capacity(self, now: float) -> None:
        """Add nodes where placed replicas now hold more than a group has (see `capacity.grow`)."""
        for group in self.billing_groups:
            capacity.grow(group, self.usage(group.id), self._node_random, now)
        self._describe_unschedulable()

    def billing_group(self, group_id: str) -> BillingGroup | None:
        return next((group for group in self.billing_groups if group.id == group_id), None)

    def services(self) -> list[tuple[JSON, JSON]]:
        """(group, service) pairs in fleet order."""
        return [(group, service) for group in self.groups.values() for service in group["Services"]]

    def find_service(self, service_id: str) -> tuple[JSON, JSON]:
        group_id = service_id.rpartition("-")[0]
        group = self.groups.get(group_id)
        if group is not None:
            for service in group["Services"]:
                if service["ServiceId"] == service_id:
                    return group, service
        raise KeyError(f"no service {service_id!r} in {self.region}")

    def touch(self, group: JSON, now: float) -> None:
        """Recompute the group from its services and stamp its update time."""
        refresh_group(group)
        group["UpdateTime"] = iso_z(now)
        self.meta[group["ServiceGroupId"]].updated = int(now)
        self.generation += 1

    def delete_group(self, group_id: str) -> None:
        group = self.groups.pop(group_id)
        del self.meta[group_id]
        self.generation += 1
        self._names.discard(group["ServiceGroupName"])

    def set_service_status(
        self, service_id: str, status: str, replicas: int | None, now: float, ready: int | None = None
    ) -> None:
        group, service = self.find_service(service_id)
        business = None
        if status == "ARREARS_STOP":
            status, business = "Stopped", "ARREARS_STOP"
        if replicas is None:
            replicas = service["ServiceInfo"]["Replicas"] or self._restart_replicas(service)
        apply_state(
            service,
            status=status,
            desired=replicas,
            ready=ready,
            now=now,
            rng=self.ops_random,
            business_status=business,
        )
        self.touch(group, now)

    @staticmethod
    def _restart_replicas(service: JSON) -> int:
        hpa = service["ServiceInfo"].get("HorizontalPodAutoscaler")
        return int(hpa["MinReplicas"]) if hpa else 1

    # -- incidents --------------------------------------------------------------------------------

    def _create_incidents(self, now: float) -> None:
        """One group per incident kind, its first service held broken since a few hours ago (so its events
        fall in the API's default last-day window); churn leaves these services alone."""
        rng = random.Random(f"{self.seed}/{self.region}/incidents")
        for kind in INCIDENT_KINDS:
            group_id = self.create_group(rng, now, birth="historic", workspace=self.default_workspace)
            group = self.groups[group_id]
            # One service a group, named for its incident: the group's name speaks for all its services.
            del group["Services"][1:]
            group["LatestVersion"] = "1"
            self._names.discard(group["ServiceGroupName"])
            self._names.add(INCIDENT_NAMES[kind])
            group["ServiceGroupName"] = INCIDENT_NAMES[kind]
            service = group["Services"][0]
            service["ServiceGroupName"] = INCIDENT_NAMES[kind]
            service["Weight"] = service["ServiceInfo"]["Weight"] = 100
            since = float(int(now - rng.uniform(2 * 3600, 20 * 3600)))
            if kind == "unschedulable":
                self._place_on_full_group(service)
                service["ServiceInfo"]["PodInfos"] = []
                apply_state(service, status="Pending", desired=2, ready=0, now=since, rng=rng)
                for pod in service["ServiceInfo"]["PodInfos"]:
                    pod.update(Phase="Pending", Status="Pending", IP="", NodeIP="", NodeId="")
                    for container in pod["ContainerInfos"]:
                        container["Status"].update(State="Waiting", Ready=False, Reason="", Message="")
            elif kind == "crash_loop":
                apply_state(service, status="Abnormal", desired=3, ready=1, now=since, rng=rng)
            elif kind == "create_failed":
                apply_state(service, status="CREATE_FAILED", desired=1, ready=0, now=since, rng=rng)
                image = (service["ServiceInfo"].get("ImageInfo") or {}).get("ImageUrl", "")
                service["CreateFailedReason"] = (
                    f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and unpack '
                    f'image "{image}": not found (ErrImagePull)'
                )
            else:
                apply_state(
                    service, status="Stopped", desired=0, ready=0, now=since, rng=rng, business_status="ARREARS_STOP"
                )
            refresh_group(group)
            self.incidents[kind] = service["ServiceId"]
            self.pinned.add(service["ServiceId"])
        self.refresh_incidents(now)

    def _place_on_full_group(self, service: JSON) -> None:
        """Make `service` a prepaid one on the GPU production group, asking a whole 8-card A100 node a pod."""
        spec = catalog.GPU_SPECS["A100"][1]
        group = self.resource_groups[0]
        info = service["ServiceInfo"]
        info["Resources"] = spec_resources(spec)
        info.update(InstanceType="", InstancePerReplicas=1, HybridBillingPrepaidReplicas=0)
        service.update(
            ChargeType="PREPAID",
            ResourceGroupId=group.id,
            ResourceGroupName=group.name,
            ClusterId=group.cluster_id,
            DeployType="STANDARD",
            InstancePerReplicas="1",
        )

    def _describe_unschedulable(self) -> None:
        """The scheduler's verdict on the unplaced pods, naming the nodes of their group as it stands."""
        service_id = self.incidents.get("unschedulable")
        if service_id is None:
            return
        _, service = self.find_service(service_id)
        group = self.billing_group(service["ResourceGroupId"])
        nodes = len(group.nodes) if group is not None else 0
        for pod in service["ServiceInfo"]["PodInfos"]:
            pod["Message"] = unschedulable_message(nodes)

    def refresh_incidents(self, now: float) -> None:
        """Keep the crash loop restarting: one restart per back-off period (5 minutes) since it began."""
        service_id = self.incidents.get("crash_loop")
        if service_id is None:
            return
        _, service = self.find_service(service_id)
        since = parse_iso_z(service["UpdateTime"])
        restarts = 1 + max(0, int(now - since)) // BACKOFF_SECONDS
        for pod in service["ServiceInfo"]["PodInfos"]:
            for container in pod["ContainerInfos"]:
                if container["Status"]["Reason"] == "CrashLoopBackOff":
                    container["Status"]["RestartCount"] = restarts

    # -- generation -------------------------------------------------------------------------------

    def create_groups(
        self, rng: random.Random, count: int, now: float, *, birth: Birth, workspace: str | None = None
    ) -> list[str]:
        """Add `count` random groups (with the garbage collector paused: see `paused_gc`)."""
        with paused_gc():
            return [self.create_group(rng, now, birth=birth, workspace=workspace) for _ in range(count)]

    def _new_id(self, rng: random.Random) -> str:
        while True:
            candidate = f"ms-{random_id(rng)}"
            if candidate not in self._used_ids:
                self._used_ids.add(candidate)
                return candidate

    def _new_name(self, rng: random.Random, workload: catalog.Workload) -> str:
        base = f"{workload.prefix}-{rng.choice(workload.tasks)}-{rng.choice(catalog.ENVIRONMENTS)}"
        if rng.random() < 0.05:
            base = base.replace("-", "_")
        name, suffix = base, self._name_suffix.get(base, 2)
        while name in self._names:
            name = f"{base}-{suffix}"
            suffix += 1
        self._name_suffix[base] = suffix
        self._names.add(name)
        return name

    def create_group(self, rng: random.Random, now: float, *, birth: Birth, workspace: str | None = None) -> str:
        """Add one random group: `historic` ones were created up to 400 days ago and changed since, `new`
        ones are created `now` already running (mostly Normal), `creating` ones are created `now` CREATING."""
        historic = birth == "historic"
        group_id = self._new_id(rng)
        workload = rng.choice(catalog.WORKLOADS)
        name = self._new_name(rng, workload)
        user_uin, user_name = rng.choice(self.account.users)
        created = now - rng.uniform(2 * DAY, 400 * DAY) if historic else now
        count = rng.choices((1, 2, 3), (0.55, 0.35, 0.10))[0]
        weights = rng.choice(WEIGHT_SPLITS[count])
        tags = draw_tags(rng)
        auth_enabled = rng.random() < 0.3
        plan = ServicePlan.draw(rng, workload, self.resource_groups)
        services: list[JSON] = []
        service_created = created
        updated = created
        for index in range(count):
            if index and historic:
                service_created = min(now - 3600, service_created + rng.uniform(DAY / 4, 20 * DAY))
            service = new_service(
                rng,
                plan,
                region=self.region,
                account=self.account,
                group_id=group_id,
                group_name=name,
                version=index + 1,
                weight=weights[index],
                tags=tags,
                auth_enabled=auth_enabled,
                user=(user_uin, user_name),
                now=now,
            )
            service["CreateTime"] = iso_z(service_created)
            if birth == "creating":
                status = "CREATING"
            else:
                status = rng.choices(_STATUS_NAMES, cum_weights=_STATUS_CUMULATIVE)[0]
            business = None
            if status == "ARREARS_STOP":
                status, business = "Stopped", "ARREARS_STOP"
            stamp = rng.uniform(service_created, now) if historic else now
            if historic and status in _TROUBLED:
                # A fleet's troubles are recent (someone fixes or stops a broken service within hours),
                # and the events the simulator makes up for it start with it: no crash loop months old.
                stamp = max(service_created, now - (now - stamp) % TROUBLE_SPAN)
            apply_state(
                service,
                status=status,
                desired=plan.replicas(rng),
                ready=None,
                now=stamp,
                rng=rng,
                business_status=business,
            )
            services.append(service)
            updated = max(updated, stamp)
        group: JSON = {
            "ServiceGroupId": group_id,
            "ServiceGroupName": name,
            "CreatedBy": user_uin,
            "CreateTime": iso_z(created),
            "UpdateTime": iso_z(updated),
            "Uin": self.account.uin,
            "ServiceCount": 0,
            "RunningServiceCount": 0,
            "Services": services,
            "Status": "",
            "Tags": [dict(tag) for tag in tags],
            "LatestVersion": str(count),
            "BusinessStatus": "",
            "BillingInfo": "",
            "CreateSource": plan.create_source,
            "WeightUpdateStatus": "UPDATED",
            "ReplicasCount": 0,
            "AvailableReplicasCount": 0,
            "SubUin": user_uin,
            "AppId": self.account.app_id,
            "AuthorizationEnable": auth_enabled,
            "AuthTokens": auth_tokens(rng, created) if auth_enabled else [],
            "MonitorSource": "",
            "SubUinName": user_name,
            "Changer": user_uin,
            "ChangerName": user_name,
            "SmartRouter": smart_router(group_id, user_uin, created),
        }
        refresh_group(group)
        self.groups[group_id] = group
        usual = self.workspaces[1] if rng.random() < 0.15 else self.default_workspace
        if len(self.workspaces) > 2:  # many workspaces: dealt in turn, so that each holds some groups
            usual = self.workspaces[self._sequence % len(self.workspaces)]
        chosen = workspace or usual
        self._sequence += 1
        self.meta[group_id] = GroupMeta(chosen, int(created), int(updated), self._sequence)
        self.generation += 1
        return group_id
