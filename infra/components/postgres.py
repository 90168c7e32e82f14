"""PostgreSQL: a single-instance StatefulSet (dev) or a replicated CloudNativePG cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import images
from .. import k8s as kx

CNPG_CHART_VERSION = "0.29.0"
"""cloudnative-pg Helm chart version; it ships operator 1.30.0 (CRDs in tests/infra/crds/)."""
CNPG_CHART_REPO = "https://cloudnative-pg.github.io/charts"
POSTGRES_IMAGE = images.POSTGRES
"""Official image for the StatefulSet mode (pinned)."""
CNPG_POSTGRES_IMAGE = images.CNPG_POSTGRES
"""CloudNativePG operand image (pinned)."""
PORT = 5432


@dataclass(frozen=True, kw_only=True)
class PostgresArgs:
    """Inputs of a Postgres."""

    namespace: pulumi.Input[str]
    """Namespace of every object."""
    instances: int = 1
    """Number of instances (> 1 requires `operator`)."""
    operator: bool = False
    """Run as a CloudNativePG Cluster (replicated, automatic failover) instead of a StatefulSet."""
    install_operator: bool = True
    """Install the CloudNativePG operator with Helm (only when `operator`)."""
    operator_namespace: str = "cnpg-system"
    """Namespace the operator is installed into."""
    synchronous: bool = False
    """Synchronous replication: a commit waits for one standby (CloudNativePG only)."""
    database: str = "logagg"
    """Database name."""
    user: str = "logagg"
    """Owner role the application connects as."""
    storage_size: str = "10Gi"
    """PVC size per instance."""
    storage_class: str | None = None
    """StorageClass (None = cluster default)."""
    resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi"))
    """Requests/limits per instance."""
    uid: int = kx.NON_ROOT_UID
    """uid/gid the StatefulSet mode runs as (the official image defaults to 999)."""
    plugins: tuple[dict[str, Any], ...] = ()
    """CloudNativePG `spec.plugins` entries, e.g. `backups.wal_archiving_plugin(...)` (operator only)."""
    managed_roles: tuple[dict[str, Any], ...] = ()
    """CloudNativePG `spec.managed.roles`, e.g. Grafana's read-only role with its password Secret."""


def dsn(user: str, password: str, host: str, database: str, *, tls_ca_file: str | None) -> str:
    """libpq URL; verify-full against `tls_ca_file` when given, plaintext inside the cluster otherwise."""
    params = (f"sslmode=verify-full&sslrootcert={tls_ca_file}" if tls_ca_file
              else "sslmode=disable")
    return f"postgresql://{quote(user)}:{quote(password, safe='')}@{host}:{PORT}/{database}?{params}"


class Postgres(pulumi.ComponentResource):
    """The application database, with a Secret holding its DSN."""

    host: pulumi.Output[str]
    """Cluster DNS name of the read-write endpoint."""
    dsn_secret_name: pulumi.Output[str]
    """Secret with the DSN under key `database-url`."""
    ca_secret_name: pulumi.Output[str]
    """Secret with the server CA under key `ca.crt` ('' when the connection is not TLS)."""
    password: pulumi.Output[str]
    """Generated password of the application role (secret)."""
    selector: dict[str, str]
    """Labels selecting the database pods (for NetworkPolicies)."""

    def __init__(self, name: str, args: PostgresArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:Postgres", name, None, opts)
        if args.instances > 1 and not args.operator:
            raise ValueError(f"Postgres {name}: {args.instances} instances need operator=True")
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(
            f"{name}-password", length=32, special=False, opts=self._child)
        self.password = pulumi.Output.secret(password.result)
        if args.operator:
            # `<svc>.<ns>.svc` is always in the operator's server certificate (verify-full);
            # the `.cluster.local` suffix depends on the cluster domain.
            self.host = pulumi.Output.from_input(args.namespace).apply(
                lambda ns: f"{name}-rw.{ns}.svc")
            self.ca_secret_name = pulumi.Output.from_input(f"{name}-ca")
            self.selector = {"cnpg.io/cluster": name}
            self._create_cluster(self._create_operator())
            ca_file: str | None = f"{kx.DB_CA_DIR}/ca.crt"
        else:
            self.host = pulumi.Output.from_input(args.namespace).apply(
                lambda ns: kx.service_host(name, ns))
            self.ca_secret_name = pulumi.Output.from_input("")
            self.selector = kx.selector_labels("postgres", "database", name)
            self._create_statefulset()
            ca_file = None
        self.dsn_secret_name = self._create_dsn_secret(ca_file)
        self.register_outputs({
            "host": self.host, "dsn_secret_name": self.dsn_secret_name,
            "ca_secret_name": self.ca_secret_name, "password": self.password,
        })

    # ---- shared ------------------------------------------------------------------------------
    def _create_dsn_secret(self, ca_file: str | None) -> pulumi.Output[str]:
        a = self._args
        url = pulumi.Output.all(self.password, self.host).apply(
            lambda v: dsn(a.user, v[0], v[1], a.database, tls_ca_file=ca_file))
        secret = k8s.core.v1.Secret(
            f"{self._name}-dsn",
            metadata={"name": f"{self._name}-dsn", "namespace": a.namespace,
                      "labels": kx.labels("postgres", "database", self._name)},
            type="Opaque",
            string_data={kx.DATABASE_URL_KEY: url},
            opts=self._child,
        )
        return secret.metadata.apply(lambda m: m.name)

    # ---- dev: one StatefulSet -------------------------------------------------------------
    def _create_statefulset(self) -> None:
        a, name = self._args, self._name
        lbl = kx.labels("postgres", "database", name)
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata={"name": f"{name}-credentials", "namespace": a.namespace, "labels": lbl},
            type="Opaque",
            string_data={"password": self.password},
            opts=self._child,
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata={"name": name, "namespace": a.namespace, "labels": lbl},
            automount_service_account_token=False,
            opts=self._child,
        )
        port = [{"name": "postgres", "port": PORT, "targetPort": "postgres", "protocol": "TCP"}]
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": name, "namespace": a.namespace, "labels": lbl},
            spec={"selector": self.selector, "ports": port},
            opts=self._child,
        )
        headless = k8s.core.v1.Service(
            f"{name}-headless",
            metadata={"name": f"{name}-headless", "namespace": a.namespace, "labels": lbl},
            spec={"clusterIP": "None", "selector": self.selector, "ports": port},
            opts=self._child,
        )
        ready = kx.exec_probe(
            ["pg_isready", "-h", "127.0.0.1", "-U", a.user, "-d", a.database],
            initial_delay=5, period=10)
        pvc_spec: dict[str, object] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": a.storage_size}},
        }
        if a.storage_class:
            pvc_spec["storageClassName"] = a.storage_class
        k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata={"name": name, "namespace": a.namespace, "labels": lbl},
            spec={
                "serviceName": f"{name}-headless",
                "replicas": 1,
                "selector": {"matchLabels": self.selector},
                "template": {
                    "metadata": {"labels": lbl},
                    "spec": {
                        "serviceAccountName": name,
                        "automountServiceAccountToken": False,
                        "securityContext": kx.pod_security_context(a.uid),
                        "containers": [{
                            "name": "postgres",
                            "image": POSTGRES_IMAGE,
                            "ports": [{"name": "postgres", "containerPort": PORT}],
                            "env": [
                                {"name": "POSTGRES_USER", "value": a.user},
                                {"name": "POSTGRES_DB", "value": a.database},
                                {"name": "POSTGRES_PASSWORD_FILE",
                                 "value": "/etc/postgres-credentials/password"},
                                # A subdirectory: the volume root holds lost+found on many drivers.
                                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                            ],
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                {"name": "credentials", "mountPath": "/etc/postgres-credentials",
                                 "readOnly": True},
                                # Socket dir and temp files: the root filesystem is read-only.
                                {"name": "run", "mountPath": "/var/run/postgresql"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                            "readinessProbe": ready,
                            "livenessProbe": {**ready, "initialDelaySeconds": 30,
                                              "failureThreshold": 6},
                            "resources": a.resources.to_k8s(),
                            "securityContext": kx.container_security_context(a.uid),
                        }],
                        "volumes": [
                            {"name": "credentials", "secret": {
                                "secretName": credentials.metadata.apply(lambda m: m.name),
                                "defaultMode": 0o440}},
                            kx.empty_dir("run", "16Mi"),
                            kx.empty_dir("tmp", "256Mi"),
                        ],
                    },
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data", "labels": lbl},
                    "spec": pvc_spec,
                }],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[headless]),
        )

    # ---- staging/prod: CloudNativePG ------------------------------------------------------
    def _create_operator(self) -> list[pulumi.Resource]:
        a = self._args
        if not a.install_operator:
            return []
        release = k8s.helm.v3.Release(
            f"{self._name}-operator",
            name="cnpg",
            chart="cloudnative-pg",
            version=CNPG_CHART_VERSION,
            repository_opts={"repo": CNPG_CHART_REPO},
            namespace=a.operator_namespace,
            create_namespace=True,
            atomic=True,
            values={"crds": {"create": True}},
            opts=self._child,
        )
        return [release]

    def _create_cluster(self, operator: list[pulumi.Resource]) -> None:
        a, name = self._args, self._name
        lbl = kx.labels("postgres", "database", name)
        owner = k8s.core.v1.Secret(
            f"{name}-owner",
            metadata={"name": f"{name}-owner", "namespace": a.namespace, "labels": lbl},
            type="kubernetes.io/basic-auth",
            string_data={"username": a.user, "password": self.password},
            opts=self._child,
        )
        postgresql: dict[str, object] = {
            "parameters": {"max_connections": "200", "log_min_duration_statement": "1000"},
        }
        if a.synchronous:
            # One standby must confirm each commit; with `required` writes stop rather than
            # silently losing durability when no standby is available.
            postgresql["synchronous"] = {"method": "any", "number": 1,
                                         "dataDurability": "required"}
        storage: dict[str, object] = {"size": a.storage_size}
        if a.storage_class:
            storage["storageClass"] = a.storage_class
        k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version="postgresql.cnpg.io/v1",
            kind="Cluster",
            metadata={"name": name, "namespace": a.namespace, "labels": lbl},
            spec={
                "instances": a.instances,
                "imageName": CNPG_POSTGRES_IMAGE,
                "primaryUpdateStrategy": "unsupervised",
                "enableSuperuserAccess": False,
                "enablePDB": True,
                "postgresql": postgresql,
                "bootstrap": {"initdb": {"database": a.database, "owner": a.user,
                                         "secret": {"name": f"{name}-owner"}}},
                "storage": storage,
                "resources": a.resources.to_k8s(),
                "affinity": {"enablePodAntiAffinity": True,
                             "topologyKey": "kubernetes.io/hostname",
                             "podAntiAffinityType": "preferred"},
                "seccompProfile": {"type": "RuntimeDefault"},
                **({"plugins": list(a.plugins)} if a.plugins else {}),
                **({"managed": {"roles": list(a.managed_roles)}} if a.managed_roles else {}),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[owner, *operator]),
        )
