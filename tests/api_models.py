"""The whole `DescribeModelServiceGroups` answer as the API documents it (TI-ONE API 2021-11-11), for the tests.

Production reads only what it uses, as records (`exporter.tione.records`); these models describe every
documented field, so that fixtures and simulated answers can be parsed, edited, round-tripped and checked
against the official SDK (`tests/unit/test_sdk_conformance.py`), and so that a test can find out which
fields the exporter's code touches (`tests/unit/test_decode.py`). They read like the records (same Python
names), so the catalogue renders either.

Fields holding secrets are `SecretStr`: their repr, str and default JSON form are masked. `to_api()`
reproduces the original answer, secrets included.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, PlainSerializer, SecretStr, SerializationInfo

from exporter.tione.models import ApiModel, Filter, TagFilter, Timestamp, as_utc

__all__ = ["ApiModel", "Filter", "GpuDetail", "Tag", "TagFilter", "as_utc"]


def _serialize_secret(value: SecretStr, info: SerializationInfo) -> str:
    context = info.context
    if isinstance(context, dict) and context.get("reveal_secrets"):
        return value.get_secret_value()
    return str(value)


Secret = Annotated[SecretStr, PlainSerializer(_serialize_secret, return_type=str)]


class Tag(ApiModel):
    tag_key: str | None = None
    tag_value: str | None = None


class GpuDetail(ApiModel):
    name: str | None = None
    value: int | None = None


class Documented(ApiModel):
    """Base of the documented objects: `to_api()` reveals their secrets."""

    def to_api(self) -> dict[str, Any]:
        """The object as the API spells it, secrets included, fields never set left out."""
        return self.model_dump(by_alias=True, mode="json", exclude_unset=True, context={"reveal_secrets": True})


class ResourceInfo(Documented):
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


class ImageSecret(Documented):
    key_id: Secret | None = None
    username: Secret | None = None
    password: Secret | None = None
    secret_id: Secret | None = None


class ImageInfo(Documented):
    image_type: str | None = None
    image_url: str | None = None
    registry_region: str | None = None
    registry_id: str | None = None
    allow_save_all_content: bool | None = None
    image_name: str | None = None
    support_data_pipeline: bool | None = None
    image_secret: ImageSecret | None = None


class CosPathInfo(Documented):
    bucket: str | None = None
    region: str | None = None
    paths: list[str] | None = None


class ModelInfo(Documented):
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


class InferCodeInfo(Documented):
    cos_path_info: CosPathInfo | None = None


class CFSConfig(Documented):
    id: str | None = None
    path: str | None = None
    mount_type: str | None = None
    protocol: str | None = None
    is_preset_storage: bool | None = None


class VolumeMount(Documented):
    volume_source_type: str | None = None
    cfs_config: CFSConfig | None = Field(default=None, alias="CFSConfig")
    mount_path: str | None = None


class LogConfig(Documented):
    logset_id: str | None = None
    topic_id: str | None = None


class EnvVar(Documented):
    """An environment variable; `IsPrivate` values are secrets, so the value is always masked."""

    name: str | None = None
    value: Secret | None = None
    is_private: bool | None = None


class HpaMetric(Documented):
    """`Option` in the SDK: an autoscaling metric and its target, an integer."""

    name: str | None = None
    value: int | None = None


class HorizontalPodAutoscaler(Documented):
    min_replicas: int | None = None
    max_replicas: int | None = None
    hpa_metrics: list[HpaMetric] | None = None
    scale_up_stabilization_window_seconds: int | None = None
    scale_down_stabilization_window_seconds: int | None = None


class CronScaleJob(Documented):
    schedule: str | None = None
    name: str | None = None
    target_replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    exclude_dates: list[str] | None = None


class ScheduledAction(Documented):
    schedule_stop: bool | None = None
    schedule_stop_time: Timestamp = None


class Condition(Documented):
    """A Kubernetes-style condition of the service's workload (`StatefulSetCondition` in the SDK)."""

    message: str | None = None
    reason: str | None = None
    status: str | None = None
    type: str | None = None
    last_transition_time: Timestamp = None
    last_update_time: Timestamp = None


class WorkloadStatus(Documented):
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    status: str | None = None
    reason: str | None = None
    conditions: list[Condition] | None = None
    stateful_set_condition: list[Condition] | None = None


class ContainerStatus(Documented):
    restart_count: int | None = None
    state: str | None = None
    ready: bool | None = None
    reason: str | None = None
    message: str | None = None


class Container(Documented):
    name: str | None = None
    container_id: str | None = None
    image: str | None = None
    status: ContainerStatus | None = None


class Pod(Documented):
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


class ServiceLimit(Documented):
    enable_instance_rps_limit: bool | None = None
    instance_rps_limit: int | None = None
    enable_instance_req_limit: bool | None = None
    instance_req_limit: int | None = None


class NumOrPercent(Documented):
    """A count or a percentage of replicas (`Type` `Num` or `Percent`), as in a Kubernetes rolling update."""

    type: str | None = None
    value: int | None = None


class RollingUpdate(Documented):
    max_unavailable: NumOrPercent | None = None
    max_surge: NumOrPercent | None = None


class ServiceInfo(Documented):
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


class ResourceSupplyAttribute(Documented):
    supply_type: str | None = None
    cluster_type: str | None = None


class Service(Documented):
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


class AuthTokenBase(Documented):
    value: Secret | None = None
    name: str | None = None
    description: str | None = None
    create_time: Timestamp = None
    status: str | None = None
    id: str | None = None


class AuthTokenLimit(Documented):
    strategy: str | None = None
    max: int | None = None


class AuthToken(Documented):
    base: AuthTokenBase | None = None
    limits: list[AuthTokenLimit] | None = None


class GatewayConfig(Documented):
    gateway_type: str | None = None
    scheduling_algorithm: str | None = None
    hash_header_key: str | None = None


class SmartRouterResourceConfig(Documented):
    """What each replica of a component gets; `Env` and `Sidecar` are deliberately not read."""

    replicas: int | None = None
    cpu: int | None = None
    memory: int | None = None
    instance_type: str | None = None


class SmartRouterResourceSpec(Documented):
    charge_type: str | None = None
    resource_group_id: str | None = None
    resource_group_name: str | None = None
    zone: str | None = None
    queue_id: str | None = None
    priority: int | None = None
    resource_supply_attribute: ResourceSupplyAttribute | None = None


class SmartRouterComponent(Documented):
    """A gateway or scheduler in front of a group's services (`Name` `{ServiceGroupId}-gateway`, ...)."""

    name: str | None = None
    type: str | None = None
    image_info: ImageInfo | None = None
    resource_config: SmartRouterResourceConfig | None = None
    status: str | None = None
    resource_spec: SmartRouterResourceSpec | None = None
    business_status: str | None = None
    billing_info: str | None = None


class SmartRouter(Documented):
    enabled: bool | None = None
    service_group_id: str | None = None
    component_list: list[SmartRouterComponent] | None = None
    creator: str | None = None
    create_time: Timestamp = None
    update_time: Timestamp = None


class ServiceGroup(Documented):
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


class DescribeModelServiceGroupsResponse(Documented):
    """The contents of `{"Response": {...}}` for a successful call."""

    total_count: int | None = None
    global_total_count: int | None = None
    service_groups: list[ServiceGroup] | None = None
    request_id: str | None = None
