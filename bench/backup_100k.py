"""Benchmark: backup, verify and restore times and sizes for 100 000 log records.

Uses a local PostgreSQL (tests.localsvc; or DATABASE_URL) and moto's S3 server, the same real
pieces the tests use. Not part of `make test`. Run::

    .venv/bin/python -m bench.backup_100k [--records 100000]

Prints one JSON object and writes it to bench/results/backup_<records>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import boto3
import psycopg
from moto.server import ThreadedMotoServer
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from logagg import migrate
from logagg.backup.pgtools import with_database
from logagg.backup.restore import restore_backup
from logagg.backup.run import run_backup
from logagg.backup.storage import BackupBucket, BucketLocation
from logagg.backup.verify import verify_backup
from logagg.domain import LogRecord

from tests.localsvc import PostgresServer
from tests.service.backup.conftest import (
    _free_port,
    ingest,
    make_records,
    table_checksums,
)

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Run `fn` and return its result and wall-clock seconds."""
    start = time.perf_counter()
    result = fn()
    return result, round(time.perf_counter() - start, 2)


def realistic(records: list[LogRecord]) -> list[LogRecord]:
    """Give every record a message with request-specific values, as real logs have."""
    rng = random.Random(42)
    paths = ("/v1/logs", "/v1/orders", "/v1/users/me", "/health", "/v1/search")
    return [
        dataclasses.replace(
            r,
            message=(
                f"{rng.choice(('GET', 'POST', 'PUT'))} {rng.choice(paths)}/{rng.randrange(10**6)} "
                f"status={rng.choice((200, 201, 204, 400, 404, 500))} "
                f"took={rng.random() * 900:.1f}ms request_id={uuid.UUID(int=rng.getrandbits(128))}"
            ),
            attributes={**r.attributes, "user": f"u{rng.randrange(50_000)}", "bytes": rng.randrange(10**5)},
        )
        for r in records
    ]


def _create_db(admin_dsn: str, name: str) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin_dsn, name)


def _drop_db(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def bench(admin_dsn: str, s3_url: str, records: int) -> dict[str, Any]:
    """Ingest `records`, then time backup, verify and restore; return the figures."""
    suffix = uuid.uuid4().hex[:8]
    source_name, target_name = f"bench_src_{suffix}", f"bench_dst_{suffix}"
    location = BucketLocation(
        bucket=f"bench-{suffix}", prefix="logagg", endpoint_url=s3_url, region="us-east-1",
        access_key_id="bench", secret_access_key="bench",
    )
    boto3.client(
        "s3", endpoint_url=s3_url, region_name="us-east-1",
        aws_access_key_id="bench", aws_secret_access_key="bench",
    ).create_bucket(Bucket=location.bucket)
    bucket = BackupBucket(location)
    source = _create_db(admin_dsn, source_name)
    target = _create_db(admin_dsn, target_name)
    try:
        migrate.apply(source)
        rows = realistic(make_records(records, newest=datetime.now(UTC) - timedelta(minutes=1), days=7))
        _, ingest_s = timed(lambda: ingest(source, rows))
        with psycopg.connect(source) as conn:
            db_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        manifest, backup_s = timed(lambda: run_backup(source, bucket))
        verified, verify_s = timed(lambda: verify_backup(source, bucket, scratch_admin_dsn=admin_dsn))
        restored, restore_s = timed(lambda: restore_backup(bucket, manifest, target))
        same = table_checksums(source) == table_checksums(target)
        return {
            "records": records,
            "database_bytes": db_bytes,
            "dump_bytes": manifest.size_bytes,
            "ingest_seconds": ingest_s,
            "backup_seconds": backup_s,
            "verify_seconds": verify_s,
            "restore_seconds": restore_s,
            "verify_ok": verified.ok,
            "restore_ok": restored.ok and same,
            "server_version": manifest.server_version,
            "pg_dump_version": manifest.pg_dump_version,
            "cpus": os.cpu_count(),
        }
    finally:
        _drop_db(admin_dsn, source_name)
        _drop_db(admin_dsn, target_name)


def main() -> int:
    """Provision what is missing, run the benchmark, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request
    port = _free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s3.start()
    pg = None if os.environ.get("DATABASE_URL") else PostgresServer()
    try:
        if pg is not None:
            pg.start()
        dsn = pg.dsn if pg is not None else os.environ["DATABASE_URL"]
        figures = bench(dsn, f"http://127.0.0.1:{port}", args.records)
    finally:
        if pg is not None:
            pg.close()
        s3.stop()
    text = json.dumps(figures, indent=2)
    print(text)
    out = Path(__file__).parent / "results" / f"backup_{args.records}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")
    return 0 if figures["verify_ok"] and figures["restore_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
