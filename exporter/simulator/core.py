"""The simulated API's whole state behind one lock: fleets, credentials, rate limit, faults, records.

The HTTP server, the churn timer and a test's own thread all reach the state at the same time; one
lock around every operation keeps each answer a consistent snapshot (a page is serialized while the
lock is held) and each change atomic. Nothing here does I/O, so it can be driven without sockets.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from exporter.simulator import api, churn, faults, sts
from exporter.simulator.answer import Answer, error, new_request_id
from exporter.simulator.auth import CredentialStore
from exporter.simulator.config import Credential, SimulatorConfig
from exporter.simulator.controls import FleetControls
from exporter.simulator.drawing import make_account
from exporter.simulator.faults import Fault, FaultPlan
from exporter.simulator.fleet import RegionFleet
from exporter.simulator.monitor import MonitorState, Traffic
from exporter.simulator.ratelimit import SlidingWindow
from exporter.tione import monitor_api

DENIED_CODE = "UnauthorizedOperation"
OUTAGE_CODE = "InternalError"
OUTAGE_MINUTE = 2
"""With incidents on, the last region fails during minute 2 of every 3 of simulated time (`now() // 60`)."""
TRAFFIC_INCIDENTS: dict[str, Traffic] = {
    "errors": Traffic(calls_per_second=5.0, errors_per_second=1.0, response_ms=180.0),
    "throttled": Traffic(calls_per_second=12.0, errors_per_second=0.0, throttled_per_second=3.0, response_ms=90.0),
}
"""With incidents on, two healthy groups of the first region (every replica `Normal`) are held with this traffic:
one failing a fifth of its calls, one whose callers are throttled."""
MAX_RECORDS = 10_000
"""Requests remembered for inspection; older ones are forgotten so a long run stays bounded."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as received, minus its `Authorization` header, with the code it was answered with."""

    region: str
    action: str
    body: Any
    """The parsed JSON body, or None when it was not JSON."""
    headers: dict[str, str]
    """Lowercase names; `authorization` removed (it proves nothing once checked)."""
    status: int
    code: str
    """The error code answered, "" for success or a transport fault."""
    account: str = ""
    """The hosted account whose keys signed it ("" for the simulator's own, unknown or no keys)."""


class Simulator(FleetControls):
    """A TI-ONE API look-alike without the HTTP server; `SimulatorServer` puts it on a socket."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._lock = threading.RLock()
        self._start = float(int(time.time())) if self.config.start_time is None else self.config.start_time
        self._steps = 0
        self._fleets = {
            region: RegionFleet(
                region,
                self.config.seed,
                self.config.groups,
                self._start,
                incidents=self.config.incidents and index == 0,
                workspaces=self.config.workspaces,
            )
            for index, region in enumerate(self.config.regions)
        }
        self._denied: dict[tuple[str, str | None], str] = {(action, None): DENIED_CODE for action in self.config.denied}
        """(action, SecretId or None for every key) -> the error code refusing it."""
        self._outages: dict[str, str | None] = {}
        """Region -> the code it fails with (None: forced up), overriding the incident schedule."""
        self._credentials = CredentialStore(self.config.all_credentials())
        self._limiter = SlidingWindow(self.config.rate_limit)
        self._monitor_limiter = SlidingWindow(self.config.monitor_rate_limit)
        self._monitor = MonitorState(seed=self.config.seed, test_metric=self.config.monitor_test_metric)
        self._traffic_incidents: dict[str, str] = {}
        if self.config.incidents:
            self._hold_traffic_incidents()
        self._accounts: dict[str, sts.HostedAccount] = {}
        """Hosted accounts by name (`config.accounts`), each with fleets and a budget of its own."""
        for position, account in enumerate(self.config.accounts, start=1):
            seed = account.seed if account.seed is not None else self.config.seed + position
            groups = account.groups if account.groups is not None else self.config.groups
            limit = account.rate_limit if account.rate_limit is not None else self.config.rate_limit
            uin = account.uin or make_account(seed).uin
            fleets = {
                region: RegionFleet(region, seed, groups, self._start, workspaces=self.config.workspaces, uin=uin)
                for region in self.config.regions
            }
            monitor = SlidingWindow(self.config.monitor_rate_limit)
            state = MonitorState(seed=seed, test_metric=self.config.monitor_test_metric)
            self._accounts[account.name] = sts.HostedAccount(account, uin, fleets, SlidingWindow(limit), monitor, state)
        self._sts_limiter = SlidingWindow(sts.RATE_LIMIT)
        self._faults = FaultPlan(self.config.faults, self.config.seed)
        self._latency = self.config.latency
        self._records: deque[RecordedRequest] = deque(maxlen=MAX_RECORDS)
        self._request_count = 0
        self._rate_limited = 0

    # -- serving ----------------------------------------------------------------------------------

    def handle(self, request: api.Request) -> Answer:
        """The answer to one request; its `delay` is the configured latency, for the server to wait out."""
        request_id = new_request_id()
        with self._lock:
            self._request_count += 1
            action = request.headers.get("x-tc-action", "")
            assume = bool(self._accounts) and action == sts.ACTION
            account = self._account_of(request)
            if not self._limiter_for(account, action, assume=assume).admit(time.monotonic()):
                self._rate_limited += 1
                answer = error(
                    "RequestLimitExceeded",
                    "Your current request times exceeds the limit, please try again later.",
                    request_id,
                )
            else:
                fault = self._faults.pick(action)
                answer = self._answer(request, request_id, account, assume=assume)
                if fault is not None:
                    answer = faults.apply(fault, answer, request_id, self.config.timeout_hold)
            self._record(request, answer, account.name if account is not None else "")
            return replace(answer, delay=self._latency)

    def _limiter_for(self, account: sts.HostedAccount | None, action: str, *, assume: bool) -> SlidingWindow:
        """STS has a limit of its own; TI-ONE's and Cloud Monitor's are per account (the simulator's own, or a
        hosted one's)."""
        if assume:
            return self._sts_limiter
        if action in monitor_api.ACTIONS:
            hosted = account.monitor_limiter if account is not None else None
            return hosted if hosted is not None else self._monitor_limiter
        return account.limiter if account is not None else self._limiter

    def _account_of(self, request: api.Request) -> sts.HostedAccount | None:
        """The hosted account a request acts in, by the keys it is signed with (None: the simulator's own)."""
        if not self._accounts:
            return None
        credential = self._credentials.lookup(api.secret_id_of(request.headers))
        return self._accounts.get(credential.account) if credential is not None and credential.account else None

    def _answer(
        self, request: api.Request, request_id: str, account: sts.HostedAccount | None, *, assume: bool
    ) -> Answer:
        if not assume:
            fleets = account.fleets if account is not None else self._fleets

            def gate(action: str, region: str, secret_id: str) -> tuple[str, str] | None:
                return self._gate(action, region, secret_id, fleets)

            return api.describe(
                request,
                fleets=fleets,
                credentials=self._credentials,
                request_id=request_id,
                now=self.now(),
                gate=gate,
                monitor=account.monitor if account is not None and account.monitor is not None else self._monitor,
            )
        problem = api.protocol_error(request, request_id)
        if problem is not None:
            return problem
        return sts.describe(
            request.headers,
            request.body,
            received_at=request.received_at,
            credentials=self._credentials,
            accounts={hosted.uin: hosted for hosted in self._accounts.values()},
            session_duration=self.config.session_duration,
            request_id=request_id,
        )

    def _gate(
        self, action: str, region: str, secret_id: str, fleets: dict[str, RegionFleet] | None = None
    ) -> tuple[str, str] | None:
        code = self._denied.get((action, secret_id)) or self._denied.get((action, None))
        if code is not None:
            uin = (fleets or self._fleets)[region].account.uin
            product = api.PRODUCTS[action][0]
            return code, (
                f"You are not authorized to perform operation ({product}:{action}) on resource "
                f"(qcs::{product}:{region}:uin/{uin}:*): no permission."
            )
        failure = self._outage_code(region)
        if failure is not None:
            return failure, f"An internal error has occurred in region {region}; retry later."
        return None

    def _outage_code(self, region: str) -> str | None:
        if region in self._outages:
            return self._outages[region]
        if self.config.incidents and region == self.config.regions[-1]:
            return OUTAGE_CODE if int(self.now() // 60) % 3 == OUTAGE_MINUTE else None
        return None

    def _record(self, request: api.Request, answer: Answer, account: str = "") -> None:
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, ValueError):
            body = None
        headers = {name: value for name, value in request.headers.items() if name != "authorization"}
        self._records.append(
            RecordedRequest(
                region=headers.get("x-tc-region", ""),
                action=headers.get("x-tc-action", ""),
                body=body,
                headers=headers,
                status=answer.status,
                code=answer.code,
                account=account,
            )
        )

    def _hold_traffic_incidents(self) -> None:
        """Pin two healthy groups of the first region (churn leaves them alone) and plant their traffic."""
        fleet = self._fleets[self.config.regions[0]]
        healthy = [
            group_id
            for group_id, group in sorted(fleet.groups.items())
            if group["Services"]
            and not any(service["ServiceId"] in fleet.pinned for service in group["Services"])
            and all(
                service["Status"] == "Normal"
                and service["ServiceInfo"]["Status"].get("ReadyReplicas") == service["ServiceInfo"]["Replicas"] > 0
                for service in group["Services"]
            )
        ]
        for kind, group_id in zip(TRAFFIC_INCIDENTS, healthy, strict=False):
            fleet.pinned.update(service["ServiceId"] for service in fleet.groups[group_id]["Services"])
            self._monitor.planted[(fleet.region, group_id)] = TRAFFIC_INCIDENTS[kind]
            self._traffic_incidents[kind] = group_id

    def traffic_incidents(self) -> dict[str, str]:
        """`errors` / `throttled` -> the group held with that traffic in `incident_region`; empty unless
        `config.incidents`."""
        with self._lock:
            return dict(self._traffic_incidents)

    def set_traffic(self, region: str, group_id: str, traffic: Traffic | None, *, account: str | None = None) -> None:
        """Plant a group's Cloud Monitor figures (exact, in every period), or None to draw them from the fleet
        again; `account` names a hosted account (None: the simulator's own)."""
        with self._lock:
            self._fleet(region, account)
            state = self._monitor if account is None else self._hosted(account).monitor or self._monitor
            if traffic is None:
                state.planted.pop((region, group_id), None)
            else:
                state.planted[(region, group_id)] = traffic

    # -- inspection -------------------------------------------------------------------------------

    @property
    def regions(self) -> tuple[str, ...]:
        return self.config.regions

    @property
    def request_count(self) -> int:
        """Every request received, rejected ones included."""
        with self._lock:
            return self._request_count

    @property
    def rate_limited_count(self) -> int:
        with self._lock:
            return self._rate_limited

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far (the last `MAX_RECORDS`), oldest first."""
        with self._lock:
            return list(self._records)

    def clear_requests(self) -> None:
        with self._lock:
            self._records.clear()

    @property
    def steps(self) -> int:
        """Churn steps applied so far."""
        with self._lock:
            return self._steps

    def incidents(self) -> dict[str, str]:
        """Incident kind (`INCIDENT_KINDS`: unschedulable, crash_loop, create_failed, arrears_stop) -> the
        service id held in it, in `incident_region`; empty unless `config.incidents`."""
        with self._lock:
            return dict(self._fleets[self.config.regions[0]].incidents)

    @property
    def incident_region(self) -> str:
        """The region whose services the incidents hold: the first one."""
        return self.config.regions[0]

    @property
    def outage_region(self) -> str | None:
        """The region that fails on a schedule with incidents on (the last one), else None."""
        return self.config.regions[-1] if self.config.incidents else None

    def region_down(self, region: str) -> bool:
        """Whether requests for `region` are failing now (a scheduled or a forced outage)."""
        with self._lock:
            self._fleet(region)
            return self._outage_code(region) is not None

    def churn_step(self, count: int = 1) -> int:
        """Apply `count` churn steps now, in every region; returns the number of changes made."""
        changes = 0
        with self._lock:
            for _ in range(count):
                self._steps += 1
                now = self.now()
                for fleet in self._fleets.values():
                    changes += churn.step(
                        fleet, seed=self.config.seed, number=self._steps, now=now, target_groups=self.config.groups
                    )
                    fleet.grow_capacity(now)
                    fleet.refresh_incidents(now)
                for hosted in self._accounts.values():
                    target = hosted.config.groups if hosted.config.groups is not None else self.config.groups
                    for fleet in hosted.fleets.values():
                        changes += churn.step(fleet, seed=fleet.seed, number=self._steps, now=now, target_groups=target)
                        fleet.grow_capacity(now)
        return changes

    # -- changing the behaviour -------------------------------------------------------------------

    def set_rate_limit(self, limit: float | None) -> None:
        """Requests admitted per sliding second; None for no limit."""
        with self._lock:
            self._limiter.set_limit(limit)

    def set_monitor_rate_limit(self, limit: float | None) -> None:
        """Cloud Monitor's own requests admitted per sliding second, in every account; None for no limit."""
        with self._lock:
            self._monitor_limiter.set_limit(limit)
            for account in self._accounts.values():
                if account.monitor_limiter is not None:
                    account.monitor_limiter.set_limit(limit)

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self._latency = seconds

    def set_faults(self, faults_: Iterable[Fault | str]) -> None:
        """Replace the random faults, e.g. `set_faults(["http500:0.1"])`; `set_faults([])` turns them off."""
        parsed = [faults.as_fault(fault) for fault in faults_]
        with self._lock:
            self._faults.set_faults(parsed)

    def inject(self, fault: Fault | str, count: int = 1, action: str | None = None) -> None:
        """Make the next `count` admitted requests meet `fault` (e.g. `"timeout"`, `"error=InternalError"`);
        with `action`, the next `count` requests of that action only, so a test reaches the source it means
        whatever else runs beside it."""
        parsed = faults.as_fault(fault)
        if action is not None and action not in api.ACTIONS:
            raise ValueError(f"unknown action {action!r} (served: {', '.join(api.ACTIONS)})")
        with self._lock:
            self._faults.inject(parsed, count, action)

    def deny(self, action: str, code: str = DENIED_CODE, secret_id: str | None = None) -> None:
        """Refuse `action` with the error `code` after the signature check: for requests signed with
        `secret_id`, or every request when None (as a key without the permission is refused)."""
        if action not in api.ACTIONS:
            raise ValueError(f"unknown action {action!r} (served: {', '.join(api.ACTIONS)})")
        with self._lock:
            self._denied[(action, secret_id)] = code

    def allow(self, action: str, secret_id: str | None = None) -> None:
        """Undo `deny(action, secret_id=...)`; `secret_id=None` lifts every denial of `action`."""
        with self._lock:
            for key in [key for key in self._denied if key[0] == action and (secret_id is None or key[1] == secret_id)]:
                del self._denied[key]

    def set_region_outage(self, region: str, down: bool | None, code: str = OUTAGE_CODE) -> None:
        """Force `region` to answer every request with the error `code` (True), to answer normally (False),
        or back to the incident schedule (None)."""
        with self._lock:
            self._fleet(region)
            if down is None:
                self._outages.pop(region, None)
            else:
                self._outages[region] = code if down else None

    def add_credentials(self, secret_id: str, secret_key: str, token: str | None = None) -> None:
        """Accept another key pair from now on; with `token`, requests must carry it as `X-TC-Token`.

        Adding the first credentials turns signature checking on.
        """
        with self._lock:
            self._credentials.add(Credential(secret_id, secret_key, token))

    def remove_credentials(self, secret_id: str) -> None:
        """Stop accepting `secret_id` (e.g. temporary keys that expired)."""
        with self._lock:
            self._credentials.remove(secret_id)
