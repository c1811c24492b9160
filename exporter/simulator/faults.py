"""Injected failures: what a flaky network or a struggling API looks like to a client.

A fault is picked per request either from the queue filled by `inject()` (deterministic, for tests)
or at random with the configured probabilities. The random draw uses its own seeded generator, so
the same seed and the same sequence of requests meet the same faults.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace

from exporter.simulator.answer import Answer, error

KINDS: tuple[str, ...] = ("error", "http500", "http502", "http503", "malformed", "truncated", "timeout", "empty")
"""`error=CODE` answers the API's error envelope; the others break the transport or the body."""

_HTTP_STATUS = {"http500": 500, "http502": 502, "http503": 503}
_HTTP_TEXT = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(frozen=True, slots=True)
class Fault:
    """One kind of failure and how often it happens (`probability` in [0, 1], ignored by `inject`)."""

    kind: str
    probability: float = 1.0
    code: str = ""
    message: str = ""
    """The error envelope's `Message` (`error` only; built in code, not parsed): what a test plants in an
    API message, as the real API echoes a SecretId or a parameter back."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {', '.join(KINDS)})")
        if self.kind == "error" and not self.code:
            raise ValueError("fault 'error' needs a code, e.g. error=InternalError:0.1")
        if self.kind != "error" and (self.code or self.message):
            raise ValueError(f"fault {self.kind!r} takes no code or message")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be between 0 and 1, not {self.probability}")

    @classmethod
    def parse(cls, text: str) -> Fault:
        """`kind[=code][:probability]`, e.g. `error=InternalError:0.1`, `http500:0.05`, `timeout`.

        Without a probability the fault hits every request.
        """
        spec = text.strip()
        probability = 1.0
        head, sep, tail = spec.rpartition(":")
        if sep:
            try:
                probability = float(tail)
            except ValueError:
                raise ValueError(f"invalid fault {text!r}: {tail!r} is not a probability") from None
            spec = head
        kind, _, code = spec.partition("=")
        try:
            return cls(kind.strip(), probability, code.strip())
        except ValueError as exc:
            raise ValueError(f"invalid fault {text!r}: {exc}") from None

    def __str__(self) -> str:
        name = f"{self.kind}={self.code}" if self.code else self.kind
        return f"{name}:{self.probability:g}"


def as_fault(value: Fault | str) -> Fault:
    return value if isinstance(value, Fault) else Fault.parse(value)


class FaultPlan:
    """Decides which fault, if any, meets the next request. Not thread-safe: callers hold their lock."""

    def __init__(self, faults: Iterable[Fault], seed: int) -> None:
        self._faults = tuple(faults)
        self._random = random.Random(f"{seed}/faults")
        self._injected: deque[tuple[Fault, str | None]] = deque()

    @property
    def faults(self) -> tuple[Fault, ...]:
        return self._faults

    def set_faults(self, faults: Iterable[Fault]) -> None:
        self._faults = tuple(faults)

    def inject(self, fault: Fault, count: int, action: str | None = None) -> None:
        """Queue `fault` for the next `count` requests, of `action` only when given (other actions pass it by)."""
        self._injected.extend([(replace(fault, probability=1.0), action)] * count)

    def pick(self, action: str = "") -> Fault | None:
        """The injected queue first (its first fault meant for `action` or for any); else each configured
        fault in turn gets one draw, the first hit wins."""
        for index, (fault, target) in enumerate(self._injected):
            if target is None or target == action:
                del self._injected[index]
                return fault
        for fault in self._faults:
            if self._random.random() < fault.probability:
                return fault
        return None


def apply(fault: Fault, normal: Answer, request_id: str, hold: float) -> Answer:
    """The answer a client sees when `fault` strikes a request whose proper answer is `normal`."""
    if fault.kind == "error":
        return error(fault.code, fault.message or f"Injected fault: {fault.code}.", request_id)
    if fault.kind in _HTTP_STATUS:
        status = _HTTP_STATUS[fault.kind]
        return Answer(status, f"<html><body><h1>{status} {_HTTP_TEXT[status]}</h1></body></html>".encode(), "text/html")
    if fault.kind == "malformed":
        return Answer(200, b"<html><body>upstream returned an unexpected page</body></html>")
    if fault.kind == "truncated":
        return Answer(200, normal.body[: max(1, len(normal.body) // 2)])
    if fault.kind == "empty":
        return Answer(200, b"")
    return replace(normal, hold=hold)
