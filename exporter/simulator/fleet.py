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
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from exporter.simulator import capacity, catalog, holders
from exporter.simulator.capacity import BillingGroup
from exporter.simulator.prices import PriceBook
from exporter.simulator.workload import (
    JSON,
    apply_state,
    iso_cst,
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
_CHARGE_TYPES = ("POSTPAID_BY_HOUR", "PREPAID", "HYBRID_PAID")
_CHARGE_CUMULATIVE = (0.6, 0.9, 1.0)
_WEIGHT_SPLITS: dict[int, tuple[tuple[int, ...], ...]] = {
    1: ((100,),),
    2: ((50, 50), (80, 20), (90, 10), (100, 0)),
    3: ((70, 20, 10), (34, 33, 33), (60, 40, 0)),
}


def _digits(rng: random.Random, count: int) -> str:
    return str(rng.randrange(10 ** (count - 1), 10**count))


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
class Account:
    """The simulated account: one main uin and the sub-accounts that create services."""

    uin: str
    app_id: int
    users: tuple[tuple[str, str], ...]
    """(sub-account uin, name)."""


@dataclass(frozen=True, slots=True)
class ResourceGroup:
    id: str
    name: str
    cluster_id: str


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


def make_account(seed: int) -> Account:
    rng = random.Random(f"{seed}/account")
    users = tuple((f"1000{_digits(rng, 8)}", name) for name in catalog.OWNERS[:4])
    return Account(uin=f"1000{_digits(rng, 8)}", app_id=int(f"125{_digits(rng, 7)}"), users=users)


class RegionFleet:
    """The service groups of one region, spread over a default workspace and one more.

    Not thread-safe: the simulator holds its lock around every call.
    """

    def __init__(
        self, region: str, seed: int, groups: int, now: float, *, incidents: bool = False, workspaces: int = 2
    ) -> None:
        self.region = region
        self.seed = seed
        self.account = make_account(seed)
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

    def delete_group(self, group_id: str) -> None:
        group = self.groups.pop(group_id)
        del self.meta[group_id]
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
        info["Resources"] = {
            "Cpu": spec.cpu,
            "Memory": spec.memory,
            "Gpu": spec.gpu,
            "GpuType": spec.gpu_type,
            "RealGpu": spec.real_gpu,
            "RealGpuDetailSet": [{"Name": card, "Value": value} for card, value in spec.details],
        }
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
        weights = rng.choice(_WEIGHT_SPLITS[count])
        tags = self._tags(rng)
        auth_enabled = rng.random() < 0.3
        plan = _ServicePlan.draw(rng, workload, self.resource_groups)
        services: list[JSON] = []
        service_created = created
        updated = created
        for index in range(count):
            if index and historic:
                service_created = min(now - 3600, service_created + rng.uniform(DAY / 4, 20 * DAY))
            service = self._service(
                rng,
                plan,
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
            "AuthTokens": self._auth_tokens(rng, created) if auth_enabled else [],
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
        return group_id

    @staticmethod
    def _tags(rng: random.Random) -> list[dict[str, str]]:
        tags = []
        if rng.random() < 0.8:
            tags.append({"TagKey": "team-name", "TagValue": rng.choice(catalog.TEAMS)})
        if rng.random() < 0.5:
            tags.append({"TagKey": "cost.center", "TagValue": rng.choice(catalog.COST_CENTERS)})
        if rng.random() < 0.4:
            tags.append({"TagKey": "owner", "TagValue": rng.choice(catalog.OWNERS)})
        if rng.random() < 0.1:
            tags.append({"TagKey": "1st", "TagValue": "yes"})
        return tags

    @staticmethod
    def _auth_tokens(rng: random.Random, created: float) -> list[JSON]:
        return [
            {
                "Base": {
                    "Value": f"{rng.getrandbits(128):032x}",
                    "Name": "default",
                    "Description": "",
                    "CreateTime": iso_z(created),
                    "Status": "Normal",
                    "Id": f"token-{random_id(rng)}",
                },
                "Limits": [{"Strategy": "QPS", "Max": rng.choice((50, 100, 500))}],
            }
        ]

    def _service(
        self,
        rng: random.Random,
        plan: _ServicePlan,
        *,
        group_id: str,
        group_name: str,
        version: int,
        weight: int,
        tags: list[dict[str, str]],
        auth_enabled: bool,
        user: tuple[str, str],
        now: float,
    ) -> JSON:
        user_uin, user_name = user
        spec = plan.spec
        resources: JSON = {
            "Cpu": spec.cpu,
            "Memory": spec.memory,
            "Gpu": spec.gpu,
            "GpuType": spec.gpu_type,
            "RealGpu": spec.real_gpu,
            "RealGpuDetailSet": [{"Name": card, "Value": value} for card, value in spec.details],
        }
        scheduled = (
            {"ScheduleStop": True, "ScheduleStopTime": iso_cst(now + plan.schedule_stop)}
            if plan.schedule_stop
            else None
        )
        resource_group = plan.resource_group
        info: JSON = {
            "Replicas": 0,
            "ImageInfo": plan.image(rng, version),
            "Env": plan.env(rng),
            "Resources": resources,
            "InstanceType": spec.instance_type if plan.charge_type != "PREPAID" else "",
            "ModelInfo": plan.model(version),
            "LogEnable": plan.log_enable,
            "LogConfig": {"LogsetId": plan.logset, "TopicId": plan.topic} if plan.log_enable else None,
            "AuthorizationEnable": auth_enabled,
            "ScaleMode": plan.scale_mode,
            "HorizontalPodAutoscaler": plan.hpa(),
            "CronScaleJobs": plan.cron_jobs(),
            "ScaleStrategy": "",
            "ScheduledAction": scheduled,
            "Status": {
                "Replicas": 0,
                "UpdatedReplicas": 0,
                "ReadyReplicas": 0,
                "AvailableReplicas": 0,
                "UnavailableReplicas": 0,
                "Status": "",
                "Reason": "",
                "Conditions": [],
            },
            "Weight": weight,
            "PodInfos": [],
            "ResourceTotal": None,
            "OldReplicas": 0,
            "HybridBillingPrepaidReplicas": 1 if plan.charge_type == "HYBRID_PAID" else 0,
            "OldHybridBillingPrepaidReplicas": 0,
            "ModelHotUpdateEnable": False,
            "ModelTurboEnable": plan.turbo,
            "ServicePort": 8501,
            "GrpcEnable": False,
            "InstancePerReplicas": plan.instances_per_replica,
            "RollingUpdate": {
                "MaxUnavailable": {"Type": "Percent", "Value": 25},
                "MaxSurge": {"Type": "Num", "Value": 1},
            },
        }
        service: JSON = {
            "ServiceGroupId": group_id,
            "ServiceId": f"{group_id}-{version}",
            "ServiceGroupName": group_name,
            "ServiceDescription": f"version {version}",
            "ServiceInfo": info,
            "ClusterId": resource_group.cluster_id if resource_group else "",
            "Region": self.region,
            "Namespace": f"infer-{self.account.uin}",
            "ChargeType": plan.charge_type,
            "ResourceGroupId": resource_group.id if resource_group else "",
            "ResourceGroupName": resource_group.name if resource_group else "",
            "Tags": [dict(tag) for tag in tags],
            "IngressName": "user-ingress-1",
            "CreatedBy": user_uin,
            "CreateTime": "",
            "UpdateTime": "",
            "Uin": self.account.uin,
            "SubUin": user_uin,
            "AppId": self.account.app_id,
            "BusinessStatus": "",
            "CreateFailedReason": "",
            "Status": "",
            "BillingInfo": "",
            "Weight": weight,
            "CreateSource": plan.create_source,
            "Version": str(version),
            "LatestVersion": "",
            "ServiceLimit": None,
            "ScheduledAction": scheduled,
            "DeployType": plan.deploy_type,
            "InstancePerReplicas": str(plan.instances_per_replica),
            "MonitorSource": "",
            "SubUinName": user_name,
            "ResourceSupplyAttribute": {"SupplyType": "", "ClusterType": ""},
        }
        return service


@dataclass(slots=True)
class _ServicePlan:
    """What the services of one group share: workload, machine, image family, model, scaling."""

    workload: catalog.Workload
    spec: catalog.Spec
    charge_type: str
    resource_group: ResourceGroup | None
    deploy_type: str
    instances_per_replica: int
    scale_mode: str
    hpa_bounds: tuple[int, int]
    hpa_metric: str
    image_kind: str
    image_repo: str
    image_registry: str
    image_secret: tuple[str, str] | None
    model_name: str
    model_format: str
    framework: str
    model_id: str
    model_version_ids: tuple[str, ...]
    model_source: str
    private_env: bool
    log_enable: bool
    logset: str
    topic: str
    turbo: bool
    create_source: str
    schedule_stop: float
    """Seconds from creation to a scheduled stop; 0 for none."""
    cron: bool

    @classmethod
    def draw(
        cls, rng: random.Random, workload: catalog.Workload, resource_groups: tuple[ResourceGroup, ...]
    ) -> _ServicePlan:
        charge_type = rng.choices(_CHARGE_TYPES, cum_weights=_CHARGE_CUMULATIVE)[0]
        resource_group = rng.choice(resource_groups) if charge_type != "POSTPAID_BY_HOUR" else None
        card = rng.choice(workload.gpus)
        if not card:
            spec = rng.choice(catalog.CPU_SPECS)
        elif resource_group is not None and rng.random() < 0.25:
            spec = rng.choice(catalog.MIXED_SPECS)
        else:
            spec = rng.choice(catalog.GPU_SPECS[card])
        distributed = card in ("A100", "H20", "L20") and spec.gpu >= 400 and rng.random() < 0.5
        scale_mode = "AUTO" if rng.random() < 0.25 and not distributed else "MANUAL"
        low = rng.randint(1, 2)
        name, model_format, framework = rng.choice(workload.models)
        image_kind = rng.choices(("PRE_SET", "TCR", "CCR", "CUSTOM"), (0.5, 0.3, 0.1, 0.1))[0]
        secret = None
        if image_kind == "CUSTOM" or (image_kind == "TCR" and rng.random() < 0.5):
            secret = (f"1000{_digits(rng, 8)}", f"{rng.getrandbits(96):024x}")
        model_base = _digits(rng, 18)
        return cls(
            workload=workload,
            spec=spec,
            charge_type=charge_type,
            resource_group=resource_group,
            deploy_type="DIST" if distributed else "STANDARD",
            instances_per_replica=rng.choice((2, 4)) if distributed else 1,
            scale_mode=scale_mode,
            hpa_bounds=(low, low + rng.randint(2, 6)),
            hpa_metric=rng.choice(catalog.HPA_METRICS),
            image_kind=image_kind,
            image_repo=rng.choice(workload.images),
            image_registry=f"tcr-{random_id(rng)}",
            image_secret=secret,
            model_name=name,
            model_format=model_format,
            framework=framework,
            model_id=f"m-{model_base}",
            model_version_ids=tuple(f"mv-v{n}-{_digits(rng, 18)}" for n in (1, 2, 3)),
            model_source=rng.choice(catalog.MODEL_SOURCES),
            private_env=rng.random() < 0.4,
            log_enable=rng.random() < 0.5,
            logset=f"{rng.getrandbits(128):032x}",
            topic=f"{rng.getrandbits(128):032x}",
            turbo=card in ("A100", "H20") and rng.random() < 0.3,
            create_source=rng.choices(("DEFAULT", "AUTO_ML", "LLM_MARKET"), (0.8, 0.1, 0.1))[0],
            schedule_stop=rng.uniform(1 * 3600, 72 * 3600) if rng.random() < 0.05 else 0.0,
            cron=scale_mode == "AUTO" and rng.random() < 0.3,
        )

    def replicas(self, rng: random.Random) -> int:
        if self.scale_mode == "AUTO":
            return rng.randint(*self.hpa_bounds)
        if self.deploy_type == "DIST":
            return rng.randint(1, 2)
        return rng.choices((1, 2, 3, 4, 6), (0.35, 0.3, 0.15, 0.15, 0.05))[0]

    def image(self, rng: random.Random, version: int) -> JSON:
        tag = f"v{version}.{rng.randint(0, 9)}.{rng.randint(0, 20)}"
        kind = self.image_kind
        prefix = self.workload.prefix
        if kind == "PRE_SET":
            url = f"tione.tencentcloudcr.com/qcloud-ti-platform/{self.image_repo}:{tag}"
            image: JSON = {"ImageType": kind, "ImageUrl": url, "RegistryRegion": "", "RegistryId": ""}
        elif kind == "TCR":
            url = f"ai-{prefix}.tencentcloudcr.com/{prefix}/{self.image_repo}:{tag}"
            image = {
                "ImageType": kind,
                "ImageUrl": url,
                "RegistryRegion": "ap-guangzhou",
                "RegistryId": self.image_registry,
            }
        elif kind == "CCR":
            url = f"ccr.ccs.tencentyun.com/{prefix}-team/{self.image_repo}:{tag}"
            image = {"ImageType": kind, "ImageUrl": url, "RegistryRegion": "ap-guangzhou", "RegistryId": ""}
        else:
            url = f"registry.example.com/ml/{prefix}-{self.image_repo}:{tag}"
            image = {"ImageType": kind, "ImageUrl": url, "RegistryRegion": "", "RegistryId": ""}
        if self.image_secret is not None:
            username, password = self.image_secret
            image["ImageSecret"] = {"Username": username, "Password": password}
        return image

    def env(self, rng: random.Random) -> list[JSON]:
        env: list[JSON] = [
            {"Name": name, "Value": rng.choice(values), "IsPrivate": False} for name, values in catalog.PUBLIC_ENV[:2]
        ]
        if self.private_env:
            env.append(
                {"Name": rng.choice(catalog.PRIVATE_ENV), "Value": f"{rng.getrandbits(160):040x}", "IsPrivate": True}
            )
        return env

    def model(self, version: int) -> JSON | None:
        if self.workload.prefix == "rec" and not self.spec.gpu and self.image_kind == "CUSTOM":
            return None  # a bare image with the model baked in
        info: JSON = {
            "ModelId": self.model_id,
            "ModelName": self.model_name,
            "ModelVersionId": self.model_version_ids[version - 1],
            "ModelVersion": f"v{version}",
            "ModelSource": self.model_source,
            "ModelType": "NORMAL",
            "ModelFormat": self.model_format,
            "AlgorithmFramework": self.framework,
        }
        if self.model_source == "COS":
            info["CosPathInfo"] = {
                "Bucket": f"models-{self.model_id[2:12]}",
                "Region": "ap-guangzhou",
                "Paths": [f"models/{self.model_name}/v{version}/"],
            }
        return info

    def hpa(self) -> JSON | None:
        if self.scale_mode != "AUTO":
            return None
        low, high = self.hpa_bounds
        return {
            "MinReplicas": low,
            "MaxReplicas": high,
            "HpaMetrics": [{"Name": self.hpa_metric, "Value": 60}],
            "ScaleUpStabilizationWindowSeconds": 0,
            "ScaleDownStabilizationWindowSeconds": 300,
        }

    def cron_jobs(self) -> list[JSON]:
        if not self.cron:
            return []
        low, high = self.hpa_bounds
        return [
            {
                "Schedule": "0 0 9 * * *",
                "Name": "business-hours",
                "TargetReplicas": high,
                "MinReplicas": low,
                "MaxReplicas": high,
            },
        ]


def smart_router(group_id: str, creator: str, created: float) -> JSON | None:
    """A gateway and a scheduler in front of one group in four, chosen by its id so that adding routers
    draws nothing from the fleet's random sequence (a seed keeps giving the same fleet)."""
    if zlib.crc32(group_id.encode()) % 4:
        return None
    spec = {
        "ChargeType": "POSTPAID_BY_HOUR",
        "ResourceGroupId": "",
        "ResourceGroupName": "",
        "Zone": "",
        "QueueId": "",
        "Priority": 0,
        "ResourceSupplyAttribute": {"SupplyType": "", "ClusterType": ""},
    }
    components = [
        {
            "Name": f"{group_id}-{role.lower()}",
            "Type": role,
            "Status": "Normal",
            "BusinessStatus": "Billing",
            "BillingInfo": "",
            "ResourceConfig": {"Replicas": replicas, "Cpu": cpu, "Memory": memory, "InstanceType": "TI.S.MEDIUM.POST"},
            "ResourceSpec": dict(spec),
        }
        for role, replicas, cpu, memory in (("Gateway", 2, 1000, 2048), ("Scheduler", 1, 500, 1024))
    ]
    return {
        "Enabled": True,
        "ServiceGroupId": group_id,
        "ComponentList": components,
        "Creator": creator,
        "CreateTime": iso_z(created),
        "UpdateTime": iso_z(created),
    }


def bounds(service: JSON) -> tuple[int, int]:
    """The replica range churn keeps a service in: the autoscaler's, or 1..8 when scaled by hand."""
    hpa: dict[str, Any] | None = service["ServiceInfo"].get("HorizontalPodAutoscaler")
    if hpa:
        return int(hpa["MinReplicas"]), int(hpa["MaxReplicas"])
    return (1, 2) if service.get("DeployType") == "DIST" else (1, 8)
