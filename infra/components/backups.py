"""Backups: logical dumps to object storage (every stack), their verified restores, and — with
CloudNativePG (staging/prod) — continuous WAL archiving, scheduled base backups and point-in-time
recovery into a new cluster, all through the barman-cloud plugin.

The pure functions at the bottom (`wal_archiving_plugin`, `recovery_bootstrap`,
`recovery_external_cluster`) build the fragments the Postgres component's Cluster needs; they create
no resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

from .. import images, service_pod
from .. import k8s as kx

BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
"""Name under which the barman-cloud CNPG-I plugin registers with the operator."""
BARMAN_CHART_VERSION = "0.8.1"
"""plugin-barman-cloud Helm chart (cloudnative-pg charts repo); runs plugin image BARMAN_VERSION."""
BARMAN_VERSION = "v0.14.0"
"""barman-cloud plugin version (its ObjectStore CRD is in tests/infra/crds/)."""
SCRATCH_POSTGRES_IMAGE = images.POSTGRES
"""Throw-away server the verify Job restores into (same major as the cluster, pinned)."""
S3_KEY_ID = "access-key-id"
"""Secret key (and file name) of the S3 access key id."""
S3_SECRET_KEY = "secret-access-key"
"""Secret key (and file name) of the S3 secret access key."""
S3_SECRETS_DIR = "/etc/logagg/backup-s3"
"""Where the backup containers find the S3 credential files."""
SCRATCH_PORT = 5432


@dataclass(frozen=True, kw_only=True)
class WalArchivingArgs:
    """Continuous WAL archiving + scheduled base backups of a CloudNativePG cluster (barman-cloud)."""

    cluster_name: str
    """The CloudNativePG Cluster whose WAL is archived (its `spec.plugins` must use `wal_archiving_plugin`)."""
    destination_path: str
    """Object-store URL of the archive, e.g. `s3://bucket/prefix/cnpg`."""
    retention: str = "30d"
    """Recovery window kept by barman (`<n>d`, `<n>w` or `<n>m`)."""
    base_backup_schedule: str = "0 0 1 * * *"
    """Six-field cron (with seconds) of the ScheduledBackup (base backups)."""
    install_plugin: bool = True
    """Install the plugin with Helm next to the operator (needs cert-manager in the cluster)."""
    operator_namespace: str = "cnpg-system"
    """Namespace of the CloudNativePG operator; the plugin must live there too."""


@dataclass(frozen=True, kw_only=True)
class RecoveryArgs:
    """Point-in-time recovery: a NEW cluster bootstrapped from the archive up to `target_time`."""

    cluster_name: str
    """Name of the new cluster (must differ from the source)."""
    source_cluster: str
    """Server name of the archived cluster to recover (normally its Cluster name)."""
    target_time: str
    """RFC 3339 timestamp with offset to recover to, e.g. `2026-11-29T10:15:00Z`."""
    database: str = "logagg"
    """Application database recovered (kept as it was in the source)."""
    owner: str = "logagg"
    """Application role."""
    owner_secret: str | None = None
    """Basic-auth Secret of the owner (the source's, so the DSN keeps working); None = generated."""
    owner_password: pulumi.Input[str] | None = None
    """The owner's password: when given, a DSN Secret `<cluster_name>-dsn` is created for cut-over."""
    cutover: bool = False
    """The recovered cluster is now the database: base backups run against it (the DSN switch is
    the program's: point the service at `<cluster_name>-dsn` and `<cluster_name>-ca`)."""
    instances: int = 1
    """Instances of the new cluster."""
    image_name: str = images.CNPG_POSTGRES
    """Operand image (the source's major version)."""
    storage_size: str = "10Gi"
    """PVC size per instance."""
    storage_class: str | None = None
    """StorageClass (None = cluster default)."""
    resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi"))
    """Requests/limits per instance."""


@dataclass(frozen=True, kw_only=True)
class BackupsArgs:
    """Inputs of Backups."""

    namespace: pulumi.Input[str]
    """Namespace of every object."""
    image: pulumi.Input[str]
    """Service image, pinned by digest (has `logagg backup` and pg_dump/pg_restore)."""
    dsn_secret_name: pulumi.Input[str]
    """Secret with the DSN under `database-url`."""
    db_ca_secret_name: pulumi.Input[str] | None = None
    """Secret with the PostgreSQL CA under `ca.crt` (None = no TLS)."""
    environment: str = "dev"
    """LOGAGG_ENV."""
    log_level: str = "info"
    """LOGAGG_LOG_LEVEL."""
    bucket: str
    """S3 bucket of dumps (and of the WAL archive unless its path says otherwise)."""
    prefix: str = "logagg"
    """Key prefix of the logical dumps."""
    endpoint_url: str | None = None
    """S3-compatible endpoint (None = AWS S3)."""
    region: str = "us-east-1"
    """S3 region."""
    access_key_id: pulumi.Input[str] | None = None
    """S3 access key id (secret config); None = the pods' cloud identity (IRSA, workload identity)."""
    secret_access_key: pulumi.Input[str] | None = None
    """S3 secret access key (secret config); set together with `access_key_id`."""
    schedule: str = "0 2 * * *"
    """Cron schedule (UTC) of `backup run` + `backup prune`."""
    verify_schedule: str = "0 5 * * *"
    """Cron schedule (UTC) of `backup verify`."""
    keep_daily: int = 7
    """Daily dumps kept by `backup prune`."""
    keep_weekly: int = 4
    """Weekly dumps kept by `backup prune`."""
    rpo_hours: float = 26.0
    """Max age of the latest dump before verification fails (one missed run + slack)."""
    active_deadline_seconds: int = 6 * 3600
    """Upper bound of one backup or verify Job."""
    scratch_storage: str = "20Gi"
    """emptyDir size of the verify Job's scratch database (≈ 20× the dump size)."""
    resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="512Mi"))
    """Requests/limits of the backup and verify containers."""
    scratch_resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi"))
    """Requests/limits of the verify Job's scratch PostgreSQL."""
    wal_archiving: WalArchivingArgs | None = None
    """WAL archiving + base backups (CloudNativePG only); None = logical dumps only."""
    recovery: RecoveryArgs | None = None
    """Create a point-in-time-recovered cluster (needs `wal_archiving`)."""
    uid: int = kx.NON_ROOT_UID
    """uid/gid the pods run as."""


class Backups(pulumi.ComponentResource):
    """Scheduled logical backups with verified restores, plus WAL archiving/PITR on CloudNativePG."""

    backup_cronjob_name: pulumi.Output[str]
    """CronJob running `backup run --prune` (named like the component)."""
    verify_cronjob_name: pulumi.Output[str]
    """CronJob running `backup verify` (`<name>-verify`)."""
    credentials_secret_name: pulumi.Output[str]
    """Secret with the S3 keys (`access-key-id`, `secret-access-key`); '' with cloud identity."""
    object_store_name: pulumi.Output[str]
    """barman-cloud ObjectStore ('' without WAL archiving)."""
    recovery_cluster_name: pulumi.Output[str]
    """Cluster recovered to `recovery.target_time` ('' when no recovery is configured)."""
    recovery_dsn_secret_name: pulumi.Output[str]
    """Secret with the recovered cluster's DSN under `database-url` ('' when none)."""
    selector: dict[str, str]
    """Labels selecting the backup and verify pods (for NetworkPolicies: PostgreSQL + object store)."""

    def __init__(self, name: str, args: BackupsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:Backups", name, None, opts)
        if (args.access_key_id is None) != (args.secret_access_key is None):
            raise ValueError(f"Backups {name}: set both S3 keys or neither (cloud identity)")
        if args.recovery is not None:
            if args.wal_archiving is None:
                raise ValueError(f"Backups {name}: recovery needs wal_archiving (the WAL archive)")
            check_recovery(args.recovery, args.wal_archiving.cluster_name)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._labels = kx.labels("logagg", "backup", name)
        self.selector = kx.selector_labels("logagg", "backup", name)
        credentials = self._create_credentials()
        self._credentials = credentials
        self.credentials_secret_name = credentials or pulumi.Output.from_input("")
        self.backup_cronjob_name = self._create_backup_cronjob(
            self._create_service_account(name))
        self.verify_cronjob_name = self._create_verify_cronjob(
            self._create_service_account(f"{name}-verify"))
        self.object_store_name = pulumi.Output.from_input("")
        self.recovery_cluster_name = pulumi.Output.from_input("")
        self.recovery_dsn_secret_name = pulumi.Output.from_input("")
        if args.wal_archiving is not None:
            plugin = self._create_plugin(args.wal_archiving)
            self.object_store_name = self._create_object_store(args.wal_archiving, plugin)
            recovery = args.recovery
            backed_up = recovery.cluster_name if recovery and recovery.cutover else None
            self._create_scheduled_backup(args.wal_archiving, plugin, backed_up)
            if recovery is not None:
                self.recovery_cluster_name = self._create_recovery_cluster(recovery, plugin)
                self.recovery_dsn_secret_name = self._create_recovery_dsn(recovery)
        self.register_outputs({
            "backup_cronjob_name": self.backup_cronjob_name,
            "verify_cronjob_name": self.verify_cronjob_name,
            "credentials_secret_name": self.credentials_secret_name,
            "object_store_name": self.object_store_name,
            "recovery_cluster_name": self.recovery_cluster_name,
            "recovery_dsn_secret_name": self.recovery_dsn_secret_name,
        })

    # ---- shared ------------------------------------------------------------------------------
    def _meta(self, name: str) -> dict[str, Any]:
        return {"name": name, "namespace": self._args.namespace, "labels": self._labels}

    def _create_credentials(self) -> pulumi.Output[str] | None:
        a = self._args
        if a.access_key_id is None or a.secret_access_key is None:
            return None
        secret = k8s.core.v1.Secret(
            f"{self._name}-s3",
            metadata=self._meta(f"{self._name}-s3"),
            type="Opaque",
            string_data={S3_KEY_ID: pulumi.Output.secret(a.access_key_id),
                         S3_SECRET_KEY: pulumi.Output.secret(a.secret_access_key)},
            opts=self._child,
        )
        return secret.metadata.apply(lambda m: m.name)

    def _create_service_account(self, account: str) -> pulumi.Output[str]:
        """One account per workload, without an API token: the Jobs never call Kubernetes."""
        sa = k8s.core.v1.ServiceAccount(
            f"{account}-serviceaccount",
            metadata=self._meta(account),
            automount_service_account_token=False,
            opts=self._child,
        )
        return sa.metadata.apply(lambda m: m.name)

    def _files(self) -> service_pod.SecretFiles:
        a = self._args
        return service_pod.SecretFiles(dsn_secret=a.dsn_secret_name,
                                       db_ca_secret=a.db_ca_secret_name)

    def _env(self) -> list[dict[str, Any]]:
        a = self._args
        env = [
            {"name": "LOGAGG_ENV", "value": a.environment},
            {"name": "LOGAGG_LOG_LEVEL", "value": a.log_level},
            {"name": "LOGAGG_BACKUP_BUCKET", "value": a.bucket},
            {"name": "LOGAGG_BACKUP_PREFIX", "value": a.prefix},
            {"name": "LOGAGG_BACKUP_S3_REGION", "value": a.region},
            {"name": "LOGAGG_BACKUP_KEEP_DAILY", "value": str(a.keep_daily)},
            {"name": "LOGAGG_BACKUP_KEEP_WEEKLY", "value": str(a.keep_weekly)},
            {"name": "LOGAGG_BACKUP_RPO_HOURS", "value": str(a.rpo_hours)},
        ]
        if a.endpoint_url:
            env.append({"name": "LOGAGG_BACKUP_S3_ENDPOINT_URL", "value": a.endpoint_url})
        if self._credentials is not None:
            env += [{"name": "LOGAGG_BACKUP_S3_ACCESS_KEY_ID_FILE",
                     "value": f"{S3_SECRETS_DIR}/{S3_KEY_ID}"},
                    {"name": "LOGAGG_BACKUP_S3_SECRET_ACCESS_KEY_FILE",
                     "value": f"{S3_SECRETS_DIR}/{S3_SECRET_KEY}"}]
        return env

    def _backup_container(self, container_name: str, args: list[str],
                          extra_env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        a = self._args
        spec = service_pod.container(
            name=container_name, image=a.image, command="backup", files=self._files(),
            resources=a.resources, uid=a.uid, env=[*self._env(), *(extra_env or [])])
        spec["args"] = ["backup", *args]
        if self._credentials is not None:
            spec["volumeMounts"] = [*spec["volumeMounts"], {
                "name": "backup-s3", "mountPath": S3_SECRETS_DIR, "readOnly": True}]
        return spec

    def _pod_spec(self, service_account: pulumi.Output[str], containers: list[dict[str, Any]],
                  extra_volumes: list[dict[str, Any]] | None = None,
                  init_containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        a = self._args
        extra: dict[str, Any] = {}
        if init_containers:
            extra["initContainers"] = init_containers
        spec = service_pod.pod_spec(service_account=service_account, containers=containers,
                                    files=self._files(), uid=a.uid, restart_policy="Never",
                                    extra=extra)
        spec["volumes"] = [*spec["volumes"], *(extra_volumes or [])]
        if self._credentials is not None:
            spec["volumes"].append({"name": "backup-s3", "secret": {
                "secretName": self._credentials, "defaultMode": 0o440}})
        return spec

    def _cronjob(self, job_name: str, schedule: str, pod: dict[str, Any]) -> pulumi.Output[str]:
        a = self._args
        # Both CronJobs carry component=backup (the runbooks select them with it).
        labels = self._labels
        cron = k8s.batch.v1.CronJob(
            job_name,
            metadata={"name": job_name, "namespace": a.namespace, "labels": labels},
            spec={
                "schedule": schedule,
                "timeZone": "Etc/UTC",
                # Two dumps (or a dump and a verify of the same bucket) must never overlap.
                "concurrencyPolicy": "Forbid",
                # A run missed by more than an hour (controller down) is skipped, not stacked.
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {"spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": a.active_deadline_seconds,
                    "ttlSecondsAfterFinished": 7 * 24 * 3600,
                    "template": {"metadata": {"labels": labels}, "spec": pod},
                }},
            },
            opts=self._child,
        )
        return cron.metadata.apply(lambda m: m.name)

    # ---- logical dumps ---------------------------------------------------------------------
    def _create_backup_cronjob(self, service_account: pulumi.Output[str]) -> pulumi.Output[str]:
        container = self._backup_container("backup", ["run", "--prune"])
        return self._cronjob(self._name, self._args.schedule,
                             self._pod_spec(service_account, [container]))

    def _create_verify_cronjob(self, service_account: pulumi.Output[str]) -> pulumi.Output[str]:
        a = self._args
        # The restore goes into a throw-away server in the same pod (a native sidecar), so
        # verification neither loads the production database nor needs CREATEDB there.
        scratch_dsn = f"postgresql://postgres@127.0.0.1:{SCRATCH_PORT}/postgres?sslmode=disable"
        container = self._backup_container(
            "verify", ["verify"],
            extra_env=[{"name": "LOGAGG_BACKUP_SCRATCH_DATABASE_URL", "value": scratch_dsn}])
        scratch = scratch_postgres_container(a.uid, a.scratch_resources)
        volumes = [kx.empty_dir("scratch-data", a.scratch_storage),
                   kx.empty_dir("scratch-run", "16Mi"), kx.empty_dir("scratch-tmp", "256Mi")]
        pod = self._pod_spec(service_account, [container], volumes, [scratch])
        return self._cronjob(f"{self._name}-verify", a.verify_schedule, pod)

    # ---- CloudNativePG: WAL archiving, base backups, PITR -----------------------------------
    def _create_plugin(self, wal: WalArchivingArgs) -> list[pulumi.Resource]:
        if not wal.install_plugin:
            return []
        release = k8s.helm.v3.Release(
            f"{self._name}-barman-plugin",
            name="plugin-barman-cloud",
            chart="plugin-barman-cloud",
            version=BARMAN_CHART_VERSION,
            repository_opts={"repo": "https://cloudnative-pg.github.io/charts"},
            namespace=wal.operator_namespace,
            create_namespace=True,
            atomic=True,
            values={"image": {"tag": BARMAN_VERSION}, "sidecarImage": {"tag": BARMAN_VERSION}},
            opts=self._child,
        )
        return [release]

    def _create_object_store(self, wal: WalArchivingArgs,
                             plugin: list[pulumi.Resource]) -> pulumi.Output[str]:
        a = self._args
        store_name = object_store_name(wal.cluster_name)
        store = k8s.apiextensions.CustomResource(
            f"{self._name}-objectstore",
            api_version="barmancloud.cnpg.io/v1",
            kind="ObjectStore",
            metadata=self._meta(store_name),
            spec=object_store_spec(
                destination_path=wal.destination_path, retention=wal.retention,
                credentials_secret=self._credentials, endpoint_url=a.endpoint_url),
            opts=pulumi.ResourceOptions(parent=self, depends_on=plugin),
        )
        return store.metadata.apply(lambda _: store_name)

    def _create_scheduled_backup(self, wal: WalArchivingArgs, plugin: list[pulumi.Resource],
                                 cluster: str | None) -> None:
        """Base backups of the live cluster: the archived one, or the recovered one after cut-over."""
        cluster = cluster or wal.cluster_name
        k8s.apiextensions.CustomResource(
            f"{self._name}-scheduledbackup",
            api_version="postgresql.cnpg.io/v1",
            kind="ScheduledBackup",
            metadata=self._meta(f"{cluster}-base"),
            spec={
                "schedule": wal.base_backup_schedule,
                "cluster": {"name": cluster},
                "method": "plugin",
                "pluginConfiguration": {"name": BARMAN_PLUGIN},
                # Take the first base backup right away: PITR needs one before the first WAL.
                "immediate": True,
                "backupOwnerReference": "self",
                "target": "prefer-standby",
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=plugin),
        )

    def _create_recovery_cluster(self, r: RecoveryArgs,
                                 plugin: list[pulumi.Resource]) -> pulumi.Output[str]:
        assert self._args.wal_archiving is not None
        store = object_store_name(self._args.wal_archiving.cluster_name)
        cluster = k8s.apiextensions.CustomResource(
            f"{self._name}-recovery",
            api_version="postgresql.cnpg.io/v1",
            kind="Cluster",
            metadata={**self._meta(r.cluster_name),
                      "labels": kx.labels("postgres", "database", r.cluster_name)},
            spec=recovery_cluster_spec(r, store),
            opts=pulumi.ResourceOptions(parent=self, depends_on=plugin),
        )
        return cluster.metadata.apply(lambda _: r.cluster_name)

    def _create_recovery_dsn(self, r: RecoveryArgs) -> pulumi.Output[str]:
        """The DSN the service switches to on cut-over (same role and password as the source)."""
        if r.owner_password is None:
            return pulumi.Output.from_input("")
        url = pulumi.Output.all(self._args.namespace, r.owner_password).apply(
            lambda v: recovery_dsn(r, str(v[0]), str(v[1])))
        secret = k8s.core.v1.Secret(
            f"{self._name}-recovery-dsn",
            metadata={**self._meta(f"{r.cluster_name}-dsn"),
                      "labels": kx.labels("postgres", "database", r.cluster_name)},
            type="Opaque",
            string_data={kx.DATABASE_URL_KEY: pulumi.Output.secret(url)},
            opts=self._child,
        )
        return secret.metadata.apply(lambda m: m.name)


# ---- pure builders ---------------------------------------------------------------------------
def object_store_name(cluster_name: str) -> str:
    """Name of the ObjectStore holding a cluster's WAL archive and base backups."""
    return f"{cluster_name}-archive"


def object_store_spec(*, destination_path: str, retention: str,
                      credentials_secret: pulumi.Input[str] | None,
                      endpoint_url: str | None) -> dict[str, Any]:
    """`ObjectStore.spec`: where barman-cloud writes, with which keys, kept for how long.

    Without a credentials Secret the plugin uses the pod's cloud identity (IAM role).
    """
    credentials: dict[str, Any] = {"inheritFromIAMRole": True}
    if credentials_secret is not None:
        credentials = {
            "accessKeyId": {"name": credentials_secret, "key": S3_KEY_ID},
            "secretAccessKey": {"name": credentials_secret, "key": S3_SECRET_KEY},
        }
    configuration: dict[str, Any] = {
        "destinationPath": destination_path,
        "s3Credentials": credentials,
        "wal": {"compression": "gzip", "maxParallel": 4},
        "data": {"compression": "gzip", "jobs": 2},
    }
    if endpoint_url:
        configuration["endpointURL"] = endpoint_url
    return {"configuration": configuration, "retentionPolicy": retention}


def wal_archiving_plugin(object_store: str, server_name: str | None = None) -> dict[str, Any]:
    """A `Cluster.spec.plugins` entry: archive WAL (and take base backups) with barman-cloud.

    `server_name` is the folder in the store (default: the Cluster's name); a recovered cluster
    must archive under a new one so it never overwrites its source's history.
    """
    parameters = {"barmanObjectName": object_store}
    if server_name:
        parameters["serverName"] = server_name
    return {"name": BARMAN_PLUGIN, "enabled": True, "isWALArchiver": True,
            "parameters": parameters}


def recovery_external_cluster(source: str, object_store: str) -> dict[str, Any]:
    """A `Cluster.spec.externalClusters` entry reading `source`'s archive through the plugin."""
    return {"name": source, "plugin": {
        "name": BARMAN_PLUGIN,
        "parameters": {"barmanObjectName": object_store, "serverName": source}}}


def recovery_bootstrap(source: str, target_time: str, *, database: str = "logagg",
                       owner: str = "logagg", owner_secret: str | None = None) -> dict[str, Any]:
    """`Cluster.spec.bootstrap`: restore the latest base backup before `target_time`, replay WAL to it."""
    recovery: dict[str, Any] = {
        "source": source,
        "database": database,
        "owner": owner,
        "recoveryTarget": {"targetTime": target_time},
    }
    if owner_secret:
        recovery["secret"] = {"name": owner_secret}
    return {"recovery": recovery}


def check_recovery(r: RecoveryArgs, archived_cluster: str) -> None:
    """Refuse recovery settings that would hurt: bad time, or recovering over the source."""
    try:
        moment = datetime.fromisoformat(r.target_time)
    except ValueError:
        raise ValueError(f"restoreTargetTime {r.target_time!r} is not an RFC 3339 timestamp, "
                         "e.g. 2026-11-29T10:15:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"restoreTargetTime {r.target_time!r} needs a UTC offset (Z or +hh:mm)")
    if r.cluster_name in (r.source_cluster, archived_cluster):
        raise ValueError(f"restoreClusterName {r.cluster_name!r} must be a NEW cluster, not the "
                         "source or the running one")


def recovery_dsn(r: RecoveryArgs, namespace: str, password: str) -> str:
    """libpq URL of the recovered cluster's read-write service, verified against its own CA."""
    # `<svc>.<ns>.svc` is always in the operator's server certificate (verify-full), unlike
    # the cluster-domain suffix.
    host = f"{r.cluster_name}-rw.{namespace}.svc"
    return (f"postgresql://{quote(r.owner)}:{quote(password, safe='')}@{host}:5432/{r.database}"
            f"?sslmode=verify-full&sslrootcert={kx.DB_CA_DIR}/ca.crt")


def recovery_cluster_spec(r: RecoveryArgs, object_store: str) -> dict[str, Any]:
    """`Cluster.spec` of a cluster recovered from `object_store` to `r.target_time`."""
    storage: dict[str, Any] = {"size": r.storage_size}
    if r.storage_class:
        storage["storageClass"] = r.storage_class
    return {
        "instances": r.instances,
        "imageName": r.image_name,
        "enableSuperuserAccess": False,
        "bootstrap": recovery_bootstrap(r.source_cluster, r.target_time, database=r.database,
                                        owner=r.owner, owner_secret=r.owner_secret),
        "externalClusters": [recovery_external_cluster(r.source_cluster, object_store)],
        # The recovered cluster archives its own timeline under its own name.
        "plugins": [wal_archiving_plugin(object_store, server_name=r.cluster_name)],
        "storage": storage,
        "resources": r.resources.to_k8s(),
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def scratch_postgres_container(uid: int, resources: kx.ResourceSpec) -> dict[str, Any]:
    """Native sidecar (restartPolicy Always init container): an empty PostgreSQL on 127.0.0.1.

    Trust authentication is safe here: it listens on the pod's loopback only and holds nothing
    but the copy being verified, which is dropped with the pod.
    """
    return {
        "name": "scratch-db",
        "image": SCRATCH_POSTGRES_IMAGE,
        "restartPolicy": "Always",
        "args": ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "full_page_writes=off", "-c", "synchronous_commit=off"],
        "env": [
            {"name": "POSTGRES_HOST_AUTH_METHOD", "value": "trust"},
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        "startupProbe": kx.exec_probe(["pg_isready", "-h", "127.0.0.1", "-U", "postgres"],
                                      initial_delay=2, period=2, failure_threshold=60),
        "resources": resources.to_k8s(),
        "securityContext": kx.container_security_context(uid),
        "volumeMounts": [
            {"name": "scratch-data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "scratch-run", "mountPath": "/var/run/postgresql"},
            {"name": "scratch-tmp", "mountPath": "/tmp"},
        ],
    }
