"""Rendering: both exposition formats and their gzip forms are valid, merge regions and honour the options."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.metrics.exposition import EOF, OPENMETRICS, TEXT, answer
from exporter.metrics.families import KINDS, SNAPSHOT_FAMILIES, discover_kinds
from exporter.metrics.families.family import TagFamily
from exporter.metrics.gzipped import GzipPrefix
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import Exposition, RegionSamples, collect_region, render
from exporter.metrics.self import SelfMetrics
from exporter.tione import records
from exporter.tione.decode import decode_groups
from exporter.tione.records import ResourceGroup, Workspace
from exporter.tione.snapshot import RegionSnapshot
from exporter.tione.traffic import TRAFFIC
from exporter.tione.workspaces import Discovery
from tests import render_helpers as rendered
from tests.conftest import require_tool
from tests.unit.test_metrics_catalogue import (
    CASE_NAMES,
    HolderResults,
    holders_of,
    load_case,
    metric_name,
    read_groups,
    sample_lines,
    service_events,
    traffic_of,
    with_results,
)

RICH = rendered.everything(tag_labels=("*",))


def rich_groups() -> list[records.ServiceGroup]:
    """Every group of every golden case: GPUs, DIST, pods, conditions, odd values, awkward tags."""
    groups: list[dict[str, Any]] = []
    for name in CASE_NAMES:
        groups.extend(load_case(name).get("groups", []))
    return read_groups(groups)


def read_group(item: dict[str, Any]) -> records.ServiceGroup:
    (group,) = read_groups([item])
    return group


def rich_resource_groups() -> tuple[ResourceGroup, ...]:
    """Every dedicated resource group of every golden case."""
    return tuple(
        msgspec.convert(item, ResourceGroup, strict=False)
        for name in CASE_NAMES
        for item in load_case(name).get("resource_groups", [])
    )


def rich_holders() -> HolderResults | None:
    """The training tasks, notebooks and prices of every golden case."""
    merged: dict[str, Any] = {"training_tasks": [], "notebooks": [], "spec_prices": [], "holders_in": {}}
    for name in CASE_NAMES:
        case = load_case(name)
        for key in ("training_tasks", "notebooks", "spec_prices"):
            merged[key] += case.get(key, [])
        merged["holders_in"].update(case.get("holders_in", {}))
    return holders_of(merged)


def rich_exposition() -> Exposition:
    groups = rich_groups()
    workspace = Workspace(ti_project_id="ws-1", name="production", status="Normal")
    listed = {"group_workspaces": {g.service_group_id or "": "ws-1" for g in groups}, "polled_workspaces": ("ws-1",)}
    capacity = rich_resource_groups()
    events = service_events([item for name in CASE_NAMES for item in load_case(name).get("events", [])])
    holders = rich_holders()
    traffic = traffic_of(load_case("traffic")["traffic"])
    return render(
        [
            collect_region(
                TRAFFIC.stored(
                    with_results(
                        RegionSnapshot("ap-guangzhou", tuple(groups), **listed),
                        Discovery((workspace,)),
                        capacity,
                        events,
                        holders,
                    ),
                    traffic,
                ),
                RICH,
            ),
            collect_region(
                TRAFFIC.stored(
                    with_results(RegionSnapshot("ap-shanghai", tuple(groups)), Discovery(), capacity, events, holders),
                    traffic,
                ),
                RICH,
            ),
        ]
    )


def comment_lines(text: str, kind: str) -> list[str]:
    return [line.split(" ")[2] for line in text.splitlines() if line.startswith(f"# {kind} ")]


# --- format ---------------------------------------------------------------------------------------


def test_each_family_has_one_help_and_type_in_catalogue_order_and_only_if_it_has_samples() -> None:
    text = rendered.text(rich_exposition()).decode()
    helps, types = comment_lines(text, "HELP"), comment_lines(text, "TYPE")
    assert helps == types
    assert len(helps) == len(set(helps))
    present = {metric_name(line) for line in sample_lines(text)}
    assert helps == [family.name for family in SNAPSHOT_FAMILIES if family.name in present]
    assert len(helps) == len(SNAPSHOT_FAMILIES)  # the rich fixture feeds every family


def test_the_text_format_parses_and_keeps_every_sample() -> None:
    exposition = rich_exposition()
    text = rendered.text(exposition).decode()
    families = {family.name: family for family in parse_text(text)}
    declared = {family.name: family for family in SNAPSHOT_FAMILIES}
    samples = 0
    for name, parsed in families.items():
        family = declared[name if name in declared else f"{name}_total"]
        assert parsed.type == family.type
        for sample in parsed.samples:
            assert list(sample.labels)[: len(family.identity_labels)] == list(family.identity_labels)
        samples += len(parsed.samples)
    assert samples == len(sample_lines(text))


def test_openmetrics_parses_once_eof_is_added_and_names_counters_without_total() -> None:
    exposition = rich_exposition()
    assert not rendered.openmetrics(exposition).endswith(b"# EOF\n")
    families = {
        family.name: family for family in parse_openmetrics((rendered.openmetrics(exposition) + b"# EOF\n").decode())
    }
    restarts = families["tione_service_pod_container_restarts"]
    assert restarts.type == "counter"
    assert {sample.name for sample in restarts.samples} == {"tione_service_pod_container_restarts_total"}
    assert "# TYPE tione_service_pod_container_restarts counter" in rendered.openmetrics(exposition).decode()
    assert "# TYPE tione_service_pod_container_restarts_total counter" in rendered.text(exposition).decode()
    text_samples = sample_lines(rendered.text(exposition).decode())
    assert sample_lines(rendered.openmetrics(exposition).decode()) == text_samples


def test_gzip_forms_decompress_to_the_plain_forms_and_are_deterministic() -> None:
    first, second = rich_exposition(), rich_exposition()
    assert gzip.decompress(first.gzip(False).finish(b"")) == rendered.text(first)
    assert gzip.decompress(first.gzip(True).finish(b"")) == rendered.openmetrics(first)
    assert first == second
    assert first.gzip(False).finish(b"tail\n") == second.gzip(False).finish(b"tail\n")
    assert first.gzip(False) is first.gzip(False)  # made once, then kept
    assert len(first.gzip(False).finish(b"")) < len(rendered.text(first)) / 4


def test_both_formats_share_the_regions_lines_and_write_them_without_copying() -> None:
    groups = rich_groups()
    regions = [
        collect_region(RegionSnapshot(region, tuple(groups)), RICH) for region in ("ap-guangzhou", "ap-shanghai")
    ]
    exposition = render(regions)
    held = {id(lines.text) for samples in regions for lines in samples.families.values()}
    shared = [chunk for chunk in exposition.chunks(openmetrics=False) if id(chunk.obj) in held]
    assert len(shared) == len(held), "every region's lines are written, each once"
    assert [id(chunk.obj) for chunk in exposition.chunks(openmetrics=True) if id(chunk.obj) in held] == [
        id(chunk.obj) for chunk in shared
    ], "the OpenMetrics form writes the very same bytes objects, in the same order"
    assert exposition.size(False) == len(rendered.text(exposition))
    assert exposition.size(True) == len(rendered.openmetrics(exposition))


def test_a_new_exposition_comes_with_the_gzip_forms_its_predecessor_was_asked_for() -> None:
    regions = [collect_region(RegionSnapshot("ap-guangzhou", tuple(rich_groups())), RICH)]
    first = render(regions)
    assert first.gzipped() == ()
    first.gzip(True)
    second = render(regions, like=first)
    assert second.gzipped() == (True,), "made while rendering, not at the first scrape"
    assert gzip.decompress(second.gzip(True).finish(b"")) == rendered.openmetrics(second)
    assert render(regions, like=render(regions)).gzipped() == ()


def test_gzip_of_chunks_is_the_gzip_of_their_join() -> None:
    chunks = [b'a{x="1"} 1.0\n' * 50, b"", memoryview(b"b 2.0\n" * 20)]
    joined = b"".join(chunks)
    assert GzipPrefix.of(chunks) == GzipPrefix.of(joined)
    assert gzip.decompress(GzipPrefix.of(chunks).finish(b"tail\n")) == joined + b"tail\n"


def test_openmetrics_gzip_finished_with_self_metrics_is_one_valid_document() -> None:
    exposition = rich_exposition()
    own = SelfMetrics(["ap-guangzhou", "ap-shanghai"])
    own.record_poll("ap-guangzhou", success=True, duration=1.5, finished_at=1_700_000_000.0)
    body = exposition.gzip(True).finish(own.render(True) + b"# EOF\n")
    document = gzip.decompress(body).decode()
    assert document.endswith("# EOF\n")
    names = {family.name for family in parse_openmetrics(document)}
    assert {"tione_service_info", "tione_up", "tione_exporter_polls"} <= names


def test_an_answer_is_the_snapshot_in_its_format_then_the_live_part_and_one_eof() -> None:
    exposition = rich_exposition()
    own = SelfMetrics(["ap-guangzhou"], standard=())  # the process's figures change between two renders
    own.record_poll("ap-guangzhou", success=True, duration=1.5, finished_at=1_700_000_000.0)
    text, openmetrics = (
        rendered.text(exposition) + own.render(False),
        rendered.openmetrics(exposition) + own.render(True) + EOF,
    )
    assert rendered.body(exposition, own, TEXT) == text
    assert rendered.body(exposition, own, OPENMETRICS) == openmetrics
    assert gzip.decompress(rendered.body(exposition, own, TEXT, compressed=True)) == text
    assert gzip.decompress(rendered.body(exposition, own, OPENMETRICS, compressed=True)) == openmetrics
    served = answer(exposition, own, OPENMETRICS)
    assert served.length == len(openmetrics)
    assert all(isinstance(chunk, memoryview) for chunk in served.chunks[:-1]), "the snapshot is written, not copied"


def test_promtool_finds_no_problem_in_the_snapshot_and_self_metrics() -> None:
    promtool = require_tool("promtool")
    own = SelfMetrics(["ap-guangzhou"])
    own.on_request("ap-guangzhou", "DescribeModelServiceGroups")
    own.on_error("ap-guangzhou", "DescribeModelServiceGroups", "RequestLimitExceeded")
    own.record_poll("ap-guangzhou", success=False, duration=0.3, finished_at=1_700_000_000.0)
    own.set_inventory("ap-guangzhou", 3, 5)
    body = rendered.text(rich_exposition()) + own.render(False)
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == ""


# --- regions --------------------------------------------------------------------------------------


def one_group(group_id: str, count: int) -> records.ServiceGroup:
    return read_group(
        {"ServiceGroupId": group_id, "ServiceCount": count, "Services": [{"ServiceId": f"{group_id}-1", "Weight": 5}]}
    )


def test_regions_merge_family_by_family() -> None:
    exposition = render(
        [
            collect_region(RegionSnapshot("ap-guangzhou", tuple([one_group("g1", 1)]))),
            collect_region(RegionSnapshot("ap-shanghai", tuple([one_group("g2", 2)]))),
        ]
    )
    assert sample_lines(
        rendered.text(exposition).decode(), ["tione_service_group_services", "tione_service_weight"]
    ) == [
        'tione_service_group_services{region="ap-guangzhou",service_group_id="g1"} 1.0',
        'tione_service_group_services{region="ap-shanghai",service_group_id="g2"} 2.0',
        'tione_service_weight{region="ap-guangzhou",service_group_id="g1",service_id="g1-1"} 5.0',
        'tione_service_weight{region="ap-shanghai",service_group_id="g2",service_id="g2-1"} 5.0',
    ]
    assert rendered.text(exposition).decode().count("# TYPE tione_service_weight gauge") == 1


def test_the_same_region_twice_is_refused() -> None:
    samples = collect_region(RegionSnapshot("ap-guangzhou", tuple([one_group("g1", 1)])))
    with pytest.raises(ValueError, match="more than once"):
        render([samples, samples])


def test_nothing_to_render_gives_empty_documents_and_valid_gzip() -> None:
    for exposition in (render([]), render([collect_region(RegionSnapshot("ap-guangzhou", tuple([])))])):
        assert rendered.text(exposition) == b""
        assert rendered.openmetrics(exposition) == b""
        assert gzip.decompress(exposition.gzip(False).finish(b"")) == b""
        assert gzip.decompress(exposition.gzip(True).finish(b"")) == b""


def test_region_samples_count_groups_services_and_series() -> None:
    groups = [one_group("g1", 1), one_group("g2", 2), one_group("g1", 3)]
    samples = collect_region(RegionSnapshot("ap-guangzhou", tuple(groups)))
    assert (samples.service_groups, samples.services) == (2, 2)
    assert samples.series == len(sample_lines(rendered.text(render([samples])).decode()))
    assert isinstance(samples, RegionSamples)
    with pytest.raises(TypeError):
        samples.families["tione_service_weight"] = samples.families["tione_service_weight"]  # type: ignore[index]


def test_region_samples_tally_services_by_status() -> None:
    statuses = ["Stopped", "Normal", "Normal"]
    services = [{"ServiceId": f"s{number}", "Status": status} for number, status in enumerate(statuses)]
    group = read_group({"ServiceGroupId": "g1", "ServiceCount": 3, "Services": services})
    samples = collect_region(RegionSnapshot("ap-guangzhou", (group,)))
    assert dict(samples.services_by_status) == {"Normal": 2, "Stopped": 1}
    assert list(samples.services_by_status) == ["Normal", "Stopped"], "sorted by status"


def test_a_component_name_is_unique_within_its_group_only() -> None:
    def with_gateway(group_id: str) -> records.ServiceGroup:
        components = [{"Name": "gateway", "Type": "Gateway"}, {"Name": "gateway", "Type": "Scheduler"}]
        return read_group({"ServiceGroupId": group_id, "SmartRouter": {"Enabled": True, "ComponentList": components}})

    samples = collect_region(RegionSnapshot("ap-guangzhou", (with_gateway("ms-1"), with_gateway("ms-2"))))
    lines = samples.families["tione_service_group_component_info"].text.decode().splitlines()
    assert [re.search(r'service_group_id="([^"]*)"', line)[1] for line in lines] == ["ms-1", "ms-2"]  # type: ignore[index]
    assert all('type="Gateway"' in line for line in lines), "the first of a name repeated in one group is kept"


def test_counts_are_kept_when_every_family_is_left_out() -> None:
    group = one_group("g1", 1)
    samples = collect_region(RegionSnapshot("ap-guangzhou", (group,)), RenderOptions(exclude=(re.compile(".*"),)))
    assert dict(samples.families) == {}
    assert (samples.service_groups, samples.services) == (1, 1)


def test_region_samples_are_pure() -> None:
    groups = rich_groups()
    assert collect_region(RegionSnapshot("ap-guangzhou", tuple(groups)), RICH) == collect_region(
        RegionSnapshot("ap-guangzhou", tuple(groups)), RICH
    )


def test_a_region_name_is_a_safe_label_value() -> None:
    exposition = render([collect_region(RegionSnapshot('ap-"odd"\nregion', tuple([one_group("g1", 1)])))])
    (line,) = sample_lines(rendered.text(exposition).decode(), ["tione_service_group_services"])
    assert line == 'tione_service_group_services{region="ap-\\"odd\\"region",service_group_id="g1"} 1.0'
    list(parse_text(rendered.text(exposition).decode()))


# --- options --------------------------------------------------------------------------------------


def family_names(exposition: Exposition) -> set[str]:
    return {metric_name(line) for line in sample_lines(rendered.text(exposition).decode())}


def test_exclude_leaves_out_whole_families_by_full_match() -> None:
    groups = rich_groups()
    options = RenderOptions(
        tag_labels=("*",), exclude=(re.compile(r"tione_service_pod_.*"), re.compile("tione_service_status"))
    )
    names = family_names(render([collect_region(RegionSnapshot("ap-guangzhou", tuple(groups)), options)]))
    assert not {name for name in names if name.startswith("tione_service_pod_")}
    assert "tione_service_status" not in names
    # a full match: families that only start with an excluded name stay
    assert {"tione_service_status_replicas", "tione_service_status_condition"} <= names
    assert "tione_service_pod_phase" in family_names(
        render([collect_region(RegionSnapshot("ap-guangzhou", tuple(groups)), RICH)])
    )


def test_pod_series_off_leaves_out_exactly_the_pod_families() -> None:
    groups = rich_groups()
    with_pods = family_names(render([collect_region(RegionSnapshot("ap-guangzhou", tuple(groups)), RICH)]))
    without = family_names(
        render([collect_region(RegionSnapshot("ap-guangzhou", tuple(groups)), replace(RICH, pod_series=False))])
    )
    assert with_pods - without == {
        "tione_service_pod_phase",
        "tione_service_pod_container_restarts_total",
        "tione_service_pod_container_ready",
    }


def rendered_lines(options: RenderOptions) -> list[str]:
    snapshot = RegionSnapshot("ap-guangzhou", tuple(rich_groups()))
    snapshot = with_results(snapshot, Discovery(), rich_resource_groups(), (), rich_holders())
    return sample_lines(rendered.text(render([collect_region(snapshot, options)])).decode())


def test_current_state_sets_keep_exactly_the_state_series_at_1() -> None:
    full = rendered_lines(RICH)
    current = rendered_lines(replace(RICH, state_sets="current"))
    state_sets = {family.name for family in SNAPSHOT_FAMILIES if family.states}
    in_state_sets = [line for line in full if metric_name(line) in state_sets]
    assert {line.rsplit(" ", 1)[1] for line in in_state_sets} == {"0.0", "1.0"}
    # The same lines in the same order, less the state sets' 0s; every other family untouched.
    assert current == [line for line in full if metric_name(line) not in state_sets or not line.endswith(" 0.0")]
    assert len(current) < len(full)


def test_opt_in_families_need_include_and_exclude_wins_over_it() -> None:
    opt_in = {family.name for family in SNAPSHOT_FAMILIES if family.opt_in}
    assert "tione_service_rolling_update_max_surge_replicas" in opt_in
    everything = {metric_name(line) for line in rendered_lines(RICH)}
    assert opt_in <= everything, "the rich groups feed every opt-in family"
    lean = {metric_name(line) for line in rendered_lines(replace(RICH, include=()))}
    assert everything - lean == opt_in
    rollout = re.compile("tione_service_rolling_update_.*")
    some = {metric_name(line) for line in rendered_lines(replace(RICH, include=(rollout,)))}
    assert everything - some == opt_in - {name for name in opt_in if rollout.fullmatch(name)}
    # include never selects a family the default has anyway, nor wins over exclude
    excluded = replace(RICH, exclude=(re.compile("tione_service_rolling_update_max_surge_replicas"),))
    assert "tione_service_rolling_update_max_surge_replicas" not in {
        metric_name(line) for line in rendered_lines(excluded)
    }


def test_everything_selects_every_family_in_its_full_form() -> None:
    assert rendered.everything(tag_labels=("team",)).families() == list(SNAPSHOT_FAMILIES)
    assert rendered.everything().tag_labels == ()
    assert rendered.everything().families() == [
        family for family in SNAPSHOT_FAMILIES if not isinstance(family, TagFamily)
    ], "tag families only with tag labels"


def test_the_default_selection_is_current_state_sets_without_pods_or_opt_in_families() -> None:
    default = RenderOptions(tag_labels=("*",))
    expected = rendered_lines(replace(RICH, pod_series=False, state_sets="current", include=()))
    assert rendered_lines(default) == expected
    names = {metric_name(line) for line in expected}
    assert "tione_service_pods" in names
    assert not {name for name in names if name.startswith("tione_service_pod_")}


def test_no_tag_labels_means_no_tag_families() -> None:
    names = family_names(
        render([collect_region(RegionSnapshot("ap-guangzhou", tuple(rich_groups())), RenderOptions())])
    )
    assert "tione_service_tags" not in names
    assert "tione_service_group_tags" not in names
    assert "tione_service_info" in names


# --- secrets --------------------------------------------------------------------------------------

SECRETS = (
    "tok-Bearer-9f8e7d6c5b4a",
    "registry-user-s3cr3t",
    "registry-password-hunter2",
    "registry-key-id-AKIDxyz",
    "registry-secret-id-AKIDabc",
    "env-private-value-0xDEADBEEF",
    "image-url-password-Zq7",
)


def group_with_secrets() -> dict[str, Any]:
    return {
        "ServiceGroupId": "ms-s1",
        "AuthorizationEnable": True,
        "AuthTokens": [{"Base": {"Value": SECRETS[0], "Name": "default", "Id": "tok-1", "Status": "ENABLED"}}],
        "Tags": [{"TagKey": "team", "TagValue": "search"}],
        "Services": [
            {
                "ServiceId": "ms-s1-1",
                "Tags": [{"TagKey": "team", "TagValue": "search"}],
                "ServiceInfo": {
                    "ImageInfo": {
                        "ImageType": "CUSTOM",
                        "ImageUrl": f"robot:{SECRETS[6]}@ccr.ccs.tencentyun.com/team/model:1",
                        "ImageSecret": {
                            "Username": SECRETS[1],
                            "Password": SECRETS[2],
                            "KeyId": SECRETS[3],
                            "SecretId": SECRETS[4],
                        },
                    },
                    "Env": [
                        {"Name": "API_TOKEN", "Value": SECRETS[5], "IsPrivate": True},
                        {"Name": "LOG_LEVEL", "Value": "info", "IsPrivate": False},
                    ],
                    "PodInfos": [{"Name": "ms-s1-1-abc", "Phase": "Running", "ContainerInfos": [{"Name": "model"}]}],
                },
            }
        ],
    }


def test_no_secret_reaches_any_rendered_byte() -> None:
    raw = group_with_secrets()
    assert all(secret in repr(raw) for secret in SECRETS)  # the fixture really carries the secrets
    (group,) = decode_groups([raw]).groups  # as a poll reads it: no field the records hold is a secret,
    assert not any(secret in repr(group) for secret in SECRETS[:-1])
    assert SECRETS[-1] in repr(group)  # but an image URL may carry a password, which rendering drops
    exposition = render(
        [collect_region(RegionSnapshot("ap-guangzhou", tuple([group])), RenderOptions(tag_labels=("*",)))]
    )
    written = b"".join(
        [
            rendered.text(exposition),
            rendered.openmetrics(exposition),
            gzip.decompress(exposition.gzip(False).finish(b"")),
            gzip.decompress(exposition.gzip(True).finish(b"")),
        ]
    )
    assert b"ms-s1-1" in written
    assert b'image_url="ccr.ccs.tencentyun.com/team/model:1"' in written
    for secret in SECRETS:
        assert secret.encode() not in written
    assert b"API_TOKEN" not in written


def test_the_kinds_are_every_kind_the_family_modules_declare_in_the_order_they_state() -> None:
    assert [kind.name for kind in KINDS] == [
        "workspace",
        "group",
        "component",
        "service",
        "pod",
        "warning_events_group",
        "warning_events",
        "resource_group",
        "training_task",
        "notebook",
        "spec",
        "resource_group_attribution",
        "traffic",
        "monitor_budget",
    ]
    assert [kind.order for kind in KINDS] == sorted(kind.order for kind in KINDS)


def test_a_kind_placed_before_its_parent_or_on_anothers_place_fails_the_import(tmp_path: Path) -> None:
    package = tmp_path / "kinds_under_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    declare = "from exporter.metrics.families.family import Kind\n"
    (package / "a.py").write_text(declare + "A = Kind('a', ('x',), (), lambda s, p: (), order=20)\n")
    (package / "b.py").write_text(
        declare
        + "from kinds_under_test.a import A\nB = Kind('b', ('x', 'y'), (), lambda s, p: (), order=10, parent=A)\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ImportError, match="kind b is ordered before its parent a"):
            discover_kinds("kinds_under_test", [str(package)])
        (package / "b.py").write_text(declare + "B = Kind('b', ('x',), (), lambda s, p: (), order=20)\n")
        sys.modules.pop("kinds_under_test.b", None)
        with pytest.raises(ImportError, match="kinds a and b share order 20"):
            discover_kinds("kinds_under_test", [str(package)])
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith("kinds_under_test")]:
            del sys.modules[name]
