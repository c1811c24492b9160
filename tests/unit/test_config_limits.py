"""Hostile configuration ends in one line naming the problem (exit 2 in the CLI), never a hang or a crash.

A huge file, a FIFO or a device, YAML nested thousands deep, numbers of hundreds of digits, and regular
expressions that backtrack catastrophically against the metric names: each is refused before it is used.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path

import pytest

from exporter.app import poll_plan
from exporter.config import load_settings
from exporter.config.files import MAX_FILE_BYTES
from exporter.config.patterns import FAMILY_NAMES, MAX_PATTERN_LENGTH, _matches_in_time
from exporter.config.values import MAX_SHOWN
from exporter.console import MAX_PROBLEMS, ConfigError

REGION = {"TENCENTCLOUD_REGION": "ap-guangzhou"}


def problems_of(path: Path | str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load_settings({"--config.file": str(path)}, REGION)
    return caught.value.problems


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exporter.yaml"
    path.write_text(text)
    return path


# --- the file ------------------------------------------------------------------------------------------------


def test_a_file_over_the_limit_is_refused_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:  # sparse: 60 MB that cost nothing to make
        file.write(b"tione: {regions: ap-guangzhou}\n")
        file.truncate(60 * 1024 * 1024)
    assert problems_of(path) == (
        f"--config.file {path}: {60 * 1024 * 1024} bytes is too large for a configuration file "
        f"(at most {MAX_FILE_BYTES})",
    )


def test_a_file_just_within_the_limit_is_read(tmp_path: Path) -> None:
    head = "tione: {regions: ap-shanghai}\n"
    path = write(tmp_path, head + "#" * (MAX_FILE_BYTES - len(head) - 1) + "\n")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert load_settings({"--config.file": str(path)}, REGION).tione.regions == ("ap-shanghai",)


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    assert problems_of(fifo) == (f"--config.file {fifo}: not a regular file",)


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "/"])
def test_devices_and_directories_are_refused_before_reading(path: str) -> None:
    assert problems_of(path) == (f"--config.file {path}: not a regular file",)


@pytest.mark.parametrize(
    "text",
    [
        "tione: " + "[" * 5000 + "]" * 5000 + "\n",
        "tione: {filters: " + "{a: " * 3000 + "1" + "}" * 3000 + "}\n",
        "metrics:\n  tag-labels:\n    " + "- " * 100_000 + "x\n",
    ],
    ids=["flow-sequences", "flow-mappings", "compact-block-sequences"],
)
def test_yaml_nested_thousands_deep_is_one_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert problems_of(path) == (f"--config.file {path}: invalid YAML: nested more than 100 levels deep",)


def test_brackets_of_ordinary_regular_expressions_are_no_nesting(tmp_path: Path) -> None:
    patterns = ", ".join(f'"tione_[a-z]+_{i}[0-9]{{2}}"' for i in range(60))
    path = write(tmp_path, f"metrics:\n  exclude: [{patterns}]\n")
    assert len(load_settings({"--config.file": str(path)}, REGION).metrics.exclude) == 60


def test_an_integer_beyond_python_s_conversion_limit_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "events:\n  max-services: " + "9" * 5000 + "\n")
    (line,) = problems_of(path)
    assert line.startswith(f"--config.file {path}: invalid YAML: ")
    assert len(line) < 250


def test_thousands_of_bad_entries_print_a_bounded_number_of_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "".join(f"unknown{i}: 1\n" for i in range(5000)))
    found = problems_of(path)
    assert len(found) == MAX_PROBLEMS
    assert found[-1] == f"... and {5000 - MAX_PROBLEMS + 1} more problems"


def test_a_long_list_is_deduplicated_keeping_the_order(tmp_path: Path) -> None:
    labels = ",".join(f"k{i}" for i in range(30_000))
    path = write(tmp_path, f"metrics:\n  tag-labels: [{labels}, k0, k1]\n")
    tag_labels = load_settings({"--config.file": str(path)}, REGION).metrics.tag_labels
    assert tag_labels == tuple(f"k{i}" for i in range(30_000))


# --- numbers -------------------------------------------------------------------------------------------------

HUGE = "9" * 400


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        ("poll", "interval", "must be between 500ms and 24h"),
        ("poll", "timeout", "must be between 250ms and 24h"),
        ("api", "rate-limit", "must be between 0.1 and 1000"),
        ("events", "max-services", "must be a whole number from 0 to 100000"),
        ("web", "max-connections", "must be a whole number from 1 to 100000"),
        ("capacity", "interval", "must be between 500ms and 24h"),
    ],
)
def test_a_400_digit_number_is_one_short_line(tmp_path: Path, section: str, key: str, message: str) -> None:
    path = write(tmp_path, f"{section}:\n  {key}: {HUGE}\n")
    shown = f'"{HUGE[: MAX_SHOWN - 1]}… (400 characters)"'
    assert problems_of(path) == (f"{section}.{key} (in {path}): {message}, not {shown}",)


@pytest.mark.parametrize("value", ["\u00b2", "\uff11\uff12", "1e400", ".inf"])
def test_numbers_that_are_not_plain_digits_are_refused(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"events:\n  max-services: {value!r}\nweb:\n  listen-address: ':{value}'\n")
    found = problems_of(path)
    assert [line.split(":")[0] for line in found] == [
        f"web.listen-address (in {path})",
        f"events.max-services (in {path})",
    ]


def test_an_infinite_duration_names_the_range() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"--poll.interval": "1e400"}, REGION)
    assert caught.value.problems == ('--poll.interval: must be between 500ms and 24h, not "1e400"',)


def test_a_region_is_bounded_in_length() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"--tione.regions": "ap-" + "x" * 100}, REGION)
    (line,) = caught.value.problems
    assert line.startswith('--tione.regions: invalid region "ap-xxx') and "(103 characters)" in line


# --- regular expressions -----------------------------------------------------------------------------------


def exclude_problems(tmp_path: Path, *patterns: str) -> tuple[str, ...]:
    quoted = ", ".join("'" + pattern.replace("'", "''") + "'" for pattern in patterns)
    return problems_of(write(tmp_path, f"metrics:\n  exclude: [{quoted}]\n"))


@pytest.mark.parametrize("pattern", [r"(\w+)+!", r"(\w*)*x", r"(?:[a-z_]+)*!", r"((a|\w{1,5}))+!", r"(?=(\w+)+!)"])
def test_a_repetition_inside_a_repetition_is_refused(tmp_path: Path, pattern: str) -> None:
    path = tmp_path / "exporter.yaml"
    assert exclude_problems(tmp_path, pattern) == (
        f'metrics.exclude (in {path}): regular expression "{pattern}" has a repetition inside a repetition '
        '(like "(a+)+"), which can take exponential time to match; write it without the nesting',
    )


@pytest.mark.timeout(30)
def test_a_pattern_that_backtracks_without_nesting_is_refused_by_its_time(tmp_path: Path) -> None:
    """Overlapping alternatives under one star: 2^50 ways to fail on a name; the CPU-time bound ends it."""
    path = tmp_path / "exporter.yaml"
    assert exclude_problems(tmp_path, r"(\w|\w)*!") == (
        f'metrics.exclude (in {path}): regular expression "(\\w|\\w)*!" takes over 500ms to match the metric '
        "names (catastrophic backtracking); simplify it",
    )


def test_the_time_bound_leaves_the_signal_handler_as_it_found_it() -> None:
    before = signal.getsignal(signal.SIGVTALRM)
    assert not _matches_in_time(re.compile(r"(\w|\w)*!"), FAMILY_NAMES, 0.05)
    assert _matches_in_time(re.compile(r"tione_.*"), FAMILY_NAMES, 0.05)
    assert signal.getsignal(signal.SIGVTALRM) is before
    assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)


def test_settings_load_off_the_main_thread_too() -> None:
    loaded: list[object] = []
    thread = threading.Thread(
        target=lambda: loaded.append(load_settings({}, REGION | {"TIONE_EXPORTER_LOG_LEVEL": "warn"}))
    )
    thread.start()
    thread.join(30)
    assert len(loaded) == 1


@pytest.mark.parametrize(
    "pattern",
    [
        "tione_service_pod_.*",
        "(foo|bar)_.*",
        "tione_(a{2})+",
        "tione_[a-z_]+",
        r"(ab){3}",
        r"\w+_total",
        "(?i)TIONE_.*",
    ],
)
def test_ordinary_patterns_are_accepted(tmp_path: Path, pattern: str) -> None:
    path = write(tmp_path, f"metrics:\n  include: ['{pattern}']\n  exclude: ['{pattern}']\n")
    settings = load_settings({"--config.file": str(path)}, REGION)
    assert [p.pattern for p in settings.metrics.include] == [pattern]


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (["a{4294967296}"], 'invalid regular expression "a{4294967296}": the repetition number is too large'),
        (["(" * 5000 + "a" + ")" * 5000], f"is longer than {MAX_PATTERN_LENGTH} characters"),
        (["x" * (MAX_PATTERN_LENGTH + 1)], f"is longer than {MAX_PATTERN_LENGTH} characters"),
        ([f"a{i}" for i in range(101)], "at most 100 regular expressions, not 101"),
    ],
    ids=["huge-count", "deep-groups", "long", "many"],
)
def test_patterns_are_bounded(tmp_path: Path, patterns: list[str], message: str) -> None:
    (line,) = exclude_problems(tmp_path, *patterns)
    assert message in line
    assert len(line) < 300


def test_include_and_exclude_match_whole_names_not_parts(tmp_path: Path) -> None:
    def exported(include: str, exclude: str) -> set[str]:
        path = write(tmp_path, f"metrics:\n  include: ['{include}']\n  exclude: ['{exclude}']\n")
        options = poll_plan(load_settings({"--config.file": str(path)}, REGION), ()).options
        return {family.name for family in options.families()}

    surge = "tione_service_rolling_update_max_surge_replicas"
    part = exported("rolling_update_max_surge", "service_info")  # parts of names: select nothing
    assert surge not in part
    assert "tione_service_info" in part
    whole = exported(".*rolling_update_max_surge.*", "tione_service_info")
    assert surge in whole
    assert "tione_service_info" not in whole
    prefix = exported("tione_service_rolling_update_max_surge", "tione_service")  # a prefix is not the name
    assert surge not in prefix
    assert "tione_service_info" in prefix
