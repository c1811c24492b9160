"""`DescribeBillingSpecsPrice`: the hourly price of pay-as-you-go specs, in fen.

Every spec of the catalogue has a list price made of its parts (cores, memory, cards by model) and the
simulated account's discount (`DISCOUNT_PERCENT`); a test may plant exact figures for a spec
(`Simulator.set_spec_price`). A spec the simulator does not know is refused like a bad parameter, so that
an exporter asking for something that is no spec is caught.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.simulator import catalog, params
from exporter.simulator.workload import JSON

ACTION = "DescribeBillingSpecsPrice"


DISCOUNT_PERCENT = 80
"""What the simulated account pays of the list price."""
MAX_SPECS = 100
"""Specs priced by one call at most."""
FEN_PER_CORE = 12
FEN_PER_GIB = 3
FEN_PER_CARD: dict[str, int] = {"T4": 800, "V100": 2000, "A10": 1200, "A100": 3500, "L20": 1800, "H20": 4000}
_KEYS = frozenset({"SpecsParam", "TiProjectId"})
_UNIT_KEYS = frozenset({"SpecName", "SpecCount"})


def catalogue_price(spec: catalog.Spec) -> int:
    """List fen an hour for one unit: cores, GiB and cards (in hundredths) of the spec priced by part."""
    cards = sum(FEN_PER_CARD.get(card, 1000) * value for card, value in spec.details) // 100
    return spec.cpu // 1000 * FEN_PER_CORE + spec.memory // 1024 * FEN_PER_GIB + cards


class PriceBook:
    """The unit prices (list, discounted) in fen of every known spec."""

    def __init__(self) -> None:
        self.prices: dict[str, tuple[int, int]] = {}
        specs = [*catalog.CPU_SPECS, *(spec for group in catalog.GPU_SPECS.values() for spec in group)]
        for spec in specs:
            if spec.instance_type:
                price = catalogue_price(spec)
                self.prices[spec.instance_type] = (price, price * DISCOUNT_PERCENT // 100)

    def plant(self, spec: str, list_fen: int, discounted_fen: int) -> None:
        self.prices[spec] = (list_fen, discounted_fen)


def describe(body: Mapping[str, Any], book: PriceBook, workspaces: tuple[str, ...]) -> JSON:
    params.check_keys(body, _KEYS)
    params.workspace(params.string(body.get("TiProjectId", ""), "TiProjectId"), workspaces)
    params.required(body, "SpecsParam")
    units = params.objects(body, "SpecsParam", _UNIT_KEYS)
    if len(units) > MAX_SPECS:
        raise params.ParameterError("InvalidParameterValue", f"At most {MAX_SPECS} `SpecsParam` are allowed.")
    answer: list[JSON] = []
    for index, unit in enumerate(units):
        name = params.string(unit.get("SpecName", ""), f"SpecsParam.{index}.SpecName")
        count = params.integer(unit, "SpecCount", 1, 1, None)
        if name not in book.prices:
            raise params.ParameterError(
                "InvalidParameterValue",
                f"The value of parameter `SpecsParam.{index}.SpecName` is not a spec: {name!r}.",
            )
        list_fen, discounted_fen = book.prices[name]
        answer.append(
            {
                "SpecName": name,
                "TotalCost": list_fen * count,
                "RealTotalCost": discounted_fen * count,
                "SpecCount": count,
            }
        )
    return {"SpecsPrice": answer}
