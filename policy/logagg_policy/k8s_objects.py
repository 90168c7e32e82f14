"""Read plain Kubernetes objects (dicts in wire format): pod templates, containers, label selectors.

Shared by the policy rules and the security tests; knows nothing about Pulumi.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

K8sObject = Mapping[str, Any]

_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
CNPG_CLUSTER = ("postgresql.cnpg.io", "Cluster")
"""CloudNativePG Cluster: its operator creates the instance pods, labelled `cnpg.io/cluster=<name>`."""


@dataclass(frozen=True)
class PodShape:
    """The pods one object makes: where they run, their labels and (when we render it) their spec."""

    owner: str
    """`Kind/namespace/name` of the object that makes the pods."""
    namespace: str
    """Namespace of the pods."""
    labels: Mapping[str, str]
    """Labels every such pod carries."""
    spec: Mapping[str, Any] | None
    """The pod spec; None when an operator builds it (CloudNativePG)."""


def kind(obj: K8sObject) -> str:
    """The object's kind ("" when it is not a Kubernetes object, e.g. a Helm Release's inputs)."""
    value = obj.get("kind")
    return value if isinstance(value, str) else ""


def api_group(obj: K8sObject) -> str:
    """The API group of `apiVersion` ("" for the core group)."""
    api_version = str(obj.get("apiVersion") or "")
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def metadata(obj: K8sObject) -> Mapping[str, Any]:
    """`metadata`, or an empty mapping."""
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def namespace(obj: K8sObject) -> str:
    """`metadata.namespace` ("" when unset)."""
    return str(metadata(obj).get("namespace") or "")


def ref(obj: K8sObject) -> str:
    """A readable `Kind/namespace/name` for messages."""
    meta = metadata(obj)
    return f"{kind(obj) or '?'}/{meta.get('namespace') or '-'}/{meta.get('name') or '?'}"


def dig(obj: Any, *path: str) -> Any:
    """Follow `path` through nested mappings; None as soon as a step is missing."""
    for step in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(step)
    return obj


def is_cnpg_cluster(obj: K8sObject) -> bool:
    """True for a CloudNativePG `Cluster`."""
    return (api_group(obj), kind(obj)) == CNPG_CLUSTER


def pod_shape(obj: K8sObject) -> PodShape | None:
    """The pods `obj` makes, or None when it makes none."""
    if kind(obj) == "Pod":
        return PodShape(ref(obj), namespace(obj), dict(metadata(obj).get("labels") or {}),
                        obj.get("spec") or {})
    path = _TEMPLATE_PATHS.get(kind(obj))
    if path is not None and api_group(obj) in ("apps", "batch", ""):
        template = dig(obj, *path) or {}
        return PodShape(ref(obj), namespace(obj), dict(dig(template, "metadata", "labels") or {}),
                        template.get("spec") or {})
    if is_cnpg_cluster(obj):
        name = str(metadata(obj).get("name") or "")
        return PodShape(ref(obj), namespace(obj), {"cnpg.io/cluster": name}, None)
    return None


def containers(spec: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any]]:
    """Every container of a pod spec: init, regular and ephemeral."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in (spec or {}).get(field) or []:
            if isinstance(container, Mapping):
                yield container


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an empty selector matches everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = set(expression.get("values") or [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def is_empty_selector(selector: Mapping[str, Any] | None) -> bool:
    """True when a selector selects everything (`{}`)."""
    return not (selector or {}).get("matchLabels") and not (selector or {}).get("matchExpressions")


def of_kind(objects: Iterable[K8sObject], *kinds: str) -> list[K8sObject]:
    """The objects whose kind is one of `kinds`."""
    return [obj for obj in objects if kind(obj) in kinds]
