"""The soak of `bench/soak.py`, shortened for CI: 75 polls of each of two regions of a churning fleet at
500 ms while two scrapers ask for every answer the exporter gives, from the real command over loopback.

Short as it is, a leak per poll or per scrape of more than a few kilobytes shows: memory, descriptors
and threads are measured from `/proc` after a warm-up of a third of the polls. The bound on memory is
wider than the full soak's 10 % because a short run has less time to settle (the full run's result is
in docs/performance.md, "Soak").
"""

from __future__ import annotations

import sys

import pytest

from bench.soak import REGIONS, soak, summary
from exporter.app import THREAD_CEILING

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

POLLS = 75
MAX_GROWTH = 0.15


def test_a_short_soak_keeps_memory_descriptors_and_threads_flat_and_every_poll_succeeds() -> None:
    result = soak(POLLS, interval=0.5, groups=8, scrapers=2, warmup=1 / 3, sample_every=1.0, max_growth=MAX_GROWTH)
    report = summary(result)
    assert not result.died and result.exit_code == 0, report
    assert all(result.polls[region] >= POLLS for region in REGIONS), report
    assert all(result.poll_errors[region] == 0 for region in REGIONS), report
    assert result.scrape_failures == {} and sum(result.scrapes.values()) > 10 * POLLS, report
    assert len(result.after_warmup) >= 10, report
    assert result.growth(result.end_rss_kib) <= MAX_GROWTH, report
    assert max(s.fds for s in result.after_warmup) <= result.warm.fds + 4, report
    assert max(s.threads for s in result.after_warmup) <= THREAD_CEILING, report
    assert result.failures == [], report
