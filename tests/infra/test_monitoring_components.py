"""Monitoring, Grafana and PgAdmin under the shared Pulumi mocks: assertions on the Kubernetes objects."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
import yaml

from infra import k8s as kx
from infra.components.grafana import Grafana, GrafanaArgs, datasources_file
from infra.components.monitoring import (
    Monitoring,
    MonitoringArgs,
    PostgresExporterArgs,
    retention_size,
)
from infra.components.pgadmin import PgAdmin, PgAdminArgs, servers_json
from infra.monitoring import assets
from infra.monitoring.scrape import ScrapeTarget
from tests.infra import validate
from tests.infra.mocks import RecordingMocks
from tests.infra.render import normalise

NS = "logagg-test"
API = ScrapeTarget(job="logagg-api", selector=kx.selector_labels("logagg", "api", "logagg"), port="http")
CONSUMER = ScrapeTarget(job="logagg-consumer",
                        selector=kx.selector_labels("logagg", "consumer", "logagg"), port="metrics")
CNPG = ScrapeTarget(job="cnpg", selector={"cnpg.io/cluster": "logagg-postgres"}, port="metrics")


def build(factory: Callable[[], pulumi.ComponentResource]) -> list[dict[str, Any]]:
    """Run `factory` under recording mocks; the Kubernetes objects it registered, normalised."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="log-aggregator", stack="test", preview=False)

    @pulumi.runtime.test
    def run() -> None:
        factory()

    run()
    return [normalise(r.inputs) for r in mocks.resources
            if r.custom and r.typ.startswith("kubernetes:")]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind}/{name}; have {sorted((o['kind'], o['metadata']['name']) for o in objects)}")


def kinds(objects: list[dict[str, Any]]) -> set[str]:
    return {o["kind"] for o in objects}


def bundled(**overrides: Any) -> list[dict[str, Any]]:
    args = {"namespace": NS, "app_targets": [API, CONSUMER],
            "postgres_exporter": PostgresExporterArgs(
                host="logagg-postgres.logagg-test.svc.cluster.local",
                password_secret_name="logagg-postgres-credentials"),
            "retention": "7d",
            "storage_size": "20Gi", "storage_class": "fast", "scrape_interval": "15s",
            "runbook_base_url": "https://git.example.com/logagg/-/blob/main/"} | overrides
    return build(lambda: Monitoring("logagg", MonitoringArgs(**args)))


def operator(**overrides: Any) -> list[dict[str, Any]]:
    args = {"namespace": NS, "mode": "operator", "app_targets": [API, CONSUMER, CNPG]} | overrides
    return build(lambda: Monitoring("logagg", MonitoringArgs(**args)))


def grafana(**overrides: Any) -> list[dict[str, Any]]:
    args = {"namespace": NS, "prometheus_url": "http://logagg-prometheus:9090",
            "db_host": "logagg-postgres-rw.logagg-test.svc.cluster.local",
            "db_owner_dsn_secret_name": "logagg-postgres-dsn"} | overrides
    return build(lambda: Grafana("logagg-grafana", GrafanaArgs(**args)))


def pgadmin(**overrides: Any) -> list[dict[str, Any]]:
    args = {"namespace": NS, "db_host": "logagg-postgres.logagg-test.svc.cluster.local"} | overrides
    return build(lambda: PgAdmin("logagg-pgadmin", PgAdminArgs(**args)))


ALL_RENDERS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "bundled": bundled, "operator": operator, "grafana": grafana,
    "grafana-tls": lambda: grafana(db_ca_secret_name="logagg-postgres-ca", set_readonly_password=False),
    "pgadmin": pgadmin, "pgadmin-tls": lambda: pgadmin(db_ca_secret_name="logagg-postgres-ca"),
}


@pytest.fixture(scope="module", params=sorted(ALL_RENDERS))
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return ALL_RENDERS[request.param]()


def _pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
            for o in objects if o["kind"] in {"Deployment", "StatefulSet", "Job"}]


# ---- every object ----------------------------------------------------------------------------
def test_objects_validate_against_kubernetes_and_crd_schemas(rendered: list[dict[str, Any]]) -> None:
    problems = [e for obj in rendered for version in (validate.OLDEST_K8S, validate.newest_k8s())
                for e in validate.errors(obj, version)]
    assert not problems, "\n".join(problems)


def test_pods_are_restricted_pss_compliant_and_pinned(rendered: list[dict[str, Any]]) -> None:
    pods = _pod_specs(rendered)
    # operator mode runs no pod of its own any more (no exporters; the operator's Prometheus scrapes)
    assert pods or {o["kind"] for o in rendered} == {"PodMonitor", "PrometheusRule"}
    for name, spec in pods:
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] >= 10000, name
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            where = f"{name}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] >= 10000, where
            assert set(c["resources"]["requests"]) == {"cpu", "memory"}, where
            assert set(c["resources"]["limits"]) == {"cpu", "memory"}, where
            assert kx.is_pinned_image(c["image"]), f"{where}: {c['image']} is not pinned"
            mounted = {m["name"] for m in c.get("volumeMounts", [])}
            declared = {v["name"] for v in spec.get("volumes", [])}
            claims = {"data"} if name.startswith("StatefulSet/") else set()
            assert mounted <= declared | claims, f"{where}: mounts undeclared volumes"


def test_only_api_clients_get_a_service_account_token(rendered: list[dict[str, Any]]) -> None:
    for name, spec in _pod_specs(rendered):
        assert spec["automountServiceAccountToken"] is False, name
        for c in spec["containers"]:
            assert c["imagePullPolicy"] == "Always", f"{name}/{c['name']}"
        token = [v for v in spec["volumes"] if v["name"] == "api-token"]
        needs_api = name in {"StatefulSet/logagg-prometheus", "Deployment/logagg-kube-state-metrics"}
        assert bool(token) == needs_api, name
        if token:
            sources = token[0]["projected"]["sources"]
            assert sources[0] == {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}
            assert spec["serviceAccountName"] == name.split("/")[1]


def test_no_cluster_wide_rbac(rendered: list[dict[str, Any]]) -> None:
    assert not kinds(rendered) & {"ClusterRole", "ClusterRoleBinding"}
    for obj in rendered:
        assert obj["metadata"].get("namespace") == NS, f"{obj['kind']}/{obj['metadata']['name']}"


# ---- Monitoring, bundled -----------------------------------------------------------------------
def test_bundled_prometheus_config_per_stack() -> None:
    objects = bundled()
    sts = find(objects, "StatefulSet", "logagg-prometheus")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert "--storage.tsdb.retention.time=7d" in container["args"]
    assert f"--storage.tsdb.retention.size={retention_size('20Gi')}" in container["args"]
    claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["resources"]["requests"]["storage"] == "20Gi" and claim["storageClassName"] == "fast"
    annotations = sts["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations["checksum/config"]) == 64

    data = find(objects, "ConfigMap", "logagg-prometheus-config")["data"]
    config = yaml.safe_load(data["prometheus.yml"])
    assert config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == ["/etc/prometheus/alerts.yaml"]
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    # no Kafka exporter: the consumer (logagg-consumer) exports Kafka's partition health
    assert set(jobs) == {"prometheus", "logagg-api", "logagg-consumer", "postgres-exporter",
                         "kube-state-metrics"}
    for job in jobs.values():
        for sd in job.get("kubernetes_sd_configs", []):
            assert sd == {"role": "pod", "namespaces": {"names": [NS]}}, job["job_name"]
    keep = {r["source_labels"][0]: r["regex"] for r in jobs["logagg-api"]["relabel_configs"]
            if r.get("action") == "keep"}
    assert keep["__meta_kubernetes_pod_label_app_kubernetes_io_component"] == "api"
    assert keep["__meta_kubernetes_pod_container_port_name"] == "http"
    assert jobs["kube-state-metrics"]["honor_labels"] is True
    assert jobs["logagg-api"]["honor_labels"] is False


def test_bundled_rules_are_scoped_to_the_namespace_with_runbook_links() -> None:
    data = find(bundled(), "ConfigMap", "logagg-prometheus-config")["data"]
    assert assets.NAMESPACE_PLACEHOLDER not in data["alerts.yaml"]
    groups = yaml.safe_load(data["alerts.yaml"])["groups"]
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 13
    for rule in alerts:
        assert f'namespace="{NS}"' in rule["expr"] or "namespace:" in rule["expr"], rule["alert"]
        assert rule["annotations"]["runbook_url"] == (
            f"https://git.example.com/logagg/-/blob/main/docs/runbooks/{rule['alert']}.md")


def test_bundled_prometheus_may_only_read_pods_in_its_namespace() -> None:
    objects = bundled()
    role = find(objects, "Role", "logagg-prometheus")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    binding = find(objects, "RoleBinding", "logagg-prometheus")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "logagg-prometheus"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "logagg-prometheus", "namespace": NS}]
    spec = find(objects, "StatefulSet", "logagg-prometheus")["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "logagg-prometheus"
    for role in (o for o in objects if o["kind"] == "Role"):
        verbs = {v for rule in role["rules"] for v in rule["verbs"]}
        assert verbs <= {"get", "list", "watch"}, role["metadata"]["name"]


def test_bundled_exporters() -> None:
    objects = bundled()
    ksm = find(objects, "Deployment", "logagg-kube-state-metrics")["spec"]["template"]["spec"]
    assert f"--namespaces={NS}" in ksm["containers"][0]["args"]
    assert ksm["serviceAccountName"] == "logagg-kube-state-metrics"
    pg = find(objects, "Deployment", "logagg-postgres-exporter")["spec"]["template"]["spec"]
    assert pg["containers"][0]["env"] == [
        {"name": "DATA_SOURCE_URI",
         "value": "logagg-postgres.logagg-test.svc.cluster.local:5432/logagg?sslmode=disable"},
        {"name": "DATA_SOURCE_USER", "value": "logagg"},
        {"name": "DATA_SOURCE_PASS_FILE", "value": "/etc/postgres-exporter/password"}]
    assert pg["volumes"] == [{"name": "password", "secret": {
        "secretName": "logagg-postgres-credentials", "defaultMode": 0o440,
        "items": [{"key": "password", "path": "password"}]}}]
    svc = find(objects, "Service", "logagg-prometheus")
    assert svc["spec"]["ports"][0]["port"] == 9090


def test_no_kafka_exporter() -> None:
    for objects in (bundled(), operator()):
        # (the rules in the ConfigMap/PrometheusRule do name the consumer's logagg_kafka_* gauges)
        kafka = [f"{o['kind']}/{o['metadata']['name']}" for o in objects
                 if o["kind"] not in {"ConfigMap", "PrometheusRule"} and "kafka" in json.dumps(o)]
        assert kafka == [], kafka
        assert not [o for o in objects if o["kind"] in {"Deployment", "Service", "ServiceAccount"}
                    and "kafka" in o["metadata"]["name"]]
    config = yaml.safe_load(find(bundled(), "ConfigMap",
                                 "logagg-prometheus-config")["data"]["prometheus.yml"])
    assert all("kafka" not in j["job_name"] for j in config["scrape_configs"])
    monitoring = yaml.safe_load(find(bundled(), "ConfigMap", "logagg-prometheus-config")["data"]["alerts.yaml"])
    exprs = " ".join(r["expr"] for g in monitoring["groups"] for r in g["rules"])
    assert "kafka_topic_partition" not in exprs and "logagg_kafka_under_replicated_partitions" in exprs


def test_optional_exporters_are_left_out_when_not_configured() -> None:
    objects = bundled(postgres_exporter=None)
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    assert names == {"logagg-kube-state-metrics"}
    config = yaml.safe_load(find(objects, "ConfigMap", "logagg-prometheus-config")["data"]["prometheus.yml"])
    assert {j["job_name"] for j in config["scrape_configs"]} == {
        "prometheus", "logagg-api", "logagg-consumer", "kube-state-metrics"}


def test_alertmanager_is_configured_when_given() -> None:
    objects = bundled(alertmanager_url="http://alertmanager.monitoring.svc:9093")
    config = yaml.safe_load(find(objects, "ConfigMap", "logagg-prometheus-config")["data"]["prometheus.yml"])
    assert config["alerting"] == {"alertmanagers": [
        {"scheme": "http", "static_configs": [{"targets": ["alertmanager.monitoring.svc:9093"]}]}]}


# ---- Monitoring, operator ----------------------------------------------------------------------
def test_operator_mode_emits_monitors_and_rules_instead_of_prometheus() -> None:
    objects = operator()
    assert not kinds(objects) & {"StatefulSet", "Role", "RoleBinding", "ConfigMap"}
    monitors = {o["metadata"]["name"]: o for o in objects if o["kind"] == "PodMonitor"}
    assert set(monitors) == {"logagg-logagg-api", "logagg-logagg-consumer", "logagg-cnpg"}
    cnpg = monitors["logagg-cnpg"]
    assert cnpg["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert cnpg["spec"]["selector"] == {"matchLabels": {"cnpg.io/cluster": "logagg-postgres"}}
    assert cnpg["spec"]["namespaceSelector"] == {"matchNames": [NS]}
    endpoint = cnpg["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == "metrics"
    assert {"action": "replace", "targetLabel": "job", "replacement": "cnpg"} in endpoint["relabelings"]
    rule = find(objects, "PrometheusRule", "logagg-rules")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert exprs and all(assets.NAMESPACE_PLACEHOLDER not in e for e in exprs)
    assert any(f'namespace="{NS}"' in e for e in exprs)


def test_operator_mode_rules_validate_against_the_crd() -> None:
    rule = find(operator(), "PrometheusRule", "logagg-rules")
    assert validate.errors(rule, validate.newest_k8s()) == []
    broken = json.loads(json.dumps(rule))
    broken["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    broken["spec"]["groups"][0]["rules"][0]["bogus"] = 1
    assert validate.errors(broken, validate.newest_k8s()), "the CRD check must be able to fail"


def test_bad_args_are_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        bundled(mode="helm")
    with pytest.raises(ValueError, match="storage_size"):
        retention_size("lots")
    with pytest.raises(TypeError, match="kafka_bootstrap_servers"):  # the exporter's input is gone
        bundled(kafka_bootstrap_servers="logagg-kafka:9092")


# ---- Grafana -----------------------------------------------------------------------------------
def test_grafana_provisions_datasources_and_repository_dashboards() -> None:
    objects = grafana()
    dashboards = find(objects, "ConfigMap", "logagg-grafana-dashboards")["data"]
    assert set(dashboards) == {"logs-explorer.json", "service-overview.json"}
    for name, text in dashboards.items():
        repo = json.loads((assets.DASHBOARDS_DIR / name).read_text())
        assert json.loads(text) == repo
    provider = yaml.safe_load(find(objects, "ConfigMap", "logagg-grafana-dashboard-provider")
                              ["data"]["dashboards.yaml"])
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana-dashboards"
    datasources = find(objects, "Secret", "logagg-grafana-datasources")
    assert set(datasources["stringData"]) == {"datasources.yaml"}  # content is secret: see below
    spec = find(objects, "Deployment", "logagg-grafana")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/etc/grafana/admin/admin-password"
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["/etc/grafana/provisioning/datasources"] == "datasources"
    assert mounts["/var/lib/grafana-dashboards"] == "dashboards"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["admin"]["secret"]["secretName"] == "logagg-grafana-admin"
    admin = find(objects, "Secret", "logagg-grafana-admin")
    assert set(admin["stringData"]) == {"admin-user", "admin-password"}
    readonly = find(objects, "Secret", "logagg-grafana-db-readonly")
    assert readonly["type"] == "kubernetes.io/basic-auth"


def test_grafana_datasources_file_uses_the_readonly_role() -> None:
    text = datasources_file("http://p:9090", "db.ns.svc", 5432, "logagg", "s3cret", tls=True,
                            scrape_interval="30s")
    ds = {d["uid"]: d for d in yaml.safe_load(text)["datasources"]}
    pg = ds["logagg-postgres"]
    assert pg["user"] == assets.READONLY_ROLE and pg["secureJsonData"] == {"password": "s3cret"}
    assert pg["url"] == "db.ns.svc:5432" and pg["jsonData"]["sslmode"] == "verify-full"
    assert pg["jsonData"]["sslRootCertFile"] == "/etc/grafana/db-ca/ca.crt"
    assert ds["logagg-prometheus"]["url"] == "http://p:9090" and ds["logagg-prometheus"]["isDefault"]
    plain = yaml.safe_load(datasources_file("http://p:9090", "db", 5432, "logagg", "x", tls=False,
                                            scrape_interval="30s"))
    assert plain["datasources"][1]["jsonData"]["sslmode"] == "disable"


def test_grafana_role_job_runs_the_repository_sql_as_owner() -> None:
    objects = grafana(db_ca_secret_name="logagg-postgres-ca", set_readonly_password=False)
    sql = find(objects, "ConfigMap", "logagg-grafana-readonly-role-sql")["data"]
    assert sql == {"readonly_role.sql": assets.readonly_role_sql()}
    job = find(objects, "Job", "logagg-grafana-readonly-role")["spec"]["template"]["spec"]
    script = job["containers"][0]["command"][2]
    assert "-f /sql/readonly_role.sql" in script and "ALTER ROLE" not in script
    volumes = {v["name"]: v for v in job["volumes"]}
    assert volumes["secrets"]["secret"]["secretName"] == "logagg-postgres-dsn"
    assert volumes["db-ca"]["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    labels = find(objects, "Job", "logagg-grafana-readonly-role")["spec"]["template"]["metadata"]["labels"]
    service = find(objects, "Service", "logagg-grafana")["spec"]["selector"]
    assert not set(service.items()) <= set(labels.items()), "the Job's pod must not back the Service"
    dev = find(grafana(), "Job", "logagg-grafana-readonly-role")["spec"]["template"]["spec"]
    assert "ALTER ROLE logagg_readonly PASSWORD" in dev["containers"][0]["command"][2]


# ---- PgAdmin -----------------------------------------------------------------------------------
def test_pgadmin_preregisters_the_server_with_credentials_from_a_secret() -> None:
    objects = pgadmin(db_ca_secret_name="logagg-postgres-ca")
    config = find(objects, "ConfigMap", "logagg-pgadmin-config")["data"]
    server = json.loads(config["servers.json"])["Servers"]["1"]
    assert server["Host"] == "logagg-postgres.logagg-test.svc.cluster.local"
    assert server["Username"] == "logagg_readonly" and server["SSLMode"] == "verify-full"
    assert "Password" not in server and "PassFile" not in server
    assert "SERVER_MODE = True" in config["config_distro.py"]
    login = find(objects, "Secret", "logagg-pgadmin-login")
    assert set(login["stringData"]) == {"email", "password"}
    spec = find(objects, "Deployment", "logagg-pgadmin")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["PGADMIN_DEFAULT_PASSWORD_FILE"]["value"] == "/etc/pgadmin/login/password"
    assert env["PGADMIN_DEFAULT_EMAIL"]["value"] == "admin@logagg.example.com"
    assert all("valueFrom" not in e for e in container["env"]), "secrets only as files"
    assert env["PGADMIN_SERVER_JSON_FILE"]["value"] == "/etc/pgadmin/config/servers.json"
    distro = [m for m in container["volumeMounts"] if m["mountPath"] == "/pgadmin4/config_distro.py"]
    assert distro == [{"name": "config", "mountPath": "/pgadmin4/config_distro.py",
                       "subPath": "config_distro.py", "readOnly": True}]
    assert json.loads(servers_json("h", 5432, "d", "u", tls=False))["Servers"]["1"]["SSLMode"] == "prefer"
