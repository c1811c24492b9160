"""The shortened decoding benchmark, run with the tests: a poll's CPU over 1,000 services must stay within
four times `json.loads` over the same answers (a ratio within one run, never an absolute time)."""

from __future__ import annotations

import pytest

from bench import bench_decode


def test_a_poll_stays_within_four_times_json_loads(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_decode.main(["--services", "1000", "--repeat", "3", "--max-ratio", "4"]) == 0, capsys.readouterr()
    table = capsys.readouterr().out
    assert "| 983 |" in table, table
