"""Pure helpers that build Kubernetes object fragments (labels, probes, hardened contexts).

Nothing here creates resources; every function returns plain dicts in the Kubernetes wire format
so components stay short and every workload is hardened the same way (Pod Security "restricted").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PART_OF = "log-aggregator"
NON_ROOT_UID = 10001
"""Default uid/gid for every pod we run (≥ 10000 so it never collides with a host user)."""

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[\w][\w.\-]{0,127}$")


@dataclass(frozen=True, kw_only=True)
class ResourceSpec:
    """CPU/memory requests and limits of one container."""

    cpu_request: str = "100m"
    """CPU request (Kubernetes quantity)."""
    memory_request: str = "128Mi"
    """Memory request (Kubernetes quantity)."""
    cpu_limit: str = "500m"
    """CPU limit (Kubernetes quantity)."""
    memory_limit: str = "512Mi"
    """Memory limit (Kubernetes quantity)."""

    def to_k8s(self) -> dict[str, dict[str, str]]:
        """The container `resources` block."""
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


def labels(app: str, component: str, instance: str) -> dict[str, str]:
    """Recommended app.kubernetes.io labels of one workload."""
    return {**selector_labels(app, component, instance), "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "pulumi"}


def selector_labels(app: str, component: str, instance: str) -> dict[str, str]:
    """The immutable subset of `labels` used in selectors."""
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": instance,
    }


def is_pinned_image(image: str) -> bool:
    """True when an image reference names an explicit version tag and/or a sha256 digest."""
    if not image or any(ch.isspace() for ch in image):
        return False
    name, _, digest = image.partition("@")
    if digest:
        return bool(_DIGEST.match(digest))
    last = name.rsplit("/", 1)[-1]  # a registry port's colon is not in the last component
    tag = last.partition(":")[2]
    return bool(_TAG.match(tag)) and tag != "latest"


def pod_security_context(uid: int = NON_ROOT_UID) -> dict[str, Any]:
    """Pod-level security context that satisfies Pod Security Standard "restricted"."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(uid: int = NON_ROOT_UID) -> dict[str, Any]:
    """Container-level security context: no root, no privilege escalation, no capabilities, RO root."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, port: int | str, *, initial_delay: int, period: int,
               timeout: int = 3, failure_threshold: int = 3) -> dict[str, Any]:
    """An HTTP GET probe."""
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failure_threshold,
    }


def exec_probe(command: list[str], *, initial_delay: int, period: int,
               timeout: int = 5, failure_threshold: int = 3) -> dict[str, Any]:
    """A probe that runs a command inside the container."""
    return {
        "exec": {"command": command},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failure_threshold,
    }


def tcp_probe(port: int | str, *, initial_delay: int, period: int,
              timeout: int = 3, failure_threshold: int = 3) -> dict[str, Any]:
    """A TCP connect probe."""
    return {
        "tcpSocket": {"port": port},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failure_threshold,
    }


def topology_spread(selector: dict[str, str]) -> list[dict[str, Any]]:
    """Spread replicas over nodes (hard) and zones (soft, clusters may have a single zone)."""
    return [
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
         "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": selector}},
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
         "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}},
    ]


def empty_dir(name: str, size_limit: str = "64Mi") -> dict[str, Any]:
    """A size-limited emptyDir volume for a path that must be writable under a read-only root."""
    return {"name": name, "emptyDir": {"sizeLimit": size_limit}}


def service_host(service: str, namespace: str) -> str:
    """Cluster DNS name of a Service."""
    return f"{service}.{namespace}.svc.cluster.local"


SERVICE_SECRETS_DIR = "/etc/logagg/secrets"
"""Where the service containers find their secret files (LOGAGG_*_FILE point here)."""
DB_CA_DIR = "/etc/logagg/db-ca"
"""Where the service containers find the PostgreSQL server CA (for sslmode=verify-full)."""
KAFKA_CA_DIR = "/etc/logagg/kafka-ca"
"""Where the service containers find the Kafka brokers' CA (SSL to a bring-your-own Kafka)."""
DATABASE_URL_KEY = "database-url"
"""Secret key (and file name) of the libpq DSN."""
API_KEYS_KEY = "api-keys"
"""Secret key (and file name) of the API keys."""
REDIS_URL_KEY = "redis-url"
"""Secret key (and file name) of the Redis URL."""
