"""The FastAPI application factory and its lifespan (which owns every client)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from psycopg import Connection
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from logagg import __version__
from logagg.api.errors import install_error_handlers
from logagg.api.middleware import ApiMiddleware
from logagg.api.routes import api_router
from logagg.ingest.publisher import KafkaPublisher
from logagg.ratelimit import RateLimiter, RedisTokenBucketLimiter, TokenBucketLimiter
from logagg.schemas import IngestEnvelope, IngestRecord
from logagg.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: Environment variables holding plaintext keys; removed once the key ring is built.
_PLAINTEXT_KEY_ENV = ("LOGAGG_API_KEYS",)


def _pool(settings: Settings) -> ConnectionPool:
    timeout_ms = settings.db_statement_timeout_ms

    def configure(conn: Connection[Any]) -> None:
        # Bounded query time: a too-broad query fails with 503 instead of holding a connection.
        conn.execute(f"SET statement_timeout = {int(timeout_ms)}")

    return ConnectionPool(
        settings.database_dsn(),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        kwargs={"autocommit": True, "application_name": "logagg-api"},
        configure=configure,
        # A connection broken by a PostgreSQL restart is replaced at checkout, not served a 503.
        check=ConnectionPool.check_connection,
        open=False,
        name="logagg-api",
    )


def _limiter(settings: Settings) -> RateLimiter:
    """Shared buckets in Redis when configured, else this replica's own."""
    if settings.redis_url is not None:
        return RedisTokenBucketLimiter(
            settings.redis_url.get_secret_value(),
            settings.rate_limit_per_second,
            settings.rate_limit_burst,
        )
    return TokenBucketLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document plus the ingest body models (the body is read as a raw stream)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (IngestRecord, IngestEnvelope):
            definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(definition.pop("$defs", {}))
            components[model.__name__] = definition
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; clients are created by the lifespan, not here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = settings or get_settings()
        for name in _PLAINTEXT_KEY_ENV:
            # The key ring holds digests only; do not keep the plaintext around in os.environ.
            os.environ.pop(name, None)
        pool = _pool(active)
        # wait=False: the API starts (and reports not-ready) while PostgreSQL is still down.
        await run_in_threadpool(pool.open, False)
        publisher = KafkaPublisher(active)
        app.state.settings = active
        app.state.pool = pool
        app.state.publisher = publisher
        app.state.limiter = _limiter(active)
        log.info(
            "api started",
            extra={"env": active.env, "api_keys": active.api_keys.key_ids, "topic": active.kafka_topic},
        )
        try:
            yield
        finally:
            await app.state.limiter.close()
            await run_in_threadpool(publisher.close)
            await run_in_threadpool(pool.close)
            log.info("api stopped")

    app = FastAPI(
        title="logagg",
        version=__version__,
        description="Log ingestion (HTTP → Kafka → PostgreSQL) and query API.",
        lifespan=lifespan,
        docs_url=None,  # the strict CSP forbids the Swagger UI's scripts; /openapi.json is served
        redoc_url=None,
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.add_middleware(ApiMiddleware)
    app.include_router(api_router)
    return app
