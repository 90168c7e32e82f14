"""Typed stack configuration: the only module that reads `pulumi.Config`.

Every key lives in the `log-aggregator:` namespace and is declared (type, default, description) in
`Pulumi.yaml`. `load()` turns the raw strings into a frozen `StackConfig`; a bad or missing value
raises `ConfigError` naming the key and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

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
    )
    _cross_check(cfg)
    return cfg


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

