"""Text and attribute search: the measured walk-then-index strategy returns exactly what a plain
ordered query returns, page by page in both orders, whichever path each search takes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from logagg.domain import LogFilter
from logagg.store import logs as store_logs
from logagg.store.logs import search_logs
from psycopg import sql

from tests.service.store.factories import make_record, migrated_database, store, utc

T0 = utc(2026, 11, 22, 8)
ROWS = 1_200


class _Spy:
    """Passes statements through to a real connection and keeps their text."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.statements: list[str] = []

    def execute(self, query: Any, params: Any = None) -> Any:
        self.statements.append(query.as_string(self.conn) if isinstance(query, sql.Composable) else str(query))
        return self.conn.execute(query, params)

    @property
    def walks(self) -> int:
        return sum("row_number()" in s for s in self.statements)

    @property
    def index_queries(self) -> int:
        return len(self.statements) - self.walks


@pytest.fixture(scope="module")
def corpus_conn(pg_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A database of its own: 1 200 records over 2 hours; record i is older than record i + 1.

    - "common" is in half of all records; "cache miss" (a phrase) in a tenth;
    - "fading" is frequent in the oldest third and absent from the newest two thirds;
    - "zebra" is in three old records; attribute tier=gold in every 25th record.
    """
    rng = random.Random(7)
    records = []
    for i in range(ROWS):
        words = [rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(4)]
        if i % 2 == 0:
            words.append("common")
        if i % 10 == 3:
            words += ["cache", "miss"]
        elif i % 10 == 7:
            words += ["miss", "cache"]  # same words, not the phrase
        if i < ROWS // 3 and i % 3 == 0:
            words.append("fading")
        if i in (15, 140, 301):
            words.append("zebra")
        records.append(make_record("search-svc", T0 + timedelta(seconds=6 * i), message=" ".join(words),
                                   attributes={"tier": "gold" if i % 25 == 0 else "silver", "i": i}))
    for dsn in migrated_database(pg_dsn, "content"):
        with psycopg.connect(dsn, autocommit=True) as conn:
            store(conn, records)
            conn.execute("ANALYZE logs")
            yield conn


@pytest.fixture(autouse=True)
def _small_walks(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same decisions as production, on a corpus a thousand times smaller.
    monkeypatch.setattr(store_logs, "FIRST_WALK_ROWS", 20)
    monkeypatch.setattr(store_logs, "MAX_WALK_ROWS", 200)


def _reference(conn: psycopg.Connection[Any], f: LogFilter, order: str) -> list[str]:
    where = store_logs._where(f)
    d = sql.SQL(order.upper())
    query = sql.SQL("SELECT id FROM logs WHERE {} ORDER BY ts {d}, id {d}").format(where, d=d)
    return [r[0] for r in conn.execute(query).fetchall()]


def _all_pages(conn: Any, f: LogFilter, order: str, limit: int) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = search_logs(conn, f, limit=limit, order=order, cursor=cursor)  # type: ignore[arg-type]
        ids += [r.id for r in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


FILTERS = {
    "frequent word": LogFilter(q="common"),
    "phrase": LogFilter(q='"cache miss"'),
    "frequent only long ago": LogFilter(q="fading"),
    "rare word": LogFilter(q="zebra"),
    "absent word": LogFilter(q="nowhere"),
    "attribute": LogFilter(attrs=(("tier", "gold"),)),
    "word and attribute": LogFilter(q="common", attrs=(("tier", "gold"),)),
}


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_pages_equal_a_plain_ordered_query(corpus_conn: psycopg.Connection[Any], name: str, order: str) -> None:
    f = LogFilter(since=T0, until=T0 + timedelta(hours=3), q=FILTERS[name].q, attrs=FILTERS[name].attrs)
    expected = _reference(corpus_conn, f, order)
    for limit in (1, 7, 100):
        assert _all_pages(corpus_conn, f, order, limit) == expected, f"limit {limit}"


def test_a_frequent_word_is_found_by_the_first_walk_alone(corpus_conn: psycopg.Connection[Any]) -> None:
    spy = _Spy(corpus_conn)
    page = search_logs(spy, LogFilter(since=T0, until=T0 + timedelta(hours=3), q="common"), limit=5)  # type: ignore[arg-type]
    assert len(page.items) == 5 and page.next_cursor is not None
    assert (spy.walks, spy.index_queries) == (1, 0)


def test_a_moderately_rare_match_extends_the_walk(corpus_conn: psycopg.Connection[Any]) -> None:
    # "cache miss" is in 1 of 10 rows: 20 rows read hold ~2 of the 11 needed, so the walk goes on.
    spy = _Spy(corpus_conn)
    page = search_logs(spy, LogFilter(since=T0, until=T0 + timedelta(hours=3), q='"cache miss"'), limit=10)  # type: ignore[arg-type]
    assert len(page.items) == 10
    assert spy.walks == 2 and spy.index_queries == 0


def test_a_match_rare_in_recent_rows_goes_to_the_index(corpus_conn: psycopg.Connection[Any]) -> None:
    spy = _Spy(corpus_conn)
    page = search_logs(spy, LogFilter(since=T0, until=T0 + timedelta(hours=3), q="zebra"), limit=10)  # type: ignore[arg-type]
    assert len(page.items) == 3
    assert spy.walks == 1 and spy.index_queries == 1


def test_a_short_window_is_exhausted_by_the_walk(corpus_conn: psycopg.Connection[Any]) -> None:
    # 10 rows in the window, fewer than the first walk reads: no second statement.
    spy = _Spy(corpus_conn)
    f = LogFilter(since=T0, until=T0 + timedelta(seconds=60), q="zebra")
    assert search_logs(spy, f, limit=10).items == []  # type: ignore[arg-type]
    assert (spy.walks, spy.index_queries) == (1, 0)


def test_nul_in_an_attribute_value_matches_nothing(corpus_conn: psycopg.Connection[Any]) -> None:
    f = LogFilter(since=T0, until=T0 + timedelta(hours=3), attrs=(("tier", "go\x00ld"),))
    assert search_logs(corpus_conn, f, limit=10).items == []
