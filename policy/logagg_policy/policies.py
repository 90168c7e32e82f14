"""CrossGuard wrappers: each policy hands resource props (Kubernetes objects) to a rule in `rules`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import rules

ENVIRONMENTS = ("dev", "staging", "prod")


def _is_kubernetes(resource_type: str) -> bool:
    return resource_type.startswith("kubernetes:")


def _resource_policy(name: str, description: str,
                     rule: Callable[[Mapping[str, Any]], list[str]]) -> ResourceValidationPolicy:
    """A mandatory per-resource policy that reports each message of `rule`."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not _is_kubernetes(args.resource_type):
            return
        for message in rule(args.props):
            report_violation(message, None)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY)


def stack_environment(config: Mapping[str, Any], stack: str | None = None) -> str:
    """The environment a stack deploys: policy config `environment`, else the stack name, else prod.

    Unknown stack names are treated as prod so the strictest rules apply.
    """
    configured = config.get("environment")
    if configured in ENVIRONMENTS:
        return str(configured)
    stack = stack if stack is not None else os.environ.get("PULUMI_STACK", "")
    return stack if stack in ENVIRONMENTS else "prod"


def _validate_hpa(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not _is_kubernetes(args.resource_type):
        return
    config = args.get_config()
    environment = stack_environment(config)
    minimum = int(config.get("prodMinReplicas", rules.PROD_MIN_HPA_REPLICAS))
    for message in rules.hpa_below_minimum(args.props, environment, minimum):
        report_violation(message, None)


def _stack_policy(name: str, description: str,
                  rule: Callable[[list[Mapping[str, Any]]], list[str]]) -> StackValidationPolicy:
    """A mandatory stack policy: `rule` sees every Kubernetes object of the stack at once."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        objects = [r.props for r in args.resources if _is_kubernetes(r.resource_type)]
        for message in rule(objects):
            report_violation(message, None)

    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=EnforcementLevel.MANDATORY)


NO_UNPINNED_IMAGES = _resource_policy(
    "no-unpinned-images", "Every container image (and CloudNativePG imageName) is pinned by sha256 digest.",
    rules.unpinned_images)
RESOURCES_ON_EVERY_CONTAINER = _resource_policy(
    "resources-on-every-container", "Every container sets CPU and memory requests and limits.",
    rules.missing_resources)
NO_PRIVILEGED_OR_HOST_ACCESS = _resource_policy(
    "no-privileged-or-host-access",
    "No privileged containers, privilege escalation, added capabilities, host namespaces, hostPath or hostPort.",
    rules.privileged_or_host_access)
HPA_MIN_REPLICAS_IN_PROD = ResourceValidationPolicy(
    name="hpa-min-replicas-in-prod",
    description="In prod every HorizontalPodAutoscaler keeps at least 3 replicas.",
    validate=_validate_hpa,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "environment": {"type": "string", "enum": list(ENVIRONMENTS),
                        "description": "Environment of the stack (default: the stack name; unknown = prod)."},
        "prodMinReplicas": {"type": "integer", "minimum": 1, "default": rules.PROD_MIN_HPA_REPLICAS,
                            "description": "Smallest minReplicas allowed in prod."},
    }))
PDB_FOR_MULTI_REPLICA_WORKLOADS = _stack_policy(
    "pdb-for-multi-replica-workloads",
    "Every Deployment/StatefulSet that can run more than one replica has a PodDisruptionBudget.",
    rules.workloads_without_pdb)
NETWORK_POLICY_FOR_EVERY_POD = _stack_policy(
    "network-policy-for-every-pod", "Every pod is selected by at least one NetworkPolicy of its namespace.",
    rules.pods_without_network_policy)

POLICIES: list[Policy] = [
    NO_UNPINNED_IMAGES,
    RESOURCES_ON_EVERY_CONTAINER,
    NO_PRIVILEGED_OR_HOST_ACCESS,
    HPA_MIN_REPLICAS_IN_PROD,
    PDB_FOR_MULTI_REPLICA_WORKLOADS,
    NETWORK_POLICY_FOR_EVERY_POD,
]
"""Every policy of the pack, in report order."""
