"""The components as a library: compositions a platform team would write, checked on the Kubernetes
objects they produce (bring-your-own PostgreSQL/Kafka, two tenants, an explicit provider)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from infra import images as images_mod
from infra.components import (
    ExternalKafka,
    ExternalPostgres,
    LogAggregator,
    LogAggregatorArgs,
)
from tests.infra.mocks import RecordingMocks
from tests.infra.render import normalise

IMAGE = "registry.example.com/logagg@sha256:" + "c" * 64
PG_CIDR, KAFKA_CIDR = "10.20.0.0/16", "10.30.0.0/16"


class ProviderMocks(RecordingMocks):
    """RecordingMocks that also remember each registration's provider reference and URN parts."""

    def __init__(self) -> None:
        super().__init__()
        self.providers: dict[tuple[str, str], str] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        self.providers[(args.typ, args.name)] = args.provider or ""
        return super().new_resource(args)


def build(factory: Callable[[], Any]) -> ProviderMocks:
    """Run `factory` as a Pulumi program under recording mocks."""
    mocks = ProviderMocks()
    pulumi.runtime.set_mocks(mocks, project="platform", stack="test", preview=False)

    @pulumi.runtime.test
    def run() -> None:
        factory()

    run()
    return mocks


def objects(mocks: RecordingMocks) -> list[dict[str, Any]]:
    """Kubernetes objects the program registered, normalised."""
    return [normalise(r.inputs) for r in mocks.resources
            if r.custom and r.typ.startswith("kubernetes:") and "kind" in r.inputs]


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def pod_specs(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`Kind/name` → pod spec of every workload (CronJobs included)."""
    out = {f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
           for o in objs if o["kind"] in ("Deployment", "StatefulSet", "Job")}
    out |= {f"CronJob/{o['metadata']['name']}": o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            for o in of_kind(objs, "CronJob")}
    return out


def projected_secrets(spec: dict[str, Any]) -> set[str]:
    """Names of the Secrets a service pod mounts through its `secrets` projected volume."""
    return {s["secret"]["name"] for v in spec.get("volumes", []) if v["name"] == "secrets"
            for s in v["projected"]["sources"]}


def egress_to(objs: list[dict[str, Any]], cidr: str) -> dict[str, set[int]]:
    """NetworkPolicy name → ports it opens towards `cidr`."""
    out: dict[str, set[int]] = {}
    for policy in of_kind(objs, "NetworkPolicy"):
        for rule in policy["spec"].get("egress") or []:
            if {"ipBlock": {"cidr": cidr}} in rule.get("to", []):
                out[policy["metadata"]["name"]] = {p["port"] for p in rule["ports"]}
    return out


def base(**overrides: Any) -> LogAggregatorArgs:
    """A small system with a prebuilt image (nothing to build) and an Ingress."""
    fields: dict[str, Any] = {"namespace": "team-a", "image_ref": IMAGE,
                              "ingress_host": "logs.team-a.example.com", "api_min_replicas": 1}
    return LogAggregatorArgs(**(fields | overrides))


# ---- bring your own PostgreSQL ------------------------------------------------------------------
BYO_PG = ExternalPostgres(dsn_secret_name="shared-db-dsn", host="pg.db.example.com", cidr=PG_CIDR,
                          port=6432, ca_secret_name="shared-db-ca")


@pytest.fixture(scope="module")
def byo_postgres() -> list[dict[str, Any]]:
    return objects(build(lambda: LogAggregator("logagg", base(external_postgres=BYO_PG))))


def test_byo_postgres_creates_no_database(byo_postgres: list[dict[str, Any]]) -> None:
    assert not of_kind(byo_postgres, "Cluster")
    names = {f"{o['kind']}/{o['metadata']['name']}" for o in byo_postgres if o["kind"] != "NetworkPolicy"}
    assert not [n for n in names if "postgres" in n.split("/")[1]], sorted(names)
    images = {c["image"] for spec in pod_specs(byo_postgres).values()
              for c in spec["containers"] + spec.get("initContainers", [])}
    assert images_mod.POSTGRES in images  # only the verify Job's throw-away scratch server ...
    scratch = [n for n, spec in pod_specs(byo_postgres).items()
               if any(c["image"].startswith("postgres:") for c in spec["containers"])]
    assert scratch == ["Job/logagg-grafana-readonly-role"], scratch  # ... and the psql role Job


def test_byo_postgres_dsn_reaches_service_migrations_and_backups(
        byo_postgres: list[dict[str, Any]]) -> None:
    specs = pod_specs(byo_postgres)
    users = {"Deployment/logagg-api", "Deployment/logagg-consumer", "CronJob/logagg-retention",
             "Job/logagg-migrate", "CronJob/logagg-backup", "CronJob/logagg-backup-verify"}
    assert users <= set(specs)
    for name in users:
        assert "shared-db-dsn" in projected_secrets(specs[name]), name
        ca = [v for v in specs[name]["volumes"] if v["name"] == "db-ca"]
        assert ca and ca[0]["secret"]["secretName"] == "shared-db-ca", name


def test_byo_postgres_network_policies_allow_egress_to_it(byo_postgres: list[dict[str, Any]]) -> None:
    egress = egress_to(byo_postgres, PG_CIDR)
    expected = {"api", "consumer", "migrations", "retention", "backup", "grafana", "grafana-role"}
    assert set(egress) == {f"allow-{n}-to-postgres-egress" for n in expected}
    assert all(ports == {6432} for ports in egress.values()), egress
    ingress = [p["metadata"]["name"] for p in of_kind(byo_postgres, "NetworkPolicy")
               if p["metadata"]["name"].endswith("-to-postgres-ingress")]
    assert ingress == [], "nothing of ours runs the database: no ingress side to write"


# ---- bring your own Kafka -----------------------------------------------------------------------
BYO_KAFKA = ExternalKafka(bootstrap_servers="b-1.kafka.example.com:9094,b-2.kafka.example.com:9094",
                          cidr=KAFKA_CIDR, ports=(9094,), tls_ca_secret_name="msk-ca")


@pytest.fixture(scope="module")
def byo_kafka() -> list[dict[str, Any]]:
    return objects(build(lambda: LogAggregator("logagg", base(external_kafka=BYO_KAFKA))))


def test_byo_kafka_creates_no_broker_and_clients_use_its_servers_over_tls(
        byo_kafka: list[dict[str, Any]]) -> None:
    kinds = Counter(o["kind"] for o in byo_kafka)
    assert not [o["metadata"]["name"] for o in byo_kafka
                if "kafka" in o["metadata"]["name"] and o["kind"] != "NetworkPolicy"]
    assert kinds["StatefulSet"] == 2  # PostgreSQL and Prometheus only
    (config,) = [c for c in of_kind(byo_kafka, "ConfigMap") if "LOGAGG_ENV" in c.get("data", {})]
    assert config["data"]["LOGAGG_KAFKA_BOOTSTRAP_SERVERS"] == BYO_KAFKA.bootstrap_servers
    assert config["data"]["LOGAGG_KAFKA_SECURITY_PROTOCOL"] == "SSL"
    assert config["data"]["LOGAGG_KAFKA_SSL_CAFILE"] == "/etc/logagg/kafka-ca/ca.crt"
    for name in ("Deployment/logagg-api", "Deployment/logagg-consumer"):
        spec = pod_specs(byo_kafka)[name]
        (ca,) = [v for v in spec["volumes"] if v["name"] == "kafka-ca"]
        assert ca["secret"]["secretName"] == "msk-ca", name
        mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        assert "/etc/logagg/kafka-ca" in mounts, name


def test_byo_kafka_network_policies_allow_egress_to_it(byo_kafka: list[dict[str, Any]]) -> None:
    assert egress_to(byo_kafka, KAFKA_CIDR) == {"allow-api-to-kafka-egress": {9094},
                                                "allow-consumer-to-kafka-egress": {9094}}


# ---- bring your own Kafka with SASL -------------------------------------------------------------
SASL_FILES = {"LOGAGG_KAFKA_SASL_USERNAME_FILE": "/etc/logagg/kafka-sasl/username",
              "LOGAGG_KAFKA_SASL_PASSWORD_FILE": "/etc/logagg/kafka-sasl/password"}


def _container_env(spec: dict[str, Any]) -> dict[str, Any]:
    """name → value (or valueFrom) of the first container's env."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in spec["containers"][0]["env"]}


@pytest.mark.parametrize(("tls_ca", "protocol"), [("msk-ca", "SASL_SSL"), (None, "SASL_PLAINTEXT")])
def test_byo_kafka_with_sasl_mounts_the_credentials_as_files(
        tls_ca: str | None, protocol: str) -> None:
    kafka = ExternalKafka(bootstrap_servers="b-1.kafka.example.com:9096", cidr=KAFKA_CIDR,
                          ports=(9096,), tls_ca_secret_name=tls_ca,
                          sasl_mechanism="SCRAM-SHA-512", sasl_secret_name="msk-sasl")
    objs = objects(build(lambda: LogAggregator("logagg", base(external_kafka=kafka))))
    (config,) = [c for c in of_kind(objs, "ConfigMap") if "LOGAGG_ENV" in c.get("data", {})]
    assert config["data"]["LOGAGG_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    # The SASL protocol is only on the Kafka clients: the retention job has no credentials.
    assert "LOGAGG_KAFKA_SECURITY_PROTOCOL" not in config["data"]
    assert ("LOGAGG_KAFKA_SSL_CAFILE" in config["data"]) == (tls_ca is not None)
    specs = pod_specs(objs)
    for name in ("Deployment/logagg-api", "Deployment/logagg-consumer"):
        spec = specs[name]
        env = _container_env(spec)
        assert env["LOGAGG_KAFKA_SECURITY_PROTOCOL"] == protocol, name
        assert {k: env.get(k) for k in SASL_FILES} == SASL_FILES, name
        assert "LOGAGG_KAFKA_SASL_USERNAME" not in env and "LOGAGG_KAFKA_SASL_PASSWORD" not in env
        (sasl,) = [v for v in spec["volumes"] if v["name"] == "kafka-sasl"]
        assert sasl["secret"]["secretName"] == "msk-sasl", name
        assert {i["key"] for i in sasl["secret"]["items"]} == {"username", "password"}, name
        assert sasl["secret"]["defaultMode"] == 0o440, name
        (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "kafka-sasl"]
        assert mount == {"name": "kafka-sasl", "mountPath": "/etc/logagg/kafka-sasl",
                         "readOnly": True}, name
        assert ("kafka-ca" in {v["name"] for v in spec["volumes"]}) == (tls_ca is not None), name
    retention = specs["CronJob/logagg-retention"]
    assert "kafka-sasl" not in {v["name"] for v in retention["volumes"]}
    assert not SASL_FILES.keys() & _container_env(retention).keys()
    assert not [e for spec in specs.values() for c in spec["containers"] for e in c.get("env", [])
                if "valueFrom" in e], "secrets are files, never env (CKV_K8S_35)"


@pytest.mark.parametrize(("sasl", "message"), [
    ({"sasl_mechanism": "PLAIN"}, "together or neither"),
    ({"sasl_secret_name": "msk-sasl"}, "together or neither"),
    ({"sasl_mechanism": "GSSAPI", "sasl_secret_name": "msk-sasl"}, "must be one of"),
])
def test_byo_kafka_sasl_misconfiguration_is_refused(sasl: dict[str, str], message: str) -> None:
    kafka = ExternalKafka(bootstrap_servers="b-1.kafka.example.com:9096", cidr=KAFKA_CIDR, **sasl)
    with pytest.raises(ValueError, match=message):
        build(lambda: LogAggregator("logagg", base(external_kafka=kafka)))


# ---- two tenants in one program -----------------------------------------------------------------
def _two_tenants() -> None:
    for tenant in ("tenant-a", "tenant-b"):
        LogAggregator(tenant, base(namespace=tenant, ingress_host=f"logs.{tenant}.example.com"))


def test_two_log_aggregators_do_not_collide() -> None:
    mocks = build(_two_tenants)
    names = Counter((r.typ, r.name) for r in mocks.resources)
    assert [k for k, n in names.items() if n > 1] == []
    objs = objects(mocks)
    keys = Counter((o["metadata"].get("namespace", ""), o["kind"], o["metadata"]["name"]) for o in objs)
    assert [k for k, n in keys.items() if n > 1] == []
    assert {o["metadata"]["name"] for o in of_kind(objs, "Namespace")} == {"tenant-a", "tenant-b"}
    per_ns = Counter(o["metadata"].get("namespace") for o in objs if o["kind"] != "Namespace")
    assert per_ns["tenant-a"] == per_ns["tenant-b"] > 50
    for ingress in of_kind(objs, "Ingress"):
        ns = ingress["metadata"]["namespace"]
        assert ingress["spec"]["rules"][0]["host"] == f"logs.{ns}.example.com"
        assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == f"{ns}-api"


# ---- an explicit provider -----------------------------------------------------------------------
def test_an_explicit_provider_reaches_every_kubernetes_resource() -> None:
    def program() -> None:
        other = k8s.Provider("other-cluster", kubeconfig="apiVersion: v1\nkind: Config\n",
                             namespace="ignored")
        LogAggregator("logagg", base(redis_enabled=True, db_operator=True, db_instances=2),
                      opts=pulumi.ResourceOptions(providers=[other]))

    mocks = build(program)
    k8s_resources = [(r.typ, r.name) for r in mocks.resources
                     if r.custom and r.typ.startswith("kubernetes:")]
    assert len(k8s_resources) > 60
    assert any(t == "kubernetes:helm.sh/v3:Release" for t, _ in k8s_resources)
    wrong = {key: mocks.providers[key] for key in k8s_resources
             if not re.search(r"pulumi:providers:kubernetes::other-cluster::other-cluster-id$",
                              mocks.providers[key])}
    assert wrong == {}


# ---- WAL archiving and PITR: the CloudNativePG instances' network ------------------------------
@pytest.mark.parametrize("cutover", [False, True])
def test_wal_archive_and_a_pitr_cluster_get_their_network(cutover: bool) -> None:
    from policy.logagg_policy import rules
    from tests.infra import render
    from tests.infra.test_security_network import unpaired

    overrides = {"restoreTargetTime": "2026-11-29T10:15:00Z", "restoreCutover": str(cutover).lower()}
    r = render.run_program("prod", overrides=overrides)
    assert rules.pods_without_network_policy(r.objects, specific=True) == []
    assert unpaired(r.objects)[0] == []
    storage = {p["metadata"]["name"]: p["spec"]["podSelector"]["matchLabels"]
               for p in r.of_kind("NetworkPolicy") if p["metadata"]["name"].endswith("-to-object-storage-egress")}
    live, other = "logagg-postgres-pitr", "logagg-postgres"
    if not cutover:
        live, other = other, live
    assert storage["allow-postgres-to-object-storage-egress"] == {"cnpg.io/cluster": live}
    assert {"cnpg.io/cluster": other} in storage.values()
    api = r.find("NetworkPolicy", "allow-api-to-postgres-ingress")
    assert api["spec"]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": live}


def test_grafana_read_only_role_gets_its_password_on_every_stack() -> None:
    """CloudNativePG creates the role from Grafana's Secret; the dev StatefulSet's role Job sets it."""
    from tests.infra import render

    prod = render.run_program("prod")
    (role,) = prod.find("Cluster", "logagg-postgres")["spec"]["managed"]["roles"]
    secret = prod.find("Secret", role["passwordSecret"]["name"])
    assert secret["type"] == "kubernetes.io/basic-auth" and role["name"] == "logagg_readonly"
    script = prod.find("Job", "logagg-grafana-readonly-role")["spec"]["template"]["spec"][
        "containers"][0]["command"][2]
    assert "ALTER ROLE" not in script
    dev = render.run_program("dev")
    assert "ALTER ROLE logagg_readonly PASSWORD" in dev.find(
        "Job", "logagg-grafana-readonly-role")["spec"]["template"]["spec"]["containers"][0]["command"][2]
