"""Retention: exactly the newest backup of the last N days and M ISO weeks survive `prune`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from logagg.backup import cli
from logagg.backup.manifest import Manifest, backup_id_for
from logagg.backup.prune import prune_backups
from logagg.backup.retention import RetentionPolicy, backups_to_keep
from logagg.backup.storage import BackupBucket

from .conftest import s3_client

pytestmark = pytest.mark.backup


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _store_fake_backup(bucket: BackupBucket, started: datetime) -> str:
    """A tiny dump object plus its manifest, as `backup run` would leave them."""
    backup_id = backup_id_for(started)
    key = bucket.dump_key(backup_id)
    client = s3_client(bucket.location)
    client.put_object(Bucket=bucket.location.bucket, Key=key, Body=b"PGDMP" + backup_id.encode())
    bucket.put_manifest(
        Manifest(
            backup_id=backup_id,
            started_at=started,
            finished_at=started + timedelta(minutes=1),
            dump_key=key,
            size_bytes=5 + len(backup_id),
            sha256="0" * 64,
            server_version="15.0",
            pg_dump_version="pg_dump (PostgreSQL) 15.0",
            database="logagg",
        )
    )
    return backup_id


def test_policy_keeps_newest_per_day_and_per_iso_week() -> None:
    # Two backups a day at 02:00 and 14:00 for 40 days ending Sunday 2026-11-29.
    end = _t("2026-11-29T14:00:00")
    times = [end - timedelta(hours=12 * i) for i in range(80)]
    kept = backups_to_keep(times, RetentionPolicy(keep_daily=3, keep_weekly=3))
    assert sorted(kept) == [
        _t("2026-11-15T14:00:00"),  # Sunday: newest of ISO week 46
        _t("2026-11-22T14:00:00"),  # Sunday: newest of ISO week 47
        _t("2026-11-27T14:00:00"),  # daily
        _t("2026-11-28T14:00:00"),  # daily
        _t("2026-11-29T14:00:00"),  # daily and newest of ISO week 48
    ]


def test_policy_counts_days_with_backups_not_calendar_days() -> None:
    times = [_t("2026-11-01T01:00:00"), _t("2026-11-10T01:00:00"), _t("2026-11-20T01:00:00")]
    assert backups_to_keep(times, RetentionPolicy(keep_daily=2, keep_weekly=0)) == set(times[1:])


def test_policy_always_keeps_the_newest_backup() -> None:
    times = [_t("2026-11-01T01:00:00"), _t("2026-11-02T01:00:00")]
    assert backups_to_keep(times, RetentionPolicy(keep_daily=0, keep_weekly=0)) == {times[1]}
    assert backups_to_keep([], RetentionPolicy()) == set()
    with pytest.raises(ValueError, match="keep_daily"):
        RetentionPolicy(keep_daily=-1)


def test_prune_deletes_exactly_the_dropped_backups_and_orphans(bucket: BackupBucket) -> None:
    # Daily backups at 03:00 for 30 days ending Monday 2026-11-30 (ISO week 49), plus an extra one that day.
    end = _t("2026-11-30T03:00:00")
    ids = [_store_fake_backup(bucket, end - timedelta(days=i)) for i in range(30)]
    extra = _store_fake_backup(bucket, _t("2026-11-30T15:00:00"))
    client = s3_client(bucket.location)
    # A failed run's dump without manifest (older than the newest backup): garbage.
    orphan = bucket.dump_key("20261120T050000Z")
    client.put_object(Bucket=bucket.location.bucket, Key=orphan, Body=b"partial")
    # Objects that are not backups are none of prune's business.
    foreign = [f"{bucket.prefix}/README.txt", "other-prefix/20200101T000000Z.dump"]
    for key in foreign:
        client.put_object(Bucket=bucket.location.bucket, Key=key, Body=b"x")

    result = prune_backups(bucket, RetentionPolicy(keep_daily=7, keep_weekly=4))

    expected_ids = sorted(
        # daily: 30 Nov (its newest, 15:00, replaces 03:00 as that day's backup) and 24..29 Nov;
        # weekly: ISO weeks 49 (30 Nov 15:00), 48 (Sun 29 Nov), 47 (Sun 22), 46 (Sun 15)
        [extra]
        + [backup_id_for(_t(f"2026-11-{d}T03:00:00")) for d in range(24, 30)]
        + [backup_id_for(_t(f"2026-11-{d}T03:00:00")) for d in (15, 22)]
    )
    assert result.kept == expected_ids
    remaining = sorted(
        obj["Key"] for obj in client.list_objects_v2(Bucket=bucket.location.bucket)["Contents"]
    )
    expected_keys = sorted(
        [k for i in expected_ids for k in (bucket.dump_key(i), bucket.manifest_key(i))] + foreign
    )
    assert remaining == expected_keys
    assert orphan in result.deleted_keys
    assert len(result.deleted_keys) == 2 * (len(ids) + 1 - len(expected_ids)) + 1


def test_prune_dry_run_deletes_nothing_and_cli_uses_configured_policy(
    bucket: BackupBucket,
    backup_env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    end = _t("2026-11-30T03:00:00")
    for i in range(5):
        _store_fake_backup(bucket, end - timedelta(days=i))
    before = bucket.list_keys()
    monkeypatch.setenv("LOGAGG_BACKUP_KEEP_DAILY", "2")
    monkeypatch.setenv("LOGAGG_BACKUP_KEEP_WEEKLY", "0")

    assert cli.main(["prune", "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert len(dry["deleted_keys"]) == 6 and bucket.list_keys() == before

    assert cli.main(["prune"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["kept"] == ["20261129T030000Z", "20261130T030000Z"]
    assert bucket.backup_ids() == done["kept"]
