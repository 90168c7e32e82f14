"""Storage tests share one migrated database per session; each test uses its own service names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.service.store.factories import migrated_database


@pytest.fixture(scope="session")
def store_dsn(pg_dsn: str) -> Iterator[str]:
    """DSN of a migrated database shared by the storage tests."""
    yield from migrated_database(pg_dsn, "store")


@pytest.fixture
def conn(store_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the shared migrated database."""
    with psycopg.connect(store_dsn, autocommit=True) as connection:
        yield connection
