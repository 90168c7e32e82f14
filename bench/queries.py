"""Query latency over the data set: through the HTTP API, and the same SQL run directly.

For every iteration the harness draws the parameters (seeded), calls the API (one keep-alive
client, wall time of the whole request), then runs the very statements the store issued for those
parameters on a direct connection — captured by handing the store function a recording
connection (which runs them once more, uncounted, so both sides find warm pages). Which side runs
first alternates per iteration. ``api_over_sql`` is the ratio of the p50s.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
from logagg.api import params as api_params
from logagg.store import logs as store
from psycopg import sql
from starlette.datastructures import QueryParams

from bench.datagen import SERVICES, DatasetSpec

Params = list[tuple[str, str]]
FULLTEXT_TERMS = ("timeout", "deadlock", "refused", "E1042", '"cache miss"', "declined", "panic", "eviction storm")
ATTR_FILTERS = (("attr.http.status", "503"), ("attr.error_code", "E1217"), ("attr.region", "us-west-2"),
                ("attr.queue", "webhooks"))
DEEP_PAGES = (50, 100)  # cursors are collected between these page numbers (100 rows a page)


class _RecordingConnection:
    """Passes ``execute`` through to a real connection and keeps each statement as SQL text."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self.statements: list[str] = []

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        text = query.as_string(self._conn) if isinstance(query, sql.Composable) else str(query)
        self.statements.append(text)
        return self._conn.execute(query, params, **kwargs)


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class QueryKind:
    """One measured query: its endpoint and how to draw parameters."""

    name: str
    path: str
    draw: Callable[[random.Random], Params]


def _window(rng: random.Random, spec: DatasetSpec, hours: int) -> tuple[datetime, datetime]:
    span = (spec.end - spec.start).total_seconds() - hours * 3600
    since = spec.start + timedelta(seconds=rng.random() * span)
    return since, since + timedelta(hours=hours)


def query_kinds(spec: DatasetSpec, deep_cursors: list[str]) -> list[QueryKind]:
    """The five measured queries."""
    busy = SERVICES[:10]

    def filtered(rng: random.Random) -> Params:
        since, until = _window(rng, spec, 1)
        return [("service", rng.choice(busy)), ("level", rng.choice(("error", "warn", "info"))),
                ("since", _ts(since)), ("until", _ts(until))]

    def fulltext(rng: random.Random) -> Params:
        since, until = _window(rng, spec, 24)
        return [("q", rng.choice(FULLTEXT_TERMS)), ("since", _ts(since)), ("until", _ts(until))]

    def attribute(rng: random.Random) -> Params:
        since, until = _window(rng, spec, 24)
        return [rng.choice(ATTR_FILTERS), ("since", _ts(since)), ("until", _ts(until))]

    def histogram(rng: random.Random) -> Params:
        since, until = _window(rng, spec, 24)
        return [("since", _ts(since)), ("until", _ts(until))]

    def deep(rng: random.Random) -> Params:
        return [*deep_page_base(spec), ("cursor", rng.choice(deep_cursors))]

    return [
        QueryKind("filtered_1h", "/v1/logs", filtered),
        QueryKind("fulltext_24h", "/v1/logs", fulltext),
        QueryKind("attribute_24h", "/v1/logs", attribute),
        QueryKind("histogram_24h_all", "/v1/logs/histogram", histogram),
        QueryKind("deep_cursor_page", "/v1/logs", deep),
    ]


def deep_page_base(spec: DatasetSpec) -> Params:
    """The filter paged through for the deep-cursor query: the busiest service over the whole range."""
    return [("service", SERVICES[0]), ("since", _ts(spec.start)), ("until", _ts(spec.end)), ("limit", "100")]


def _store_call(conn: Any, path: str, p: Params) -> None:
    """Run the store function the API handler runs for ``path`` with ``p``."""
    qp = QueryParams(urlencode(p))
    now = datetime.now(UTC)
    flt = api_params.log_filter(qp, now, timedelta(hours=1))
    if path == "/v1/logs/histogram":
        assert flt.since is not None and flt.until is not None
        store.histogram(conn, flt, interval=api_params.histogram_interval(qp.get("interval"), flt.since, flt.until))
    else:
        store.search_logs(conn, flt, limit=int(qp.get("limit", "100")), order="desc", cursor=qp.get("cursor"))


def collect_deep_cursors(conn: psycopg.Connection[Any], spec: DatasetSpec) -> list[str]:
    """Cursors of pages DEEP_PAGES[0]..DEEP_PAGES[1] of the deep-pagination filter."""
    qp = QueryParams(urlencode(deep_page_base(spec)))
    flt = api_params.log_filter(qp, datetime.now(UTC), timedelta(hours=1))
    cursor, cursors = None, []
    for page in range(1, DEEP_PAGES[1] + 1):
        result = store.search_logs(conn, flt, limit=100, cursor=cursor)
        cursor = result.next_cursor
        if cursor is None:
            break
        if page >= DEEP_PAGES[0]:
            cursors.append(cursor)
    if not cursors:
        raise RuntimeError("data set too small for the deep-pagination query")
    return cursors


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank) in milliseconds."""
    s = sorted(samples)

    def pct(p: float) -> float:
        return round(s[min(len(s) - 1, max(0, round(p * len(s)) - 1))] * 1000, 2)

    return {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "n": len(s)}


def _time_api(client: httpx.Client, kind: QueryKind, p: Params) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    response = client.get(kind.path, params=p)
    elapsed = time.perf_counter() - t0
    if response.status_code != 200:
        raise RuntimeError(f"{kind.name}: GET {kind.path} {p} → {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return elapsed, body


def _time_sql(conn: psycopg.Connection[Any], statements: list[str]) -> float:
    t0 = time.perf_counter()
    for statement in statements:
        conn.execute(statement).fetchall()
    return time.perf_counter() - t0


def measure_queries(dsn: str, api_url: str, api_key: str, spec: DatasetSpec, *, iterations: int,
                    seed: int = 5, warmup: int = 3) -> dict[str, Any]:
    """Latency percentiles per query kind, API and direct SQL, and their ratio."""
    results: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as conn, httpx.Client(
        base_url=api_url, timeout=60, headers={"Authorization": f"Bearer {api_key}"}
    ) as client:
        kinds = query_kinds(spec, collect_deep_cursors(conn, spec))
        for kind in kinds:
            rng = random.Random(f"{seed}-{kind.name}")
            api_times: list[float] = []
            sql_times: list[float] = []
            rows = 0
            for i in range(warmup + iterations):
                p = kind.draw(rng)
                recorder = _RecordingConnection(conn)
                _store_call(recorder, kind.path, p)  # captures the statements (its own time is not measured)
                # Alternate which side runs first, so neither always finds the pages the other just read.
                if i % 2:
                    sql_elapsed = _time_sql(conn, recorder.statements)
                    api_elapsed, body = _time_api(client, kind, p)
                else:
                    api_elapsed, body = _time_api(client, kind, p)
                    sql_elapsed = _time_sql(conn, recorder.statements)
                if i >= warmup:
                    api_times.append(api_elapsed)
                    sql_times.append(sql_elapsed)
                    rows += len(body.get("items", body.get("buckets", [])))
            api, raw = percentiles(api_times), percentiles(sql_times)
            results[kind.name] = {
                "api_ms": api, "sql_ms": raw,
                "api_over_sql": round(api["p50"] / raw["p50"], 2) if raw["p50"] else None,
                "mean_items": round(rows / iterations, 1),
            }
    return results
