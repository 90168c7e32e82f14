"""What each stack creates: assertions on the Kubernetes objects the real program renders."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra.k8s import is_pinned_image

from . import render
from .mocks import fake_digest

DIGEST_REF = re.compile(r"^[a-z0-9.\-/]+@sha256:[0-9a-f]{64}$")
EXPECTED = {  # stack: (kafka nodes, RF, min ISR, db instances, synchronous, partitions, consumers)
    "dev": (1, 1, 1, 1, False, 3, 1),
    "staging": (3, 3, 2, 2, False, 6, 2),
    "prod": (3, 3, 2, 3, True, 12, 4),
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


def pod_specs(r: render.Rendered) -> list[tuple[str, dict[str, Any]]]:
    """(`Kind/name`, pod spec) of every workload, CronJobs included."""
    out = [(f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
           for o in r.objects if o["kind"] in WORKLOAD_KINDS]
    out += [(f"CronJob/{o['metadata']['name']}", o["spec"]["jobTemplate"]["spec"]["template"]["spec"])
            for o in r.of_kind("CronJob")]
    return out


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def ns_of(r: render.Rendered) -> str:
    return r.of_kind("Namespace")[0]["metadata"]["name"]


# ---- every stack ---------------------------------------------------------------------------
def test_namespace_enforces_restricted_pod_security(stack: render.Rendered) -> None:
    (namespace,) = stack.of_kind("Namespace")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted", stack.stack
    assert namespace["metadata"]["name"] == f"logagg-{stack.stack}"
    assert {o["metadata"].get("namespace") for o in stack.objects if o is not namespace} == {
        namespace["metadata"]["name"]}


def test_every_container_is_hardened_with_resources_and_pinned_image(stack: render.Rendered) -> None:
    for name, spec in pod_specs(stack):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] and pod["runAsUser"] >= 10000, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for c in spec["containers"]:
            where = f"[{stack.stack}] {name}/{c['name']}"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["runAsUser"] >= 10000, where
            assert set(c["resources"]) == {"requests", "limits"}, where
            assert set(c["resources"]["limits"]) == {"cpu", "memory"}, where
            assert is_pinned_image(c["image"]), where


def test_service_workloads_run_the_built_image_by_digest(stack: render.Rendered) -> None:
    (build,) = stack.mocks.of_type("docker-build:index:Image")
    assert build.inputs["push"] is True
    assert build.inputs["dockerfile"]["location"] == "service/Dockerfile"
    expected = f"ghcr.io/example/log-aggregator/logagg@{fake_digest(build.name)}"
    service_containers = [
        (name, c) for name, spec in pod_specs(stack) for c in spec["containers"]
        if c.get("command") == ["python", "-m", "logagg"]]
    roles = sorted(c["args"][0] for _, c in service_containers)
    # backup + backup verify (logical dumps) run the service image too.
    assert roles == ["api", "backup", "backup", "consumer", "migrate", "retention"], roles
    for name, c in service_containers:
        assert DIGEST_REF.match(c["image"]) and c["image"] == expected, f"{name}: {c['image']}"


def test_api_deployment_probes_and_no_replicas(stack: render.Rendered) -> None:
    api = stack.find("Deployment", "logagg-api")
    assert "replicas" not in api["spec"], "the HPA owns spec.replicas"
    spec = api["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    live, ready = c["livenessProbe"], c["readinessProbe"]
    assert (live["httpGet"]["path"], live["initialDelaySeconds"], live["periodSeconds"]) == (
        "/health", 30, 10)
    assert (ready["httpGet"]["path"], ready["initialDelaySeconds"], ready["periodSeconds"]) == (
        "/health/ready", 5, 5)
    keys = {t["topologyKey"] for t in spec["topologySpreadConstraints"]}
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert spec["serviceAccountName"] == "logagg-api"
    sa = stack.find("ServiceAccount", "logagg-api")
    assert sa["automountServiceAccountToken"] is False


def test_one_service_account_per_workload(stack: render.Rendered) -> None:
    accounts = [spec["serviceAccountName"] for _, spec in pod_specs(stack)]
    assert len(accounts) == len(set(accounts)), f"[{stack.stack}] shared: {sorted(accounts)}"
    for name in accounts:
        assert stack.find("ServiceAccount", name)["automountServiceAccountToken"] is False


def test_api_hpa_pdb_service(stack: render.Rendered) -> None:
    hpa = stack.find("HorizontalPodAutoscaler", "logagg-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "logagg-api"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 80}
    pdb = stack.find("PodDisruptionBudget", "logagg-api")
    api = stack.find("Deployment", "logagg-api")
    assert pdb["spec"]["selector"] == api["spec"]["selector"]
    svc = stack.find("Service", "logagg-api")
    assert svc["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"][0]["port"] == 8080


def test_service_secrets_are_mounted_files_not_env(stack: render.Rendered) -> None:
    api = stack.find("Deployment", "logagg-api")["spec"]["template"]["spec"]
    (c,) = api["containers"]
    env = env_of(c)
    assert env["LOGAGG_DATABASE_URL_FILE"] == "/etc/logagg/secrets/database-url"
    assert env["LOGAGG_API_KEYS_FILE"] == "/etc/logagg/secrets/api-keys"
    assert not any("secretKeyRef" in str(v) for v in env.values())
    (secrets,) = [v for v in api["volumes"] if v["name"] == "secrets"]
    refs = {s["secret"]["name"]: s["secret"]["items"][0]["key"]
            for s in secrets["projected"]["sources"]}
    assert refs["logagg-postgres-dsn"] == "database-url"
    assert refs["logagg-api-keys"] == "api-keys"
    for name in refs:
        stack.find("Secret", name)  # every referenced Secret is created by the program
    config_map = stack.of_kind("ConfigMap")[0]
    assert c["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert not any(k.endswith(("_URL", "_KEYS", "PASSWORD")) for k in config_map["data"])


def test_consumer_never_exceeds_partitions(stack: render.Rendered) -> None:
    *_, partitions, consumers = EXPECTED[stack.stack]
    consumer = stack.find("Deployment", "logagg-consumer")
    assert consumer["spec"]["replicas"] == consumers <= partitions
    (c,) = consumer["spec"]["template"]["spec"]["containers"]
    assert c["args"] == ["consumer"]
    assert "LOGAGG_API_KEYS_FILE" not in env_of(c), "the consumer gets no API keys"
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in c["ports"]
    job = stack.find("Job", "logagg-kafka-topic-logs")
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert f"--partitions {partitions} " in script


def test_kafka_kraft_quorum_replication_and_isr(stack: render.Rendered) -> None:
    nodes, rf, isr, *_ = EXPECTED[stack.stack]
    ns = ns_of(stack)
    sts = stack.find("StatefulSet", "logagg-kafka")
    assert sts["spec"]["replicas"] == nodes
    assert sts["spec"]["serviceName"] == "logagg-kafka-headless"
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    assert c["image"].startswith("apache/kafka:4.1.")
    assert "${HOSTNAME##*-}" in c["command"][2], "node id comes from the pod ordinal"
    env = env_of(c)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert voters == [f"{i}@logagg-kafka-{i}.logagg-kafka-headless.{ns}.svc.cluster.local:9093"
                      for i in range(nodes)]
    assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == str(rf)
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == str(rf)
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == str(isr)
    assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    assert env["CLUSTER_ID"] and len(env["CLUSTER_ID"]) == 22
    heap = {"dev": "384m", "staging": "512m", "prod": "1024m"}[stack.stack]
    assert env["KAFKA_HEAP_OPTS"] == f"-Xms{heap} -Xmx{heap}"
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/var/lib/kafka/data", "/opt/kafka/config", "/opt/kafka/logs", "/tmp"} <= mounts
    headless = stack.find("Service", "logagg-kafka-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    script = stack.find("Job", "logagg-kafka-topic-logs")["spec"]["template"]["spec"][
        "containers"][0]["command"][2]
    assert f"--replication-factor {rf} --config min.insync.replicas={isr}" in script
    cm = stack.of_kind("ConfigMap")[0]["data"]
    assert cm["LOGAGG_KAFKA_BOOTSTRAP_SERVERS"].count(":9092") == nodes


def test_migrations_job_runs_migrate_with_the_dsn(stack: render.Rendered) -> None:
    job = stack.find("Job", "logagg-migrate")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["args"] == ["migrate"]
    assert env_of(c)["LOGAGG_DATABASE_URL_FILE"] == "/etc/logagg/secrets/database-url"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_rollout_waits_for_migrations_topic_and_database(stack: render.Rendered) -> None:
    deps = stack.depends_on
    assert deps["logagg:index:IngestionService::logagg"] == ["logagg-kafka", "logagg-migrate"]
    assert deps["logagg:index:Migrations::logagg-migrate"] == ["logagg-postgres"]
    assert deps["kubernetes:batch/v1:Job::logagg-kafka-topic"] == ["logagg-kafka-statefulset"]


def test_log_level_and_ingress_host_per_stack(stack: render.Rendered) -> None:
    levels = {"dev": "debug", "staging": "info", "prod": "warning"}
    data = stack.of_kind("ConfigMap")[0]["data"]
    assert data["LOGAGG_LOG_LEVEL"] == levels[stack.stack]
    assert data["LOGAGG_ENV"] == stack.stack
    ingress = stack.find("Ingress", "logagg-api")
    host = {"dev": "logs.dev.example.com", "staging": "logs.staging.example.com",
            "prod": "logs.example.com"}[stack.stack]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == host
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "logagg-api"


# ---- PostgreSQL mode per stack ---------------------------------------------------------------
def test_dev_postgres_is_one_hardened_statefulset(rendered: dict[str, render.Rendered]) -> None:
    dev = rendered["dev"]
    assert not dev.of_kind("Cluster") and not dev.helm_releases
    sts = dev.find("StatefulSet", "logagg-postgres")
    assert sts["spec"]["replicas"] == 1
    spec = sts["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert re.fullmatch(r"postgres:17\.\d+@sha256:[0-9a-f]{64}", c["image"])
    assert spec["securityContext"]["runAsUser"] >= 10000
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsUser"]
    env = env_of(c)
    assert env["PGDATA"].startswith("/var/lib/postgresql/data/")
    assert env["POSTGRES_PASSWORD_FILE"] == "/etc/postgres-credentials/password"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    dev.find("Service", "logagg-postgres")
    dev.find("Secret", "logagg-postgres-credentials")
    api = dev.find("Deployment", "logagg-api")["spec"]["template"]["spec"]
    assert not [v for v in api["volumes"] if v["name"] == "db-ca"], "dev DB has no TLS"


@pytest.mark.parametrize(("name", "instances", "synchronous"),
                         [("staging", 2, False), ("prod", 3, True)])
def test_replicated_stacks_use_one_cloudnativepg_cluster(
        rendered: dict[str, render.Rendered], name: str, instances: int,
        synchronous: bool) -> None:
    r = rendered[name]
    assert not [s for s in r.of_kind("StatefulSet") if "postgres" in s["metadata"]["name"]], (
        "never N independent databases")
    (cluster,) = r.of_kind("Cluster")
    spec = cluster["spec"]
    assert spec["instances"] == instances
    assert spec["imageName"].startswith("ghcr.io/cloudnative-pg/postgresql:17.")
    assert spec["bootstrap"]["initdb"]["secret"]["name"] == "logagg-postgres-owner"
    assert r.find("Secret", "logagg-postgres-owner")["type"] == "kubernetes.io/basic-auth"
    if synchronous:
        assert spec["postgresql"]["synchronous"] == {"method": "any", "number": 1,
                                                     "dataDurability": "required"}
    else:
        assert "synchronous" not in spec["postgresql"]
    assert r.exports["databaseHost"] == f"logagg-postgres-rw.logagg-{name}.svc"
    charts = {release["chart"]: release["version"] for release in r.helm_releases}
    assert charts["cloudnative-pg"] == "0.29.0"
    assert set(charts) == {"cloudnative-pg", "plugin-barman-cloud"}  # WAL archiving (backups)
    api = r.find("Deployment", "logagg-api")["spec"]["template"]["spec"]
    (ca,) = [v for v in api["volumes"] if v["name"] == "db-ca"]
    assert ca["secret"]["secretName"] == "logagg-postgres-ca"
    assert ca["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}], "never the CA key"


# ---- Redis -------------------------------------------------------------------------------------
def test_redis_only_when_enabled(rendered: dict[str, render.Rendered]) -> None:
    for name, enabled in (("dev", False), ("staging", False), ("prod", True)):
        r = rendered[name]
        (api,) = r.find("Deployment", "logagg-api")["spec"]["template"]["spec"]["containers"]
        has_url = "LOGAGG_REDIS_URL_FILE" in env_of(api)
        redis = [d for d in r.of_kind("Deployment") if d["metadata"]["name"] == "logagg-redis"]
        assert has_url is enabled and bool(redis) is enabled, name
    redis_pod = rendered["prod"].find("Deployment", "logagg-redis")["spec"]["template"]["spec"]
    assert redis_pod["containers"][0]["command"] == ["redis-server", "/etc/redis/redis.conf"]


# ---- config switches ---------------------------------------------------------------------------
def test_prebuilt_image_skips_the_build() -> None:
    ref = "ghcr.io/acme/logagg@sha256:" + "b" * 64
    r = render.run_program("dev", overrides={"imageRef": ref})
    assert not r.mocks.of_type("docker-build:index:Image")
    assert r.find("Deployment", "logagg-api")["spec"]["template"]["spec"]["containers"][0][
        "image"] == ref


def test_installed_operator_is_not_installed_again() -> None:
    r = render.run_program("staging", overrides={"dbOperatorInstalled": "true"})
    assert not r.helm_releases
    assert r.of_kind("Cluster")


def test_kafka_scales_with_config() -> None:
    r = render.run_program("dev", overrides={"kafkaNodes": "5"})
    (c,) = r.find("StatefulSet", "logagg-kafka")["spec"]["template"]["spec"]["containers"]
    env = env_of(c)
    assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert len(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == 5
    assert r.find("PodDisruptionBudget", "logagg-kafka")["spec"]["maxUnavailable"] == 1


def test_stack_outputs_and_credentials_only_as_secrets(stack: render.Rendered) -> None:
    out = stack.exports
    assert out["namespace"] == f"logagg-{stack.stack}"
    assert out["serviceUrl"].startswith(("http://", "https://")) and out["serviceUrl"].endswith(
        stack.find("Ingress", "logagg-api")["spec"]["rules"][0]["host"])
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", out["imageDigest"])
    assert out["imageRef"].endswith("@" + out["imageDigest"])
    credentials = {"databasePassword", "ingestApiKey", "queryApiKey"}
    if stack.stack == "prod":
        credentials.add("redisPassword")
    assert credentials <= set(out)
    assert stack.secret_exports == credentials, "generated credentials are exported only as secrets"
    plain = " ".join(str(v) for k, v in out.items() if k not in stack.secret_exports)
    assert not any(str(out[k]) in plain for k in credentials)
