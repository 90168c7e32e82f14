"""Service-level fixtures: a migrated database, a unique Kafka topic, the running pipeline.

`api_client` is the real app (lifespan: PostgreSQL pool + Kafka producer) behind TestClient;
`pipeline_consumer` is the real consumer in a background thread writing the same topic to the same
database, so a test can ingest over HTTP and then query the stored records.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from kafka.admin import KafkaAdminClient, NewTopic
from logagg.app import create_app
from logagg.settings import Settings

from tests.service.store.factories import migrated_database


@dataclass(frozen=True)
class ApiKeys:
    """Plaintext keys the tests present (the app only ever holds their digests)."""

    ingest: str
    query: str
    both: str

    def config(self) -> str:
        """The LOGAGG_API_KEYS text for these keys."""
        return f"{self.ingest}:ingest,{self.query}:query\n{self.both}"


@pytest.fixture(scope="session")
def api_keys() -> ApiKeys:
    """Fresh random keys for this session."""
    return ApiKeys(
        ingest="ing_" + secrets.token_urlsafe(24),
        query="qry_" + secrets.token_urlsafe(24),
        both="all_" + secrets.token_urlsafe(24),
    )


@pytest.fixture(scope="session")
def api_dsn(pg_dsn: str) -> Iterator[str]:
    """A migrated database for the API tests."""
    yield from migrated_database(pg_dsn, "api")


def create_topic(bootstrap: str, name: str) -> None:
    """Create a one-partition topic (explicitly, so the first produce does not race auto-creation)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="logagg-tests")
    try:
        admin.create_topics([NewTopic(name=name, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()


@pytest.fixture(scope="session")
def api_topic(kafka_bootstrap: str) -> str:
    """A Kafka topic used only by this test session."""
    name = f"logs-test-{uuid.uuid4().hex[:10]}"
    create_topic(kafka_bootstrap, name)
    return name


def make_settings(
    dsn: str, bootstrap: str, topic: str, keys: ApiKeys, **overrides: Any
) -> Settings:
    """Settings for a test app/consumer; short Kafka timeouts keep outage tests quick."""
    values: dict[str, Any] = {
        "env": "dev",
        "database_url": dsn,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic": topic,
        "kafka_consumer_group": f"{topic}-group",
        "api_keys": keys.config(),
        "kafka_produce_timeout_seconds": 5.0,
        "rate_limit_per_second": 10_000.0,
        "rate_limit_burst": 10_000,
        "consumer_poll_timeout_ms": 200,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def api_settings(
    api_dsn: str, kafka_bootstrap: str, api_topic: str, api_keys: ApiKeys
) -> Settings:
    """Settings shared by the session's app and consumer."""
    return make_settings(api_dsn, kafka_bootstrap, api_topic, api_keys)


@pytest.fixture(scope="session")
def api_client(api_settings: Settings) -> Iterator[TestClient]:
    """The app with its lifespan running (real pool and producer)."""
    with TestClient(create_app(api_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def pipeline_consumer(api_settings: Settings) -> Iterator[None]:
    """The real consumer (LogConsumer) draining the session topic into the session database."""
    from logagg.consumer.loop import LogConsumer

    consumer = LogConsumer(api_settings)
    thread = threading.Thread(target=consumer.run, name="test-consumer", daemon=True)
    thread.start()
    try:
        yield
    finally:
        consumer.stop()
        thread.join(timeout=30)


def auth(key: str) -> dict[str, str]:
    """Bearer header for a key."""
    return {"Authorization": f"Bearer {key}"}


def wait_for(
    predicate: Callable[[], bool], *, timeout: float = 45.0, interval: float = 0.2
) -> bool:
    """Poll until predicate() is true; returns its last value (tests assert on it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def fetch_all(
    client: TestClient | httpx.Client, key: str, params: dict[str, Any] | list[tuple[str, Any]]
) -> list[dict[str, Any]]:
    """Every item of a search, following next_cursor."""
    items: list[dict[str, Any]] = []
    base = list(params.items()) if isinstance(params, dict) else list(params)
    cursor = None
    while True:
        query = base + ([("cursor", cursor)] if cursor else [])
        response = client.get("/v1/logs", params=query, headers=auth(key))
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def _redis_server_binary() -> str:
    """Path of redis-server (installed by `make sysdeps`, which `make test` runs first)."""
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server is missing: run `make sysdeps` (Debian package redis-server)")
    return found


class RedisServer:
    """A throwaway redis-server on a free port (no persistence), stoppable and restartable."""

    def __init__(self) -> None:
        self.binary = _redis_server_binary()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: Any = None

    def start(self) -> None:
        """Launch and wait until it answers PING."""
        self._proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            if not wait_for(lambda: _pings(client), timeout=20, interval=0.1):
                raise RuntimeError("redis-server did not start")
        finally:
            client.close()

    def stop(self) -> None:
        """Terminate the server (only the process this object started)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=20)
        self._proc = None


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis for the shared rate-limit tests."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
