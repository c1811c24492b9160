"""Hourly prices of the pay-as-you-go specs in use, in yuan: what one unit of a spec costs for an hour.

One series per spec and price (`list`, the catalogue's, and `discounted`, what this account pays after its
discount), so that the cost rules multiply what a service, training task or notebook runs on by either.
Only specs paid by the hour have a price: resource groups are paid in advance and have none here.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.metrics.families.family import Declare, Family, Kind, Sample
from exporter.metrics.labels import REGION_LABEL
from exporter.tione.prices import PRICES, HourlyPrice
from exporter.tione.snapshot import RegionSnapshot

SCOPE = "spec"
IDENTITY: tuple[str, ...] = (REGION_LABEL, "spec")
_family: Declare[HourlyPrice] = Declare(SCOPE, IDENTITY)


def _prices(price: HourlyPrice) -> list[Sample]:
    found = (("list", price.list_yuan), ("discounted", price.discounted_yuan))
    return [((kind,), value) for kind, value in found if value is not None]


FAMILIES: tuple[Family[HourlyPrice], ...] = (
    _family(
        "tione_spec_hourly_price_yuan",
        "Price of one unit of a pay-as-you-go spec in use for an hour, in yuan: list (TotalCost / 100) "
        "and discounted (RealTotalCost / 100, the account's).",
        "gauge",
        ("price",),
        _prices,
    ),
)


def _specs(snapshot: RegionSnapshot, _: RegionSnapshot) -> Iterable[tuple[str | None, HourlyPrice]]:
    return ((price.spec, price) for price in PRICES.of(snapshot))


KIND: Kind[RegionSnapshot, HourlyPrice] = Kind(SCOPE, IDENTITY, FAMILIES, _specs, order=110)
