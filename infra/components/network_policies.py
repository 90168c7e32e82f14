"""NetworkPolicies: default-deny for the namespace plus declared allow rules, each written on both ends.

The topology is data: a tuple of `AllowRule(source, destination, ports)`. For every rule the
component writes the egress policy on the source pods and the matching ingress policy on the
destination pods (when that end lives in our namespace; a policy in someone else's namespace or
on an IP range is not ours to write).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..k8s import PART_OF

KUBE_DNS_NAMESPACE = {"kubernetes.io/metadata.name": "kube-system"}
KUBE_DNS_PODS = {"k8s-app": "kube-dns"}


@dataclass(frozen=True, kw_only=True)
class Peer:
    """One end of an allowed connection: pods in our namespace, pods in another namespace, or a CIDR."""

    name: str
    """Short name used in object names, e.g. `api` or `postgres`."""
    pods: dict[str, str] | None = None
    """Labels selecting the pods (None with `namespace`: every pod of that namespace)."""
    namespace: dict[str, str] | None = None
    """Labels selecting another namespace (None: our namespace)."""
    cidr: str | None = None
    """An IP range instead of pods (e.g. object storage or the API server)."""

    def __post_init__(self) -> None:
        if self.cidr is not None and (self.pods is not None or self.namespace is not None):
            raise ValueError(f"peer {self.name!r}: a CIDR peer cannot also select pods or namespaces")
        if self.cidr is None and self.pods is None and self.namespace is None:
            raise ValueError(f"peer {self.name!r}: give pods, a namespace or a CIDR")
        if self.pods == {}:
            raise ValueError(f"peer {self.name!r}: an empty pod selector would select every pod")

    @property
    def local(self) -> bool:
        """True when the peer is pods of our own namespace (so we can write its policies)."""
        return self.cidr is None and self.namespace is None

    def to_k8s(self) -> dict[str, Any]:
        """The NetworkPolicyPeer seen from the other end."""
        if self.cidr is not None:
            return {"ipBlock": {"cidr": self.cidr}}
        peer: dict[str, Any] = {}
        if self.namespace is not None:
            peer["namespaceSelector"] = {"matchLabels": dict(self.namespace)}
        if self.pods is not None:
            peer["podSelector"] = {"matchLabels": dict(self.pods)}
        return peer


@dataclass(frozen=True, kw_only=True)
class AllowRule:
    """`source` may open connections to `destination` on `ports` (container ports)."""

    source: Peer
    """Who connects."""
    destination: Peer
    """Who is connected to."""
    ports: tuple[int, ...]
    """Destination container ports."""
    protocol: str = "TCP"
    """TCP, UDP or SCTP."""

    def __post_init__(self) -> None:
        if not self.ports:
            raise ValueError(f"rule {self.source.name}->{self.destination.name}: no ports")
        if not (self.source.local or self.destination.local):
            raise ValueError(f"rule {self.source.name}->{self.destination.name}: neither end is in "
                             "our namespace")

    def ports_k8s(self) -> list[dict[str, Any]]:
        """The NetworkPolicyPort list."""
        return [{"protocol": self.protocol, "port": port} for port in self.ports]


@dataclass(frozen=True, kw_only=True)
class NetworkPoliciesArgs:
    """Inputs of NetworkPolicies."""

    namespace: pulumi.Input[str]
    """Namespace the policies live in (and whose pods they select)."""
    rules: tuple[AllowRule, ...] = ()
    """Allowed connections; everything else is denied."""
    dns_namespace: dict[str, str] = field(default_factory=lambda: dict(KUBE_DNS_NAMESPACE))
    """Labels of the namespace running cluster DNS."""
    dns_pods: dict[str, str] = field(default_factory=lambda: dict(KUBE_DNS_PODS))
    """Labels of the cluster DNS pods."""


def policy_name(rule: AllowRule, direction: str) -> str:
    """Deterministic object name of one side of a rule, e.g. `allow-api-to-postgres-egress`."""
    base = f"allow-{rule.source.name}-to-{rule.destination.name}-{direction}"
    return re.sub(r"[^a-z0-9-]", "-", base.lower())[:253]


def egress_spec(rule: AllowRule) -> dict[str, Any]:
    """The source side: its pods may connect to the destination on the ports."""
    assert rule.source.pods is not None
    return {"podSelector": {"matchLabels": dict(rule.source.pods)}, "policyTypes": ["Egress"],
            "egress": [{"to": [rule.destination.to_k8s()], "ports": rule.ports_k8s()}]}


def ingress_spec(rule: AllowRule) -> dict[str, Any]:
    """The destination side: its pods accept the source on the ports."""
    assert rule.destination.pods is not None
    return {"podSelector": {"matchLabels": dict(rule.destination.pods)}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [rule.source.to_k8s()], "ports": rule.ports_k8s()}]}


def default_deny_spec() -> dict[str, Any]:
    """Selects every pod and allows nothing, in both directions."""
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def dns_egress_spec(dns_namespace: dict[str, str], dns_pods: dict[str, str]) -> dict[str, Any]:
    """Every pod may resolve names through cluster DNS (UDP and TCP 53)."""
    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{
            "to": [{"namespaceSelector": {"matchLabels": dict(dns_namespace)},
                    "podSelector": {"matchLabels": dict(dns_pods)}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }],
    }


def policy_specs(args: NetworkPoliciesArgs) -> dict[str, dict[str, Any]]:
    """Every NetworkPolicy spec by object name, in a stable order (pure: what the component creates)."""
    specs: dict[str, dict[str, Any]] = {
        "default-deny": default_deny_spec(),
        "allow-dns-egress": dns_egress_spec(args.dns_namespace, args.dns_pods),
    }
    for rule in args.rules:
        sides = []
        if rule.source.local:
            sides.append((policy_name(rule, "egress"), egress_spec(rule)))
        if rule.destination.local:
            sides.append((policy_name(rule, "ingress"), ingress_spec(rule)))
        for name, spec in sides:
            if name in specs:
                raise ValueError(f"NetworkPolicies: two rules named {name!r}; give their peers "
                                 "distinct names or merge their ports")
            specs[name] = spec
    return specs


API_PORT = 8080
CONSUMER_METRICS_PORT = 9090
POSTGRES_PORT = 5432
CNPG_STATUS_PORT = 8000
"""CloudNativePG instance manager (status/health) port, called by the operator and by peers."""
CNPG_METRICS_PORT = 9187
KAFKA_CLIENT_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093
REDIS_PORT = 6379
PROMETHEUS_PORT = 9090
KUBE_API_PORTS = (443, 6443)


@dataclass(frozen=True, kw_only=True)
class Topology:
    """Who runs in the namespace (pod selectors) and which outside ends it talks to."""

    api: dict[str, str]
    """API pods."""
    consumer: dict[str, str]
    """Consumer pods."""
    postgres: dict[str, str] | None = None
    """PostgreSQL pods (StatefulSet or CloudNativePG instances); None with `postgres_cidr`."""
    kafka: dict[str, str] | None = None
    """Kafka broker/controller pods; None with `kafka_cidr`."""
    postgres_cidr: str | None = None
    """Bring-your-own PostgreSQL: its IP range (egress only; nothing of ours runs there)."""
    postgres_port: int = 5432
    """Port of the bring-your-own PostgreSQL."""
    kafka_cidr: str | None = None
    """Bring-your-own Kafka: the brokers' IP range (egress only)."""
    kafka_ports: tuple[int, ...] = (9092,)
    """Client ports of the bring-your-own Kafka brokers."""
    db_clients: dict[str, dict[str, str]] = field(default_factory=dict)
    """Further pods that connect to PostgreSQL by name (migrations, retention, backup, pgadmin, ...)."""
    kafka_clients: dict[str, dict[str, str]] = field(default_factory=dict)
    """Further pods that connect to Kafka's client port by name (e.g. the topic-init Job)."""
    redis: dict[str, str] | None = None
    """Redis pods (None: no Redis)."""
    prometheus: dict[str, str] | None = None
    """Prometheus pods (None: no monitoring)."""
    scrape_targets: dict[str, tuple[dict[str, str], tuple[int, ...]]] = field(default_factory=dict)
    """Further metrics endpoints by name: (pod selector, ports); API, consumer and CNPG are built in."""
    grafana: dict[str, str] | None = None
    """Grafana pods (reads Prometheus and PostgreSQL)."""
    ingress_controller_namespace: str = "ingress-nginx"
    """Namespace of the ingress controller that forwards to the API."""
    ingress_controller_pods: dict[str, str] | None = None
    """Labels of the ingress controller pods (None: any pod of that namespace)."""
    cnpg_operator_namespace: str | None = None
    """Namespace of the CloudNativePG operator (None: PostgreSQL is a plain StatefulSet)."""
    api_server_cidr: str | None = None
    """Where the Kubernetes API server is, for pods that call it (CNPG instances are added themselves)."""
    api_server_clients: dict[str, dict[str, str]] = field(default_factory=dict)
    """Pods that call the Kubernetes API by name (Prometheus service discovery, kube-state-metrics)."""
    object_storage_cidr: str | None = None
    """IP range of the backup object store (None: no backups leave the cluster)."""
    object_storage_ports: tuple[int, ...] = (443,)
    """Ports of the object store."""
    object_storage_clients: dict[str, dict[str, str]] = field(default_factory=dict)
    """Pods that write to / read from the object store, by name (backup jobs)."""


def log_aggregator_rules(t: Topology) -> tuple[AllowRule, ...]:
    """The system's allowed connections (pure data; see docs/architecture.md for the ports)."""
    api, consumer = Peer(name="api", pods=t.api), Peer(name="consumer", pods=t.consumer)
    postgres = (Peer(name="postgres", cidr=t.postgres_cidr) if t.postgres_cidr
                else Peer(name="postgres", pods=t.postgres))
    kafka = (Peer(name="kafka", cidr=t.kafka_cidr) if t.kafka_cidr
             else Peer(name="kafka", pods=t.kafka))
    cnpg = t.cnpg_operator_namespace is not None and postgres.local
    db_ports = (t.postgres_port,) if t.postgres_cidr else (POSTGRES_PORT,)
    kafka_ports = t.kafka_ports if t.kafka_cidr else (KAFKA_CLIENT_PORT,)
    rules = [
        AllowRule(source=Peer(name="ingress-controller",
                              namespace={"kubernetes.io/metadata.name": t.ingress_controller_namespace},
                              pods=t.ingress_controller_pods),
                  destination=api, ports=(API_PORT,)),
        AllowRule(source=api, destination=postgres, ports=db_ports),
        AllowRule(source=consumer, destination=postgres, ports=db_ports),
        AllowRule(source=api, destination=kafka, ports=kafka_ports),
        AllowRule(source=consumer, destination=kafka, ports=kafka_ports),
    ]
    if kafka.local:
        rules.append(AllowRule(source=kafka, destination=kafka,
                               ports=(KAFKA_CLIENT_PORT, KAFKA_CONTROLLER_PORT)))
    rules += [AllowRule(source=Peer(name=n, pods=s), destination=postgres, ports=db_ports)
              for n, s in sorted(t.db_clients.items())]
    rules += [AllowRule(source=Peer(name=n, pods=s), destination=kafka, ports=kafka_ports)
              for n, s in sorted(t.kafka_clients.items())]
    if cnpg:
        rules += [
            AllowRule(source=postgres, destination=postgres, ports=(POSTGRES_PORT, CNPG_STATUS_PORT)),
            AllowRule(source=Peer(name="cnpg-operator", namespace={
                "kubernetes.io/metadata.name": str(t.cnpg_operator_namespace)}),
                destination=postgres, ports=(CNPG_STATUS_PORT, POSTGRES_PORT)),
        ]
    if t.redis is not None:
        rules.append(AllowRule(source=api, destination=Peer(name="redis", pods=t.redis),
                               ports=(REDIS_PORT,)))
    api_clients = {**({"postgres": t.postgres} if cnpg else {}), **t.api_server_clients}
    if t.prometheus is not None:
        prometheus = Peer(name="prometheus", pods=t.prometheus)
        targets = {"api": (t.api, (API_PORT,)), "consumer": (t.consumer, (CONSUMER_METRICS_PORT,)),
                   **({"postgres": (t.postgres, (CNPG_METRICS_PORT,))} if cnpg else {}),
                   **t.scrape_targets}
        rules += [AllowRule(source=prometheus, destination=Peer(name=n, pods=s), ports=ports)
                  for n, (s, ports) in targets.items()]
        if t.grafana is not None:
            rules.append(AllowRule(source=Peer(name="grafana", pods=t.grafana), destination=prometheus,
                                   ports=(PROMETHEUS_PORT,)))
    if t.grafana is not None:
        rules.append(AllowRule(source=Peer(name="grafana", pods=t.grafana), destination=postgres,
                               ports=db_ports))
    if api_clients and t.api_server_cidr:
        rules += [AllowRule(source=Peer(name=n, pods=s),
                            destination=Peer(name="kube-apiserver", cidr=t.api_server_cidr),
                            ports=KUBE_API_PORTS) for n, s in sorted(api_clients.items())]
    if t.object_storage_cidr:
        rules += [AllowRule(source=Peer(name=n, pods=s),
                            destination=Peer(name="object-storage", cidr=t.object_storage_cidr),
                            ports=t.object_storage_ports)
                  for n, s in sorted(t.object_storage_clients.items())]
    return tuple(rules)


class NetworkPolicies(pulumi.ComponentResource):
    """Default-deny ingress and egress for a namespace, DNS egress, and the declared allow rules."""

    names: list[str]
    """Names of every NetworkPolicy created."""

    def __init__(self, name: str, args: NetworkPoliciesArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:NetworkPolicies", name, None, opts)
        labels: dict[str, str] = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi",
                  "app.kubernetes.io/component": "network-policy"}
        specs = policy_specs(args)
        # Wire-format dicts (as in every component): Any keeps mypy off the SDK's TypedDict overloads.
        spec: Any
        for object_name, spec in specs.items():
            metadata: Any = {"name": object_name, "namespace": args.namespace, "labels": labels}
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{object_name}",
                metadata=metadata,
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.names = list(specs)
        self.register_outputs({"names": self.names})
