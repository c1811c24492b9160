"""Hourly prices of the pay-as-you-go specs in use: `DescribeBillingSpecsPrice`.

The API prices a list of specs (`SpecsParam`: `SpecName`, `SpecCount`) in one call and answers in fen
(1/100 yuan): `TotalCost` the list price and `RealTotalCost` after the account's discount, for the count
asked; pay-as-you-go specs are priced per hour. Each spec is asked with `SpecCount` 1, so a price is one
unit's (1,234 fen → 12.34 yuan an hour); an answer priced for another count is divided by it.

Only specs paid by the hour have a price here: what pay-as-you-go (`POSTPAID_BY_HOUR`) services, training
tasks and notebooks run on, and the pay-as-you-go part of a hybrid service (`HYBRID_PAID`). Resource
groups are paid in advance (`PREPAID`) and have no hourly price. The distinct specs are asked in batches
of `BATCH`, one call each, one after the other through the shared client and token bucket.

`source(client, interval)` is the secondary source (`--prices.interval`): it runs after the listing and the
holder sources, prices what they found in use, and stores the prices under `PRICES`, sorted by spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from exporter.tencentcloud.client import TencentCloudClient
from exporter.tione.holder_records import Notebook, SpecPrice, SpecsPriceBody, TrainingTask
from exporter.tione.holders import NOTEBOOKS_OF, TASKS_OF
from exporter.tione.paging import Params, call_parsed, each, malformed
from exporter.tione.records import ServiceGroup
from exporter.tione.snapshot import RegionSnapshot, ResultKey
from exporter.tione.source import Sink, Source

ACTION = "DescribeBillingSpecsPrice"
BATCH = 20
"""Specs priced by one call. The API documents batches but no limit; 20 keeps each request small and a
fleet of a few hundred distinct specs (far more than the catalogue has) within a few calls."""
PAY_AS_YOU_GO: frozenset[str] = frozenset({"POSTPAID_BY_HOUR", "HYBRID_PAID"})
"""Charge types with replicas or instances paid by the hour."""
FEN_PER_YUAN = 100


@dataclass(frozen=True, slots=True)
class HourlyPrice:
    """One unit of a spec for an hour, in yuan (None when the answer does not say)."""

    spec: str
    list_yuan: float | None
    discounted_yuan: float | None


def yuan(fen: int | None, count: int | None = 1) -> float | None:
    """Fen for `count` units as yuan for one (1234 → 12.34); None for no figure or a count below 1."""
    if fen is None or count is None or count < 1:
        return None
    return fen / count / FEN_PER_YUAN


def hourly_price(price: SpecPrice) -> HourlyPrice | None:
    """The price of one unit, or None for an entry without a spec name."""
    if not price.spec_name:
        return None
    count = 1 if price.spec_count is None else price.spec_count
    return HourlyPrice(price.spec_name, yuan(price.total_cost, count), yuan(price.real_total_cost, count))


def pay_as_you_go_specs(pairs: Iterable[tuple[str | None, str | None]]) -> tuple[str, ...]:
    """The distinct spec names, sorted, of the (charge type, spec) pairs paid by the hour."""
    return tuple(sorted({spec for charge, spec in pairs if spec and charge in PAY_AS_YOU_GO}))


def task_specs(task: TrainingTask) -> list[tuple[str | None, str | None]]:
    return [(task.charge_type, role.instance_type) for role in task.resource_config_infos or ()]


def notebook_specs(notebook: Notebook) -> list[tuple[str | None, str | None]]:
    conf = notebook.resource_conf
    return [(notebook.charge_type, conf.instance_type if conf is not None else None)]


def service_specs(group: ServiceGroup) -> list[tuple[str | None, str | None]]:
    return [
        (service.charge_type, service.service_info.instance_type if service.service_info is not None else None)
        for service in group.services or ()
    ]


def specs_in_use(
    groups: Iterable[ServiceGroup], tasks: Iterable[TrainingTask], notebooks: Iterable[Notebook]
) -> tuple[str, ...]:
    """Every pay-as-you-go spec the services, training tasks and notebooks of a region run on."""
    pairs: list[tuple[str | None, str | None]] = []
    for group in groups:
        pairs += service_specs(group)
    for task in tasks:
        pairs += task_specs(task)
    for notebook in notebooks:
        pairs += notebook_specs(notebook)
    return pay_as_you_go_specs(pairs)


def batches(specs: Sequence[str], size: int = BATCH) -> list[tuple[str, ...]]:
    """`specs` in consecutive batches of at most `size`."""
    return [tuple(specs[start : start + size]) for start in range(0, len(specs), size)]


def request(batch: Sequence[str]) -> Params:
    """One call's body: each spec once, one unit each."""
    return {"SpecsParam": [{"SpecName": spec, "SpecCount": 1} for spec in batch]}


_ANSWER = msgspec.json.Decoder(SpecsPriceBody, strict=False)


def decode(content: bytes) -> list[HourlyPrice] | None:
    """The prices of a whole answer in one pass; None when anything does not fit (or it is an error)."""
    try:
        answer = _ANSWER.decode(content).response
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    if answer.error is not None:
        return None
    return [price for item in answer.specs_price or () if (price := hourly_price(item)) is not None]


def parse(region: str, answer: dict[str, Any]) -> list[HourlyPrice]:
    """The untyped path: each entry that fits; the answer is malformed only when `SpecsPrice` is no list."""
    raw = answer.get("SpecsPrice")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise malformed(ACTION, region, answer, "does not fit the model at SpecsPrice: not a list")
    found: list[HourlyPrice] = []
    for item in raw:
        try:
            price = hourly_price(msgspec.convert(item, SpecPrice, strict=False))
        except msgspec.ValidationError:
            continue
        if price is not None:
            found.append(price)
    return found


async def read_prices(
    client: TencentCloudClient, region: str, specs: Sequence[str], *, deadline: float
) -> dict[str, HourlyPrice]:
    """The hourly price of each of `specs` the API prices, by spec name; one call per batch, in turn.

    A spec the answer does not name has no price; a failed call is raised."""

    async def one(batch: tuple[str, ...]) -> list[HourlyPrice]:
        return await call_parsed(client, ACTION, region, request(batch), parse, deadline=deadline, typed=decode)

    wanted = set(specs)
    found = await each(one, batches(specs), workers=1)
    return {price.spec: price for prices in found for price in prices if price.spec in wanted}


PRICES: ResultKey[tuple[HourlyPrice, ...]] = ResultKey(ACTION, ())
"""The hourly prices of the pay-as-you-go specs in use, sorted by spec; read by the price family."""


def source(client: TencentCloudClient, interval: float) -> Source[tuple[HourlyPrice, ...]]:
    """The prices source, every `interval` seconds per region: the specs the snapshot's services, training
    tasks and notebooks run on (those of the holder sources' last results), priced in batches."""

    async def fetch(region: str, snapshot: RegionSnapshot, deadline: float, sink: Sink) -> tuple[HourlyPrice, ...]:
        specs = specs_in_use(snapshot.groups, TASKS_OF.of(snapshot).items, NOTEBOOKS_OF.of(snapshot).items)
        if not specs:
            return ()
        found = await read_prices(client, region, specs, deadline=deadline)
        return tuple(found[spec] for spec in sorted(found))

    async def probe(region: str, deadline: float) -> str:
        await call_parsed(client, ACTION, region, request(()), parse, deadline=deadline)
        return f"{ACTION} permitted"

    return Source(ACTION, fetch, PRICES.stored, empty=(), probe=probe, interval=interval, without="no prices")
