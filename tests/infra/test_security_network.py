"""NetworkPolicies: the component's pure specs, and the policies of every rendered stack."""

from __future__ import annotations

from typing import Any

import pytest

from infra.components import network_policies as npol
from policy.logagg_policy import rules
from policy.logagg_policy.k8s_objects import (
    PodShape,
    dig,
    is_empty_selector,
    pod_shape,
    selector_matches,
)
from tests.policy import renders

API = {"app.kubernetes.io/name": "logagg", "app.kubernetes.io/component": "api"}
CONSUMER = {"app.kubernetes.io/name": "logagg", "app.kubernetes.io/component": "consumer"}
PG = {"cnpg.io/cluster": "pg"}
KAFKA = {"app.kubernetes.io/name": "kafka", "app.kubernetes.io/component": "broker"}
BACKUP = {"app.kubernetes.io/name": "logagg", "app.kubernetes.io/component": "backup"}
PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
GRAFANA = {"app.kubernetes.io/name": "grafana"}


def full_topology() -> npol.Topology:
    """Every optional part switched on."""
    return npol.Topology(
        api=API, consumer=CONSUMER, postgres=PG, kafka=KAFKA,
        db_clients={"backup": BACKUP, "pgadmin": {"app.kubernetes.io/name": "pgadmin"}},
        kafka_clients={"topic-init": {"app.kubernetes.io/component": "topic-init"}},
        redis={"app.kubernetes.io/name": "redis"}, prometheus=PROMETHEUS, grafana=GRAFANA,
        scrape_targets={"kafka": (KAFKA, (9404,))}, cnpg_operator_namespace="cnpg-system",
        api_server_cidr="10.0.0.1/32", api_server_clients={"prometheus": PROMETHEUS}, object_storage_cidr="203.0.113.0/24",
        object_storage_clients={"backup": BACKUP})


def specs_of(topology: npol.Topology) -> dict[str, dict[str, Any]]:
    """Every NetworkPolicy spec the component would create."""
    return npol.policy_specs(npol.NetworkPoliciesArgs(namespace="ns",
                                                      rules=npol.log_aggregator_rules(topology)))


def test_default_deny_and_dns_come_first() -> None:
    specs = specs_of(npol.Topology(api=API, consumer=CONSUMER, postgres=PG, kafka=KAFKA))
    assert list(specs)[:2] == ["default-deny", "allow-dns-egress"]
    assert specs["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = specs["allow-dns-egress"]["egress"][0]
    assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                          "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}


def test_in_namespace_pairs_get_both_sides_on_the_same_ports() -> None:
    specs = specs_of(full_topology())
    egress = specs["allow-api-to-postgres-egress"]
    ingress = specs["allow-api-to-postgres-ingress"]
    assert egress["podSelector"] == {"matchLabels": API}
    assert egress["egress"] == [{"to": [{"podSelector": {"matchLabels": PG}}],
                                 "ports": [{"protocol": "TCP", "port": 5432}]}]
    assert ingress["podSelector"] == {"matchLabels": PG}
    assert ingress["ingress"] == [{"from": [{"podSelector": {"matchLabels": API}}],
                                   "ports": [{"protocol": "TCP", "port": 5432}]}]
    kafka = specs["allow-kafka-to-kafka-ingress"]["ingress"][0]
    assert [p["port"] for p in kafka["ports"]] == [9092, 9093]
    cnpg_peers = specs["allow-postgres-to-postgres-ingress"]["ingress"][0]
    assert [p["port"] for p in cnpg_peers["ports"]] == [5432, 8000]


def test_outside_ends_get_only_our_side() -> None:
    specs = specs_of(full_topology())
    operator = specs["allow-cnpg-operator-to-postgres-ingress"]["ingress"][0]
    assert operator["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "cnpg-system"}}}]
    assert "allow-cnpg-operator-to-postgres-egress" not in specs
    storage = specs["allow-backup-to-object-storage-egress"]["egress"][0]
    assert storage == {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
                       "ports": [{"protocol": "TCP", "port": 443}]}
    assert "allow-backup-to-object-storage-ingress" not in specs
    controller = specs["allow-ingress-controller-to-api-ingress"]["ingress"][0]
    assert controller["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ingress-nginx"}}}]
    assert [p["port"] for p in controller["ports"]] == [8080]
    for client in ("postgres", "prometheus"):
        assert specs[f"allow-{client}-to-kube-apiserver-egress"]["egress"][0]["to"] == [
            {"ipBlock": {"cidr": "10.0.0.1/32"}}]


def test_monitoring_reaches_every_metrics_port_and_grafana_its_sources() -> None:
    specs = specs_of(full_topology())
    scraped = {name.removeprefix("allow-prometheus-to-").removesuffix("-ingress"):
               [p["port"] for p in spec["ingress"][0]["ports"]]
               for name, spec in specs.items()
               if name.startswith("allow-prometheus-to-") and name.endswith("-ingress")}
    assert scraped == {"api": [8080], "consumer": [9090], "postgres": [9187], "kafka": [9404]}
    assert [p["port"] for p in specs["allow-grafana-to-prometheus-ingress"]["ingress"][0]["ports"]] == [9090]
    assert "allow-grafana-to-postgres-ingress" in specs and "allow-pgadmin-to-postgres-ingress" in specs


def test_plain_statefulset_database_has_no_operator_rules() -> None:
    specs = specs_of(npol.Topology(api=API, consumer=CONSUMER, postgres=PG, kafka=KAFKA,
                                   api_server_cidr="0.0.0.0/0"))
    assert not [name for name in specs if "cnpg" in name or "kube-apiserver" in name
                or name.startswith("allow-postgres-to-postgres")]


@pytest.mark.parametrize("make", [
    lambda: npol.Peer(name="x"),
    lambda: npol.Peer(name="x", pods={}),
    lambda: npol.Peer(name="x", pods=API, cidr="10.0.0.0/8"),
    lambda: npol.AllowRule(source=npol.Peer(name="a", pods=API), destination=npol.Peer(name="b", pods=PG),
                           ports=()),
    lambda: npol.AllowRule(source=npol.Peer(name="a", cidr="10.0.0.0/8"),
                           destination=npol.Peer(name="b", namespace={"x": "y"}), ports=(1,)),
])
def test_invalid_peers_and_rules_are_refused(make: Any) -> None:
    with pytest.raises(ValueError):
        make()


def test_duplicate_rule_names_are_refused() -> None:
    rule = npol.AllowRule(source=npol.Peer(name="a", pods=API), destination=npol.Peer(name="b", pods=PG),
                          ports=(1,))
    with pytest.raises(ValueError, match="two rules named"):
        npol.policy_specs(npol.NetworkPoliciesArgs(namespace="ns", rules=(rule, rule)))


# ---- the rendered stacks -------------------------------------------------------------------------
def _objects(stack: str) -> list[dict[str, Any]]:
    return renders.rendered(stack).objects


def _ports(rule: dict[str, Any]) -> set[tuple[str, Any]]:
    return {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports") or []}


def _local_pod_peers(rule: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Peers of `rule[key]` that select pods of the policy's own namespace."""
    return [peer for peer in rule.get(key) or []
            if "podSelector" in peer and "namespaceSelector" not in peer and "ipBlock" not in peer]


def _covered(policies: list[dict[str, Any]], direction: str, selected: PodShape, peer: PodShape,
             ports: set[tuple[str, Any]]) -> bool:
    """Some `direction` policy selecting `selected` admits `peer` on `ports`."""
    key = "from" if direction == "ingress" else "to"
    for policy in policies:
        spec = policy["spec"]
        if direction.capitalize() not in spec.get("policyTypes", []):
            continue
        if not selector_matches(spec.get("podSelector"), selected.labels):
            continue
        for rule in spec.get(direction) or []:
            admitted = any(selector_matches(p["podSelector"], peer.labels) for p in _local_pod_peers(rule, key))
            if admitted and ports <= _ports(rule):
                return True
    return False


@pytest.mark.parametrize("stack", renders.STACKS)
def test_every_pod_is_selected_by_a_policy_written_for_it(stack: str) -> None:
    objects = _objects(stack)
    assert [o for o in objects if o["kind"] == "NetworkPolicy"], f"[{stack}] renders no NetworkPolicy"
    assert rules.pods_without_network_policy(objects, specific=True) == []


@pytest.mark.parametrize("stack", renders.STACKS)
def test_no_policy_selects_nothing(stack: str) -> None:
    assert rules.network_policies_selecting_nothing(_objects(stack)) == []


@pytest.mark.parametrize("stack", renders.STACKS)
def test_namespace_is_default_deny_with_dns(stack: str) -> None:
    policies = [o for o in _objects(stack) if o["kind"] == "NetworkPolicy"]
    catch_all = [p["spec"] for p in policies if is_empty_selector(p["spec"].get("podSelector"))]
    assert {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]} in catch_all, catch_all
    dns_ports = {port for spec in catch_all for rule in spec.get("egress") or [] for port in _ports(rule)}
    assert {("UDP", 53), ("TCP", 53)} <= dns_ports


def unpaired(objects: list[dict[str, Any]]) -> tuple[list[str], int]:
    """(allow rules whose other side is missing, pairs checked) over in-namespace pod peers."""
    shapes = [s for s in map(pod_shape, objects) if s is not None]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    missing, checked = [], 0
    for policy in policies:
        spec, name = policy["spec"], policy["metadata"]["name"]
        if is_empty_selector(spec.get("podSelector")):
            continue
        owners = [s for s in shapes if selector_matches(spec["podSelector"], s.labels)]
        for direction, key, other in (("egress", "to", "ingress"), ("ingress", "from", "egress")):
            for rule in spec.get(direction) or []:
                for peer in _local_pod_peers(rule, key):
                    peers = [s for s in shapes if selector_matches(peer["podSelector"], s.labels)]
                    if not peers:
                        missing.append(f"{name}: {key} {peer} selects no pod")
                    for owner in owners:
                        for target in peers:
                            checked += 1
                            if not _covered(policies, other, target, owner, _ports(rule)):
                                missing.append(f"{name}: no {other} policy on {target.owner} for "
                                               f"{owner.owner} on {sorted(_ports(rule))}")
    return missing, checked


@pytest.mark.parametrize("stack", renders.STACKS)
def test_each_allowed_pair_has_both_sides(stack: str) -> None:
    missing, checked = unpaired(_objects(stack))
    assert checked > 0, f"[{stack}] no in-namespace allow pair rendered"
    assert missing == []


def test_pair_check_catches_a_missing_side() -> None:
    """The check above is not vacuous: drop one side, or narrow its ports, and it reports."""
    topology = npol.Topology(api=API, consumer=CONSUMER, postgres=PG, kafka=KAFKA)
    specs = specs_of(topology)
    workloads = [{"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": name, "namespace": "ns"},
                  "spec": {"template": {"metadata": {"labels": labels}, "spec": {}}}}
                 for name, labels in (("api", API), ("consumer", CONSUMER), ("kafka", KAFKA), ("pg", PG))]

    def as_objects(chosen: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return workloads + [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                             "metadata": {"name": n, "namespace": "ns"}, "spec": s} for n, s in chosen.items()]

    assert unpaired(as_objects(specs)) == ([], 10)
    without = {n: s for n, s in specs.items() if n != "allow-api-to-postgres-ingress"}
    assert unpaired(as_objects(without))[0] == [
        ("allow-api-to-postgres-egress: no ingress policy on Deployment/ns/pg for Deployment/ns/api "
        "on [('TCP', 5432)]")]
    narrowed = dict(specs)
    narrowed["allow-kafka-to-kafka-egress"] = {**specs["allow-kafka-to-kafka-egress"], "egress": [
        {**specs["allow-kafka-to-kafka-egress"]["egress"][0], "ports": [{"protocol": "TCP", "port": 9092}]}]}
    assert len(unpaired(as_objects(narrowed))[0]) == 1


@pytest.mark.parametrize("stack", renders.STACKS)
def test_api_is_reachable_from_the_ingress_controller_only_on_8080(stack: str) -> None:
    objects = _objects(stack)
    api = next(s for s in map(pod_shape, objects)
               if s is not None and s.labels.get("app.kubernetes.io/component") == "api")
    sources = [(peer, _ports(rule)) for policy in objects if policy["kind"] == "NetworkPolicy"
               and selector_matches(dig(policy, "spec", "podSelector"), api.labels)
               for rule in dig(policy, "spec", "ingress") or [] for peer in rule.get("from") or []]
    assert sources, f"[{stack}] nothing may reach the API"
    assert all(ports == {("TCP", 8080)} for _, ports in sources), sources
    assert any("namespaceSelector" in peer for peer, _ in sources)
