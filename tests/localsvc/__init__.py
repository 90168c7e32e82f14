"""Real PostgreSQL and Apache Kafka on localhost without Docker, for tests, `make dev` and benchmarks."""

from tests.localsvc.kafka import KafkaBroker
from tests.localsvc.postgres import PostgresServer
from tests.localsvc.services import start_concurrently

__all__ = ["KafkaBroker", "PostgresServer", "start_concurrently"]
