"""The one scrubber: credentials in image references and the exporter's own secrets, in labels and free text.

A table of every form of credentialed reference (`tests/credential_forms.py`) checked alone, as a label
value and quoted in the platform's messages; a property that puts generated credentialed references in
arbitrary text and looks for the password in what comes out.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from exporter.logs import REDACTED, forget_secrets, redact, register_secrets
from exporter.metrics.labels import MAX_LABEL_VALUE_LENGTH, clean_value
from exporter.scrub import strip_credentials
from tests.credential_forms import CLEAN, CREDENTIALED, DIGEST, Form

MESSAGES = (
    'Back-off pulling image "{}"',
    'Failed to pull image "{}": rpc error: code = Unknown desc = 401 Unauthorized',
    "pull {} failed, (image {}); retrying",
    "{}",
    "image={}\nnext line",
)
"""How the platform quotes an image in condition messages, Warning events and `CreateFailedReason`."""


def test_the_table_is_large_and_every_password_distinct() -> None:
    assert len(CREDENTIALED) >= 30
    assert len({form.password for form in CREDENTIALED}) == len(CREDENTIALED)


@pytest.mark.parametrize("form", CREDENTIALED, ids=[form.reference for form in CREDENTIALED])
def test_credentials_are_removed_from_a_reference(form: Form) -> None:
    assert strip_credentials(form.reference) == form.shown
    assert clean_value(form.reference) == form.shown  # as a label value (`image_url`)
    assert redact(form.reference) == form.shown


@pytest.mark.parametrize("form", CREDENTIALED, ids=[form.reference for form in CREDENTIALED])
@pytest.mark.parametrize("message", MESSAGES)
def test_credentials_are_removed_from_a_message_quoting_the_reference(form: Form, message: str) -> None:
    text = message.format(form.reference, form.reference)
    shown = clean_value(text, limit=None)
    assert form.password not in shown
    assert form.password not in redact(text)
    assert form.password not in redact(json.dumps(text))  # as the JSON answer spells it
    if form.shown:
        assert form.shown in shown


@pytest.mark.parametrize("text", CLEAN)
def test_text_without_credentials_is_left_alone(text: str) -> None:
    assert strip_credentials(text) == text
    assert redact(f'Failed to pull image "{text}": not found') == f'Failed to pull image "{text}": not found'


def test_the_exporters_own_secrets_are_redacted_in_labels_and_text() -> None:
    secret_id, secret_key = "AKIDexample0123456789", "keyExample/0123456789+abc"
    register_secrets([secret_id, secret_key])
    try:
        assert clean_value(f"group {secret_key}") == f"group {REDACTED}"
        assert clean_value(f"{secret_id[:4]}\x00{secret_id[4:]}") == REDACTED  # a NUL hides nothing
        assert secret_id not in clean_value(f"signed by {secret_id} " * 100, limit=None)
        assert clean_value(f"u:{secret_key}@reg.example.com/ns/img") == "reg.example.com/ns/img"
    finally:
        forget_secrets()


def test_a_bounded_scrub_is_the_start_of_the_whole_one() -> None:
    text = " ".join(f"u:pw{i}@reg.example.com/ns/img{i}" for i in range(2000))
    whole = strip_credentials(text)
    for limit in (0, 1, 30, 512, 1000, len(whole), len(whole) + 5):
        assert strip_credentials(text, limit) == whole[:limit]
    assert "pw" not in whole


def test_a_megabyte_of_text_is_scrubbed_to_a_bound_quickly_enough_to_be_linear() -> None:
    hostile = "a:b@c " * 200_000
    assert strip_credentials(hostile, 1000) == "c " * 500
    assert clean_value(hostile, 1000) == "c " * 500


# --- the property ---------------------------------------------------------------------------------

_PASSWORD_CHARS = st.sampled_from(
    [*"abcXYZ0189", *"-._~!$&'()*+,;=", "/", ":", "@", "%40", "%3A", "é", "密"],
)
_USERS = st.from_regex(r"[A-Za-z0-9._$+-]{1,12}", fullmatch=True)
_HOSTS = st.sampled_from(
    [
        "registry",
        "reg.example.com",
        "reg.example.com:5000",
        "localhost:5000",
        "10.0.0.1:443",
        "[2001:db8::1]",
        "[::1]:5000",
        "ccr.ccs.tencentyun.com",
    ]
)
_PATHS = st.sampled_from(["", "/ns/img", "/ns/img:1.2", f"/ns/img@{DIGEST}", "/a/b/c:latest"])
_SCHEMES = st.sampled_from(["", "https://", "http://", "oci://"])
_TEXT = st.text(max_size=40)


@st.composite
def credentialed_text(draw: st.DrawFn) -> tuple[str, str]:
    """(text, password): a credentialed reference in arbitrary text, quoted or not."""
    password = "".join(draw(st.lists(_PASSWORD_CHARS, min_size=6, max_size=20)))
    user = draw(_USERS)
    reference = f"{draw(_SCHEMES)}{user}:{password}@{draw(_HOSTS)}{draw(_PATHS)}"
    quote = draw(st.sampled_from(["", '"', "'", " ", "("]))
    before, after = draw(_TEXT), draw(_TEXT)
    assume(password not in before + after)  # else finding it would not be a leak
    return f"{before}{quote}{reference}{quote}{after}", password


@settings(max_examples=400, deadline=None)
@given(credentialed_text(), st.integers(min_value=1, max_value=200))
def test_a_password_inside_any_text_never_survives(case: tuple[str, str], limit: int) -> None:
    text, password = case
    assert password not in strip_credentials(text)
    assert password not in redact(text)
    assert password not in clean_value(text, limit=None)
    assert password not in clean_value(text)
    assert strip_credentials(text, limit) == strip_credentials(text)[:limit]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600))
def test_any_text_is_cleaned_into_a_valid_bounded_label(text: str) -> None:
    value = clean_value(text)
    value.encode("utf-8")  # no lone surrogate left
    assert len(value) <= MAX_LABEL_VALUE_LENGTH
    assert not any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value)
