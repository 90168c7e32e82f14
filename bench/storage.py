"""Storage-side measurements: raw COPY (the limit), loading the query data set, bytes on disk.

The query data set (10 M rows in full mode) is bulk-loaded, as the benchmark issue allows: one
child process generates COPY text while this one streams it into ``logs`` with the secondary
indexes dropped; the indexes are then rebuilt from their own definitions (read back from the
catalog, so they always match the migrations) and the counts tables are filled by aggregates.
The result equals what the consumer's write path stores (``tests/bench/test_storage.py`` checks
it row for row) at a fraction of the time: rebuilding a GIN index once is much cheaper than
maintaining it row by row. It is cached per fingerprint in the bench cluster.

Freshly built indexes are more compact than incrementally maintained ones, so ``bytes_per_record``
is also measured on the end-to-end database, which the real consumer wrote.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import orjson
import psycopg
from logagg.domain import LogRecord
from logagg.store.partitions import ensure_partitions, partition_day
from psycopg import sql

from bench.datagen import DatasetSpec, RecordGenerator, dataset, raw_json_bytes
from bench.stack import (
    create_migrated_database,
    database_exists,
    drop_database,
    with_database,
)

_COMPLETE = "logagg-bench data set: complete"
#: Part of the cached data set's name: bump when the loader changes what it stores.
LOADER_VERSION = 3
_COPY_COLUMNS = "ts, id, service, level, message, attributes, trace_id, span_id"


def _chunks(records: Iterable[LogRecord], size: int) -> Iterator[list[LogRecord]]:
    it = iter(records)
    while chunk := list(islice(it, size)):
        yield chunk


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_text(records: Iterable[LogRecord]) -> bytes:
    """Records as COPY text-format rows (the client-side encoding, done before timing)."""
    lines = []
    for r in records:
        attrs = orjson.dumps(r.attributes).decode()
        lines.append("\t".join((
            r.ts.isoformat(), r.id, _copy_escape(r.service), r.level, _copy_escape(r.message),
            _copy_escape(attrs), r.trace_id or "\\N", r.span_id or "\\N",
        )))
    return ("\n".join(lines) + "\n").encode()


def measure_copy(server_dsn: str, rows: int, *, chunk: int = 50_000, seed: int = 11) -> dict[str, Any]:
    """Raw ``COPY logs FROM STDIN`` into a freshly migrated database; rows/s over the timed COPYs.

    Same record shape and time spread as the end-to-end run (the last 10 minutes), same partitions
    and indexes; one committed COPY per ``chunk`` rows, no dedup and no counts (the limit).
    """
    name = "bench_copy"
    dsn = create_migrated_database(server_dsn, name)
    try:
        now = datetime.now(UTC)
        records = list(RecordGenerator(seed).records(rows, now - timedelta(minutes=10), now))
        payloads = [copy_text(c) for c in _chunks(records, chunk)]
        with psycopg.connect(dsn, autocommit=True) as conn:
            ensure_partitions(conn, {partition_day(r.ts) for r in records})
            started = time.perf_counter()
            for payload in payloads:
                with conn.transaction(), conn.cursor() as cur, cur.copy(
                    f"COPY logs ({_COPY_COLUMNS}) FROM STDIN"
                ) as copy:
                    for offset in range(0, len(payload), 1 << 20):
                        copy.write(payload[offset : offset + (1 << 20)])
            elapsed = time.perf_counter() - started
            stored = conn.execute("SELECT count(*) FROM logs").fetchone()
        assert stored is not None and stored[0] == rows, f"COPY stored {stored} rows, expected {rows}"
        return {"rows": rows, "seconds": round(elapsed, 3), "copy_rows_per_s": round(rows / elapsed, 1)}
    finally:
        drop_database(server_dsn, name)


def dataset_database(server_dsn: str, spec: DatasetSpec, progress: Callable[[str], None] = print) -> tuple[str, dict[str, Any]]:
    """DSN of the query data set for ``spec`` (built once, then reused); returns (dsn, load info)."""
    name = f"bench_q_{spec.fingerprint()}_l{LOADER_VERSION}".lower()
    dsn = with_database(server_dsn, name)
    if database_exists(server_dsn, name) and _is_complete(dsn, name):
        return dsn, {"cached": True}
    _drop_other_datasets(server_dsn, keep=name)
    dsn = create_migrated_database(server_dsn, name)
    info = bulk_load(dsn, spec, progress)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(_COMPLETE)))
    return dsn, {"cached": False, **info}


def _generate_copy_chunks(spec: DatasetSpec, chunk: int, out: Any) -> None:
    """Child process: the data set as COPY text chunks on ``out``, then ``None``."""
    for records in _chunks(dataset(spec), chunk):
        out.put(copy_text(records))
    out.put(None)


def _secondary_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of every index on ``logs`` that backs no constraint."""
    rows = conn.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'logs'::regclass"
        "   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        " ORDER BY c.relname"
    ).fetchall()
    # A partitioned index's definition reads "ON ONLY logs"; without ONLY it cascades to partitions.
    return [(name, definition.replace(" ON ONLY ", " ON ", 1)) for name, definition in rows]


def bulk_load(dsn: str, spec: DatasetSpec, progress: Callable[[str], None] = print,
              *, chunk: int = 50_000) -> dict[str, Any]:
    """Load ``spec`` into the migrated, empty database ``dsn``: COPY with the secondary indexes
    dropped, rebuild them, fill the counts tables, VACUUM ANALYZE. Returns timings."""
    started = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    chunks = ctx.Queue(maxsize=4)
    generator = ctx.Process(target=_generate_copy_chunks, args=(spec, chunk, chunks), daemon=True)
    loaded = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        days = {(spec.start + timedelta(days=d)).date() for d in range(spec.days + 1)}
        ensure_partitions(conn, days)
        indexes = _secondary_indexes(conn)
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        generator.start()
        try:
            while (payload := chunks.get(timeout=600)) is not None:
                with conn.cursor() as cur, cur.copy(f"COPY logs ({_COPY_COLUMNS}) FROM STDIN") as copy:
                    copy.write(payload)
                loaded += payload.count(b"\n")
                if loaded % 1_000_000 < chunk:
                    rate = loaded / (time.perf_counter() - started)
                    progress(f"  copied {loaded:,} / {spec.rows:,} rows ({rate:,.0f} rows/s incl. generation)")
        finally:
            generator.join(timeout=10)
            if generator.is_alive():
                generator.kill()
        copied = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        for name, definition in indexes:
            progress(f"  building {name}")
            conn.execute(definition)
        indexed = time.perf_counter()
        with conn.transaction():
            conn.execute("SET LOCAL TIME ZONE 'UTC'")
            conn.execute("INSERT INTO log_counts (minute, service, level, count)"
                         " SELECT date_trunc('minute', ts), service, level, count(*) FROM logs GROUP BY 1, 2, 3")
            conn.execute("INSERT INTO log_counts_15m (bucket, service, level, count)"
                         " SELECT date_bin('15 minutes', minute, TIMESTAMPTZ '1970-01-01 00:00:00+00'), service, level,"
                         " sum(count) FROM log_counts GROUP BY 1, 2, 3")
        conn.execute("VACUUM ANALYZE")
    done = time.perf_counter()
    return {"rows": loaded, "seconds": round(done - started, 1), "copy_s": round(copied - started, 1),
            "index_build_s": round(indexed - copied, 1), "counts_and_vacuum_s": round(done - indexed, 1),
            "load_rows_per_s_incl_generation": round(loaded / (copied - started), 1)}


def _is_complete(dsn: str, name: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (name,)).fetchone()
    return bool(row and row[0] == _COMPLETE)


def _drop_other_datasets(server_dsn: str, keep: str) -> None:
    """Old data sets only waste disk: keep one per size."""
    prefix = keep.split("_s", 1)[0]  # bench_q_r<rows>
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'bench_q_%'")]
    for other in names:
        if other != keep and other.startswith(prefix + "_"):
            drop_database(server_dsn, other)


def bytes_per_record(dsn: str, spec: DatasetSpec) -> dict[str, Any]:
    """On-disk bytes per stored record (logs partitions with indexes and TOAST, plus log_counts and
    client_ids) next to the mean raw JSON size of the same records."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0),"
            "       coalesce(sum(pg_indexes_size(c.oid)), 0)"
            "  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'logs'::regclass"
        ).fetchone()
        extra = conn.execute(
            "SELECT pg_total_relation_size('log_counts') + pg_total_relation_size('client_ids')"
        ).fetchone()
        count = conn.execute("SELECT count(*) FROM logs").fetchone()
    assert row is not None and extra is not None and count is not None
    total, indexes = int(row[0]), int(row[1])
    rows = int(count[0]) or 1
    sample = list(islice(dataset(spec), 20_000))
    raw = raw_json_bytes(sample)
    per_record = (total + int(extra[0])) / rows
    return {
        "rows": rows,
        "bytes_per_record": round(per_record, 1),
        "index_bytes_per_record": round(indexes / rows, 1),
        "raw_json_bytes_per_record": round(raw, 1),
        "disk_over_raw_json": round(per_record / raw, 2) if raw else None,
    }
