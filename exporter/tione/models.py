"""Typed models of the `DescribeModelServiceGroups` answer (TI-ONE API 2021-11-11).

The API documents nearly every field as nullable and adds fields without notice, so every field is
optional and unknown fields are ignored rather than rejected. Enumerations stay plain strings: a value
the API invents tomorrow must reach the exporter intact instead of failing validation. The known
values are listed as tuples below so that state-set metrics can emit one series per value.

Fields holding secrets are `SecretStr`: their repr, str and default JSON form are masked, so a secret
cannot leak through a log line or an error message by accident. Code that must reproduce the original
answer (the simulator, round-trip tests) dumps with ``context={"reveal_secrets": True}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
)

SERVICE_STATUSES: tuple[str, ...] = (
    "CREATING",
    "CREATE_FAILED",
    "TIMEOUT_EXCEPTION",
    "Normal",
    "Stopped",
    "Stopping",
    "Abnormal",
    "Pending",
    "Waiting",
)
"""`Service.Status` and `ServiceGroup.Status`."""

SERVICE_BUSINESS_STATUSES: tuple[str, ...] = (
    "CREATING",
    "CREATE_FAILED",
    "CREATE_SUCCEED",
    "ARREARS_STOP",
    "WHITELIST_STOP",
    "RELEASE_FAILED",
    "WHITELIST_RELEASE_FAILED",
    "TIMEOUT_EXCEPTION",
    "BILLING",
    "WHITELIST_USING",
)
"""`Service.BusinessStatus`."""

COMPONENT_BUSINESS_STATUSES: tuple[str, ...] = ("Billing", "Normal", "WhitelistUsing")
"""`SmartRouterComponent.BusinessStatus`."""

WORKLOAD_STATUSES: tuple[str, ...] = ("Normal", "Abnormal", "Waiting", "Stopped", "Pending", "Stopping")
CONDITION_STATUSES: tuple[str, ...] = ("True", "False", "Unknown")
POD_PHASES: tuple[str, ...] = ("Pending", "Running", "Succeeded", "Failed", "Unknown")


def lenient_time(value: Any) -> datetime | None:
    """A time as the API may send it, or None when it is absent or unreadable.

    The official SDK documents these fields as plain strings without promising a format; the API is known
    to send RFC 3339 (`Z` or offset), `YYYY-MM-DD HH:MM:SS` (UTC) and "" for none. Anything else means the
    time is unknown: it must never cost the object that carries it.
    """
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _serialize_secret(value: SecretStr, info: SerializationInfo) -> str:
    context = info.context
    if isinstance(context, dict) and context.get("reveal_secrets"):
        return value.get_secret_value()
    return str(value)


Timestamp = Annotated[datetime | None, BeforeValidator(lenient_time)]
"""A time the SDK documents as `str`: RFC 3339 or `YYYY-MM-DD HH:MM:SS` (naive, taken as UTC); None if unreadable."""

Secret = Annotated[SecretStr, PlainSerializer(_serialize_secret, return_type=str)]


class ApiModel(BaseModel):
    """Base of every API object: PascalCase on the wire, snake_case in Python, unknown keys ignored."""

    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        frozen=True,
        alias_generator=lambda name: "".join(part[:1].upper() + part[1:] for part in name.split("_")),
    )

    def to_api(self) -> dict[str, Any]:
        """The object as the API spells it, secrets included, fields never set left out."""
        return self.model_dump(by_alias=True, mode="json", exclude_unset=True, context={"reveal_secrets": True})


def as_utc(value: datetime | None) -> datetime | None:
    """Naive times from the API are UTC; everything downstream compares aware datetimes."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Tag(ApiModel):
    tag_key: str | None = None
    tag_value: str | None = None


class TagFilter(ApiModel):
    tag_key: str | None = None
    tag_values: list[str] | None = None


class Filter(ApiModel):
    name: str | None = None
    values: list[str] | None = None
    negative: bool | None = None
    fuzzy: bool | None = None


class GpuDetail(ApiModel):
    name: str | None = None
    value: int | None = None


class ResourceInfo(ApiModel):
    cpu: int | None = None
    memory: int | None = None
    gpu: int | None = None
    gpu_type: str | None = None
    real_gpu: int | None = None
    real_gpu_detail_set: list[GpuDetail] | None = None
    enable_rdma: bool | None = Field(default=None, alias="EnableRDMA")
    rdma_number: int | None = None
    root_disk: int | None = None
    data_disk: int | None = None
    rdma: int | None = None


class GroupResource(ApiModel):
    """What a resource group holds or uses (`DescribeBillingResourceGroups`): `Cpu` in 1/1000 core, `Memory`
    in MB, `Gpu` in 1/100 card (the sum of `GpuDetailSet`, whose entries give it by card model)."""

    cpu: int | None = None
    memory: int | None = None
    gpu: int | None = None
    gpu_detail_set: list[GpuDetail] | None = None


class ResourceGroup(ApiModel):
    """A dedicated (prepaid) resource group. Its `InstanceSet` (per-node figures) is not modelled: the
    exporter asks for none (`DontShowInstanceSet`) and reports the group's totals only."""

    resource_group_id: str | None = None
    resource_group_name: str | None = None
    free_instance: int | None = None
    total_instance: int | None = None
    used_resource: GroupResource | None = None
    total_resource: GroupResource | None = None
    tag_set: list[Tag] | None = None


class DescribeBillingResourceGroupsResponse(ApiModel):
    total_count: int | None = None
    """All groups matching the request, not just this page."""
    resource_group_set: list[ResourceGroup] | None = None
    request_id: str | None = None


class ImageSecret(ApiModel):
    key_id: Secret | None = None
    username: Secret | None = None
    password: Secret | None = None
    secret_id: Secret | None = None


class ImageInfo(ApiModel):
    image_type: str | None = None
    image_url: str | None = None
    registry_region: str | None = None
    registry_id: str | None = None
    allow_save_all_content: bool | None = None
    image_name: str | None = None
    support_data_pipeline: bool | None = None
    image_secret: ImageSecret | None = None


class CosPathInfo(ApiModel):
    bucket: str | None = None
    region: str | None = None
    paths: list[str] | None = None


class ModelInfo(ApiModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version_id: str | None = None
    model_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    model_source: str | None = None
    cos_path_info: CosPathInfo | None = None
    algorithm_framework: str | None = None
    model_type: str | None = None
    model_format: str | None = None
    is_private_model: bool | None = None
    model_category: str | None = None


class InferCodeInfo(ApiModel):
    cos_path_info: CosPathInfo | None = None


class CFSConfig(ApiModel):
    id: str | None = None
    path: str | None = None
    mount_type: str | None = None
    protocol: str | None = None
    is_preset_storage: bool | None = None


class VolumeMount(ApiModel):
    volume_source_type: str | None = None
    cfs_config: CFSConfig | None = Field(default=None, alias="CFSConfig")
    mount_path: str | None = None


class LogConfig(ApiModel):
    logset_id: str | None = None
    topic_id: str | None = None


class EnvVar(ApiModel):
    """An environment variable; `IsPrivate` values are secrets, so the value is always masked."""

    name: str | None = None
    value: Secret | None = None
    is_private: bool | None = None


class HpaMetric(ApiModel):
    """`Option` in the SDK: an autoscaling metric and its target, an integer."""

    name: str | None = None
    value: int | None = None


class HorizontalPodAutoscaler(ApiModel):
    min_replicas: int | None = None
    max_replicas: int | None = None
    hpa_metrics: list[HpaMetric] | None = None
    scale_up_stabilization_window_seconds: int | None = None
    scale_down_stabilization_window_seconds: int | None = None


class CronScaleJob(ApiModel):
    schedule: str | None = None
    name: str | None = None
    target_replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    exclude_dates: list[str] | None = None


class ScheduledAction(ApiModel):
    schedule_stop: bool | None = None
    schedule_stop_time: Timestamp = None


class Condition(ApiModel):
    """A Kubernetes-style condition of the service's workload (`StatefulSetCondition` in the SDK)."""

    message: str | None = None
    reason: str | None = None
    status: str | None = None
    type: str | None = None
    last_transition_time: Timestamp = None
    last_update_time: Timestamp = None


class WorkloadStatus(ApiModel):
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    status: str | None = None
    reason: str | None = None
    conditions: list[Condition] | None = None
    stateful_set_condition: list[Condition] | None = None


class ContainerStatus(ApiModel):
    restart_count: int | None = None
    state: str | None = None
    ready: bool | None = None
    reason: str | None = None
    message: str | None = None


class Container(ApiModel):
    name: str | None = None
    container_id: str | None = None
    image: str | None = None
    status: ContainerStatus | None = None


class Pod(ApiModel):
    name: str | None = None
    uid: str | None = None
    charge_type: str | None = None
    phase: str | None = None
    ip: str | None = Field(default=None, alias="IP")
    status: str | None = None
    node_ip: str | None = Field(default=None, alias="NodeIP")
    node_id: str | None = None
    create_time: Timestamp = None
    start_schedule_time: Timestamp = None
    message: str | None = None
    resource_group_id: str | None = None
    resource_group_name: str | None = None
    resource_info: ResourceInfo | None = None
    containers: Container | None = None
    container_infos: list[Container] | None = None


class ServiceLimit(ApiModel):
    enable_instance_rps_limit: bool | None = None
    instance_rps_limit: int | None = None
    enable_instance_req_limit: bool | None = None
    instance_req_limit: int | None = None


class NumOrPercent(ApiModel):
    """A count or a percentage of replicas (`Type` `Num` or `Percent`), as in a Kubernetes rolling update."""

    type: str | None = None
    value: int | None = None


class RollingUpdate(ApiModel):
    max_unavailable: NumOrPercent | None = None
    max_surge: NumOrPercent | None = None


class ServiceInfo(ApiModel):
    replicas: int | None = None
    image_info: ImageInfo | None = None
    env: list[EnvVar] | None = None
    resources: ResourceInfo | None = None
    instance_type: str | None = None
    model_info: ModelInfo | None = None
    infer_code_info: InferCodeInfo | None = None
    volume_mount: VolumeMount | None = None
    log_enable: bool | None = None
    log_config: LogConfig | None = None
    authorization_enable: bool | None = None
    horizontal_pod_autoscaler: HorizontalPodAutoscaler | None = None
    status: WorkloadStatus | None = None
    weight: int | None = None
    resource_total: ResourceInfo | None = None
    old_replicas: int | None = None
    hybrid_billing_prepaid_replicas: int | None = None
    old_hybrid_billing_prepaid_replicas: int | None = None
    model_hot_update_enable: bool | None = None
    model_turbo_enable: bool | None = None
    instance_alias: str | None = None
    scale_mode: str | None = None
    cron_scale_jobs: list[CronScaleJob] | None = None
    scale_strategy: str | None = None
    scheduled_action: ScheduledAction | None = None
    pod_list: list[str] | None = None
    pods: Pod | None = None
    pod_infos: list[Pod] | None = None
    service_limit: ServiceLimit | None = None
    service_port: int | None = None
    grpc_enable: bool | None = None
    instance_per_replicas: int | None = None
    node_count: int | None = None
    termination_grace_period_seconds: int | None = None
    infer_template_id: str | None = None
    rolling_update: RollingUpdate | None = None


class ResourceSupplyAttribute(ApiModel):
    supply_type: str | None = None
    cluster_type: str | None = None


class Service(ApiModel):
    """One version of a model service inside a service group."""

    service_group_id: str | None = None
    service_id: str | None = None
    service_group_name: str | None = None
    service_description: str | None = None
    service_info: ServiceInfo | None = None
    cluster_id: str | None = None
    region: str | None = None
    namespace: str | None = None
    charge_type: str | None = None
    resource_group_id: str | None = None
    resource_group_name: str | None = None
    tags: list[Tag] | None = None
    ingress_name: str | None = None
    created_by: str | None = None
    create_time: Timestamp = None
    update_time: Timestamp = None
    uin: str | None = None
    sub_uin: str | None = None
    app_id: int | None = None
    business_status: str | None = None
    create_failed_reason: str | None = None
    status: str | None = None
    billing_info: str | None = None
    weight: int | None = None
    create_source: str | None = None
    version: str | None = None
    latest_version: str | None = None
    service_limit: ServiceLimit | None = None
    scheduled_action: ScheduledAction | None = None
    archive_status: str | None = None
    deploy_type: str | None = None
    instance_per_replicas: str | None = None
    """A string here (an integer in `ServiceInfo`), as the SDK documents it."""
    monitor_source: str | None = None
    sub_uin_name: str | None = None
    project_id: str | None = None
    changer: str | None = None
    changer_name: str | None = None
    resource_supply_attribute: ResourceSupplyAttribute | None = None


class AuthTokenBase(ApiModel):
    value: Secret | None = None
    name: str | None = None
    description: str | None = None
    create_time: Timestamp = None
    status: str | None = None
    id: str | None = None


class AuthTokenLimit(ApiModel):
    strategy: str | None = None
    max: int | None = None


class AuthToken(ApiModel):
    base: AuthTokenBase | None = None
    limits: list[AuthTokenLimit] | None = None


class GatewayConfig(ApiModel):
    gateway_type: str | None = None
    scheduling_algorithm: str | None = None
    hash_header_key: str | None = None


class SmartRouterResourceConfig(ApiModel):
    """What each replica of a component gets; `Env` and `Sidecar` are deliberately not read."""

    replicas: int | None = None
    cpu: int | None = None
    memory: int | None = None
    instance_type: str | None = None


class SmartRouterResourceSpec(ApiModel):
    charge_type: str | None = None
    resource_group_id: str | None = None
    resource_group_name: str | None = None
    zone: str | None = None
    queue_id: str | None = None
    priority: int | None = None
    resource_supply_attribute: ResourceSupplyAttribute | None = None


class SmartRouterComponent(ApiModel):
    """A gateway or scheduler in front of a group's services (`Name` `{ServiceGroupId}-gateway`, ...)."""

    name: str | None = None
    type: str | None = None
    image_info: ImageInfo | None = None
    resource_config: SmartRouterResourceConfig | None = None
    status: str | None = None
    resource_spec: SmartRouterResourceSpec | None = None
    business_status: str | None = None
    billing_info: str | None = None


class SmartRouter(ApiModel):
    enabled: bool | None = None
    service_group_id: str | None = None
    component_list: list[SmartRouterComponent] | None = None
    creator: str | None = None
    create_time: Timestamp = None
    update_time: Timestamp = None


class ServiceGroup(ApiModel):
    service_group_id: str | None = None
    service_group_name: str | None = None
    created_by: str | None = None
    create_time: Timestamp = None
    update_time: Timestamp = None
    uin: str | None = None
    service_count: int | None = None
    running_service_count: int | None = None
    services: list[Service] | None = None
    status: str | None = None
    tags: list[Tag] | None = None
    latest_version: str | None = None
    business_status: str | None = None
    billing_info: str | None = None
    create_source: str | None = None
    weight_update_status: str | None = None
    replicas_count: int | None = None
    available_replicas_count: int | None = None
    sub_uin: str | None = None
    app_id: int | None = None
    authorization_enable: bool | None = None
    auth_tokens: list[AuthToken] | None = None
    monitor_source: str | None = None
    sub_uin_name: str | None = None
    gateway_log_config: LogConfig | None = None
    gateway_config: GatewayConfig | None = None
    changer: str | None = None
    changer_name: str | None = None
    smart_router: SmartRouter | None = None


class DescribeModelServiceGroupsRequest(ApiModel):
    ti_project_id: str | None = None
    offset: int | None = None
    limit: int | None = None
    order: str | None = None
    order_field: str | None = None
    filters: list[Filter] | None = None
    tag_filters: list[TagFilter] | None = None
    service_category: str | None = None


class DescribeModelServiceGroupsResponse(ApiModel):
    """The contents of `{"Response": {...}}` for a successful call."""

    total_count: int | None = None
    global_total_count: int | None = None
    service_groups: list[ServiceGroup] | None = None
    request_id: str | None = None


# --- DescribeWorkspaces ------------------------------------------------------------------------------


class ResourceGroupInWorkspace(ApiModel):
    resource_group_id: str | None = None
    resource_group_name: str | None = None
    region: str | None = None
    occupied: bool | None = None


class Workspace(ApiModel):
    ti_project_id: str | None = None
    name: str | None = None
    description: str | None = None
    create_time: Timestamp = None
    resource_groups: list[ResourceGroupInWorkspace] | None = None
    action_type: list[str] | None = None
    status: str | None = None


class DescribeWorkspacesResponse(ApiModel):
    total_count: int | None = None
    workspaces: list[Workspace] | None = None
    request_id: str | None = None
