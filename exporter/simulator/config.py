"""The simulator's settings, and the parsers its command line and Python API share.

Settings are one frozen dataclass so that a test can describe a whole simulated world in one
expression, and two simulators built from equal settings produce the same fleet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from exporter.durations import parse_go_duration
from exporter.simulator.faults import Fault

DEFAULT_REGIONS: tuple[str, ...] = ("ap-guangzhou", "ap-shanghai")


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration (`500ms`, `2s`, `1m30s`) or a plain number of seconds, zero allowed.

    Raises ValueError with a message naming the bad text, so a flag parser can show it as is.
    """
    seconds = parse_go_duration(text)
    if seconds < 0 or math.isinf(seconds):
        raise ValueError(f"invalid duration {text!r}: must be a finite, non-negative time")
    return seconds


@dataclass(frozen=True, slots=True)
class Credential:
    """A key pair the simulator accepts; `token` set means temporary credentials that need `X-TC-Token`.

    `account` is the name of the hosted account the keys act in ("" for the simulator's own, the caller's),
    and `expires_at` (unix seconds) when temporary keys stop being accepted (None: never).
    """

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    account: str = ""
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """Another account the simulator hosts, reached only through STS `AssumeRole` on one of its roles.

    - `name`: how tests and records refer to it (not sent by the API).
    - `roles`: role names (`roleName/<name>` in the ARN) that trust the caller, the simulator's own account.
    - `refused_roles`: roles that exist but do not trust the caller: assuming one is `UnauthorizedOperation`
      (any other role name is `ResourceNotFound.RoleNotFound`).
    - `external_id`: when set, `AssumeRole` must send this `ExternalId` (else `UnauthorizedOperation`).
    - `seed`, `groups`, `rate_limit`: its fleet's seed (None: the simulator's seed plus its position, from 1),
      size (None: `groups`) and its own TI-ONE budget (None: the simulator's `rate_limit`).
    - `uin`: its uin (None: drawn from its seed). Two accounts given the same seed hold the same fleets, ids
      included, as accounts copied from one template would; a uin of their own tells them apart.
    """

    name: str
    roles: tuple[str, ...] = ("tione-exporter",)
    refused_roles: tuple[str, ...] = ()
    external_id: str | None = field(default=None, repr=False)
    seed: int | None = None
    groups: int | None = None
    rate_limit: float | None = None
    uin: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("an account needs a name")
        if self.uin is not None and not self.uin.isdigit():
            raise ValueError(f"account {self.name}: a uin is digits")
        if self.groups is not None and self.groups < 0:
            raise ValueError(f"account {self.name}: groups must be >= 0")
        if self.rate_limit is not None and self.rate_limit < 0:
            raise ValueError(f"account {self.name}: rate_limit must be >= 0")


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything that shapes a simulated TI-ONE API.

    - `groups`: service groups generated per region (each with 1-3 services).
    - `workspaces`: workspaces per region (at least 2: the default one and a team's); past 2, new groups are
      dealt to the workspaces in turn, so that each holds some (an account with many workspaces).
    - `secret_id`/`secret_key`: when both are set, or `credentials` lists more, every request must carry a
      valid TC3 signature made with one of them; with none, requests are not checked.
    - `credentials`: extra `(secret_id, secret_key, token)` triples; a non-empty token marks temporary keys.
    - `rate_limit`: requests admitted per sliding second over the whole server; None for no limit.
    - `latency`: seconds added to every answer.
    - `churn`/`churn_interval`: whether the fleet changes by itself, one step every interval.
    - `faults`: failures injected at random, e.g. `Fault.parse("http500:0.05")`.
    - `start_time`: pins the simulated clock (unix seconds): the fleet is generated at that time and churn
      step n is stamped `start_time + n * churn_interval`, so two simulators with the same seed and start
      time hold identical fleets after the same steps. None (the default) uses the wall clock: the fleet
      is generated now and every change is stamped when it happens. The sequence of changes depends only
      on the seed and the step number either way.
    - `timeout_hold`: how long a `timeout` fault holds its answer (unless the client leaves first).
    - `incidents`: hold a few services of the first region broken whatever churn does (one that cannot
      schedule for lack of GPUs, one crash-looping, one whose creation failed, one stopped for arrears),
      and make the last region answer `InternalError` during every third minute of simulated time.
    - `denied`: actions every key is refused (`UnauthorizedOperation`), e.g. `("DescribeWorkspaces",)`.
    - `monitor_rate_limit`: Cloud Monitor's own requests per sliding second (its limit is separate from
      TI-ONE's), in each account (the simulator's own and every hosted one); None for no limit.
    - `monitor_test_metric`: also serve a per-service metric no real namespace has
      (`simulator.monitor.TEST_METRIC`), for tests of the generic path; off by default.
    - `accounts`: other accounts hosted besides the simulator's own, each with a fleet, roles and a rate budget
      of its own (`AccountConfig`); with any, STS `AssumeRole` is served (signed with `secret_id`, which
      is then required) and issues temporary keys that act in the role's account.
    - `session_duration`: temporary keys from `AssumeRole` expire after at most this many seconds (None: the
      `DurationSeconds` asked for), so that tests see renewals and expiry within seconds.
    """

    groups: int = 25
    workspaces: int = 2
    regions: tuple[str, ...] = DEFAULT_REGIONS
    seed: int = 1
    secret_id: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    rate_limit: float | None = 20.0
    latency: float = 0.0
    churn: bool = True
    churn_interval: float = 2.0
    faults: tuple[Fault, ...] = ()
    credentials: tuple[tuple[str, str, str | None], ...] = field(default=(), repr=False)
    start_time: float | None = None
    timeout_hold: float = 60.0
    incidents: bool = False
    denied: tuple[str, ...] = ()
    monitor_rate_limit: float | None = 20.0
    monitor_test_metric: bool = False
    accounts: tuple[AccountConfig, ...] = ()
    session_duration: float | None = None

    def __post_init__(self) -> None:
        if self.groups < 0:
            raise ValueError("groups must be >= 0")
        if self.workspaces < 2:
            raise ValueError("workspaces must be >= 2")
        if not self.regions:
            raise ValueError("at least one region is needed")
        if self.rate_limit is not None and self.rate_limit < 0:
            raise ValueError("rate_limit must be >= 0")
        if self.monitor_rate_limit is not None and self.monitor_rate_limit < 0:
            raise ValueError("monitor_rate_limit must be >= 0")
        if self.latency < 0:
            raise ValueError("latency must be >= 0")
        if self.churn_interval <= 0:
            raise ValueError("churn_interval must be > 0")
        if (self.secret_id is None) != (self.secret_key is None):
            raise ValueError("secret_id and secret_key must be given together")
        if self.accounts and self.secret_id is None:
            raise ValueError("accounts need secret_id and secret_key: the caller's own keys that assume their roles")
        names = [account.name for account in self.accounts]
        if len(set(names)) != len(names):
            raise ValueError("account names must be unique")
        if self.session_duration is not None and self.session_duration <= 0:
            raise ValueError("session_duration must be > 0")

    def all_credentials(self) -> list[Credential]:
        """The permanent key pair (if any) followed by the extra ones, as `Credential` objects."""
        found: list[Credential] = []
        if self.secret_id is not None and self.secret_key is not None:
            found.append(Credential(self.secret_id, self.secret_key))
        found.extend(Credential(sid, key, token or None) for sid, key, token in self.credentials)
        return found
