"""The fleet at a glance: services and groups by status and region, desired against ready replicas, the GPUs
held by card type, what changed recently, and whether the API answers.

Fleet-wide aggregates read the recording rules of `deploy/prometheus/rules/tione-recording.yml`, so the
dashboard stays fast on a large fleet.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builder

from grafana.panels import (
    BLUE,
    GREEN,
    ORANGE,
    RED,
    Panels,
    new_dashboard,
    queries,
    query,
    region_variable,
    resources_held,
    stat_panel,
    table_panel,
    time_since_last_poll,
    timeseries_panel,
    with_rows,
)

UID = "tione-overview"
REGION = 'region=~"$region"'


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
        ("Resources", _resources()),
        ("Recent changes", _recent_changes()),
        ("API health", _api_health()),
    )


def _fleet() -> Panels:
    return [
        stat_panel(
            "Services",
            "Services known in the selected regions.",
            "short",
            [query(f"sum(region_status:tione_services:count{{{REGION}}})")],
        ),
        stat_panel(
            "Services not Normal",
            "Services whose status is neither Normal nor Stopped.",
            "short",
            [query(f'sum(region_status:tione_services:count{{{REGION}, status!~"Normal|Stopped"}})')],
            steps=((None, GREEN), (1, RED)),
        ),
        stat_panel(
            "Service groups",
            "Service groups known in the selected regions.",
            "short",
            [query(f"sum(region_status:tione_service_groups:count{{{REGION}}})")],
        ),
        stat_panel(
            "Replicas available / desired",
            "Available replicas as a share of the desired ones, all services together.",
            "percentunit",
            [
                query(
                    f"sum(region:tione_service_status_replicas_available:sum{{{REGION}}})"
                    f" / sum(region:tione_service_spec_replicas:sum{{{REGION}}})"
                )
            ],
            steps=((None, RED), (0.9, ORANGE), (1, GREEN)),
            no_value="-",
        ),
        stat_panel(
            "Physical GPUs held",
            "Physical GPU cards held by running replicas (fractions are shared cards).",
            "short",
            [query(f"sum(region_gpu_type:tione_service_allocated_physical_gpus:sum{{{REGION}}})")],
            steps=((None, BLUE),),
        ),
        stat_panel(
            "Regions polled OK",
            "Share of the selected regions whose last poll succeeded.",
            "percentunit",
            [query(f"avg(tione_up{{{REGION}}})")],
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
            [query(f"sum by (status) (region_status:tione_services:count{{{REGION}}})", "{{status}}")],
            stacked=True,
        ),
        timeseries_panel(
            "Service groups by status",
            "How many service groups are in each status.",
            "short",
            [query(f"sum by (status) (region_status:tione_service_groups:count{{{REGION}}})", "{{status}}")],
            stacked=True,
        ),
        table_panel(
            "Services by region and status",
            "Current count of services per region and status.",
            "short",
            [query(f"region_status:tione_services:count{{{REGION}}}", instant=True)],
            rename={"Value": "services"},
            sort_by="services",
        ),
        table_panel(
            "Services short of replicas",
            "Services with fewer available replicas than desired, right now.",
            "short",
            [
                query(
                    f"(tione_service_spec_replicas{{{REGION}}}"
                    f" - tione_service_status_replicas_available{{{REGION}}}) > 0",
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
                (f"region:tione_service_spec_replicas:sum{{{REGION}}}", "{{region}} desired"),
                (f"region:tione_service_status_replicas_ready:sum{{{REGION}}}", "{{region}} ready"),
                (f"region:tione_service_status_replicas_available:sum{{{REGION}}}", "{{region}} available"),
            ),
            width=24,
        ),
    ]


def _resources() -> Panels:
    return resources_held(
        "region",
        "{{region}}",
        gpus=f"region_gpu_type:tione_service_allocated_physical_gpus:sum{{{REGION}}}",
        cpu=f"region:tione_service_allocated_cpu_cores:sum{{{REGION}}}",
        memory=f"region:tione_service_allocated_memory_bytes:sum{{{REGION}}}",
    )


def _recent_changes() -> Panels:
    return [
        timeseries_panel(
            "Status changes",
            "Services changing status, per region (each change flips two series of the state set).",
            "short",
            [
                query(
                    f"sum by (region) (changes(tione_service_status{{{REGION}}}[$__rate_interval])) / 2",
                    "{{region}}",
                )
            ],
            width=8,
        ),
        table_panel(
            "Services that changed status in the time range",
            "Number of status changes of each service over the dashboard's time range.",
            "short",
            [
                query(
                    "sum by (region, service_group_id, service_id) "
                    f"(changes(tione_service_status{{{REGION}}}[$__range])) / 2 > 0",
                    instant=True,
                )
            ],
            rename={"Value": "status changes"},
            sort_by="status changes",
            width=8,
        ),
        table_panel(
            "Last updated services",
            "The ten services changed most recently (their UpdateTime).",
            "dateTimeAsIso",
            [query(f"topk(10, tione_service_updated_timestamp_seconds{{{REGION}}} * 1000)", instant=True)],
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
                    f"sum by (region) (region_action:tione_exporter_api_requests:rate5m{{{REGION}}})",
                    "{{region}}",
                )
            ],
            width=8,
        ),
        timeseries_panel(
            "API errors by code",
            "Errors per second answered by the TI-ONE API (or the network), per region and error code.",
            "reqps",
            [query(f"region_code:tione_exporter_api_errors:rate5m{{{REGION}}}", "{{region}} {{code}}")],
            width=8,
        ),
        time_since_last_poll(REGION, "{{region}}"),
    ]
