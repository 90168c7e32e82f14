"""Optional Redis for rate limits shared across API replicas (ephemeral: no persistence needed)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import images
from .. import k8s as kx

REDIS_IMAGE = images.REDIS
"""Official image (pinned)."""
PORT = 6379


@dataclass(frozen=True, kw_only=True)
class RedisArgs:
    """Inputs of a Redis."""

    namespace: pulumi.Input[str]
    """Namespace of every object."""
    resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="50m", memory_request="64Mi", cpu_limit="250m", memory_limit="128Mi"))
    """Requests/limits of the Redis container."""
    max_memory: str = "96mb"
    """Redis maxmemory (below the memory limit; rate-limit keys are evicted LRU)."""
    uid: int = kx.NON_ROOT_UID
    """uid/gid the pod runs as."""


def redis_conf(password: str, max_memory: str) -> str:
    """redis.conf: password, memory cap, no persistence (rate-limit state is disposable)."""
    return (f"requirepass {password}\nmaxmemory {max_memory}\nmaxmemory-policy allkeys-lru\n"
            'save ""\nappendonly no\nprotected-mode yes\nport 6379\nbind * -::*\n')


def redis_url(password: str, host: str) -> str:
    """redis:// URL with the password."""
    return f"redis://:{password}@{host}:{PORT}/0"


class Redis(pulumi.ComponentResource):
    """A single Redis used by the API as a shared rate-limit store."""

    url_secret_name: pulumi.Output[str]
    """Secret with the connection URL under `redis-url`."""
    password: pulumi.Output[str]
    """Generated password (secret)."""
    selector: dict[str, str]
    """Labels selecting the Redis pod (for NetworkPolicies)."""

    def __init__(self, name: str, args: RedisArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:Redis", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lbl = kx.labels("redis", "cache", name)
        self.selector = kx.selector_labels("redis", "cache", name)
        pw = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
        self.password = pulumi.Output.secret(pw.result)
        host = pulumi.Output.from_input(args.namespace).apply(lambda ns: kx.service_host(name, ns))
        config = k8s.core.v1.Secret(
            f"{name}-config",
            metadata={"name": f"{name}-config", "namespace": args.namespace, "labels": lbl},
            type="Opaque",
            string_data={"redis.conf": self.password.apply(
                lambda p: redis_conf(p, args.max_memory))},
            opts=child,
        )
        url = k8s.core.v1.Secret(
            f"{name}-url",
            metadata={"name": f"{name}-url", "namespace": args.namespace, "labels": lbl},
            type="Opaque",
            string_data={kx.REDIS_URL_KEY: pulumi.Output.all(self.password, host).apply(
                lambda v: redis_url(v[0], v[1]))},
            opts=child,
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata={"name": name, "namespace": args.namespace, "labels": lbl},
            automount_service_account_token=False,
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": name, "namespace": args.namespace, "labels": lbl},
            spec={"selector": self.selector,
                  "ports": [{"name": "redis", "port": PORT, "targetPort": "redis",
                             "protocol": "TCP"}]},
            opts=child,
        )
        probe = kx.tcp_probe("redis", initial_delay=5, period=10)
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": name, "namespace": args.namespace, "labels": lbl},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": self.selector},
                "template": {
                    "metadata": {"labels": lbl},
                    "spec": {
                        "serviceAccountName": name,
                        "automountServiceAccountToken": False,
                        "securityContext": kx.pod_security_context(args.uid),
                        "containers": [{
                            "name": "redis",
                            "image": REDIS_IMAGE,
                            "command": ["redis-server", "/etc/redis/redis.conf"],
                            "ports": [{"name": "redis", "containerPort": PORT}],
                            "readinessProbe": probe,
                            "livenessProbe": {**probe, "initialDelaySeconds": 15},
                            "resources": args.resources.to_k8s(),
                            "securityContext": kx.container_security_context(args.uid),
                            "volumeMounts": [
                                {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
                                {"name": "data", "mountPath": "/data"},
                            ],
                        }],
                        "volumes": [
                            {"name": "config", "secret": {
                                "secretName": config.metadata.apply(lambda m: m.name),
                                "defaultMode": 0o440}},
                            kx.empty_dir("data", "64Mi"),
                        ],
                    },
                },
            },
            opts=child,
        )
        self.url_secret_name = url.metadata.apply(lambda m: m.name)
        self.register_outputs({"url_secret_name": self.url_secret_name,
                               "password": self.password})
