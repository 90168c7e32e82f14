"""Small, compliant Kubernetes objects; tests break one property at a time to prove a rule fails."""

from __future__ import annotations

import copy
from typing import Any

NS = "logagg"
DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.example.com/logagg:1.0@{DIGEST}"


def container(name: str = "app", image: str = IMAGE) -> dict[str, Any]:
    """A hardened container with probes and resources."""
    return {
        "name": name,
        "image": image,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "500m", "memory": "512Mi"}},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "readinessProbe": {"tcpSocket": {"port": 8080}},
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False,
                            "readOnlyRootFilesystem": True, "runAsNonRoot": True, "runAsUser": 10001,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
    }


def pod_spec(*containers: dict[str, Any]) -> dict[str, Any]:
    """A restricted pod spec."""
    return {"automountServiceAccountToken": False, "serviceAccountName": "app",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": list(containers) or [container()]}


def labels(component: str) -> dict[str, str]:
    """Selector labels of one component."""
    return {"app.kubernetes.io/name": "logagg", "app.kubernetes.io/component": component}


def deployment(component: str = "api", replicas: int | None = 2, **spec: Any) -> dict[str, Any]:
    """A Deployment of `component`."""
    body: dict[str, Any] = {
        "selector": {"matchLabels": labels(component)},
        "template": {"metadata": {"labels": labels(component)}, "spec": pod_spec()},
        **spec,
    }
    if replicas is not None:
        body["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": component, "namespace": NS, "labels": labels(component)}, "spec": body}


def statefulset(component: str = "kafka", replicas: int = 3) -> dict[str, Any]:
    """A StatefulSet of `component`."""
    obj = deployment(component, replicas)
    obj["kind"] = "StatefulSet"
    obj["spec"]["serviceName"] = component
    return obj


def cronjob(component: str = "backup") -> dict[str, Any]:
    """A CronJob of `component`."""
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": component, "namespace": NS},
            "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": {
                "metadata": {"labels": labels(component)},
                "spec": {**pod_spec(), "restartPolicy": "OnFailure"}}}}}}


def job(component: str = "migrations") -> dict[str, Any]:
    """A Job of `component`."""
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": component, "namespace": NS},
            "spec": {"template": {"metadata": {"labels": labels(component)},
                                  "spec": {**pod_spec(), "restartPolicy": "Never"}}}}


def cnpg_cluster(name: str = "pg", image: str | None = f"ghcr.io/cloudnative-pg/postgresql:17.6@{DIGEST}"
                 ) -> dict[str, Any]:
    """A CloudNativePG Cluster."""
    spec: dict[str, Any] = {"instances": 3, "storage": {"size": "10Gi"},
                            "resources": container()["resources"]}
    if image is not None:
        spec["imageName"] = image
    return {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def hpa(target: str = "api", min_replicas: int | None = 3, max_replicas: int = 10) -> dict[str, Any]:
    """An autoscaling/v2 HPA for Deployment `target`."""
    spec: dict[str, Any] = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                            "maxReplicas": max_replicas}
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": target, "namespace": NS}, "spec": spec}


def pdb(component: str) -> dict[str, Any]:
    """A PDB selecting `component`."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": component, "namespace": NS},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels(component)}}}


def network_policy(name: str, pod_selector: dict[str, Any], namespace: str = NS) -> dict[str, Any]:
    """An ingress NetworkPolicy selecting `pod_selector`."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"podSelector": pod_selector, "policyTypes": ["Ingress"]}}


def modified(obj: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A deep copy of `obj` with the value at `path` replaced."""
    result = copy.deepcopy(obj)
    target: Any = result
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return result
