"""The fleet at a glance: services and groups by status and region, desired against ready replicas, what
callers experience (Cloud Monitor: requests, errors, throttling, latency of the worst groups), the GPUs
held by card type, who holds each resource group's GPUs and what the pay-as-you-go holders cost, what changed
recently, and whether the API answers.

Fleet-wide aggregates read the recording rules of `deploy/prometheus/rules/tione-recording.yml`, so the
dashboard stays fast on a large fleet.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import table, timeseries

from grafana.panels import (
    ACCOUNT,
    BLUE,
    GREEN,
    ORANGE,
    RED,
    Panels,
    new_dashboard,
    oldest_replica,
    one_replica,
    queries,
    query,
    region_variable,
    resources_held,
    stat_panel,
    table_panel,
    time_since_last_poll,
    timeseries_panel,
    traffic_panels,
    with_rows,
)

UID = "tione-overview"
SELECTED = f'{ACCOUNT}, region=~"$region"'


GROUP_NAME = f"topk by (account, region, resource_group_id) (1, tione_resource_group_info{{{SELECTED}}})"
"""The name of each resource group, to join onto its series (`group_left (resource_group_name)`): one series
per group, even while two replicas disagree on a renamed group's name."""


def _named(expr: str) -> str:
    """`expr` (by region and resource group) with the group's name as a label, or without one when the
    capacity series are missing (capacity off, or not permitted): the figures matter more than the name."""
    named = f"{expr} * on (account, region, resource_group_id) group_left (resource_group_name) {GROUP_NAME}"
    return f"({named}) or ignoring (resource_group_name) {expr}"


def free_gpus_panel() -> table.Panel:
    return table_panel(
        "Free GPUs by resource group and card type",
        "Cards each dedicated resource group holds and does not use, by card model, now. A service on the group "
        "can only add a replica that fits in here (TIONEResourceGroupNoRoomToScale).",
        "short",
        [
            query(
                _named(f"region_resource_group_id_gpu_type:tione_resource_group_free_gpus:max{{{SELECTED}}}"),
                instant=True,
            )
        ],
        rename={"Value": "free cards"},
        sort_by="free cards",
        width=8,
    )


def gpus_used_panel() -> timeseries.Panel:
    return timeseries_panel(
        "GPUs used against capacity",
        "Cards in use and held by each dedicated resource group, by card model.",
        "short",
        queries(
            (
                f"max by (account, region, resource_group_id, gpu_type) (tione_resource_group_used_gpus{{{SELECTED}}})",
                "{{account}} {{resource_group_id}} {{gpu_type}} used",
            ),
            (
                "max by (account, region, resource_group_id, gpu_type) "
                f"(tione_resource_group_capacity_gpus{{{SELECTED}}})",
                "{{account}} {{resource_group_id}} {{gpu_type}} capacity",
            ),
        ),
        width=8,
    )


def services_per_group_panel() -> table.Panel:
    return table_panel(
        "Services per resource group",
        "Services placed on each dedicated resource group (their tione_service_info resource_group_id), now.",
        "short",
        [query(_named(f"region_resource_group_id:tione_services:count{{{SELECTED}}}"), instant=True)],
        rename={"Value": "services"},
        sort_by="services",
        width=8,
    )


def free_cpu_panel() -> timeseries.Panel:
    return timeseries_panel(
        "Free CPU cores by resource group",
        "CPU cores each dedicated resource group holds and does not use.",
        "short",
        [
            query(
                f"region_resource_group_id:tione_resource_group_free_cpu_cores:max{{{SELECTED}}}",
                "{{account}} {{region}} {{resource_group_id}}",
            )
        ],
    )


def free_memory_panel() -> timeseries.Panel:
    return timeseries_panel(
        "Free memory by resource group",
        "Memory each dedicated resource group holds and does not use.",
        "bytes",
        [
            query(
                f"region_resource_group_id:tione_resource_group_free_memory_bytes:max{{{SELECTED}}}",
                "{{account}} {{region}} {{resource_group_id}}",
            )
        ],
    )


def build() -> dashboard_builder.Dashboard:
    dashboard = new_dashboard(
        UID,
        "TI-ONE overview",
        "TI-ONE online inference services across regions: status, replicas, GPUs, recent changes, API health.",
    ).with_variable(region_variable(multi=True))
    return with_rows(
        dashboard,
        ("Fleet", _fleet()),
        ("Status", _status()),
        ("Replicas", _replicas()),
        ("Traffic", traffic_panels(SELECTED, worst=10)),
        ("Resources", _resources()),
        ("Capacity", _capacity()),
        ("GPUs and cost", _gpus_and_cost()),
        ("Recent changes", _recent_changes()),
        ("API health", _api_health()),
    )


def _fleet() -> Panels:
    return [
        stat_panel(
            "Services",
            "Services known in the selected regions.",
            "short",
            [query(f"sum(region_status:tione_services:count{{{SELECTED}}})")],
        ),
        stat_panel(
            "Services not Normal",
            "Services whose status is neither Normal nor Stopped.",
            "short",
            [query(f'sum(region_status:tione_services:count{{{SELECTED}, status!~"Normal|Stopped"}})')],
            steps=((None, GREEN), (1, RED)),
        ),
        stat_panel(
            "Service groups",
            "Service groups known in the selected regions.",
            "short",
            [query(f"sum(region_status:tione_service_groups:count{{{SELECTED}}})")],
        ),
        stat_panel(
            "Replicas available / desired",
            "Available replicas as a share of the desired ones, all services together.",
            "percentunit",
            [
                query(
                    f"sum(region:tione_service_status_replicas_available:sum{{{SELECTED}}})"
                    f" / sum(region:tione_service_spec_replicas:sum{{{SELECTED}}})"
                )
            ],
            steps=((None, RED), (0.9, ORANGE), (1, GREEN)),
            no_value="-",
        ),
        stat_panel(
            "Physical GPUs held",
            "Physical GPU cards held by running replicas (fractions are shared cards).",
            "short",
            [query(f"sum(region_gpu_type:tione_service_allocated_physical_gpus:sum{{{SELECTED}}})")],
            steps=((None, BLUE),),
        ),
        stat_panel(
            "Regions polled OK",
            "Share of the selected regions whose last poll succeeded.",
            "percentunit",
            [query(f"avg({oldest_replica(f'tione_up{{{SELECTED}}}')})")],
            steps=((None, RED), (1, GREEN)),
            no_value="-",
        ),
    ]


def _status() -> Panels:
    return [
        timeseries_panel(
            "Services by status",
            "How many services are in each status.",
            "short",
            [
                query(
                    f"sum by (account, status) (region_status:tione_services:count{{{SELECTED}}})",
                    "{{account}} {{status}}",
                )
            ],
            stacked=True,
        ),
        timeseries_panel(
            "Service groups by status",
            "How many service groups are in each status.",
            "short",
            [
                query(
                    f"sum by (account, status) (region_status:tione_service_groups:count{{{SELECTED}}})",
                    "{{account}} {{status}}",
                )
            ],
            stacked=True,
        ),
        table_panel(
            "Services by region and status",
            "Current count of services per region and status.",
            "short",
            [query(f"region_status:tione_services:count{{{SELECTED}}}", instant=True)],
            rename={"Value": "services"},
            sort_by="services",
        ),
        table_panel(
            "Services short of replicas",
            "Services with fewer available replicas than desired, right now.",
            "short",
            [
                query(
                    one_replica(
                        f"tione_service_spec_replicas{{{SELECTED}}}"
                        f" - tione_service_status_replicas_available{{{SELECTED}}}"
                    )
                    + " > 0",
                    instant=True,
                )
            ],
            rename={"Value": "missing replicas"},
            sort_by="missing replicas",
        ),
    ]


def _replicas() -> Panels:
    return [
        timeseries_panel(
            "Desired, ready and available replicas",
            "Replicas wanted by all services of a region against those ready and available.",
            "short",
            queries(
                (f"region:tione_service_spec_replicas:sum{{{SELECTED}}}", "{{account}} {{region}} desired"),
                (f"region:tione_service_status_replicas_ready:sum{{{SELECTED}}}", "{{account}} {{region}} ready"),
                (
                    f"region:tione_service_status_replicas_available:sum{{{SELECTED}}}",
                    "{{account}} {{region}} available",
                ),
            ),
            width=24,
        ),
    ]


def _resources() -> Panels:
    return resources_held(
        "region",
        "{{account}} {{region}}",
        gpus=f"region_gpu_type:tione_service_allocated_physical_gpus:sum{{{SELECTED}}}",
        cpu=f"region:tione_service_allocated_cpu_cores:sum{{{SELECTED}}}",
        memory=f"region:tione_service_allocated_memory_bytes:sum{{{SELECTED}}}",
    )


def _capacity() -> Panels:
    return [free_gpus_panel(), gpus_used_panel(), services_per_group_panel(), free_cpu_panel(), free_memory_panel()]


COST = "currencyCNY"


def gpus_by_holder_panel() -> timeseries.Panel:
    return timeseries_panel(
        "GPUs by holder per resource group",
        "Cards each dedicated resource group has in use, by who holds them: services, running training tasks, "
        "running notebooks, and unattributed (in use, but held by nothing the exporter lists: "
        "TIONEResourceGroupUnattributedGPUs).",
        "short",
        [
            query(
                f"region_resource_group_id_gpu_type_holder:tione_gpus:sum{{{SELECTED}}}",
                "{{account}} {{resource_group_id}} {{gpu_type}} {{holder}}",
            )
        ],
        stacked=True,
    )


def cost_by_holder_panel() -> timeseries.Panel:
    return timeseries_panel(
        "Cost per hour by holder",
        "What the pay-as-you-go services, training tasks and notebooks cost per hour at the account's discounted "
        "price (replicas or instances x the spec's hourly price). Prepaid resource groups are paid in advance and "
        "not counted here.",
        COST,
        [
            query(
                "sum by (account, region, holder) "
                f"(region_tione_project_id_resource_group_id_holder:tione_hourly_cost_yuan:sum{{{SELECTED}}})",
                "{{account}} {{region}} {{holder}}",
            )
        ],
        stacked=True,
    )


def cost_by_workspace_panel() -> timeseries.Panel:
    return timeseries_panel(
        "Cost per hour by workspace",
        "The pay-as-you-go cost per hour of each workspace (TiProjectId), services, training tasks and notebooks.",
        COST,
        [
            query(
                f"region_tione_project_id:tione_hourly_cost_yuan:sum{{{SELECTED}}}",
                "{{account}} {{region}} {{tione_project_id}}",
            )
        ],
        stacked=True,
    )


def top_spenders_panel() -> table.Panel:
    return table_panel(
        "Top spenders",
        "The pay-as-you-go services, training tasks and notebooks that cost the most per hour now.",
        COST,
        [
            query(
                "topk(15, "
                f"region_service_group_id_service_id:tione_service_hourly_cost_yuan:sum{{{SELECTED}}}"
                f" or region_training_task_id:tione_training_task_hourly_cost_yuan:sum{{{SELECTED}}}"
                f" or region_notebook_id:tione_notebook_hourly_cost_yuan:sum{{{SELECTED}}})",
                instant=True,
            )
        ],
        rename={"Value": "per hour"},
        sort_by="per hour",
    )


def forgotten_notebooks_panel() -> table.Panel:
    return table_panel(
        "Notebooks holding GPUs, longest first",
        "Running notebooks that hold GPUs and how long they have been running: past 24 hours, "
        "TIONENotebookHoldingGPUs fires.",
        "s",
        [
            query(
                f"((time() - max without (pod, instance) (tione_notebook_start_timestamp_seconds{{{SELECTED}}}))"
                " and on (account, region, notebook_id)"
                f" (max without (pod, instance) (tione_notebook_allocated_gpus{{{SELECTED}}}) > 0))"
                " * on (account, region, notebook_id) group_left (notebook_name, tione_project_id, resource_group_id)"
                f" max without (pod, instance) (tione_notebook_info{{{SELECTED}}})",
                instant=True,
            )
        ],
        rename={"Value": "running for"},
        sort_by="running for",
    )


def _gpus_and_cost() -> Panels:
    return [
        gpus_by_holder_panel(),
        cost_by_holder_panel(),
        top_spenders_panel(),
        forgotten_notebooks_panel(),
        cost_by_workspace_panel(),
    ]


def _recent_changes() -> Panels:
    return [
        timeseries_panel(
            "Status changes",
            "Services entering a status they were not in one interval before (a new service too), per region.",
            "short",
            [
                query(
                    # Only the current value of a state set is 1 (and, by default, the only series): a
                    # change is a status series at 1 now that was not at 1 an interval ago.
                    "count by (account, region) ("
                    + one_replica(
                        f"(tione_service_status{{{SELECTED}}} == 1)"
                        f" unless (tione_service_status{{{SELECTED}}} offset $__rate_interval == 1)"
                    )
                    + f") or sum by (account, region) (tione_service_status{{{SELECTED}}}) * 0",
                    "{{account}} {{region}}",
                )
            ],
            width=8,
        ),
        table_panel(
            "Services that changed status in the time range",
            "Services that held more than one status over the dashboard's time range, and how many they held.",
            "short",
            [
                query(
                    "count by (account, region, service_group_id, service_id) ("
                    + one_replica(f"max_over_time(tione_service_status{{{SELECTED}}}[$__range]) == 1")
                    + ") > 1",
                    instant=True,
                )
            ],
            rename={"Value": "statuses held"},
            sort_by="statuses held",
            width=8,
        ),
        table_panel(
            "Last updated services",
            "The ten services changed most recently (their UpdateTime).",
            "dateTimeAsIso",
            [
                query(
                    f"topk(10, {one_replica(f'tione_service_updated_timestamp_seconds{{{SELECTED}}}')} * 1000)",
                    instant=True,
                )
            ],
            rename={"Value": "updated"},
            sort_by="updated",
            width=8,
        ),
    ]


def _api_health() -> Panels:
    return [
        timeseries_panel(
            "API requests",
            "Requests per second to the TI-ONE API, per region.",
            "reqps",
            [
                query(
                    f"sum by (account, region) (region_action:tione_exporter_api_requests:rate5m{{{SELECTED}}})",
                    "{{account}} {{region}}",
                )
            ],
            width=8,
        ),
        timeseries_panel(
            "API errors by code",
            "Errors per second answered by the TI-ONE API (or the network), per region and error code.",
            "reqps",
            [query(f"region_code:tione_exporter_api_errors:rate5m{{{SELECTED}}}", "{{account}} {{region}} {{code}}")],
            width=8,
        ),
        time_since_last_poll(SELECTED, "{{account}} {{region}}", per_target=False),
    ]
