"""One service group in depth: per service, its status over time, replicas, conditions, resources, pods by
phase, autoscaling bounds, and the model and image it runs. Every panel reads series the exporter exports by
default."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builder

from exporter.tione.records import CONDITION_STATUSES, SERVICE_STATUSES
from grafana.panels import (
    ACCOUNT,
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    RED,
    Panels,
    new_dashboard,
    one_replica,
    queries,
    query,
    query_variable,
    region_variable,
    resources_held,
    state_mappings,
    state_set_code,
    state_timeline_panel,
    table_panel,
    timeseries_panel,
    traffic_panels,
    with_rows,
)

UID = "tione-service-group"
GROUP = f'{ACCOUNT}, region="$region", service_group_id="$service_group_id"'
SERVICE = f'{GROUP}, service_id=~"$service_id"'

STATUS_COLOURS = {
    "Normal": GREEN,
    "CREATING": BLUE,
    "Pending": BLUE,
    "Waiting": BLUE,
    "Stopping": ORANGE,
    "Stopped": GREY,
    "Abnormal": RED,
    "CREATE_FAILED": RED,
    "TIMEOUT_EXCEPTION": RED,
}
# The exporter writes condition statuses in lower case.
CONDITION_VALUES = tuple(value.lower() for value in CONDITION_STATUSES)
CONDITION_COLOURS = {"true": GREEN, "false": RED, "unknown": ORANGE}

INFO_COLUMNS_HIDDEN = (
    "Time",
    "Value",
    "__name__",
    "job",
    "instance",
    "region",
    "service_group_id",
    "service_group_name",
    "model_source",
    "cluster_id",
    "tione_namespace",
    "resource_group_id",
    "model_version_id",
    "create_source",
)


def build() -> dashboard_builder.Dashboard:
    dashboard = (
        new_dashboard(
            UID,
            "TI-ONE service group",
            "One TI-ONE service group: status, replicas, traffic, conditions, resources, pods, model and image.",
        )
        .with_variable(region_variable(multi=False))
        .with_variable(
            query_variable(
                "service_group_id",
                "Service group",
                f'label_values(tione_service_group_info{{{ACCOUNT}, region="$region"}}, service_group_id)',
            )
        )
        .with_variable(
            query_variable(
                "service_id",
                "Service",
                f"label_values(tione_service_info{{{GROUP}}}, service_id)",
                multi=True,
                include_all=True,
            )
        )
    )
    return with_rows(
        dashboard,
        ("Services", _services()),
        ("Replicas", _replicas()),
        ("Traffic", traffic_panels(GROUP)),
        ("Resources", _resources()),
        ("Pods", _pods()),
    )


def _services() -> Panels:
    return [
        table_panel(
            "Model and image",
            "What each service runs (from tione_service_info).",
            "none",
            [query(one_replica(f"tione_service_info{{{SERVICE}}}"), instant=True)],
            hide=INFO_COLUMNS_HIDDEN,
            width=24,
            height=6,
        ),
        state_timeline_panel(
            "Service status",
            "Each service's status over time.",
            [
                query(
                    state_set_code("tione_service_status", SERVICE, "status", SERVICE_STATUSES, "account, service_id"),
                    "{{service_id}}",
                )
            ],
            state_mappings(SERVICE_STATUSES, STATUS_COLOURS),
            height=6,
        ),
        state_timeline_panel(
            "Group status",
            "The service group's status over time.",
            [
                query(
                    state_set_code(
                        "tione_service_group_status", GROUP, "status", SERVICE_STATUSES, "account, service_group_id"
                    ),
                    "{{service_group_id}}",
                )
            ],
            state_mappings(SERVICE_STATUSES, STATUS_COLOURS),
            height=4,
        ),
    ]


def _replicas() -> Panels:
    return [
        timeseries_panel(
            "Replicas",
            "Desired against current, ready, available and updated replicas, per service.",
            "short",
            queries(
                (one_replica(f"tione_service_spec_replicas{{{SERVICE}}}"), "{{service_id}} desired"),
                (one_replica(f"tione_service_status_replicas{{{SERVICE}}}"), "{{service_id}} current"),
                (one_replica(f"tione_service_status_replicas_ready{{{SERVICE}}}"), "{{service_id}} ready"),
                (one_replica(f"tione_service_status_replicas_available{{{SERVICE}}}"), "{{service_id}} available"),
                (one_replica(f"tione_service_status_replicas_updated{{{SERVICE}}}"), "{{service_id}} updated"),
            ),
        ),
        timeseries_panel(
            "Autoscaling bounds",
            "The autoscaler's minimum and maximum replicas against the desired count (services with autoscaling).",
            "short",
            queries(
                (one_replica(f"tione_service_autoscaling_min_replicas{{{SERVICE}}}"), "{{service_id}} min"),
                (one_replica(f"tione_service_autoscaling_max_replicas{{{SERVICE}}}"), "{{service_id}} max"),
                (
                    one_replica(
                        f"tione_service_spec_replicas{{{SERVICE}}}"
                        f" and tione_service_autoscaling_max_replicas{{{SERVICE}}}"
                    ),
                    "{{service_id}} desired",
                ),
            ),
        ),
        state_timeline_panel(
            "Conditions",
            "The workload's conditions (Available, Progressing, ...) per service.",
            [
                query(
                    state_set_code(
                        "tione_service_status_condition",
                        SERVICE,
                        "status",
                        CONDITION_VALUES,
                        "account, service_id, condition",
                    ),
                    "{{service_id}} {{condition}}",
                )
            ],
            state_mappings(CONDITION_VALUES, CONDITION_COLOURS),
            width=12,
        ),
        timeseries_panel(
            "Traffic weight",
            "Each service's share of the group's traffic.",
            "short",
            [query(one_replica(f"tione_service_weight{{{SERVICE}}}"), "{{service_id}}")],
        ),
    ]


def _resources() -> Panels:
    held = resources_held(
        "service",
        "{{service_id}}",
        gpus=one_replica(f"tione_service_allocated_physical_gpus{{{SERVICE}}}"),
        cpu=one_replica(f"tione_service_allocated_cpu_cores{{{SERVICE}}}"),
        memory=one_replica(f"tione_service_allocated_memory_bytes{{{SERVICE}}}"),
    )
    return [
        *held,
        table_panel(
            "Per replica",
            "What one replica of each service gets: CPU cores, memory, GPUs as the instance sees them.",
            "short",
            queries(
                (one_replica(f"tione_service_replica_cpu_cores{{{SERVICE}}}"), ""),
                (one_replica(f"tione_service_replica_memory_bytes{{{SERVICE}}}"), ""),
                (one_replica(f"tione_service_replica_gpus{{{SERVICE}}}"), ""),
                instant=True,
            ),
            hide=("Time", "__name__", "job", "region", "service_group_id"),
            rename={"Value #A": "CPU cores", "Value #B": "memory", "Value #C": "GPUs"},
            column_units={"memory": "bytes"},
            width=24,
            height=5,
        ),
    ]


def _pods() -> Panels:
    """From the service-level series, which are on by default; the per-pod and per-container series need
    `metrics.pod-series` (docs/metrics.md shows the queries for them)."""
    return [
        timeseries_panel(
            "Pods by phase",
            "Each service's pods by phase (Running, Pending, Failed, ...).",
            "short",
            [
                query(
                    f"sum by (account, service_id, phase) ({one_replica(f'tione_service_pods{{{SERVICE}}}')})",
                    "{{service_id}} {{phase}}",
                )
            ],
            stacked=True,
        ),
        timeseries_panel(
            "Replicas not ready",
            "Current replicas of each service that are not ready.",
            "short",
            [
                query(
                    one_replica(
                        f"tione_service_status_replicas{{{SERVICE}}} - tione_service_status_replicas_ready{{{SERVICE}}}"
                    ),
                    "{{service_id}}",
                )
            ],
        ),
    ]
