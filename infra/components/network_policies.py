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


class NetworkPolicies(pulumi.ComponentResource):
    """Default-deny ingress and egress for a namespace, DNS egress, and the declared allow rules."""

    names: list[str]
    """Names of every NetworkPolicy created."""

    def __init__(self, name: str, args: NetworkPoliciesArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:NetworkPolicies", name, None, opts)
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi",
                  "app.kubernetes.io/component": "network-policy"}
        specs = policy_specs(args)
        for object_name, spec in specs.items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{object_name}",
                metadata={"name": object_name, "namespace": args.namespace, "labels": labels},
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.names = list(specs)
        self.register_outputs({"names": self.names})
