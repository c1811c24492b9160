"""Command-line entry point: `run` (default), `check`, `once`, `simulate`, `--demo`, `--help`, `--version`.

This module parses the command line and hands over to the commands in `exporter.app`. Exit codes are
part of the interface (`exporter.console`). Whatever goes wrong, the user gets short lines naming the
problem, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from exporter import __version__
from exporter.app import once_command, run_command
from exporter.check import check_command
from exporter.config import FLAG_OPTIONS, OPTIONS, load_settings, unknown_environment
from exporter.console import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_OUTPUT_CLOSED,
    PROG,
    ConfigError,
    print_problems,
)
from exporter.logs import setup_logging
from exporter.metrics.exposition import FORMATS
from exporter.tencentcloud.chain import default_chain
from exporter.tione.listing import FILTER_NAMES

log = logging.getLogger("exporter")

COMMANDS = ("run", "check", "once", "simulate")


class UsageError(Exception):
    """The command line itself is wrong (unknown command or flag, missing value)."""


@dataclass
class Invocation:
    """The command line, parsed but not yet validated against the settings model."""

    command: str = "run"
    flags: dict[str, str] = field(default_factory=dict)
    demo: bool = False
    output_format: str = "text"
    help: bool = False
    version: bool = False


def parse_args(args: Sequence[str]) -> Invocation:
    """Split `[command] [--flag value | --flag=value]...`; values are checked later, by the settings."""
    invocation = Invocation()
    rest = list(args)
    if rest and not rest[0].startswith("-"):
        command = rest.pop(0)
        if command not in COMMANDS:
            raise UsageError(f"unknown command {_hint(command, COMMANDS)}")
        invocation.command = command
    while rest:
        arg = rest.pop(0)
        name, has_value, value = arg.partition("=")
        if arg in ("-h", "--help"):
            invocation.help = True
        elif arg == "--version":
            invocation.version = True
        elif arg == "--demo":
            if invocation.command != "run":
                raise UsageError(f"--demo works only with the run command, not {invocation.command}")
            invocation.demo = True
        elif name == "--format":
            if invocation.command != "once":
                raise UsageError("--format works only with the once command")
            value = value if has_value else _value_of(name, rest)
            if value not in FORMATS:
                raise UsageError(f'--format: must be one of {", ".join(FORMATS)}, not "{value}"')
            invocation.output_format = value
        elif name in FLAG_OPTIONS:
            invocation.flags[name] = value if has_value else _value_of(name, rest)
        elif arg.startswith("-"):
            raise UsageError(
                f"unknown flag {_hint(name, [*FLAG_OPTIONS, '--demo', '--format', '--help', '--version'])}"
            )
        else:
            raise UsageError(f'unexpected argument "{arg}" (flags go as --name value; see --help)')
    return invocation


def _value_of(name: str, rest: list[str]) -> str:
    if not rest or (rest[0].startswith("--") and rest[0].split("=", 1)[0] in FLAG_OPTIONS):
        raise UsageError(f"{name}: needs a value")
    return rest.pop(0)


def _hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f'"{name}"' + (f' (did you mean "{close[0]}"?)' if close else "")


EXIT_CODES = "exit codes: 0 ok, 1 a region failed, 2 bad configuration, 141 standard output closed early"
"""The exit codes `check` and `once` share; `run` has its own line in `help_text`."""

COMMAND_HELP: dict[str, tuple[str, ...]] = {
    "check": (
        f"usage: {PROG} check [flags]",
        "",
        "Validate the configuration, resolve the credentials and make one cheap call of each API action in",
        "each region (retrying for up to 15s); print one line per region: ok with what was found, or what failed.",
        "",
        EXIT_CODES,
    ),
    "once": (
        f"usage: {PROG} once [--format text|openmetrics] [flags]",
        "",
        "Poll every region once (every source, whatever its interval) and print the metrics to standard",
        "output; the log goes to standard error.",
        "",
        EXIT_CODES,
        "",
        "  --format text|openmetrics",
        "      exposition format (default text)",
    ),
}
"""What `check --help` and `once --help` say before the flags they share with `run`."""


def help_text(command: str = "run") -> str:
    """The `--help` text of `command` (`run`: the general help), from the same option table as the settings."""
    if command in COMMAND_HELP:
        return "\n".join([*COMMAND_HELP[command], "", "flags (the same as for run; see --help):", *_flag_lines()])
    lines = [
        f"usage: {PROG} [run|check|once|simulate] [flags]",
        "",
        "Prometheus exporter for Tencent Cloud TI-ONE online inference services.",
        "",
        "commands (each has its own --help):",
        "  run        poll and serve metrics until SIGTERM/SIGINT (the default)",
        "  check      validate the configuration, resolve credentials, call the API once per region",
        "  once       poll every region once and print the metrics to standard output",
        "  simulate   serve a simulated TI-ONE API",
        "",
        "flags (each also an environment variable; settings can also come from a YAML file):",
        *_flag_lines(),
        "  --demo",
        "      run against an embedded simulated TI-ONE fleet on loopback (no account needed)",
        "  --format text|openmetrics",
        "      exposition format printed by once (default text)",
        "  --help, --version",
        "",
        "YAML-only settings:",
    ]
    for option in OPTIONS:
        if option.flag is None and option.key is not None:
            lines.append(f"  {option.key}: {option.help}")
    lines += [
        "",
        "Credentials come from TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY / TENCENTCLOUD_SECURITY_TOKEN",
        "(or their *_FILE variants), the credentials file, TKE workload identity or the CVM role; never a flag.",
        f"Filter names: {', '.join(FILTER_NAMES)}.",
        "",
        "exit codes: 0 ok (run: stopped by a signal), 1 a region failed (check, once) or run cannot listen on its",
        "address or stopped unexpectedly, 2 bad configuration, 141 standard output closed early (`| head`)",
    ]
    return "\n".join(lines)


def _flag_lines() -> list[str]:
    lines = []
    for option in OPTIONS:
        if option.flag is None:
            continue
        lines.append(f"  {option.flag} {option.metavar}")
        lines.append(f"      {option.help}")
        lines.append(f"      env {option.env}; default {option.default}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["simulate"]:
        from exporter.simulator.command import main as simulate  # noqa: PLC0415 - only this command needs it

        return simulate(args[1:])
    try:
        code = _main(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, rather than at the interpreter's exit
        return code
    except BrokenPipeError:
        return _output_closed()
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as error:  # the last line of defence: one line, no traceback
        print(f"{PROG}: unexpected error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED


def _output_closed() -> int:
    """Standard output's reader went away (`--help | head`): end quietly, as `cat` would, with 128 + SIGPIPE.

    Standard output is pointed at /dev/null first, so that the interpreter's last flush finds nowhere to fail.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_OUTPUT_CLOSED


def _main(args: list[str]) -> int:
    try:
        invocation = parse_args(args)
    except UsageError as error:
        print_problems([str(error), f"run '{PROG} --help' for usage"])
        return EXIT_CONFIG
    if invocation.help:
        print(help_text(invocation.command))
        return EXIT_OK
    if invocation.version:
        print(f"{PROG} {__version__}")
        return EXIT_OK
    if invocation.demo:
        from exporter.demo import run_demo  # noqa: PLC0415 - the demo pulls in the simulator

        return run_demo(invocation.flags)
    try:
        settings = load_settings(invocation.flags)
    except ConfigError as error:
        print_problems(error.problems)
        return EXIT_CONFIG
    setup_logging(settings.log.level, settings.log.format)
    for warning in [*settings.warnings(), *unknown_environment(os.environ)]:
        log.warning(warning)
    credentials = default_chain()
    if invocation.command == "check":
        return asyncio.run(check_command(settings, credentials))
    if invocation.command == "once":
        return asyncio.run(once_command(settings, credentials, FORMATS[invocation.output_format]))
    return asyncio.run(run_command(settings, credentials))
