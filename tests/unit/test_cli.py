"""Command-line parsing, help, version, and the exit codes of problems found before anything runs."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import __version__, app, cli
from exporter.cli import UsageError, help_text, main, parse_args
from exporter.config import OPTIONS, unknown_environment
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


@pytest.mark.parametrize("command", ["check", "once"])
def test_check_and_once_have_their_own_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out == help_text(command) + "\n"
    assert out != help_text() + "\n"
    assert out.startswith(f"usage: tione-exporter {command} ")
    for option in OPTIONS:
        if option.flag:
            assert f"  {option.flag} {option.metavar}\n" in out


def test_the_general_help_names_every_exit_code() -> None:
    text = help_text()
    for code in ("0 ok", "1 a region failed", "run cannot listen", "2 bad configuration", "141 standard output"):
        assert code in text.replace("\n", " ")


def test_unknown_exporter_variables_are_named_with_a_suggestion_and_never_their_value() -> None:
    secret = "AKID-looks-like-a-secret"
    warnings = unknown_environment(
        {
            "TIONE_EXPORTER_POLL_INTERVALL": secret,
            "TIONE_EXPORTER_WEB_LISTEN_ADRESS": secret,
            "TIONE_EXPORTER_ZZZ": secret,
            "TIONE_EXPORTER_METRICS_INCLUDE": secret,
            "TIONE_EXPORTER_POLL_INTERVAL": "1m",  # known: no warning
            "OTHER_TOOL_POLL_INTERVALL": secret,  # not ours: no warning
        }
    )
    assert warnings == [
        "environment variable TIONE_EXPORTER_METRICS_INCLUDE is ignored: metrics.include is set in the "
        "--config.file only",
        "unknown environment variable TIONE_EXPORTER_POLL_INTERVALL is ignored "
        "(did you mean TIONE_EXPORTER_POLL_INTERVAL?)",
        "unknown environment variable TIONE_EXPORTER_WEB_LISTEN_ADRESS is ignored "
        "(did you mean TIONE_EXPORTER_WEB_LISTEN_ADDRESS?)",
        "unknown environment variable TIONE_EXPORTER_ZZZ is ignored",
    ]
    assert not any(secret in warning for warning in warnings)


def test_every_known_variable_passes_without_a_warning() -> None:
    assert unknown_environment({option.env: "x" for option in OPTIONS if option.env}) == []


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def on_request(self, region: str, action: str) -> None:
        self.calls.append(("request", (region, action)))

    def on_error(self, region: str, action: str, code: str) -> None:
        self.calls.append(("error", (region, action, code)))

    def on_retry(self, region: str, action: str) -> None:
        self.calls.append(("retry", (region, action)))

    def on_duration(self, action: str, seconds: float) -> None:
        self.calls.append(("duration", (action, seconds)))

    def on_throttle_wait(self, seconds: float) -> None:
        self.calls.append(("throttle", (seconds,)))


def test_retry_progress_logs_each_retry_and_passes_every_hook_on(caplog: pytest.LogCaptureFixture) -> None:
    inner = Recorder()
    progress = app.RetryProgress(inner)
    with caplog.at_level(logging.INFO, logger="exporter"):
        progress.on_request("ap-guangzhou", "DescribeWorkspaces")
        progress.on_error("ap-guangzhou", "DescribeWorkspaces", "NetworkError")
        progress.on_retry("ap-guangzhou", "DescribeWorkspaces")
        progress.on_error("ap-guangzhou", "DescribeWorkspaces", "Timeout")
        progress.on_retry("ap-guangzhou", "DescribeWorkspaces")
        progress.on_duration("DescribeWorkspaces", 0.5)
        progress.on_throttle_wait(0.25)
    assert [kind for kind, _ in inner.calls] == ["request", "error", "retry", "error", "retry", "duration", "throttle"]
    retries = [(r.getMessage(), r.code, r.retry) for r in caplog.records if r.getMessage() == "retrying"]  # type: ignore[attr-defined]
    assert retries == [("retrying", "NetworkError", 1), ("retrying", "Timeout", 2)]
