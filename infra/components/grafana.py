"""Grafana with provisioned datasources (Prometheus, PostgreSQL as a read-only role) and dashboards.

The dashboards are the JSON files in infra/monitoring/dashboards/; their datasource uids must be the
ones provisioned here (tests/monitoring checks it). A Job runs infra/monitoring/sql/readonly_role.sql
as the database owner so the read-only role exists and may read the log tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from .. import images
from .. import k8s as kx
from ..monitoring import assets

GRAFANA_IMAGE = images.GRAFANA
"""Official image (pinned)."""
PSQL_IMAGE = images.POSTGRES
"""For the role Job's psql (the same pinned image as the StatefulSet PostgreSQL)."""
PORT = 3000
PROMETHEUS_UID = "logagg-prometheus"
"""Datasource uid the dashboards' PromQL panels use."""
POSTGRES_UID = "logagg-postgres"
"""Datasource uid the logs explorer's SQL panels use."""
DB_CA_PATH = "/etc/grafana/db-ca/ca.crt"
DASHBOARDS_PATH = "/var/lib/grafana-dashboards"


@dataclass(frozen=True, kw_only=True)
class GrafanaArgs:
    """Inputs of a Grafana."""

    namespace: pulumi.Input[str]
    """Namespace of every object."""
    prometheus_url: pulumi.Input[str]
    """URL of the Prometheus holding the stack's metrics."""
    db_host: pulumi.Input[str]
    """PostgreSQL host (read-write Service; the role only reads)."""
    db_owner_dsn_secret_name: pulumi.Input[str]
    """Secret with the owner's DSN under `database-url` (for the read-only role Job)."""
    db_name: str = "logagg"
    """Database with the log tables."""
    db_port: int = 5432
    """PostgreSQL port."""
    db_ca_secret_name: pulumi.Input[str] | None = None
    """Secret with the server CA under `ca.crt`: TLS verify-full (None = sslmode disable)."""
    set_readonly_password: bool = True
    """The role Job sets the read-only role's password (dev); False when CloudNativePG's
    managed.roles does it from `readonly_secret_name`."""
    scrape_interval: str = "30s"
    """Prometheus scrape interval (Grafana's minimum step)."""
    resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="100m", memory_request="128Mi", cpu_limit="500m", memory_limit="512Mi"))
    """Requests/limits of the Grafana container."""
    uid: int = kx.NON_ROOT_UID
    """uid/gid the pods run as."""


def _object_name(meta: Any) -> str:
    """metadata.name of a created object (always set here: every object is named explicitly)."""
    return str(meta.name)


def datasources_file(prometheus_url: str, db_host: str, db_port: int, db_name: str,
                     password: str, *, tls: bool, scrape_interval: str) -> str:
    """Grafana datasource provisioning YAML (contains the read-only role's password)."""
    pg_json: dict[str, Any] = {"database": db_name, "postgresVersion": 1700, "timescaledb": False,
                               "sslmode": "verify-full" if tls else "disable",
                               "maxOpenConns": 5, "connMaxLifetime": 14400}
    if tls:
        pg_json |= {"tlsConfigurationMethod": "file-path", "sslRootCertFile": DB_CA_PATH}
    return yaml.safe_dump({"apiVersion": 1, "datasources": [
        {"name": "Prometheus", "uid": PROMETHEUS_UID, "type": "prometheus", "access": "proxy",
         "url": prometheus_url, "isDefault": True, "editable": False,
         "jsonData": {"timeInterval": scrape_interval}},
        {"name": "Logs (PostgreSQL, read-only)", "uid": POSTGRES_UID,
         "type": "grafana-postgresql-datasource", "access": "proxy",
         "url": f"{db_host}:{db_port}", "user": assets.READONLY_ROLE, "editable": False,
         "jsonData": pg_json, "secureJsonData": {"password": password}},
    ]}, sort_keys=False)


def dashboard_provider_file() -> str:
    """Grafana dashboard provider: load every JSON file from the dashboards ConfigMap."""
    return yaml.safe_dump({"apiVersion": 1, "providers": [
        {"name": "logagg", "folder": "Log aggregator", "type": "file", "disableDeletion": True,
         "allowUiUpdates": False, "options": {"path": DASHBOARDS_PATH}}]}, sort_keys=False)


def role_job_script(set_password: bool, *, sql_file: str = "/sql/readonly_role.sql",
                    dsn_file: str = "/secrets/database-url",
                    password_file: str = "/readonly/password") -> str:
    """Shell run by the role Job: create/grant the read-only role, optionally set its password."""
    lines = ["set -eu", f'export DSN="$(cat {dsn_file})"',
             f'psql "$DSN" -X -q -v ON_ERROR_STOP=1 -f {sql_file}']
    if set_password:
        # psql interpolates :'pw' (quoted literal) only in script input, not in -c.
        lines.append(f"echo \"ALTER ROLE {assets.READONLY_ROLE} PASSWORD :'pw';\" | "
                     f'psql "$DSN" -X -q -v ON_ERROR_STOP=1 -v pw="$(cat {password_file})" -f -')
    return "\n".join(lines) + "\n"


class Grafana(pulumi.ComponentResource):
    """Grafana for the stack, with its datasources and dashboards provisioned from the repository."""

    url: pulumi.Output[str]
    """In-cluster URL of Grafana."""
    admin_password: pulumi.Output[str]
    """Generated admin password (secret; also in the `<name>-admin` Secret)."""
    readonly_secret_name: pulumi.Output[str]
    """kubernetes.io/basic-auth Secret of the read-only DB role (CloudNativePG managed.roles can use it)."""
    selector: dict[str, str]
    """Labels selecting the Grafana pod (for NetworkPolicies)."""
    role_job_selector: dict[str, str]
    """Labels selecting the read-only role Job's pod (a PostgreSQL client, for NetworkPolicies)."""

    def __init__(self, name: str, args: GrafanaArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:Grafana", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self.selector = kx.selector_labels("grafana", "monitoring", name)
        # Own component label: the Job's pod must not match the Grafana Service's selector.
        self.role_job_selector = kx.selector_labels("grafana", "db-role", name)
        readonly_pw = self._create_secrets()
        self._create_role_job()
        self._create_config(readonly_pw)
        self._create_deployment()
        self.url = pulumi.Output.from_input(args.namespace).apply(
            lambda ns: f"http://{kx.service_host(name, ns)}:{PORT}")
        self.register_outputs({"url": self.url, "admin_password": self.admin_password,
                               "readonly_secret_name": self.readonly_secret_name})

    def _meta(self, suffix: str) -> Any:  # wire-format dict; Any keeps mypy off the SDK TypedDicts
        return {"name": f"{self._name}-{suffix}" if suffix else self._name,
                "namespace": self._args.namespace,
                "labels": kx.labels("grafana", "monitoring", self._name)}

    def _create_secrets(self) -> pulumi.Output[str]:
        admin = random.RandomPassword(f"{self._name}-admin-password", length=32, special=False,
                                      opts=self._child)
        self.admin_password = pulumi.Output.secret(admin.result)
        k8s.core.v1.Secret(f"{self._name}-admin", metadata=self._meta("admin"), type="Opaque",
                           string_data={"admin-user": "admin", "admin-password": self.admin_password},
                           opts=self._child)
        readonly = random.RandomPassword(f"{self._name}-db-readonly-password", length=32,
                                         special=False, opts=self._child)
        password = pulumi.Output.secret(readonly.result)
        secret = k8s.core.v1.Secret(
            f"{self._name}-db-readonly", metadata=self._meta("db-readonly"),
            type="kubernetes.io/basic-auth",
            string_data={"username": assets.READONLY_ROLE, "password": password},
            opts=self._child)
        self.readonly_secret_name = secret.metadata.apply(_object_name)
        return password

    def _service_account(self, suffix: str) -> str:
        """A token-less ServiceAccount for one workload (project rule: one per workload); its name."""
        meta = self._meta(suffix)
        k8s.core.v1.ServiceAccount(f"{meta['name']}-serviceaccount", metadata=meta,
                                   automount_service_account_token=False, opts=self._child)
        return str(meta["name"])

    def _create_role_job(self) -> None:
        a = self._args
        sql = k8s.core.v1.ConfigMap(f"{self._name}-readonly-role-sql",
                                    metadata=self._meta("readonly-role-sql"),
                                    data={"readonly_role.sql": assets.readonly_role_sql()},
                                    opts=self._child)
        volumes: list[dict[str, Any]] = [
            {"name": "sql", "configMap": {"name": sql.metadata.apply(_object_name)}},
            {"name": "secrets", "secret": {"secretName": a.db_owner_dsn_secret_name, "items": [
                {"key": kx.DATABASE_URL_KEY, "path": "database-url"}], "defaultMode": 0o400}},
            {"name": "readonly", "secret": {"secretName": self.readonly_secret_name,
                                            "defaultMode": 0o400}},
            kx.empty_dir("tmp"),
        ]
        mounts = [{"name": "sql", "mountPath": "/sql", "readOnly": True},
                  {"name": "secrets", "mountPath": "/secrets", "readOnly": True},
                  {"name": "readonly", "mountPath": "/readonly", "readOnly": True},
                  {"name": "tmp", "mountPath": "/tmp"}]
        env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"}]
        if a.db_ca_secret_name is not None:
            # the owner DSN names its sslrootcert under kx.DB_CA_DIR
            volumes.append({"name": "db-ca", "secret": {"secretName": a.db_ca_secret_name,
                                                        "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
            mounts.append({"name": "db-ca", "mountPath": kx.DB_CA_DIR, "readOnly": True})
        k8s.batch.v1.Job(
            f"{self._name}-readonly-role", metadata=self._meta("readonly-role"),
            spec={"backoffLimit": 6, "ttlSecondsAfterFinished": 86400, "template": {
                "metadata": {"labels": kx.labels("grafana", "db-role", self._name)},
                "spec": {
                    "restartPolicy": "OnFailure", "automountServiceAccountToken": False,
                    "serviceAccountName": self._service_account("readonly-role"),
                    "securityContext": kx.pod_security_context(a.uid),
                    "containers": [{
                        "name": "psql", "image": PSQL_IMAGE, "imagePullPolicy": "Always",
                        "command": ["sh", "-c", role_job_script(a.set_readonly_password)],
                        "env": env, "volumeMounts": mounts,
                        "resources": kx.ResourceSpec(cpu_request="10m", memory_request="32Mi",
                                                     cpu_limit="200m",
                                                     memory_limit="64Mi").to_k8s(),
                        "securityContext": kx.container_security_context(a.uid)}],
                    "volumes": volumes}}},
            opts=self._child)

    def _create_config(self, readonly_pw: pulumi.Output[str]) -> None:
        a = self._args
        tls = a.db_ca_secret_name is not None
        datasources = pulumi.Output.all(a.prometheus_url, a.db_host, readonly_pw).apply(
            lambda v: datasources_file(v[0], v[1], a.db_port, a.db_name, v[2], tls=tls,
                                       scrape_interval=a.scrape_interval))
        k8s.core.v1.Secret(f"{self._name}-datasources", metadata=self._meta("datasources"),
                           type="Opaque", string_data={"datasources.yaml": datasources},
                           opts=self._child)
        k8s.core.v1.ConfigMap(f"{self._name}-dashboard-provider",
                              metadata=self._meta("dashboard-provider"),
                              data={"dashboards.yaml": dashboard_provider_file()}, opts=self._child)
        k8s.core.v1.ConfigMap(f"{self._name}-dashboards", metadata=self._meta("dashboards"),
                              data=assets.dashboards(), opts=self._child)

    def _create_deployment(self) -> None:
        a = self._args
        env = [
            {"name": "GF_SECURITY_ADMIN_USER__FILE", "value": "/etc/grafana/admin/admin-user"},
            {"name": "GF_SECURITY_ADMIN_PASSWORD__FILE", "value": "/etc/grafana/admin/admin-password"},
            {"name": "GF_PATHS_DATA", "value": "/var/lib/grafana"},
            {"name": "GF_PATHS_PROVISIONING", "value": "/etc/grafana/provisioning"},
            {"name": "GF_ANALYTICS_REPORTING_ENABLED", "value": "false"},
            {"name": "GF_ANALYTICS_CHECK_FOR_UPDATES", "value": "false"},
            {"name": "GF_AUTH_ANONYMOUS_ENABLED", "value": "false"},
            {"name": "GF_USERS_ALLOW_SIGN_UP", "value": "false"},
        ]
        prov = "/etc/grafana/provisioning"
        volumes: list[dict[str, Any]] = [
            {"name": "admin", "secret": {"secretName": f"{self._name}-admin", "defaultMode": 0o440}},
            {"name": "datasources", "secret": {"secretName": f"{self._name}-datasources",
                                               "defaultMode": 0o440}},
            {"name": "dashboard-provider", "configMap": {"name": f"{self._name}-dashboard-provider"}},
            {"name": "dashboards", "configMap": {"name": f"{self._name}-dashboards"}},
            kx.empty_dir("data", "512Mi"),
            kx.empty_dir("tmp"),
        ]
        mounts = [
            {"name": "admin", "mountPath": "/etc/grafana/admin", "readOnly": True},
            {"name": "datasources", "mountPath": f"{prov}/datasources", "readOnly": True},
            {"name": "dashboard-provider", "mountPath": f"{prov}/dashboards", "readOnly": True},
            {"name": "dashboards", "mountPath": DASHBOARDS_PATH, "readOnly": True},
            {"name": "data", "mountPath": "/var/lib/grafana"},
            {"name": "tmp", "mountPath": "/tmp"},
        ]
        if a.db_ca_secret_name is not None:
            volumes.append({"name": "db-ca", "secret": {"secretName": a.db_ca_secret_name,
                                                        "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
            mounts.append({"name": "db-ca", "mountPath": "/etc/grafana/db-ca", "readOnly": True})
        k8s.core.v1.Service(self._name, metadata=self._meta(""), spec={
            "selector": self.selector,
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}]},
            opts=self._child)
        k8s.apps.v1.Deployment(
            self._name, metadata=self._meta(""),
            spec={"replicas": 1, "selector": {"matchLabels": self.selector}, "template": {
                "metadata": {"labels": kx.labels("grafana", "monitoring", self._name)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "serviceAccountName": self._service_account(""),
                    "securityContext": kx.pod_security_context(a.uid),
                    "containers": [{
                        "name": "grafana", "image": GRAFANA_IMAGE, "imagePullPolicy": "Always",
                        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                        "env": env, "volumeMounts": mounts,
                        "readinessProbe": kx.http_probe("/api/health", "http", initial_delay=10,
                                                        period=10),
                        "livenessProbe": kx.http_probe("/api/health", "http", initial_delay=30,
                                                       period=20, failure_threshold=6),
                        "resources": a.resources.to_k8s(),
                        "securityContext": kx.container_security_context(a.uid)}],
                    "volumes": volumes}}},
            opts=self._child)
