"""Label hygiene: values that are always valid, tag keys that become safe and distinct label names."""

from __future__ import annotations

import re

import pytest

from exporter.metrics.labels import (
    KUBERNETES_SD_LABELS,
    MAX_LABEL_VALUE_LENGTH,
    TagSelection,
    clean_value,
    escape_value,
    sanitize_tag_key,
    tag_label_names,
)
from exporter.tione.records import Tag


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("ms-vzd8qdk5", "ms-vzd8qdk5"),
        (None, ""),
        ("", ""),
        ("line\nbreak", "linebreak"),
        ("tab\there\r", "tabhere"),
        ("bell\x07 del\x7f c1\x85", "bell del c1"),
        ("lone \ud800 surrogate", "lone  surrogate"),
        ("中文 ünïcödé 🚀", "中文 ünïcödé 🚀"),
        ('quote " and \\ stay (escaped later)', 'quote " and \\ stay (escaped later)'),
    ],
)
def test_clean_value(raw: str | None, clean: str) -> None:
    assert clean_value(raw) == clean
    clean_value(raw).encode("utf-8")  # always valid UTF-8


def test_clean_value_caps_the_length() -> None:
    assert clean_value("x" * 10_000) == "x" * MAX_LABEL_VALUE_LENGTH
    assert clean_value("é" * 600) == "é" * MAX_LABEL_VALUE_LENGTH


def test_escape_value() -> None:
    assert escape_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert escape_value("plain") == "plain"


@pytest.mark.parametrize(
    ("raw", "escaped"), [("a\\b", "a\\\\b"), ('a"b', 'a\\"b'), ("a\nb", "a\\nb"), ("a\\", "a\\\\")]
)
def test_each_character_that_needs_escaping_is_escaped_on_its_own(raw: str, escaped: str) -> None:
    assert escape_value(raw) == escaped


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("team-name", "team_name"),
        ("Team_Name", "team_name"),
        ("cost.center", "cost_center"),
        ("1st", "1st"),
        ("namespace", "namespace"),
        ("Équipe", "equipe"),
        ("ünïcödé key", "unicode_key"),
        ("团队", "unnamed"),
        ("a--b__c..d", "a_b_c_d"),
        ("__private__", "private"),
        ("x\ny", "x_y"),
    ],
)
def test_sanitize_tag_key(key: str, name: str) -> None:
    assert sanitize_tag_key(key) == name
    assert re.fullmatch(r"[a-z0-9_]+", name)


def test_clashes_resolve_in_sorted_order_of_the_raw_keys() -> None:
    keys = tuple(sorted(["team-name", "Team_Name", "team.name", "team_name_2"]))
    assert keys == ("Team_Name", "team-name", "team.name", "team_name_2")
    assert tag_label_names(keys) == ("tag_team_name", "tag_team_name_2", "tag_team_name_3", "tag_team_name_2_2")


def test_tag_labels_never_clash_with_identity_or_kubernetes_labels() -> None:
    keys = tuple(sorted(["region", "service_id", *KUBERNETES_SD_LABELS]))
    names = tag_label_names(keys)
    assert len(set(names)) == len(names)
    assert all(name.startswith("tag_") for name in names)
    assert not set(names) & {"region", "service_group_id", "service_id", *KUBERNETES_SD_LABELS}


def test_a_label_name_is_valid_for_every_key() -> None:
    keys = tuple(sorted(["", "-", "0", "9lives", "ÄÖÜ", "🚀", "a" * 300]))
    for name in tag_label_names(keys):
        assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name)
        assert not name.startswith("__")


def tags(*pairs: tuple[str | None, str | None]) -> list[Tag]:
    return [Tag(tag_key=key, tag_value=value) for key, value in pairs]


def test_selection_of_all_keys() -> None:
    selection = TagSelection(["*"])
    assert selection.enabled
    names, values = selection.labels(tags(("b", "2"), ("a", "1\n"), (None, "x"), ("", "y"), ("a", "again")))
    assert (names, values) == (("tag_a", "tag_b"), ("1", "2"))


def test_selection_by_allow_list_uses_raw_keys() -> None:
    selection = TagSelection(["team-name"])
    assert selection.labels(tags(("team-name", "search"), ("Team_Name", "other"), ("team_name", "x"))) == (
        ("tag_team_name",),
        ("search",),
    )


def test_no_selection() -> None:
    selection = TagSelection([])
    assert not selection.enabled
    assert selection.labels(tags(("a", "1"))) == ((), ())
    assert TagSelection(["a"]).labels(None) == ((), ())
