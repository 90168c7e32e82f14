"""GET /v1/logs, /v1/logs/histogram, /v1/services — thin handlers over the store.

The handlers return ready JSON bytes (``_json``) instead of the declared pydantic models: FastAPI
would otherwise dump, re-validate and serialise every item of a page (about a third of a small
query's time in the API). The models stay the ``response_model`` for the OpenAPI document, and
the schemathesis tests check that every response conforms to it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from logagg import jsonbytes, metrics
from logagg.api import params
from logagg.deps import PoolDep, QueryPrincipal, SettingsDep, db_connection
from logagg.domain import LogFilter, format_ts
from logagg.schemas import ErrorResponse, Histogram, LogPage, ServiceList
from logagg.store import logs as store

router = APIRouter(prefix="/v1", tags=["query"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "invalid cursor or interval"},
    401: {"model": ErrorResponse, "description": "missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "API key lacks the query scope"},
    422: {"model": ErrorResponse, "description": "invalid parameter (named in the body)"},
    429: {"model": ErrorResponse, "description": "rate limit exceeded (Retry-After)"},
    503: {"model": ErrorResponse, "description": "database unavailable or query timed out"},
}
# Documented for OpenAPI; the values are read from request.query_params (attr.<key> is dynamic).
ServiceQ = Annotated[list[str] | None, Query(description="service name; repeatable")]
LevelQ = Annotated[list[str] | None, Query(description="level; repeatable or comma separated")]
MinLevelQ = Annotated[str | None, Query(description="this level and more severe")]
TextQ = Annotated[str | None, Query(description='full-text words, "quoted phrase", -word, or')]
TimeQ = Annotated[str | None, Query(description="RFC 3339 or relative (15m, 2h, 7d); default: 1h window")]
TraceQ = Annotated[str | None, Query(description="exact trace id (hex)")]
AttrQ = Annotated[
    str | None,
    Query(
        alias="attr.<key>",
        description="exact match inside attributes, e.g. attr.http.status=500; repeatable, any key",
    ),
]
SEARCH_PARAMS = params.FILTER_PARAMS | {"limit", "order", "cursor"}
HISTOGRAM_PARAMS = params.FILTER_PARAMS | {"interval"}
SERVICES_PARAMS = frozenset({"since", "until"})


async def _log_filter(
    request: Request,
    settings: SettingsDep,
    service: ServiceQ = None,
    level: LevelQ = None,
    min_level: MinLevelQ = None,
    q: TextQ = None,
    since: TimeQ = None,
    until: TimeQ = None,
    trace_id: TraceQ = None,
    attr: AttrQ = None,
) -> LogFilter:
    """The filters shared by search and histogram (declared here once, for OpenAPI)."""
    window = timedelta(seconds=settings.query_default_window_seconds)
    return params.log_filter(request.query_params, params.utc_now(), window)


FilterDep = Annotated[LogFilter, Depends(_log_filter)]


def _json(body: dict[str, Any]) -> Response:
    return Response(jsonbytes.dumps(body), media_type="application/json")


@contextmanager
def _timed(endpoint: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.QUERY_DURATION.labels(endpoint=endpoint).observe(time.perf_counter() - started)


@router.get("/logs", response_model=LogPage, responses=_ERRORS, summary="Search log records")
def search_logs(
    request: Request,
    _principal: QueryPrincipal,
    pool: PoolDep,
    flt: FilterDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    order: Annotated[Literal["desc", "asc"], Query(description="by timestamp")] = "desc",
    cursor: Annotated[str | None, Query(max_length=4096, description="next_cursor")] = None,
) -> Response:
    """Newest (or oldest) records matching every filter, keyset-paginated."""
    params.reject_unknown(request.query_params, SEARCH_PARAMS)
    with db_connection(pool) as conn, _timed("search"):
        page = store.search_logs(conn, flt, limit=limit, order=order, cursor=cursor)
    items = [
        {
            "id": r.id,
            "timestamp": format_ts(r.ts),
            "service": r.service,
            "level": r.level,
            "message": r.message,
            "attributes": r.attributes,
            "trace_id": r.trace_id,
            "span_id": r.span_id,
        }
        for r in page.items
    ]
    return _json({"items": items, "next_cursor": page.next_cursor})


@router.get(
    "/logs/histogram", response_model=Histogram, responses=_ERRORS, summary="Record counts over time"
)
def logs_histogram(
    request: Request,
    _principal: QueryPrincipal,
    pool: PoolDep,
    flt: FilterDep,
    interval: Annotated[
        str | None, Query(description="bucket size (30s, 1m, 5m, 1h, 1d); automatic when absent")
    ] = None,
) -> Response:
    """Counts per bucket and level for the same filters as search."""
    params.reject_unknown(request.query_params, HISTOGRAM_PARAMS)
    assert flt.since is not None and flt.until is not None
    step = params.histogram_interval(interval, flt.since, flt.until)
    with db_connection(pool) as conn, _timed("histogram"):
        buckets = store.histogram(conn, flt, interval=step)
    return _json(
        {
            "interval": params.format_duration(step),
            "since": format_ts(flt.since),
            "until": format_ts(flt.until),
            "buckets": [{"start": format_ts(b.start), "count": b.count, "levels": b.levels} for b in buckets],
        }
    )


@router.get("/services", response_model=ServiceList, responses=_ERRORS, summary="Services seen")
def services(
    request: Request,
    _principal: QueryPrincipal,
    settings: SettingsDep,
    pool: PoolDep,
    since: TimeQ = None,
    until: TimeQ = None,
) -> Response:
    """Services that sent records in the window, with their record counts."""
    params.reject_unknown(request.query_params, SERVICES_PARAMS)
    window = timedelta(seconds=settings.query_default_window_seconds)
    start, end = params.time_range(request.query_params, params.utc_now(), window)
    with db_connection(pool) as conn, _timed("services"):
        rows = store.list_services(conn, start, end)
    return _json(
        {
            "since": format_ts(start),
            "until": format_ts(end),
            "services": [{"service": name, "count": count} for name, count in rows],
        }
    )
