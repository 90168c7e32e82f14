"""search_logs: every filter, odd full-text input, keyset pagination in both orders under concurrent inserts."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from logagg.domain import InvalidCursor, LogFilter, LogRecord
from logagg.store.cursor import encode_cursor
from logagg.store.logs import histogram, search_logs

from tests.service.store.factories import make_record, store, unique_service, utc

T0 = utc(2026, 11, 21, 10)


@pytest.fixture
def corpus(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """A small, varied data set under two unique service names."""
    api, worker = unique_service("api"), unique_service("worker")
    records = {
        "a": make_record(api, T0, level="debug", message="connection reset by peer"),
        "b": make_record(api, T0 + timedelta(minutes=1), level="info", message="user login ok",
                         attributes={"user": "alice", "http": {"status": 200}}),
        "c": make_record(api, T0 + timedelta(minutes=2), level="warn", message="slow query took 900 ms",
                         attributes={"user": "bob", "http": {"status": 500}}, trace_id="trace-1"),
        "d": make_record(worker, T0 + timedelta(minutes=3), level="error", message="query failed: peer reset connection",
                         attributes={"user": "alice", "retry": True}, trace_id="trace-1"),
        "e": make_record(worker, T0 + timedelta(minutes=4), level="fatal", message="out of memory",
                         attributes={"status": "500"}),
    }
    store(conn, list(records.values()))
    return {"api": api, "worker": worker, "records": records}


def _ids(conn: psycopg.Connection[Any], corpus: dict[str, Any], **filters: Any) -> set[str]:
    base = {"services": (corpus["api"], corpus["worker"])}
    base.update(filters)
    page = search_logs(conn, LogFilter(**base), limit=100)
    by_id = {r.id: key for key, r in corpus["records"].items()}
    return {by_id[r.id] for r in page.items}


def test_service_filter(conn: psycopg.Connection[Any], corpus: dict[str, Any]) -> None:
    assert _ids(conn, corpus, services=(corpus["worker"],)) == {"d", "e"}
    assert _ids(conn, corpus) == {"a", "b", "c", "d", "e"}


def test_level_and_min_level_filters(conn: psycopg.Connection[Any], corpus: dict[str, Any]) -> None:
    assert _ids(conn, corpus, levels=("info", "fatal")) == {"b", "e"}
    assert _ids(conn, corpus, min_level="warn") == {"c", "d", "e"}
    assert _ids(conn, corpus, levels=("debug", "error"), min_level="warn") == {"d"}


def test_full_text_words_match_in_any_order(conn: psycopg.Connection[Any], corpus: dict[str, Any]) -> None:
    assert _ids(conn, corpus, q="reset connection") == {"a", "d"}
    assert _ids(conn, corpus, q="QUERY") == {"c", "d"}


def test_full_text_quoted_phrase_needs_adjacent_words(conn: psycopg.Connection[Any], corpus: dict[str, Any]) -> None:
    assert _ids(conn, corpus, q='"connection reset"') == {"a"}
    assert _ids(conn, corpus, q='"reset connection"') == {"d"}
    assert _ids(conn, corpus, q='"slow query" 900') == {"c"}


@pytest.mark.parametrize("q", ['"unbalanced', "a & | ! b", "-", '""', "'", "(((", "peer:*", "\\", "%_", "NULL"])
def test_odd_full_text_input_never_raises(conn: psycopg.Connection[Any], corpus: dict[str, Any], q: str) -> None:
    _ids(conn, corpus, q=q)


def test_nul_characters_in_filters_match_nothing_instead_of_failing(
    conn: psycopg.Connection[Any], corpus: dict[str, Any]
) -> None:
    assert _ids(conn, corpus, q="peer\x00reset") == {"a", "d"}
    assert _ids(conn, corpus, attrs=(("user\x00", "alice"),)) == set()
    assert _ids(conn, corpus, trace_id="trace\x00") == set()
    assert search_logs(conn, LogFilter(services=("a\x00",)), limit=5).items == []
    # the histogram and services paths read log_counts through the same filter
    day = LogFilter(services=("a\x00",), since=utc(2026, 11, 20), until=utc(2026, 11, 21))
    assert all(b.count == 0 for b in histogram(conn, day, interval=timedelta(hours=1)))


def test_since_is_inclusive_and_until_exclusive(conn: psycopg.Connection[Any], corpus: dict[str, Any]) -> None:
    assert _ids(conn, corpus, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)) == {"b", "c"}


def test_attribute_filters(conn: psycopg.Connection[Any], corpus: dict[str, Any]) -> None:
    assert _ids(conn, corpus, attrs=(("user", "alice"),)) == {"b", "d"}
    assert _ids(conn, corpus, attrs=(("user", "alice"), ("retry", "true"))) == {"d"}
    # numbers match their text form; a dotted key reaches into nested objects
    assert _ids(conn, corpus, attrs=(("http.status", "500"),)) == {"c"}
    assert _ids(conn, corpus, attrs=(("status", "500"),)) == {"e"}
    assert _ids(conn, corpus, attrs=(("user", "nobody"),)) == set()


def test_trace_id_filter(conn: psycopg.Connection[Any], corpus: dict[str, Any]) -> None:
    assert _ids(conn, corpus, trace_id="trace-1") == {"c", "d"}


def test_results_carry_every_field(conn: psycopg.Connection[Any], corpus: dict[str, Any]) -> None:
    page = search_logs(conn, LogFilter(services=(corpus["api"],), trace_id="trace-1"), limit=10)
    assert page.items == [corpus["records"]["c"]] and page.next_cursor is None


def _page_through(conn: psycopg.Connection[Any], f: LogFilter, order: str, limit: int) -> list[LogRecord]:
    seen: list[LogRecord] = []
    cursor = None
    while True:
        page = search_logs(conn, f, limit=limit, order=order, cursor=cursor)  # type: ignore[arg-type]
        seen.extend(page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_pagination_has_no_duplicates_or_gaps_while_ingesting(
    conn: psycopg.Connection[Any], store_dsn: str, order: str
) -> None:
    service = unique_service("page")
    base = utc(2026, 11, 22, 9)
    # many rows share a timestamp, so the id tie-breaker matters
    original = [make_record(service, base + timedelta(seconds=i // 4)) for i in range(203)]
    store(conn, original)
    stop = threading.Event()
    concurrent: list[LogRecord] = []

    def ingest() -> None:
        with psycopg.connect(store_dsn, autocommit=True) as other:
            n = 0
            while not stop.is_set():
                # newer than everything: invisible to a desc walk, appended to an asc walk
                batch = [make_record(service, base + timedelta(hours=1, seconds=n + k)) for k in range(5)]
                store(other, batch)
                concurrent.extend(batch)
                n += 5

    writer = threading.Thread(target=ingest)
    writer.start()
    try:
        seen = _page_through(conn, LogFilter(services=(service,)), order, limit=9)
    finally:
        stop.set()
        writer.join()
    keys = [(r.ts, r.id) for r in seen]
    assert len(keys) == len(set(keys)), "a record appeared on two pages"
    assert keys == sorted(keys, reverse=(order == "desc"))
    seen_ids = {r.id for r in seen}
    assert {r.id for r in original} <= seen_ids, "a record was skipped"
    assert seen_ids <= {r.id for r in original} | {r.id for r in concurrent}


def test_a_cursor_keeps_the_window_of_the_first_page(conn: psycopg.Connection[Any]) -> None:
    """A relative range ("last hour") resolves later on every request; the walk must not lose its tail."""
    service = unique_service("window")
    base = utc(2026, 11, 22, 12)
    records = [make_record(service, base + timedelta(minutes=i)) for i in range(10)]
    store(conn, records)
    first = search_logs(
        conn, LogFilter(services=(service,), since=base, until=base + timedelta(minutes=10)), limit=4
    )
    assert first.next_cursor is not None
    # the next request's window has moved 5 minutes on
    moved = LogFilter(services=(service,), since=base + timedelta(minutes=5), until=base + timedelta(minutes=15))
    rest = _page_through_from(conn, moved, first.next_cursor)
    assert [r.id for r in first.items + rest] == [r.id for r in reversed(records)]


def _page_through_from(conn: psycopg.Connection[Any], f: LogFilter, cursor: str) -> list[LogRecord]:
    seen: list[LogRecord] = []
    next_cursor: str | None = cursor
    while next_cursor is not None:
        page = search_logs(conn, f, limit=4, cursor=next_cursor)
        seen.extend(page.items)
        next_cursor = page.next_cursor
    return seen


def test_cursor_for_another_order_is_rejected(conn: psycopg.Connection[Any], corpus: dict[str, Any]) -> None:
    page = search_logs(conn, LogFilter(services=(corpus["api"],)), limit=1, order="desc")
    assert page.next_cursor is not None
    with pytest.raises(InvalidCursor, match="order"):
        search_logs(conn, LogFilter(services=(corpus["api"],)), limit=1, order="asc", cursor=page.next_cursor)


@pytest.mark.parametrize("cursor", ["", "not-base64!!", "eyJ2IjoxfQ", "bnVsbA", "x" * 3000,
                                    encode_cursor("desc", T0, "id")[:-3],
                                    # forged ids PostgreSQL text cannot hold (they used to reach the driver: 500)
                                    encode_cursor("desc", T0, "a\x00b"), encode_cursor("desc", T0, "a\ud800")])
def test_malformed_cursors_raise_invalid_cursor(conn: psycopg.Connection[Any], cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        search_logs(conn, LogFilter(), limit=1, cursor=cursor)
