"""The Prometheus rules: promtool accepts them and their unit tests pass, every alert follows the house
conventions, is exercised by a rule test, and has a complete runbook section that its URL points at."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, require_tool

RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
RULE_TESTS_DIR = REPO / "deploy" / "prometheus" / "tests"
RUNBOOKS = REPO / "docs" / "runbooks.md"
RUNBOOK_PREFIX = "docs/runbooks.md#"
RUNBOOK_PARTS = ("**Meaning.**", "**Impact.**", "**Diagnosis.**", "**Mitigation.**")
SEVERITIES = {"critical", "warning", "info"}
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rule_test_files() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*.yml"))


def all_rules() -> list[dict[str, Any]]:
    return [
        rule for path in rule_files() for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
    ]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in all_rules() if "alert" in rule]


def records() -> list[dict[str, Any]]:
    return [rule for rule in all_rules() if "record" in rule]


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_sections() -> dict[str, str]:
    """Anchor of each `## ` section of the runbooks to the section's text."""
    sections: dict[str, str] = {}
    for chunk in re.split(r"^## ", RUNBOOKS.read_text(), flags=re.MULTILINE)[1:]:
        heading, _, body = chunk.partition("\n")
        sections[github_anchor(heading)] = body
    return sections


def test_the_rule_files_exist() -> None:
    assert {p.name for p in rule_files()} == {"tione-alerts.yml", "tione-recording.yml"}
    assert len(alerts()) >= 15
    assert len(records()) >= 10


def test_promtool_accepts_the_rules() -> None:
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", *map(str, rule_files())], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", rule_test_files(), ids=lambda p: p.name)
def test_promtool_rule_tests_pass(test_file: Path) -> None:
    promtool = require_tool("promtool")
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


SECOND_INSTANCE = "exporter-b:10120"
"""The `instance` of the second replica of a series scraped without one."""
TRAFFIC_RECORDS = {"region_action:tione_exporter_api_requests:rate5m", "region_code:tione_exporter_api_errors:rate5m"}
"""The API traffic rates: every replica sends its own requests, so they double with two replicas, as the
account's API load does. Every other rule gives one replica's answer."""


def _with_label(series: str, name: str, value: str) -> str:
    """`series` (a promtool selector) with label `name` set to `value`, replacing any value it had."""
    metric, _, rest = series.partition("{")
    labels = [part.strip() for part in rest.rstrip("}").split(",") if part.strip()] if rest else []
    labels = [label for label in labels if not label.startswith(f"{name}=")] + [f'{name}="{value}"']
    return f"{metric}{{{', '.join(labels)}}}"


def _labels_of(selector: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', selector))


def _second_instance(first: str | None) -> str:
    return f"replica-b.{first}" if first else SECOND_INSTANCE


def replicated(test_file: Path, *, instances: bool) -> dict[str, Any]:
    """The rule tests of `test_file` with every input series twice, once per pod (as two replicas under the
    Prometheus operator with the manifests' relabelling export them), and with `instances` also under two
    `instance` values (replicas scraped without it). Expectations stay those of one exporter, except that
    what a rule keeps per instance is expected once per instance, and the API traffic rates double."""
    document: dict[str, Any] = yaml.safe_load(test_file.read_text())
    document["rule_files"] = [str((test_file.parent / path).resolve()) for path in document["rule_files"]]
    for test in document["tests"]:
        copies = []
        for entry in test.get("input_series", []):
            pod = _labels_of(entry["series"]).get("pod", "tione-exporter")
            first = dict(entry, series=_with_label(entry["series"], "pod", f"{pod}-0"))
            second = dict(entry, series=_with_label(entry["series"], "pod", f"{pod}-1"))
            if instances:
                old = _labels_of(entry["series"]).get("instance")
                second["series"] = _with_label(second["series"], "instance", _second_instance(old))
            copies += [first, second]
        test["input_series"] = copies
        for case in test.get("alert_rule_test", []):
            expected = list(case.get("exp_alerts") or [])
            for alert in list(expected):
                old = alert["exp_labels"].get("instance")
                if instances and old:
                    new = _second_instance(old)
                    annotations = {k: v.replace(old, new) for k, v in alert["exp_annotations"].items()}
                    labels = alert["exp_labels"] | {"instance": new}
                    expected.append({"exp_labels": labels, "exp_annotations": annotations})
            case["exp_alerts"] = expected
        for case in test.get("promql_expr_test", []):
            samples = []
            for one in case.get("exp_samples", []):
                sample = dict(one, value=one["value"] * 2) if case["expr"] in TRAFFIC_RECORDS else one
                samples.append(sample)
                old = _labels_of(sample["labels"]).get("instance")
                if instances and old:
                    samples.append(
                        dict(sample, labels=_with_label(sample["labels"], "instance", _second_instance(old)))
                    )
            case["exp_samples"] = samples
    return document


@pytest.mark.parametrize("instances", [False, True], ids=["pods", "pods-and-instances"])
@pytest.mark.parametrize("test_file", rule_test_files(), ids=lambda p: p.name)
def test_promtool_rule_tests_pass_with_every_series_twice(test_file: Path, instances: bool, tmp_path: Path) -> None:
    """Two replicas give the answers of one: no join fails, nothing counts twice, one alert per problem."""
    promtool = require_tool("promtool")
    document = replicated(test_file, instances=instances)
    doubled = tmp_path / test_file.name
    doubled.write_text(yaml.safe_dump(document, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(doubled)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_replicated_tests_hold_every_series_twice() -> None:
    original = yaml.safe_load((RULE_TESTS_DIR / "services_test.yml").read_text())
    document = replicated(RULE_TESTS_DIR / "services_test.yml", instances=True)
    before = original["tests"][0]["input_series"]
    after = document["tests"][0]["input_series"]
    assert len(after) == 2 * len(before)
    first, second = _labels_of(after[0]["series"]), _labels_of(after[1]["series"])
    assert first["pod"] != second["pod"] and first["instance"] != second["instance"]
    one = {k: v for k, v in _labels_of(before[0]["series"]).items() if k != "instance"}
    for copy in (first, second):
        assert {k: v for k, v in copy.items() if k not in ("pod", "instance")} == one
    assert _with_label("up", "pod", "p") == 'up{pod="p"}'
    assert _with_label('up{instance="a", job="j"}', "instance", "b") == 'up{job="j", instance="b"}'


def test_alert_names_labels_and_annotations_follow_the_conventions() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in alerts():
        name = rule["alert"]
        assert re.fullmatch(r"TIONE[A-Z][A-Za-z]+", name), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        if not rule["expr"].startswith("absent("):
            assert "{{ $labels." in annotations["description"], f"{name}: description names no label"
        assert annotations["runbook_url"] == RUNBOOK_PREFIX + name.lower(), name


def test_every_alert_that_waits_can_be_tested_at_its_boundary() -> None:
    for rule in alerts():
        assert re.fullmatch(r"\d+[mh]", rule.get("for", "")), f"{rule['alert']} needs a `for` duration"


def test_recording_rules_are_named_level_metric_operations() -> None:
    for rule in records():
        assert RECORD_NAME.match(rule["record"]), rule["record"]
        level, metric, _ = rule["record"].split(":")
        assert metric.startswith("tione_"), rule["record"]
        for grouping in re.findall(r"by \(([^)]*)\)", rule["expr"]):
            kept = [label.strip() for label in grouping.split(",") if label.strip() not in ("le", "account")]
            assert "_".join(kept) == level, f"{rule['record']}: keeps {kept}, not its level {level!r}"


def _rule_tests() -> list[dict[str, Any]]:
    return [test for path in rule_test_files() for test in yaml.safe_load(path.read_text())["tests"]]


def test_every_alert_is_tested_firing_and_silent() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for test in _rule_tests():
        for case in test.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - fired == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested staying silent"
    assert fired <= names and silent <= names, "a rule test names an alert that does not exist"


def test_every_recording_rule_is_tested() -> None:
    tested = {case["expr"] for test in _rule_tests() for case in test.get("promql_expr_test", [])}
    assert {rule["record"] for rule in records()} <= tested


def test_every_alert_has_a_complete_runbook_section() -> None:
    sections = runbook_sections()
    for rule in alerts():
        anchor = rule["annotations"]["runbook_url"].removeprefix(RUNBOOK_PREFIX)
        assert anchor in sections, f"{rule['alert']}: no runbook section #{anchor}"
        for part in RUNBOOK_PARTS:
            assert part in sections[anchor], f"{rule['alert']}: runbook lacks {part}"
    assert set(sections) == {rule["alert"].lower() for rule in alerts()}, "runbook sections without an alert"


def test_every_link_inside_the_runbooks_resolves() -> None:
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", RUNBOOKS.read_text())
    assert links, "the runbooks cross-reference each other"
    assert set(links) <= anchors


def test_github_anchor_matches_github() -> None:
    assert github_anchor("TIONEServiceDown") == "tioneservicedown"
    assert github_anchor("What to do: now!") == "what-to-do-now"
