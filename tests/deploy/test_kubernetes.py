"""The Kubernetes manifests: every kustomization renders, validates, and says what the docs promise.

Built-in kinds are validated with `kubernetes-validate` (strict, at the newest Kubernetes version it
knows), the Prometheus Operator's ServiceMonitor and PrometheusRule against their CRDs' schemas vendored
in `crds/` (see its README), all offline. The PrometheusRule must carry exactly the groups of
`deploy/prometheus/rules/` and the dashboard ConfigMaps exactly the JSON of `grafana/dashboards/`.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from exporter import __version__
from exporter.config import OPTIONS, ConfigError, load_settings
from exporter.tencentcloud import credentials, roles
from tests.conftest import REPO, require_tool

KUBERNETES = REPO / "deploy" / "kubernetes"
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
DASHBOARDS_DIR = REPO / "grafana" / "dashboards"
CRDS = Path(__file__).resolve().parent / "crds"
KUSTOMIZE_OVERLAYS = KUBERNETES / "overlays"
KUSTOMIZATIONS = ["base", *sorted(f"overlays/{path.name}" for path in KUSTOMIZE_OVERLAYS.iterdir() if path.is_dir())]
EXPECTED_OVERLAYS = {"overlays/tke-workload-identity", "overlays/sharded", "overlays/web-config"}
USER_ID = 65532
METRICS_PORT = 10120
API_REQUESTS_PER_SECOND = 20  # the TI-ONE API's limit for the whole account
SETTINGS_ENV = {option.env for option in OPTIONS if option.env}
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-v1.schema.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-v1.schema.yaml",
}


@functools.cache
def render(kustomization: str) -> tuple[dict[str, Any], ...]:
    kubectl = require_tool("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / kustomization)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def strict(schema: Any) -> Any:
    """The schema with no properties beyond those listed, as `kubectl apply`'s strict field validation."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [strict(item) for item in schema]
    return schema


@functools.cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = yaml.safe_load((CRDS / CRD_SCHEMAS[(api_version, kind)]).read_text())
    schema.pop("definitions", None)  # only anchors for the transcription; expanded in place by the YAML loader
    return jsonschema.Draft7Validator(strict(schema))


def validate(doc: dict[str, Any]) -> None:
    if (doc["apiVersion"], doc["kind"]) in CRD_SCHEMAS:
        crd_validator(doc["apiVersion"], doc["kind"]).validate(doc)
    else:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


def settings_of(docs: tuple[dict[str, Any], ...], deployment: dict[str, Any]) -> dict[str, str]:
    """The data of the ConfigMaps a Deployment's container takes its environment from."""
    names = [source["configMapRef"]["name"] for source in containers(deployment)[0].get("envFrom", [])]
    maps = {doc["metadata"]["name"]: doc["data"] for doc in of_kind(docs, "ConfigMap")}
    assert names and all(name in maps for name in names), names
    return {key: value for name in names for key, value in maps[name].items()}


def mounted_paths(deployment: dict[str, Any]) -> dict[str, str]:
    """Mount path -> volume name of the exporter's container."""
    return {mount["mountPath"]: mount["name"] for mount in containers(deployment)[0].get("volumeMounts", [])}


def volume_of_file(deployment: dict[str, Any], path: str) -> dict[str, Any]:
    mounts = mounted_paths(deployment)
    directory = next((mount for mount in mounts if path.startswith(mount.rstrip("/") + "/")), None)
    assert directory is not None, f"{path} is not under any mount of {sorted(mounts)}"
    volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
    return dict(volumes[mounts[directory]])


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_every_overlay_is_tested() -> None:
    assert set(KUSTOMIZATIONS) == {"base", *EXPECTED_OVERLAYS}
    assert all(
        (KUSTOMIZE_OVERLAYS / name.removeprefix("overlays/") / "kustomization.yaml").exists()
        for name in EXPECTED_OVERLAYS
    )


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_renders_and_validates(kustomization: str) -> None:
    docs = render(kustomization)
    kinds = {doc["kind"] for doc in docs}
    assert {
        "ServiceAccount", "ConfigMap", "Deployment", "Service", "ServiceMonitor", "PrometheusRule", "NetworkPolicy"
    } <= kinds  # fmt: skip
    assert "Secret" not in kinds  # credentials are the user's: never shipped, not even as a placeholder
    for doc in docs:
        assert doc["metadata"]["namespace"] == "monitoring", doc["metadata"]["name"]
        try:
            validate(doc)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as error:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {error.message}")
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in docs]
    assert len(names) == len(set(names))


def test_the_validators_reject_mistakes() -> None:
    docs = render("base")
    monitor = copy.deepcopy(one(docs, "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        validate(monitor)
    rule = copy.deepcopy(one(docs, "PrometheusRule"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "two minutes"
    with pytest.raises(jsonschema.ValidationError):
        validate(rule)
    deployment = copy.deepcopy(one(docs, "Deployment"))
    containers(deployment)[0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


def test_generated_manifests_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(KUBERNETES / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_prometheus_rule_carries_exactly_the_rule_files(kustomization: str) -> None:
    expected = [
        group for path in sorted(RULES_DIR.glob("*.yml")) for group in yaml.safe_load(path.read_text())["groups"]
    ]
    assert expected
    rule = one(render(kustomization), "PrometheusRule")
    assert rule["spec"]["groups"] == expected
    assert rule["metadata"]["labels"]["release"]  # what kube-prometheus-stack's ruleSelector matches


def test_promtool_rule_tests_pass_on_the_prometheus_rule(tmp_path: Path) -> None:
    """The rule unit tests of deploy/prometheus/tests/, run against the rules as the PrometheusRule has them."""
    rules = tmp_path / "rules" / "prometheusrule.yml"
    rules.parent.mkdir()
    rules.write_text(
        yaml.safe_dump({"groups": one(render("base"), "PrometheusRule")["spec"]["groups"]}, sort_keys=False)
    )
    tests = tmp_path / "tests"
    tests.mkdir()
    sources = sorted((REPO / "deploy" / "prometheus" / "tests").glob("*.yml"))
    assert sources
    for source in sources:
        test = yaml.safe_load(source.read_text())
        test["rule_files"] = ["../rules/prometheusrule.yml"]
        (tests / source.name).write_text(yaml.safe_dump(test, sort_keys=False))
    promtool = require_tool("promtool")  # only from here on: the rules are rendered and found without it
    check = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run(
        [promtool, "test", "rules", *(str(tests / source.name) for source in sources)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tests,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_dashboard_config_maps_hold_exactly_the_dashboard_json(kustomization: str) -> None:
    maps = [
        doc
        for doc in of_kind(render(kustomization), "ConfigMap")
        if "grafana_dashboard" in doc["metadata"].get("labels", {})
    ]
    assert all(doc["metadata"]["labels"]["grafana_dashboard"] == "1" for doc in maps)
    assert all(len(doc["data"]) == 1 for doc in maps)
    shipped = {key: value for doc in maps for key, value in doc["data"].items()}
    assert shipped == {path.name: path.read_text() for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_deployments_are_hardened(kustomization: str) -> None:
    docs = render(kustomization)
    deployments = of_kind(docs, "Deployment")
    assert deployments
    for deployment in deployments:
        spec = deployment["spec"]
        assert spec["replicas"] == 1
        assert spec["strategy"]["type"] == "Recreate"  # never two pods of one instance polling at once
        pod = spec["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == USER_ID
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = containers(deployment)
        assert container["image"] == f"tione-exporter:{__version__}"
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["runAsNonRoot"] is True
        # Every volume mounted, every mount backed by a volume, and a writable /tmp under the read-only root.
        mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
        assert set(mounts.values()) == {volume["name"] for volume in pod.get("volumes", [])}, kustomization
        assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == mounts.get("/tmp"))
        assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
        assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports == {"metrics": METRICS_PORT}
        assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
        settings = settings_of(docs, deployment)
        unknown = {key for key in settings if key.startswith("TIONE_EXPORTER_")} - SETTINGS_ENV
        assert not unknown, f"not settings of the exporter: {unknown}"
        assert settings["TIONE_EXPORTER_TIONE_REGIONS"]
        plain = env(container)
        assert not {"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_SECURITY_TOKEN"} & set(plain)
        assert not {"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"} & set(settings)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_settings_are_accepted_by_the_exporter(kustomization: str) -> None:
    docs = render(kustomization)
    for deployment in of_kind(docs, "Deployment"):
        environ = {**settings_of(docs, deployment), **env(containers(deployment)[0])}
        environ.pop("TIONE_EXPORTER_WEB_CONFIG_FILE", None)  # a mounted Secret of the user's: read at start-up
        try:
            load_settings({}, environ)
        except ConfigError as error:
            pytest.fail(f"{deployment['metadata']['name']}: {error}")


def test_base_reads_the_key_pair_from_a_mounted_secret() -> None:
    deployment = one(render("base"), "Deployment")
    plain = env(containers(deployment)[0])
    for name in ("TENCENTCLOUD_SECRET_ID_FILE", "TENCENTCLOUD_SECRET_KEY_FILE"):
        volume = volume_of_file(deployment, plain[name])
        assert volume["secret"]["secretName"] == "tione-exporter-credentials"
        assert Path(plain[name]).name in {"secret-id", "secret-key"}


def test_tke_overlay_uses_workload_identity_and_no_static_keys() -> None:
    docs = render("overlays/tke-workload-identity")
    deployment = one(docs, "Deployment")
    container = containers(deployment)[0]
    plain = env(container)
    assert not [name for name in plain if name.startswith("TENCENTCLOUD_")]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert not [volume for volume in volumes if "secret" in volume]
    settings = settings_of(docs, deployment)
    environ = {**settings, **plain}
    for name in (credentials.ENV_TKE_REGION, credentials.ENV_TKE_PROVIDER_ID, credentials.ENV_TKE_ROLE_ARN):
        assert environ[name], name
    assert environ[credentials.ENV_TKE_ROLE_ARN].startswith("qcs::cam::uin/")
    token = plain[credentials.ENV_TKE_TOKEN_FILE]
    volume = volume_of_file(deployment, token)
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "sts.cloud.tencent.com"
    assert token.endswith("/" + source["serviceAccountToken"]["path"])
    # The credential chain's providers before TKE's stay out of the way; TKE's takes this environment.
    assert not asyncio.run(credentials.EnvProvider(environ).available())
    assert not asyncio.run(credentials.EnvProvider(environ, files=True).available())
    assert asyncio.run(roles.TkeOidcProvider(environ).available())


def test_sharded_overlay_splits_regions_over_deployments() -> None:
    docs = render("overlays/sharded")
    deployments = of_kind(docs, "Deployment")
    assert len(deployments) >= 2
    regions = [settings_of(docs, d)["TIONE_EXPORTER_TIONE_REGIONS"].split(",") for d in deployments]
    flat = [region for shard in regions for region in shard]
    assert len(flat) == len(set(flat)), f"a region is polled by two shards: {regions}"
    budget = sum(float(settings_of(docs, d)["TIONE_EXPORTER_API_RATE_LIMIT"]) for d in deployments)
    assert budget <= API_REQUESTS_PER_SECOND / 2  # the shards together keep to the single instance's default
    instances = [d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] for d in deployments]
    assert len(set(instances)) == len(instances)
    for deployment in deployments:
        selector = deployment["spec"]["selector"]["matchLabels"]
        matched = [d for d in deployments if selects(selector, d["spec"]["template"]["metadata"]["labels"])]
        assert matched == [deployment], "a Deployment's selector takes another shard's pods"
    service = one(docs, "Service")
    assert all(selects(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"]) for d in deployments)
    (relabel,) = one(docs, "ServiceMonitor")["spec"]["endpoints"][0]["relabelings"]
    assert relabel["targetLabel"] == "instance"
    assert relabel["sourceLabels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"]


def test_recording_rules_add_up_across_shards() -> None:
    """Every aggregation of the recording rules keeps `region` and drops `instance`: shards that poll
    disjoint regions add up to what one instance would give. A `without` drops exactly what tells two
    replicas of one shard apart, so that they count once."""
    rule = one(render("overlays/sharded"), "PrometheusRule")
    records = [r for group in rule["spec"]["groups"] for r in group["rules"] if "record" in r]
    assert records
    for record in records:
        expr = record["expr"]
        groupings = re.findall(r"\b(by|without)\s*\(([^)]*)\)", expr)
        assert groupings, f"{record['record']} does not aggregate"
        assert any(kind == "by" for kind, _ in groupings), f"{record['record']} keeps instance"
        for kind, labels in groupings:
            names = {label.strip() for label in labels.split(",")}
            if kind == "without":
                assert names == {"pod", "instance"}, f"{record['record']}: without ({labels})"
            else:
                assert "region" in names and not {"instance", "job", "pod"} & names, (
                    f"{record['record']}: by ({labels})"
                )


def test_web_config_overlay_serves_tls_with_basic_auth() -> None:
    docs = render("overlays/web-config")
    deployment = one(docs, "Deployment")
    settings = settings_of(docs, deployment)
    path = settings["TIONE_EXPORTER_WEB_CONFIG_FILE"]
    volume = volume_of_file(deployment, path)
    assert volume["secret"]["items"] == [{"key": Path(path).name, "path": Path(path).name}]  # not the password
    example = yaml.safe_load((KUSTOMIZE_OVERLAYS / "web-config" / "web-config.example.yml").read_text())
    for key in ("cert_file", "key_file"):
        assert (
            volume_of_file(deployment, example["tls_server_config"][key])["secret"]["secretName"]
            == "tione-exporter-tls"
        )
    assert example["basic_auth_users"]
    container = containers(deployment)[0]
    assert container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    (endpoint,) = one(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["ca"]["secret"]["name"] == "tione-exporter-tls"
    assert {"username", "password"} == set(endpoint["basicAuth"])


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_service_monitor_finds_the_exporters(kustomization: str) -> None:
    docs = render(kustomization)
    service = one(docs, "Service")
    monitor = one(docs, "ServiceMonitor")
    assert "tione" in service["metadata"]["name"]  # `job` is the Service's name; the alerts match job=~".*tione.*"
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["metadata"]["labels"]["release"]
    ports = {port["name"]: port for port in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in ports
        assert endpoint["path"] == "/metrics"
    assert ports["metrics"]["targetPort"] == "metrics"
    for deployment in of_kind(docs, "Deployment"):
        assert selects(service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_network_policy_allows_only_metrics_in_and_dns_https_out(kustomization: str) -> None:
    docs = render(kustomization)
    policy = one(docs, "NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    for deployment in of_kind(docs, "Deployment"):
        assert selects(policy["podSelector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"])
    ingress = [(port["port"], port["protocol"]) for rule in policy["ingress"] for port in rule["ports"]]
    assert ingress == [("metrics", "TCP")]
    assert all("from" not in rule for rule in policy["ingress"])
    egress = {(port["port"], port["protocol"]) for rule in policy["egress"] for port in rule["ports"]}
    assert egress == {(53, "UDP"), (53, "TCP"), (443, "TCP")}


def sizing_rows() -> dict[str, dict[str, str]]:
    """docs/performance.md's sizing table, by its first cell: memory and CPU requests and limits."""
    text = (REPO / "docs" / "performance.md").read_text()
    section = text.split("## Sizing", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, dict[str, str]] = {}
    header: list[str] = []
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("|--") or line.startswith("|:") or "---" in line:
            continue
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        if not header:
            header = cells
            continue
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_resources_are_the_sizing_tables_default_row(kustomization: str) -> None:
    (default,) = [row for name, row in sizing_rows().items() if "manifests' default" in name]
    for deployment in of_kind(render(kustomization), "Deployment"):
        (container,) = containers(deployment)
        resources = container["resources"]
        assert resources["requests"]["memory"] == default["memory request"]
        assert resources["limits"]["memory"] == default["memory limit"]
        assert resources["requests"]["cpu"] == default["CPU request"]
        assert resources["limits"]["cpu"] == default["CPU limit"]
