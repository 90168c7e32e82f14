"""Metrics and alerts: a bundled Prometheus, or monitors + rules for an existing Prometheus Operator.

Exporters deployed here (both modes): postgres_exporter, for a plain PostgreSQL StatefulSet only.
CloudNativePG instances serve their own metrics on port 9187 and are scraped directly. Kafka's
partition health (the Kafka alerts) is exported by the consumer itself from the cluster metadata,
so no Kafka exporter runs. The bundled mode also runs kube-state-metrics limited
to the stack's namespace (pod restarts, HPA replicas), so every RBAC grant is a namespaced Role;
kube-prometheus-stack brings its own cluster-wide kube-state-metrics.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from .. import images
from .. import k8s as kx
from ..monitoring import assets
from ..monitoring.scrape import ScrapeTarget, prometheus_config

PROMETHEUS_IMAGE = images.PROMETHEUS
KUBE_STATE_METRICS_IMAGE = images.KUBE_STATE_METRICS
POSTGRES_EXPORTER_IMAGE = images.POSTGRES_EXPORTER
PROMETHEUS_PORT = 9090
KSM_PORT = 8080
POSTGRES_EXPORTER_PORT = 9187
MODES = ("bundled", "operator")
# kube-state-metrics collectors the alerts and dashboards need; all namespaced.
KSM_RESOURCES = ("pods", "horizontalpodautoscalers", "deployments", "statefulsets", "jobs",
                 "cronjobs", "persistentvolumeclaims")


@dataclass(frozen=True, kw_only=True)
class PostgresExporterArgs:
    """Connection of postgres_exporter; the password is read from a mounted Secret file."""

    host: pulumi.Input[str]
    """PostgreSQL host."""
    password_secret_name: pulumi.Input[str]
    """Secret holding the role's password."""
    password_key: str = "password"
    """Key of the password in that Secret."""
    user: str = "logagg"
    """Role the exporter connects as."""
    database: str = "logagg"
    """Database to connect to."""
    port: int = 5432
    """PostgreSQL port."""
    sslmode: str = "disable"
    """libpq sslmode (the dev StatefulSet speaks plaintext inside the cluster)."""


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    """Inputs of a Monitoring."""

    namespace: pulumi.Input[str]
    """Namespace of every object (and the only namespace Prometheus discovers)."""
    mode: str = "bundled"
    """`bundled` (own Prometheus) or `operator` (PodMonitors + PrometheusRule for kube-prometheus-stack)."""
    app_targets: list[ScrapeTarget] = field(default_factory=list)
    """Application pods to scrape (API, consumer, CloudNativePG instances)."""
    postgres_exporter: PostgresExporterArgs | None = None
    """Where postgres_exporter connects (StatefulSet PostgreSQL); None = no exporter (CloudNativePG
    instances export their own metrics)."""
    scrape_interval: str = "30s"
    """Scrape and rule evaluation interval."""
    retention: str = "15d"
    """Bundled Prometheus: TSDB retention time."""
    storage_size: str = "10Gi"
    """Bundled Prometheus: PVC size (retention by size is set to 85% of it)."""
    storage_class: str | None = None
    """StorageClass of the Prometheus PVC (None = cluster default)."""
    runbook_base_url: str = ""
    """Prefix of the runbook links in alerts (e.g. the repository's web URL at main); '' = repo paths."""
    alertmanager_url: str = ""
    """Bundled Prometheus: Alertmanager to notify (http://host:port); '' = alerts only in the UI/Grafana."""
    operator_labels: dict[str, str] = field(
        default_factory=lambda: {"release": "kube-prometheus-stack"})
    """Operator mode: labels the existing Prometheus selects PodMonitors and PrometheusRules by."""
    operator_prometheus_url: str = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    """Operator mode: URL of the existing Prometheus (for Grafana)."""
    prometheus_resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="200m", memory_request="512Mi", cpu_limit="1", memory_limit="2Gi"))
    """Requests/limits of the Prometheus container."""
    exporter_resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="20m", memory_request="32Mi", cpu_limit="200m", memory_limit="128Mi"))
    """Requests/limits of each exporter container."""
    uid: int = kx.NON_ROOT_UID
    """uid/gid the pods run as."""


API_TOKEN_MOUNT = {"name": "api-token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                   "readOnly": True}
"""Where client-go looks for the in-cluster credentials."""


def api_token_volume() -> dict[str, Any]:
    """The ServiceAccount token, CA and namespace as one projected volume.

    Only the pods that call the Kubernetes API get it, mounted explicitly, instead of the
    automounted token every pod would otherwise carry (automountServiceAccountToken stays false).
    """
    return {"name": "api-token", "projected": {"defaultMode": 0o444, "sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
    ]}}


def prometheus_files(namespace: str, targets: list[ScrapeTarget], args: MonitoringArgs) -> dict[str, str]:
    """ConfigMap data of the bundled Prometheus: prometheus.yml and the stack's alert rules."""
    config = prometheus_config(namespace, targets, scrape_interval=args.scrape_interval,
                               rule_files=["/etc/prometheus/alerts.yaml"],
                               alertmanager_url=args.alertmanager_url)
    return {"prometheus.yml": yaml.safe_dump(config, sort_keys=False),
            "alerts.yaml": assets.rules_file(namespace, args.runbook_base_url)}


def config_checksum(files: dict[str, str]) -> str:
    """sha256 of the config files: a pod-template annotation, so a config change rolls the pod."""
    return hashlib.sha256("\0".join(f"{k}\0{files[k]}" for k in sorted(files)).encode()).hexdigest()


def retention_size(storage_size: str) -> str:
    """85% of a PVC size like `10Gi` in Prometheus' unit syntax (`8704MB`), leaving WAL headroom."""
    units = {"Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    for suffix, mib in units.items():
        if storage_size.endswith(suffix) and storage_size[: -len(suffix)].isdigit():
            return f"{int(storage_size[: -len(suffix)]) * mib * 85 // 100}MB"
    raise ValueError(f"storage_size must be like 10Gi / 512Mi / 1Ti, got {storage_size!r}")


class Monitoring(pulumi.ComponentResource):
    """Prometheus scraping, exporters and the alert rules of one stack."""

    prometheus_url: pulumi.Output[str]
    """In-cluster URL of the Prometheus that holds this stack's metrics (Grafana's datasource)."""
    prometheus_selector: dict[str, str]
    """Labels selecting the bundled Prometheus pod (for NetworkPolicies; {} in operator mode)."""
    exporter_selectors: dict[str, dict[str, str]]
    """`job → pod labels` of the exporters this component runs (for NetworkPolicies)."""

    def __init__(self, name: str, args: MonitoringArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:Monitoring", name, None, opts)
        if args.mode not in MODES:
            raise ValueError(f"Monitoring {name}: mode must be one of {MODES}, got {args.mode!r}")
        retention_size(args.storage_size)  # validate early, with the resource name in the error
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self.exporter_selectors = {}
        targets = list(args.app_targets)
        targets += self._create_postgres_exporter()
        if args.mode == "bundled":
            targets += self._create_kube_state_metrics()
            self.prometheus_selector = kx.selector_labels("prometheus", "monitoring", name)
            self.prometheus_url = pulumi.Output.from_input(args.namespace).apply(
                lambda ns: f"http://{kx.service_host(f'{name}-prometheus', ns)}:{PROMETHEUS_PORT}")
            self._create_prometheus(targets)
        else:
            self.prometheus_selector = {}
            self.prometheus_url = pulumi.Output.from_input(args.operator_prometheus_url)
            self._create_monitors(targets)
            self._create_prometheus_rule()
        self.register_outputs({"prometheus_url": self.prometheus_url})

    # ---- helpers -----------------------------------------------------------------------------
    def _meta(self, suffix: str, app: str, extra_labels: dict[str, str] | None = None) -> Any:
        return {"name": f"{self._name}-{suffix}", "namespace": self._args.namespace,
                "labels": {**kx.labels(app, "monitoring", self._name), **(extra_labels or {})}}

    def _container(self, name: str, image: str, port: int, resources: kx.ResourceSpec,
                   **extra: Any) -> dict[str, Any]:
        return {"name": name, "image": image, "imagePullPolicy": "Always",
                "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
                "resources": resources.to_k8s(),
                "securityContext": kx.container_security_context(self._args.uid), **extra}

    def _exporter(self, suffix: str, app: str, container: dict[str, Any],
                  service_account: str | None = None, volumes: list[Any] | None = None) -> dict[str, str]:
        """A one-replica Deployment running an exporter; returns its selector."""
        selector = kx.selector_labels(app, "monitoring", self._name)
        spec: dict[str, Any] = {
            "securityContext": kx.pod_security_context(self._args.uid),
            "automountServiceAccountToken": False,
            "containers": [container],
            "volumes": volumes or [],
        }
        if service_account:
            spec["serviceAccountName"] = service_account
            spec["volumes"].append(api_token_volume())
            container.setdefault("volumeMounts", []).append(API_TOKEN_MOUNT)
        else:  # its own token-less ServiceAccount (project rule: one per workload)
            spec["serviceAccountName"] = f"{self._name}-{suffix}"
            k8s.core.v1.ServiceAccount(f"{self._name}-{suffix}-sa", metadata=self._meta(suffix, app),
                                       automount_service_account_token=False, opts=self._child)
        k8s.apps.v1.Deployment(
            f"{self._name}-{suffix}",
            metadata=self._meta(suffix, app),
            spec={"replicas": 1, "selector": {"matchLabels": selector},
                  "template": {"metadata": {"labels": kx.labels(app, "monitoring", self._name)},
                               "spec": spec}},
            opts=self._child)
        return selector

    # ---- exporters ---------------------------------------------------------------------------
    def _create_postgres_exporter(self) -> list[ScrapeTarget]:
        pg = self._args.postgres_exporter
        if pg is None:
            return []
        uri = pulumi.Output.from_input(pg.host).apply(
            lambda h: f"{h}:{pg.port}/{pg.database}?sslmode={pg.sslmode}")
        # User and password as separate settings so the secret is a mounted file, not an env value.
        env = [{"name": "DATA_SOURCE_URI", "value": uri},
               {"name": "DATA_SOURCE_USER", "value": pg.user},
               {"name": "DATA_SOURCE_PASS_FILE", "value": "/etc/postgres-exporter/password"}]
        volumes = [{"name": "password", "secret": {
            "secretName": pg.password_secret_name, "defaultMode": 0o440,
            "items": [{"key": pg.password_key, "path": "password"}]}}]
        probe = kx.http_probe("/", "metrics", initial_delay=10, period=20)
        selector = self._exporter("postgres-exporter", "postgres-exporter", self._container(
            "postgres-exporter", POSTGRES_EXPORTER_IMAGE, POSTGRES_EXPORTER_PORT,
            self._args.exporter_resources, env=env, readinessProbe=probe, livenessProbe=probe,
            volumeMounts=[{"name": "password", "mountPath": "/etc/postgres-exporter",
                           "readOnly": True}]),
            volumes=volumes)
        self.exporter_selectors["postgres-exporter"] = selector
        return [ScrapeTarget(job="postgres-exporter", selector=selector, port="metrics")]

    def _create_kube_state_metrics(self) -> list[ScrapeTarget]:
        a = self._args
        sa = self._namespaced_rbac("kube-state-metrics", "kube-state-metrics", [
            {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims"],
             "verbs": ["list", "watch"]},
            {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"],
             "verbs": ["list", "watch"]},
            {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["list", "watch"]},
            {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"],
             "verbs": ["list", "watch"]},
        ])
        args = pulumi.Output.from_input(a.namespace).apply(lambda ns: [
            f"--namespaces={ns}", f"--resources={','.join(KSM_RESOURCES)}",
            f"--port={KSM_PORT}", "--telemetry-port=8081"])
        selector = self._exporter("kube-state-metrics", "kube-state-metrics", self._container(
            "kube-state-metrics", KUBE_STATE_METRICS_IMAGE, KSM_PORT, a.exporter_resources,
            args=args,
            readinessProbe=kx.http_probe("/readyz", 8081, initial_delay=5, period=10),
            livenessProbe=kx.http_probe("/livez", KSM_PORT, initial_delay=5, period=10)),
            service_account=sa)
        self.exporter_selectors["kube-state-metrics"] = selector
        # honor_labels: its series describe other pods (namespace/pod labels must not be replaced).
        return [ScrapeTarget(job="kube-state-metrics", selector=selector, port="metrics",
                             honor_labels=True)]

    def _namespaced_rbac(self, suffix: str, app: str, rules: list[dict[str, Any]]) -> str:
        """ServiceAccount + Role + RoleBinding; returns the ServiceAccount name."""
        sa_name = f"{self._name}-{suffix}"
        k8s.core.v1.ServiceAccount(f"{self._name}-{suffix}-sa", metadata=self._meta(suffix, app),
                                   automount_service_account_token=False, opts=self._child)
        k8s.rbac.v1.Role(f"{self._name}-{suffix}-role", metadata=self._meta(suffix, app),
                         rules=rules, opts=self._child)
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-{suffix}-rolebinding", metadata=self._meta(suffix, app),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa_name},
            subjects=[{"kind": "ServiceAccount", "name": sa_name, "namespace": self._args.namespace}],
            opts=self._child)
        return sa_name

    # ---- bundled Prometheus ------------------------------------------------------------------
    def _create_prometheus(self, targets: list[ScrapeTarget]) -> None:
        a = self._args
        name = f"{self._name}-prometheus"
        sa = self._namespaced_rbac("prometheus", "prometheus", [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}])
        files = pulumi.Output.from_input(a.namespace).apply(
            lambda ns: prometheus_files(ns, targets, a))
        k8s.core.v1.ConfigMap(f"{name}-config", metadata=self._meta("prometheus-config", "prometheus"),
                              data=files, opts=self._child)
        lbl = kx.labels("prometheus", "monitoring", self._name)
        k8s.core.v1.Service(
            name, metadata=self._meta("prometheus", "prometheus"),
            spec={"selector": self.prometheus_selector, "ports": [
                {"name": "http", "port": PROMETHEUS_PORT, "targetPort": "http", "protocol": "TCP"}]},
            opts=self._child)
        container = {
            "name": "prometheus", "image": PROMETHEUS_IMAGE, "imagePullPolicy": "Always",
            "args": ["--config.file=/etc/prometheus/prometheus.yml",
                     "--storage.tsdb.path=/prometheus",
                     f"--storage.tsdb.retention.time={a.retention}",
                     f"--storage.tsdb.retention.size={retention_size(a.storage_size)}"],
            "ports": [{"name": "http", "containerPort": PROMETHEUS_PORT, "protocol": "TCP"}],
            "readinessProbe": kx.http_probe("/-/ready", "http", initial_delay=10, period=10),
            "livenessProbe": kx.http_probe("/-/healthy", "http", initial_delay=30, period=20,
                                           failure_threshold=6),
            "resources": a.prometheus_resources.to_k8s(),
            "securityContext": kx.container_security_context(a.uid),
            "volumeMounts": [{"name": "config", "mountPath": "/etc/prometheus", "readOnly": True},
                             {"name": "data", "mountPath": "/prometheus"}, API_TOKEN_MOUNT],
        }
        pvc_spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                                    "resources": {"requests": {"storage": a.storage_size}}}
        if a.storage_class:
            pvc_spec["storageClassName"] = a.storage_class
        k8s.apps.v1.StatefulSet(
            name, metadata=self._meta("prometheus", "prometheus"),
            spec={
                "serviceName": name, "replicas": 1,
                "selector": {"matchLabels": self.prometheus_selector},
                "template": {
                    "metadata": {"labels": lbl, "annotations": {
                        "checksum/config": files.apply(config_checksum)}},
                    "spec": {
                        "serviceAccountName": sa,
                        "automountServiceAccountToken": False,  # token mounted explicitly
                        "securityContext": kx.pod_security_context(a.uid),
                        "containers": [container],
                        "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}},
                                    api_token_volume()],
                    }},
                "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": lbl},
                                          "spec": pvc_spec}],
            },
            opts=self._child)

    # ---- operator mode -----------------------------------------------------------------------
    def _create_monitors(self, targets: list[ScrapeTarget]) -> None:
        a = self._args
        for target in targets:
            endpoint: dict[str, Any] = {
                "port": target.port, "path": target.path, "interval": a.scrape_interval,
                "honorLabels": target.honor_labels,
                # job = the same value as in bundled mode (the operator's default is ns/monitor).
                "relabelings": [{"action": "replace", "targetLabel": "job",
                                 "replacement": target.job}],
            }
            k8s.apiextensions.CustomResource(
                f"{self._name}-{target.job}-podmonitor",
                api_version="monitoring.coreos.com/v1", kind="PodMonitor",
                metadata=self._meta(target.job, target.job, a.operator_labels),
                spec={"selector": {"matchLabels": target.selector},
                      "namespaceSelector": {"matchNames": [a.namespace]},
                      "podMetricsEndpoints": [endpoint]},
                opts=self._child)

    def _create_prometheus_rule(self) -> None:
        a = self._args
        groups = pulumi.Output.from_input(a.namespace).apply(
            lambda ns: assets.rule_groups(ns, a.runbook_base_url))
        k8s.apiextensions.CustomResource(
            f"{self._name}-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata=self._meta("rules", "prometheus", a.operator_labels),
            spec={"groups": groups}, opts=self._child)
