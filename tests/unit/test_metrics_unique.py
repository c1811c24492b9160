"""Every rendered family has unique label sets, whatever the API sends.

Label values are cleaned (control characters and lone surrogates dropped, length capped), so raw values
that differ only in what cleaning removes must count as one id, name or state, or the exposition would
carry the same series twice, which Prometheus rejects for the whole scrape.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.metrics.families import SNAPSHOT_FAMILIES
from exporter.metrics.labels import MAX_LABEL_VALUE_LENGTH
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import Exposition, FamilyBlock, collect_region, render
from exporter.tione.records import ResourceGroup
from exporter.tione.resource_groups import RESOURCE_GROUPS
from exporter.tione.snapshot import RegionSnapshot
from tests import render_helpers as rendered
from tests.api_models import ServiceGroup
from tests.unit.test_metrics_catalogue import CASE_NAMES, load_case, options_of, snapshot_of

Series = tuple[str, tuple[tuple[str, str], ...]]
EVERYTHING = rendered.everything(tag_labels=("*",))


def repeated_series(exposition: Exposition) -> list[Series]:
    """Series (sample name and label set) that appear more than once in the parsed text format.

    The OpenMetrics form has the very same sample lines (only its headers differ), and its parser
    would hide a repetition by keeping one of them, so the text format is the one checked.
    """
    seen = Counter(
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in parse_text(rendered.text(exposition).decode())
        for sample in family.samples
    )
    return [series for series, count in seen.items() if count > 1]


def exposition_of(
    groups: list[dict[str, Any]],
    options: RenderOptions,
    region: str = "ap-guangzhou",
    resource_groups: list[dict[str, Any]] | None = None,
) -> Exposition:
    parsed = [ServiceGroup.model_validate(group) for group in groups]
    capacity = tuple(msgspec.convert(group, ResourceGroup, strict=False) for group in resource_groups or ())
    return render([collect_region(RESOURCE_GROUPS.stored(RegionSnapshot(region, tuple(parsed)), capacity), options)])


def test_the_checker_finds_a_repeated_series() -> None:
    line = b'tione_service_group_services{region="r",service_group_id="ms-1"} 1.0\n'
    header = b"# TYPE tione_service_group_services gauge\n"
    repeated = repeated_series(Exposition((FamilyBlock(header, header, (line + line,)),)))
    assert repeated == [("tione_service_group_services", (("region", "r"), ("service_group_id", "ms-1")))]


@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("everything", [False, True], ids=["case-options", "all-tags"])
def test_no_case_renders_a_series_twice(name: str, everything: bool) -> None:
    case = load_case(name)
    exposition = render([collect_region(snapshot_of(case), EVERYTHING if everything else options_of(case))])
    assert repeated_series(exposition) == []


def test_all_cases_together_in_two_regions_render_no_series_twice() -> None:
    groups = [ServiceGroup.model_validate(group) for name in CASE_NAMES for group in load_case(name).get("groups", [])]
    exposition = render(
        [
            collect_region(RegionSnapshot(region, tuple(groups)), EVERYTHING)
            for region in ("ap-guangzhou", "ap-shanghai")
        ]
    )
    assert repeated_series(exposition) == []


def long(prefix: str, ending: str) -> str:
    """A value longer than a label can hold, equal to others with the same prefix once cut."""
    return prefix + "x" * (MAX_LABEL_VALUE_LENGTH - len(prefix)) + ending


def pod(name: str, *containers: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Phase": "Running",
        "ContainerInfos": [{"Name": item, "Status": {"RestartCount": 1, "Ready": True}} for item in containers],
    }


def service(service_id: str) -> dict[str, Any]:
    return {
        "ServiceId": service_id,
        "Status": "Normal",
        "ServiceInfo": {
            "Resources": {
                "Gpu": 200,
                "GpuType": "A100",
                "RealGpuDetailSet": [
                    {"Name": long("A100", "-a"), "Value": 100},
                    {"Name": long("A100", "-b"), "Value": 100},
                ],
            },
            "Status": {
                "Replicas": 1,
                "Status": "Normal",
                "Conditions": [
                    {"Type": long("Ready", "1"), "Status": "True", "LastTransitionTime": "2024-01-01T00:00:00Z"},
                    {"Type": long("Ready", "2"), "Status": "False", "LastTransitionTime": "2024-01-02T00:00:00Z"},
                ],
            },
            "PodInfos": [
                pod(long("pod", "a"), long("c", "1"), long("c", "2")),
                pod(long("pod", "b"), "model"),
            ],
        },
    }


def test_values_equal_once_cut_to_length_render_no_series_twice() -> None:
    groups = [
        {"ServiceGroupId": long("ms-", "a"), "Status": "Normal", "Services": [service(long("ms-s", "1"))]},
        {"ServiceGroupId": long("ms-", "b"), "Status": "Stopped", "Services": [service(long("ms-s", "2"))]},
    ]
    exposition = exposition_of(groups, EVERYTHING)
    assert repeated_series(exposition) == []
    families = {family.name: family for family in parse_text(rendered.text(exposition).decode())}
    (group_status,) = [s for s in families["tione_service_group_status"].samples if s.value == 1.0]
    assert group_status.labels["status"] == "Normal"  # the first group is kept
    (gpus,) = families["tione_service_replica_physical_gpus"].samples
    assert gpus.value == 2.0  # one card model once cut: summed
    assert len(families["tione_service_pod_phase"].samples) == 5  # one pod, its five phases
    assert len(families["tione_service_pod_container_ready"].samples) == 1
    conditions = [(s.labels["status"], s.value) for s in families["tione_service_status_condition"].samples]
    assert conditions == [("true", 1.0), ("false", 0.0), ("unknown", 0.0)]  # the first condition is kept


def test_regions_equal_once_cleaned_are_one_region() -> None:
    groups = [ServiceGroup.model_validate({"ServiceGroupId": "ms-1", "ServiceCount": 1})]
    with pytest.raises(ValueError, match="more than once"):
        render(
            [
                collect_region(RegionSnapshot("ap-guangzhou", tuple(groups))),
                collect_region(RegionSnapshot("ap-guangzhou\u0000", tuple(groups))),
            ]
        )


def test_every_snapshot_family_is_checked() -> None:
    """The cases together feed every family, so the checks above cover them all."""
    families_seen = {
        family.name
        for name in CASE_NAMES
        for family in parse_text(
            rendered.text(render([collect_region(snapshot_of(load_case(name)), EVERYTHING)])).decode()
        )
    }
    assert {family.name.removesuffix("_total") for family in SNAPSHOT_FAMILIES} <= families_seen
