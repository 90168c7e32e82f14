"""Pure builders for pods that run the service image (API, consumer, migrations, retention).

They share one contract (docs/architecture.md): `python -m logagg <command>`, secrets mounted as
files under /etc/logagg/secrets and referenced by LOGAGG_*_FILE, the DB CA under /etc/logagg/db-ca,
the Kafka CA under /etc/logagg/kafka-ca and Kafka SASL credentials under /etc/logagg/kafka-sasl.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from . import k8s as kx

#: Where the Kafka SASL Secret (keys `username`, `password`) is mounted.
KAFKA_SASL_DIR = "/etc/logagg/kafka-sasl"
KAFKA_SASL_KEYS = ("username", "password")


@dataclass(frozen=True, kw_only=True)
class SecretFiles:
    """Secrets a service pod mounts as files (None = not mounted)."""

    dsn_secret: pulumi.Input[str]
    """Secret with key `database-url`."""
    api_keys_secret: pulumi.Input[str] | None = None
    """Secret with key `api-keys` (API only)."""
    redis_url_secret: pulumi.Input[str] | None = None
    """Secret with key `redis-url` (API only, when Redis is on)."""
    db_ca_secret: pulumi.Input[str] | None = None
    """Secret with key `ca.crt`: the PostgreSQL server CA (None = no TLS to the database)."""
    kafka_ca_secret: pulumi.Input[str] | None = None
    """Secret with key `ca.crt`: the Kafka brokers' CA (None = plaintext Kafka)."""
    kafka_sasl_secret: pulumi.Input[str] | None = None
    """Secret with keys `username` and `password`: Kafka SASL credentials (None = no SASL)."""


def _projection(secret: pulumi.Input[str], key: str) -> dict[str, Any]:
    return {"secret": {"name": secret, "items": [{"key": key, "path": key}]}}


def file_env(files: SecretFiles) -> list[dict[str, Any]]:
    """LOGAGG_*_FILE variables pointing at the mounted secret files."""
    env = [{"name": "LOGAGG_DATABASE_URL_FILE",
            "value": f"{kx.SERVICE_SECRETS_DIR}/{kx.DATABASE_URL_KEY}"}]
    if files.api_keys_secret is not None:
        env.append({"name": "LOGAGG_API_KEYS_FILE",
                    "value": f"{kx.SERVICE_SECRETS_DIR}/{kx.API_KEYS_KEY}"})
    if files.redis_url_secret is not None:
        env.append({"name": "LOGAGG_REDIS_URL_FILE",
                    "value": f"{kx.SERVICE_SECRETS_DIR}/{kx.REDIS_URL_KEY}"})
    if files.kafka_sasl_secret is not None:
        env.extend({"name": f"LOGAGG_KAFKA_SASL_{key.upper()}_FILE",
                    "value": f"{KAFKA_SASL_DIR}/{key}"} for key in KAFKA_SASL_KEYS)
    return env


def volumes(files: SecretFiles) -> list[dict[str, Any]]:
    """Volumes: one projected volume of secret files, the DB CA, and a writable /tmp."""
    sources = [_projection(files.dsn_secret, kx.DATABASE_URL_KEY)]
    if files.api_keys_secret is not None:
        sources.append(_projection(files.api_keys_secret, kx.API_KEYS_KEY))
    if files.redis_url_secret is not None:
        sources.append(_projection(files.redis_url_secret, kx.REDIS_URL_KEY))
    vols: list[dict[str, Any]] = [
        {"name": "secrets", "projected": {"sources": sources, "defaultMode": 0o440}},
        kx.empty_dir("tmp", "128Mi"),
    ]
    if files.db_ca_secret is not None:
        # Only ca.crt: the operator's CA secret also holds the CA key, which pods must not see.
        vols.append({"name": "db-ca", "secret": {
            "secretName": files.db_ca_secret, "defaultMode": 0o444,
            "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
    if files.kafka_ca_secret is not None:
        vols.append({"name": "kafka-ca", "secret": {
            "secretName": files.kafka_ca_secret, "defaultMode": 0o444,
            "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
    if files.kafka_sasl_secret is not None:
        # Only the two keys: the Secret may hold more (e.g. a JAAS line for other clients).
        vols.append({"name": "kafka-sasl", "secret": {
            "secretName": files.kafka_sasl_secret, "defaultMode": 0o440,
            "items": [{"key": key, "path": key} for key in KAFKA_SASL_KEYS]}})
    return vols


def volume_mounts(files: SecretFiles) -> list[dict[str, Any]]:
    """Mounts matching `volumes`."""
    mounts: list[dict[str, Any]] = [
        {"name": "secrets", "mountPath": kx.SERVICE_SECRETS_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if files.db_ca_secret is not None:
        mounts.append({"name": "db-ca", "mountPath": kx.DB_CA_DIR, "readOnly": True})
    if files.kafka_ca_secret is not None:
        mounts.append({"name": "kafka-ca", "mountPath": kx.KAFKA_CA_DIR, "readOnly": True})
    if files.kafka_sasl_secret is not None:
        mounts.append({"name": "kafka-sasl", "mountPath": KAFKA_SASL_DIR, "readOnly": True})
    return mounts


def container(*, name: str, image: pulumi.Input[str], command: str, files: SecretFiles,
              resources: kx.ResourceSpec, uid: int, env: list[dict[str, Any]] | None = None,
              env_from_config_map: pulumi.Input[str] | None = None,
              ports: list[dict[str, Any]] | None = None,
              probes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A hardened container running `python -m logagg <command>`."""
    spec: dict[str, Any] = {
        "name": name,
        "image": image,
        "command": ["python", "-m", "logagg"],
        "args": [command],
        "env": [*file_env(files), *(env or [])],
        "resources": resources.to_k8s(),
        "securityContext": kx.container_security_context(uid),
        "volumeMounts": volume_mounts(files),
    }
    if env_from_config_map is not None:
        spec["envFrom"] = [{"configMapRef": {"name": env_from_config_map}}]
    if ports:
        spec["ports"] = ports
    spec.update(probes or {})
    return spec


def pod_spec(*, service_account: pulumi.Input[str], containers: list[dict[str, Any]],
             files: SecretFiles, uid: int, restart_policy: str | None = None,
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A restricted-PSS pod spec for service containers."""
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "securityContext": kx.pod_security_context(uid),
        "containers": containers,
        "volumes": volumes(files),
        **(extra or {}),
    }
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return spec
