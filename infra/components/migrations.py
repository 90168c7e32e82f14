"""Database migrations: a Job running the service image's `migrate` command."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kx
from .. import service_pod


@dataclass(frozen=True, kw_only=True)
class MigrationsArgs:
    """Inputs of Migrations."""

    namespace: pulumi.Input[str]
    """Namespace of the Job."""
    image: pulumi.Input[str]
    """Service image, pinned by digest."""
    dsn_secret_name: pulumi.Input[str]
    """Secret with the DSN under `database-url`."""
    db_ca_secret_name: pulumi.Input[str] | None = None
    """Secret with the PostgreSQL CA under `ca.crt` (None = no TLS)."""
    environment: str = "dev"
    """LOGAGG_ENV."""
    log_level: str = "info"
    """LOGAGG_LOG_LEVEL."""
    resources: kx.ResourceSpec = field(default_factory=kx.ResourceSpec)
    """Requests/limits of the migrate container."""
    uid: int = kx.NON_ROOT_UID
    """uid/gid the pod runs as."""


class Migrations(pulumi.ComponentResource):
    """Runs `python -m logagg migrate` once per image; dependants wait for it to complete."""

    job_name: pulumi.Output[str]
    """Name of the migration Job."""

    def __init__(self, name: str, args: MigrationsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:Migrations", name, None, opts)
        lbl = kx.labels("logagg", "migrations", name)
        child = pulumi.ResourceOptions(parent=self)
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata={"name": name, "namespace": args.namespace, "labels": lbl},
            automount_service_account_token=False,
            opts=child,
        )
        files = service_pod.SecretFiles(dsn_secret=args.dsn_secret_name,
                                        db_ca_secret=args.db_ca_secret_name)
        container = service_pod.container(
            name="migrate", image=args.image, command="migrate", files=files,
            resources=args.resources, uid=args.uid,
            env=[{"name": "LOGAGG_ENV", "value": args.environment},
                 {"name": "LOGAGG_LOG_LEVEL", "value": args.log_level}])
        job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={"name": name, "namespace": args.namespace, "labels": lbl},
            spec={
                "backoffLimit": 4,
                "activeDeadlineSeconds": 900,
                "template": {
                    "metadata": {"labels": lbl},
                    "spec": service_pod.pod_spec(
                        service_account=sa.metadata.apply(lambda m: m.name),
                        containers=[container], files=files, uid=args.uid,
                        restart_policy="OnFailure"),
                },
            },
            # Jobs are immutable: a new image replaces (deletes, then re-runs) the Job.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.job_name = job.metadata.apply(lambda m: m.name)
        self.register_outputs({"job_name": self.job_name})
