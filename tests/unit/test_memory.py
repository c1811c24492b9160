"""Trimming the heap after a poll: it returns freed memory where glibc can, and is harmless elsewhere."""

from __future__ import annotations

import logging
import platform
from pathlib import Path

import pytest

from exporter import memory


def resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_trim_returns_the_free_pages_between_live_objects() -> None:
    assert memory.can_trim()
    memory.trim()
    before = resident_kib()
    # Objects too large for Python's own small-object arenas come from malloc; keeping one in twenty
    # alive leaves the heap's pages free but not at its top, where free() alone would give them back.
    made = [bytes(600) + str(number).encode() for number in range(200_000)]
    kept = made[::20]
    del made
    freed_but_held = resident_kib() - before
    assert freed_but_held > 60_000, "free() alone gave the pages back: the test shows nothing"
    assert memory.trim()
    assert resident_kib() - before < freed_but_held / 2
    assert len(kept) == 10_000


def test_trim_without_malloc_trim_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_malloc_trim", None)
    assert memory.trim() is False
    assert not memory.can_trim()


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_lookup_finds_a_callable_malloc_trim_in_glibc() -> None:
    found = memory._find_malloc_trim()
    assert found is not None
    assert found(0) in (0, 1), "malloc_trim answers whether memory was returned, as an int"


def test_no_c_library_means_nothing_to_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: None)
    assert memory._find_malloc_trim() is None


def test_a_c_library_that_will_not_load_means_nothing_to_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(name: str) -> object:
        raise OSError(f"cannot load {name}")

    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: "libc.so.6")
    monkeypatch.setattr(memory.ctypes, "CDLL", refuse)
    assert memory._find_malloc_trim() is None


def test_a_c_library_without_malloc_trim_means_nothing_to_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: "libc.musl-x86_64.so.1")
    monkeypatch.setattr(memory.ctypes, "CDLL", lambda name: object())
    assert memory._find_malloc_trim() is None


def test_a_failed_call_keeps_the_memory_and_leaves_its_reason_at_debug(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(pad: int) -> int:
        raise OSError("exception: access violation")

    monkeypatch.setattr(memory, "_malloc_trim", fail)
    with caplog.at_level(logging.DEBUG, logger=memory.__name__):
        assert memory.trim() is False
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    assert "malloc_trim" in record.getMessage()
    assert record.exc_info is not None and "access violation" in str(record.exc_info[1])
