"""The benchmark's bulk loader stores exactly what the consumer's write path stores."""

from __future__ import annotations

import uuid
from datetime import timedelta
from itertools import islice

import psycopg
from logagg import migrate
from logagg.store.partitions import ensure_partitions
from logagg.store.writer import insert_records

from bench.datagen import DatasetSpec, dataset
from bench.storage import _secondary_indexes, bulk_load
from tests.conftest import _with_database
from tests.scratch_db import scratch_database

SPEC = DatasetSpec(rows=4_000, days=2)


def _snapshot(dsn: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[str, str]]]:
    with psycopg.connect(dsn) as conn:
        logs = conn.execute("SELECT ts, id, service, level, message, attributes, trace_id, span_id"
                            " FROM logs ORDER BY ts, id").fetchall()
        counts = conn.execute("SELECT minute, service, level, count FROM log_counts ORDER BY 1, 2, 3").fetchall()
        counts += conn.execute("SELECT bucket, service, level, count FROM log_counts_15m ORDER BY 1, 2, 3").fetchall()
        indexes = conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_class t ON t.oid = i.indrelid JOIN pg_inherits h ON h.inhrelid = t.oid"
            " WHERE h.inhparent = 'logs'::regclass ORDER BY 1"
        ).fetchall()
    return logs, counts, indexes


def test_bulk_load_equals_the_consumer_write_path(pg_dsn: str) -> None:
    bulk_name, path_name = f"test_{uuid.uuid4().hex[:12]}", f"test_{uuid.uuid4().hex[:12]}"
    with scratch_database(pg_dsn, bulk_name), scratch_database(pg_dsn, path_name):
        bulk, path = _with_database(pg_dsn, bulk_name), _with_database(pg_dsn, path_name)
        migrate.apply(bulk)
        migrate.apply(path)
        with psycopg.connect(path) as conn:
            definitions_before = _secondary_indexes(conn)
            ensure_partitions(conn, {(SPEC.start + timedelta(days=d)).date() for d in range(SPEC.days + 1)})
            records = dataset(SPEC)
            while chunk := list(islice(records, 1_000)):
                with conn.transaction():
                    insert_records(conn, chunk)

        info = bulk_load(bulk, SPEC, progress=lambda _text: None, chunk=1_500)

        assert info["rows"] == SPEC.rows
        bulk_logs, bulk_counts, bulk_indexes = _snapshot(bulk)
        path_logs, path_counts, path_indexes = _snapshot(path)
        assert len(bulk_logs) == SPEC.rows
        assert bulk_logs == path_logs
        assert bulk_counts == path_counts
        assert sum(c[3] for c in bulk_counts) == 2 * SPEC.rows  # per minute and per quarter hour
        # every partition has the same indexes, and the parent's definitions survived the rebuild
        assert [name for name, _ in bulk_indexes] == [name for name, _ in path_indexes]
        assert len(bulk_indexes) > len(definitions_before)
        with psycopg.connect(bulk) as conn:
            assert _secondary_indexes(conn) == definitions_before
