"""The simulator's fleets as a test or the command line sees and changes them: copies of what a region
holds in the API's wire form, and the changes a test plants (a status, a group, a training task, a price).

A base of `core.Simulator`, apart from its serving: every method takes the simulator's one lock, as every
operation of `core.py` does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TypedDict, Unpack

from exporter.simulator import billing, events, holders, sts
from exporter.simulator.capacity import BillingGroup
from exporter.simulator.config import SimulatorConfig
from exporter.simulator.fleet import Birth, RegionFleet
from exporter.simulator.workload import JSON, freeze, thaw


class Planting(TypedDict, total=False):
    """Where `add_training_task` and `add_notebook` plant a holder, and how; every key has a default."""

    status: str
    """Default: running ("RUNNING" for a task, "Running" for a notebook)."""
    charge_type: str
    """Default: `holders.PREPAID`."""
    resource_group_id: str | None
    """The resource group whose capacity grows to hold it when it runs; default None (none)."""
    project_id: str
    """Its workspace; default "", the region's default one."""
    name: str
    age: float
    """Seconds since it was created and started; default 3600."""


class FleetControls:
    """The fleets' views and changes; `core.Simulator` sets the state they share in its `__init__`."""

    config: SimulatorConfig
    _lock: threading.RLock
    _start: float
    _steps: int
    _fleets: dict[str, RegionFleet]
    _accounts: dict[str, sts.HostedAccount]

    def now(self) -> float:
        """The time changes are stamped with: with `start_time` pinned, the start plus one churn interval per
        step applied (reproducible); otherwise the wall clock (realistic: a change is stamped when it happens)."""
        with self._lock:
            if self.config.start_time is None:
                return float(int(time.time()))
            return self._start + self._steps * self.config.churn_interval

    def _hosted(self, account: str) -> sts.HostedAccount:
        try:
            return self._accounts[account]
        except KeyError:
            raise KeyError(f"account {account!r} is not hosted (accounts: {', '.join(self._accounts)})") from None

    def _fleet(self, region: str, account: str | None = None) -> RegionFleet:
        fleets = self._fleets if account is None else self._hosted(account).fleets
        try:
            return fleets[region]
        except KeyError:
            raise KeyError(f"region {region!r} is not simulated (regions: {', '.join(fleets)})") from None

    @property
    def accounts(self) -> tuple[str, ...]:
        """The names of the hosted accounts (`config.accounts`), without the simulator's own."""
        return tuple(self._accounts)

    def account_uin(self, account: str | None = None) -> str:
        """The uin of a hosted account, or of the simulator's own (the caller's) when None."""
        with self._lock:
            if account is None:
                return self._fleets[self.config.regions[0]].account.uin
            return self._hosted(account).uin

    def role_arn(self, account: str, role: str | None = None) -> str:
        """The ARN of a role of a hosted account (default: the first one it trusts the caller with); any
        `role` name gives an ARN, also one that does not exist."""
        with self._lock:
            return self._hosted(account).role_arn(role)

    def fleet(self, region: str, project_id: str | None = None, *, account: str | None = None) -> list[JSON]:
        """A deep copy of the region's groups in the API's wire form, newest first (the API's default order).

        `project_id` limits it to one workspace ("" for the default one); None gives all of them.
        `account` names a hosted account (None: the simulator's own).
        """
        with self._lock:
            fleet = self._fleet(region, account)
            wanted = _wanted(fleet, project_id)
            chosen = [
                (meta.created, meta.sequence, group_id)
                for group_id, meta in fleet.meta.items()
                if wanted is None or meta.workspace == wanted
            ]
            chosen.sort(reverse=True)
            frozen = freeze([fleet.groups[group_id] for _, _, group_id in chosen])
        copied: list[JSON] = thaw(frozen)
        return copied

    def workspaces(self, region: str, *, account: str | None = None) -> tuple[str, ...]:
        """The region's workspace ids (`TiProjectId`), the default one first."""
        with self._lock:
            return self._fleet(region, account).workspaces

    def workspace_of(self, region: str, group_id: str) -> str:
        with self._lock:
            return self._fleet(region).meta[group_id].workspace

    def resource_groups(self, region: str, *, account: str | None = None) -> list[JSON]:
        """The region's dedicated resource groups as `DescribeBillingResourceGroups` sends them (with nodes)."""
        with self._lock:
            fleet = self._fleet(region, account)
            return [billing.wire(fleet, group, instances=True) for group in fleet.billing_groups]

    def training_tasks(self, region: str, project_id: str | None = None) -> list[JSON]:
        """The region's training tasks as `DescribeTrainingTasks` sends them, secrets included, finished ones
        too, in creation order; `project_id` limits them to one workspace ("" for the default one)."""
        with self._lock:
            fleet = self._fleet(region)
            wanted = _wanted(fleet, project_id)
            now, app_id = self.now(), fleet.account.app_id
            return [
                holders.task_wire(task, now, app_id) for task in fleet.holders.tasks if wanted in (None, task.workspace)
            ]

    def notebooks(self, region: str, project_id: str | None = None) -> list[JSON]:
        """The region's notebooks as `DescribeNotebooks` sends them; see `training_tasks`."""
        with self._lock:
            fleet = self._fleet(region)
            wanted = _wanted(fleet, project_id)
            now, app_id = self.now(), fleet.account.app_id
            notebooks = fleet.holders.notebooks
            return [holders.notebook_wire(item, now, app_id) for item in notebooks if wanted in (None, item.workspace)]

    def holder_secrets(self, region: str) -> list[str]:
        """Every secret planted in the region's training tasks (`Envs`, `CallbackUrl`) and notebooks (`SSHConfig`)."""
        with self._lock:
            return self._fleet(region).holders.secrets()

    def events(self, region: str, service_id: str) -> list[JSON]:
        """All of a service's events of the last day as `DescribeEvents` sends them (newest first)."""
        with self._lock:
            fleet = self._fleet(region)
            project = fleet.meta[fleet.find_service(service_id)[0]["ServiceGroupId"]].workspace
            answer = events.describe(
                {"Service": "INFER", "ServiceId": service_id, "TiProjectId": project}, fleet, self.now()
            )
            found: list[JSON] = answer["Events"]
            return found

    # -- changing the fleet -----------------------------------------------------------------------

    def set_service_status(
        self,
        region: str,
        service_id: str,
        status: str,
        replicas: int | None = None,
        ready: int | None = None,
        *,
        account: str | None = None,
    ) -> None:
        """Put a service in `status` (any `Service.Status`, or `ARREARS_STOP` for a stop for arrears).

        Replicas default to the current desired figure (Stopped forces 0; starting from 0 takes the
        autoscaler minimum or 1); `ready` defaults to all for Normal, all but one for Abnormal, none otherwise.
        The pods, conditions and the group's counts follow. `account` names a hosted account (None: the
        simulator's own).
        """
        with self._lock:
            fleet = self._fleet(region, account)
            fleet.set_service_status(service_id, status, replicas, self.now(), ready)
            fleet.grow_capacity(self.now())

    def delete_group(self, region: str, group_id: str) -> None:
        with self._lock:
            fleet = self._fleet(region)
            if group_id not in fleet.groups:
                raise KeyError(f"no service group {group_id!r} in {region}")
            fleet.delete_group(group_id)

    def edit_group(
        self, region: str, group_id: str, edit: Callable[[JSON], None], *, account: str | None = None
    ) -> None:
        """Change a group's wire form in place, as no real change would: for answers the API might send but
        the simulation never makes (a field of another type, an object where a list belongs). `account`
        names a hosted account (None: the simulator's own)."""
        with self._lock:
            fleet = self._fleet(region, account)
            if group_id not in fleet.groups:
                raise KeyError(f"no service group {group_id!r} in {region}")
            edit(fleet.groups[group_id])

    def add_group(self, region: str, project_id: str | None = None, *, history: bool = False) -> str:
        """Add one random group; returns its id. See `add_groups`."""
        return self.add_groups(region, 1, project_id, history=history)[0]

    def add_groups(self, region: str, count: int, project_id: str | None = None, *, history: bool = False) -> list[str]:
        """Add `count` random groups to a workspace (None: the usual spread; "": the default one).

        They arrive now: created at `now()`, with the usual mix of statuses (mostly Normal), later-added
        ones sorting as newer. `history=True` makes them like the initial fleet's instead: created at
        random times in the past and changed since.
        """
        with self._lock:
            fleet = self._fleet(region)
            workspace = None if project_id is None else project_id or fleet.default_workspace
            if workspace is not None and workspace not in fleet.workspaces:
                raise KeyError(f"no workspace {project_id!r} in {region}")
            birth: Birth = "historic" if history else "new"
            added = fleet.create_groups(fleet.ops_random, count, self.now(), birth=birth, workspace=workspace)
            fleet.grow_capacity(self.now())
            return added

    def add_training_task(self, region: str, roles: Iterable[holders.Role], **planting: Unpack[Planting]) -> str:
        """Add a training task (by default running, named `planted-task`); returns its id. See `Planting`."""
        with self._lock:
            fleet = self._fleet(region)
            holding = self._holding(fleet, {"status": "RUNNING", "name": "planted-task", **planting})
            return self._add(fleet, holders.new_task(fleet.ops_random, tuple(roles), holding))

    def add_notebook(self, region: str, conf: holders.Role, **planting: Unpack[Planting]) -> str:
        """Add a notebook (by default running, named `planted-notebook`; `conf.instance_num` is 1); returns
        its id. See `Planting`."""
        with self._lock:
            fleet = self._fleet(region)
            holding = self._holding(fleet, {"status": "Running", "name": "planted-notebook", **planting})
            return self._add(fleet, holders.new_notebook(fleet.ops_random, conf, holding))

    def _holding(self, fleet: RegionFleet, planting: Planting) -> holders.Holding:
        now = self.now()
        started = now - planting.get("age", 3600.0)
        return holders.Holding(
            name=planting.get("name", ""),
            workspace=_workspace(fleet, planting.get("project_id", "")),
            status=planting.get("status", ""),
            charge_type=planting.get("charge_type", holders.PREPAID),
            group=_billing_group(fleet, planting.get("resource_group_id")),
            created=started,
            started=started,
            ended=None,
            owner=fleet.account.users[0],
        )

    def _add(self, fleet: RegionFleet, holder: holders.TrainingTask | holders.Notebook) -> str:
        """Plant `holder`; its group's capacity grows to hold it when it runs."""
        fleet.holders.add(holder)
        fleet.grow_capacity(self.now())
        return holder.id

    def set_holder_status(self, region: str, holder_id: str, status: str) -> None:
        """Put a training task or notebook in `status` (a finished one gets an end time)."""
        with self._lock:
            fleet = self._fleet(region)
            holder = fleet.holders.find(holder_id)
            holder.status = status
            if status in holders.FINISHED_TASK or status in holders.FINISHED_NOTEBOOK:
                holder.ended = self.now()
            fleet.grow_capacity(self.now())

    def set_spec_price(self, spec: str, list_fen: int, discounted_fen: int) -> None:
        """Plant the hourly price of one unit of `spec`, in fen, in every region."""
        with self._lock:
            for fleet in self._fleets.values():
                fleet.prices.plant(spec, list_fen, discounted_fen)


def _wanted(fleet: RegionFleet, project_id: str | None) -> str | None:
    """The workspace a view is limited to: None for all of them, "" for the default one."""
    return None if project_id is None else project_id or fleet.default_workspace


def _workspace(fleet: RegionFleet, project_id: str) -> str:
    """The workspace `project_id` names ("" the default one); a KeyError for one the region lacks."""
    chosen = project_id or fleet.default_workspace
    if chosen not in fleet.workspaces:
        raise KeyError(f"no workspace {project_id!r} in {fleet.region}")
    return chosen


def _billing_group(fleet: RegionFleet, group_id: str | None) -> BillingGroup | None:
    if group_id is None:
        return None
    group = fleet.billing_group(group_id)
    if group is None:
        raise KeyError(f"no resource group {group_id!r} in {fleet.region}")
    return group
