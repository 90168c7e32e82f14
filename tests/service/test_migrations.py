"""Migrations on real PostgreSQL: up → down → up leaves a working schema; down removes everything."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from logagg import migrate
from logagg.domain import LogRecord
from logagg.store.partitions import ensure_partitions
from logagg.store.writer import insert_records

OWN_TABLES = {"logs", "client_ids", "log_counts", "log_counts_15m", "dead_letters", "backup_runs"}


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname NOT LIKE '%yoyo%'"
        ).fetchall()
    return {r[0] for r in rows}


def _indexes(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'logs'").fetchall()
    return {r[0] for r in rows}


def _functions(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def _smoke(dsn: str) -> None:
    """The schema accepts and deduplicates a record."""
    ts = datetime(2026, 5, 1, 12, tzinfo=UTC)
    record = LogRecord(id="k1", ts=ts, service="s", level="info", message="m", client_id=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_partitions(conn, {ts.date()})
        for expected in (1, 0):
            with conn.transaction():
                assert insert_records(conn, [record]) == expected


def test_up_down_up(fresh_database: str) -> None:
    assert [mid for mid, applied in migrate.status(fresh_database) if applied] == []
    applied = migrate.apply(fresh_database)
    assert applied == [mid for mid, _ in migrate.status(fresh_database)]
    assert len(applied) >= 4
    assert OWN_TABLES <= _tables(fresh_database)
    assert {"logs_service_level_ts_idx", "logs_message_fts_idx", "logs_attributes_idx", "logs_trace_id_idx"} <= (
        _indexes(fresh_database)
    )
    _smoke(fresh_database)

    rolled_back = migrate.rollback(fresh_database, steps=None)
    assert rolled_back == list(reversed(applied))
    assert _tables(fresh_database) == set(), "rollback left tables (including partitions) behind"
    assert "logagg_ensure_partitions" not in _functions(fresh_database)

    assert migrate.apply(fresh_database) == applied
    assert all(done for _, done in migrate.status(fresh_database))
    _smoke(fresh_database)


def test_apply_is_idempotent_and_rollback_steps_one_at_a_time(fresh_database: str) -> None:
    applied = migrate.apply(fresh_database)
    assert migrate.apply(fresh_database) == []
    before = _tables(fresh_database)
    assert migrate.rollback(fresh_database, steps=1) == [applied[-1]]
    assert [mid for mid, done in migrate.status(fresh_database) if not done] == [applied[-1]]
    # One step back removes only what the last migration added (code runs on the schema it
    # shipped with: the migrations Job runs before the new pods start).
    assert _tables(fresh_database) < before and "logs" in _tables(fresh_database)
    assert migrate.apply(fresh_database) == [applied[-1]]
    assert _tables(fresh_database) == before
    _smoke(fresh_database)


def test_yoyo_uri_accepts_url_and_keyword_dsns() -> None:
    url = migrate.yoyo_uri("postgresql://u:p%40ss@db.example:5433/logs?sslmode=verify-full&sslrootcert=/ca.crt")
    assert url.startswith("postgresql+psycopg://u:p%40ss@db.example:5433/logs?")
    assert "sslmode=verify-full" in url and "sslrootcert=%2Fca.crt" in url
    kw = migrate.yoyo_uri("host=/run/pg dbname=app user=me")
    assert kw == "postgresql+psycopg://me@/app?host=%2Frun%2Fpg"
