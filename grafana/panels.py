"""Building blocks shared by the dashboards: the data source, variables, queries and the few panel shapes
the dashboards use.

Every panel factory takes a unit, so a panel without one cannot be written. Every panel reads the
`datasource` variable, so the JSON imports into any Grafana without an `__inputs` section.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog import builder as cog_builder
from grafana_foundation_sdk.models import common, dashboard
from grafana_foundation_sdk.models import prometheus as prometheus_model

DATASOURCE = dashboard.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Colours for the values of a state: healthy, in progress, failed, gone, unknown.
GREEN, BLUE, RED, GREY, ORANGE = "green", "blue", "red", "text", "orange"


def datasource_variable() -> dashboard_builder.DatasourceVariable:
    return dashboard_builder.DatasourceVariable("datasource").label("Data source").type("prometheus")


def query_variable(
    name: str, label: str, query: str, *, multi: bool = False, include_all: bool = False
) -> dashboard_builder.QueryVariable:
    """A variable filled by a `label_values(...)` query, refreshed when the time range changes."""
    variable = (
        dashboard_builder.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({"query": query, "refId": f"{name}-values"})
        .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(include_all)
    )
    if include_all:
        variable = variable.all_value(".*")
    return variable


ACCOUNT = 'account=~"$account"'
"""The selected accounts, in every selector of a series that carries `account`. All is `.*`, which also matches
the series of an exporter without YAML `accounts` (no such label): one dashboard for both."""


def account_variable() -> dashboard_builder.QueryVariable:
    """The accounts the exporter polls (YAML `accounts`; `tione_up{account, region}` exists for each region of
    each). Without `accounts` it lists nothing and stays at All."""
    return query_variable("account", "Account", "label_values(tione_up, account)", multi=True, include_all=True)


def region_variable(*, multi: bool) -> dashboard_builder.QueryVariable:
    """The regions the exporter polls in the selected accounts (`tione_up` exists for each even when a region
    has no service)."""
    return query_variable(
        "region", "Region", f"label_values(tione_up{{{ACCOUNT}}}, region)", multi=multi, include_all=multi
    )


REPLICA_LABELS = "pod, instance"
"""What tells two replicas of one exporter apart: with the manifests, the Prometheus operator's `pod` (the
relabelling gives both the same `instance`); scraped without it, `instance` too."""


def one_replica(expr: str) -> str:
    """`expr` once per series however many replicas export it (their series differ only in REPLICA_LABELS):
    the fleet's figures must not double when a second replica runs."""
    return f"max without ({REPLICA_LABELS}) ({expr})"


def oldest_replica(expr: str) -> str:
    """The lowest of the replicas' values: a region's poll is OK, or its data fresh, only as far as every
    exporter polling it says so, since the frozen series of one that fails still feed the answers."""
    return f"min without ({REPLICA_LABELS}) ({expr})"


def query(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False) -> prometheus.Dataquery:
    built = prometheus.Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    if instant:
        return built.instant().format(prometheus_model.PromQueryFormat.TABLE)
    return built.range()


def queries(*pairs: tuple[str, str], instant: bool = False) -> list[prometheus.Dataquery]:
    """Several (expression, legend) pairs as queries A, B, C, ..."""
    return [query(expr, legend, ref=chr(ord("A") + i), instant=instant) for i, (expr, legend) in enumerate(pairs)]


def state_set_code(metric: str, selector: str, label: str, values: Sequence[str], by: str) -> str:
    """One series per `by` group whose value is the 1-based index of the state currently set.

    A state set has one 0/1 series per known value; a timeline wants one series whose value is the state.
    Multiplying each value's series by its index and taking the largest leaves the index of the value that
    is 1 (0 when the current value is none of the known ones). The largest, not the sum: two replicas
    export the same series twice.
    """
    terms = [f'{metric}{{{selector}, {label}="{value}"}} * {i}' for i, value in enumerate(values, start=1)]
    return f"max by ({by}) (\n  " + "\nor\n  ".join(terms) + "\n)"


def state_mappings(values: Sequence[str], colours: dict[str, str]) -> list[dashboard.ValueMapping]:
    """Value mappings matching `state_set_code`: index -> the state's name and colour."""
    options = {
        str(i): dashboard.ValueMappingResult(text=value, color=colours.get(value, GREY), index=i - 1)
        for i, value in enumerate(values, start=1)
    }
    options["0"] = dashboard.ValueMappingResult(text="other", color=GREY, index=len(values))
    return [dashboard.ValueMap(options=options)]


def thresholds(*steps: tuple[float | None, str]) -> dashboard_builder.ThresholdsConfig:
    return (
        dashboard_builder.ThresholdsConfig()
        .mode(dashboard.ThresholdsMode.ABSOLUTE)
        .steps([dashboard.Threshold(value=value, color=colour) for value, colour in steps])
    )


Panel = TypeVar("Panel", timeseries.Panel, stat.Panel, statetimeline.Panel, table.Panel)


def _basics(
    panel: Panel,
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    width: int,
    height: int,
) -> Panel:
    """What every panel sets: title, description, data source, unit, size and queries."""
    return (
        panel.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(height)
        .targets(list(targets))
    )


def timeseries_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    width: int = 12,
    height: int = 8,
    stacked: bool = False,
) -> timeseries.Panel:
    panel = (
        _basics(timeseries.Panel(), title, description, unit, targets, width, height)
        .fill_opacity(20 if stacked else 10)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(
            common_builder.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)
        )
    )
    if stacked:
        panel = panel.stacking(common_builder.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def stat_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    width: int = 4,
    height: int = 4,
    steps: Sequence[tuple[float | None, str]] = ((None, GREEN),),
    mappings: list[dashboard.ValueMapping] | None = None,
    no_value: str = "0",
) -> stat.Panel:
    panel = (
        _basics(stat.Panel(), title, description, unit, targets, width, height)
        .no_value(no_value)
        .thresholds(thresholds(*steps))
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if mappings:
        panel = panel.mappings(mappings)
    return panel


def state_timeline_panel(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    mappings: list[dashboard.ValueMapping],
    *,
    width: int = 24,
    height: int = 8,
) -> statetimeline.Panel:
    """A timeline of states; its values are indices mapped to names, so its unit is `none`."""
    return (
        _basics(statetimeline.Panel(), title, description, "none", targets, width, height)
        .mappings(mappings)
        .show_value(common.VisibilityMode.AUTO)
        .merge_values(True)
        .fill_opacity(80)
        .color_scheme(dashboard_builder.FieldColor().mode(dashboard.FieldColorModeId.THRESHOLDS))
        .thresholds(thresholds((None, GREY)))
    )


def table_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    hide: Sequence[str] = ("Time", "__name__", "job", "instance"),
    rename: dict[str, str] | None = None,
    width: int = 12,
    height: int = 8,
    sort_by: str | None = None,
    column_units: dict[str, str] | None = None,
) -> table.Panel:
    """An instant table; several queries are merged on their common labels. `unit` is the default for the
    value columns; `column_units` sets it per (renamed) column."""
    transformations = []
    if len(targets) > 1:
        transformations.append(dashboard.DataTransformerConfig(id_val="merge", options={}))
    transformations.append(
        dashboard.DataTransformerConfig(
            id_val="organize",
            options={"excludeByName": dict.fromkeys(hide, True), "renameByName": rename or {}},
        )
    )
    panel = (
        _basics(table.Panel(), title, description, unit, targets, width, height)
        .transformations(transformations)
        .show_header(True)
    )
    for column, column_unit in (column_units or {}).items():
        panel = panel.override_by_name(column, [dashboard.DynamicConfigValue(id_val="unit", value=column_unit)])
    if sort_by:
        panel = panel.sort_by([common_builder.TableSortByFieldState().display_name(sort_by).desc(True)])
    return panel


def row(title: str) -> dashboard_builder.Row:
    return dashboard_builder.Row(title)


Panels = list[cog_builder.Builder[dashboard.Panel]]
"""The panels of one row, in order."""


def with_rows(board: dashboard_builder.Dashboard, *rows: tuple[str, Panels]) -> dashboard_builder.Dashboard:
    """The dashboard with each (title, panels) row in turn: one function per row keeps a dashboard readable."""
    for title, panels in rows:
        board = board.with_row(row(title))
        for panel in panels:
            board = board.with_panel(panel)
    return board


def new_dashboard(uid: str, title: str, description: str) -> dashboard_builder.Dashboard:
    """A dashboard with the settings every TI-ONE dashboard shares (the data source and account variables) and
    links to the others."""
    return (
        dashboard_builder.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["tione", "tione-exporter"])
        .editable()
        .timezone("browser")
        .time("now-6h", "now")
        .refresh("1m")
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
        .with_variable(datasource_variable())
        .with_variable(account_variable())
        .link(
            dashboard_builder.DashboardLink("TI-ONE")
            .type(dashboard.DashboardLinkType.DASHBOARDS)
            .tags(["tione"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


# --- panels more than one dashboard shows ----------------------------------------------------------


def resources_held(per: str, legend: str, *, gpus: str, cpu: str, memory: str) -> Panels:
    """Physical GPUs by card type, CPU cores and memory held by running replicas, a third of a row each.

    `gpus`, `cpu` and `memory` are the expressions; each series is one `per` (region, service, ...),
    named by `legend`.
    """
    return [
        timeseries_panel(
            "Physical GPUs held by card type",
            f"Physical GPU cards held by running replicas, per {per} and card model.",
            "short",
            [query(gpus, f"{legend} {{{{gpu_type}}}}")],
            width=8,
            stacked=True,
        ),
        timeseries_panel(
            "CPU cores held",
            f"CPU cores held by running replicas, per {per}.",
            "short",
            [query(cpu, legend)],
            width=8,
            stacked=True,
        ),
        timeseries_panel(
            "Memory held",
            f"Memory held by running replicas, per {per}.",
            "bytes",
            [query(memory, legend)],
            width=8,
            stacked=True,
        ),
    ]


def time_since_last_poll(selector: str, legend: str, *, per_target: bool) -> timeseries.Panel:
    """Age of each region's data, a third of a row: per exporter target, or the oldest of the replicas'."""
    last = f"tione_exporter_last_poll_success_timestamp_seconds{{{selector}}}"
    return timeseries_panel(
        "Time since last successful poll",
        "Age of each region's data"
        + (", per exporter target" if per_target else " (the oldest of the exporters polling it)")
        + ": it grows while polls fail, and should stay below the poll interval plus one poll's duration.",
        "s",
        [query(f"time() - {last if per_target else oldest_replica(last)}", legend)],
        width=8,
    )


def traffic_panels(selector: str, *, worst: int | None = None) -> Panels:
    """What callers experience (Cloud Monitor): requests, error ratio, throttled calls and latency per group,
    named; with `worst`, only that many groups per panel, the worst first (the busiest, the most failing...)."""
    info = f"topk by (account, region, service_group_id) (1, tione_service_group_info{{{selector}}})"

    def named(expr: str) -> str:
        joined = f"{expr} * on (account, region, service_group_id) group_left (service_group_name) {info}"
        return f"topk({worst}, {joined})" if worst else joined

    def figure(metric: str) -> str:
        return one_replica(f"{metric}{{{selector}}}")

    legend = "{{account}} {{region}} {{service_group_name}}"
    ratio = (
        f"({figure('tione_service_group_failed_requests_per_second')}"
        f" / ({figure('tione_service_group_requests_per_second')} > 0))"
    )
    which = f"the {worst} worst groups" if worst else "the group"
    return [
        timeseries_panel(
            "Requests per second",
            f"Calls per second Cloud Monitor counted in each period ({which} by calls): what callers ask of it.",
            "reqps",
            [query(named(figure("tione_service_group_requests_per_second")), legend)],
            width=6,
        ),
        timeseries_panel(
            "Error ratio",
            f"Share of calls that failed ({which} by error ratio): TIONEServiceGroupErrorRatioHigh fires above 5%.",
            "percentunit",
            [query(named(ratio), legend)],
            width=6,
        ),
        timeseries_panel(
            "Throttled requests per second",
            f"Calls refused by the service's own rate limit ({which}): TIONEServiceGroupThrottled.",
            "reqps",
            [query(named(figure("tione_service_group_throttled_requests_per_second")), legend)],
            width=6,
        ),
        timeseries_panel(
            "Average response time",
            f"Mean time to answer a call in each period ({which} by latency).",
            "s",
            [query(named(figure("tione_service_group_response_time_seconds")), legend)],
            width=6,
        ),
    ]
