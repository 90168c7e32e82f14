"""Fixtures for the backup tests: moto's S3 server, a fresh bucket, a migrated database with logs."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import psycopg
import pytest
from logagg import migrate
from logagg.backup.pgtools import with_database
from logagg.backup.storage import BackupBucket, BucketLocation
from logagg.domain import LogRecord
from logagg.store.partitions import ensure_partitions, partition_day
from logagg.store.writer import insert_records
from moto.server import ThreadedMotoServer

from tests.scratch_db import scratch_database

S3_KEY_ID = "testing-key-id"
S3_SECRET = "testing-secret-key"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of moto's S3 server (a real HTTP server speaking the S3 API) on a free local port."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket_location(s3_endpoint: str) -> BucketLocation:
    """A new, empty bucket on the S3 server."""
    name = f"backups-{uuid.uuid4().hex[:12]}"
    location = BucketLocation(
        bucket=name,
        prefix="logagg/test",
        endpoint_url=s3_endpoint,
        region=REGION,
        access_key_id=S3_KEY_ID,
        secret_access_key=S3_SECRET,
    )
    s3_client(location).create_bucket(Bucket=name)
    return location


def s3_client(location: BucketLocation) -> Any:
    """A plain boto3 client for the test's own inspection and tampering."""
    return boto3.client(
        "s3",
        endpoint_url=location.endpoint_url,
        region_name=location.region,
        aws_access_key_id=location.access_key_id,
        aws_secret_access_key=location.secret_access_key,
    )


@pytest.fixture
def bucket(bucket_location: BucketLocation) -> BackupBucket:
    """The tool's view of the fresh bucket."""
    return BackupBucket(bucket_location)


@pytest.fixture
def log_db(fresh_database: str) -> str:
    """DSN of a new database migrated with the project's migrations."""
    migrate.apply(fresh_database)
    return fresh_database


def make_records(n: int, *, newest: datetime, days: int = 3, seed: str = "r") -> list[LogRecord]:
    """`n` varied records spread over `days` UTC days, the newest at exactly `newest`."""
    levels = ("trace", "debug", "info", "warn", "error", "fatal")
    span = timedelta(days=days) - timedelta(seconds=1)
    records = []
    for i in range(n):
        ts = newest - span * (i / max(n - 1, 1))
        records.append(
            LogRecord(
                id=f"{seed}-{i:07d}",
                ts=ts,
                service=f"svc-{i % 7}",
                level=levels[i % len(levels)],
                message=f"request {i} handled ünïcödé \\ 'quoted' \t tab",
                attributes={"i": i, "path": f"/v1/items/{i % 13}", "nested": {"ok": i % 2 == 0}},
                trace_id=f"{i:032x}" if i % 3 else None,
                span_id=f"{i:016x}" if i % 3 else None,
                client_id=i % 5 == 0,
            )
        )
    return records


def ingest(dsn: str, records: list[LogRecord]) -> int:
    """Store records through the service's own write path (partitions + COPY writer)."""
    with psycopg.connect(dsn) as conn:
        ensure_partitions(conn, {partition_day(r.ts) for r in records})
        inserted = insert_records(conn, records)
    return inserted


def table_checksums(dsn: str) -> dict[str, tuple[int, str]]:
    """(row count, md5 of the rows in key order) of every data table of the schema."""
    queries = {
        "logs": "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY ts, id), '')) FROM logs t",
        "client_ids": "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY id), '')) FROM client_ids t",
        "log_counts": "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY minute, service, level), '')) FROM log_counts t",
        "log_counts_15m": "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY bucket, service, level), '')) FROM log_counts_15m t",
    }
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return {name: tuple(conn.execute(q).fetchone()) for name, q in queries.items()}  # type: ignore[misc]


@pytest.fixture
def empty_database(pg_dsn: str) -> Iterator[str]:
    """A second new, empty database (``fresh_database`` is one per test), dropped afterwards."""
    name = f"test_restore_{uuid.uuid4().hex[:12]}"
    with scratch_database(pg_dsn, name):
        yield with_database(pg_dsn, name)


@pytest.fixture
def newest_ts() -> datetime:
    """A recent, microsecond-precise newest log time (inside the ingest window)."""
    return datetime.now(UTC).replace(microsecond=123456) - timedelta(minutes=5)


@pytest.fixture
def backup_env(log_db: str, bucket_location: BucketLocation, monkeypatch: pytest.MonkeyPatch) -> str:
    """Environment for the CLI pointing at the test database and bucket; returns the DSN."""
    for name in list(os.environ):
        if name.startswith("LOGAGG_BACKUP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LOGAGG_DATABASE_URL", log_db)
    monkeypatch.setenv("LOGAGG_BACKUP_BUCKET", bucket_location.bucket)
    monkeypatch.setenv("LOGAGG_BACKUP_PREFIX", bucket_location.prefix)
    monkeypatch.setenv("LOGAGG_BACKUP_S3_ENDPOINT_URL", str(bucket_location.endpoint_url))
    monkeypatch.setenv("LOGAGG_BACKUP_S3_REGION", REGION)
    monkeypatch.setenv("LOGAGG_BACKUP_S3_ACCESS_KEY_ID", S3_KEY_ID)
    monkeypatch.setenv("LOGAGG_BACKUP_S3_SECRET_ACCESS_KEY", S3_SECRET)
    return log_db


def backup_runs(dsn: str) -> list[tuple[str, bool, dict[str, Any]]]:
    """Rows of backup_runs, oldest first: (kind, ok, details)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT kind, ok, details FROM backup_runs ORDER BY id").fetchall()
    return [(kind, ok, details) for kind, ok, details in rows]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`cli.main` installs the JSON handler on the (captured) stderr; remove it after each test."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
