"""Reading `Accept` and `Accept-Encoding` as clients write them, odd ones included."""

from __future__ import annotations

import pytest

from exporter.metrics.exposition import OPENMETRICS, TEXT
from exporter.web.negotiation import MediaRange, negotiate_format, parse_header, wants_gzip


def test_items_keep_their_parameters_and_quality() -> None:
    header = 'Application/OpenMetrics-Text; Version=1.0.0; charset="utf-8"; q=0.5, text/plain;q=0.1'
    assert parse_header(header) == [
        MediaRange("application/openmetrics-text", {"version": "1.0.0", "charset": "utf-8"}, 0.5),
        MediaRange("text/plain", {}, 0.1),
    ]


@pytest.mark.parametrize(
    ("header", "quality"),
    [
        ("gzip", 1.0),
        ('gzip;q="0.5"', 0.5),  # quoted
        ("gzip; q = 0.25 ", 0.25),
        ("gzip;q=0=1", 0.0),  # not a number: refused
        ("gzip;q=X1", 0.0),
        ("gzip;q=", 0.0),
    ],
)
def test_quality(header: str, quality: float) -> None:
    [item] = parse_header(header)
    assert (item.value, item.quality) == ("gzip", quality)


def test_empty_items_are_skipped_not_the_end() -> None:
    assert [item.value for item in parse_header(", ,gzip,,deflate")] == ["gzip", "deflate"]
    assert wants_gzip(", gzip")
    assert negotiate_format(", application/openmetrics-text") is OPENMETRICS


def test_a_quoted_quality_counts() -> None:
    assert negotiate_format('application/openmetrics-text;q="0.5", text/plain') is OPENMETRICS
    assert negotiate_format('application/openmetrics-text;q="0"') is TEXT
