"""The API fields the exporter reads, per model: everything else may be broken without costing anything.

An answer's object whose field does not fit the models is left out only when that field is one of
these (`exporter.tione.decode`); a field listed nowhere here is dropped and the object kept. A test
runs the catalogue and the status page over every fixture and a simulated fleet, recording each field
they touch, and fails when one is missing here.
"""

from __future__ import annotations

from exporter.tione import models
from exporter.tione.decode import Reads

READ_FIELDS: Reads = {
    models.ServiceGroup: frozenset(
        {
            "service_group_id",
            "service_group_name",
            "created_by",
            "create_source",
            "create_time",
            "latest_version",
            "service_count",
            "running_service_count",
            "replicas_count",
            "status",
            "tags",
            "services",
            "smart_router",
        }
    ),
    models.SmartRouter: frozenset({"component_list"}),
    models.SmartRouterComponent: frozenset(
        {"name", "type", "status", "business_status", "resource_config", "resource_spec"}
    ),
    models.SmartRouterResourceConfig: frozenset({"replicas", "cpu", "memory", "instance_type"}),
    models.SmartRouterResourceSpec: frozenset({"charge_type", "resource_group_id"}),
    models.Service: frozenset(
        {
            "service_id",
            "service_group_name",
            "business_status",
            "charge_type",
            "cluster_id",
            "create_source",
            "create_time",
            "update_time",
            "deploy_type",
            "instance_per_replicas",
            "namespace",
            "resource_group_id",
            "resource_group_name",
            "scheduled_action",
            "service_info",
            "status",
            "tags",
            "version",
            "weight",
        }
    ),
    models.ServiceInfo: frozenset(
        {
            "horizontal_pod_autoscaler",
            "image_info",
            "instance_per_replicas",
            "instance_type",
            "model_info",
            "pod_infos",
            "pods",
            "replicas",
            "resources",
            "scale_mode",
            "scheduled_action",
            "status",
            "rolling_update",
        }
    ),
    models.RollingUpdate: frozenset({"max_unavailable", "max_surge"}),
    models.NumOrPercent: frozenset({"type", "value"}),
    models.WorkloadStatus: frozenset(
        {
            "replicas",
            "ready_replicas",
            "available_replicas",
            "unavailable_replicas",
            "updated_replicas",
            "status",
            "conditions",
            "stateful_set_condition",
        }
    ),
    models.Condition: frozenset({"type", "status", "last_transition_time"}),
    models.ResourceInfo: frozenset({"cpu", "memory", "gpu", "gpu_type", "real_gpu", "real_gpu_detail_set", "rdma"}),
    models.GpuDetail: frozenset({"name", "value"}),
    models.HorizontalPodAutoscaler: frozenset({"min_replicas", "max_replicas"}),
    models.ScheduledAction: frozenset({"schedule_stop", "schedule_stop_time"}),
    models.ImageInfo: frozenset({"image_type", "image_url"}),
    models.ModelInfo: frozenset(
        {
            "model_id",
            "model_name",
            "model_version",
            "model_version_id",
            "model_source",
            "model_format",
            "algorithm_framework",
        }
    ),
    models.Pod: frozenset({"name", "phase", "containers", "container_infos"}),
    models.Container: frozenset({"name", "status"}),
    models.ContainerStatus: frozenset({"restart_count", "ready"}),
    models.Tag: frozenset({"tag_key", "tag_value"}),
}
"""Per model class, the Python names of the fields read. A class reached only through unread fields
needs no entry; one reached through read fields without an entry is taken as read whole."""
