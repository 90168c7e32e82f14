"""The CrossGuard pack without the CLI: each policy's validate function on every stack's resources.

Resources are the real program's registrations (type token + inputs) as `pulumi preview` would hand
them to the analyzer; a violating fixture must make each policy report.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.logagg_policy import policies
from tests.infra.render import normalise
from tests.policy import fixtures as fx
from tests.policy import renders

OPTIONS = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                                additional_secret_outputs=[])


def type_token(obj: dict[str, Any]) -> str:
    """The pulumi-kubernetes type token of a Kubernetes object."""
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj['kind']}"


def stack_resources(stack: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, name, props) of every custom resource the program registers for `stack`."""
    return [(r.typ, r.name, normalise(r.inputs))
            for r in renders.rendered(stack).mocks.resources if r.custom]


def run_resource_policy(policy: ResourceValidationPolicy, resources: list[tuple[str, str, dict[str, Any]]],
                        stack: str, config: dict[str, Any] | None = None) -> list[str]:
    """Violations a resource policy reports over `resources`."""
    violations: list[str] = []
    for typ, name, props in resources:
        args = ResourceValidationArgs(typ, props, f"urn:pulumi:{stack}::log-aggregator::{typ}::{name}",
                                      name, OPTIONS, None, config or {})
        policy.validate(args, lambda message, urn=None: violations.append(message))
    return violations


def run_stack_policy(policy: StackValidationPolicy, resources: list[tuple[str, str, dict[str, Any]]],
                     stack: str) -> list[str]:
    """Violations a stack policy reports over `resources`."""
    violations: list[str] = []
    items = [PolicyResource(typ, props, f"urn:pulumi:{stack}::log-aggregator::{typ}::{name}", name,
                            OPTIONS, None, None, [], {}) for typ, name, props in resources]
    policy.validate(StackValidationArgs(items), lambda message, urn=None: violations.append(message))
    return violations


def run(policy: Any, resources: list[tuple[str, str, dict[str, Any]]], stack: str,
        monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run any policy of the pack as the analyzer would for `stack`."""
    monkeypatch.setenv("PULUMI_STACK", stack)
    if isinstance(policy, StackValidationPolicy):
        return run_stack_policy(policy, resources, stack)
    return run_resource_policy(policy, resources, stack)


def as_resources(*objects: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Fixture objects as registrations."""
    return [(type_token(o), o["metadata"]["name"], o) for o in objects]


@pytest.mark.parametrize("stack", renders.STACKS)
@pytest.mark.parametrize("policy", policies.POLICIES, ids=lambda p: p.name)
def test_every_stack_complies_with_every_policy(policy: Any, stack: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    resources = stack_resources(stack)
    assert any(typ.startswith("kubernetes:") for typ, _, _ in resources)
    assert run(policy, resources, stack, monkeypatch) == []


COMPLIANT = [fx.deployment("api", replicas=None), fx.hpa("api", 3), fx.pdb("api"),
             fx.statefulset("kafka", 3), fx.pdb("kafka"), fx.cronjob("backup"), fx.cnpg_cluster("pg"),
             fx.network_policy("deny", {})]
VIOLATIONS: dict[str, list[dict[str, Any]]] = {
    "no-unpinned-images": [fx.modified(fx.deployment(), ("spec", "template", "spec", "containers", 0,
                                                         "image"), "apache/kafka:4.1.2")],
    "resources-on-every-container": [fx.modified(fx.cronjob(), (
        "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "resources"), {})],
    "no-privileged-or-host-access": [fx.modified(fx.statefulset(), ("spec", "template", "spec",
                                                                    "hostNetwork"), True)],
    "hpa-min-replicas-in-prod": [fx.hpa("api", 2)],
    "pdb-for-multi-replica-workloads": [fx.statefulset("kafka", 3), fx.network_policy("deny", {})],
    "network-policy-for-every-pod": [fx.deployment("api", replicas=1)],
}


@pytest.mark.parametrize("policy", policies.POLICIES, ids=lambda p: p.name)
def test_each_policy_rejects_its_violating_fixture(policy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(policy, as_resources(*COMPLIANT), "prod", monkeypatch) == []
    assert run(policy, as_resources(*VIOLATIONS[policy.name]), "prod", monkeypatch) != []


def test_hpa_floor_applies_to_prod_only_and_follows_policy_config(monkeypatch: pytest.MonkeyPatch) -> None:
    low = as_resources(fx.hpa("api", 2))
    assert run(policies.HPA_MIN_REPLICAS_IN_PROD, low, "staging", monkeypatch) == []
    assert run(policies.HPA_MIN_REPLICAS_IN_PROD, low, "prod", monkeypatch) != []
    # An unknown stack name counts as prod unless the policy config says otherwise.
    assert run(policies.HPA_MIN_REPLICAS_IN_PROD, low, "eu-live", monkeypatch) != []
    assert run_resource_policy(policies.HPA_MIN_REPLICAS_IN_PROD, low, "eu-live",
                               {"environment": "staging"}) == []
    assert run_resource_policy(policies.HPA_MIN_REPLICAS_IN_PROD, low, "prod",
                               {"prodMinReplicas": 2}) == []


def test_non_kubernetes_resources_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    password = [("random:index/randomPassword:RandomPassword", "pw", {"length": 32})]
    for policy in policies.POLICIES:
        assert run(policy, password, "prod", monkeypatch) == []


def test_pack_policies_are_unique_and_mandatory() -> None:
    names = [p.name for p in policies.POLICIES]
    assert len(names) == len(set(names)) == 6
    assert set(names) == set(VIOLATIONS)
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in policies.POLICIES)


def test_entry_point_builds_the_pack_the_cli_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`policy/__main__.py` (what `pulumi preview --policy-pack policy` runs) serves every policy."""
    import pulumi_policy

    built: dict[str, Any] = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.update(kwargs))
    monkeypatch.setattr(sys, "path", list(sys.path))
    runpy.run_path(str(Path(policies.__file__).parents[1] / "__main__.py"), run_name="__main__")
    assert built["name"] == "log-aggregator-security"
    assert built["enforcement_level"] == EnforcementLevel.MANDATORY
    assert [p.name for p in built["policies"]] == [p.name for p in policies.POLICIES]
