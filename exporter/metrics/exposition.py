"""The one place that makes an answer's bytes: format, content type, `# EOF`, gzip.

An answer is the snapshot's exposition (rendered once per poll) followed by the live self-metrics
(rendered now). OpenMetrics ends with exactly one `# EOF`, added here and nowhere else: the snapshot
and the live part are both kept without it so that they can be joined. A gzip answer is one member
whose snapshot part is deflated once per exposition (`Exposition.gzip`); only the live part is
compressed per answer. `/metrics` and the `once` command both answer through `answer()`, whose chunks
are written one after the other: the held snapshot is never copied into a per-answer body.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from exporter.metrics.render import Exposition

EOF = b"# EOF\n"


@dataclass(frozen=True, slots=True)
class Format:
    """An exposition format: its name (`--format`), its content type, and whether it is OpenMetrics."""

    name: str
    content_type: str
    openmetrics: bool


TEXT = Format("text", "text/plain; version=0.0.4; charset=utf-8", openmetrics=False)
OPENMETRICS = Format("openmetrics", "application/openmetrics-text; version=1.0.0; charset=utf-8", openmetrics=True)
FORMATS: dict[str, Format] = {fmt.name: fmt for fmt in (TEXT, OPENMETRICS)}


class LiveMetrics(Protocol):
    """The exporter's own metrics, rendered at answer time without `# EOF` (`SelfMetrics`)."""

    def render(self, openmetrics: bool) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer as the chunks to write in order: views of the held snapshot, then this answer's own tail."""

    chunks: Sequence[bytes | memoryview]

    @property
    def length(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


def answer(exposition: Exposition, live: LiveMetrics, output: Format, *, compressed: bool = False) -> Answer:
    """The whole answer in `output`, gzip-compressed as one member when `compressed`.

    Deflating a snapshot the first time takes a while for a large fleet: call this in a worker thread
    when `compressed`.
    """
    tail = live.render(output.openmetrics)
    if output.openmetrics:
        tail += EOF
    if compressed:
        prefix = exposition.gzip(output.openmetrics)
        return Answer((memoryview(prefix.body), prefix.finish_tail(tail)))
    return Answer((*exposition.chunks(output.openmetrics), tail))
