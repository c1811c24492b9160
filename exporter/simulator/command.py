"""`tione-exporter simulate`: serve the simulated TI-ONE API until SIGTERM or SIGINT.

Bad flags end in one argparse line and exit 2; a port that cannot be bound ends in one line and
exit 1; a signal ends in a clean stop and exit 0. The one log line at start names the URL, regions
and fleet size, and says whether signatures are required without ever printing a key.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import NoReturn

from exporter.simulator.api import ACTIONS
from exporter.simulator.config import DEFAULT_REGIONS, SimulatorConfig, parse_duration
from exporter.simulator.faults import Fault
from exporter.simulator.server import SimulatorServer

log = logging.getLogger("exporter.simulator")

SECRET_ID_ENV = "TIONE_SIMULATOR_SECRET_ID"  # noqa: S105 - the name of a variable, not a secret
SECRET_KEY_ENV = "TIONE_SIMULATOR_SECRET_KEY"  # noqa: S105 - the name of a variable, not a secret


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise argparse.ArgumentTypeError(f"invalid listen address {text!r} (want host:port, e.g. 127.0.0.1:8080)")
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"  # noqa: S104 - ":8080" means every interface
    return host, int(port_text)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_duration(text: str) -> float:
    seconds = _duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: must be more than 0")
    return seconds


def _fault(text: str) -> Fault:
    try:
        return Fault.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: want a whole number >= 0")
    return int(text)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"invalid rate {text!r}: want a number of requests per second >= 0")
    return value


def _regions(text: str) -> tuple[str, ...]:
    regions = tuple(part.strip() for part in text.split(",") if part.strip())
    if not regions:
        raise argparse.ArgumentTypeError("at least one region is needed")
    return regions


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (no usage block) before exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tione-exporter simulate",
        description=f"Serve a simulated TI-ONE API ({', '.join(ACTIONS)}) with a seeded, changing fleet.",
    )
    parser.add_argument("--listen", type=_listen_address, default=("127.0.0.1", 8080), help="host:port to serve on")
    parser.add_argument("--groups", type=_count, default=25, help="service groups per region (default 25)")
    parser.add_argument(
        "--regions", type=_regions, default=DEFAULT_REGIONS, help="comma-separated regions to answer for"
    )
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same fleet and changes")
    parser.add_argument(
        "--secret-id", default=os.environ.get(SECRET_ID_ENV), help=f"require TC3 signatures (env {SECRET_ID_ENV})"
    )
    parser.add_argument(
        "--secret-key", default=os.environ.get(SECRET_KEY_ENV), help=f"the key for --secret-id (env {SECRET_KEY_ENV})"
    )
    parser.add_argument("--rate-limit", type=_rate, default=20.0, help="requests per second; 0 for no limit")
    parser.add_argument("--latency", type=_duration, default=0.0, help="added to every answer, e.g. 100ms")
    parser.add_argument(
        "--churn", action=argparse.BooleanOptionalAction, default=True, help="let the fleet change over time"
    )
    parser.add_argument("--churn-interval", type=_positive_duration, default=2.0, help="time between churn steps")
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        help="kind[=code]:probability, repeatable: error=InternalError:0.1, http500:0.05, malformed, "
        "truncated, timeout, empty, http502, http503",
    )
    parser.add_argument(
        "--incidents",
        action="store_true",
        help="hold a few services of the first region broken (no GPUs to schedule on, crash loop, failed "
        "creation, arrears) and make the last region fail with InternalError every third minute",
    )
    parser.add_argument(
        "--deny",
        choices=ACTIONS,
        action="append",
        default=[],
        metavar="ACTION",
        help=f"refuse an action with UnauthorizedOperation, repeatable ({', '.join(ACTIONS)})",
    )
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if bool(args.secret_id) != bool(args.secret_key):
            parser.error("--secret-id and --secret-key must be given together")
    except SystemExit as exit_:  # --help (0) or a bad flag (2): argparse has already said why
        return exit_.code if isinstance(exit_.code, int) else 2
    config = SimulatorConfig(
        groups=args.groups,
        regions=args.regions,
        seed=args.seed,
        secret_id=args.secret_id or None,
        secret_key=args.secret_key or None,
        rate_limit=args.rate_limit or None,
        latency=args.latency,
        churn=args.churn,
        churn_interval=args.churn_interval,
        faults=tuple(args.fault),
        incidents=args.incidents,
        denied=tuple(args.deny),
    )
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    host, port = args.listen
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server = SimulatorServer(config, host=host, port=port)
        try:
            server.start()
        except (OSError, RuntimeError) as exc:
            print(f"tione-exporter simulate: cannot serve on {host}:{port}: {exc}", file=sys.stderr)
            return 1
        try:
            faults = ",".join(str(fault) for fault in config.faults) or "none"
            log.info(
                'msg="simulated TI-ONE API serving" url=%s regions=%s groups=%d seed=%d signature=%s '
                "rate_limit=%s latency=%gs churn=%s faults=%s incidents=%s denied=%s",
                server.url,
                ",".join(config.regions),
                config.groups,
                config.seed,
                "required" if config.secret_id else "not-checked",
                config.rate_limit if config.rate_limit is not None else "none",
                config.latency,
                f"{config.churn_interval:g}s" if config.churn else "off",
                faults,
                "on" if config.incidents else "off",
                ",".join(config.denied) or "none",
            )
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
        log.info('msg="simulated TI-ONE API stopped"')
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
