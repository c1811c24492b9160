"""The simulator's small parts: durations, fault specs and draws, the rate window, signature checks."""

from __future__ import annotations

import pytest

from exporter.simulator import Fault, SimulatorConfig, parse_duration
from exporter.simulator.answer import Answer
from exporter.simulator.auth import AuthError, CredentialStore
from exporter.simulator.config import Credential
from exporter.simulator.faults import FaultPlan, apply
from exporter.simulator.ratelimit import SlidingWindow
from exporter.tencentcloud.signing import authorization

NOW = 1_760_000_000


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0ms", 0.0), ("500ms", 0.5), ("2s", 2.0), ("1m", 60.0), ("1m30s", 90.0), ("1h", 3600.0), ("1.5", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10x", "5 s", "-1s", "-2", "s", "1s2", "inf"])
def test_bad_durations_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("error=InternalError:0.1", Fault("error", 0.1, "InternalError")),
        ("error=RequestLimitExceeded:0.1", Fault("error", 0.1, "RequestLimitExceeded")),
        ("http500:0.05", Fault("http500", 0.05)),
        ("http502", Fault("http502", 1.0)),
        ("timeout:0.02", Fault("timeout", 0.02)),
        ("empty:1", Fault("empty", 1.0)),
    ],
)
def test_fault_specs(text: str, fault: Fault) -> None:
    assert Fault.parse(text) == fault


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("bogus:0.1", "unknown fault kind"),
        ("error:0.1", "needs a code"),
        ("http500=Code:0.1", "takes no code"),
        ("http500:2", "between 0 and 1"),
        ("http500:lots", "not a probability"),
    ],
)
def test_bad_fault_specs(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Fault.parse(text)


def test_fault_draws_are_seeded_and_follow_the_probability() -> None:
    faults = (Fault("http500", 0.25),)
    plan_a, plan_b = FaultPlan(faults, 9), FaultPlan(faults, 9)
    draws_a = [plan_a.pick() for _ in range(2000)]
    draws_b = [plan_b.pick() for _ in range(2000)]
    assert draws_a == draws_b
    assert 400 < sum(draw is not None for draw in draws_a) < 600
    plan_c = FaultPlan(faults, 10)
    assert [plan_c.pick() for _ in range(2000)] != draws_a


def test_injected_faults_come_first_and_run_out() -> None:
    plan = FaultPlan((), 1)
    plan.inject(Fault("timeout", 0.0), 2)
    assert [plan.pick(), plan.pick(), plan.pick()] == [Fault("timeout"), Fault("timeout"), None]


def test_a_fault_injected_for_an_action_waits_for_that_action() -> None:
    plan = FaultPlan((), 1)
    plan.inject(Fault("error", code="InternalError"), 1, action="DescribeModelServiceGroups")
    plan.inject(Fault("timeout"), 1)
    assert plan.pick("DescribeBillingResourceGroups") == Fault("timeout")
    assert plan.pick("DescribeBillingResourceGroups") is None
    assert plan.pick("DescribeModelServiceGroups") == Fault("error", code="InternalError")
    assert plan.pick("DescribeModelServiceGroups") is None


def test_fault_answers() -> None:
    normal = Answer(200, b'{"Response":{"TotalCount":1,"RequestId":"r"}}')
    truncated = apply(Fault("truncated"), normal, "r", 60.0)
    assert normal.body.startswith(truncated.body) and len(truncated.body) < len(normal.body)
    assert apply(Fault("timeout"), normal, "r", 60.0).hold == 60.0
    assert apply(Fault("empty"), normal, "r", 60.0).body == b""
    assert apply(Fault("http503"), normal, "r", 60.0).status == 503
    assert b"InternalError" in apply(Fault("error", code="InternalError"), normal, "r", 60.0).body


def test_sliding_window_admits_the_limit_per_second() -> None:
    window = SlidingWindow(3)
    assert [window.admit(t) for t in (0.0, 0.1, 0.2, 0.3, 0.9)] == [True, True, True, False, False]
    assert window.admit(1.0) is True, "the first request left the window"
    assert window.admit(1.05) is False
    window.set_limit(None)
    assert all(window.admit(1.1) for _ in range(100))
    window.set_limit(0)
    assert window.admit(5.0) is False


def _headers(secret_id: str, key: str, body: bytes, timestamp: int, service: str = "tione") -> dict[str, str]:
    return {
        "authorization": authorization(
            secret_id=secret_id, secret_key=key, service=service, host="h:1", timestamp=timestamp, body=body
        ),
        "x-tc-timestamp": str(timestamp),
        "content-type": "application/json",
        "host": "h:1",
    }


def _code(store: CredentialStore, headers: dict[str, str], body: bytes = b"{}", now: float = NOW) -> str:
    try:
        store.check(headers, body, now)
    except AuthError as failure:
        for secret in ("key-one", "key-tmp", "token-value", "wrong"):
            assert secret not in failure.message
        return failure.code
    return "ok"


def test_signature_checks() -> None:
    store = CredentialStore([Credential("AKIDone", "key-one"), Credential("AKIDtmp", "key-tmp", "token-value")])
    good = _headers("AKIDone", "key-one", b"{}", NOW)
    assert _code(store, good) == "ok"
    assert _code(store, good, body=b'{"Limit":1}') == "AuthFailure.SignatureFailure"
    assert _code(store, _headers("AKIDone", "wrong", b"{}", NOW)) == "AuthFailure.SignatureFailure"
    assert _code(store, _headers("AKIDone", "key-one", b"{}", NOW, service="cvm")) == "AuthFailure.SignatureFailure"
    assert _code(store, _headers("AKIDnobody", "key-one", b"{}", NOW)) == "AuthFailure.SecretIdNotFound"
    assert _code(store, _headers("AKIDone", "key-one", b"{}", NOW - 301)) == "AuthFailure.SignatureExpire"
    assert _code(store, _headers("AKIDone", "key-one", b"{}", NOW + 299)) == "ok"
    assert _code(store, {**good, "authorization": ""}) == "AuthFailure.InvalidAuthorization"
    assert _code(store, {**good, "authorization": "Basic abc"}) == "AuthFailure.InvalidAuthorization"
    assert _code(store, {**good, "x-tc-timestamp": "soon"}) == "AuthFailure.InvalidAuthorization"
    temporary = _headers("AKIDtmp", "key-tmp", b"{}", NOW)
    assert _code(store, temporary) == "AuthFailure.TokenFailure"
    assert _code(store, {**temporary, "x-tc-token": "other"}) == "AuthFailure.TokenFailure"
    assert _code(store, {**temporary, "x-tc-token": "token-value"}) == "ok"


def test_config_lists_credentials_and_refuses_half_a_key() -> None:
    config = SimulatorConfig(
        secret_id="AKIDa", secret_key="ka", credentials=(("AKIDb", "kb", "tb"), ("AKIDc", "kc", None))
    )
    assert [(c.secret_id, c.token) for c in config.all_credentials()] == [
        ("AKIDa", None),
        ("AKIDb", "tb"),
        ("AKIDc", None),
    ]
    assert "ka" not in repr(config) and "kb" not in repr(config)
    with pytest.raises(ValueError, match="together"):
        SimulatorConfig(secret_id="AKIDa")
