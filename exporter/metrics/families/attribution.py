"""GPUs of a resource group that no listed holder accounts for.

A dedicated resource group reports what is used on it (`UsedResource`), not by whom. The exporter lists
three kinds of holders: services (what `tione_service_allocated_physical_gpus` says each holds, on the
group its `tione_service_info{resource_group_id}` names), running training tasks and running notebooks.
What the group reports as used beyond what they hold, card model by card model, is unattributed: a kind
of workload the exporter does not list, a holder in a workspace it does not poll, or figures read at
different moments (the group, the holders and the listing each have their own interval). Never below 0,
and no series for a card model whose every used card is accounted for.

Exported only when both the capacity and the holder sources have run: without the holders every task's
cards would look unattributed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from exporter.metrics.families.family import Declare, Family, Kind, Sample
from exporter.metrics.families.fields import GPU_HUNDREDTHS
from exporter.metrics.families.resource_group import gpus_by_type
from exporter.metrics.families.service import ServiceInGroup
from exporter.metrics.families.service_resources import physical_gpus, replicas_allocated
from exporter.metrics.labels import REGION_LABEL, clean_value
from exporter.tione.holders import NOTEBOOK_ACTION, NOTEBOOKS_OF, TASKS_OF, TRAINING_ACTION
from exporter.tione.holdings import Cards, GroupGpus, group_gpus
from exporter.tione.resource_groups import RESOURCE_GROUPS
from exporter.tione.snapshot import RegionSnapshot

SCOPE = "resource_group_attribution"
IDENTITY: tuple[str, ...] = (REGION_LABEL, "resource_group_id")
_family: Declare[GroupGpus] = Declare(SCOPE, IDENTITY)


def services_by_group(snapshot: RegionSnapshot) -> dict[str, Cards]:
    """Hundredths of cards the listed services hold, by resource group and card model: physical cards per
    replica times the replicas holding resources, as `tione_service_allocated_physical_gpus` counts them."""
    held: dict[str, Cards] = {}
    seen: set[str] = set()
    for group in snapshot.groups:
        for service in group.services or ():
            if not service.resource_group_id or not service.service_id or service.service_id in seen:
                continue
            seen.add(service.service_id)
            info = service.service_info
            replicas = replicas_allocated(ServiceInGroup(service, group))
            if info is None or info.resources is None or not replicas:
                continue
            cards = held.setdefault(clean_value(service.resource_group_id), {})
            for model, hundredths in physical_gpus(info.resources):
                cards[model] = cards.get(model, 0) + hundredths * replicas
    return held


def _unattributed(gpus: GroupGpus) -> list[Sample]:
    """Only card models with cards unattributed: a fully attributed group costs no series (the recording
    rule of GPUs by holder gives it 0), and the alert and the dashboards read the ones above 0."""
    return [((card,), hundredths / GPU_HUNDREDTHS) for card, hundredths in gpus.unattributed.items() if hundredths]


FAMILIES: tuple[Family[GroupGpus], ...] = (
    _family(
        "tione_resource_group_unattributed_gpus",
        "GPU cards of the resource group in use by card model that no listed service, training task or "
        "notebook holds (used less what they hold, never below 0).",
        "gauge",
        ("gpu_type",),
        _unattributed,
    ),
)


def _used(snapshot: RegionSnapshot) -> Mapping[str, Cards]:
    used: dict[str, Cards] = {}
    for group in RESOURCE_GROUPS.of(snapshot):
        cards = gpus_by_type(group.used_resource)
        if group.resource_group_id and cards is not None:
            used.setdefault(clean_value(group.resource_group_id), cards)
    return used


def _groups(snapshot: RegionSnapshot, _: RegionSnapshot) -> Iterable[tuple[str | None, GroupGpus]]:
    if TRAINING_ACTION not in snapshot.results or NOTEBOOK_ACTION not in snapshot.results:
        return ()
    tasks, notebooks = TASKS_OF.of(snapshot).items, NOTEBOOKS_OF.of(snapshot).items
    attribution = group_gpus(_used(snapshot), services_by_group(snapshot), tasks, notebooks)
    return attribution.items()


KIND: Kind[RegionSnapshot, GroupGpus] = Kind(SCOPE, IDENTITY, FAMILIES, _groups, order=120)
