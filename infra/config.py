"""Typed stack configuration: the only module that reads `pulumi.Config`.

Every key lives in the `log-aggregator:` namespace and is declared (type, default, description) in
`Pulumi.yaml`. `load()` turns the raw strings into a frozen `StackConfig`; a bad or missing value
raises `ConfigError` naming the key and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .k8s import ResourceSpec, is_pinned_image

PROJECT = "log-aggregator"
ENVIRONMENTS = ("dev", "staging", "prod")
LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "warning": "warning",
              "error": "error"}
"""Accepted `logLevel` values mapped to the service's LOGAGG_LOG_LEVEL names."""

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_REGISTRY = re.compile(r"^[a-z0-9.\-]+(:[0-9]+)?(/[a-z0-9._\-]+)*$")

T = TypeVar("T")


class ConfigError(ValueError):
    """A stack config value is missing or invalid."""


class RawConfig(Protocol):
    """The part of `pulumi.Config` we use (a protocol so tests can pass a dict-backed fake)."""

    def get(self, key: str) -> str | None:
        """The raw string value of `key`, or None when unset."""
        ...


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """Everything the program needs to know about one stack."""

    environment: str
    """dev, staging or prod (the service's LOGAGG_ENV)."""
    log_level: str
    """Service log level as LOGAGG_LOG_LEVEL expects it (debug, info, warning, error)."""
    namespace: str
    """Kubernetes namespace everything is created in."""
    image_registry: str
    """Registry (host[/path]) the service image is pushed to."""
    image_tag: str
    """Tag pushed next to the digest (the Deployments always use the digest)."""
    image_ref: str | None
    """A prebuilt, pinned image reference; when set nothing is built."""
    storage_class: str | None
    """StorageClass of every PVC (None = cluster default)."""
    kafka_nodes: int
    """Number of combined broker+controller KRaft nodes."""
    kafka_partitions: int
    """Partitions of the `logs` topic (upper bound of consumer replicas)."""
    kafka_topic: str
    """Topic for ingested batches."""
    kafka_storage_size: str
    """PVC size per Kafka node."""
    kafka_resources: ResourceSpec
    """Requests/limits of each Kafka node."""
    db_instances: int
    """PostgreSQL instances (1 = StatefulSet in dev; >1 = CloudNativePG cluster)."""
    db_storage_size: str
    """PVC size per PostgreSQL instance."""
    db_resources: ResourceSpec
    """Requests/limits of each PostgreSQL instance."""
    db_synchronous: bool
    """Synchronous replication (CloudNativePG only; needs ≥ 2 instances)."""
    db_operator: bool
    """Use CloudNativePG (otherwise a single-instance StatefulSet)."""
    db_operator_installed: bool
    """The CloudNativePG operator already runs in the cluster: do not install it."""
    service_resources: ResourceSpec
    """Requests/limits of the API and consumer containers."""
    api_min_replicas: int
    """HPA minimum of the API Deployment."""
    api_max_replicas: int
    """HPA maximum of the API Deployment."""
    api_cpu_target: int
    """HPA target average CPU utilisation in percent."""
    consumer_replicas: int
    """Consumer Deployment replicas (≤ kafka_partitions)."""
    retention_days: int
    """Days of logs kept by the retention job."""
    ingress_host: str
    """Public host name of the API Ingress."""
    ingress_class_name: str
    """IngressClass of the API Ingress."""
    redis_enabled: bool
    """Deploy Redis and share rate limits across API replicas."""
    monitoring_mode: str | None
    """bundled (own Prometheus), operator (kube-prometheus-stack) or None (no monitoring)."""
    prometheus_retention: str
    """Bundled Prometheus TSDB retention time."""
    prometheus_storage_size: str
    """Bundled Prometheus PVC size."""
    alertmanager_url: str
    """Alertmanager the bundled Prometheus notifies ('' = none)."""
    runbook_base_url: str
    """Prefix of the runbook links in alerts ('' = repository paths)."""
    grafana_enabled: bool
    """Deploy Grafana (needs monitoring)."""
    pgadmin_enabled: bool
    """Deploy PgAdmin."""
    tls_issuer: str | None
    """cert-manager issuer of the Ingress certificate (None = per-stack CA from pulumi-tls)."""
    tls_issuer_kind: str
    """Issuer or ClusterIssuer."""
    ingress_controller_namespace: str
    """Namespace of the ingress controller allowed to reach the API."""
    api_server_cidr: str
    """IP range of the Kubernetes API server (NetworkPolicy egress)."""
    object_storage_cidr: str
    """IP range of the backup object store (NetworkPolicy egress)."""
    backups_enabled: bool
    """Logical dumps + verify CronJobs (and WAL archiving with CloudNativePG)."""
    backup_bucket: str
    """S3 bucket of dumps and of the WAL archive."""
    backup_endpoint_url: str | None
    """S3-compatible endpoint (None = AWS S3)."""
    backup_region: str
    """S3 region."""
    backup_access_key_id: str | None
    """S3 access key id (secure config; None = the pods' cloud identity)."""
    backup_secret_access_key: str | None
    """S3 secret access key (secure config)."""
    wal_retention: str
    """Recovery window of the CloudNativePG WAL archive."""
    restore_target_time: str | None
    """PITR: recover a new cluster to this RFC 3339 time (None = no recovery)."""
    restore_cluster_name: str | None
    """PITR: name of the recovered cluster (None = <postgres>-pitr)."""
    restore_cutover: bool
    """PITR: the recovered cluster becomes the database."""


class _Reader:
    """Parses raw config strings, raising `ConfigError` that names the key."""

    def __init__(self, raw: RawConfig) -> None:
        self._raw = raw

    def _value(self, key: str, allowed: str) -> str:
        value = self._raw.get(key)
        if value is None or value == "":
            raise ConfigError(
                f"missing config '{PROJECT}:{key}' (allowed: {allowed}); "
                f"set it with `pulumi config set {key} <value>` or in Pulumi.yaml"
            )
        return value

    def _fail(self, key: str, allowed: str, value: str) -> ConfigError:
        return ConfigError(f"invalid config '{PROJECT}:{key}' = {value!r}; allowed: {allowed}")

    def choice(self, key: str, choices: tuple[str, ...] | list[str]) -> str:
        allowed = "one of " + ", ".join(choices)
        value = self._value(key, allowed)
        if value not in choices:
            raise self._fail(key, allowed, value)
        return value

    def integer(self, key: str, *, minimum: int, maximum: int) -> int:
        allowed = f"an integer from {minimum} to {maximum}"
        value = self._value(key, allowed)
        try:
            number = int(value)
        except ValueError:
            raise self._fail(key, allowed, value) from None
        if not minimum <= number <= maximum:
            raise self._fail(key, allowed, value)
        return number

    def boolean(self, key: str) -> bool:
        allowed = "true or false"
        value = self._value(key, allowed).lower()
        if value not in ("true", "false"):
            raise self._fail(key, allowed, value)
        return value == "true"

    def matching(self, key: str, pattern: re.Pattern[str], allowed: str) -> str:
        value = self._value(key, allowed)
        if not pattern.match(value):
            raise self._fail(key, allowed, value)
        return value

    def optional(self, key: str, parse: Callable[[str], T]) -> T | None:
        return None if not self._raw.get(key) else parse(key)

    def quantity(self, key: str) -> str:
        return self.matching(key, _QUANTITY, "a Kubernetes quantity such as 250m, 512Mi or 10Gi")

    def resources(self, prefix: str) -> ResourceSpec:
        return ResourceSpec(
            cpu_request=self.quantity(f"{prefix}CpuRequest"),
            memory_request=self.quantity(f"{prefix}MemoryRequest"),
            cpu_limit=self.quantity(f"{prefix}CpuLimit"),
            memory_limit=self.quantity(f"{prefix}MemoryLimit"),
        )


def parse(raw: RawConfig) -> StackConfig:
    """Build and cross-check a StackConfig from raw config values."""
    r = _Reader(raw)
    level_key = "logLevel"
    level = r.choice(level_key, list(LOG_LEVELS))
    image_ref = r.optional("imageRef", lambda k: r.matching(
        k, re.compile(r"^\S+$"), "a pinned image reference (repo:version or repo@sha256:<digest>)"))
    if image_ref is not None and not is_pinned_image(image_ref):
        raise ConfigError(f"invalid config '{PROJECT}:imageRef' = {image_ref!r}; allowed: a pinned "
                          "image reference (repo:version or repo@sha256:<digest>), never latest")
    db_instances = r.integer("dbInstances", minimum=1, maximum=9)
    cfg = StackConfig(
        environment=r.choice("environment", ENVIRONMENTS),
        log_level=LOG_LEVELS[level],
        namespace=r.matching("namespace", _DNS_LABEL, "a DNS label (lowercase letters, digits, -)"),
        image_registry=r.matching("imageRegistry", _REGISTRY,
                                  "a registry host[:port][/path] in lowercase, e.g. ghcr.io/acme"),
        image_tag=r.matching("imageTag", re.compile(r"^[\w][\w.\-]{0,127}$"),
                             "a Docker tag (letters, digits, _ . -)"),
        image_ref=image_ref,
        storage_class=r.optional("storageClass", lambda k: r.matching(
            k, _DNS_LABEL, "a StorageClass name (DNS label) or empty for the cluster default")),
        kafka_nodes=r.integer("kafkaNodes", minimum=1, maximum=9),
        kafka_partitions=r.integer("kafkaPartitions", minimum=1, maximum=1000),
        kafka_topic=r.matching("kafkaTopic", re.compile(r"^[a-zA-Z0-9._\-]{1,249}$"),
                               "a Kafka topic name (letters, digits, . _ -)"),
        kafka_storage_size=r.quantity("kafkaStorageSize"),
        kafka_resources=r.resources("kafka"),
        db_instances=db_instances,
        db_storage_size=r.quantity("dbStorageSize"),
        db_resources=r.resources("db"),
        db_synchronous=r.boolean("dbSynchronous"),
        db_operator=r.boolean("dbOperator"),
        db_operator_installed=r.boolean("dbOperatorInstalled"),
        service_resources=r.resources("service"),
        api_min_replicas=r.integer("apiMinReplicas", minimum=1, maximum=100),
        api_max_replicas=r.integer("apiMaxReplicas", minimum=1, maximum=100),
        api_cpu_target=r.integer("apiCpuTarget", minimum=10, maximum=100),
        consumer_replicas=r.integer("consumerReplicas", minimum=1, maximum=1000),
        retention_days=r.integer("retentionDays", minimum=1, maximum=3650),
        ingress_host=r.matching("ingressHost", _HOSTNAME, "a DNS host name such as logs.example.com"),
        ingress_class_name=r.matching("ingressClassName", _DNS_LABEL, "an IngressClass name"),
        redis_enabled=r.boolean("redisEnabled"),
        **_platform(r),
    )
    _cross_check(cfg)
    return cfg


_CIDR = re.compile(r"^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")


def _platform(r: _Reader) -> dict[str, Any]:
    """Monitoring, TLS, network and backup keys (the parts wired into LogAggregator)."""
    mode = r.choice("monitoringMode", ("bundled", "operator", "none"))
    url = "an http(s):// URL or empty"
    return {
        "monitoring_mode": None if mode == "none" else mode,
        "prometheus_retention": r.matching("prometheusRetention", re.compile(r"^[0-9]+[dwhy]$"),
                                           "a duration such as 15d, 2w or 48h"),
        "prometheus_storage_size": r.matching("prometheusStorageSize",
                                              re.compile(r"^[0-9]+(Mi|Gi|Ti)$"),
                                              "a size in Mi, Gi or Ti, e.g. 10Gi"),
        "alertmanager_url": r.optional("alertmanagerUrl", lambda k: r.matching(k, _URL, url)) or "",
        "runbook_base_url": r.optional("runbookBaseUrl", lambda k: r.matching(k, _URL, url)) or "",
        "grafana_enabled": r.boolean("grafanaEnabled"),
        "pgadmin_enabled": r.boolean("pgadminEnabled"),
        "tls_issuer": r.optional("tlsIssuer", lambda k: r.matching(
            k, _DNS_LABEL, "a cert-manager issuer name or empty for a per-stack CA")),
        "tls_issuer_kind": r.choice("tlsIssuerKind", ("ClusterIssuer", "Issuer")),
        "ingress_controller_namespace": r.matching("ingressControllerNamespace", _DNS_LABEL,
                                                   "a namespace name"),
        "api_server_cidr": r.matching("apiServerCidr", _CIDR, "an IPv4 CIDR such as 10.0.0.1/32"),
        "object_storage_cidr": r.matching("objectStorageCidr", _CIDR,
                                          "an IPv4 CIDR such as 203.0.113.0/24"),
        "backups_enabled": r.boolean("backupsEnabled"),
        "backup_bucket": r.matching("backupBucket", re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"),
                                    "an S3 bucket name"),
        "backup_endpoint_url": r.optional("backupEndpointUrl", lambda k: r.matching(k, _URL, url)),
        "backup_region": r.matching("backupRegion", re.compile(r"^[a-z0-9\-]+$"), "an S3 region"),
        "backup_access_key_id": r.optional("backupAccessKeyId", lambda k: r.matching(
            k, re.compile(r"^\S+$"), "an access key id (secure value)")),
        "backup_secret_access_key": r.optional("backupSecretAccessKey", lambda k: r.matching(
            k, re.compile(r"^\S+$"), "a secret access key (secure value)")),
        "wal_retention": r.matching("walRetention", re.compile(r"^[1-9][0-9]*[dwm]$"),
                                    "<n>d, <n>w or <n>m, e.g. 30d"),
        "restore_target_time": r.optional("restoreTargetTime", lambda k: r.matching(
            k, re.compile(r"^\S+$"), "an RFC 3339 time such as 2026-11-29T10:15:00Z")),
        "restore_cluster_name": r.optional("restoreClusterName", lambda k: r.matching(
            k, _DNS_LABEL, "a new cluster name (DNS label)")),
        "restore_cutover": r.boolean("restoreCutover"),
    }


def _cross_check(cfg: StackConfig) -> None:
    """Rules that involve more than one key."""
    if cfg.api_max_replicas < cfg.api_min_replicas:
        raise ConfigError(f"invalid config '{PROJECT}:apiMaxReplicas' = {cfg.api_max_replicas}; "
                          f"allowed: ≥ apiMinReplicas ({cfg.api_min_replicas})")
    if cfg.consumer_replicas > cfg.kafka_partitions:
        raise ConfigError(f"invalid config '{PROJECT}:consumerReplicas' = {cfg.consumer_replicas}; "
                          f"allowed: ≤ kafkaPartitions ({cfg.kafka_partitions}), extra consumers "
                          "would sit idle")
    if cfg.db_instances > 1 and not cfg.db_operator:
        raise ConfigError(f"invalid config '{PROJECT}:dbInstances' = {cfg.db_instances}; allowed: 1 "
                          "unless dbOperator is true (replicas need CloudNativePG, never N "
                          "independent databases)")
    if (cfg.backup_access_key_id is None) != (cfg.backup_secret_access_key is None):
        raise ConfigError(f"invalid config '{PROJECT}:backupAccessKeyId'; allowed: set together with "
                          "backupSecretAccessKey, or neither (the pods' cloud identity)")
    if cfg.restore_target_time is not None and not cfg.db_operator:
        raise ConfigError(f"invalid config '{PROJECT}:restoreTargetTime'; allowed only with dbOperator "
                          "true (point-in-time recovery replays the CloudNativePG WAL archive)")
    if cfg.db_synchronous and (not cfg.db_operator or cfg.db_instances < 2):
        raise ConfigError(f"invalid config '{PROJECT}:dbSynchronous' = true; allowed only with "
                          "dbOperator true and dbInstances ≥ 2")


class _PulumiRaw:
    """Adapts `pulumi.Config` to RawConfig (objects/lists are returned as JSON strings by Pulumi)."""

    def __init__(self) -> None:
        import pulumi  # imported here so `parse` stays usable without a Pulumi runtime

        self._config = pulumi.Config(PROJECT)

    def get(self, key: str) -> str | None:
        return self._config.get(key)


def load() -> StackConfig:
    """Read the current stack's config through `pulumi.Config`."""
    return parse(_PulumiRaw())

