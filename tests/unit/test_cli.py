"""Command-line parsing, help, version, and the exit codes of problems found before anything runs."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import __version__, app, cli
from exporter.cli import UsageError, help_text, main, parse_args
from exporter.config import OPTIONS
from exporter.logs import HANDLER_NAME
from exporter.metrics.self import SelfMetrics
from exporter.tencentcloud.credentials import Credentials, StaticProvider


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No settings from the developer's environment; and the log handler `main` installs is removed after."""
    for name in list(os.environ):
        if name.startswith(("TIONE_EXPORTER_", "TENCENTCLOUD_")):
            monkeypatch.delenv(name)
    touched = [
        logging.getLogger(name) for name in ("", "httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access")
    ]
    levels = [logger.level for logger in touched]
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
    for logger, level in zip(touched, levels, strict=True):
        logger.setLevel(level)


def test_default_command_is_run() -> None:
    invocation = parse_args(["--poll.interval", "1m", "--log.level=debug"])
    assert invocation.command == "run"
    assert invocation.flags == {"--poll.interval": "1m", "--log.level": "debug"}
    assert not invocation.demo


def test_commands_and_their_options() -> None:
    assert parse_args(["check"]).command == "check"
    once = parse_args(["once", "--format", "openmetrics", "--tione.regions", "ap-guangzhou"])
    assert (once.command, once.output_format, once.flags) == (
        "once",
        "openmetrics",
        {"--tione.regions": "ap-guangzhou"},
    )
    assert parse_args(["once", "--format=text"]).output_format == "text"
    assert parse_args(["--demo"]).demo
    assert parse_args(["run", "--demo", "--web.listen-address", ":0"]).flags == {"--web.listen-address": ":0"}


def test_the_last_of_a_repeated_flag_wins() -> None:
    assert parse_args(["--log.level", "info", "--log.level", "warn"]).flags == {"--log.level": "warn"}


def test_a_flag_value_may_start_with_a_dash() -> None:
    assert parse_args(["--web.telemetry-path", "-x"]).flags == {"--web.telemetry-path": "-x"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve"], 'unknown command "serve"'),
        (["chek"], 'unknown command "chek" (did you mean "check"?)'),
        (["--poll.intervall", "1m"], 'unknown flag "--poll.intervall" (did you mean "--poll.interval"?)'),
        (["--poll.interval"], "--poll.interval: needs a value"),
        (["--poll.interval", "--log.level", "info"], "--poll.interval: needs a value"),
        (["run", "extra"], 'unexpected argument "extra"'),
        (["check", "--demo"], "--demo works only with the run command, not check"),
        (["--format", "text"], "--format works only with the once command"),
        (["once", "--format", "xml"], '--format: must be one of text, openmetrics, not "xml"'),
        (["--secret-key", "x"], 'unknown flag "--secret-key"'),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_args(args)
    assert str(caught.value).startswith(message)


def test_help_lists_every_flag_with_its_environment_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out == help_text() + "\n"
    for option in OPTIONS:
        if option.flag:
            assert option.flag in out
            assert option.env is not None and option.env in out
        elif option.key:
            assert option.key in out
    for command in ("run", "check", "once", "simulate", "--demo"):
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"tione-exporter {__version__}\n"


def test_usage_error_exits_2_with_one_line_and_a_pointer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bogus"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ['tione-exporter: unknown flag "--bogus"', "tione-exporter: run 'tione-exporter --help' for usage"]


@pytest.mark.parametrize("command", ["run", "check", "once"])
def test_bad_configuration_exits_2_with_one_line_per_problem(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIONE_EXPORTER_LOG_FORMAT", "xml")
    assert main([command, "--poll.interval", "5x", "--tione.regions", "ap-guangzhou"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        'tione-exporter: --poll.interval: invalid duration "5x"',
        'tione-exporter: TIONE_EXPORTER_LOG_FORMAT: must be one of logfmt, json, not "xml"',
    ]


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_broken_web_config_file_exits_2(command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
    code = main([command, "--tione.regions", "ap-guangzhou", "--web.config.file", str(path)])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"tione-exporter: --web.config.file {path}: tls_server_config.cert_file: no such file {tmp_path}/missing.crt",
        f"tione-exporter: --web.config.file {path}: tls_server_config.key_file: no such file {tmp_path}/missing.key",
    ]


def test_an_unexpected_error_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something odd")

    monkeypatch.setattr(cli, "load_settings", explode)
    assert main(["once", "--tione.regions", "ap-guangzhou"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "tione-exporter: unexpected error: RuntimeError: something odd\n"
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(("rate", "burst"), [("10", 2), ("20", 2), ("1", 1), ("0.5", 1)])
def test_the_token_bucket_is_shallow_so_a_poll_never_opens_above_the_rate(rate: str, burst: int) -> None:
    """A bucket as deep as its rate would let every poll start at twice the configured rate."""
    settings = cli.load_settings({"--tione.regions": "ap-guangzhou", "--api.rate-limit": rate}, {})
    client = app.make_client(settings, StaticProvider(Credentials("AKIDx", "key")), SelfMetrics(["ap-guangzhou"]))
    assert client.rate_limiter.burst == burst
    assert client.rate_limiter.rate == float(rate)
