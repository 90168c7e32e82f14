"""Every SQL statement the backup tool runs: snapshot facts, scratch databases, `backup_runs` rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

#: Tables whose rows are log data: the newest `ts` there is the backup's recovery point.
LOG_TABLE = "logs"

_TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class SnapshotFacts:
    """What a database contains at one snapshot: exact row counts and the newest log time."""

    table_rows: dict[str, int]
    newest_log_ts: datetime | None
    server_version: str
    server_version_num: int
    database: str


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection tagged with the tool's application name (visible in pg_stat_activity)."""
    return psycopg.connect(dsn, application_name="logagg-backup", **kwargs)


def snapshot_facts(conn: psycopg.Connection[Any]) -> SnapshotFacts:
    """Count every table's rows and find the newest log timestamp, all in the current transaction.

    Parent (partitioned) tables are counted too, so `public.logs` is the total and each daily
    partition appears on its own.
    """
    with conn.cursor() as cur:
        cur.execute(_TABLES_SQL)
        tables = cur.fetchall()
        rows: dict[str, int] = {}
        for schema, table in tables:
            cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            ))
            rows[f"{schema}.{table}"] = int(cur.fetchone()[0])  # type: ignore[index]
        newest: datetime | None = None
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (LOG_TABLE,))
        if cur.fetchone()[0]:  # type: ignore[index]
            cur.execute(sql.SQL("SELECT max(ts) FROM {}").format(sql.Identifier(LOG_TABLE)))
            newest = cur.fetchone()[0]  # type: ignore[index]
        cur.execute(
            "SELECT current_setting('server_version'), "
            "current_setting('server_version_num')::int, current_database()"
        )
        version, version_num, database = cur.fetchone()  # type: ignore[misc]
    return SnapshotFacts(rows, newest, version, version_num, database)


@contextmanager
def exported_snapshot(dsn: str) -> Iterator[tuple[str, SnapshotFacts]]:
    """Hold a repeatable-read transaction open and yield its exported snapshot id and facts.

    `pg_dump --snapshot=<id>` then dumps exactly the data the facts describe, so the manifest's
    row counts are exact rather than approximately "around" the dump.
    """
    with connect(dsn) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot_id = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        facts = snapshot_facts(conn)
        yield snapshot_id, facts
        conn.rollback()


def newest_log_ts(dsn: str) -> datetime | None:
    """Newest log timestamp of a live database (an index lookup on the (ts, id) key, no scan)."""
    with connect(dsn) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (LOG_TABLE,)).fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute(
            sql.SQL("SELECT max(ts) FROM {}").format(sql.Identifier(LOG_TABLE))
        ).fetchone()
        return row[0] if row else None


def current_facts(dsn: str) -> SnapshotFacts:
    """Facts of a database as it is now."""
    with connect(dsn) as conn:
        return snapshot_facts(conn)


def create_database(admin_dsn: str, name: str) -> None:
    """Create an empty database (the connecting role needs CREATEDB)."""
    with connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop a database even if something is still connected to it."""
    with connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def record_run(
    dsn: str,
    *,
    kind: str,
    started_at: datetime,
    finished_at: datetime,
    ok: bool,
    details: dict[str, Any],
) -> None:
    """Append a row to `backup_runs`; the consumer turns the latest rows into gauges."""
    with connect(dsn) as conn:
        conn.execute(
            "INSERT INTO backup_runs (kind, started_at, finished_at, ok, details) "
            "VALUES (%s, %s, %s, %s, %s::jsonb)",
            (kind, started_at, finished_at, ok, json.dumps(details, default=str)),
        )
