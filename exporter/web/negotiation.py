"""Which exposition format and encoding a scrape asked for, from its `Accept` and `Accept-Encoding`.

Prometheus lists several formats with quality values; any acceptable OpenMetrics range wins, as in the
reference client library, because that is what a server speaking OpenMetrics is expected to answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.metrics.exposition import OPENMETRICS, TEXT, Format


@dataclass(frozen=True)
class MediaRange:
    value: str
    params: dict[str, str]
    quality: float


def parse_header(header: str) -> list[MediaRange]:
    """The comma-separated items of an `Accept`-style header, lower-cased, with their `q` (default 1)."""
    ranges = []
    for item in header.split(","):
        value, *raw_params = (part.strip() for part in item.split(";"))
        if not value:
            continue
        params: dict[str, str] = {}
        for raw in raw_params:
            key, _, param = raw.partition("=")
            params[key.strip().lower()] = param.strip().strip('"')
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 0.0
        ranges.append(MediaRange(value.lower(), params, quality))
    return ranges


def negotiate_format(accept: str) -> Format:
    """OpenMetrics when any acceptable range asks for it, else the text format."""
    openmetrics = any(
        item.value == "application/openmetrics-text" and item.quality > 0 for item in parse_header(accept)
    )
    return OPENMETRICS if openmetrics else TEXT


def wants_gzip(accept_encoding: str) -> bool:
    """gzip (or `*`) acceptable and not refused with `q=0`."""
    ranges = {item.value: item.quality for item in parse_header(accept_encoding)}
    if "gzip" in ranges:
        return ranges["gzip"] > 0
    return ranges.get("*", 0.0) > 0
