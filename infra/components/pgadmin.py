"""pgAdmin 4 with the stack's PostgreSQL pre-registered (servers.json); login from a Secret.

The image's entrypoint writes /pgadmin4/config_distro.py on first start unless the file is
non-empty; mounting our own (a ConfigMap key) keeps the root filesystem read-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import images
from .. import k8s as kx

PGADMIN_IMAGE = images.PGADMIN
"""Official image (pinned)."""
PORT = 8080
CA_PATH = "/etc/pgadmin/db-ca/ca.crt"


@dataclass(frozen=True, kw_only=True)
class PgAdminArgs:
    """Inputs of a PgAdmin."""

    namespace: pulumi.Input[str]
    """Namespace of every object."""
    db_host: pulumi.Input[str]
    """PostgreSQL host to pre-register."""
    db_name: str = "logagg"
    """Maintenance database of the registered server."""
    db_user: str = "logagg_readonly"
    """Role pre-filled in the server entry (the password is asked at connect time, never stored)."""
    db_port: int = 5432
    """PostgreSQL port."""
    db_ca_secret_name: pulumi.Input[str] | None = None
    """Secret with the server CA under `ca.crt`: verify-full (None = sslmode prefer)."""
    login_email: str = "admin@logagg.example.com"
    """pgAdmin login e-mail (the password is generated into the `<name>-login` Secret)."""
    resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="50m", memory_request="192Mi", cpu_limit="500m", memory_limit="512Mi"))
    """Requests/limits of the pgAdmin container."""
    uid: int = kx.NON_ROOT_UID
    """uid/gid the pod runs as."""


def servers_json(host: str, port: int, db_name: str, user: str, *, tls: bool) -> str:
    """pgAdmin servers.json registering the stack's database."""
    server: dict[str, Any] = {"Name": f"logagg ({host})", "Group": "Log aggregator", "Host": host,
                              "Port": port, "MaintenanceDB": db_name, "Username": user,
                              "SSLMode": "verify-full" if tls else "prefer"}
    if tls:
        server["SSLRootCert"] = CA_PATH
    return json.dumps({"Servers": {"1": server}}, indent=2)


def config_distro() -> str:
    """config_distro.py: server mode, data under the writable volume, no update checks."""
    return ("SERVER_MODE = True\nDATA_DIR = '/var/lib/pgadmin'\n"
            "LOG_FILE = '/var/lib/pgadmin/pgadmin4.log'\nUPGRADE_CHECK_ENABLED = False\n"
            "ENHANCED_COOKIE_PROTECTION = True\nMASTER_PASSWORD_REQUIRED = True\n")


class PgAdmin(pulumi.ComponentResource):
    """pgAdmin for the stack's database."""

    url: pulumi.Output[str]
    """In-cluster URL of pgAdmin."""
    login_password: pulumi.Output[str]
    """Generated login password (secret; also in the `<name>-login` Secret)."""
    selector: dict[str, str]
    """Labels selecting the pgAdmin pod (for NetworkPolicies)."""

    def __init__(self, name: str, args: PgAdminArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:PgAdmin", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self.selector = kx.selector_labels("pgadmin", "monitoring", name)
        self._create_secret()
        self._create_config()
        self._create_deployment()
        self.url = pulumi.Output.from_input(args.namespace).apply(
            lambda ns: f"http://{kx.service_host(name, ns)}:{PORT}")
        self.register_outputs({"url": self.url, "login_password": self.login_password})

    def _meta(self, suffix: str) -> Any:  # wire-format dict; Any keeps mypy off the SDK TypedDicts
        return {"name": f"{self._name}-{suffix}" if suffix else self._name,
                "namespace": self._args.namespace,
                "labels": kx.labels("pgadmin", "monitoring", self._name)}

    def _create_secret(self) -> None:
        pw = random.RandomPassword(f"{self._name}-login-password", length=32, special=False,
                                   opts=self._child)
        self.login_password = pulumi.Output.secret(pw.result)
        login: dict[str, pulumi.Input[str]] = {"email": self._args.login_email,
                                               "password": self.login_password}
        k8s.core.v1.Secret(f"{self._name}-login", metadata=self._meta("login"), type="Opaque",
                           string_data=login, opts=self._child)

    def _create_config(self) -> None:
        a = self._args
        tls = a.db_ca_secret_name is not None
        servers = pulumi.Output.from_input(a.db_host).apply(
            lambda h: servers_json(h, a.db_port, a.db_name, a.db_user, tls=tls))
        data: dict[str, pulumi.Input[str]] = {"servers.json": servers,
                                              "config_distro.py": config_distro()}
        k8s.core.v1.ConfigMap(f"{self._name}-config", metadata=self._meta("config"), data=data,
                              opts=self._child)

    def _service_account(self, suffix: str) -> str:
        """A token-less ServiceAccount for one workload (project rule: one per workload); its name."""
        meta = self._meta(suffix)
        k8s.core.v1.ServiceAccount(f"{meta['name']}-serviceaccount", metadata=meta,
                                   automount_service_account_token=False, opts=self._child)
        return str(meta["name"])

    def _create_deployment(self) -> None:
        a = self._args
        env = [
            # the login name is not secret (and checkov wants secrets as files, not env values)
            {"name": "PGADMIN_DEFAULT_EMAIL", "value": self._args.login_email},
            {"name": "PGADMIN_DEFAULT_PASSWORD_FILE", "value": "/etc/pgadmin/login/password"},
            {"name": "PGADMIN_SERVER_JSON_FILE", "value": "/etc/pgadmin/config/servers.json"},
            {"name": "PGADMIN_LISTEN_PORT", "value": str(PORT)},
            {"name": "PGADMIN_DISABLE_POSTFIX", "value": "true"},
        ]
        volumes: list[dict[str, Any]] = [
            {"name": "login", "secret": {"secretName": f"{self._name}-login", "defaultMode": 0o440}},
            {"name": "config", "configMap": {"name": f"{self._name}-config"}},
            kx.empty_dir("data", "256Mi"),
            kx.empty_dir("tmp"),
        ]
        mounts = [
            {"name": "login", "mountPath": "/etc/pgadmin/login", "readOnly": True},
            {"name": "config", "mountPath": "/etc/pgadmin/config", "readOnly": True},
            {"name": "config", "mountPath": "/pgadmin4/config_distro.py",
             "subPath": "config_distro.py", "readOnly": True},
            {"name": "data", "mountPath": "/var/lib/pgadmin"},
            {"name": "tmp", "mountPath": "/tmp"},
        ]
        if a.db_ca_secret_name is not None:
            volumes.append({"name": "db-ca", "secret": {"secretName": a.db_ca_secret_name,
                                                        "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
            mounts.append({"name": "db-ca", "mountPath": "/etc/pgadmin/db-ca", "readOnly": True})
        service: Any = {
            "selector": self.selector,
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}]}
        k8s.core.v1.Service(self._name, metadata=self._meta(""), spec=service, opts=self._child)
        container: dict[str, Any] = {
            "name": "pgadmin", "image": PGADMIN_IMAGE, "imagePullPolicy": "Always",
            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
            "env": env, "volumeMounts": mounts,
            "readinessProbe": kx.http_probe("/misc/ping", "http", initial_delay=20, period=10),
            "livenessProbe": kx.http_probe("/misc/ping", "http", initial_delay=60, period=20,
                                           failure_threshold=6),
            "resources": a.resources.to_k8s(),
            "securityContext": kx.container_security_context(a.uid),
        }
        deployment: Any = {
            "replicas": 1,
            "selector": {"matchLabels": self.selector},
            "template": {
                "metadata": {"labels": kx.labels("pgadmin", "monitoring", self._name)},
                "spec": {"automountServiceAccountToken": False,
                         "serviceAccountName": self._service_account(""),
                         "securityContext": kx.pod_security_context(a.uid),
                         "containers": [container], "volumes": volumes}},
        }
        k8s.apps.v1.Deployment(self._name, metadata=self._meta(""), spec=deployment,
                               opts=self._child)
