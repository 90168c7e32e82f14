"""backup_status: the values behind the backup and restore-verification gauges."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from logagg import migrate
from logagg.store.backup_runs import backup_status

T = datetime(2026, 11, 29, 3, tzinfo=UTC)


@pytest.fixture
def db(fresh_database: str) -> Iterator[psycopg.Connection[Any]]:
    migrate.apply(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        yield conn


def _run(conn: psycopg.Connection[Any], kind: str, finished: datetime | None, ok: bool | None) -> None:
    conn.execute(
        "INSERT INTO backup_runs (kind, started_at, finished_at, ok) VALUES (%s, %s, %s, %s)",
        (kind, (finished or T) - timedelta(minutes=5), finished, ok),
    )


def test_no_runs_yet(db: psycopg.Connection[Any]) -> None:
    status = backup_status(db)
    assert (status.last_backup_success, status.last_verify_success, status.last_verify_ok) == (None, None, None)


def test_latest_successes_and_latest_verification_outcome(db: psycopg.Connection[Any]) -> None:
    _run(db, "backup", T, True)
    _run(db, "backup", T + timedelta(hours=1), False)  # a failed run does not count as success
    _run(db, "backup", T + timedelta(hours=2), None)  # still running
    _run(db, "verify", T + timedelta(minutes=30), True)
    _run(db, "verify", T + timedelta(hours=3), False)
    status = backup_status(db)
    assert status.last_backup_success == T
    assert status.last_verify_success == T + timedelta(minutes=30)
    assert status.last_verify_ok is False
    _run(db, "verify", T + timedelta(hours=4), True)
    assert backup_status(db).last_verify_ok is True
