"""Formatting a region page by page while it is listed gives exactly what collecting it whole gives, or
says it cannot (and the poller then collects it whole)."""

from __future__ import annotations

import dataclasses
import gc
import json
import tracemalloc
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import msgspec
import pytest

from exporter import memory
from exporter.metrics import stream as stream_module
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import RegionSamples, collect_region
from exporter.metrics.stream import RegionStream
from exporter.simulator import Simulator, SimulatorConfig
from exporter.tione.decode import decode_groups
from exporter.tione.listing import dedupe
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot
from tests import render_helpers as rendered
from tests.unit.test_metrics_catalogue import CASE_NAMES, load_case, snapshot_of

REGION = "ap-guangzhou"
OPTIONS = (
    RenderOptions(),
    RenderOptions(tag_labels=("*",)),
    RenderOptions(pod_series=False, tag_labels=("team",)),
)


def records(groups: list[dict[str, Any]]) -> list[ServiceGroup]:
    return decode_groups(json.loads(json.dumps(groups))).groups


def as_dict(samples: RegionSamples | None) -> dict[str, Any]:
    assert samples is not None, "the stream could not give the region's samples"
    fields = {field.name: getattr(samples, field.name) for field in dataclasses.fields(samples)}
    fields["families"] = dict(samples.families)
    fields["services_by_status"] = dict(samples.services_by_status)
    return fields


def streamed(
    pages: list[list[ServiceGroup]], snapshot: RegionSnapshot, options: RenderOptions, workspace: str = ""
) -> RegionSamples | None:
    stream = RegionStream(snapshot.region, options)
    for page in pages:
        stream.service_groups(page, workspace)
    return stream.finish(snapshot)


def overlapping(groups: list[ServiceGroup], size: int) -> list[list[ServiceGroup]]:
    """Pages of `size` sharing one group with the next, each read afresh (new objects), as the listing reads."""
    step = size - 1
    pages = []
    for start in range(0, max(1, len(groups) - 1), step):
        pages.append([msgspec.structs.replace(group) for group in groups[start : start + size]])
    return pages


@pytest.mark.parametrize("options", OPTIONS)
def test_a_listed_fleet_gives_what_collecting_it_whole_gives(options: RenderOptions) -> None:
    simulator = Simulator(SimulatorConfig(groups=120, regions=(REGION,), churn=False, seed=3))
    simulator.churn_step(30)
    pages = overlapping(records(simulator.fleet(REGION)), 25)
    listed = dedupe(group for page in pages for group in page)
    snapshot = RegionSnapshot(REGION, tuple(listed))
    assert len(listed) < sum(len(page) for page in pages), "the pages overlap"
    assert as_dict(streamed(pages, snapshot, options)) == as_dict(collect_region(snapshot, options))


@pytest.mark.parametrize("name", CASE_NAMES)
def test_every_case_gives_what_collecting_it_whole_gives(name: str) -> None:
    """Cases hold odd ids, repeated ids, resource groups, workspaces and events: the merge must keep all."""
    case = load_case(name)
    base = snapshot_of(case)
    groups = records(case.get("groups", []))
    snapshot = replace(base, groups=tuple(dedupe(groups)) if case.get("dedupe") else tuple(groups))
    options = RenderOptions(tag_labels=("*",))
    stream = RegionStream(REGION, options)
    for group in groups:
        stream.service_groups([group], snapshot.group_workspaces.get(group.service_group_id or "", ""))
    result = stream.finish(snapshot)
    whole = collect_region(snapshot, options)
    if result is not None:
        assert as_dict(result) == as_dict(whole)
    else:  # only when a service id is repeated across groups, which the fragments cannot settle alone
        ids = [service.service_id for group in snapshot.groups for service in group.services or ()]
        assert len(ids) != len(set(ids)), name


def test_groups_a_page_handed_on_but_the_listing_did_not_keep_are_left_out() -> None:
    """The merge takes only the groups the snapshot holds, whatever part of a page they are: its end, its
    start, or one group in the middle."""
    groups = fleet_records(8)
    pages = [groups[:4], groups[4:]]
    for kept in (groups[1:5], groups[2:3], groups[:2] + groups[6:]):
        snapshot = RegionSnapshot(REGION, tuple(kept))
        assert as_dict(streamed(pages, snapshot, RenderOptions())) == as_dict(collect_region(snapshot))


def test_a_group_the_stream_did_not_see_makes_it_give_up() -> None:
    groups = records([{"ServiceGroupId": "ms-1"}, {"ServiceGroupId": "ms-2"}])
    snapshot = RegionSnapshot(REGION, tuple(groups))
    assert streamed([groups[:1]], snapshot, RenderOptions()) is None
    assert streamed([groups], snapshot, RenderOptions()) is not None


def test_a_group_listed_in_another_workspace_than_kept_makes_it_give_up() -> None:
    groups = records([{"ServiceGroupId": "ms-1", "Services": [{"ServiceId": "ms-1-a"}]}])
    kept_in = RegionSnapshot(REGION, tuple(groups), group_workspaces={"ms-1": "tp-a"})
    assert streamed([groups], kept_in, RenderOptions(), workspace="tp-b") is None
    samples = streamed([groups], kept_in, RenderOptions(), workspace="tp-a")
    assert as_dict(samples) == as_dict(collect_region(kept_in, RenderOptions()))
    assert b'tione_project_id="tp-a"' in samples.families["tione_service_group_info"].text  # type: ignore[union-attr]


def test_a_service_id_in_two_groups_makes_it_give_up() -> None:
    groups = records(
        [
            {"ServiceGroupId": "ms-1", "Services": [{"ServiceId": "svc"}]},
            {"ServiceGroupId": "ms-2", "Services": [{"ServiceId": "svc"}]},
        ]
    )
    assert streamed([groups], RegionSnapshot(REGION, tuple(groups)), RenderOptions()) is None


def test_a_service_id_repeated_two_groups_apart_makes_it_give_up() -> None:
    groups = records(
        [
            {"ServiceGroupId": "ms-1", "Services": [{"ServiceId": "svc"}]},
            {"ServiceGroupId": "ms-2", "Services": [{"ServiceId": "other"}]},
            {"ServiceGroupId": "ms-3", "Services": [{"ServiceId": "svc"}]},
        ]
    )
    assert streamed([groups], RegionSnapshot(REGION, tuple(groups)), RenderOptions()) is None
    assert streamed([groups[:2]], RegionSnapshot(REGION, tuple(groups[:2])), RenderOptions()) is not None


def test_a_group_id_repeated_keeps_the_first_as_collecting_does() -> None:
    groups = records([{"ServiceGroupId": "ms-1", "Status": "Normal"}, {"ServiceGroupId": "ms-1", "Status": "Abnormal"}])
    snapshot = RegionSnapshot(REGION, tuple(groups))
    samples = streamed([groups], snapshot, RenderOptions())
    assert as_dict(samples) == as_dict(collect_region(snapshot, RenderOptions()))
    assert samples is not None and samples.service_groups == 1


async def test_the_listing_hands_each_page_to_its_sink_as_read() -> None:
    from exporter.tione.listing import ListingQuery, scan_service_groups
    from tests.unit.test_client_listing import Fleet, client_for, deadline

    class Seen:
        def __init__(self) -> None:
            self.pages: list[tuple[int, str]] = []

        def service_groups(self, groups: Sequence[ServiceGroup], workspace: str) -> None:
            self.pages.append((len(groups), workspace))

    seen = Seen()
    fleet = Fleet(250)
    result = await scan_service_groups(client_for(fleet), REGION, ListingQuery(), deadline=deadline(), sink=seen)
    assert sorted(seen.pages) == [(52, ""), (100, ""), (100, "")], "three pages, overlapping by one"
    assert len(result.groups) == 250
    await scan_service_groups(client_for(fleet), REGION, ListingQuery(), deadline=deadline())
    assert len(seen.pages) == 3, "a listing without the sink hands it nothing"


async def test_a_poll_of_a_listed_region_merges_the_pages_it_formatted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The poller formats the listing's pages as they come and only merges them at the end: collecting the
    region whole is not needed (and here would fail the poll), and the exposition is the same."""
    from exporter import poller as poller_module
    from exporter.metrics.render import render
    from exporter.metrics.self import SelfMetrics
    from exporter.poller import Poller, PollPlan
    from exporter.tione import listing, service_groups
    from tests.unit.test_client_listing import Fleet, client_for

    fleet = Fleet(350)
    plan = PollPlan(regions=(REGION,), sources=(service_groups.source(client_for(fleet), listing.ListingQuery()),))
    poller = Poller(plan, SelfMetrics((REGION,)))

    def whole(snapshot: RegionSnapshot, options: RenderOptions | None = None) -> RegionSamples:
        raise AssertionError("the region was collected whole")

    monkeypatch.setattr(poller_module, "collect_region", whole)
    status = await poller.poll(REGION)
    assert status.outcome == "success" and status.service_groups == 350
    monkeypatch.undo()
    groups = records(fleet.groups)
    expected = render([collect_region(RegionSnapshot(REGION, tuple(groups)), RenderOptions())])
    assert b"".join(poller.exposition.chunks(False)) == rendered.text(expected)


def test_a_discarded_stream_holds_no_page_and_gives_up() -> None:
    simulator = Simulator(SimulatorConfig(groups=20, regions=(REGION,), churn=False, seed=3))
    groups = records(simulator.fleet(REGION))
    stream = RegionStream(REGION)
    stream.service_groups(groups, "")
    stream.discard()
    assert stream.finish(RegionSnapshot(REGION, tuple(groups))) is None, "no fragment is left to merge"


def merge_peak(groups: list[ServiceGroup], pages: int) -> tuple[int, int]:
    """Bytes the merge of `groups` listed in `pages` pages allocates at its peak above what the formatted
    pages held, and the bytes of the lines it gives; traced (`tracemalloc`): exact, nothing is timed."""
    size = -(-len(groups) // pages)
    snapshot = RegionSnapshot(REGION, tuple(groups))
    tracemalloc.start()  # before the pages are formatted: what the merge frees of them counts
    try:
        stream = RegionStream(REGION)
        for start in range(0, len(groups), size):
            stream.service_groups(groups[start : start + size], "")
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        samples = stream.finish(snapshot)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert samples is not None
    return peak - before, sum(len(lines.text) for lines in samples.families.values())


def fleet_records(groups: int) -> list[ServiceGroup]:
    simulator = Simulator(SimulatorConfig(groups=groups, regions=(REGION,), churn=False, seed=5))
    return records(simulator.fleet(REGION))


def test_merging_pages_holds_the_region_s_lines_about_once() -> None:
    """Each family's page lines go as soon as they are joined: the merge never holds the region's lines
    twice (once as pages, once joined), only one family's at a time."""
    peak, lines = merge_peak(fleet_records(120), pages=4)
    assert lines > 500_000, "enough lines for the comparison to mean something"
    assert peak < lines * 0.4, (peak, lines)


def test_merging_a_region_of_one_page_copies_none_of_its_lines() -> None:
    """A family's lines that are one page's whole text are taken as they are, not copied."""
    peak, lines = merge_peak(fleet_records(120), pages=1)
    assert peak < lines * 0.1, (peak, lines)


@pytest.mark.parametrize("release", [64 * 1024, 64 * 1024 * 1024])
def test_the_merge_gives_the_freed_page_lines_back_as_it_goes(release: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The heap is trimmed each time about `RELEASE_BYTES` of page lines were freed, not only once the poll
    has ended; a merge that frees less trims nothing."""
    trims: list[None] = []
    monkeypatch.setattr(stream_module, "RELEASE_BYTES", release)
    monkeypatch.setattr(memory, "trim", lambda: trims.append(None))
    groups = fleet_records(120)
    snapshot = RegionSnapshot(REGION, tuple(groups))
    samples = streamed([groups[:30], groups[30:60], groups[60:90], groups[90:]], snapshot, RenderOptions())
    lines = sum(len(family.text) for family in as_dict(samples)["families"].values())
    assert lines > 500_000
    if release > lines:
        assert trims == []
    else:
        assert 1 <= len(trims) <= lines // release, (len(trims), lines // release)
