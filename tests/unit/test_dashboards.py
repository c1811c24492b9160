"""The Grafana dashboards: the committed JSON is what the code generates, it imports anywhere (a
`datasource` variable, no `__inputs`), every panel has a unit, uids are stable and unique, variables chain,
every metric and label a query uses exists in the exporter's catalogue or the recording rules, and every query
selects the chosen accounts and keeps them apart."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.metrics.families import SELF_FAMILIES, SNAPSHOT_FAMILIES
from grafana import build
from grafana.queries import (
    groupings_losing,
    panel_queries,
    panels,
    parse_label_values,
    query_variables,
    substitute,
    variables_used,
)
from tests.conftest import REPO

DASHBOARD_DIR = REPO / "grafana" / "dashboards"
PROVISIONING = REPO / "grafana" / "provisioning" / "dashboards.yml"
RULE_FILES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
STABLE_UIDS = {"tione-overview", "tione-service-group", "tione-exporter-health"}
GRAFANA_GLOBALS = {"__rate_interval", "__range", "__interval", "datasource"}
SCRAPE_LABELS = {"job", "instance", "pod"}  # `pod`: added by the Prometheus operator
# Series Prometheus itself writes for every scrape target.
PROMETHEUS_SERIES = {"up": SCRAPE_LABELS, "scrape_duration_seconds": SCRAPE_LABELS}
ACCOUNT = "account"
"""Added by an exporter with YAML `accounts` to every series of a region (docs/configuration.md)."""
ACCOUNT_SELECTOR = 'account=~"$account"'
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def known_series() -> dict[str, set[str]]:
    """Every series name a dashboard may query, with the labels it carries."""
    series: dict[str, set[str]] = dict(PROMETHEUS_SERIES)
    for family in (*SNAPSHOT_FAMILIES, *SELF_FAMILIES):
        labels = {*family.identity_labels, *family.labels, *SCRAPE_LABELS} - {"tag_<key>"}
        if "region" in labels:
            labels.add(ACCOUNT)
        if family.type == "histogram":
            series[f"{family.name}_bucket"] = labels | {"le"}
            series[f"{family.name}_sum"] = labels
            series[f"{family.name}_count"] = labels
        else:
            series[family.name] = labels
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    # A recording rule keeps the labels of its aggregations' `by (...)`.
                    kept = re.findall(r"\bby\s*\(([^)]*)\)", rule["expr"])
                    labels = {label.strip() for clause in kept for label in clause.split(",")} - {"le", ""}
                    assert labels, f"cannot tell the labels of {rule['record']}"
                    series[rule["record"]] = labels
    return series


def scan_promql(expr: str) -> tuple[set[str], set[str]]:
    """The series names and label names a PromQL expression mentions (enough PromQL for our queries)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels: set[str] = set()
    for body in re.findall(r"\{([^{}]*)\}", text):
        labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", body))
    text = re.sub(r"\{[^{}]*\}", " ", text)
    for _, grouping in re.findall(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        labels |= {label.strip() for label in grouping.split(",") if label.strip()}
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    names = {
        name
        for name in re.findall(r"(?<![\w.$:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", text)
        if name not in PROMQL_WORDS
    }
    return names, labels


def load(uid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARD_DIR / f"{uid}.json").read_text())
    return data


def dashboards() -> list[dict[str, Any]]:
    return [load(uid) for uid in sorted(STABLE_UIDS)]


def test_the_committed_json_is_what_the_code_generates() -> None:
    for path, text in build.rendered().items():
        assert path.exists(), f"{path.name} is not committed: run python -m grafana.build"
        assert path.read_text() == text, f"{path.name} is out of date: run python -m grafana.build"
    assert {p.name for p in DASHBOARD_DIR.glob("*.json")} == {f"{uid}.json" for uid in STABLE_UIDS}


def test_the_check_mode_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "grafana.build", "--check"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    for path in DASHBOARD_DIR.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "tione-overview.json").write_text("{}\n")
    monkeypatch.setattr(build, "OUTPUT", tmp_path)
    assert build.main(["--check"]) == 1
    assert build.main([]) == 0
    assert build.main(["--check"]) == 0
    assert json.loads((tmp_path / "tione-overview.json").read_text())["uid"] == "tione-overview"


def test_uids_are_stable_unique_and_match_the_file_names() -> None:
    uids = [model["uid"] for model in dashboards()]
    assert set(uids) == STABLE_UIDS and len(uids) == len(set(uids))
    for model in dashboards():
        assert len(model["uid"]) <= 40
        ids = [panel["id"] for panel in model["panels"]]
        assert len(ids) == len(set(ids)), f"{model['uid']}: duplicate panel ids"


def test_dashboards_take_their_data_source_from_a_variable() -> None:
    for model in dashboards():
        assert "__inputs" not in model and "__requires" not in model, model["uid"]
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        refs = [panel["datasource"] for panel in panels(model)]
        refs += [v["datasource"] for v in model["templating"]["list"] if v["type"] == "query"]
        assert refs and all(ref == {"type": "prometheus", "uid": "${datasource}"} for ref in refs), model["uid"]


def test_every_panel_has_a_unit_a_title_and_a_description() -> None:
    for model in dashboards():
        for panel in panels(model):
            where = f"{model['uid']}: {panel.get('title')!r}"
            assert panel["fieldConfig"]["defaults"].get("unit"), f"{where} has no unit"
            assert panel.get("title") and panel.get("description"), where
            assert panel.get("targets"), f"{where} has no query"


def test_variables_are_chained_label_values_queries() -> None:
    for model in dashboards():
        defined: set[str] = {"datasource"}
        for name, query in query_variables(model):
            selector, label = parse_label_values(query)
            assert label == name, f"{model['uid']}: ${name} lists {label}"
            used = variables_used(selector or "")
            assert used <= defined, f"{model['uid']}: ${name} uses {used - defined} defined after it"
            defined.add(name)
    chain = dict(query_variables(load("tione-service-group")))
    assert variables_used(chain["region"]) == {"account"}
    assert variables_used(chain["service_group_id"]) == {"account", "region"}
    assert variables_used(chain["service_id"]) == {"account", "region", "service_group_id"}


def test_every_dashboard_selects_accounts_all_matching_series_without_one() -> None:
    for model in dashboards():
        variables = {v["name"]: v for v in model["templating"]["list"]}
        account = variables["account"]
        assert account["query"]["query"] == "label_values(tione_up, account)", model["uid"]
        assert account["multi"] and account["includeAll"], model["uid"]
        assert account["allValue"] == ".*", f"{model['uid']}: All must match series without `account` too"
        names = [v["name"] for v in model["templating"]["list"]]
        assert names.index("account") < names.index("region"), model["uid"]


def account_series() -> set[str]:
    """The series that carry `account` when the exporter polls several accounts."""
    return {name for name, labels in known_series().items() if ACCOUNT in labels}


SERIES = re.compile(r"(?<![\w.$:])([a-zA-Z_:][\w:]*)\s*(\{[^{}]*\})?")


def account_mistakes(expr: str, legend: str, carrying: set[str]) -> list[str]:
    """What in one query would show other accounts than the chosen ones, or add two accounts' series
    together: a series that carries `account` without the `$account` selector, a grouping that loses the
    label, a legend naming the region and not the account."""
    found = [(name, selector or "") for name, selector in SERIES.findall(expr) if name in carrying]
    if not found:
        return []
    mistakes = [f"{name} without {ACCOUNT_SELECTOR}" for name, selector in found if ACCOUNT_SELECTOR not in selector]
    mistakes += groupings_losing(ACCOUNT, expr)
    if "{{region}}" in legend and "{{account}}" not in legend:
        mistakes.append(f"legend {legend!r} names the region, not the account")
    return mistakes


def test_every_query_selects_the_chosen_accounts_and_keeps_them_apart() -> None:
    carrying = account_series()
    checked = 0
    for model in dashboards():
        expressions = [(f"{q.panel} [{q.ref}]", q.expr, q.legend) for q in panel_queries(model)]
        for name, query in query_variables(model):
            if name != "account":
                expressions.append((f"${name}", parse_label_values(query)[0] or "", ""))
        for where, expr, legend in expressions:
            mistakes = account_mistakes(expr, legend, carrying)
            assert not mistakes, f"{model['uid']}/{where}: {mistakes} in {expr}"
            checked += bool(SERIES.search(expr))
    assert checked >= 50


def test_the_account_check_catches_a_forgotten_selector_grouping_or_legend() -> None:
    carrying = account_series()
    assert {"tione_up", "tione_service_info", "region:tione_service_spec_replicas:sum"} <= carrying
    assert not {"up", "tione_exporter_build_info", "tione_exporter_api_throttle_wait_seconds_total"} & carrying
    good = 'sum by (account, region) (tione_up{account=~"$account", region=~"$region"})'
    assert account_mistakes(good, "{{account}} {{region}}", carrying) == []
    assert account_mistakes('sum by (region) (tione_up{region=~"$region"})', "{{region}}", carrying) == [
        'tione_up without account=~"$account"',
        "by (region)",
        "legend '{{region}}' names the region, not the account",
    ]
    assert account_mistakes("sum by (instance) (rate(up[5m]))", "{{instance}}", carrying) == []


def test_queries_use_only_defined_variables() -> None:
    for model in dashboards():
        defined = {name for name, _ in query_variables(model)} | GRAFANA_GLOBALS
        for query in panel_queries(model):
            assert variables_used(query.expr) <= defined, f"{query.dashboard}/{query.panel}: {query.expr}"


def test_every_series_and_label_in_a_query_exists() -> None:
    series = known_series()
    checked = 0
    for model in dashboards():
        expressions = [(q.panel, q.expr, q.legend) for q in panel_queries(model)]
        for name, query in query_variables(model):
            selector, label = parse_label_values(query)
            expressions.append((f"${name}", selector or "", f"{{{{{label}}}}}"))
        for where, expr, legend in expressions:
            names, labels = scan_promql(expr)
            assert names, f"{model['uid']}/{where}: no series found in {expr}"
            unknown = names - set(series)
            assert not unknown, f"{model['uid']}/{where}: unknown series {unknown}"
            available = set().union(*(series[name] for name in names)) | {"__name__"}
            legend_labels = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
            missing = (labels | legend_labels) - available
            assert not missing, f"{model['uid']}/{where}: labels {missing} are not on {names}"
            checked += 1
    assert checked >= 50


def test_the_query_scanner_finds_series_and_labels() -> None:
    names, labels = scan_promql(
        'sum by (region, le) (rate(x_bucket{region=~"$region", a="b=c"}[$__rate_interval])) '
        "/ ignoring (code) group_left y:z:sum * 2^30 and on (service_id) time() > 0.95"
    )
    assert names == {"x_bucket", "y:z:sum"}
    assert labels == {"region", "le", "a", "code", "service_id"}


def test_known_series_reject_an_invented_name() -> None:
    names, _ = scan_promql('tione_service_spec_replica{region="x"}')
    assert names - set(known_series()) == {"tione_service_spec_replica"}


def test_substitution_replaces_every_variable() -> None:
    assert substitute(
        'x{a="$region", b=~"${service_id}"}[$__range]', {"region": "r", "service_id": ".*", "__range": "5m"}
    ) == ('x{a="r", b=~".*"}[5m]')
    with pytest.raises(KeyError):
        substitute('x{a="$nope"}', {})


def test_the_provisioning_file_points_grafana_at_the_dashboards() -> None:
    config = yaml.safe_load(PROVISIONING.read_text())
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] and provider["folderUid"]
    assert provider["options"]["path"].startswith("/")


def shipped_expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every dashboard query and variable, alert and recording rule that ships."""
    found: list[tuple[str, str]] = []
    for model in dashboards():
        found += [(f"{model['uid']}/{q.panel}", q.expr) for q in panel_queries(model)]
        for name, query in query_variables(model):
            found.append((f"{model['uid']}/${name}", parse_label_values(query)[0] or ""))
    for path in sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [(f"{path.name}/{rule.get('alert') or rule['record']}", rule["expr"]) for rule in group["rules"]]
    return found


def test_what_ships_reads_only_families_exported_by_default() -> None:
    """Alerts, recording rules and dashboards answer with the default selection: no per-pod or opt-in family,
    and a state set only through its series at 1 (by default the 0s are not exported)."""
    off = {family.name for family in SNAPSHOT_FAMILIES if family.opt_in or family.pods}
    state_sets = [family.name for family in SNAPSHOT_FAMILIES if family.states]
    expressions = shipped_expressions()
    assert len(expressions) > 60
    for where, expr in expressions:
        names, _ = scan_promql(expr) if expr else (set(), set())
        assert not names & off, f"{where} reads {names & off}, which are off by default"
        for name in state_sets:
            assert not re.search(rf"\b{name}(\{{[^}}]*\}})?(\s+offset\s+\S+)?\s*==\s*0\b", expr), (
                f"{where}: {name} == 0"
            )
            assert not re.search(rf"changes\(\s*{name}\b", expr), f"{where}: changes() of the state set {name}"


def test_the_default_check_catches_a_query_on_an_off_family() -> None:
    names, _ = scan_promql('tione_service_pod_phase{phase="Running"} == 1')
    assert names & {family.name for family in SNAPSHOT_FAMILIES if family.pods}
