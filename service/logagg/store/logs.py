"""Read side of the ``logs`` store: search with keyset pagination, histograms, services, ping.

Query strategy:
- search: the filter becomes a WHERE clause; ``ORDER BY ts, id`` (both directions) walks the
  primary key (ts, id) and stops after ``limit + 1`` rows; ``since``/``until`` prune partitions.
  With a service filter (and no text/attribute/trace filter) each (service, level) pair reads its
  own ordered range of the (service, level, ts, id) index and the results are merged, so a rare
  combination costs as little as a frequent one. Full text uses ``websearch_to_tsquery('simple', q)``,
  which accepts any input (unbalanced quotes, stray operators) without raising, so user text
  never causes a 500.
- content search (``q`` or ``attr.*``): the planner has to choose between walking the time order
  and checking every row (cheap when matches are frequent) and the GIN index plus a sort (cheap
  when they are rare), and it guesses the frequency, badly for phrases: ``"cache miss"`` was
  estimated at 0.2 % of a day's rows, really 3 %, and the GIN plan took 450 ms at 10 M rows where
  the walk takes 10 ms. So the search measures instead of guessing (``_content_search``): it walks
  a bounded number of the newest rows in order, and from the matches found there predicts both how
  far the walk must go and how many matches the index would fetch; the cheaper one runs. At 10 M
  rows the slowest of the benchmark's text searches went from 470 ms to about 100 ms.
- histogram / services: when the filter uses only time, service and level, whole quarter hours
  are summed from ``log_counts_15m`` (when the interval is a multiple of 15 minutes), the partial
  quarter hours from ``log_counts`` (per minute), and only the partial minutes at the range edges
  are counted from ``logs``; both tables are maintained by the writer in the insert transaction,
  so the answer equals counting ``logs`` directly. Filters on ``q``, ``attrs`` or ``trace_id``
  aggregate ``logs``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import Connection, sql

from logagg.domain import (
    LEVELS,
    Bucket,
    LogFilter,
    LogRecord,
    Order,
    Page,
    TooManyBuckets,
    bucket_count,
)
from logagg.store.cursor import decode_cursor, encode_cursor

#: Above this many (service, level) pairs a search is one plain query instead of merged ranges.
MAX_MERGED_RANGES = 60
#: Content search (``_content_search``): rows the first walk reads, and the longest walk taken.
FIRST_WALK_ROWS = 2_000
MAX_WALK_ROWS = 50_000
#: Cost in µs per row, measured on the 10 M-row benchmark data set: reading a row in time order
#: and matching its text (to_tsvector is computed per row) or only its attributes (jsonb @>), and
#: fetching a match found through a GIN index (random heap access plus recheck).
WALK_US_TEXT = 4.0
WALK_US_ATTRS = 1.5
INDEX_US_PER_MATCH = 8.0
#: Upper bound on histogram buckets; the API picks intervals well below it.
MAX_BUCKETS = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)
_COLUMNS = sql.SQL("id, ts, service, level, message, attributes, trace_id, span_id")


def ping(conn: Connection[Any]) -> None:
    """Round trip to PostgreSQL; raises when it is unreachable."""
    conn.execute("SELECT 1").fetchone()


def _attr_documents(key: str, value: str) -> list[str]:
    """JSON documents for ``attributes @> doc`` that make ``attr.key=value`` match.

    The value matches as a string and, when it parses as a JSON scalar (``500``, ``true``), as that
    scalar too; a dotted key also matches the nested path (``http.status`` → {"http": {"status": ..}}).
    """
    values: list[Any] = [value]
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if parsed != value and not isinstance(parsed, (dict, list)):
        values.append(parsed)
    paths = [[key]]
    if "." in key.strip("."):
        paths.append([part for part in key.split(".") if part])
    docs = []
    for path in paths:
        for val in values:
            doc: Any = val
            for part in reversed(path):
                doc = {part: doc}
            docs.append(json.dumps(doc))
    return docs


def _common_parts(
    f: LogFilter, column: str, since: datetime | None, until: datetime | None
) -> list[sql.Composable] | None:
    """Time range on ``column`` plus the service and level filters, shared by ``logs`` and
    ``log_counts``; None when nothing stored can match."""
    if _has_nul(f):
        # PostgreSQL text cannot hold NUL, so nothing stored can equal such a value (and sending
        # it would be a driver error, i.e. a 500 for user input).
        return None
    parts: list[sql.Composable] = [sql.SQL("TRUE")]
    if since is not None:
        parts.append(sql.SQL("{} >= {}").format(sql.Identifier(column), sql.Literal(since)))
    if until is not None:
        parts.append(sql.SQL("{} < {}").format(sql.Identifier(column), sql.Literal(until)))
    if f.services:
        parts.append(_any("service", f.services))
    levels = f.effective_levels()
    if levels:
        parts.append(_any("level", levels))
    return parts


def _where(f: LogFilter, *, since: datetime | None = None, until: datetime | None = None) -> sql.Composable:
    """The WHERE clause for ``f`` (time bounds overridable), with literals bound safely."""
    parts = _common_parts(
        f, "ts", since if since is not None else f.since, until if until is not None else f.until
    )
    if parts is None:
        return sql.SQL("FALSE")
    parts += _content_parts(f)
    if f.trace_id:
        parts.append(sql.SQL("trace_id = {}").format(sql.Literal(f.trace_id)))
    return sql.SQL(" AND ").join(parts)


def _content_parts(f: LogFilter) -> list[sql.Composable]:
    """The full-text and attribute conditions of ``f`` (the ones only a GIN index can find)."""
    parts: list[sql.Composable] = []
    if f.q and f.q.strip():
        parts.append(
            sql.SQL("to_tsvector('simple', message) @@ websearch_to_tsquery('simple', {})").format(
                sql.Literal(f.q.replace("\x00", " "))
            )
        )
    for key, value in f.attrs:
        docs = [sql.SQL("attributes @> {}::jsonb").format(sql.Literal(d)) for d in _attr_documents(key, value)]
        parts.append(sql.SQL("({})").format(sql.SQL(" OR ").join(docs)))
    return parts


def _any(column: str, values: tuple[str, ...]) -> sql.Composable:
    """``column = value`` for one value (a btree range that keeps index order), else ``= ANY``."""
    if len(values) == 1:
        return sql.SQL("{} = {}").format(sql.Identifier(column), sql.Literal(values[0]))
    return sql.SQL("{} = ANY({}::text[])").format(sql.Identifier(column), sql.Literal(list(values)))


def _has_nul(f: LogFilter) -> bool:
    values = [*f.services, *(v for pair in f.attrs for v in pair), f.trace_id or ""]
    return any("\x00" in v for v in values)


def _row_to_record(row: tuple[Any, ...]) -> LogRecord:
    rid, ts, service, level, message, attributes, trace_id, span_id = row
    return LogRecord(
        id=rid,
        ts=ts.astimezone(UTC),
        service=service,
        level=level,
        message=message,
        attributes=attributes,
        trace_id=trace_id,
        span_id=span_id,
    )


def search_logs(
    conn: Connection[Any],
    f: LogFilter,
    *,
    limit: int,
    order: Order = "desc",
    cursor: str | None = None,
) -> Page:
    """One page of matching records ordered by (ts, id); raises ``InvalidCursor`` for a bad cursor.

    With a cursor, ``f.since``/``f.until`` are replaced by the window pinned in the cursor.
    """
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    after: sql.Composable = sql.SQL("TRUE")
    if cursor is not None:
        pos = decode_cursor(cursor, order)
        # The walk keeps the window of its first page (see logagg.store.cursor).
        f = replace(f, since=pos.since, until=pos.until)
        op = sql.SQL("<" if order == "desc" else ">")
        # Row comparison matches the (ts, id) ordering exactly, so pages neither overlap nor skip.
        after = sql.SQL("(ts, id) {} ({}, {})").format(op, sql.Literal(pos.ts), sql.Literal(pos.id))
    direction = sql.SQL("DESC" if order == "desc" else "ASC")
    levels = f.effective_levels() or LEVELS
    if f.services and not f.needs_raw_rows and len(f.services) * len(levels) <= MAX_MERGED_RANGES:
        # One ordered range of the (service, level, ts, id) index per pair, each stopping after
        # limit + 1 rows, merged: bounded work however rare the combination (see migration 0004).
        parts = [
            sql.SQL("(SELECT {} FROM logs WHERE {} AND {} ORDER BY ts {d}, id {d} LIMIT {})").format(
                _COLUMNS,
                _where(replace(f, services=(service,), levels=(level,), min_level=None)),
                after,
                sql.Literal(limit + 1),
                d=direction,
            )
            for service in f.services
            for level in levels
        ]
        source: sql.Composable = sql.SQL("({}) AS pairs").format(sql.SQL(" UNION ALL ").join(parts))
        where: sql.Composable = sql.SQL("TRUE")
    elif _content_parts(f) and not f.trace_id:
        return _page(_content_search(conn, f, after, order, limit + 1), f, order, limit)
    else:
        source = sql.SQL("logs")
        where = sql.SQL("{} AND {}").format(_where(f), after)
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY ts {d}, id {d} LIMIT {}").format(
        _COLUMNS, source, where, sql.Literal(limit + 1), d=direction
    )
    return _page(conn.execute(query).fetchall(), f, order, limit)


def _page(rows: list[tuple[Any, ...]], f: LogFilter, order: Order, limit: int) -> Page:
    """The first ``limit`` of ``rows`` (up to limit + 1, in order) as a page with its cursor."""
    items = [_row_to_record(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(order, last.ts, last.id, since=f.since, until=f.until)
    return Page(items=items, next_cursor=next_cursor)


def _content_search(
    conn: Connection[Any], f: LogFilter, after: sql.Composable, order: Order, need: int
) -> list[tuple[Any, ...]]:
    """The first ``need`` rows of a text/attribute search in (ts, id) order (see the module doc).

    A walk is one statement that reads up to ``walk`` rows of the time order (no content condition
    inside, so no plan but the ordered index scan is possible) and returns the matching rows plus
    the first and last rows read; it stops early once enough rows matched. From the matches per
    row read and the rows per second of the walk, the next step compares the cost of walking on
    until ``need`` matches are found with the cost of fetching every match left in the window
    through the index, and takes the cheaper.
    """
    if _has_nul(f):
        return []  # nothing stored can match (see _common_parts)
    desc = order == "desc"
    direction, op = sql.SQL("DESC" if desc else "ASC"), sql.SQL("<" if desc else ">")
    content = sql.SQL(" AND ").join(_content_parts(f))
    base = _where(replace(f, q=None, attrs=()))
    rows: list[tuple[Any, ...]] = []
    read, first_ts = 0, None
    walk = FIRST_WALK_ROWS
    while True:
        statement = sql.SQL(
            "SELECT {cols}, hit, n FROM ("
            " SELECT {cols}, {content} AS hit, row_number() OVER (ORDER BY ts {d}, id {d}) AS n"
            " FROM (SELECT {cols} FROM logs WHERE {base} AND {after} ORDER BY ts {d}, id {d} LIMIT {walk}) AS w"
            ") AS s WHERE hit OR n IN (1, {walk}) ORDER BY ts {d}, id {d} LIMIT {enough}"
        ).format(cols=_COLUMNS, content=content, base=base, after=after, d=direction, walk=sql.Literal(walk),
                 enough=sql.Literal(need - len(rows) + 2))  # stops reading once enough rows matched
        found = conn.execute(statement).fetchall()
        rows += [r[:-2] for r in found if r[-2]][: need - len(rows)]
        if len(rows) >= need or not found or found[-1][-1] != walk:  # enough, or the window is exhausted
            return rows
        read += walk
        first_ts = first_ts or found[0][1]
        last_id, last_ts = found[-1][0], found[-1][1]
        after = sql.SQL("(ts, id) {} ({}, {})").format(op, sql.Literal(last_ts), sql.Literal(last_id))
        to_walk = (need - len(rows)) * read / len(rows) if rows else float("inf")
        walk_us = WALK_US_TEXT if f.q and f.q.strip() else WALK_US_ATTRS
        index_us = INDEX_US_PER_MATCH * _matches_left(f, desc, read, len(rows), first_ts, last_ts)
        if to_walk > MAX_WALK_ROWS or to_walk * walk_us > index_us:
            break
        walk = min(MAX_WALK_ROWS, max(FIRST_WALK_ROWS, int(to_walk * 3)))  # free: it stops when done
    # Every match left, then the first ones: OFFSET 0 keeps the planner from turning this back into
    # an ordered walk (which it would pick whenever it guesses the match frequent).
    query = sql.SQL(
        "SELECT * FROM (SELECT {} FROM logs WHERE {} AND {} OFFSET 0) AS m ORDER BY ts {d}, id {d} LIMIT {}"
    ).format(_COLUMNS, _where(f), after, sql.Literal(need - len(rows)), d=direction)
    return rows + conn.execute(query).fetchall()


def _matches_left(f: LogFilter, desc: bool, read: int, matched: int, first: datetime, last: datetime) -> float:
    """Expected matches in the rest of the window, at the density and match rate of the rows read
    (``first`` and ``last`` are the timestamps of the first and last row read); inf if unbounded."""
    end = f.since if desc else f.until
    if end is None:
        return float("inf")
    covered = abs((first - last).total_seconds())
    left = abs((last - end).total_seconds())
    rows_left = read * left / covered if covered > 0 else float("inf")
    return rows_left * matched / read


def _floor(ts: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((ts - _EPOCH) // step) * step


def _ceil(ts: datetime, step: timedelta) -> datetime:
    floor = _floor(ts, step)
    return floor if floor == ts else floor + step


@dataclass(frozen=True)
class _CountsTable:
    """A table of per-``step`` counts keyed by ``column`` (the step's start), service and level."""

    name: str
    column: str
    step: timedelta


#: Coarsest first; ``logs`` itself answers what no counts table covers (partial minutes).
_COUNTS_TABLES = (
    _CountsTable("log_counts_15m", "bucket", timedelta(minutes=15)),
    _CountsTable("log_counts", "minute", _MINUTE),
)
_Range = tuple[datetime | None, datetime | None]


def _split(
    since: datetime | None, until: datetime | None, tables: tuple[_CountsTable, ...]
) -> list[tuple[_CountsTable | None, datetime | None, datetime | None]]:
    """Cover [since, until) with whole steps of the coarsest table that fits, the edges with finer
    tables, and what is left (partial minutes) with ``logs`` (table None)."""
    if since is not None and until is not None and since >= until:
        return []
    if not tables:
        return [(None, since, until)]
    table, finer = tables[0], tables[1:]
    lo = _ceil(since, table.step) if since is not None else None
    hi = _floor(until, table.step) if until is not None else None
    if lo is not None and hi is not None and lo >= hi:
        return _split(since, until, finer)
    edges: list[_Range] = []
    if since is not None and lo != since:
        edges.append((since, lo))
    if until is not None and hi != until:
        edges.append((hi, until))
    return [(table, lo, hi)] + [part for a, b in edges for part in _split(a, b, finer)]


def _counts_where(f: LogFilter, table: _CountsTable, lo: datetime | None, hi: datetime | None) -> sql.Composable:
    parts = _common_parts(f, table.column, lo, hi)
    return sql.SQL("FALSE") if parts is None else sql.SQL(" AND ").join(parts)


def _grouped_counts(
    conn: Connection[Any],
    f: LogFilter,
    key: Callable[[str], sql.Composable],
    *,
    granularity: timedelta | None = None,
) -> Iterable[tuple[Any, str, int]]:
    """(key, level, count) rows for ``f``, from the counts tables where they can answer, else from
    logs. ``key(column)`` groups by an expression of the time column (or not); a counts table is
    used only when ``granularity`` (the histogram interval) is a multiple of its step."""
    tables = () if f.needs_raw_rows else tuple(
        t for t in _COUNTS_TABLES if granularity is None or not granularity % t.step
    )
    sources: list[sql.Composable] = []
    for table, lo, hi in _split(f.since, f.until, tables):
        if table is None:
            source = sql.SQL("SELECT {} AS k, level, count(*) AS n FROM logs WHERE {} GROUP BY 1, 2").format(
                key("ts"), _where(f, since=lo, until=hi)
            )
        else:
            source = sql.SQL("SELECT {} AS k, level, sum(count) AS n FROM {} WHERE {} GROUP BY 1, 2").format(
                key(table.column), sql.Identifier(table.name), _counts_where(f, table, lo, hi)
            )
        sources.append(source)
    if not sources:
        return []
    query = sql.SQL("SELECT k, level, sum(n)::bigint FROM ({}) AS s GROUP BY 1, 2").format(
        sql.SQL(" UNION ALL ").join(sources)
    )
    return conn.execute(query).fetchall()


def histogram(conn: Connection[Any], f: LogFilter, *, interval: timedelta) -> list[Bucket]:
    """Counts per epoch-aligned ``interval`` bucket with a per-level breakdown.

    With both ``since`` and ``until`` set, every bucket in the range is returned (zeros included);
    otherwise only non-empty buckets. Raises ``TooManyBuckets`` past ``MAX_BUCKETS``.
    """
    if interval <= timedelta(0):
        raise ValueError("interval must be positive")
    bounded = f.since is not None and f.until is not None
    if bounded and bucket_count(f.since, f.until, interval) > MAX_BUCKETS:  # type: ignore[arg-type]
        raise TooManyBuckets(f"interval {interval} gives more than {MAX_BUCKETS} buckets for the range")
    iv, origin = sql.Literal(interval), sql.Literal(_EPOCH)

    def bucket_of(column: str) -> sql.Composable:
        return sql.SQL("date_bin({}, {}, {})").format(iv, sql.Identifier(column), origin)

    per_bucket: dict[datetime, dict[str, int]] = defaultdict(dict)
    # A counts table answers exactly only when every bucket is made of whole steps of it.
    for start, level, n in _grouped_counts(conn, f, bucket_of, granularity=interval):
        per_bucket[start.astimezone(UTC)][level] = int(n)
    if bounded:
        start = _floor(f.since, interval)  # type: ignore[arg-type]
        while start < f.until:  # type: ignore[operator]
            per_bucket.setdefault(start, {})
            start += interval
    return [
        Bucket(start=start, count=sum(levels.values()), levels=_ordered_levels(levels))
        for start, levels in sorted(per_bucket.items())
    ]


def _ordered_levels(levels: dict[str, int]) -> dict[str, int]:
    return {lvl: levels[lvl] for lvl in LEVELS if levels.get(lvl)}


def list_services(conn: Connection[Any], since: datetime, until: datetime) -> list[tuple[str, int]]:
    """Services with records in ``[since, until)`` and their record counts, busiest first."""
    f = LogFilter(since=since, until=until)
    totals: dict[str, int] = defaultdict(int)
    for service, _level, n in _grouped_counts(conn, f, lambda _column: sql.SQL("service")):
        totals[service] += int(n)
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))
