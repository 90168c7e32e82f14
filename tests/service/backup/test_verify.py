"""`backup verify`: a good backup passes; corrupted, truncated or stale ones fail and are recorded."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import psycopg
import pytest
from logagg.backup import cli
from logagg.backup.run import run_backup
from logagg.backup.storage import BackupBucket
from logagg.backup.verify import verify_backup

from .conftest import backup_runs, ingest, make_records, s3_client

pytestmark = pytest.mark.backup


def _scratch_databases(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'logagg\\_verify\\_%'"
        ).fetchall()
    return [r[0] for r in rows]


def _rewrite_dump(bucket: BackupBucket, key: str, change) -> None:  # type: ignore[no-untyped-def]
    client = s3_client(bucket.location)
    body = client.get_object(Bucket=bucket.location.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=bucket.location.bucket, Key=key, Body=change(body))


def _last_output(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_verify_passes_for_a_good_backup_and_records_it(
    backup_env: str, bucket: BackupBucket, newest_ts: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(backup_env, make_records(800, newest=newest_ts))
    assert cli.main(["run"]) == 0
    capsys.readouterr()
    before = set(_scratch_databases(backup_env))

    assert cli.main(["verify"]) == 0
    out = _last_output(capsys)
    assert out["ok"] is True, out["problems"]
    assert out["restored_rows"] == 800
    assert out["scratch_database"].startswith("logagg_verify_")
    assert set(_scratch_databases(backup_env)) == before  # the scratch database is gone
    runs = backup_runs(backup_env)
    assert [(kind, ok) for kind, ok, _ in runs] == [("backup", True), ("verify", True)]
    assert runs[-1][2]["problems"] == []


def test_verify_detects_a_corrupted_dump(
    backup_env: str, bucket: BackupBucket, newest_ts: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(backup_env, make_records(800, newest=newest_ts))
    manifest = run_backup(backup_env, bucket)

    def flip_bytes(body: bytes) -> bytes:  # same size, different content
        middle = len(body) // 2
        return body[:middle] + bytes(b ^ 0xFF for b in body[middle : middle + 16]) + body[middle + 16 :]

    _rewrite_dump(bucket, manifest.dump_key, flip_bytes)
    assert cli.main(["verify"]) == 1
    out = _last_output(capsys)
    assert out["ok"] is False
    assert any("corrupted dump" in p for p in out["problems"]), out["problems"]
    assert [(kind, ok) for kind, ok, _ in backup_runs(backup_env)] == [("verify", False)]


def test_verify_detects_a_truncated_dump(
    backup_env: str, bucket: BackupBucket, newest_ts: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(backup_env, make_records(800, newest=newest_ts))
    manifest = run_backup(backup_env, bucket)
    _rewrite_dump(bucket, manifest.dump_key, lambda body: body[: len(body) * 2 // 3])

    assert cli.main(["verify"]) == 1
    out = _last_output(capsys)
    assert any("truncated" in p for p in out["problems"]), out["problems"]
    assert [(kind, ok) for kind, ok, _ in backup_runs(backup_env)] == [("verify", False)]


def test_verify_catches_truncation_even_when_the_manifest_agrees_on_size(
    log_db: str, bucket: BackupBucket, newest_ts: datetime
) -> None:
    """A dump cut short before upload (manifest written from the short bytes) fails to restore."""
    ingest(log_db, make_records(800, newest=newest_ts))
    manifest = run_backup(log_db, bucket)
    client = s3_client(bucket.location)
    body = client.get_object(Bucket=bucket.location.bucket, Key=manifest.dump_key)["Body"].read()
    short = body[: len(body) // 2]
    client.put_object(Bucket=bucket.location.bucket, Key=manifest.dump_key, Body=short)
    import dataclasses
    import hashlib

    bucket.put_manifest(
        dataclasses.replace(
            manifest, size_bytes=len(short), sha256=hashlib.sha256(short).hexdigest()
        )
    )
    result = verify_backup(log_db, bucket)
    assert not result.ok
    assert any("pg_restore exited" in p for p in result.problems), result.problems


def test_verify_flags_rows_that_differ_from_the_manifest(
    log_db: str, bucket: BackupBucket, newest_ts: datetime
) -> None:
    ingest(log_db, make_records(300, newest=newest_ts))
    manifest = run_backup(log_db, bucket)
    import dataclasses

    lying = dict(manifest.table_rows, **{"public.logs": 301})
    bucket.put_manifest(dataclasses.replace(manifest, table_rows=lying))
    result = verify_backup(log_db, bucket)
    assert result.problems == ["table public.logs: 300 rows restored, manifest says 301"]


def test_verify_flags_a_backup_older_than_the_rpo(
    log_db: str, bucket: BackupBucket, newest_ts: datetime
) -> None:
    ingest(log_db, make_records(200, newest=newest_ts - timedelta(hours=30)))
    run_backup(log_db, bucket)
    ingest(log_db, make_records(10, newest=newest_ts, seed="late"))

    fresh = verify_backup(log_db, bucket, rpo=timedelta(hours=48))
    assert fresh.ok, fresh.problems

    stale = verify_backup(
        log_db, bucket, rpo=timedelta(hours=26), clock=lambda: datetime.now(newest_ts.tzinfo) + timedelta(hours=27)
    )
    assert len(stale.problems) == 2, stale.problems
    assert "more than the RPO" in stale.problems[0]
    assert "source's newest log" in stale.problems[1]


def test_verify_without_any_backup_fails_and_is_recorded(
    backup_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["verify"]) == 1
    out = _last_output(capsys)
    assert "no backups in s3://" in out["problems"][0]
    assert [(kind, ok) for kind, ok, _ in backup_runs(backup_env)] == [("verify", False)]
