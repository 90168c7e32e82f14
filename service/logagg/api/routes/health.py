"""Liveness, readiness and Prometheus metrics (no authentication: cluster-internal probes)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from logagg import metrics
from logagg.api.probes import database_reachable
from logagg.deps import PublisherDep
from logagg.schemas import Liveness, Readiness

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Liveness, summary="Liveness (no dependency checks)")
async def health() -> Liveness:
    """The process is serving requests."""
    return Liveness()


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a dependency is unreachable"}},
    summary="Readiness: PostgreSQL and Kafka reachable",
)
def ready(request: Request, publisher: PublisherDep) -> JSONResponse:
    """200 when PostgreSQL and Kafka answer, else 503 naming which one failed."""
    db_ok = database_reachable(request.app.state.pool)
    kafka_ok = publisher.reachable()
    metrics.DB_UP.set(1 if db_ok else 0)
    metrics.KAFKA_UP.set(1 if kafka_ok else 0)
    body = Readiness(
        status="ready" if db_ok and kafka_ok else "unavailable",
        checks={
            "postgresql": "ok" if db_ok else "unavailable",
            "kafka": "ok" if kafka_ok else "unavailable",
        },
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ready" else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics",
)
def prometheus_metrics(request: Request) -> Response:
    """Every logagg_* metric of this process."""
    pool = request.app.state.pool
    stats = pool.get_stats()
    metrics.DB_POOL_SIZE.set(stats.get("pool_size", 0))
    metrics.DB_POOL_IN_USE.set(stats.get("pool_size", 0) - stats.get("pool_available", 0))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
