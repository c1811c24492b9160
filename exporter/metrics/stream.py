"""A region's service groups formatted page by page while the listing reads them, merged once it ends.

`render.collect_region` formats a region from its whole snapshot; a poll instead hands each page of the
listing to a `RegionStream` as it arrives (the poll's `Sink`), and only the merge is left after the last
answer. The merge gives exactly what `collect_region` would, or says it cannot.
"""

from __future__ import annotations

import collections
import itertools
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from exporter import memory
from exporter.metrics.families import group as groups
from exporter.metrics.families import service as services
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import (
    FamilyLines,
    RegionSamples,
    _KindOut,
    _lines,
    _region_identity,
    _runtime,
    _samples,
    _Writer,
)
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot

CACHE_LIMIT = 2048
"""Entries a cache of the streaming writer keeps from one page to the next (`_Writer.forget`)."""


@dataclass(frozen=True, slots=True)
class _Listed:
    """What the merge needs of one group formatted as if it were alone in the region."""

    counted: bool
    """False when the group has no id (as a label value): `collect_region` leaves it out too."""
    group_id: str
    service_ids: tuple[str, ...]
    services: int
    statuses: tuple[str, ...]
    """Its services' tally (`services_by_status`), one entry per service counted."""


@dataclass(frozen=True, slots=True)
class _Page:
    """One page of groups as the listing handed it on: each family's lines of all its groups joined once,
    where each group's lines begin in them, and what the merge needs of each group."""

    groups: tuple[ServiceGroup, ...]
    """Held so that their `id()`s keep naming them until the merge."""
    workspace: str
    texts: list[bytes]
    """Its lines of each family of the group's kinds, in `RegionStream`'s order of them (emptied by the merge)."""
    starts: tuple[array[int] | None, ...]
    """Per family, the offset of each group's lines in its text and the text's length; None when it is empty."""
    listed: tuple[_Listed, ...]


class RegionStream:
    """A region's service groups formatted page by page as the listing reads them, merged at the end.

    The listing waits on the token bucket between pages; formatting each page then costs the poll nothing,
    and what is left after the last answer is a merge (`finish`). Each group is formatted on its own, as
    the listing read it (`service_groups`), and each page's lines of a family joined once; the merge takes,
    in the snapshot's order, the lines of every group the listing kept (its de-duplication picked one copy
    of each), family by family, and frees each family's page lines as soon as they are joined (`_joined`).
    The result is exactly `collect_region`'s: whenever the pages cannot say so alone (a group that was not
    handed on or was listed in another workspace than its page says, a service id repeated across groups),
    `finish` gives None and the caller collects the region as a whole.
    """

    def __init__(self, region: str, options: RenderOptions | None = None, account: str = "") -> None:
        self.region = region
        self.options = options or RenderOptions()
        self._writer = _Writer(self.options)
        self._identity = _region_identity(self._writer, region, account)
        self._root = self._writer.kinds[groups.KIND]
        self._subtree = self._below(self._root)
        self._outs = [out for kind in self._subtree for out in kind.outs + kind.tag_outs]
        self._pages: list[_Page] = []

    def _below(self, kind: _KindOut) -> list[_KindOut]:
        return [kind, *(below for child in kind.children for below in self._below(child))]

    def service_groups(self, groups: Sequence[ServiceGroup], workspace: str) -> None:
        """Format groups as listed in `workspace` ("" for the default one, unnamed): the poll's `Sink`."""
        listed = tuple(groups)
        columns: list[list[bytes]] = [[] for _ in self._outs]
        kept = tuple(self._format(group, workspace, columns) for group in listed)
        texts = [b"".join(column) for column in columns]
        starts = tuple(
            array("Q", itertools.accumulate(map(len, column), initial=0)) if text else None
            for column, text in zip(columns, texts, strict=True)
        )
        self._pages.append(_Page(listed, workspace, texts, starts, kept))
        self._writer.forget(CACHE_LIMIT)

    def _format(self, group: ServiceGroup, workspace: str, columns: list[list[bytes]]) -> _Listed:
        """One group's lines, one piece per family onto `columns`, and what the merge needs of it."""
        for kind in self._subtree:
            kind.seen, kind.count, kind.tally = set(), 0, collections.Counter()
        group_workspaces = {group.service_group_id or "": workspace} if workspace else {}
        alone = RegionSnapshot(self.region, (group,), group_workspaces=group_workspaces)
        self._writer.walk(alone, [self._root], alone, self._identity)
        for out, column in zip(self._outs, columns, strict=True):
            column.append(b"".join(out.lines))
            out.lines.clear()
        service_kind = self._writer.kinds[services.KIND]
        return _Listed(
            counted=self._root.count > 0,
            group_id=next(iter(self._root.seen), ""),
            service_ids=tuple(service_kind.seen),
            services=service_kind.count,
            statuses=tuple(service_kind.tally.elements()),
        )

    def discard(self) -> None:
        """Drop everything formatted so far: a poll that does not finish keeps nothing of its pages."""
        self._pages.clear()
        for out in self._writer.outs.values():
            out.lines.clear()

    def finish(self, snapshot: RegionSnapshot) -> RegionSamples | None:
        """The region's samples from the pages and the snapshot's other kinds, or None when the pages
        cannot give exactly what `collect_region(snapshot)` would."""
        where = {id(group): (page, index) for page in self._pages for index, group in enumerate(page.groups)}
        runs: list[_Run] = []
        seen_groups: set[str] = set()
        seen_services: set[str] = set()
        tally: collections.Counter[str] = collections.Counter()
        service_count = 0
        for group in snapshot.groups:
            found = where.get(id(group))  # every page's groups are alive, so an id names one of them only
            if found is None:
                return None
            page, index = found
            if page.workspace != snapshot.group_workspaces.get(group.service_group_id or "", ""):
                return None
            listed = page.listed[index]
            if not listed.counted or listed.group_id in seen_groups:
                continue
            if not seen_services.isdisjoint(listed.service_ids):
                return None
            seen_groups.add(listed.group_id)
            seen_services.update(listed.service_ids)
            tally.update(listed.statuses)
            service_count += listed.services
            if runs and runs[-1].page is page and runs[-1].end == index:
                runs[-1].end += 1
            else:
                runs.append(_Run(page, index, index + 1))
        del where
        self._pages.clear()  # what the runs name is all that is kept of the pages
        writer = self._writer
        others = [root for root in writer.roots if root is not self._root]
        writer.walk(snapshot, others, snapshot, self._identity)
        merged = _joined(runs, [out.family.name for out in self._outs])
        families = {name: merged.get(name) or _lines(out.lines) for name, out in writer.outs.items()}
        return _samples(snapshot, families, len(seen_groups), service_count, tally, runtime=_runtime(writer, snapshot))


@dataclass(slots=True)
class _Run:
    """Groups `start` to `end` (exclusive) of one page, next to each other in the region's lines."""

    page: _Page
    start: int
    end: int


RELEASE_BYTES = 8 * 1024 * 1024
"""Bytes of page lines the merge frees between two trims of the heap."""


def _joined(runs: Sequence[_Run], names: Sequence[str]) -> dict[str, FamilyLines]:
    """Each family's lines of the runs, in order, joined once; the pages' lines of a family freed as soon as
    it is joined, and given back to the system every `RELEASE_BYTES` (`memory.trim`): a page's lines sit
    in the C heap, not among the records, so the region's lines are held about once while they are merged,
    not once as pages and once joined."""
    pages = list({id(run.page): run.page for run in runs}.values())
    merged: dict[str, FamilyLines] = {}
    freed = 0
    for column, name in enumerate(names):
        parts: list[bytes | memoryview] = []
        for run in runs:
            text, starts = run.page.texts[column], run.page.starts[column]
            if starts is not None and starts[run.start] != starts[run.end]:
                whole = run.start == 0 and run.end == len(starts) - 1
                parts.append(text if whole else memoryview(text)[starts[run.start] : starts[run.end]])
        text = b"".join(parts)
        merged[name] = FamilyLines(text, text.count(b"\n"))
        parts.clear()
        for page in pages:
            freed += len(page.texts[column])
            page.texts[column] = b""
        if freed >= RELEASE_BYTES:
            memory.trim()
            freed = 0
    return merged
