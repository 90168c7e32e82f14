"""Retention drops whole old partitions, prunes dedup keys and counts with them, and creates days ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from logagg import migrate
from logagg.domain import LogFilter
from logagg.retention import run_retention
from logagg.settings import Settings
from logagg.store.logs import list_services, search_logs
from logagg.store.partitions import list_partitions

from tests.service.store.factories import make_record, store

NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)


def test_retention_drops_old_partitions_and_keeps_the_window(fresh_database: str) -> None:
    migrate.apply(fresh_database)
    days_ago = [20, 15, 14, 13, 1, 0]
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        records = [
            make_record("svc", NOW - timedelta(days=d), record_id=f"client-{d}", client_id=True) for d in days_ago
        ]
        store(conn, records)

    settings = Settings(database_url=fresh_database, retention_days=14, partition_days_ahead=2)
    summary = run_retention(settings, now=NOW)

    # cutoff 2026-06-01 10:30: the partition of 06-01 still holds in-window rows and stays
    assert summary.dropped_partitions == ["logs_p20260526", "logs_p20260531"]
    assert summary.created_partitions == 2  # 06-16 and 06-17; 06-15 existed
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        days = [day for _, day in list_partitions(conn)]
        assert days[0] == datetime(2026, 6, 1).date()
        assert days[-1] == datetime(2026, 6, 17).date()
        kept = search_logs(conn, LogFilter(), limit=100, order="asc").items
        assert [r.id for r in kept] == ["client-14", "client-13", "client-1", "client-0"]
        keys = [r[0] for r in conn.execute("SELECT id FROM client_ids ORDER BY ts").fetchall()]
        assert keys == ["client-14", "client-13", "client-1", "client-0"]
        assert list_services(conn, NOW - timedelta(days=30), NOW + timedelta(days=1)) == [("svc", 4)]

    again = run_retention(settings, now=NOW)
    assert again.dropped_partitions == [] and again.created_partitions == 0


def test_a_resend_after_retention_cannot_duplicate_a_kept_row(fresh_database: str) -> None:
    """Dedup keys live exactly as long as their rows: a kept row's key is never pruned."""
    migrate.apply(fresh_database)
    edge = NOW - timedelta(days=14, hours=1)  # older than the cutoff, but in the kept partition
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        store(conn, [make_record("svc", edge, record_id="edge-key", client_id=True)])
        run_retention(Settings(database_url=fresh_database, retention_days=14), now=NOW)
        resend = make_record("svc", NOW, record_id="edge-key", client_id=True)
        assert store(conn, [resend]) == 0
