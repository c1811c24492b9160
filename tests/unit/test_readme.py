"""The README's description of the JSON at /api/v1/attention names every field the exporter writes."""

from __future__ import annotations

import dataclasses
import re

from exporter.metrics.attention import AttentionEvent, AttentionRow
from tests.conftest import REPO


def on_call_section() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"^## The on-call page\n(.*?)(?=^## )", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "README.md has no section 'The on-call page'"
    return match.group(1)


def test_every_json_field_of_a_row_and_an_event_is_in_the_readme() -> None:
    named = set(re.findall(r"`(\w+)`", on_call_section()))
    for kind in (AttentionRow, AttentionEvent):
        fields = {field.name for field in dataclasses.fields(kind)}
        assert fields <= named, f"{kind.__name__}: undocumented {sorted(fields - named)}"
