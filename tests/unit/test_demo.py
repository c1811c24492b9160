"""`--demo` refuses the flags it would have to override instead of ignoring them, and says what it ignores."""

from __future__ import annotations

import pytest

from exporter.console import EXIT_CONFIG
from exporter.demo import OVERRIDDEN_FLAGS, ignored_environment, refused_flags, run_demo


@pytest.mark.parametrize("flag", sorted(OVERRIDDEN_FLAGS))
def test_a_flag_the_demo_overrides_is_refused_with_a_message(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo({flag: "x", "--web.listen-address": "127.0.0.1:0"}, environ={}) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"{flag} cannot be used with --demo" in err
    assert "demo: simulated TI-ONE API" not in capsys.readouterr().out  # nothing was started


def test_every_refused_flag_is_named_at_once() -> None:
    problems = refused_flags({"--tione.regions": "ap-beijing", "--config.file": "x.yml"})
    assert [problem.split(" ")[0] for problem in problems] == ["--tione.regions", "--config.file"]


def test_flags_it_can_honour_are_accepted() -> None:
    flags = {
        "--poll.interval": "2s",
        "--web.listen-address": ":0",
        "--log.level": "debug",
        "--events.max-services": "3",
    }
    assert refused_flags(flags) == []


def test_the_exporter_variables_it_does_not_read_are_named() -> None:
    environ = {"TIONE_EXPORTER_POLL_INTERVAL": "1m", "TIONE_EXPORTER_LOG_LEVEL": "", "HOME": "/root"}
    assert ignored_environment(environ) == ["TIONE_EXPORTER_POLL_INTERVAL"]
