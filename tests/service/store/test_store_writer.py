"""COPY insert, deduplication (redelivery and client resend), per-minute counts, daily partitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from logagg.store.partitions import ensure_partitions, list_partitions
from logagg.store.writer import insert_records
from psycopg.adapt import PyFormat
from psycopg.types.json import Jsonb

from tests.service.store.factories import (
    make_record,
    spread_records,
    store,
    unique_service,
    utc,
)


def _rows(conn: psycopg.Connection[Any], service: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT id, ts, level, message FROM logs WHERE service = %s ORDER BY ts, id", (service,)
    ).fetchall()


def _counted(conn: psycopg.Connection[Any], service: str) -> int:
    row = conn.execute(
        "SELECT (SELECT coalesce(sum(count), 0) FROM log_counts WHERE service = %(s)s),"
        "       (SELECT coalesce(sum(count), 0) FROM log_counts_15m WHERE service = %(s)s)", {"s": service}
    ).fetchone()
    assert row is not None and row[0] == row[1], f"per-minute and quarter-hour counts disagree: {row}"
    assert row is not None
    return int(row[0])


def test_copy_insert_stores_every_field(conn: psycopg.Connection[Any]) -> None:
    service = unique_service()
    ts = datetime(2026, 11, 20, 12, 30, 15, 123456, tzinfo=UTC)
    record = make_record(
        service, ts, level="error", message="disk full on /var", attributes={"host": "a", "n": 3, "nested": {"x": [1]}},
        trace_id="abc123",
    )
    assert store(conn, [record]) == 1
    row = conn.execute(
        "SELECT id, ts, level, message, attributes, trace_id, span_id FROM logs WHERE service = %s", (service,)
    ).fetchone()
    assert row == (record.id, ts, "error", "disk full on /var", record.attributes, "abc123", None)


def test_attributes_json_allows_but_orjson_refuses_are_stored(conn: psycopg.Connection[Any]) -> None:
    # Integers beyond 64 bits are valid JSON (and accepted by the API): the fast encoder's refusal
    # must not turn an acknowledged record into a dead letter.
    service = unique_service("bigint")
    attributes = {"big": 2**70, "text": "naïve ✓"}
    record = make_record(service, datetime(2026, 11, 20, 12, tzinfo=UTC), attributes=attributes)
    assert store(conn, [record]) == 1
    row = conn.execute("SELECT attributes FROM logs WHERE service = %s", (service,)).fetchone()
    assert row == (attributes,)


def test_redelivery_of_the_same_batch_adds_no_rows_and_no_counts(conn: psycopg.Connection[Any]) -> None:
    service = unique_service()
    records = spread_records(service, utc(2026, 11, 20, 8), 300, timedelta(seconds=7))
    records.append(make_record(service, utc(2026, 11, 20, 9), record_id="client-key-1", client_id=True))
    assert store(conn, records) == 301
    assert store(conn, records) == 0
    assert len(_rows(conn, service)) == 301
    assert _counted(conn, service) == 301


def _staging_exists(conn: psycopg.Connection[Any]) -> bool:
    """Whether this session ever took the deduplicating path (it creates the temp staging table)."""
    row = conn.execute("SELECT to_regclass('pg_temp.logagg_staging') IS NOT NULL").fetchone()
    return bool(row and row[0])


def test_a_batch_without_client_ids_is_copied_straight_in_and_a_redelivery_deduplicated(store_dsn: str) -> None:
    service = unique_service()
    first = spread_records(service, utc(2026, 11, 20, 15), 100, timedelta(seconds=3))
    new = spread_records(service, utc(2026, 11, 20, 16), 50, timedelta(seconds=3))
    with psycopg.connect(store_dsn, autocommit=True) as session:
        assert store(session, first) == 100
        assert not _staging_exists(session)
        # half of it again (a redelivery) plus new rows: the COPY fails on the key, the batch is
        # deduplicated, and only the new rows are stored and counted
        assert store(session, first[50:] + new) == 50
        assert _staging_exists(session)
        assert len(_rows(session, service)) == 150
        assert _counted(session, service) == 150


def test_the_same_record_twice_in_one_batch_is_stored_once(conn: psycopg.Connection[Any]) -> None:
    service = unique_service()
    record = make_record(service, utc(2026, 11, 20, 17))
    assert store(conn, [record, record]) == 1
    assert _counted(conn, service) == 1


def test_counts_of_the_copy_path_are_per_utc_minute_and_quarter_hour(conn: psycopg.Connection[Any]) -> None:
    service = unique_service()
    nepal = timezone(timedelta(hours=5, minutes=45))
    local = datetime(2026, 11, 20, 10, 7, 59, 999999, tzinfo=nepal)  # 04:22:59.999999 UTC
    assert store(conn, [make_record(service, local), make_record(service, local + timedelta(microseconds=1))]) == 2
    minutes = conn.execute("SELECT minute, count FROM log_counts WHERE service = %s ORDER BY 1", (service,)).fetchall()
    quarters = conn.execute("SELECT bucket, count FROM log_counts_15m WHERE service = %s", (service,)).fetchall()
    assert minutes == [(utc(2026, 11, 20, 4, 22), 1), (utc(2026, 11, 20, 4, 23), 1)]
    assert quarters == [(utc(2026, 11, 20, 4, 15), 2)]


def test_client_resend_with_a_different_timestamp_keeps_the_first_row(conn: psycopg.Connection[Any]) -> None:
    service = unique_service()
    key = f"order-{service}"
    first = make_record(service, utc(2026, 11, 20, 10, 0, 0), message="first", record_id=key, client_id=True)
    resend = make_record(service, utc(2026, 11, 20, 10, 0, 5), message="resend", record_id=key, client_id=True)
    assert store(conn, [first]) == 1
    assert store(conn, [resend]) == 0
    assert _rows(conn, service) == [(key, first.ts, "info", "first")]
    assert _counted(conn, service) == 1


def test_client_resend_inside_one_batch_stores_one_row(conn: psycopg.Connection[Any]) -> None:
    service = unique_service()
    key = f"dup-{service}"
    early = make_record(service, utc(2026, 11, 20, 11, 0, 1), message="a", record_id=key, client_id=True)
    late = make_record(service, utc(2026, 11, 20, 11, 0, 9), message="b", record_id=key, client_id=True)
    assert store(conn, [late, early]) == 1
    assert [r[0] for r in _rows(conn, service)] == [key]
    assert _counted(conn, service) == 1


def test_server_ids_are_deduplicated_only_on_id_and_ts(conn: psycopg.Connection[Any]) -> None:
    """Same server id at another ts is a different row; client ids are never involved."""
    service = unique_service()
    a = make_record(service, utc(2026, 11, 20, 12), record_id=f"srv-{service}")
    b = make_record(service, utc(2026, 11, 20, 12, 1), record_id=f"srv-{service}")
    assert store(conn, [a, b]) == 2


def test_two_calls_in_one_transaction_do_not_reinsert_staged_rows(conn: psycopg.Connection[Any]) -> None:
    service = unique_service()
    first = spread_records(service, utc(2026, 11, 20, 13), 5, timedelta(seconds=1))
    second = spread_records(service, utc(2026, 11, 20, 14), 3, timedelta(seconds=1))
    ensure_partitions(conn, {utc(2026, 11, 20).date()})
    with conn.transaction():
        assert insert_records(conn, first) == 5
        assert insert_records(conn, second) == 3
    assert _counted(conn, service) == 8


def test_partitions_on_both_sides_of_midnight(conn: psycopg.Connection[Any]) -> None:
    service = unique_service()
    before = make_record(service, datetime(2027, 3, 1, 23, 59, 59, 999999, tzinfo=UTC))
    after = make_record(service, datetime(2027, 3, 2, 0, 0, 0, tzinfo=UTC))
    assert store(conn, [before, after]) == 2
    parts = {name: day for name, day in list_partitions(conn)}
    assert "logs_p20270301" in parts and "logs_p20270302" in parts
    located = dict(
        conn.execute(
            "SELECT id, tableoid::regclass::text FROM logs WHERE service = %s", (service,)
        ).fetchall()
    )
    assert located == {before.id: "logs_p20270301", after.id: "logs_p20270302"}


def test_far_apart_days_create_only_their_own_partitions(conn: psycopg.Connection[Any]) -> None:
    service = unique_service()
    days = [utc(2028, 1, 5, 6), utc(2028, 2, 20, 18)]
    assert store(conn, [make_record(service, d) for d in days]) == 2
    names = {name for name, _ in list_partitions(conn)}
    assert {"logs_p20280105", "logs_p20280220"} <= names
    assert not {f"logs_p202801{d:02d}" for d in range(6, 32)} & names


def test_a_row_postgresql_rejects_fails_the_whole_insert(conn: psycopg.Connection[Any]) -> None:
    """A NUL character is valid JSON but not valid PostgreSQL text: nothing of the batch is stored."""
    service = unique_service()
    good = make_record(service, utc(2026, 11, 20, 15))
    bad = make_record(service, utc(2026, 11, 20, 15, 1), message="nul\x00inside")
    with pytest.raises(psycopg.DataError):
        store(conn, [good, bad])
    assert _rows(conn, service) == []
    assert _counted(conn, service) == 0


def test_the_json_dumper_is_registered_once_per_connection(conn: psycopg.Connection[Any]) -> None:
    """Registering it per batch derived a new dumper class each time (memory grew without bound)."""
    service = unique_service()
    store(conn, [make_record(service, utc(2026, 11, 20, 18), attributes={"a": 1})])
    first = conn.adapters.get_dumper(Jsonb, PyFormat.BINARY)
    for i in range(5):
        store(conn, [make_record(service, utc(2026, 11, 20, 18, i + 1), attributes={"a": i})])
    assert conn.adapters.get_dumper(Jsonb, PyFormat.BINARY) is first
    assert _counted(conn, service) == 6


def test_an_autocommit_connection_outside_a_transaction_is_refused(conn: psycopg.Connection[Any]) -> None:
    """Rows and their counts must commit together."""
    service = unique_service()
    ensure_partitions(conn, {utc(2026, 11, 20).date()})
    with pytest.raises(RuntimeError, match="inside a transaction"):
        insert_records(conn, [make_record(service, utc(2026, 11, 20, 19))])
    assert _rows(conn, service) == []


def test_a_connection_without_autocommit_runs_in_its_implicit_transaction(store_dsn: str) -> None:
    service = unique_service()
    with psycopg.connect(store_dsn) as session:
        ensure_partitions(session, {utc(2026, 11, 20).date()})
        session.commit()
        assert insert_records(session, [make_record(service, utc(2026, 11, 20, 19, 30))]) == 1
        session.commit()
        assert _counted(session, service) == 1
