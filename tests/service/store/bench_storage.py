"""Storage micro-benchmark: raw COPY into ``logs`` vs the consumer's write path, and histogram latency.

Run: ``python -m tests.service.store.bench_storage DSN [--rows 200000] [--batch 5000]`` against a
migrated, otherwise idle database. Prints rows/s; not part of the test suite (no timing assertions).
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from logagg.domain import LEVELS, LogFilter, LogRecord
from logagg.store.logs import histogram
from logagg.store.partitions import ensure_partitions, partition_day
from logagg.store.writer import insert_records

_WORDS = ["connection", "reset", "timeout", "user", "login", "request", "failed", "retry", "cache", "miss", "disk", "queue", "worker", "order", "payment"]


_RAW_COPY = "COPY logs (ts, id, service, level, message, attributes, trace_id, span_id) FROM STDIN (FORMAT BINARY)"


def realistic_records(n: int, start: datetime, rng: random.Random) -> list[LogRecord]:
    """Records shaped like production logs: ~100-char messages, a few attributes, some trace ids."""
    out = []
    for i in range(n):
        out.append(
            LogRecord(
                id=uuid.uuid4().hex,
                ts=start + timedelta(milliseconds=i * 7),
                service=f"service-{rng.randrange(20)}",
                level=rng.choices(LEVELS, weights=(1, 5, 60, 20, 12, 2))[0],
                message=" ".join(rng.choice(_WORDS) for _ in range(12)) + f" id={rng.randrange(10**6)}",
                attributes={"host": f"node-{rng.randrange(50)}", "status": rng.choice([200, 404, 500]),
                            "path": f"/api/v1/items/{rng.randrange(1000)}"},
                trace_id=uuid.uuid4().hex if rng.random() < 0.3 else None,
                client_id=rng.random() < 0.2,
            )
        )
    return out


def raw_copy(conn: psycopg.Connection[Any], records: list[LogRecord], batch: int) -> float:
    """COPY straight into logs, one transaction per batch; returns rows/s."""
    began = time.perf_counter()
    for i in range(0, len(records), batch):
        with conn.transaction(), conn.cursor() as cur, cur.copy(_RAW_COPY) as copy:
            copy.set_types(["timestamptz", "text", "text", "text", "text", "jsonb", "text", "text"])
            for r in records[i : i + batch]:
                copy.write_row((r.ts, r.id, r.service, r.level, r.message, r.attributes, r.trace_id, r.span_id))
    return len(records) / (time.perf_counter() - began)


def write_path(conn: psycopg.Connection[Any], records: list[LogRecord], batch: int) -> float:
    """The consumer's write path (staging COPY, dedup, per-minute counts); returns rows/s."""
    began = time.perf_counter()
    for i in range(0, len(records), batch):
        with conn.transaction():
            insert_records(conn, records[i : i + batch])
    return len(records) / (time.perf_counter() - began)


def main() -> None:
    """Run both write measurements and a 24 h histogram on whatever the database holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dsn")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    rng = random.Random(1)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        for label, fn in (("raw COPY into logs", raw_copy), ("consumer write path", write_path)):
            records = realistic_records(args.rows, start, rng)
            ensure_partitions(conn, {partition_day(r.ts) for r in records})
            print(f"{label:22} {fn(conn, records, args.batch):>10,.0f} rows/s ({args.rows:,} rows, batches of {args.batch})")
        now = datetime.now(UTC)
        f = LogFilter(since=now - timedelta(hours=24), until=now)
        for _ in range(3):
            began = time.perf_counter()
            histogram(conn, f, interval=timedelta(minutes=15))
            took = (time.perf_counter() - began) * 1000
        print(f"24 h histogram, all services, 15 min buckets: {took:.1f} ms")


if __name__ == "__main__":
    main()
