"""Namespace with Pod Security Standard labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from ..k8s import PART_OF


@dataclass(frozen=True, kw_only=True)
class NamespaceArgs:
    """Inputs of a Namespace."""

    name: str
    """Kubernetes name of the namespace."""
    pod_security: str = "restricted"
    """Pod Security Standard level enforced (and audited/warned) for every pod in it."""
    extra_labels: dict[str, str] = field(default_factory=dict)
    """Additional labels (e.g. for NetworkPolicy namespaceSelectors)."""


class Namespace(pulumi.ComponentResource):
    """A namespace whose pods must meet a Pod Security Standard (restricted by default)."""

    name: pulumi.Output[str]
    """The namespace's Kubernetes name."""

    def __init__(self, name: str, args: NamespaceArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:Namespace", name, None, opts)
        level = args.pod_security
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": args.name,
                "labels": {
                    "app.kubernetes.io/part-of": PART_OF,
                    "app.kubernetes.io/managed-by": "pulumi",
                    "kubernetes.io/metadata.name": args.name,
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/audit": level,
                    "pod-security.kubernetes.io/warn": level,
                    **args.extra_labels,
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = ns.metadata.apply(lambda m: m.name)
        self.register_outputs({"name": self.name})
