"""The API fields the exporter reads, per model: everything else may be broken without costing anything.

The records a poll decodes (`exporter.tione.records`) hold exactly these fields, so an answer's object
is left out only when one of them does not fit (`exporter.tione.decode`); a field listed nowhere here
is never even built. Tests run the catalogue, the status page and the listing's de-duplication over
every fixture and a simulated fleet, recording each field they touch, and fail when one is missing
here; and they check that the records hold these fields and no others.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from exporter.tione import models

Reads = Mapping[type[BaseModel], frozenset[str]]
"""Per model class, the fields read (Python names)."""

READ_FIELDS: Reads = {
    models.ServiceGroup: frozenset(
        {
            "service_group_id",
            "service_group_name",
            "created_by",
            "create_source",
            "create_time",
            "update_time",
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
            "service_group_id",
            "service_group_name",
            "business_status",
            "create_failed_reason",
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
            "reason",
            "conditions",
            "stateful_set_condition",
        }
    ),
    models.Condition: frozenset({"type", "status", "last_transition_time", "reason", "message"}),
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
    models.Pod: frozenset({"name", "phase", "node_ip", "containers", "container_infos"}),
    models.Container: frozenset({"name", "status"}),
    models.ContainerStatus: frozenset({"restart_count", "ready"}),
    models.Tag: frozenset({"tag_key", "tag_value"}),
}
"""Per model class, the Python names of the fields read; a class reached only through unread fields has
no entry (and no record)."""
