"""Backups in the real program: every stack renders the dump/verify CronJobs; CloudNativePG stacks
archive WAL (Cluster plugin + ObjectStore + ScheduledBackup); `restoreTargetTime` adds a recovered cluster."""

from __future__ import annotations

import pytest

from . import render, validate
from .stacks import STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_backup_and_verify_cronjobs(stack: str, rendered: dict[str, render.Rendered]) -> None:
    r = rendered[stack]
    run = r.find("CronJob", "logagg-backup")
    verify = r.find("CronJob", "logagg-backup-verify")
    assert run["spec"]["concurrencyPolicy"] == verify["spec"]["concurrencyPolicy"] == "Forbid"
    pod = run["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["backup", "run", "--prune"], stack
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["LOGAGG_BACKUP_PREFIX"] == f"logagg/{stack}", stack


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_cloudnativepg_stacks_archive_wal_with_a_scheduled_base_backup(
    stack: str, rendered: dict[str, render.Rendered]
) -> None:
    r = rendered[stack]
    cluster = r.find("Cluster", "logagg-postgres")
    (plugin,) = cluster["spec"]["plugins"]
    assert plugin["isWALArchiver"] is True
    assert plugin["parameters"]["barmanObjectName"] == "logagg-postgres-archive"
    store = r.find("ObjectStore", "logagg-postgres-archive")
    assert store["spec"]["retentionPolicy"] == {"staging": "7d", "prod": "30d"}[stack]
    scheduled = r.find("ScheduledBackup", "logagg-postgres-base")
    assert scheduled["spec"]["cluster"] == {"name": "logagg-postgres"}
    assert scheduled["spec"]["method"] == "plugin"
    for obj in (cluster, store, scheduled):
        assert validate.errors(obj, validate.OLDEST_K8S) == [], obj["kind"]


def test_dev_has_no_wal_archive(rendered: dict[str, render.Rendered]) -> None:
    r = rendered["dev"]
    assert r.of_kind("ObjectStore") == r.of_kind("ScheduledBackup") == r.of_kind("Cluster") == []


def test_restore_config_creates_a_new_recovered_cluster() -> None:
    r = render.run_program("prod", overrides={
        "restoreTargetTime": "2026-11-29T10:15:00Z"})
    clusters = {c["metadata"]["name"]: c for c in r.of_kind("Cluster")}
    assert set(clusters) == {"logagg-postgres", "logagg-postgres-pitr"}
    recovered = clusters["logagg-postgres-pitr"]["spec"]
    assert recovered["bootstrap"]["recovery"]["recoveryTarget"] == {"targetTime": "2026-11-29T10:15:00Z"}
    assert recovered["bootstrap"]["recovery"]["source"] == "logagg-postgres"
    assert recovered["externalClusters"][0]["plugin"]["parameters"]["serverName"] == "logagg-postgres"
    assert validate.errors(clusters["logagg-postgres-pitr"], validate.OLDEST_K8S) == []


def test_restore_config_is_refused_without_cloudnativepg() -> None:
    from infra.config import ConfigError

    with pytest.raises(ConfigError, match="restoreTargetTime"):
        render.run_program("dev", overrides={"restoreTargetTime": "2026-11-29T10:15:00Z"})


def test_restore_config_with_a_bad_time_is_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match="restoreTargetTime 'yesterday'"):
        render.run_program("prod", overrides={"restoreTargetTime": "yesterday"})


def test_restore_cutover_moves_the_service_to_the_recovered_cluster() -> None:
    r = render.run_program("prod", overrides={
        "restoreTargetTime": "2026-11-29T10:15:00Z", "restoreCutover": "true"})
    for kind, name in (("Deployment", "logagg-api"), ("Deployment", "logagg-consumer"),
                       ("Job", "logagg-migrate")):
        pod = r.find(kind, name)["spec"]["template"]["spec"]
        secrets = {s["secret"]["name"] for v in pod["volumes"] if "projected" in v
                   for s in v["projected"]["sources"]}
        assert "logagg-postgres-pitr-dsn" in secrets, name
        (ca,) = [v for v in pod["volumes"] if v["name"] == "db-ca"]
        assert ca["secret"]["secretName"] == "logagg-postgres-pitr-ca", name
    assert r.find("ScheduledBackup", "logagg-postgres-pitr-base")["spec"]["cluster"] == {
        "name": "logagg-postgres-pitr"}
    r.find("Secret", "logagg-postgres-pitr-dsn")
