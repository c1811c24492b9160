"""What the exporter reads of TI-ONE's answers: one `msgspec` record per object kind, holding exactly the
fields read, decoded straight from the answer's bytes. An object several answers carry (`Tag`, `GpuDetail`)
is declared once and shared by every source that reads it.

`DescribeModelServiceGroups`, the listing, is the one that matters for size and speed.

These records are the one declaration of what is read: a page is decoded into them in one pass
(`decode.decode_answer`), a page that does not fit is read again object by object into the same records
(`decode.decode_groups`), and the fields read are theirs (`msgspec.structs.fields`), which the tests hold
to the official SDK's documented types. Adding a field read is adding it here, under its Python name
(snake_case; PascalCase on the wire, or the name given to `msgspec.field` where the API spells it
otherwise). Everything else in an answer is skipped by the decoder without being built, which is also why
an unread field that does not fit costs nothing.

The listing keeps every group of a region until the region is rendered, so what one service costs here
is multiplied by the fleet. Decoding is lax where the API is (`strict=False`: `"5"` and `5.0` are the
integer 5), and a time is kept as sent and read leniently when asked for (`models.lenient_time`): an
unreadable time is unknown, never a reason to leave an object out. The records are frozen and not tracked
by the cyclic collector (`gc=False`): they form trees, never cycles, and a large fleet of them would
otherwise be walked by every collection of the oldest generation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from exporter.tione.models import lenient_time
from exporter.tione.text import KEPT_TEXT

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
"""`Service.Status` and `ServiceGroup.Status`. Enumerations stay plain strings, so that a value the API
invents tomorrow reaches the exporter intact; the known ones are listed so that state-set metrics can emit
one series per value."""

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
"""`WorkloadStatus.Status`."""

CONDITION_STATUSES: tuple[str, ...] = ("True", "False", "Unknown")
"""`Condition.Status`."""

POD_PHASES: tuple[str, ...] = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
"""`Pod.Phase`."""

FreeText = Annotated[str, msgspec.Meta(max_length=KEPT_TEXT)]
"""The platform's free text, kept up to `text.KEPT_TEXT` characters. A longer one does not fit: the page is
then read object by object (`decode.decode_groups`), which cuts it there, so that the one-pass read of
every other page does no work per object for it."""


class Record(msgspec.Struct, rename="pascal", frozen=True, kw_only=True, gc=False, repr_omit_defaults=True):
    """Base of the records: PascalCase on the wire, snake_case in Python, every field optional."""


class Created(Record, frozen=True):
    """An object created at a time the API sends as text, kept as sent."""

    create_time_sent: Any = msgspec.field(default=None, name="CreateTime")

    @property
    def create_time(self) -> datetime | None:
        return lenient_time(self.create_time_sent)


class Stamped(Created, frozen=True):
    """An object created and updated at times the API sends as text, kept as sent."""

    update_time_sent: Any = msgspec.field(default=None, name="UpdateTime")

    @property
    def update_time(self) -> datetime | None:
        return lenient_time(self.update_time_sent)


class Tag(Record, frozen=True):
    tag_key: str | None = None
    tag_value: str | None = None


class GpuDetail(Record, frozen=True):
    name: str | None = None
    value: int | None = None


class Resources(Record, frozen=True):
    """Resources in the units every TI-ONE answer uses: `Cpu` in 1/1000 core, `Memory` in MB, `Gpu` in 1/100
    card."""

    cpu: int | None = None
    memory: int | None = None
    gpu: int | None = None


class ResourceInfo(Resources, frozen=True):
    gpu_type: str | None = None
    real_gpu: int | None = None
    real_gpu_detail_set: list[GpuDetail] | None = None
    rdma: int | None = None


class ImageInfo(Record, frozen=True):
    image_type: str | None = None
    image_url: str | None = None


class ModelInfo(Record, frozen=True):
    model_version_id: str | None = None
    model_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    model_source: str | None = None
    algorithm_framework: str | None = None
    model_format: str | None = None


class HorizontalPodAutoscaler(Record, frozen=True):
    min_replicas: int | None = None
    max_replicas: int | None = None


class ScheduledAction(Record, frozen=True):
    schedule_stop: bool | None = None
    schedule_stop_time_sent: Any = msgspec.field(default=None, name="ScheduleStopTime")

    @property
    def schedule_stop_time(self) -> datetime | None:
        return lenient_time(self.schedule_stop_time_sent)


class Condition(Record, frozen=True):
    message: FreeText | None = None
    reason: str | None = None
    status: str | None = None
    type: str | None = None
    last_transition_time_sent: Any = msgspec.field(default=None, name="LastTransitionTime")

    @property
    def last_transition_time(self) -> datetime | None:
        return lenient_time(self.last_transition_time_sent)


class WorkloadStatus(Record, frozen=True):
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    status: str | None = None
    reason: str | None = None
    conditions: list[Condition] | None = None
    stateful_set_condition: list[Condition] | None = None


class ContainerStatus(Record, frozen=True):
    restart_count: int | None = None
    ready: bool | None = None


class Container(Record, frozen=True):
    name: str | None = None
    status: ContainerStatus | None = None


class Pod(Record, frozen=True):
    name: str | None = None
    phase: str | None = None
    node_ip: str | None = msgspec.field(default=None, name="NodeIP")
    containers: Container | None = None
    container_infos: list[Container] | None = None


class NumOrPercent(Record, frozen=True):
    type: str | None = None
    value: int | None = None


class RollingUpdate(Record, frozen=True):
    max_unavailable: NumOrPercent | None = None
    max_surge: NumOrPercent | None = None


class ServiceInfo(Record, frozen=True):
    replicas: int | None = None
    image_info: ImageInfo | None = None
    resources: ResourceInfo | None = None
    instance_type: str | None = None
    model_info: ModelInfo | None = None
    horizontal_pod_autoscaler: HorizontalPodAutoscaler | None = None
    status: WorkloadStatus | None = None
    scale_mode: str | None = None
    scheduled_action: ScheduledAction | None = None
    pods: Pod | None = None
    pod_infos: list[Pod] | None = None
    instance_per_replicas: int | None = None
    rolling_update: RollingUpdate | None = None


class Service(Stamped, frozen=True):
    """One version of a model service inside a service group."""

    service_group_id: str | None = None
    service_id: str | None = None
    service_group_name: str | None = None
    service_info: ServiceInfo | None = None
    cluster_id: str | None = None
    namespace: str | None = None
    charge_type: str | None = None
    resource_group_id: str | None = None
    resource_group_name: str | None = None
    tags: list[Tag] | None = None
    business_status: str | None = None
    create_failed_reason: FreeText | None = None
    status: str | None = None
    weight: int | None = None
    create_source: str | None = None
    version: str | None = None
    scheduled_action: ScheduledAction | None = None
    deploy_type: str | None = None
    instance_per_replicas: str | None = None
    """A string here (an integer in `ServiceInfo`), as the SDK documents it."""


class SmartRouterResourceConfig(Record, frozen=True):
    replicas: int | None = None
    cpu: int | None = None
    memory: int | None = None
    instance_type: str | None = None


class SmartRouterResourceSpec(Record, frozen=True):
    charge_type: str | None = None
    resource_group_id: str | None = None


class SmartRouterComponent(Record, frozen=True):
    """A gateway or scheduler in front of a group's services."""

    name: str | None = None
    type: str | None = None
    resource_config: SmartRouterResourceConfig | None = None
    status: str | None = None
    resource_spec: SmartRouterResourceSpec | None = None
    business_status: str | None = None


class SmartRouter(Record, frozen=True):
    component_list: list[SmartRouterComponent] | None = None


class ServiceGroup(Stamped, frozen=True):
    service_group_id: str | None = None
    service_group_name: str | None = None
    created_by: str | None = None
    service_count: int | None = None
    running_service_count: int | None = None
    services: list[Service] | None = None
    status: str | None = None
    tags: list[Tag] | None = None
    latest_version: str | None = None
    create_source: str | None = None
    replicas_count: int | None = None
    smart_router: SmartRouter | None = None


class Answer(Record, frozen=True):
    """What every answer's `Response` carries beside its objects. `Error` is only looked at for being there:
    an error answer is read by the client's untyped path, which knows how to report it."""

    request_id: str | None = None
    error: Any = None


class ServiceGroupsAnswer(Answer, frozen=True):
    """The `Response` object of `DescribeModelServiceGroups`, its envelope typed like
    `models.ServiceGroupsEnvelope` (which checks it when the page is read object by object)."""

    total_count: int | None = None
    global_total_count: int | None = None
    service_groups: list[ServiceGroup] | None = None


A = TypeVar("A", bound=Answer)


class Body(Record, Generic[A], frozen=True):
    """The whole body of an answer: `{"Response": {...}}`, decoded in one pass by `msgspec.json.Decoder(Body[...])`."""

    response: A


ServiceGroupsBody = Body[ServiceGroupsAnswer]


class GroupResource(Resources, frozen=True):
    """What a resource group holds or uses (`DescribeBillingResourceGroups`); its `Gpu` is the sum of
    `GpuDetailSet`, whose entries give it by card model."""

    gpu_detail_set: list[GpuDetail] | None = None


class ResourceGroup(Record, frozen=True):
    """A dedicated (prepaid) resource group. Its `InstanceSet` (per-node figures) is not read: the exporter
    asks for none (`DontShowInstanceSet`) and reports the group's totals only."""

    resource_group_id: str | None = None
    resource_group_name: str | None = None
    free_instance: int | None = None
    total_instance: int | None = None
    used_resource: GroupResource | None = None
    total_resource: GroupResource | None = None
    tag_set: list[Tag] | None = None


class ResourceGroupsAnswer(Answer, frozen=True):
    """The `Response` of `DescribeBillingResourceGroups`; `TotalCount` counts all groups, not this page's."""

    total_count: int | None = None
    resource_group_set: list[ResourceGroup] | None = None


class ResourceGroupInWorkspace(Record, frozen=True):
    resource_group_id: str | None = None
    resource_group_name: str | None = None
    region: str | None = None
    occupied: bool | None = None


class Workspace(Created, frozen=True):
    ti_project_id: str | None = None
    name: str | None = None
    description: str | None = None
    resource_groups: list[ResourceGroupInWorkspace] | None = None
    action_type: list[str] | None = None
    status: str | None = None


class WorkspacesAnswer(Answer, frozen=True):
    """The `Response` of `DescribeWorkspaces`."""

    total_count: int | None = None
    workspaces: list[Workspace] | None = None
