"""Write side of the ``logs`` store: bulk insert with COPY, deduplication and per-minute counts.

Fast path (``insert_records``, the normal case: no client-supplied ids in the batch): ``COPY``
the records (binary) straight into ``logs`` inside a savepoint. This is the raw-COPY cost. A
Kafka redelivery of rows already stored makes the COPY fail on the primary key (ts, id); the
savepoint is rolled back and the batch takes the deduplicating path.

Deduplicating path (client ids in the batch, or a redelivery):
1. ``COPY`` the records (binary) into a temporary staging table (ON COMMIT DELETE ROWS);
2. claim the client-supplied ids in ``client_ids`` (ON CONFLICT DO NOTHING) — a client resend,
   even with a different server-assigned ts, finds its id claimed and is skipped;
3. insert into ``logs`` with ON CONFLICT (ts, id) DO NOTHING — a Kafka redelivery of the same
   record is a no-op — returning the inserted rows per (minute, service, level).

Both paths then add the new rows to ``log_counts`` (per minute) and after that to
``log_counts_15m`` (per quarter hour), each upsert in key order: every writer takes its row
locks table by table in one global order, so concurrent consumers cannot deadlock. Everything
shares the caller's transaction, so the counts always equal the stored rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection, errors
from psycopg.adapt import PyFormat
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb, set_json_dumps

from logagg import jsonbytes
from logagg.domain import LogRecord

_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS logagg_staging (
    id text COLLATE "C", ts timestamptz, service text, level text, message text,
    attributes jsonb, trace_id text, span_id text, client_id boolean
) ON COMMIT DELETE ROWS
"""
_STAGING_TYPES = ["text", "timestamptz", "text", "text", "text", "jsonb", "text", "text", "bool"]
_COPY = (
    "COPY logagg_staging (id, ts, service, level, message, attributes, trace_id, span_id, client_id)"
    " FROM STDIN (FORMAT BINARY)"
)
_INSERT = """
WITH client_candidates AS (
    -- one row per client id: a resend inside the same batch keeps the earliest copy
    SELECT DISTINCT ON (id) * FROM logagg_staging WHERE client_id ORDER BY id, ts
), claimed AS (
    INSERT INTO client_ids (id, ts)
    SELECT id, ts FROM client_candidates
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), inserted AS (
    INSERT INTO logs (ts, id, service, level, message, attributes, trace_id, span_id)
    SELECT ts, id, service, level, message, attributes, trace_id, span_id
      FROM logagg_staging WHERE NOT client_id
    UNION ALL
    SELECT c.ts, c.id, c.service, c.level, c.message, c.attributes, c.trace_id, c.span_id
      FROM client_candidates c JOIN claimed USING (id)
    ON CONFLICT (ts, id) DO NOTHING
    RETURNING date_trunc('minute', ts) AS minute, service, level
)
SELECT minute, service, level, count(*) FROM inserted GROUP BY 1, 2, 3
"""


_LOGS_COPY = "COPY logs (ts, id, service, level, message, attributes, trace_id, span_id) FROM STDIN (FORMAT BINARY)"
_LOGS_TYPES = ["timestamptz", "text", "text", "text", "text", "jsonb", "text", "text"]
_ADD_COUNTS = """
INSERT INTO {table} ({column}, service, level, count)
SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::bigint[]) ORDER BY 1, 2, 3
ON CONFLICT ({column}, service, level) DO UPDATE SET count = {table}.count + EXCLUDED.count
"""


def insert_records(conn: Connection[Any], records: Sequence[LogRecord]) -> int:
    """Store ``records`` (partitions must exist); returns how many rows were new.

    Must run inside a transaction (rows and counts commit together); ``date_trunc('minute', ts)``
    relies on the session time zone being UTC, which the function sets for the transaction.
    """
    if not records:
        return 0
    if conn.autocommit and conn.info.transaction_status != TransactionStatus.INTRANS:
        # (a connection without autocommit opens its transaction with the first statement)
        raise RuntimeError("insert_records must run inside a transaction")
    _use_fast_json(conn)
    conn.execute("SET LOCAL TIME ZONE 'UTC'")
    if not any(r.client_id for r in records):
        try:
            with conn.transaction():  # a savepoint inside the caller's transaction
                _copy_into_logs(conn, records)
        except errors.UniqueViolation:
            pass  # some rows are stored already (a redelivery): deduplicate below
        else:
            return _add_counts(
                conn, Counter((r.ts.astimezone(UTC).replace(second=0, microsecond=0), r.service, r.level) for r in records)
            )
    return _add_counts(conn, _insert_deduplicating(conn, records))


def _use_fast_json(conn: Connection[Any]) -> None:
    """jsonb values dumped with ``jsonbytes.dumps`` on ``conn`` (stdlib json was ~30 % of the
    consumer's profile), registered once: psycopg's ``set_json_dumps`` derives a new dumper class
    from the current one on every call, so calling it per batch grew the consumer's memory and
    every dumper lookup without bound (RSS +45 % in a 5-minute soak)."""
    if getattr(conn.adapters.get_dumper(Jsonb, PyFormat.BINARY), "_dumps", None) is not jsonbytes.dumps:
        set_json_dumps(jsonbytes.dumps, conn)


def _copy_into_logs(conn: Connection[Any], records: Sequence[LogRecord]) -> None:
    with conn.cursor() as cur, cur.copy(_LOGS_COPY) as copy:
        copy.set_types(_LOGS_TYPES)
        for r in records:
            copy.write_row((r.ts, r.id, r.service, r.level, r.message, r.attributes, r.trace_id, r.span_id))


def _add_counts(conn: Connection[Any], per_minute: Counter[tuple[datetime, str, str]]) -> int:
    """Add the newly stored rows, counted per (UTC minute, service, level), to ``log_counts`` and
    then to ``log_counts_15m``, each in key order; returns the number of rows."""
    per_quarter: Counter[tuple[datetime, str, str]] = Counter()
    for (minute, service, level), n in per_minute.items():
        per_quarter[(minute.replace(minute=minute.minute - minute.minute % 15), service, level)] += n
    for table, column, counts in (("log_counts", "minute", per_minute), ("log_counts_15m", "bucket", per_quarter)):
        if counts:
            keys = list(counts)
            conn.execute(
                _ADD_COUNTS.format(table=table, column=column),
                ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], [counts[k] for k in keys]),
            )
    return per_minute.total()


def _insert_deduplicating(conn: Connection[Any], records: Sequence[LogRecord]) -> Counter[tuple[datetime, str, str]]:
    """Staging COPY and the deduplicating insert; returns the inserted rows per (minute, service, level)."""
    conn.execute(_STAGING_DDL)
    with conn.cursor() as cur:
        with cur.copy(_COPY) as copy:
            copy.set_types(_STAGING_TYPES)
            for r in records:
                copy.write_row(
                    (r.id, r.ts, r.service, r.level, r.message, r.attributes, r.trace_id, r.span_id, r.client_id)
                )
        inserted = Counter({(minute.astimezone(UTC), service, level): int(n)
                            for minute, service, level, n in cur.execute(_INSERT).fetchall()})
        # Emptied so a second call in the same transaction does not see these rows again
        # (the dead tuples vanish at commit, when ON COMMIT DELETE ROWS truncates the table).
        cur.execute("DELETE FROM logagg_staging")
    return inserted
