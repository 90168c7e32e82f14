"""Side tables that retention keeps in step: pruning with the dropped partitions, and reconciling
the quarter-hour counts with the per-minute counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection


def prune_before(conn: Connection[Any], boundary: datetime) -> dict[str, int]:
    """Delete client ids and counts older than ``boundary``; returns rows deleted per table.

    ``boundary`` must be the start of the oldest kept partition: a client id is kept exactly as long
    as the row it protects, so a resend can never slip in while the original row still exists.
    """
    with conn.transaction():
        ids = conn.execute("DELETE FROM client_ids WHERE ts < %s", (boundary,)).rowcount
        counts = conn.execute("DELETE FROM log_counts WHERE minute < %s", (boundary,)).rowcount
        counts_15m = conn.execute("DELETE FROM log_counts_15m WHERE bucket < %s", (boundary,)).rowcount
        dead = conn.execute("DELETE FROM dead_letters WHERE received_at < %s", (boundary,)).rowcount
    return {"client_ids": ids, "log_counts": counts, "log_counts_15m": counts_15m, "dead_letters": dead}


_QUARTER = timedelta(minutes=15)
_MISMATCHED_QUARTERS = """
WITH per_minute AS (
    SELECT date_bin('15 minutes', minute, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket, service, level,
           sum(count) AS n
      FROM log_counts GROUP BY 1, 2, 3
)
SELECT bucket, service, level
  FROM per_minute m FULL JOIN log_counts_15m q USING (bucket, service, level)
 WHERE m.n IS DISTINCT FROM q.count
 ORDER BY 1, 2, 3
"""


def reconcile_quarter_counts(conn: Connection[Any]) -> int:
    """Make every ``log_counts_15m`` row equal the sum of its ``log_counts`` minutes; returns how
    many rows were corrected. ``conn`` must be in autocommit mode.

    The writers keep both tables equal, so this normally finds nothing. It repairs what a writer
    that maintains only ``log_counts`` left behind: consumers of the previous release still
    running while migration 0005 backfilled the table, or a manual repair that forgot the table.
    Safe next to running consumers: each row is fixed in its own transaction that first locks
    the quarter-hour row and only then sums the committed minutes. A writer that already added
    to that row has committed (its minutes are in the sum); one that has not yet will add its
    rows after the fix (they are not in the sum). It takes one row lock at a time, so it
    cannot deadlock with the writers.
    """
    fixed = 0
    for bucket, service, level in conn.execute(_MISMATCHED_QUARTERS).fetchall():
        key = (bucket, service, level)
        with conn.transaction():
            conn.execute(
                "INSERT INTO log_counts_15m (bucket, service, level, count) VALUES (%s, %s, %s, 0)"
                " ON CONFLICT DO NOTHING", key
            )
            conn.execute(
                "SELECT 1 FROM log_counts_15m WHERE bucket = %s AND service = %s AND level = %s FOR UPDATE", key
            )
            row = conn.execute(
                "SELECT coalesce(sum(count), 0) FROM log_counts"
                " WHERE minute >= %s AND minute < %s AND service = %s AND level = %s",
                (bucket, bucket + _QUARTER, service, level),
            ).fetchone()
            total = int(row[0]) if row else 0
            if total:
                conn.execute(
                    "UPDATE log_counts_15m SET count = %s WHERE bucket = %s AND service = %s AND level = %s",
                    (total, *key),
                )
            else:
                conn.execute("DELETE FROM log_counts_15m WHERE bucket = %s AND service = %s AND level = %s", key)
        fixed += 1
    return fixed
