"""The collector's pause is one for the whole process: counted, so that overlapping polls (tasks or
threads) keep it off until the last ends, and bounded, so that they cannot starve it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from exporter.tencentcloud import gcpause
from exporter.tencentcloud.gcpause import pause_depth, paused_gc


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    assert pause_depth() == 0
    if not was:
        gc.disable()


def test_the_collector_is_off_inside_and_back_on_after() -> None:
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_keep_it_off_until_the_last_ends() -> None:
    first, second = paused_gc(), paused_gc()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first poll ends while the second runs
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_off_stays_off() -> None:
    gc.disable()
    with paused_gc(), paused_gc():
        pass
    assert not gc.isenabled()


def test_an_error_inside_still_ends_the_pause() -> None:
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("poll failed")
    assert gc.isenabled() and pause_depth() == 0


def test_threads_pausing_at_once_leave_it_as_found() -> None:
    start = threading.Barrier(8)

    def poll() -> None:
        start.wait()
        for _ in range(200):
            with paused_gc():
                assert not gc.isenabled()

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gc.isenabled()


def test_pauses_that_never_all_end_still_let_a_collection_run(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    collections: list[int] = []
    monkeypatch.setattr(gcpause.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(gcpause.gc, "collect", lambda: collections.append(1) or 0)
    outer = paused_gc()
    outer.__enter__()
    with paused_gc():
        now[0] += gcpause.MAX_PAUSE_SECONDS / 2
    assert collections == [], "not overdue yet"
    with paused_gc():
        now[0] += gcpause.MAX_PAUSE_SECONDS
    assert collections == [1]
    with paused_gc():
        now[0] += 1
    assert collections == [1], "the clock starts over after a collection"
    outer.__exit__(None, None, None)
    assert gc.isenabled()
