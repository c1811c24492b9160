"""Command-line entry point: `run` (default), `check`, `once`, `simulate`, `--demo`, `--help`, `--version`.

Exit codes are part of the interface: 0 success (and a clean stop on a signal), 1 a region failed or
something unexpected happened, 2 the configuration is wrong. Whatever goes wrong, the user gets short
lines naming the problem, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from exporter import __version__
from exporter.config import (
    FLAG_OPTIONS,
    OPTIONS,
    ConfigError,
    Settings,
    format_duration,
    listing_filters,
    load_settings,
)
from exporter.logs import redact, register_secrets, setup_logging
from exporter.metrics.reads import READ_FIELDS
from exporter.metrics.render import RenderOptions
from exporter.metrics.self import SelfMetrics
from exporter.poller import UNEXPECTED_ERROR, Poller, PollPlan
from exporter.tencentcloud.client import TencentCloudClient
from exporter.tencentcloud.credentials import CredentialProvider, Credentials, default_chain
from exporter.tencentcloud.errors import TencentCloudError
from exporter.tencentcloud.ratelimit import DEFAULT_BURST, TokenBucket
from exporter.tione.listing import ACTION, ListingQuery, parse_page
from exporter.tione.models import FILTER_NAMES
from exporter.web.page import PageContext
from exporter.web.server import ExporterApp, ListenError, WebServer, bind
from exporter.web.webconfig import BasicAuth, WebConfig, WebConfigError, load_web_config

log = logging.getLogger("exporter")

PROG = "tione-exporter"
COMMANDS = ("run", "check", "once", "simulate")
SERVICE = "tione"
API_VERSION = "2021-11-11"
STOP_SECONDS = 5.0
"""A stop signal ends the process within this many seconds (the interface's promise)."""
CHECK_SECONDS = 15.0
"""Deadline of `check`'s one call per region."""
OUTPUT_FORMATS = ("text", "openmetrics")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


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
            if value not in OUTPUT_FORMATS:
                raise UsageError(f'--format: must be one of {", ".join(OUTPUT_FORMATS)}, not "{value}"')
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


def help_text() -> str:
    """The `--help` text, generated from the same option table as the settings and their docs."""
    lines = [
        f"usage: {PROG} [run|check|once|simulate] [flags]",
        "",
        "Prometheus exporter for Tencent Cloud TI-ONE online inference services.",
        "",
        "commands:",
        "  run        poll and serve metrics until SIGTERM/SIGINT (the default)",
        "  check      validate the configuration, resolve credentials, call the API once per region",
        "  once       poll every region once and print the metrics to standard output",
        "  simulate   serve a simulated TI-ONE API (see: simulate --help)",
        "",
        "flags (each also an environment variable; settings can also come from a YAML file):",
    ]
    for option in OPTIONS:
        if option.flag is None:
            continue
        lines.append(f"  {option.flag} {option.metavar}")
        lines.append(f"      {option.help}")
        lines.append(f"      env {option.env}; default {option.default}")
    lines += [
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
        "exit codes: 0 ok, 1 a region failed or an unexpected error, 2 bad configuration",
    ]
    return "\n".join(lines)


def print_problems(problems: Sequence[str], stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    for problem in problems:
        print(f"{PROG}: {problem}", file=out)


# --- wiring ----------------------------------------------------------------------------------------------


class RedactingProvider:
    """Hands out credentials unchanged, registering their secret parts with the log redaction first."""

    def __init__(self, inner: CredentialProvider) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    async def get(self) -> Credentials:
        credentials = await self.inner.get()
        register_secrets([credentials.secret_key, credentials.token])
        return credentials


def poll_plan(settings: Settings) -> PollPlan:
    filters, tag_filters = listing_filters(settings)
    query = ListingQuery(
        filters=tuple(filters),
        tag_filters=tuple(tag_filters),
        service_category=settings.tione.service_category,
        reads=READ_FIELDS,
    )
    return PollPlan(
        regions=settings.tione.regions,
        query=query,
        project_ids=settings.tione.project_ids or (None,),
        options=RenderOptions(
            tag_labels=settings.metrics.tag_labels,
            exclude=settings.metrics.exclude,
            pod_series=settings.metrics.pod_series,
        ),
        interval=settings.poll.interval,
        timeout=settings.poll.timeout,
        max_staleness=settings.poll.max_staleness,
    )


def make_client(settings: Settings, credentials: CredentialProvider, metrics: SelfMetrics) -> TencentCloudClient:
    """The process's one client, with its one token bucket, reporting to the self-metrics."""
    return TencentCloudClient(
        endpoint=settings.tione.endpoint,
        service=SERVICE,
        version=API_VERSION,
        credentials=RedactingProvider(credentials),
        # A small burst: a bucket as deep as the rate would let each poll open at twice the configured rate.
        rate_limiter=TokenBucket(settings.api.rate_limit, min(DEFAULT_BURST, max(1, int(settings.api.rate_limit)))),
        hooks=metrics,
        request_client=f"{PROG}/{__version__}",
    )


def web_config(settings: Settings) -> WebConfig:
    """The TLS and basic auth settings of `--web.config.file` (none: plain HTTP, no auth); raises WebConfigError."""
    if settings.web.config_file is None:
        return WebConfig()
    return load_web_config(settings.web.config_file)


class Exporter:
    """The running exporter: one client, one poller, one web server, on the current event loop."""

    def __init__(self, settings: Settings, credentials: CredentialProvider, web: WebConfig | None = None) -> None:
        self.settings = settings
        self.web = web if web is not None else WebConfig()
        self.metrics = SelfMetrics(settings.tione.regions)
        self.client = make_client(settings, credentials, self.metrics)
        self.poller = Poller(self.client, poll_plan(settings), self.metrics)
        context = PageContext(
            version=__version__,
            started=time.time(),
            telemetry_path=settings.web.telemetry_path,
            interval=settings.poll.interval,
            max_staleness=settings.poll.max_staleness,
        )
        self.app = ExporterApp(self.poller, self.metrics, context, BasicAuth(self.web.users))
        self.server: WebServer | None = None

    async def serve(self, stop: asyncio.Event, on_listening: Callable[[str], None] | None = None) -> int:
        """Poll and serve until `stop` is set; 0 then, 1 if the server could not run.

        `on_listening` hears the base URL (`http://127.0.0.1:10120`) once the socket listens.
        """
        host, port = self.settings.web.host_port
        try:
            sock = bind(host, port)
        except ListenError as error:
            log.error("cannot serve", extra={"address": self.settings.web.listen_address, "error": str(error)})
            await self.client.aclose()
            return EXIT_FAILED
        self.server = WebServer(self.app, sock, self.web.tls)
        log.info(
            "serving",
            extra={
                "address": self.server.address,
                "scheme": self.web.scheme,
                "basic_auth": bool(self.web.users),
                "telemetry_path": self.settings.web.telemetry_path,
                "regions": ",".join(self.settings.tione.regions),
                "interval": format_duration(self.settings.poll.interval),
            },
        )
        if on_listening is not None:
            on_listening(f"{self.web.scheme}://{self.server.address}")
        server_task = asyncio.create_task(self.server.serve(), name="http server")
        poll_task = asyncio.create_task(self.poller.run(), name="poller")
        stop_task = asyncio.create_task(stop.wait(), name="stop")
        done, _ = await asyncio.wait({server_task, poll_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        code = EXIT_OK
        if stop_task not in done:
            failed = server_task if server_task in done else poll_task
            reason = None if failed.cancelled() else failed.exception()
            log.error("stopped unexpectedly", extra={"task": failed.get_name(), "error": repr(reason)})
            code = EXIT_FAILED
        await self._shutdown(server_task, poll_task, stop_task)
        return code

    async def _shutdown(self, server_task: asyncio.Task[None], *others: asyncio.Task[object]) -> None:
        log.info("stopping")
        assert self.server is not None
        self.server.stop()
        for task in others:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(server_task, *others, return_exceptions=True), STOP_SECONDS - 1.5)
        await self.client.aclose()


# --- commands --------------------------------------------------------------------------------------------


async def run_command(
    settings: Settings, credentials: CredentialProvider, on_listening: Callable[[str], None] | None = None
) -> int:
    """Serve until SIGTERM or SIGINT; `on_listening` hears the base URL (`http://127.0.0.1:10120`) once the
    socket listens."""
    try:
        web = web_config(settings)
    except WebConfigError as error:
        print_problems(error.problems)
        return EXIT_CONFIG
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await Exporter(settings, credentials, web).serve(stop, on_listening)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def once_command(settings: Settings, credentials: CredentialProvider, output_format: str) -> int:
    metrics = SelfMetrics(settings.tione.regions)
    client = make_client(settings, credentials, metrics)
    try:
        poller = Poller(client, poll_plan(settings), metrics)
        statuses = await poller.poll_all()
    finally:
        await client.aclose()
    openmetrics = output_format == "openmetrics"
    exposition = poller.exposition
    live = metrics.render(openmetrics)
    body = (exposition.openmetrics if openmetrics else exposition.text) + live
    if openmetrics and not body.endswith(b"# EOF\n"):
        body += b"# EOF\n"
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
    return EXIT_OK if all(status.outcome == "success" for status in statuses) else EXIT_FAILED


async def check_command(settings: Settings, credentials: CredentialProvider) -> int:
    try:
        web_config(settings)
    except WebConfigError as error:
        print_problems(error.problems)
        return EXIT_CONFIG
    metrics = SelfMetrics(settings.tione.regions)
    client = make_client(settings, credentials, metrics)
    try:
        results = await asyncio.gather(*(_check_region(client, settings, region) for region in settings.tione.regions))
    finally:
        await client.aclose()
    for line in results:
        print(line[1])
    return EXIT_OK if all(ok for ok, _ in results) else EXIT_FAILED


async def _check_region(client: TencentCloudClient, settings: Settings, region: str) -> tuple[bool, str]:
    """One `Limit 1` listing per workspace of the region; the line says ok with the total, or the first error."""
    deadline = time.monotonic() + CHECK_SECONDS
    total = 0
    try:
        for project_id in settings.tione.project_ids or (None,):
            query = ListingQuery(project_id=project_id)
            params = {**query.params(0), "Limit": 1}
            answer = await client.call(ACTION, region, params, deadline=deadline)
            total += parse_page(region, answer).total_count or 0
    except TencentCloudError as error:
        request_id = f" (RequestId {error.request_id})" if error.request_id else ""
        return False, f"{region}: {error.code}: {redact(error.message)}{request_id}"
    except Exception as error:  # one region's surprise must not hide the other regions' lines
        return False, f"{region}: {UNEXPECTED_ERROR}: {type(error).__name__}: {redact(str(error))}"
    return True, f"{region}: ok ({total} service groups)"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["simulate"]:
        from exporter.simulator.command import main as simulate  # noqa: PLC0415 - only this command needs it

        return simulate(args[1:])
    try:
        return _main(args)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as error:  # the last line of defence: one line, no traceback
        print(f"{PROG}: unexpected error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED


def _main(args: list[str]) -> int:
    try:
        invocation = parse_args(args)
    except UsageError as error:
        print_problems([str(error), f"run '{PROG} --help' for usage"])
        return EXIT_CONFIG
    if invocation.help:
        print(help_text())
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
    for warning in settings.warnings():
        log.warning(warning)
    credentials = default_chain()
    if invocation.command == "check":
        return asyncio.run(check_command(settings, credentials))
    if invocation.command == "once":
        return asyncio.run(once_command(settings, credentials, invocation.output_format))
    return asyncio.run(run_command(settings, credentials))
