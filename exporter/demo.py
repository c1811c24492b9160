"""`tione-exporter --demo`: the real exporter against an embedded simulated TI-ONE fleet on loopback.

Nothing is faked on the exporter's side: the simulator listens on a free loopback port and checks TC3
signatures made with random credentials generated here, handed to the exporter in-process (so they are
never a flag, never in the environment, and die with the process). Churn is on, so the metrics move
while you watch, and the simulator holds its incidents: a service that cannot be scheduled for lack of
GPUs, one crash-looping, one whose creation failed, one stopped for arrears, and a last region that fails
every third minute, so the status page's "Needs attention", the Warning events, `tione_up 0` and (with
the compose stack) the alerts can all be seen within minutes.

The demo sets the endpoint and the regions itself and reads no configuration file: a flag it would have
to override is refused with a message rather than silently ignored. Every other flag applies as usual
(`--poll.interval` defaults to 5s here).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Mapping

from exporter.app import run_command
from exporter.config import ENV_PREFIX, load_settings
from exporter.console import EXIT_CONFIG, EXIT_FAILED, PROG, ConfigError, print_problems
from exporter.logs import register_secrets, setup_logging
from exporter.simulator.config import SimulatorConfig
from exporter.simulator.server import SimulatorServer
from exporter.tencentcloud.credentials import Credentials, StaticProvider

DEMO_LISTEN_ADDRESS = "127.0.0.1:10120"
DEMO_POLL_INTERVAL = "5s"
DEMO_CAPACITY_INTERVAL = "30s"
"""The demo's fleet changes every few seconds: capacity is read often enough for the dashboard's Capacity row
to follow it (and `rg-gpu-prod`, which the simulator keeps nearly full, to show it)."""
DEMO_CHURN_INTERVAL = 2.0
"""Seconds between two changes of the simulated fleet: a few changes land between two polls."""
OVERRIDDEN_FLAGS: dict[str, str] = {
    "--tione.endpoint": "the demo's API is its own simulator",
    "--tione.regions": "the demo polls the simulator's regions",
    "--monitor.endpoint": "the demo's Cloud Monitor is its own simulator",
    "--config.file": "the demo reads no configuration file",
}
"""Flags the demo cannot honour, with the reason it gives when one is given."""


def refused_flags(flags: Mapping[str, str]) -> list[str]:
    """A problem line per flag the demo would have to override; empty when it can honour them all."""
    return [
        f"{flag} cannot be used with --demo: {reason}" for flag, reason in OVERRIDDEN_FLAGS.items() if flag in flags
    ]


def ignored_environment(environ: Mapping[str, str]) -> list[str]:
    """The exporter's variables set in the environment, which the demo does not read."""
    return sorted(name for name, value in environ.items() if name.startswith(ENV_PREFIX) and value)


def demo_credentials() -> Credentials:
    """A throw-away key pair, random each run, in the shape of real Tencent Cloud keys."""
    return Credentials(secret_id="AKID" + secrets.token_hex(16), secret_key=secrets.token_urlsafe(24))


def _browsable(url: str) -> str:
    """A base URL a browser can open: a wildcard listen address is reachable on loopback."""
    scheme, _, address = url.partition("://")
    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", "[::]", ""):  # noqa: S104 - recognising the wildcard, not binding to it
        host = "127.0.0.1"
    return f"{scheme}://{host}:{port}"


def run_demo(flags: Mapping[str, str], environ: Mapping[str, str] | None = None) -> int:
    """Start the simulator, run the exporter against it until SIGTERM/SIGINT, then stop both.

    A flag the demo would override is refused (exit 2) before anything starts."""
    problems = refused_flags(flags)
    if problems:
        print_problems(problems)
        return EXIT_CONFIG
    ignored = ignored_environment(os.environ if environ is None else environ)
    if ignored:
        print(f"{PROG} demo: not reading {', '.join(ignored)} (the demo takes flags only)", file=sys.stderr)
    credentials = demo_credentials()
    register_secrets([credentials.secret_id, credentials.secret_key])
    config = SimulatorConfig(
        secret_id=credentials.secret_id,
        secret_key=credentials.secret_key,
        churn=True,
        churn_interval=DEMO_CHURN_INTERVAL,
        incidents=True,
    )
    with SimulatorServer(config) as simulator:
        demo_flags = {
            "--web.listen-address": DEMO_LISTEN_ADDRESS,
            "--poll.interval": DEMO_POLL_INTERVAL,
            "--capacity.interval": DEMO_CAPACITY_INTERVAL,
            **flags,
            "--tione.endpoint": simulator.url,
            "--monitor.endpoint": simulator.url,
            "--tione.regions": ",".join(config.regions),
        }
        try:
            settings = load_settings(demo_flags, environ={})
        except ConfigError as error:
            print_problems(error.problems)
            return EXIT_CONFIG
        setup_logging(settings.log.level, settings.log.format)

        def announce(url: str) -> None:
            base = _browsable(url)
            regions = ", ".join(config.regions)
            print(f"{PROG} demo: simulated TI-ONE API at {simulator.url} (regions {regions})")
            outage = f"{simulator.outage_region} fails every third minute"
            held = f"incidents held in {simulator.incident_region} (service groups held-incident-*)"
            print(f"{PROG} demo: {held}; {outage}")
            print(f"{PROG} demo: status page  {base}/")
            print(f"{PROG} demo: metrics      {base}{settings.web.telemetry_path}")
            print(f"{PROG} demo: press Ctrl+C to stop")
            sys.stdout.flush()

        code = asyncio.run(run_command(settings, StaticProvider(credentials, name="demo"), on_listening=announce))
    return code if code in (0, EXIT_CONFIG) else EXIT_FAILED
