"""What a new service group of the simulated fleet is drawn as: its services' shared plan (`ServicePlan`),
each service in the API's wire form (`new_service`), its tags, tokens and gateway; and the account and
resource groups they belong to.

Apart from `fleet.py`, which holds the fleet and changes it: this is only the drawing, every value from the
`random.Random` it is handed, so the same seed gives the same services.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from exporter.simulator import catalog
from exporter.simulator.workload import JSON, iso_cst, iso_z, random_id

_CHARGE_TYPES = ("POSTPAID_BY_HOUR", "PREPAID", "HYBRID_PAID")
_CHARGE_CUMULATIVE = (0.6, 0.9, 1.0)

WEIGHT_SPLITS: dict[int, tuple[tuple[int, ...], ...]] = {
    1: ((100,),),
    2: ((50, 50), (80, 20), (90, 10), (100, 0)),
    3: ((70, 20, 10), (34, 33, 33), (60, 40, 0)),
}
"""How the traffic of a group of 1, 2 or 3 services is split among them."""


def digits(rng: random.Random, count: int) -> str:
    return str(rng.randrange(10 ** (count - 1), 10**count))


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


def draw_tags(rng: random.Random) -> list[dict[str, str]]:
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


def auth_tokens(rng: random.Random, created: float) -> list[JSON]:
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


def spec_resources(spec: catalog.Spec) -> JSON:
    """A replica's `Resources` on a machine of `spec`."""
    return {
        "Cpu": spec.cpu,
        "Memory": spec.memory,
        "Gpu": spec.gpu,
        "GpuType": spec.gpu_type,
        "RealGpu": spec.real_gpu,
        "RealGpuDetailSet": [{"Name": card, "Value": value} for card, value in spec.details],
    }


def new_service(
    rng: random.Random,
    plan: ServicePlan,
    *,
    region: str,
    account: Account,
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
    resources = spec_resources(spec)
    scheduled = (
        {"ScheduleStop": True, "ScheduleStopTime": iso_cst(now + plan.schedule_stop)} if plan.schedule_stop else None
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
        "Region": region,
        "Namespace": f"infer-{account.uin}",
        "ChargeType": plan.charge_type,
        "ResourceGroupId": resource_group.id if resource_group else "",
        "ResourceGroupName": resource_group.name if resource_group else "",
        "Tags": [dict(tag) for tag in tags],
        "IngressName": "user-ingress-1",
        "CreatedBy": user_uin,
        "CreateTime": "",
        "UpdateTime": "",
        "Uin": account.uin,
        "SubUin": user_uin,
        "AppId": account.app_id,
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
class ServicePlan:
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
    ) -> ServicePlan:
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
            secret = (f"1000{digits(rng, 8)}", f"{rng.getrandbits(96):024x}")
        model_base = digits(rng, 18)
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
            model_version_ids=tuple(f"mv-v{n}-{digits(rng, 18)}" for n in (1, 2, 3)),
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


def make_account(seed: int) -> Account:
    rng = random.Random(f"{seed}/account")
    users = tuple((f"1000{digits(rng, 8)}", name) for name in catalog.OWNERS[:4])
    return Account(uin=f"1000{digits(rng, 8)}", app_id=int(f"125{digits(rng, 7)}"), users=users)
