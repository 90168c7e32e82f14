"""The rules themselves: pure functions from Kubernetes objects to violation messages.

An empty list means compliant. The Pulumi wrappers in `policies.py` call these with resource
props; the tests call them with the rendered manifests and with violating fixtures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .k8s_objects import (
    K8sObject,
    containers,
    dig,
    is_cnpg_cluster,
    is_empty_selector,
    kind,
    metadata,
    namespace,
    of_kind,
    pod_shape,
    ref,
    selector_matches,
)

DIGEST_PINNED = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")
"""An image reference that names its content: `repo[:tag]@sha256:<64 hex>` (a tag alone can move)."""
PROD_MIN_HPA_REPLICAS = 3
_RESOURCE_FIELDS = (("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory"))
_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


def unpinned_images(obj: K8sObject) -> list[str]:
    """Every image that is not pinned by digest (CloudNativePG: `spec.imageName`)."""
    if is_cnpg_cluster(obj):
        image = dig(obj, "spec", "imageName")
        if not isinstance(image, str) or not DIGEST_PINNED.match(image):
            return [(f"{ref(obj)}: spec.imageName {image!r} is not pinned by digest "
                    "(without it the operator picks its default image)")]
        return []
    shape = pod_shape(obj)
    if shape is None:
        return []
    return [f"{ref(obj)}: container {c.get('name')!r} image {c.get('image')!r} is not pinned by "
            "digest (repo[:tag]@sha256:<64 hex>)"
            for c in containers(shape.spec) if not DIGEST_PINNED.match(str(c.get("image") or ""))]


def missing_resources(obj: K8sObject) -> list[str]:
    """Every container without CPU and memory requests and limits."""
    if is_cnpg_cluster(obj):
        missing = _missing_fields(dig(obj, "spec", "resources"))
        return [f"{ref(obj)}: spec.resources lacks {', '.join(missing)}"] if missing else []
    shape = pod_shape(obj)
    if shape is None:
        return []
    violations = []
    for container in containers(shape.spec):
        missing = _missing_fields(container.get("resources"))
        if missing:
            violations.append(f"{ref(obj)}: container {container.get('name')!r} lacks {', '.join(missing)}")
    return violations


def _missing_fields(resources: Any) -> list[str]:
    return [f"{section}.{name}" for section, name in _RESOURCE_FIELDS
            if not dig(resources, section, name)]


def privileged_or_host_access(obj: K8sObject) -> list[str]:
    """Privileged containers, privilege escalation, added capabilities, host namespaces, hostPath, hostPort."""
    shape = pod_shape(obj)
    if shape is None or shape.spec is None:
        return []
    spec, where = shape.spec, ref(obj)
    violations = [f"{where}: pod sets {field}: true" for field in _HOST_NAMESPACES if spec.get(field)]
    violations += [f"{where}: volume {v.get('name')!r} mounts a hostPath"
                   for v in spec.get("volumes") or [] if isinstance(v, Mapping) and "hostPath" in v]
    for container in containers(spec):
        name = container.get("name")
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            violations.append(f"{where}: container {name!r} is privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            violations.append(f"{where}: container {name!r} must set allowPrivilegeEscalation: false")
        added = dig(context, "capabilities", "add") or []
        if added:
            violations.append(f"{where}: container {name!r} adds capabilities {added}")
        violations += [f"{where}: container {name!r} binds hostPort {p.get('hostPort')}"
                       for p in container.get("ports") or [] if p.get("hostPort")]
    return violations


def hpa_below_minimum(obj: K8sObject, environment: str,
                      minimum: int = PROD_MIN_HPA_REPLICAS) -> list[str]:
    """In prod an HPA must keep at least `minimum` replicas (an absent minReplicas means 1)."""
    if kind(obj) != "HorizontalPodAutoscaler" or environment != "prod":
        return []
    current = dig(obj, "spec", "minReplicas") or 1
    if int(current) < minimum:
        return [f"{ref(obj)}: minReplicas {int(current)} < {minimum} in prod"]
    return []


def workloads_without_pdb(objects: Iterable[K8sObject]) -> list[str]:
    """Every workload that can run more than one replica needs a PodDisruptionBudget selecting its pods."""
    objects = list(objects)
    pdbs = of_kind(objects, "PodDisruptionBudget")
    hpa_max = _hpa_max_replicas(objects)
    violations = []
    for obj in of_kind(objects, "Deployment", "StatefulSet"):
        name = str(metadata(obj).get("name") or "")
        replicas = max(int(dig(obj, "spec", "replicas") or 1),
                       hpa_max.get((namespace(obj), kind(obj), name), 0))
        shape = pod_shape(obj)
        if replicas < 2 or shape is None:
            continue
        covered = any(namespace(pdb) == shape.namespace
                      and not is_empty_selector(dig(pdb, "spec", "selector"))
                      and selector_matches(dig(pdb, "spec", "selector"), shape.labels) for pdb in pdbs)
        if not covered:
            violations.append(f"{ref(obj)}: runs up to {replicas} replicas but no PodDisruptionBudget "
                              "selects its pods")
    return violations


def _hpa_max_replicas(objects: list[K8sObject]) -> dict[tuple[str, str, str], int]:
    """(namespace, kind, name) of each HPA target → its maxReplicas."""
    return {(namespace(hpa), str(dig(hpa, "spec", "scaleTargetRef", "kind")),
             str(dig(hpa, "spec", "scaleTargetRef", "name"))): int(dig(hpa, "spec", "maxReplicas") or 1)
            for hpa in of_kind(objects, "HorizontalPodAutoscaler")}


def pods_without_network_policy(objects: Iterable[K8sObject], *, specific: bool = False) -> list[str]:
    """Every pod must be selected by a NetworkPolicy of its namespace.

    With `specific`, a catch-all policy (`podSelector: {}`, e.g. default-deny) does not count: the
    pod needs a policy written for it.
    """
    objects = list(objects)
    policies = of_kind(objects, "NetworkPolicy")
    violations = []
    for obj in objects:
        shape = pod_shape(obj)
        if shape is None:
            continue
        selected = any(
            namespace(policy) == shape.namespace
            and not (specific and is_empty_selector(dig(policy, "spec", "podSelector")))
            and selector_matches(dig(policy, "spec", "podSelector"), shape.labels)
            for policy in policies)
        if not selected:
            violations.append(f"{ref(obj)}: no NetworkPolicy{' written for it' if specific else ''} "
                              f"selects its pods {dict(shape.labels)}")
    return violations


def network_policies_selecting_nothing(objects: Iterable[K8sObject]) -> list[str]:
    """Every NetworkPolicy with a non-empty podSelector must select some pod of its namespace."""
    objects = list(objects)
    shapes = [shape for shape in map(pod_shape, objects) if shape is not None]
    violations = []
    for policy in of_kind(objects, "NetworkPolicy"):
        selector = dig(policy, "spec", "podSelector")
        if is_empty_selector(selector):
            continue
        if not any(s.namespace == namespace(policy) and selector_matches(selector, s.labels) for s in shapes):
            violations.append(f"{ref(policy)}: podSelector {dict(selector or {})} selects no pod")
    return violations
