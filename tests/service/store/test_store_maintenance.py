"""Reconciling the quarter-hour counts with the per-minute counts (run by retention)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from logagg.store.maintenance import reconcile_quarter_counts
from logagg.store.writer import insert_records

from tests.service.store.factories import (
    make_record,
    migrated_database,
    spread_records,
    store,
    utc,
)

T0 = utc(2026, 11, 24, 9)
_PER_MINUTE_AS_QUARTERS = """
SELECT date_bin('15 minutes', minute, TIMESTAMPTZ '1970-01-01 00:00:00+00'), service, level, sum(count)
  FROM log_counts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


@pytest.fixture
def dsn(pg_dsn: str) -> Iterator[str]:
    yield from migrated_database(pg_dsn, "maint")


def _quarters(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT bucket, service, level, count FROM log_counts_15m ORDER BY 1, 2, 3").fetchall()


def _old_writer(conn: psycopg.Connection[Any], service: str, minute: Any, n: int) -> None:
    """What a writer of the previous release did: per-minute counts only."""
    conn.execute("INSERT INTO log_counts VALUES (%s, %s, 'info', %s)"
                 " ON CONFLICT (minute, service, level) DO UPDATE SET count = log_counts.count + EXCLUDED.count",
                 (minute, service, n))


def test_consistent_counts_need_no_repair(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        store(conn, spread_records("svc", T0, 500, timedelta(seconds=11)))
        assert reconcile_quarter_counts(conn) == 0


def test_missing_stale_and_stray_quarter_rows_are_corrected(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        store(conn, spread_records("svc", T0, 500, timedelta(seconds=11)))
        _old_writer(conn, "svc", T0 + timedelta(minutes=3), 5)        # stale: 15m row lacks these 5
        _old_writer(conn, "old", T0 + timedelta(minutes=40), 7)       # missing: no 15m row at all
        conn.execute("INSERT INTO log_counts_15m VALUES (%s, 'ghost', 'warn', 9)", (T0,))  # stray: no minutes
        assert reconcile_quarter_counts(conn) == 3
        assert _quarters(conn) == conn.execute(_PER_MINUTE_AS_QUARTERS).fetchall()
        assert reconcile_quarter_counts(conn) == 0


def test_repair_waits_for_a_writer_holding_the_row_and_stays_exact(dsn: str) -> None:
    minute = T0 + timedelta(minutes=1)
    with psycopg.connect(dsn, autocommit=True) as conn, psycopg.connect(dsn, autocommit=True) as writer:
        store(conn, [make_record("svc", minute)])
        _old_writer(conn, "svc", minute, 4)  # mismatch on (09:00, svc, info)
        with writer.transaction():
            insert_records(writer, [make_record("svc", minute + timedelta(seconds=5))])  # locks that 15m row
            done = threading.Event()
            repaired: list[int] = []

            def repair() -> None:
                with psycopg.connect(dsn, autocommit=True) as other:
                    repaired.append(reconcile_quarter_counts(other))
                done.set()

            thread = threading.Thread(target=repair)
            thread.start()
            assert not done.wait(1.0), "the repair must wait for the writer's row lock"
        thread.join(30)
        assert repaired == [1]
        assert _quarters(conn) == conn.execute(_PER_MINUTE_AS_QUARTERS).fetchall() == [(T0, "svc", "info", 6)]
