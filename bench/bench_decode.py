"""What a poll's CPU goes to once the answers are in: decoding the pages, the catalogue, and the cyclic GC.

The answers are the simulator's pages (one region, 100 groups a page, as the listing asks for them),
serialized once; each run then does what a poll does with them, against the time `json.loads` alone
takes over the same bytes (the floor any typed decoding is compared with):

- decode, three ways: `json.loads` (untyped, the reference); the pydantic models as polls read them
  before (`json.loads`, then each group validated into the full models, the collector paused per page);
  the records read in one pass from the bytes (`typed_page`), and the per-object path a page that does
  not fit takes (`parse_page`, for scale);
- the catalogue and the status page's rows (`attention_rows`): before, `collect_region` over the whole
  region after the listing; after, as the poller does it, each page formatted as it is decoded
  (`RegionStream.service_groups`) and a merge after the last answer (`finish`);
- the cyclic collector's own time during the poll (measured with `gc.callbacks`), with the collector
  left on, and off for the whole poll (`poll_gc_paused`).

The previous poll's groups stay alive while the next is decoded, as in the exporter, so the oldest
generation holds a fleet when it is collected. Times are process CPU, best of `--repeat`.

    python -m bench.bench_decode [--services 1000,10000] [--repeat 3] [--max-ratio 4] [--everything]

Fails when a poll (decode + catalogue + GC) of the largest size takes more than `--max-ratio` times
`json.loads`. Results are recorded in docs/performance.md ("Decoding").
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from exporter.metrics.attention import attention_rows
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import collect_region
from exporter.metrics.stream import RegionStream
from exporter.simulator import Simulator, SimulatorConfig
from exporter.tencentcloud.gcpause import paused_gc
from exporter.tione.listing import LIMIT, parse_page, typed_page
from exporter.tione.snapshot import RegionSnapshot
from tests import api_models as models
from tests import render_helpers as rendered

T = TypeVar("T")
REGION = "ap-guangzhou"
OPTIONS = RenderOptions()
SERVICES_PER_GROUP = 1.54
"""The simulator's average, so that a size asked for is about the services made."""


def pages(services: int) -> tuple[list[bytes], int]:
    """The simulator's fleet of about `services` services as answer bodies of `LIMIT` groups each."""
    groups = max(1, round(services / SERVICES_PER_GROUP))
    simulator = Simulator(SimulatorConfig(groups=groups, regions=(REGION,), churn=False, seed=12))
    groups = simulator.fleet(REGION)
    bodies = []
    for start in range(0, len(groups), LIMIT):
        answer = {"TotalCount": len(groups), "ServiceGroups": groups[start : start + LIMIT], "RequestId": "r"}
        bodies.append(json.dumps({"Response": answer}, ensure_ascii=False).encode())
    return bodies, sum(len(group["Services"]) for group in groups)


def untyped(bodies: list[bytes]) -> list[Any]:
    """The reference: `json.loads` alone, the collector off (its own cost, not the collections it triggers)."""
    with paused_gc():
        return [json.loads(body) for body in bodies]


def pydantic_models(bodies: list[bytes]) -> list[models.ServiceGroup]:
    """The decoding polls did before: `json.loads`, then every group into the full pydantic models."""
    groups = []
    for body in bodies:
        with paused_gc():
            answer = json.loads(body)["Response"]
            groups += [models.ServiceGroup.model_validate(item) for item in answer["ServiceGroups"]]
    return groups


def records(bodies: list[bytes]) -> list[Any]:
    groups = []
    for body in bodies:
        page = typed_page(body)
        assert page is not None
        groups += page.groups
    return groups


def per_object(bodies: list[bytes]) -> list[Any]:
    """The path of a page that does not fit: `json.loads`, then group by group."""
    return [group for body in bodies for group in parse_page(REGION, json.loads(body)["Response"]).groups]


class GcClock:
    """The cyclic collector's time, from its start and stop callbacks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started
            self.collections += 1


@contextmanager
def gc_clock() -> Iterator[GcClock]:
    clock = GcClock()
    gc.callbacks.append(clock)
    try:
        yield clock
    finally:
        gc.callbacks.remove(clock)


def cpu(action: Callable[[], T]) -> tuple[float, T]:
    started = time.process_time()
    result = action()
    return time.process_time() - started, result


def poll(bodies: list[bytes], decode: Callable[[list[bytes]], list[Any]]) -> dict[str, float]:
    """One poll's work after the answers: decode, catalogue and status rows; CPU of each and of the GC."""
    with gc_clock() as clock:
        decode_seconds, groups = cpu(lambda: decode(bodies))
        snapshot = RegionSnapshot(REGION, tuple(groups))
        collect_seconds, _ = cpu(lambda: (collect_region(snapshot, OPTIONS), attention_rows(snapshot)))
    return {
        "decode": decode_seconds,
        "collect": collect_seconds,
        "gc": clock.seconds,
        "total": decode_seconds + collect_seconds,
    }


def streamed(bodies: list[bytes]) -> dict[str, float]:
    """A poll as the exporter runs it: each page decoded and formatted as it arrives (`RegionStream`), then
    the merge and the status rows after the last answer ("merge")."""
    with gc_clock() as clock:
        stream = RegionStream(REGION, OPTIONS)
        groups: list[Any] = []
        decode_seconds = format_seconds = 0.0
        for body in bodies:
            seconds, page = cpu(lambda body=body: typed_page(body))
            assert page is not None
            decode_seconds += seconds
            format_seconds += cpu(lambda page=page: stream.service_groups(page.groups, ""))[0]
            groups += page.groups
        snapshot = RegionSnapshot(REGION, tuple(groups))
        merge_seconds, (samples, _) = cpu(lambda: (stream.finish(snapshot), attention_rows(snapshot)))
        assert samples is not None
    return {
        "decode": decode_seconds,
        "collect": format_seconds + merge_seconds,
        "merge": merge_seconds,
        "gc": clock.seconds,
        "total": decode_seconds + format_seconds + merge_seconds,
    }


def best(repeat: int, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    results = [run() for _ in range(repeat)]
    return min(results, key=lambda result: result["total"])


def retained(decode: Callable[[list[bytes]], list[Any]], bodies: list[bytes]) -> int:
    """Bytes the decoded groups hold (tracemalloc), what a poll keeps until the region is rendered."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    groups = decode(bodies)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del groups
    return held


def split(result: dict[str, float]) -> str:
    parts = (result["decode"], result["collect"], result["gc"], result["total"])
    return " / ".join(f"{seconds:.2f}" for seconds in parts) + " s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-ratio", type=float, default=4.0)
    parser.add_argument(
        "--everything", action="store_true", help="every family in full (default: the default selection)"
    )
    args = parser.parse_args(argv)
    global OPTIONS  # noqa: PLW0603 - the selection every measurement of this run renders
    OPTIONS = rendered.everything() if args.everything else RenderOptions()

    selection = "every family in full" if args.everything else "the default selection"
    print(
        f"python {platform.python_version()} on {platform.machine()}; {selection}; CPU seconds, best of {args.repeat}"
    )
    print(
        "| services | answers | json.loads | per-object path | before: decode / collect / GC / poll "
        "| after: decode / collect / GC / poll | after the last answer | after / json.loads "
        "| held per service before / after |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratio = 0.0
    modes: dict[int, dict[str, dict[str, float]]] = {}
    for size in (int(part) for part in args.services.split(",")):
        bodies, services = pages(size)
        megabytes = sum(len(body) for body in bodies) / 1e6
        loads = min(cpu(lambda bodies=bodies: untyped(bodies))[0] for _ in range(args.repeat))
        slow = min(cpu(lambda bodies=bodies: per_object(bodies))[0] for _ in range(args.repeat))
        previous = pydantic_models(bodies)  # the last poll's groups, alive while the next one runs
        before = best(args.repeat, lambda bodies=bodies: poll(bodies, pydantic_models))
        previous = records(bodies)

        def whole(bodies: list[bytes] = bodies) -> dict[str, float]:
            with paused_gc():
                return poll(bodies, records)

        def after(bodies: list[bytes] = bodies) -> dict[str, float]:
            with paused_gc():
                return streamed(bodies)

        now = best(args.repeat, after)

        def frozen(bodies: list[bytes] = bodies) -> dict[str, float]:
            gc.freeze()  # everything alive now, the previous poll's groups included, out of the collector's walks
            try:
                return poll(bodies, records)
            finally:
                gc.unfreeze()

        modes[size] = {
            "collector on (pauses per page only)": best(args.repeat, lambda bodies=bodies: poll(bodies, records)),
            "gc.freeze() before the poll": best(args.repeat, frozen),
            "collector off for the whole poll": best(args.repeat, whole),
        }
        del previous
        held_before, held_after = retained(pydantic_models, bodies), retained(records, bodies)
        ratio = now["total"] / loads
        print(
            f"| {services:,} | {megabytes:.1f} MB | {loads:.3f} s | {slow:.3f} s | {split(before)} | {split(now)} "
            f"| {now['merge']:.2f} s | {ratio:.1f}x "
            f"| {held_before / services / 1024:.1f} / {held_after / services / 1024:.1f} KB |"
        )
    print()
    print("The collector during a poll with the records (poll CPU, of which GC):")
    print("| services | " + " | ".join(next(iter(modes.values()))) + " |")
    print("|---:|" + "---:|" * len(next(iter(modes.values()))))
    for size, results in modes.items():
        cells = " | ".join(f"{result['total']:.2f} s ({result['gc']:.2f} s)" for result in results.values())
        print(f"| ~{size:,} | {cells} |")
    if ratio > args.max_ratio:
        print(f"FAIL: a poll takes {ratio:.1f} times json.loads, more than {args.max_ratio:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
