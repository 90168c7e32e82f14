"""Shared test helpers for the storage and consumer tests: a migrated database and record factories."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg
from logagg import migrate
from logagg.domain import LEVELS, LogRecord
from logagg.store.partitions import ensure_partitions, partition_day
from logagg.store.writer import insert_records
from psycopg import conninfo, sql


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database on the same server."""
    if dsn.startswith(("postgres://", "postgresql://")):
        return urlsplit(dsn)._replace(path=f"/{database}").geturl()
    return conninfo.make_conninfo(dsn, dbname=database)


def migrated_database(pg_dsn: str, prefix: str) -> Iterator[str]:
    """Create a uniquely named database, apply every migration, yield its DSN, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = with_database(pg_dsn, name)
    try:
        migrate.apply(dsn)
        yield dsn
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def unique_service(tag: str = "svc") -> str:
    """A service name no other test uses, so tests sharing a database stay independent."""
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def make_record(
    service: str,
    ts: datetime,
    *,
    level: str = "info",
    message: str = "hello",
    attributes: dict[str, Any] | None = None,
    trace_id: str | None = None,
    record_id: str | None = None,
    client_id: bool = False,
) -> LogRecord:
    """A record with a fresh server-style id unless ``record_id`` is given."""
    return LogRecord(
        id=record_id or uuid.uuid4().hex,
        ts=ts,
        service=service,
        level=level,
        message=message,
        attributes=attributes or {},
        trace_id=trace_id,
        client_id=client_id,
    )


def spread_records(service: str, start: datetime, count: int, step: timedelta) -> list[LogRecord]:
    """``count`` records of ``service`` every ``step`` from ``start``, cycling through the levels."""
    return [
        make_record(service, start + i * step, level=LEVELS[i % len(LEVELS)], message=f"message number {i}")
        for i in range(count)
    ]


def store(conn: psycopg.Connection[Any], records: Sequence[LogRecord]) -> int:
    """Ensure partitions and insert ``records`` in one transaction; returns rows inserted."""
    ensure_partitions(conn, {partition_day(r.ts) for r in records})
    with conn.transaction():
        return insert_records(conn, records)


def utc(*args: int) -> datetime:
    """``datetime(*args)`` in UTC."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
