"""Each rule passes a compliant object and fails each kind of violation it exists for."""

from __future__ import annotations

from typing import Any

import pytest

from policy.logagg_policy import rules
from tests.policy import fixtures as fx

TEMPLATE = ("spec", "template", "spec")
CONTAINER = (*TEMPLATE, "containers", 0)
CRON_CONTAINER = ("spec", "jobTemplate", "spec", "template", "spec", "containers", 0)


@pytest.mark.parametrize("obj", [fx.deployment(), fx.statefulset(), fx.cronjob(), fx.job(),
                                 fx.cnpg_cluster()], ids=lambda o: o["kind"])
def test_compliant_workloads_pass_every_object_rule(obj: dict[str, Any]) -> None:
    assert rules.unpinned_images(obj) == []
    assert rules.missing_resources(obj) == []
    assert rules.privileged_or_host_access(obj) == []


@pytest.mark.parametrize("image", [
    "registry.example.com/logagg:1.0", "apache/kafka", "apache/kafka:latest",
    "postgres@sha256:short", "postgres:17@sha256:" + "AB" * 32,
])
def test_unpinned_images_fail(image: str) -> None:
    for obj, path in ((fx.deployment(), CONTAINER), (fx.cronjob(), CRON_CONTAINER)):
        violations = rules.unpinned_images(fx.modified(obj, (*path, "image"), image))
        assert len(violations) == 1 and image in violations[0], violations


def test_unpinned_init_container_fails() -> None:
    obj = fx.modified(fx.deployment(), (*TEMPLATE, "initContainers"),
                      [fx.container("init", "busybox:1.36")])
    assert rules.unpinned_images(obj) == [
        ("Deployment/logagg/api: container 'init' image 'busybox:1.36' is not pinned by digest "
        "(repo[:tag]@sha256:<64 hex>)")]


@pytest.mark.parametrize("image", [None, "ghcr.io/cloudnative-pg/postgresql:17.6"])
def test_cnpg_cluster_without_digest_fails(image: str | None) -> None:
    assert len(rules.unpinned_images(fx.cnpg_cluster(image=image))) == 1


@pytest.mark.parametrize("section,name", [("requests", "cpu"), ("requests", "memory"),
                                          ("limits", "cpu"), ("limits", "memory")])
def test_missing_resource_fails(section: str, name: str) -> None:
    obj = fx.deployment()
    del obj["spec"]["template"]["spec"]["containers"][0]["resources"][section][name]
    assert rules.missing_resources(obj) == [f"Deployment/logagg/api: container 'app' lacks {section}.{name}"]
    cluster = fx.cnpg_cluster()
    del cluster["spec"]["resources"][section][name]
    assert rules.missing_resources(cluster) == [f"Cluster/logagg/pg: spec.resources lacks {section}.{name}"]


def test_container_without_resources_block_fails() -> None:
    obj = fx.deployment()
    del obj["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert len(rules.missing_resources(obj)[0].split(", ")) == 4


@pytest.mark.parametrize("path,value,expected", [
    ((*TEMPLATE, "hostNetwork"), True, "hostNetwork"),
    ((*TEMPLATE, "hostPID"), True, "hostPID"),
    ((*TEMPLATE, "hostIPC"), True, "hostIPC"),
    ((*TEMPLATE, "volumes"), [{"name": "root", "hostPath": {"path": "/"}}], "hostPath"),
    ((*CONTAINER, "securityContext", "privileged"), True, "privileged"),
    ((*CONTAINER, "securityContext", "allowPrivilegeEscalation"), True, "allowPrivilegeEscalation"),
    ((*CONTAINER, "securityContext", "capabilities", "add"), ["NET_ADMIN"], "adds capabilities"),
    ((*CONTAINER, "ports"), [{"containerPort": 80, "hostPort": 80}], "hostPort"),
])
def test_privileged_or_host_access_fails(path: tuple[str | int, ...], value: Any, expected: str) -> None:
    violations = rules.privileged_or_host_access(fx.modified(fx.deployment(), path, value))
    assert len(violations) == 1 and expected in violations[0], violations


def test_missing_allow_privilege_escalation_fails() -> None:
    obj = fx.deployment()
    del obj["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    assert len(rules.privileged_or_host_access(obj)) == 1


@pytest.mark.parametrize("minimum,environment,ok", [
    (3, "prod", True), (2, "prod", False), (None, "prod", False), (1, "staging", True), (1, "dev", True),
])
def test_hpa_minimum_in_prod(minimum: int | None, environment: str, ok: bool) -> None:
    assert (rules.hpa_below_minimum(fx.hpa(min_replicas=minimum), environment) == []) is ok


def test_multi_replica_workloads_need_a_pdb() -> None:
    objects = [fx.deployment("api", replicas=None), fx.hpa("api", 3), fx.statefulset("kafka", 3),
               fx.deployment("single", replicas=1), fx.pdb("api"), fx.pdb("kafka")]
    assert rules.workloads_without_pdb(objects) == []
    assert rules.workloads_without_pdb(objects[:-1]) == [
        "StatefulSet/logagg/kafka: runs up to 3 replicas but no PodDisruptionBudget selects its pods"]
    # The HPA makes the Deployment multi-replica even without spec.replicas.
    assert len(rules.workloads_without_pdb(objects[:3] + objects[-1:])) == 1


def test_pdb_in_another_namespace_or_selecting_everything_does_not_count() -> None:
    elsewhere = fx.pdb("kafka")
    elsewhere["metadata"]["namespace"] = "other"
    catch_all = fx.modified(fx.pdb("kafka"), ("spec", "selector"), {})
    for pdb in (elsewhere, catch_all):
        assert len(rules.workloads_without_pdb([fx.statefulset("kafka", 3), pdb])) == 1


def test_every_pod_needs_a_network_policy() -> None:
    workloads = [fx.deployment("api"), fx.cronjob("backup"), fx.job("migrations"), fx.cnpg_cluster("pg")]
    policies = [fx.network_policy("api", {"matchLabels": fx.labels("api")}),
                fx.network_policy("jobs", {"matchExpressions": [
                    {"key": "app.kubernetes.io/component", "operator": "In",
                     "values": ["backup", "migrations"]}]}),
                fx.network_policy("pg", {"matchLabels": {"cnpg.io/cluster": "pg"}})]
    assert rules.pods_without_network_policy(workloads + policies) == []
    assert rules.pods_without_network_policy(workloads + policies, specific=True) == []
    missing = rules.pods_without_network_policy(workloads + policies[:2])
    assert missing == ["Cluster/logagg/pg: no NetworkPolicy selects its pods {'cnpg.io/cluster': 'pg'}"]


def test_catch_all_policy_covers_pods_only_when_not_specific() -> None:
    objects = [fx.deployment("api"), fx.network_policy("deny", {})]
    assert rules.pods_without_network_policy(objects) == []
    assert len(rules.pods_without_network_policy(objects, specific=True)) == 1
    foreign = [fx.deployment("api"), fx.network_policy("deny", {}, namespace="other")]
    assert len(rules.pods_without_network_policy(foreign)) == 1


def test_network_policy_selecting_nothing_is_reported() -> None:
    objects = [fx.deployment("api"), fx.network_policy("api", {"matchLabels": fx.labels("api")}),
               fx.network_policy("typo", {"matchLabels": fx.labels("apii")}),
               fx.network_policy("deny", {})]
    assert rules.network_policies_selecting_nothing(objects) == [
        ("NetworkPolicy/logagg/typo: podSelector {'matchLabels': {'app.kubernetes.io/name': 'logagg', "
        "'app.kubernetes.io/component': 'apii'}} selects no pod")]


def test_non_kubernetes_props_are_ignored() -> None:
    helm_release_inputs = {"chart": "cloudnative-pg", "version": "0.29.0", "values": {}}
    for rule in (rules.unpinned_images, rules.missing_resources, rules.privileged_or_host_access):
        assert rule(helm_release_inputs) == []
