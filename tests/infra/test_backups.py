"""Backups under the shared Pulumi mocks: dump/verify CronJobs on every stack, WAL archiving and a
ScheduledBackup with CloudNativePG, PITR into a new cluster — all valid against the published
schemas (Kubernetes strict, CloudNativePG 1.30 / barman-cloud 0.14 CRDs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from infra import config
from infra.components.backups import (
    BARMAN_PLUGIN,
    Backups,
    BackupsArgs,
    RecoveryArgs,
    WalArchivingArgs,
    recovery_bootstrap,
    recovery_external_cluster,
    wal_archiving_plugin,
)
from infra.k8s import is_pinned_image
from tests.infra import render, stacks, validate
from tests.infra.mocks import SECRET_SIG_KEY, RecordingMocks

CLUSTER = "logagg-postgres"
WAL_RETENTION = {"staging": "7d", "prod": "30d"}


class _Raw:
    """Dict-backed RawConfig (the stack's real config values)."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def get(self, key: str) -> str | None:
        return self._values.get(f"{config.PROJECT}:{key}")


def stack_config(stack: str) -> config.StackConfig:
    """The typed config of a real stack (Pulumi.yaml defaults + Pulumi.<stack>.yaml)."""
    values, _ = stacks.load(stack)
    return config.parse(_Raw(values))


def args_for(cfg: config.StackConfig, **overrides: Any) -> BackupsArgs:
    """BackupsArgs as the program composes them for a stack."""
    wal = None
    if cfg.db_operator:
        wal = WalArchivingArgs(
            cluster_name=CLUSTER,
            destination_path=f"s3://logagg-backups/{cfg.environment}/cnpg",
            retention=WAL_RETENTION[cfg.environment],
            install_plugin=not cfg.db_operator_installed)
    fields: dict[str, Any] = {
        "namespace": cfg.namespace, "image": "registry.invalid/logagg@sha256:" + "a" * 64,
        "dsn_secret_name": f"{CLUSTER}-dsn",
        "db_ca_secret_name": f"{CLUSTER}-ca" if cfg.db_operator else None,
        "environment": cfg.environment, "log_level": cfg.log_level,
        "bucket": "logagg-backups", "prefix": f"logagg/{cfg.environment}",
        "endpoint_url": "https://s3.example.com", "region": "eu-west-1",
        "access_key_id": pulumi.Output.secret("AKIAEXAMPLE"),
        "secret_access_key": pulumi.Output.secret("example-secret"),
        "wal_archiving": wal,
    }
    return BackupsArgs(**(fields | overrides))


def build(factory: Callable[[], pulumi.ComponentResource]) -> tuple[list[dict[str, Any]], RecordingMocks]:
    """Run `factory` under recording mocks; the Kubernetes objects it registered, normalised."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=config.PROJECT, stack="test", preview=False)

    @pulumi.runtime.test
    def run() -> None:
        factory()

    run()
    objects = [render.normalise(r.inputs) for r in mocks.resources
               if r.custom and r.typ.startswith("kubernetes:") and "kind" in r.inputs]
    return objects, mocks


def _unwrap(value: Any) -> Any:
    """Wire value with the SDK's secret wrappers removed (to read a generated secret in a test)."""
    if isinstance(value, dict):
        if SECRET_SIG_KEY in value:
            return _unwrap(value["value"])
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    have = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    raise AssertionError(f"no {kind}/{name}; have {have}")


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.fixture(scope="module", params=stacks.STACKS)
def stack_backups(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]], RecordingMocks]:
    """(stack, objects, mocks) of the Backups component built from each real stack's config."""
    cfg = stack_config(request.param)
    objects, mocks = build(lambda: Backups("logagg-backup", args_for(cfg)))
    return request.param, objects, mocks


# ---- every stack -------------------------------------------------------------------------
def test_backup_and_verify_cronjobs_on_every_stack(stack_backups) -> None:  # type: ignore[no-untyped-def]
    stack, objects, _ = stack_backups
    backup = find(objects, "CronJob", "logagg-backup")
    verify = find(objects, "CronJob", "logagg-backup-verify")
    for cron, args, schedule in ((backup, ["backup", "run", "--prune"], "0 2 * * *"),
                                 (verify, ["backup", "verify"], "0 5 * * *")):
        where = f"[{stack}] CronJob/{cron['metadata']['name']}"
        assert cron["metadata"]["labels"]["app.kubernetes.io/component"] == "backup", where
        spec = cron["spec"]
        assert spec["schedule"] == schedule and spec["timeZone"] == "Etc/UTC", where
        assert spec["concurrencyPolicy"] == "Forbid", where
        assert spec["startingDeadlineSeconds"] > 0, where
        assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1, where
        job = spec["jobTemplate"]["spec"]
        assert job["activeDeadlineSeconds"] > 0 and job["backoffLimit"] >= 1, where
        pod = job["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", "logagg"], where
        assert container["args"] == args, where
        env = env_of(container)
        assert env["LOGAGG_ENV"] == stack, where
        assert env["LOGAGG_BACKUP_BUCKET"] == "logagg-backups", where
        assert env["LOGAGG_BACKUP_PREFIX"] == f"logagg/{stack}", where
        assert env["LOGAGG_DATABASE_URL_FILE"] == "/etc/logagg/secrets/database-url", where
        assert env["LOGAGG_BACKUP_S3_SECRET_ACCESS_KEY_FILE"].startswith("/etc/logagg/backup-s3/"), where
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["backup-s3"]["secret"]["secretName"] == "logagg-backup-s3", where
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/etc/logagg/backup-s3", "/etc/logagg/secrets", "/tmp"} <= mounts, where
        assert ("/etc/logagg/db-ca" in mounts) == (stack != "dev"), where
        assert pod["serviceAccountName"] == cron["metadata"]["name"], where  # one per workload
        assert pod["restartPolicy"] == "Never", where


def test_verify_restores_into_a_scratch_server_in_its_own_pod(stack_backups) -> None:  # type: ignore[no-untyped-def]
    stack, objects, _ = stack_backups
    pod = find(objects, "CronJob", "logagg-backup-verify")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (scratch,) = pod["initContainers"]
    assert scratch["restartPolicy"] == "Always", stack  # native sidecar: stops with the Job
    assert "startupProbe" in scratch, stack  # verify starts only once the server is ready
    env = env_of(pod["containers"][0])
    assert env["LOGAGG_BACKUP_SCRATCH_DATABASE_URL"].startswith("postgresql://postgres@127.0.0.1:")
    assert "listen_addresses=127.0.0.1" in scratch["args"], stack
    sizes = {v["name"]: v["emptyDir"].get("sizeLimit") for v in pod["volumes"] if "emptyDir" in v}
    assert sizes["scratch-data"] == "20Gi", stack


def test_every_backup_pod_is_restricted_and_pinned(stack_backups) -> None:  # type: ignore[no-untyped-def]
    stack, objects, _ = stack_backups
    accounts = of_kind(objects, "ServiceAccount")
    assert sorted(a["metadata"]["name"] for a in accounts) == ["logagg-backup", "logagg-backup-verify"]
    assert all(a["automountServiceAccountToken"] is False for a in accounts), stack
    for cron in of_kind(objects, "CronJob"):
        pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        name = f"[{stack}] CronJob/{cron['metadata']['name']}"
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] >= 10000, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        writable = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for c in [*pod["containers"], *pod.get("initContainers", [])]:
            where = f"{name}/{c['name']}"
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["runAsUser"] >= 10000 and sc["seccompProfile"]["type"] == "RuntimeDefault", where
            assert c["resources"]["limits"] and c["resources"]["requests"], where
            assert is_pinned_image(c["image"]), where
            tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and tmp[0]["name"] in writable, where


def test_s3_keys_live_only_in_a_secret(stack_backups) -> None:  # type: ignore[no-untyped-def]
    stack, objects, _ = stack_backups
    secret = find(objects, "Secret", "logagg-backup-s3")
    assert secret["stringData"] == {"access-key-id": render.REDACTED,
                                    "secret-access-key": render.REDACTED}, stack
    for obj in objects:
        if obj["kind"] != "Secret":
            assert "AKIAEXAMPLE" not in str(obj) and "example-secret" not in str(obj), obj["kind"]


def test_wal_archiving_and_base_backups_only_with_cloudnativepg(stack_backups) -> None:  # type: ignore[no-untyped-def]
    stack, objects, mocks = stack_backups
    stores = of_kind(objects, "ObjectStore")
    scheduled = of_kind(objects, "ScheduledBackup")
    if stack == "dev":
        assert stores == [] and scheduled == [], "dev has no WAL archive (single StatefulSet)"
        assert mocks.of_type(render.HELM_RELEASE) == []
        return
    (store,) = stores
    assert store["metadata"]["name"] == f"{CLUSTER}-archive"
    assert store["spec"]["retentionPolicy"] == WAL_RETENTION[stack]
    conf = store["spec"]["configuration"]
    assert conf["destinationPath"] == f"s3://logagg-backups/{stack}/cnpg"
    assert conf["endpointURL"] == "https://s3.example.com"
    assert conf["s3Credentials"]["secretAccessKey"] == {"name": "logagg-backup-s3",
                                                        "key": "secret-access-key"}
    (backup,) = scheduled
    assert backup["spec"]["cluster"] == {"name": CLUSTER}
    assert backup["spec"]["method"] == "plugin"
    assert backup["spec"]["pluginConfiguration"] == {"name": BARMAN_PLUGIN}
    assert len(backup["spec"]["schedule"].split()) == 6  # CloudNativePG cron has seconds
    (plugin,) = mocks.of_type(render.HELM_RELEASE)
    assert plugin.inputs["chart"] == "plugin-barman-cloud" and plugin.inputs["namespace"] == "cnpg-system"


def test_every_object_is_valid_against_its_schema(stack_backups) -> None:  # type: ignore[no-untyped-def]
    stack, objects, _ = stack_backups
    problems = [e for obj in objects
                for version in (validate.OLDEST_K8S, validate.newest_k8s())
                for e in validate.errors(obj, version)]
    assert problems == [], f"[{stack}]\n" + "\n".join(problems)


# ---- PITR ------------------------------------------------------------------------------------
def _recovery(**overrides: Any) -> RecoveryArgs:
    fields: dict[str, Any] = {"cluster_name": "logagg-postgres-pitr", "source_cluster": CLUSTER,
                              "target_time": "2026-11-29T10:15:00Z",
                              "owner_secret": f"{CLUSTER}-owner", "instances": 2,
                              "storage_size": "100Gi", "storage_class": "fast-ssd"}
    return RecoveryArgs(**(fields | overrides))


def test_pitr_config_creates_a_new_cluster_recovered_to_the_target_time() -> None:
    cfg = stack_config("prod")
    objects, _ = build(lambda: Backups("logagg-backup", args_for(cfg, recovery=_recovery())))
    cluster = find(objects, "Cluster", "logagg-postgres-pitr")
    spec = cluster["spec"]
    recovery = spec["bootstrap"]["recovery"]
    assert recovery["source"] == CLUSTER
    assert recovery["recoveryTarget"] == {"targetTime": "2026-11-29T10:15:00Z"}
    assert recovery["secret"] == {"name": f"{CLUSTER}-owner"}
    (external,) = spec["externalClusters"]
    assert external == {"name": CLUSTER, "plugin": {"name": BARMAN_PLUGIN, "parameters": {
        "barmanObjectName": f"{CLUSTER}-archive", "serverName": CLUSTER}}}
    (archiver,) = spec["plugins"]
    # The new cluster archives its own timeline under its own name, never over the source's.
    assert archiver["isWALArchiver"] is True
    assert archiver["parameters"]["serverName"] == "logagg-postgres-pitr"
    assert spec["instances"] == 2 and spec["storage"] == {"size": "100Gi", "storageClass": "fast-ssd"}
    assert validate.errors(cluster, validate.OLDEST_K8S) == []


def test_pitr_cutover_gives_a_dsn_secret_and_moves_base_backups_to_the_new_cluster() -> None:
    cfg = stack_config("prod")
    before, _ = build(lambda: Backups("logagg-backup", args_for(cfg, recovery=_recovery(
        owner_password=pulumi.Output.secret("pw")))))
    (scheduled,) = of_kind(before, "ScheduledBackup")
    assert scheduled["spec"]["cluster"] == {"name": CLUSTER}, "no cut-over yet: the old cluster"
    dsn = find(before, "Secret", "logagg-postgres-pitr-dsn")
    assert dsn["stringData"] == {"database-url": render.REDACTED}

    after, mocks = build(lambda: Backups("logagg-backup", args_for(cfg, recovery=_recovery(
        owner_password=pulumi.Output.secret("pw"), cutover=True))))
    (scheduled,) = of_kind(after, "ScheduledBackup")
    assert scheduled["spec"]["cluster"] == {"name": "logagg-postgres-pitr"}
    assert scheduled["metadata"]["name"] == "logagg-postgres-pitr-base"
    # The archive (and its name) stays: the recovered cluster writes its own timeline into it.
    assert [o["metadata"]["name"] for o in of_kind(after, "ObjectStore")] == [f"{CLUSTER}-archive"]
    (secret,) = [r for r in mocks.resources if r.name == "logagg-backup-recovery-dsn"]
    url = _unwrap(secret.inputs["stringData"])["database-url"]
    assert url == ("postgresql://logagg:pw@logagg-postgres-pitr-rw.logagg-prod.svc:5432"
                   "/logagg?sslmode=verify-full&sslrootcert=/etc/logagg/db-ca/ca.crt")


def test_no_recovery_cluster_without_pitr_config() -> None:
    objects, _ = build(lambda: Backups("logagg-backup", args_for(stack_config("prod"))))
    assert of_kind(objects, "Cluster") == []


@pytest.mark.parametrize(("overrides", "message"), [
    ({"target_time": "yesterday"}, "not an RFC 3339 timestamp"),
    ({"target_time": "2026-11-29T10:15:00"}, "needs a UTC offset"),
    ({"cluster_name": CLUSTER}, "must be a NEW cluster"),
])
def test_bad_pitr_config_is_refused_with_the_reason(overrides: dict[str, str], message: str) -> None:
    args = args_for(stack_config("prod"), recovery=_recovery(**overrides))
    with pytest.raises(ValueError, match=message):
        Backups("logagg-backup", args)


def test_pitr_needs_the_wal_archive() -> None:
    args = args_for(stack_config("dev"), recovery=_recovery())
    with pytest.raises(ValueError, match="recovery needs wal_archiving"):
        Backups("logagg-backup", args)


# ---- the fragments for the Postgres component's Cluster ------------------------------------
@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_cluster_with_the_wal_archiving_plugin_is_valid(
    stack: str, rendered: dict[str, render.Rendered]
) -> None:
    """The real program's Cluster, with the plugin entry this module provides, passes the CRD."""
    (cluster,) = rendered[stack].of_kind("Cluster")
    name = cluster["metadata"]["name"]
    patched = {**cluster, "spec": {**cluster["spec"],
                                   "plugins": [wal_archiving_plugin(f"{name}-archive")]}}
    assert validate.errors(patched, validate.OLDEST_K8S) == []
    assert patched["spec"]["plugins"][0]["isWALArchiver"] is True


def test_recovery_fragments() -> None:
    assert recovery_bootstrap("src", "2026-11-29T10:15:00Z")["recovery"]["recoveryTarget"] == {
        "targetTime": "2026-11-29T10:15:00Z"}
    assert recovery_external_cluster("src", "store")["plugin"]["parameters"] == {
        "barmanObjectName": "store", "serverName": "src"}
    assert "serverName" not in wal_archiving_plugin("store")["parameters"]


def test_without_static_keys_pods_and_barman_use_the_cloud_identity() -> None:
    args = args_for(stack_config("prod"), access_key_id=None, secret_access_key=None)
    objects, _ = build(lambda: Backups("logagg-backup", args))
    assert of_kind(objects, "Secret") == []
    for cron in of_kind(objects, "CronJob"):
        pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert "backup-s3" not in {v["name"] for v in pod["volumes"]}, cron["metadata"]["name"]
        assert not any(k.startswith("LOGAGG_BACKUP_S3_ACCESS") for k in env_of(pod["containers"][0]))
    (store,) = of_kind(objects, "ObjectStore")
    assert store["spec"]["configuration"]["s3Credentials"] == {"inheritFromIAMRole": True}
    assert validate.errors(store, validate.OLDEST_K8S) == []
    with pytest.raises(ValueError, match="both S3 keys or neither"):
        Backups("x", args_for(stack_config("prod"), access_key_id=None))
