"""The ingestion service: API (Deployment + HPA + PDB + Service + Ingress), consumer, retention."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import k8s as kx
from .. import service_pod

API_PORT = 8080
METRICS_PORT = 9090
#: Kafka SASL mechanisms the service supports (LOGAGG_KAFKA_SASL_MECHANISM).
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, kw_only=True)
class IngestionServiceArgs:
    """Inputs of an IngestionService."""

    namespace: pulumi.Input[str]
    """Namespace of every object."""
    image: pulumi.Input[str]
    """Service image, pinned by digest."""
    kafka_bootstrap_servers: pulumi.Input[str]
    """`host:port,...` of the Kafka brokers."""
    dsn_secret_name: pulumi.Input[str]
    """Secret with the DSN under `database-url`."""
    db_ca_secret_name: pulumi.Input[str] | None = None
    """Secret with the PostgreSQL CA under `ca.crt` (None = no TLS to the database)."""
    redis_url_secret_name: pulumi.Input[str] | None = None
    """Secret with `redis-url`; when set the API shares rate limits through Redis."""
    kafka_topic: pulumi.Input[str] = "logs"
    """Topic for ingested batches."""
    kafka_partitions: int = 6
    """Partitions of the topic: the consumer never runs more replicas than this."""
    kafka_consumer_group: str = "logagg-consumer"
    """Consumer group id."""
    kafka_tls_ca_secret_name: pulumi.Input[str] | None = None
    """Secret with the Kafka brokers' CA under `ca.crt`: clients speak SSL (None = plaintext)."""
    kafka_sasl_mechanism: str | None = None
    """Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (None = no SASL)."""
    kafka_sasl_secret_name: pulumi.Input[str] | None = None
    """Secret with the Kafka SASL `username` and `password` (set with kafka_sasl_mechanism)."""
    environment: str = "dev"
    """LOGAGG_ENV (dev, staging, prod)."""
    log_level: str = "info"
    """LOGAGG_LOG_LEVEL."""
    retention_days: int = 14
    """LOGAGG_RETENTION_DAYS; the retention CronJob drops older partitions."""
    retention_schedule: str = "17 3 * * *"
    """Cron schedule of the retention job (UTC)."""
    resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="250m", memory_request="256Mi", cpu_limit="500m", memory_limit="512Mi"))
    """Requests/limits of the API, consumer and retention containers."""
    api_min_replicas: int = 3
    """HPA minimum."""
    api_max_replicas: int = 10
    """HPA maximum."""
    api_cpu_target: int = 80
    """HPA target average CPU utilisation (percent of the request)."""
    consumer_replicas: int = 2
    """Consumer replicas (must be ≤ kafka_partitions)."""
    ingress_host: str | None = None
    """Public host of the API; None = no Ingress."""
    ingress_class_name: str = "nginx"
    """IngressClass of the Ingress."""
    ingress_annotations: dict[str, str] = field(default_factory=dict)
    """Extra Ingress annotations (e.g. cert-manager issuer)."""
    tls_secret_name: pulumi.Input[str] | None = None
    """Secret (kubernetes.io/tls) the Ingress serves; None = plain HTTP."""
    uid: int = kx.NON_ROOT_UID
    """uid/gid the pods run as."""


def api_keys_file(ingest_key: str, query_key: str) -> str:
    """LOGAGG_API_KEYS file content: one key per scope."""
    return f"{ingest_key}:ingest\n{query_key}:query\n"


def _kafka_config(a: IngestionServiceArgs) -> dict[str, str]:
    """Kafka security settings every service pod may read (ConfigMap)."""
    data: dict[str, str] = {}
    if a.kafka_tls_ca_secret_name is not None:
        data["LOGAGG_KAFKA_SSL_CAFILE"] = f"{kx.KAFKA_CA_DIR}/ca.crt"
        if a.kafka_sasl_mechanism is None:
            data["LOGAGG_KAFKA_SECURITY_PROTOCOL"] = "SSL"
    if a.kafka_sasl_mechanism is not None:
        data["LOGAGG_KAFKA_SASL_MECHANISM"] = a.kafka_sasl_mechanism
    return data


def _kafka_client_env(a: IngestionServiceArgs) -> list[dict[str, str]]:
    """Container env of the Kafka clients (API, consumer) only.

    A SASL protocol makes the service require the credentials at startup, and only the Kafka
    clients mount them, so it cannot sit in the ConfigMap the retention job reads too.
    """
    if a.kafka_sasl_mechanism is None:
        return []
    protocol = "SASL_SSL" if a.kafka_tls_ca_secret_name is not None else "SASL_PLAINTEXT"
    return [{"name": "LOGAGG_KAFKA_SECURITY_PROTOCOL", "value": protocol}]


class IngestionService(pulumi.ComponentResource):
    """HTTP ingest/query API and the Kafka → PostgreSQL consumer, from the one service image."""

    url: pulumi.Output[str]
    """Public URL of the API ('' without an Ingress)."""
    api_service_name: pulumi.Output[str]
    """ClusterIP Service of the API (port 8080)."""
    ingest_api_key: pulumi.Output[str]
    """Generated API key with scope `ingest` (secret)."""
    query_api_key: pulumi.Output[str]
    """Generated API key with scope `query` (secret)."""
    api_selector: dict[str, str]
    """Labels selecting API pods (for NetworkPolicies / monitors)."""
    consumer_selector: dict[str, str]
    """Labels selecting consumer pods (for NetworkPolicies / monitors)."""

    def __init__(self, name: str, args: IngestionServiceArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:IngestionService", name, None, opts)
        if args.consumer_replicas > args.kafka_partitions:
            raise ValueError(f"IngestionService {name}: consumer_replicas "
                             f"{args.consumer_replicas} > kafka_partitions {args.kafka_partitions}")
        if (args.kafka_sasl_mechanism is None) != (args.kafka_sasl_secret_name is None):
            raise ValueError(f"IngestionService {name}: set kafka_sasl_mechanism and "
                             "kafka_sasl_secret_name together or neither")
        if args.kafka_sasl_mechanism not in (None, *SASL_MECHANISMS):
            raise ValueError(f"IngestionService {name}: kafka_sasl_mechanism must be one of "
                             f"{SASL_MECHANISMS}, got {args.kafka_sasl_mechanism!r}")
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self.api_selector = kx.selector_labels("logagg", "api", name)
        self.consumer_selector = kx.selector_labels("logagg", "consumer", name)
        keys_secret = self._create_api_keys()
        config_map = self._create_config_map()
        self._create_api(config_map, self._create_service_account("api"), keys_secret)
        self._create_consumer(config_map, self._create_service_account("consumer"))
        self._create_retention(config_map, self._create_service_account("retention"))
        self.url = self._create_ingress()
        self.register_outputs({
            "url": self.url, "api_service_name": self.api_service_name,
            "ingest_api_key": self.ingest_api_key, "query_api_key": self.query_api_key,
        })

    def _meta(self, suffix: str, component: str) -> dict[str, object]:
        return {"name": f"{self._name}-{suffix}" if suffix else self._name,
                "namespace": self._args.namespace,
                "labels": kx.labels("logagg", component, self._name)}

    def _create_api_keys(self) -> pulumi.Output[str]:
        ingest = random.RandomPassword(f"{self._name}-ingest-key", length=40, special=False,
                                       opts=self._child)
        query = random.RandomPassword(f"{self._name}-query-key", length=40, special=False,
                                      opts=self._child)
        self.ingest_api_key = pulumi.Output.secret(ingest.result)
        self.query_api_key = pulumi.Output.secret(query.result)
        secret = k8s.core.v1.Secret(
            f"{self._name}-api-keys",
            metadata=self._meta("api-keys", "api"),
            type="Opaque",
            string_data={kx.API_KEYS_KEY: pulumi.Output.all(
                self.ingest_api_key, self.query_api_key).apply(
                lambda k: api_keys_file(k[0], k[1]))},
            opts=self._child,
        )
        return secret.metadata.apply(lambda m: m.name)

    def _create_config_map(self) -> pulumi.Output[str]:
        a = self._args
        meta = self._meta("", "api")
        # No fixed name: a changed value gets a new ConfigMap name, which rolls the Deployments.
        del meta["name"]
        cm = k8s.core.v1.ConfigMap(
            f"{self._name}-config",
            metadata=meta,
            data={
                "LOGAGG_ENV": a.environment,
                "LOGAGG_LOG_LEVEL": a.log_level,
                "LOGAGG_KAFKA_BOOTSTRAP_SERVERS": a.kafka_bootstrap_servers,
                "LOGAGG_KAFKA_TOPIC": a.kafka_topic,
                "LOGAGG_KAFKA_CONSUMER_GROUP": a.kafka_consumer_group,
                "LOGAGG_RETENTION_DAYS": str(a.retention_days),
                "LOGAGG_METRICS_PORT": str(METRICS_PORT),
                **_kafka_config(a),
            },
            opts=self._child,
        )
        return cm.metadata.apply(lambda m: m.name)

    def _create_service_account(self, role: str) -> pulumi.Output[str]:
        """One ServiceAccount per workload, without an API token (none of them calls the API)."""
        sa = k8s.core.v1.ServiceAccount(
            f"{self._name}-{role}-serviceaccount",
            metadata=self._meta(role, role),
            automount_service_account_token=False,
            opts=self._child,
        )
        return sa.metadata.apply(lambda m: m.name)

    def _create_api(self, config_map: pulumi.Output[str], sa: pulumi.Output[str],
                    keys_secret: pulumi.Output[str]) -> None:
        a, name = self._args, self._name
        files = service_pod.SecretFiles(
            dsn_secret=a.dsn_secret_name, api_keys_secret=keys_secret,
            redis_url_secret=a.redis_url_secret_name, db_ca_secret=a.db_ca_secret_name,
            kafka_ca_secret=a.kafka_tls_ca_secret_name, kafka_sasl_secret=a.kafka_sasl_secret_name)
        probes = {
            "livenessProbe": kx.http_probe("/health", "http", initial_delay=30, period=10),
            "readinessProbe": kx.http_probe("/health/ready", "http", initial_delay=5, period=5),
        }
        container = service_pod.container(
            name="api", image=a.image, command="api", files=files, resources=a.resources,
            uid=a.uid, env=_kafka_client_env(a), env_from_config_map=config_map, probes=probes,
            ports=[{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}])
        labels = kx.labels("logagg", "api", name)
        deployment = k8s.apps.v1.Deployment(
            f"{name}-api",
            metadata=self._meta("api", "api"),
            spec={
                # No `replicas`: the HPA owns it (a fixed value would fight it on every update).
                "selector": {"matchLabels": self.api_selector},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": service_pod.pod_spec(
                        service_account=sa, containers=[container], files=files, uid=a.uid,
                        extra={"topologySpreadConstraints": kx.topology_spread(self.api_selector),
                               "terminationGracePeriodSeconds": 30}),
                },
            },
            opts=self._child,
        )
        service = k8s.core.v1.Service(
            f"{name}-api-service",
            metadata=self._meta("api", "api"),
            spec={"selector": self.api_selector,
                  "ports": [{"name": "http", "port": API_PORT, "targetPort": "http",
                             "protocol": "TCP"}]},
            opts=self._child,
        )
        self.api_service_name = service.metadata.apply(lambda m: m.name)
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-api-hpa",
            metadata=self._meta("api", "api"),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": deployment.metadata.apply(lambda m: m.name)},
                "minReplicas": a.api_min_replicas,
                "maxReplicas": a.api_max_replicas,
                "metrics": [{"type": "Resource", "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": a.api_cpu_target}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
            },
            opts=self._child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-api-pdb",
            metadata=self._meta("api", "api"),
            spec={"maxUnavailable": 1, "selector": {"matchLabels": self.api_selector}},
            opts=self._child,
        )

    def _create_consumer(self, config_map: pulumi.Output[str], sa: pulumi.Output[str]) -> None:
        a, name = self._args, self._name
        files = service_pod.SecretFiles(dsn_secret=a.dsn_secret_name,
                                        db_ca_secret=a.db_ca_secret_name,
                                        kafka_ca_secret=a.kafka_tls_ca_secret_name,
                                        kafka_sasl_secret=a.kafka_sasl_secret_name)
        probe = kx.tcp_probe("metrics", initial_delay=10, period=10)
        container = service_pod.container(
            name="consumer", image=a.image, command="consumer", files=files,
            resources=a.resources, uid=a.uid, env=_kafka_client_env(a),
            env_from_config_map=config_map, ports=[{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
            probes={"readinessProbe": probe,
                    "livenessProbe": {**probe, "initialDelaySeconds": 30}})
        k8s.apps.v1.Deployment(
            f"{name}-consumer",
            metadata=self._meta("consumer", "consumer"),
            spec={
                "replicas": a.consumer_replicas,
                "selector": {"matchLabels": self.consumer_selector},
                "template": {
                    "metadata": {"labels": kx.labels("logagg", "consumer", name)},
                    "spec": service_pod.pod_spec(
                        service_account=sa, containers=[container], files=files, uid=a.uid,
                        extra={"topologySpreadConstraints":
                               kx.topology_spread(self.consumer_selector),
                               # Let an in-flight batch commit before the pod goes away.
                               "terminationGracePeriodSeconds": 60}),
                },
            },
            opts=self._child,
        )
        if a.consumer_replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-consumer-pdb",
                metadata=self._meta("consumer", "consumer"),
                spec={"maxUnavailable": 1, "selector": {"matchLabels": self.consumer_selector}},
                opts=self._child,
            )

    def _create_retention(self, config_map: pulumi.Output[str], sa: pulumi.Output[str]) -> None:
        a, name = self._args, self._name
        files = service_pod.SecretFiles(dsn_secret=a.dsn_secret_name,
                                        db_ca_secret=a.db_ca_secret_name)
        container = service_pod.container(
            name="retention", image=a.image, command="retention", files=files,
            resources=a.resources, uid=a.uid, env_from_config_map=config_map)
        labels = kx.labels("logagg", "retention", name)
        k8s.batch.v1.CronJob(
            f"{name}-retention",
            metadata=self._meta("retention", "retention"),
            spec={
                "schedule": a.retention_schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {"spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": 3600,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": service_pod.pod_spec(
                            service_account=sa, containers=[container], files=files,
                            uid=a.uid, restart_policy="OnFailure"),
                    },
                }},
            },
            opts=self._child,
        )

    def _create_ingress(self) -> pulumi.Output[str]:
        a, name = self._args, self._name
        if not a.ingress_host:
            return pulumi.Output.from_input("")
        spec: dict[str, object] = {
            "ingressClassName": a.ingress_class_name,
            "rules": [{"host": a.ingress_host, "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": self.api_service_name,
                                        "port": {"name": "http"}}}}]}}],
        }
        # TLS hook: security hardening supplies the certificate Secret (cert-manager or pulumi-tls).
        if a.tls_secret_name is not None:
            spec["tls"] = [{"hosts": [a.ingress_host], "secretName": a.tls_secret_name}]
        meta = self._meta("api", "api")
        if a.ingress_annotations:
            meta["annotations"] = a.ingress_annotations
        ingress = k8s.networking.v1.Ingress(f"{name}-ingress", metadata=meta, spec=spec,
                                            opts=self._child)
        scheme = "https" if a.tls_secret_name is not None else "http"
        return ingress.metadata.apply(lambda _: f"{scheme}://{a.ingress_host}")
