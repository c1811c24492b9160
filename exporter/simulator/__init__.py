"""A simulated TI-ONE API: a seeded fleet behind `DescribeModelServiceGroups`, `DescribeWorkspaces`,
`DescribeEvents` and `DescribeBillingResourceGroups`, with churn, faults and incidents.

`SimulatorServer` serves it on loopback for tests, benchmarks and the `--demo` mode;
`tione-exporter simulate` serves it from the command line.
"""

from exporter.simulator.api import ACTION, ACTIONS, DEFAULT_LIMIT, MAX_LIMIT
from exporter.simulator.config import AccountConfig, Credential, SimulatorConfig, parse_duration
from exporter.simulator.core import RecordedRequest, Simulator
from exporter.simulator.faults import KINDS as FAULT_KINDS
from exporter.simulator.faults import Fault
from exporter.simulator.fleet import INCIDENT_KINDS
from exporter.simulator.monitor import Traffic
from exporter.simulator.server import SimulatorServer
from exporter.tione.api import VERSION

__all__ = [
    "ACTION",
    "ACTIONS",
    "DEFAULT_LIMIT",
    "FAULT_KINDS",
    "INCIDENT_KINDS",
    "MAX_LIMIT",
    "VERSION",
    "AccountConfig",
    "Credential",
    "Fault",
    "RecordedRequest",
    "Simulator",
    "SimulatorConfig",
    "SimulatorServer",
    "Traffic",
    "parse_duration",
]
