"""Dependency probes used by readiness (kept out of route modules: they own no driver imports)."""

from __future__ import annotations

import logging

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from logagg.store import logs as store

log = logging.getLogger(__name__)


def database_reachable(pool: ConnectionPool, timeout: float = 2.0) -> bool:
    """True when a pooled connection answers a round trip."""
    try:
        with pool.connection(timeout=timeout) as conn:
            store.ping(conn)
    except (psycopg.Error, PoolTimeout) as exc:
        log.warning("readiness: PostgreSQL unreachable", extra={"error": type(exc).__name__})
        return False
    return True
