"""The shortened fleet benchmark: 1,000 services, so that a regression in memory or poll CPU per service
fails CI rather than an OOM-kill in someone's cluster.

It runs `bench.bench_fleet.short_bench`: the simulated API in one process, the exporter's own poller in
another, polling over loopback. CPU is a ratio to untyped `json.loads` of the same answers in the same
process (a shared CI machine is too noisy for absolute times); memory is the bytes the poller holds after
a poll, traced by `tracemalloc` (exact, unlike resident memory). The limits are the targets of
docs/performance.md ("Fleet") scaled to 1,000 services, with room for noise; the full bench measures the
real sizes.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.bench_fleet import short_bench

SERVICES = 1000
MAX_CPU_RATIO = 8.0
"""Poll CPU over untyped `json.loads` of the same answers. At 1,000 services a poll's fixed costs (the
other sources' calls, HTTP, the self-metrics) weigh more than at 10,000, where the target is 4; measured
5.2 here (docs/performance.md), so this is half as much again for a noisy machine."""
MAX_HELD_PER_SERVICE = 8 * 1024
"""Bytes held per service after a poll: the exposition (lines and gzip form), the secondary sources' results,
caches; measured 4.5 KiB. The full selection would hold about three times as much."""
MAX_TEXT_PER_SERVICE = 6 * 1024
"""Uncompressed exposition bytes per service at the default selection; measured 3.9 KiB."""


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    measured = short_bench(SERVICES)
    assert "error" not in measured, measured.get("error")
    return measured


def test_poll_cpu_per_service_stays_within_its_ratio_to_json_loads(result: dict[str, Any]) -> None:
    ratio = result["poll_cpu"] / result["json_loads"]
    assert result["services"] >= SERVICES
    assert ratio <= MAX_CPU_RATIO, f"poll CPU is {ratio:.1f}x json.loads of the same answers ({result})"


def test_memory_held_per_service_stays_within_its_target(result: dict[str, Any]) -> None:
    held = result["held_bytes_per_service"]
    assert held > 1024, "the measurement saw the poll's results"
    assert held <= MAX_HELD_PER_SERVICE, f"{held:,.0f} bytes held per service ({result})"
    assert result["text_bytes_per_service"] <= MAX_TEXT_PER_SERVICE, result
