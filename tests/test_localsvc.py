"""The local PostgreSQL and Kafka really work: queries, produce/consume with acks=all, broker restarts."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from tests.localsvc import KafkaBroker, PostgresServer


def test_postgres_answers_select_1(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_fresh_database_is_empty_and_separate(pg_dsn: str, fresh_database: str) -> None:
    with psycopg.connect(fresh_database) as conn:
        conn.execute("CREATE TABLE marker (id int)")
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        assert tables == [("marker",)]
        conn.commit()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.marker')").fetchone() == (None,)


def test_postgres_restart_keeps_data(
    pg_server: PostgresServer | None, fresh_database: str
) -> None:
    if pg_server is None:
        pytest.skip(
            "DATABASE_URL points at an external server; restarting it is not ours to do"
        )
    with psycopg.connect(fresh_database) as conn:
        conn.execute("CREATE TABLE kept AS SELECT 42 AS answer")
    pg_server.restart()
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT answer FROM kept").fetchone() == (42,)


def _produce(bootstrap: str, topic: str, value: bytes, *, timeout_s: float) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        max_block_ms=int(timeout_s * 1000),
        request_timeout_ms=3000,
        bootstrap_timeout_ms=int(timeout_s * 1000),
        retries=0,
    )
    try:
        producer.send(topic, value).get(timeout=timeout_s)
    finally:
        producer.close(timeout=1)


def _consume_one(bootstrap: str, topic: str) -> bytes:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    try:
        for message in consumer:
            return bytes(message.value)
    finally:
        consumer.close()
    raise AssertionError(f"no message arrived on {topic}")


def test_kafka_produce_and_consume_with_acks_all(kafka_bootstrap: str) -> None:
    topic = f"localsvc-{uuid.uuid4().hex[:8]}"
    _produce(kafka_bootstrap, topic, b"hello", timeout_s=30)
    assert _consume_one(kafka_bootstrap, topic) == b"hello"


def test_kafka_stop_fails_produce_and_start_recovers(kafka_broker: KafkaBroker) -> None:
    topic = f"localsvc-{uuid.uuid4().hex[:8]}"
    _produce(kafka_broker.bootstrap, topic, b"before", timeout_s=30)
    port = kafka_broker.port
    kafka_broker.stop()
    assert not kafka_broker.is_running()
    with pytest.raises(KafkaError):
        _produce(kafka_broker.bootstrap, topic, b"while down", timeout_s=2)
    kafka_broker.start()
    assert kafka_broker.port == port
    _produce(kafka_broker.bootstrap, topic, b"after", timeout_s=30)
    # same data directory: the message from before the restart is still there
    assert _consume_one(kafka_broker.bootstrap, topic) == b"before"
