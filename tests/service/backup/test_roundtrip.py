"""Round trip against real PostgreSQL and moto's S3 server: ingest → backup → drop → restore."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from logagg.backup import cli
from logagg.backup.restore import restore_backup
from logagg.backup.run import run_backup
from logagg.backup.storage import BackupBucket

from .conftest import backup_runs, ingest, make_records, s3_client, table_checksums

pytestmark = pytest.mark.backup

N = 3000


def _drop_all_data(dsn: str) -> None:
    """Lose everything: the schema with every table, function and partition."""
    with psycopg.connect(dsn) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def test_backup_drop_restore_gives_identical_rows(
    log_db: str, bucket: BackupBucket, newest_ts: datetime
) -> None:
    assert ingest(log_db, make_records(N, newest=newest_ts)) == N
    before = table_checksums(log_db)
    assert before["logs"][0] == N

    manifest = run_backup(log_db, bucket, part_size=5 * 1024 * 1024)

    # The manifest describes the stored object exactly and the snapshot's content.
    raw = s3_client(bucket.location).get_object(Bucket=bucket.location.bucket, Key=manifest.dump_key)
    body = raw["Body"].read()
    assert len(body) == manifest.size_bytes
    assert hashlib.sha256(body).hexdigest() == manifest.sha256
    assert body[:5] == b"PGDMP"  # pg_dump custom format
    assert manifest.table_rows["public.logs"] == N
    assert manifest.table_rows["public.client_ids"] == N // 5
    assert sum(v for k, v in manifest.table_rows.items() if k.startswith("public.logs_p")) == N
    assert manifest.newest_log_ts == newest_ts
    assert manifest.server_version.startswith(("15", "16", "17", "18"))
    assert bucket.backup_ids() == [manifest.backup_id]

    _drop_all_data(log_db)
    assert "logs" not in str(psycopg.connect(log_db).execute("SELECT to_regclass('logs')").fetchone())

    result = restore_backup(bucket, manifest, log_db)
    assert result.ok, result.problems
    assert table_checksums(log_db) == before


def test_multipart_upload_of_a_dump_larger_than_one_part(
    log_db: str, bucket: BackupBucket, newest_ts: datetime
) -> None:
    # Incompressible messages make the dump span several 5 MiB parts.
    records = make_records(1200, newest=newest_ts)
    noisy = [
        dataclasses.replace(r, message=base64.b64encode(os.urandom(5000)).decode())
        for r in records
    ]
    ingest(log_db, noisy)
    before = table_checksums(log_db)
    manifest = run_backup(log_db, bucket, part_size=5 * 1024 * 1024)
    assert manifest.size_bytes > 5 * 1024 * 1024
    head = s3_client(bucket.location).head_object(
        Bucket=bucket.location.bucket, Key=manifest.dump_key
    )
    assert head["ETag"].strip('"').endswith(f"-{-(-manifest.size_bytes // (5 * 1024 * 1024))}")
    _drop_all_data(log_db)
    assert restore_backup(bucket, manifest, log_db).ok
    assert table_checksums(log_db) == before


def test_cli_run_records_backup_runs_and_restore_into_another_database(
    backup_env: str,
    empty_database: str,
    newest_ts: datetime,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ingest(backup_env, make_records(500, newest=newest_ts))
    before = table_checksums(backup_env)

    assert cli.main(["run"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] is True and out["log_rows"] == 500

    runs = backup_runs(backup_env)
    assert [(kind, ok) for kind, ok, _ in runs] == [("backup", True)]
    assert runs[0][2]["backup_id"] == out["backup_id"]
    assert runs[0][2]["size_bytes"] == out["size_bytes"] > 0

    assert cli.main(["restore", "--target-database-url", empty_database]) == 0
    restored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert restored["ok"] is True and restored["backup_id"] == out["backup_id"]
    assert table_checksums(empty_database) == before


def test_failed_pg_dump_leaves_no_object_and_records_failure(
    backup_env: str,
    bucket: BackupBucket,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A pg_dump that writes half a dump then dies (disk full, killed, server gone...).
    fake = tmp_path / "pg_dump"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in --version) echo "pg_dump (PostgreSQL) 99.0"; exit 0;; esac\n'
        "printf 'PGDMP partial'\necho 'pg_dump: error: connection lost' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("LOGAGG_BACKUP_PG_BIN_DIR", str(tmp_path))

    assert cli.main(["run"]) == 1
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] is False and "connection lost" in out["error"]
    assert bucket.list_keys() == []  # multipart upload aborted, no manifest
    uploads = s3_client(bucket.location).list_multipart_uploads(Bucket=bucket.location.bucket)
    assert uploads.get("Uploads", []) == []
    assert [(kind, ok) for kind, ok, _ in backup_runs(backup_env)] == [("backup", False)]


def test_cli_refuses_bad_usage_with_exit_code_2(
    backup_env: str,
    bucket: BackupBucket,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["restore"]) == 2
    assert "--target-database-url" in capsys.readouterr().err
    monkeypatch.setenv("LOGAGG_ENV", "prod")
    monkeypatch.setenv("LOGAGG_BACKUP_BUCKET", "")
    assert cli.main(["run"]) == 2
    assert "LOGAGG_BACKUP_BUCKET is required when LOGAGG_ENV=prod" in capsys.readouterr().err
    monkeypatch.setenv("LOGAGG_ENV", "dev")
    monkeypatch.setenv("LOGAGG_BACKUP_BUCKET", bucket.location.bucket)
    assert cli.main(["restore", "--backup-id", "20200101T000000Z", "--target-database-url", backup_env]) == 2
    assert "no backup '20200101T000000Z'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["verify", "--backup-id", "yesterday"])
    assert exc.value.code == 2
    assert "invalid backup id 'yesterday'" in capsys.readouterr().err


def test_both_entry_points_run_as_processes(
    backup_env: str, bucket: BackupBucket, newest_ts: datetime
) -> None:
    """`python -m logagg backup ...` (the image's command) and `python -m logagg.backup ...`."""
    ingest(backup_env, make_records(50, newest=newest_ts))
    service_dir = Path(__file__).resolve().parents[3] / "service"
    env = {**os.environ, "PYTHONPATH": str(service_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "logagg", "backup", "run"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    backup_id = json.loads(done.stdout.strip().splitlines()[-1])["backup_id"]
    listed = subprocess.run(
        [sys.executable, "-m", "logagg.backup", "list"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["backup_id"] for line in listed.stdout.splitlines()] == [backup_id]
