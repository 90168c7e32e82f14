"""Daily partitions of ``logs``: create ahead (idempotent, cached) and drop past the retention cutoff."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from psycopg import Connection, sql

_NAME = re.compile(r"^logs_p(\d{8})$")


def partition_day(ts: datetime) -> date:
    """The UTC day whose partition holds ``ts``."""
    return ts.astimezone(UTC).date()


def _runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Group days into consecutive runs so one function call covers each run."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def ensure_partitions(conn: Connection[Any], days: Iterable[date], *, lock_timeout_ms: int = 5000) -> int:
    """Make sure a partition exists for each day (only the given days, not the gaps between).

    Runs in its own short transaction so the brief parent-table lock of CREATE TABLE ... PARTITION OF
    is not held while a batch is being written, with a lock timeout so it never waits behind a long
    query while every other session queues behind it (a timeout is a transient error: the consumer
    retries). Returns the number of partitions created.
    """
    created = 0
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{lock_timeout_ms}ms")))
        for first, last in _runs(days):
            row = conn.execute("SELECT logagg_ensure_partitions(%s, %s)", (first, last)).fetchone()
            created += int(row[0]) if row else 0
    return created


def list_partitions(conn: Connection[Any]) -> list[tuple[str, date]]:
    """Existing daily partitions of ``logs`` (name, day), oldest first."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'logs'::regclass"
    ).fetchall()
    parts = []
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            parts.append((name, datetime.strptime(match.group(1), "%Y%m%d").date()))
    return sorted(parts, key=lambda p: p[1])


def drop_partitions_before(conn: Connection[Any], cutoff: date, *, lock_timeout_ms: int = 5000) -> list[str]:
    """Drop every partition whose whole day lies before ``cutoff``; returns the dropped names.

    Each drop is its own transaction with a lock timeout: DROP needs an exclusive lock on the parent,
    and waiting behind a long query would block every insert and query queued after it.
    """
    dropped = []
    for name, day in list_partitions(conn):
        if day >= cutoff:
            break
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{lock_timeout_ms}ms")))
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        dropped.append(name)
    return dropped


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time(0), tzinfo=UTC)


class PartitionCache:
    """Remembers the days this process already ensured, so a batch costs no SQL in the common case."""

    def __init__(self) -> None:
        self._known: set[date] = set()

    def ensure(self, conn: Connection[Any], days: Iterable[date]) -> int:
        """Ensure partitions for the days not seen before; returns how many were created."""
        missing = set(days) - self._known
        if not missing:
            return 0
        created = ensure_partitions(conn, missing)
        self._known |= missing
        return created

    def forget(self) -> None:
        """Drop the cache (after an insert error: retention may have dropped a partition we knew)."""
        self._known.clear()
