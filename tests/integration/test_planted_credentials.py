"""Registry credentials and the exporter's own SecretId, planted wherever the API can carry them, never shown.

Every credentialed reference form of `tests/credential_forms.py` goes into the simulated fleet: as a
service's `ImageUrl` (a label), quoted in a failing condition's message or a `CreateFailedReason` (shown
on the page and in the JSON), in the Warning events the simulator derives from them (`Failed to pull
image "..."`, `Back-off pulling image "..."`), and in the API's error messages. The SecretId the exporter
signs with is planted in a group name, a condition message and an error message. The whole exporter runs
against the simulator over loopback HTTP at debug level; everything it answers and logs is searched.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.simulator.faults import Fault
from exporter.simulator.server import SimulatorServer
from tests.conftest import signed_simulator
from tests.credential_forms import CREDENTIALED, Form
from tests.integration.test_exporter_simulator import Running, running_exporter, value

REGION = "ap-guangzhou"
WAIT = 20.0
PLANTED = tuple(form for form in CREDENTIALED if form.shown)
"""The forms with something left to show once scrubbed (so that finding it proves the text was shown)."""


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with signed_simulator((REGION,), groups=48, seed=7) as server:
        yield server


def _plant(simulator: SimulatorServer) -> dict[str, Form]:
    """Each form in one service of the default workspace; even ones failed creations pulling it, odd
    ones failing a condition that quotes it. Returns the forms by service id."""
    secret_id = simulator.config.secret_id
    planted: dict[str, Form] = {}
    forms = iter(PLANTED)
    for group in simulator.fleet(REGION, ""):
        chosen: dict[int, Form] = {}
        for index in range(len(group.get("Services") or [])):
            form = next(forms, None)
            if form is not None:
                chosen[index] = form

        def edit(wire: dict[str, Any], chosen: dict[int, Form] = chosen) -> None:
            for index, form in chosen.items():
                service = wire["Services"][index]
                service["ServiceInfo"]["ImageInfo"] = {"ImageType": "CUSTOM", "ImageUrl": form.reference}
                if len(planted) % 2 == 0:
                    service["Status"] = "CREATE_FAILED"
                    service["CreateFailedReason"] = f'Failed to pull image "{form.reference}": 401 Unauthorized'
                else:
                    service["Status"] = "Abnormal"
                    service["ServiceInfo"]["Status"]["Conditions"] = [
                        {
                            "Type": "Available",
                            "Status": "False",
                            "Reason": "ImagePullBackOff",
                            "Message": f'Back-off pulling image "{form.reference}" (key {secret_id})',
                        }
                    ]
                planted[service["ServiceId"]] = form

        if chosen:
            simulator.edit_group(REGION, group["ServiceGroupId"], edit)
    assert len(planted) == len(PLANTED), "the simulated fleet has too few services for every form"

    first = simulator.fleet(REGION, "")[0]["ServiceGroupId"]

    def name(wire: dict[str, Any]) -> None:
        wire["ServiceGroupName"] = f"team {secret_id}"
        for service in wire["Services"]:
            service["ServiceGroupName"] = f"team {secret_id}"

    simulator.edit_group(REGION, first, name)
    return planted


class Seen:
    """Every answer and log the test read, to be searched at the end."""

    def __init__(self, running: Running) -> None:
        self.running = running
        self.texts: list[tuple[str, str]] = []

    async def read(self) -> dict[str, str]:
        http = self.running.http
        found = {
            "metrics": (await http.get("/metrics")).text,
            "openmetrics": (await http.get("/metrics", headers={"Accept": "application/openmetrics-text"})).text,
            "page": (await http.get("/")).text,
            "attention": (await http.get("/api/v1/attention")).text,
        }
        self.texts += found.items()
        return found

    async def until(self, what: str, done: Any) -> dict[str, str]:
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            found = await self.read()
            if done(found):
                return found
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)


def _events_asked(found: dict[str, str], planted: dict[str, Form]) -> bool:
    rows = {row["service_id"]: row for row in json.loads(found["attention"])["services"]}
    return planted.keys() <= rows.keys() and all(rows[sid]["events_total"] is not None for sid in planted)


async def test_planted_credentials_and_the_secret_id_are_never_shown(simulator: SimulatorServer) -> None:
    planted = _plant(simulator)
    secret_id, secret_key = simulator.config.secret_id, simulator.config.secret_key
    assert secret_id is not None and secret_key is not None
    async with running_exporter(
        simulator, regions=(REGION,), log_level="debug", **{"--events.max-services": "100"}
    ) as running:
        seen = Seen(running)
        found = await seen.until("every planted service with its events", lambda f: _events_asked(f, planted))

        # what was shown, scrubbed: every form's image as a label and in the rows' messages and events
        for form in planted.values():
            assert f'image_url="{form.shown}"' in found["metrics"], form.reference
            assert form.shown in found["attention"], form.reference
        rows = json.loads(found["attention"])["services"]
        event_messages = [event["message"] for row in rows for event in row["events"]]
        shown = [form.shown for form in planted.values()]
        assert any("image" in message and any(image in message for image in shown) for message in event_messages)
        assert 'service_group_name="team [REDACTED]"' in found["metrics"]
        assert "team [REDACTED]" in found["page"] and "(key [REDACTED])" in found["attention"]
        assert "tione_training_task_info{" in found["metrics"] and "tione_notebook_info{" in found["metrics"]

        # the API's error messages, each quoting a third of the forms and the SecretId
        thirds = [PLANTED[start::3] for start in range(3)]
        for number, forms in enumerate(thirds):
            marker = f"refused-{number}"
            quoted = " ".join(f'"{form.reference}"' for form in forms)
            message = f"{marker}: images {quoted} cannot be pulled with SecretId {secret_id}"
            simulator.set_faults([Fault("error", 1.0, "InvalidParameterValue", message=message)])
            found = await seen.until(f"the page showing {marker}", lambda f, marker=marker: marker in f["page"])
            assert f'"{forms[0].shown}"' in found["page"].replace("&quot;", '"')
            assert "with SecretId [REDACTED]" in found["page"]
        simulator.set_faults([])
        await running.wait_for(lambda s: value(s, "tione_up", region=REGION) == 1.0, "the recovery")
        await seen.read()
        await asyncio.sleep(0.6)  # the next poll's debug lines

    logs = running.logs.getvalue()
    assert "refused-2" in logs and "poll failed" in logs and "level=debug" in logs
    seen.texts.append(("logs", logs))
    holder_secrets = set(simulator.holder_secrets(REGION))
    assert len(holder_secrets) >= 10, "every task and notebook carries its Envs, CallbackUrl or SSHConfig secret"
    forbidden = {form.password for form in CREDENTIALED} | {secret_id, secret_key} | holder_secrets
    leaks = sorted({(where, secret) for where, text in seen.texts for secret in forbidden if secret in text})
    assert not leaks, f"{len(leaks)} leak(s): {leaks[:10]}"
