"""Scrape targets and the bundled Prometheus configuration built from them (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ScrapeTarget:
    """Pods Prometheus scrapes: selected by labels, one named container port."""

    job: str
    """Value of the `job` label (alerts and dashboards do not depend on it)."""
    selector: dict[str, str]
    """Pod labels that select the targets (all must match)."""
    port: str
    """Name of the container port serving metrics."""
    path: str = "/metrics"
    """HTTP path of the metrics."""
    honor_labels: bool = False
    """Keep the target's own `namespace`/`pod` labels (kube-state-metrics reports other pods)."""
    extra_relabelings: list[dict[str, Any]] = field(default_factory=list)
    """Additional Prometheus relabel rules (wire format, snake_case)."""


def _meta_label(label: str) -> str:
    """Prometheus' kubernetes_sd meta label name of a pod label."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", label)


def scrape_job(target: ScrapeTarget, namespace: str) -> dict[str, Any]:
    """One scrape_config: pod discovery in `namespace` only (works with a namespaced Role)."""
    keep = [{"source_labels": [_meta_label(k)], "regex": re.escape(v), "action": "keep"}
            for k, v in sorted(target.selector.items())]
    keep.append({"source_labels": ["__meta_kubernetes_pod_container_port_name"],
                 "regex": re.escape(target.port), "action": "keep"})
    # Pods that are gone or not started yet have no address worth scraping.
    keep.append({"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed",
                 "action": "drop"})
    labels = [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    return {
        "job_name": target.job,
        "metrics_path": target.path,
        "honor_labels": target.honor_labels,
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
        "relabel_configs": keep + labels + list(target.extra_relabelings),
    }


def prometheus_config(namespace: str, targets: list[ScrapeTarget], *, scrape_interval: str,
                      rule_files: list[str], alertmanager_url: str = "") -> dict[str, Any]:
    """prometheus.yml of the bundled Prometheus (alerts go to `alertmanager_url` when set)."""
    self_job = {"job_name": "prometheus", "static_configs": [
        {"targets": ["localhost:9090"], "labels": {"namespace": namespace}}]}
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": rule_files,
        "scrape_configs": [self_job] + [scrape_job(t, namespace) for t in targets],
    }
    if alertmanager_url:
        scheme, _, host = alertmanager_url.partition("://")
        if not host:
            raise ValueError(f"alertmanager_url must look like http://host:port, got {alertmanager_url!r}")
        config["alerting"] = {"alertmanagers": [
            {"scheme": scheme, "static_configs": [{"targets": [host.rstrip("/")]}]}]}
    return config
