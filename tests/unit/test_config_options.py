"""The option table is derived from the settings' one declaration: defaults shown are the defaults applied."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.config import OPTIONS, Section, Settings, load_settings
from exporter.config.options import options_of, setting

REGION = {"TENCENTCLOUD_REGION": "ap-guangzhou"}
PHRASES = {"none", "$TENCENTCLOUD_REGION", "every workspace found"}
"""Defaults that help writes in words rather than as a value a flag would take."""


def value_at(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value


@pytest.mark.parametrize("option", [option for option in OPTIONS if option.flag], ids=lambda option: option.flag)
def test_the_default_help_shows_is_the_default_applied(option: Any) -> None:
    defaults = load_settings({}, REGION)
    if option.default in PHRASES:  # not set: nothing (regions come from TENCENTCLOUD_REGION, given here)
        defaults = Settings(_build_sources=((), {}))
        assert value_at(defaults, option.path) in (None, ())
        return
    given = load_settings({option.flag: option.default}, REGION)
    assert value_at(given, option.path) == value_at(defaults, option.path)


def test_a_setting_is_spelled_from_its_place() -> None:
    class Things(Section):
        max_items: int = setting(5, "items at most", metavar="NUMBER")
        wait: float = setting(90.0, "how long to wait", metavar="DURATION")
        rules: tuple[str, ...] = setting((), "rules", flag=False)

    class Model(Section):
        things: Things = Things()

    first, second, third = options_of(Model)
    assert (first.flag, first.env, first.key, first.default, first.metavar) == (
        "--things.max-items",
        "TIONE_EXPORTER_THINGS_MAX_ITEMS",
        "things.max-items",
        "5",
        "NUMBER",
    )
    assert second.default == "1m30s"
    assert (third.flag, third.env, third.key, third.default) == (None, None, "things.rules", "none")


def test_a_field_not_declared_as_a_setting_is_refused() -> None:
    class Things(Section):
        plain: int = 5

    class Model(Section):
        things: Things = Things()

    with pytest.raises(TypeError, match=r"things\.plain is not declared with setting"):
        options_of(Model)
