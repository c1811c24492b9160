"""Trimming the heap after a poll: it returns freed memory where glibc can, and is harmless elsewhere."""

from __future__ import annotations

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
