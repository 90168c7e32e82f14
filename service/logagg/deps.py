"""Dependency aliases for route handlers: declare them by type, e.g. ``settings: SettingsDep``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from psycopg import Connection
from psycopg_pool import ConnectionPool

from logagg.api.security import api_key_scheme, authorize, bearer_scheme
from logagg.auth import Principal, Scope
from logagg.ingest.publisher import KafkaPublisher
from logagg.settings import Settings

#: Longest a request waits for a free pooled connection before answering 503.
POOL_WAIT_SECONDS = 5.0


# Dependencies are ``async def`` unless they block: FastAPI runs every sync dependency in the
# thread pool, and each hop there cost ~0.3 ms of a 4 ms query on a busy 2-core machine.


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_publisher(request: Request) -> KafkaPublisher:
    """The app's Kafka publisher."""
    return request.app.state.publisher  # type: ignore[no-any-return]


async def get_pool(request: Request) -> ConnectionPool:
    """The app's PostgreSQL pool; take a connection with ``db_connection`` inside a sync handler."""
    return request.app.state.pool  # type: ignore[no-any-return]


@contextmanager
def db_connection(pool: ConnectionPool) -> Iterator[Connection[Any]]:
    """A pooled connection; waits up to POOL_WAIT_SECONDS (blocking: call it from a sync handler,
    which FastAPI already runs in a worker thread, so checkout and query share one hop)."""
    with pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
        yield conn


async def require_ingest(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    """A caller allowed to ingest."""
    return await authorize(request, Scope.INGEST, bearer, api_key)


async def require_query(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    """A caller allowed to query."""
    return await authorize(request, Scope.QUERY, bearer, api_key)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PublisherDep = Annotated[KafkaPublisher, Depends(get_publisher)]
PoolDep = Annotated[ConnectionPool, Depends(get_pool)]
IngestPrincipal = Annotated[Principal, Depends(require_ingest)]
QueryPrincipal = Annotated[Principal, Depends(require_query)]
