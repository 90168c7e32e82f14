"""Top-level fixtures: a real PostgreSQL and a real Apache Kafka for the whole session.

Set DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS to use existing servers instead of starting local ones.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from psycopg import conninfo

from tests.localsvc import KafkaBroker, PostgresServer, start_concurrently
from tests.scratch_db import scratch_database

EXTERNAL_KAFKA_REASON = (
    "KAFKA_BOOTSTRAP_SERVERS points at an external broker; this test stops/starts the broker, "
    "which only works with the local one (unset KAFKA_BOOTSTRAP_SERVERS)"
)


@pytest.fixture(scope="session")
def _local_servers() -> Iterator[tuple[PostgresServer | None, KafkaBroker | None]]:
    """Start the local servers the environment does not override, both at once."""
    pg = None if os.environ.get("DATABASE_URL") else PostgresServer()
    kafka = None if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else KafkaBroker()
    wanted = [s for s in (pg, kafka) if s is not None]
    try:
        start_concurrently(*wanted)
        yield pg, kafka
    finally:
        for server in wanted:
            server.close()


@pytest.fixture(scope="session")
def pg_server(
    _local_servers: tuple[PostgresServer | None, KafkaBroker | None],
) -> PostgresServer | None:
    """The local PostgreSQL (stop/restart/dsn), or None when DATABASE_URL is set."""
    return _local_servers[0]


@pytest.fixture(scope="session")
def pg_dsn(pg_server: PostgresServer | None) -> str:
    """libpq URL of the application database (role may create databases)."""
    return pg_server.dsn if pg_server is not None else os.environ["DATABASE_URL"]


@pytest.fixture(scope="session")
def kafka_broker(
    _local_servers: tuple[PostgresServer | None, KafkaBroker | None],
) -> KafkaBroker:
    """The local Kafka broker, for tests that stop/start it; skipped with an external broker."""
    broker = _local_servers[1]
    if broker is None:
        pytest.skip(EXTERNAL_KAFKA_REASON)
    return broker


@pytest.fixture(scope="session")
def kafka_bootstrap(
    _local_servers: tuple[PostgresServer | None, KafkaBroker | None],
) -> str:
    """`host:port` of the broker."""
    broker = _local_servers[1]
    return (
        broker.bootstrap
        if broker is not None
        else os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    )


@pytest.fixture(autouse=True)
def _restart_stopped_servers(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that stopped a server and failed before restarting it must not break the next tests."""
    yield
    if "_local_servers" in request.fixturenames:
        for server in request.getfixturevalue("_local_servers"):
            if server is not None and not server.is_running():
                server.start()


def _with_database(dsn: str, database: str) -> str:
    """`dsn` pointing at another database, keeping its form (URL or key=value)."""
    if dsn.startswith(("postgres://", "postgresql://")):
        return urlsplit(dsn)._replace(path=f"/{database}").geturl()
    return conninfo.make_conninfo(dsn, dbname=database)


@pytest.fixture
def fresh_database(pg_dsn: str) -> Iterator[str]:
    """DSN of a new, empty, uniquely named database on the test server; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with scratch_database(pg_dsn, name):
        yield _with_database(pg_dsn, name)
