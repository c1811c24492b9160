"""What to expose: the families a run selects, and in which form (`--metrics.*`).

Apart from the rendering (`render.py`) because the settings, the poll plan and the tests choose a selection
without rendering anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from exporter.metrics.families import SNAPSHOT_FAMILIES
from exporter.metrics.families.family import Family, TagFamily
from exporter.metrics.labels import TagSelection

AnyFamily = Family[Any]

StateSets = Literal["current", "full"]


@dataclass(frozen=True)
class RenderOptions:
    """What to expose; the defaults are the lean selection a large fleet can afford.

    - `tag_labels`: tag keys that become labels (`("*",)` for all; none: no `*_tags` series).
    - `exclude`: regexes matched against the whole family name; a family matching one is left out.
    - `include`: regexes naming the opt-in families (`opt_in`) to export as well; `exclude` still wins.
    - `pod_series`: the per-pod and per-container families (`tione_service_pod_*`).
    - `state_sets`: `current` exports a state set's current value only (its series of value 1), `full`
      also every other known value as 0 (one series per known value and object).
    """

    tag_labels: tuple[str, ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    pod_series: bool = False
    state_sets: StateSets = "current"
    include: tuple[re.Pattern[str], ...] = ()

    def includes(self, family: AnyFamily) -> bool:
        if family.pods and not self.pod_series:
            return False
        if isinstance(family, TagFamily) and not TagSelection(self.tag_labels).enabled:
            return False
        if family.opt_in and not any(pattern.fullmatch(family.name) for pattern in self.include):
            return False
        return not any(pattern.fullmatch(family.name) for pattern in self.exclude)

    def families(self) -> list[AnyFamily]:
        """The snapshot's families to render, in exposition order, state sets in the form selected."""
        selected = [family for family in SNAPSHOT_FAMILIES if self.includes(family)]
        if self.state_sets == "full":
            return selected
        return [family.current_only() for family in selected]
