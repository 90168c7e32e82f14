"""Histograms and services: the per-minute counts path gives exactly what counting the rows gives."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from logagg.domain import LEVELS, Bucket, LogFilter, LogRecord, TooManyBuckets
from logagg.store.logs import histogram, list_services

from tests.service.store.factories import make_record, store, unique_service, utc

T0 = utc(2026, 11, 23, 6)
EPOCH = utc(1970, 1, 1)


def _expected(records: list[LogRecord], f: LogFilter, interval: timedelta) -> dict[datetime, dict[str, int]]:
    """Oracle: bucket the records in Python."""
    levels = f.effective_levels() or LEVELS
    out: dict[datetime, Counter[str]] = defaultdict(Counter)
    for r in records:
        if f.since and r.ts < f.since or f.until and r.ts >= f.until:
            continue
        if f.services and r.service not in f.services or r.level not in levels:
            continue
        start = EPOCH + ((r.ts - EPOCH) // interval) * interval
        out[start][r.level] += 1
    return {k: dict(v) for k, v in out.items()}


def _nonempty(buckets: list[Bucket]) -> dict[datetime, dict[str, int]]:
    for b in buckets:
        assert b.count == sum(b.levels.values())
    return {b.start: b.levels for b in buckets if b.count}


@pytest.fixture(scope="module")
def dataset(store_dsn: str) -> dict[str, Any]:
    """~3 h of random records for three services, including bursts within single minutes."""
    rng = random.Random(7)
    services = [unique_service("h") for _ in range(3)]
    records = []
    for _ in range(3000):
        ts = T0 + timedelta(microseconds=rng.randrange(3 * 3600 * 10**6))
        records.append(make_record(rng.choice(services), ts, level=rng.choice(LEVELS), message=rng.choice(["alpha", "beta"])))
    with psycopg.connect(store_dsn, autocommit=True) as conn:
        store(conn, records)
    return {"services": services, "records": records}


CASES = [
    # (since offset, until offset, interval) — aligned and unaligned edges, sub-minute interval
    (timedelta(0), timedelta(hours=3), timedelta(minutes=5)),
    (timedelta(minutes=7, seconds=13, microseconds=5), timedelta(hours=2, seconds=59), timedelta(minutes=1)),
    (timedelta(seconds=20), timedelta(seconds=50), timedelta(seconds=10)),
    (timedelta(minutes=30, seconds=30), timedelta(hours=1, minutes=30, seconds=30), timedelta(seconds=90)),
    (timedelta(0), timedelta(hours=3), timedelta(hours=1)),
    # multiples of 15 minutes read whole quarter hours from log_counts_15m, the rest finer
    (timedelta(minutes=7, seconds=13, microseconds=5), timedelta(hours=2, minutes=47, seconds=59), timedelta(minutes=15)),
    (timedelta(minutes=22), timedelta(hours=2, minutes=38), timedelta(minutes=30)),
    (timedelta(minutes=1, seconds=1), timedelta(minutes=14, seconds=59), timedelta(minutes=15)),
    (timedelta(minutes=44, seconds=30), timedelta(hours=1, minutes=16), timedelta(hours=1)),
]


@pytest.mark.parametrize(("since", "until", "interval"), CASES)
def test_counts_path_equals_counting_rows(
    conn: psycopg.Connection[Any], dataset: dict[str, Any], since: timedelta, until: timedelta, interval: timedelta
) -> None:
    services = tuple(dataset["services"])
    for f in (
        LogFilter(services=services, since=T0 + since, until=T0 + until),
        LogFilter(services=services[:2], min_level="warn", since=T0 + since, until=T0 + until),
        LogFilter(services=services[1:], levels=("info", "debug"), since=T0 + since, until=T0 + until),
    ):
        assert not f.needs_raw_rows
        fast = histogram(conn, f, interval=interval)
        assert _nonempty(fast) == _expected(dataset["records"], f, interval)
        # the same filter forced onto the raw path (q matching every record) agrees too
        raw = histogram(conn, replace(f, q="alpha or beta"), interval=interval)
        assert _nonempty(raw) == _nonempty(fast)


def test_time_service_level_histograms_read_the_per_minute_counts(conn: psycopg.Connection[Any]) -> None:
    """Counts that exist only in log_counts show up: the fast path does not scan logs."""
    service = unique_service("counts-only")
    minute = utc(2026, 11, 25, 12, 34)
    conn.execute("INSERT INTO log_counts VALUES (%s, %s, 'error', 42)", (minute, service))
    f = LogFilter(services=(service,), since=minute - timedelta(hours=1), until=minute + timedelta(hours=1))
    assert _nonempty(histogram(conn, f, interval=timedelta(minutes=10))) == {utc(2026, 11, 25, 12, 30): {"error": 42}}
    # 12:34 lies in the partial quarter hour at the edge of [12:34:30, 13:00), read per minute
    edge = LogFilter(since=minute + timedelta(seconds=-30), until=minute + timedelta(minutes=26))
    assert list_services(conn, edge.since, edge.until) == [(service, 42)]  # type: ignore[arg-type]


def test_quarter_hour_intervals_read_the_quarter_hour_counts(conn: psycopg.Connection[Any]) -> None:
    """Counts that exist only in log_counts_15m show up for whole quarter hours (and only then)."""
    service = unique_service("quarter-only")
    quarter = utc(2026, 11, 25, 12, 30)
    conn.execute("INSERT INTO log_counts_15m VALUES (%s, %s, 'warn', 7)", (quarter, service))
    f = LogFilter(services=(service,), since=quarter - timedelta(hours=1), until=quarter + timedelta(hours=1))
    assert _nonempty(histogram(conn, f, interval=timedelta(hours=1))) == {utc(2026, 11, 25, 12): {"warn": 7}}
    assert list_services(conn, f.since, f.until) == [(service, 7)]  # type: ignore[arg-type]
    # a 10-minute interval cannot use quarter hours: it reads per-minute counts, which hold nothing
    assert _nonempty(histogram(conn, f, interval=timedelta(minutes=10))) == {}


def test_bounded_histogram_returns_every_bucket_including_empty_ones(conn: psycopg.Connection[Any], dataset: dict[str, Any]) -> None:
    f = LogFilter(services=tuple(dataset["services"]), since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=4))
    buckets = histogram(conn, f, interval=timedelta(minutes=30))
    assert [b.start for b in buckets] == [T0 - timedelta(hours=1) + i * timedelta(minutes=30) for i in range(10)]
    assert buckets[0].count == 0 and buckets[0].levels == {}
    assert sum(b.count for b in buckets) == len(dataset["records"])


def test_full_text_histogram_counts_only_matching_rows(conn: psycopg.Connection[Any], dataset: dict[str, Any]) -> None:
    f = LogFilter(services=tuple(dataset["services"]), q="alpha", since=T0, until=T0 + timedelta(hours=3))
    total = sum(b.count for b in histogram(conn, f, interval=timedelta(hours=1)))
    assert total == sum(1 for r in dataset["records"] if r.message == "alpha")


def test_too_many_buckets_is_refused(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(TooManyBuckets):
        histogram(conn, LogFilter(since=T0, until=T0 + timedelta(days=30)), interval=timedelta(seconds=1))


def test_list_services_counts_exactly_even_with_unaligned_bounds(conn: psycopg.Connection[Any], dataset: dict[str, Any]) -> None:
    since, until = T0 + timedelta(minutes=10, seconds=30), T0 + timedelta(hours=2, seconds=1)
    got = dict(list_services(conn, since, until))
    expected = Counter(r.service for r in dataset["records"] if since <= r.ts < until)
    assert {s: got.get(s, 0) for s in dataset["services"]} == {s: expected[s] for s in dataset["services"]}


def test_list_services_orders_busiest_first(conn: psycopg.Connection[Any]) -> None:
    quiet, busy = unique_service("quiet"), unique_service("busy")
    ts = utc(2026, 11, 24, 3)
    store(conn, [make_record(quiet, ts)] + [make_record(busy, ts + timedelta(seconds=i)) for i in range(3)])
    services = [s for s, _ in list_services(conn, ts, ts + timedelta(minutes=1)) if s in (quiet, busy)]
    assert services == [busy, quiet]
