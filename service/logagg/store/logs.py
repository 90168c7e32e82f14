"""Read side of the ``logs`` store: search with keyset pagination, histograms, services, ping.

Query strategy:
- search: the filter becomes a WHERE clause; ``ORDER BY ts, id`` (both directions) walks the
  primary key (ts, id) and stops after ``limit + 1`` rows; ``since``/``until`` prune partitions.
  With a service filter (and no text/attribute/trace filter) each (service, level) pair reads its
  own ordered range of the (service, level, ts, id) index and the results are merged, so a rare
  combination costs as little as a frequent one. Full text uses ``websearch_to_tsquery('simple', q)``,
  which accepts any input (unbalanced quotes, stray operators) without raising, so user text
  never causes a 500.
- histogram / services: when the filter uses only time, service and level, whole minutes are
  summed from ``log_counts`` (maintained by the writer in the insert transaction) and only the
  partial minutes at the range edges are counted from ``logs``; the answer equals counting
  ``logs`` directly. Filters on ``q``, ``attrs`` or ``trace_id`` aggregate ``logs``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
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
    if f.q and f.q.strip():
        parts.append(
            sql.SQL("to_tsvector('simple', message) @@ websearch_to_tsquery('simple', {})").format(
                sql.Literal(f.q.replace("\x00", " "))
            )
        )
    for key, value in f.attrs:
        docs = [sql.SQL("attributes @> {}::jsonb").format(sql.Literal(d)) for d in _attr_documents(key, value)]
        parts.append(sql.SQL("({})").format(sql.SQL(" OR ").join(docs)))
    if f.trace_id:
        parts.append(sql.SQL("trace_id = {}").format(sql.Literal(f.trace_id)))
    return sql.SQL(" AND ").join(parts)


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
    else:
        source = sql.SQL("logs")
        where = sql.SQL("{} AND {}").format(_where(f), after)
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY ts {d}, id {d} LIMIT {}").format(
        _COLUMNS, source, where, sql.Literal(limit + 1), d=direction
    )
    rows = conn.execute(query).fetchall()
    items = [_row_to_record(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(order, last.ts, last.id, since=f.since, until=f.until)
    return Page(items=items, next_cursor=next_cursor)


def _floor(ts: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((ts - _EPOCH) // step) * step


def _ceil(ts: datetime, step: timedelta) -> datetime:
    floor = _floor(ts, step)
    return floor if floor == ts else floor + step


def _minute_split(
    since: datetime | None, until: datetime | None
) -> tuple[tuple[datetime | None, datetime | None] | None, list[tuple[datetime | None, datetime | None]]]:
    """Split [since, until) into whole minutes (for log_counts) and partial edge ranges (for logs)."""
    lo = _ceil(since, _MINUTE) if since is not None else None
    hi = _floor(until, _MINUTE) if until is not None else None
    if lo is not None and hi is not None and lo >= hi:
        return None, [(since, until)]
    edges: list[tuple[datetime | None, datetime | None]] = []
    if since is not None and lo != since:
        edges.append((since, lo))
    if until is not None and hi != until:
        edges.append((hi, until))
    return (lo, hi), edges


def _counts_where(f: LogFilter, lo: datetime | None, hi: datetime | None) -> sql.Composable:
    parts = _common_parts(f, "minute", lo, hi)
    return sql.SQL("FALSE") if parts is None else sql.SQL(" AND ").join(parts)


def _grouped_counts(
    conn: Connection[Any],
    f: LogFilter,
    logs_key: sql.Composable,
    counts_key: sql.Composable,
    *,
    raw: bool = False,
) -> Iterable[tuple[Any, str, int]]:
    """(key, level, count) rows for ``f``, from log_counts where it can answer, else from logs."""
    sources: list[sql.Composable] = []
    if raw or f.needs_raw_rows:
        sources.append(
            sql.SQL("SELECT {} AS k, level, count(*) AS n FROM logs WHERE {} GROUP BY 1, 2").format(
                logs_key, _where(f)
            )
        )
    else:
        whole, edges = _minute_split(f.since, f.until)
        if whole is not None:
            sources.append(
                sql.SQL("SELECT {} AS k, level, sum(count) AS n FROM log_counts WHERE {} GROUP BY 1, 2").format(
                    counts_key, _counts_where(f, *whole)
                )
            )
        for since, until in edges:
            sources.append(
                sql.SQL("SELECT {} AS k, level, count(*) AS n FROM logs WHERE {} GROUP BY 1, 2").format(
                    logs_key, _where(f, since=since, until=until)
                )
            )
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
    logs_key = sql.SQL("date_bin({}, ts, {})").format(iv, origin)
    counts_key = sql.SQL("date_bin({}, minute, {})").format(iv, origin)
    per_bucket: dict[datetime, dict[str, int]] = defaultdict(dict)
    for start, level, n in _grouped_counts(
        # log_counts answers exactly only when buckets are made of whole minutes.
        conn, f, logs_key, counts_key, raw=bool(interval % _MINUTE)
    ):
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
    for service, _level, n in _grouped_counts(conn, f, sql.SQL("service"), sql.SQL("service")):
        totals[service] += int(n)
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))
