"""The consumer against real Kafka and PostgreSQL: delivery, poison messages, crashes, shutdown, outages."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from kafka import KafkaProducer
from logagg.consumer.loop import CRASH_ENV, CRASH_EXIT_CODE
from logagg.domain import LogRecord, encode_batch
from logagg.store.dead_letters import list_dead_letters

from tests.localsvc import KafkaBroker, PostgresServer
from tests.service.consumer.conftest import (
    ConsumerProcess,
    committed_offsets,
    count_rows,
    counted,
    group_description,
    send,
    send_batches,
    wait_for,
)
from tests.service.store.factories import make_record, unique_service

NOW = datetime.now(UTC).replace(microsecond=0)


def _batches(service: str, messages: int, per_message: int, *, client_ids: bool = False) -> list[list[LogRecord]]:
    """Records spread over the last hour; every third record carries a client idempotency key."""
    out = []
    for m in range(messages):
        batch = []
        for i in range(per_message):
            n = m * per_message + i
            keyed = client_ids and n % 3 == 0
            batch.append(
                make_record(
                    service,
                    NOW - timedelta(seconds=n),
                    message=f"record {n}",
                    record_id=f"{service}-key-{n}" if keyed else None,
                    client_id=keyed,
                )
            )
        out.append(batch)
    return out


def test_consumes_commits_and_shuts_down_cleanly_on_sigterm(
    start_consumer: Callable[..., ConsumerProcess], producer: KafkaProducer, topic: str,
    consumer_dsn: str, kafka_bootstrap: str,
) -> None:
    service = unique_service("flow")
    send_batches(producer, topic, _batches(service, 6, 100, client_ids=True))
    backup_done = datetime(2026, 11, 29, 3, 15, tzinfo=UTC)
    with psycopg.connect(consumer_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM backup_runs")
        conn.execute(
            "INSERT INTO backup_runs (kind, finished_at, ok) VALUES ('backup', %s, true), ('verify', %s, false)",
            (backup_done, backup_done),
        )
    consumer = start_consumer()
    wait_for(lambda: count_rows(consumer_dsn, service) == (600, 600), "600 rows in PostgreSQL")
    assert counted(consumer_dsn, service) == 600
    # >=: a spurious rebalance on a loaded machine may legitimately redeliver (rows stay exact)
    wait_for(lambda: (consumer.metric("logagg_consumer_records_total") or 0) >= 600, "records metric")
    wait_for(lambda: committed_offsets(kafka_bootstrap, start_consumer.group) == {0: 3, 1: 3}, "offset commit")  # type: ignore[attr-defined]
    wait_for(lambda: consumer.metric('logagg_consumer_lag{partition="0"}') == 0, "lag gauge")
    assert consumer.metric("logagg_backup_last_success_timestamp_seconds") == backup_done.timestamp()
    assert consumer.metric("logagg_restore_verify_ok") == 0
    # no verification ever succeeded: no sample at all (not a misleading 0)
    assert consumer.metric("logagg_restore_verify_last_success_timestamp_seconds") is None
    # partition health of the real (replication factor 1, so healthy) topic
    assert consumer.metric(f'logagg_kafka_under_replicated_partitions{{topic="{topic}"}}') == 0
    assert consumer.metric(f'logagg_kafka_offline_partitions{{topic="{topic}"}}') == 0
    assert (consumer.metric("logagg_kafka_partition_health_last_refresh_timestamp_seconds") or 0) > 0
    assert consumer.metric("logagg_kafka_metadata_errors_total") == 0

    assert consumer.terminate() == 0
    assert "leaving the group" in consumer.output()
    group = group_description(kafka_bootstrap, start_consumer.group)  # type: ignore[attr-defined]
    assert group["group_state"] == "Empty" and not group["members"], "consumer did not leave the group"


def test_backup_gauges_have_no_sample_before_any_run(
    start_consumer: Callable[..., ConsumerProcess], consumer_dsn: str, topic: str,
) -> None:
    with psycopg.connect(consumer_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM backup_runs")
    consumer = start_consumer()
    # the first loop iteration refreshes both; partition health proves the loop has run
    wait_for(lambda: consumer.metric(f'logagg_kafka_offline_partitions{{topic="{topic}"}}') == 0,
             "partition health gauges")
    text = consumer.metrics()
    for name in ("logagg_backup_last_success_timestamp_seconds", "logagg_restore_verify_ok",
                 "logagg_restore_verify_last_success_timestamp_seconds"):
        assert f"# TYPE {name} gauge" in text
        assert f"\n{name} " not in text, f"{name} must have no sample before any run"
    assert consumer.terminate() == 0


def test_poison_messages_are_dead_lettered_and_consumption_continues(
    start_consumer: Callable[..., ConsumerProcess], producer: KafkaProducer, topic: str, consumer_dsn: str,
) -> None:
    service = unique_service("poison")
    good_before = [make_record(service, NOW, message=f"before {i}") for i in range(3)]
    mixed = [make_record(service, NOW, message="fine one"), make_record(service, NOW, message="nul \x00 byte"),
             make_record(service, NOW, message="fine two")]
    good_after = [make_record(service, NOW, message=f"after {i}") for i in range(3)]
    bad_schema = json.dumps({"v": 1, "records": [{"id": "x", "service": service}]}).encode()
    send(producer, topic, [encode_batch(good_before), b"{not json", bad_schema, encode_batch(mixed),
                           b"\xff\xfe", encode_batch(good_after)], partition=0)
    consumer = start_consumer()

    # good records, including the good ones of the message PostgreSQL rejected, all arrive
    wait_for(lambda: count_rows(consumer_dsn, service) == (8, 8), "the 8 storable records")
    with psycopg.connect(consumer_dsn) as conn:
        letters = {dl.offset: dl for dl in list_dead_letters(conn, limit=1000) if dl.topic == topic}
    assert sorted(letters) == [1, 2, 3, 4]
    assert letters[1].payload == b"{not json" and letters[1].reason.startswith("decode: not UTF-8 JSON")
    assert letters[2].reason.startswith("decode: records[0]")
    assert letters[3].reason.startswith("insert: 1 of 3 records rejected (2 stored): records[1]")
    assert letters[3].payload == encode_batch(mixed)
    assert letters[4].reason.startswith("decode:")
    wait_for(
        lambda: (consumer.metric('logagg_dead_letters_total{reason="decode"}') or 0) >= 3, "decode dead-letter metric"
    )
    assert (consumer.metric('logagg_dead_letters_total{reason="insert"}') or 0) >= 1
    assert consumer.terminate() == 0


def test_crash_between_db_commit_and_offset_commit_loses_and_duplicates_nothing(
    start_consumer: Callable[..., ConsumerProcess], producer: KafkaProducer, topic: str,
    consumer_dsn: str, kafka_bootstrap: str,
) -> None:
    service = unique_service("crash")
    send_batches(producer, topic, _batches(service, 30, 50, client_ids=True))  # 1500 records, several polls

    crashing = start_consumer(**{CRASH_ENV: "1"})
    assert crashing.wait_exit(timeout=90) == CRASH_EXIT_CODE
    stored_before_restart = count_rows(consumer_dsn, service)[0]
    assert 0 < stored_before_restart < 1500, "the crash should happen after the first batch only"
    assert committed_offsets(kafka_bootstrap, start_consumer.group) == {}, "offsets were committed before the crash"  # type: ignore[attr-defined]

    recovered = start_consumer()
    wait_for(lambda: count_rows(consumer_dsn, service)[0] >= 1500, "all 1500 records")
    wait_for(lambda: committed_offsets(kafka_bootstrap, start_consumer.group) == {0: 15, 1: 15}, "offset commit")  # type: ignore[attr-defined]
    assert count_rows(consumer_dsn, service) == (1500, 1500)
    assert counted(consumer_dsn, service) == 1500, "per-minute counts double-counted the redelivered batch"
    assert recovered.terminate() == 0


def test_database_outage_is_retried_without_dead_letters(
    start_consumer: Callable[..., ConsumerProcess], producer: KafkaProducer, topic: str,
    consumer_dsn: str, pg_server: PostgresServer | None,
) -> None:
    if pg_server is None:
        pytest.skip("DATABASE_URL points at an external server that this test cannot stop")
    service = unique_service("outage")
    consumer = start_consumer()
    send_batches(producer, topic, _batches(service, 2, 10))
    wait_for(lambda: count_rows(consumer_dsn, service)[0] == 20, "first records")

    pg_server.stop()
    try:
        send_batches(producer, topic, _batches(unique_service("later"), 1, 1))  # noise on the other partition
        send_batches(producer, topic, [[make_record(service, NOW, message=f"during outage {i}") for i in range(25)]])
        wait_for(lambda: "PostgreSQL write failed; retrying" in consumer.output(), "a retry while the DB is down")
        assert consumer.proc.poll() is None, "consumer died during the outage"
    finally:
        pg_server.start()
    wait_for(lambda: count_rows(consumer_dsn, service)[0] == 45, "records written after the outage")
    with psycopg.connect(consumer_dsn) as conn:
        assert [dl for dl in list_dead_letters(conn, limit=1000) if dl.topic == topic] == []
    assert consumer.terminate() == 0


def test_two_consumers_share_the_topic_and_a_killed_one_loses_nothing(
    start_consumer: Callable[..., ConsumerProcess], producer: KafkaProducer, topic: str,
    consumer_dsn: str, kafka_bootstrap: str,
) -> None:
    service = unique_service("group")
    first, second = start_consumer(), start_consumer()
    send_batches(producer, topic, _batches(service, 10, 40, client_ids=True))
    wait_for(lambda: count_rows(consumer_dsn, service)[0] >= 400, "the first 400 records")
    wait_for(lambda: len(group_description(kafka_bootstrap, start_consumer.group)["members"]) == 2, "two members")  # type: ignore[attr-defined]

    first.proc.kill()  # SIGKILL: no leave-group, possibly mid-batch
    first.wait_exit()
    send_batches(producer, topic, _batches(service + "-later", 10, 40, client_ids=True))
    later = service + "-later"
    # the survivor takes over both partitions once the dead member's session expires
    wait_for(lambda: count_rows(consumer_dsn, later)[0] >= 400, "records sent after the kill")
    assert count_rows(consumer_dsn, service) == (400, 400)
    assert count_rows(consumer_dsn, later) == (400, 400)
    assert counted(consumer_dsn, service) + counted(consumer_dsn, later) == 800
    wait_for(lambda: committed_offsets(kafka_bootstrap, start_consumer.group) == {0: 10, 1: 10}, "offsets")  # type: ignore[attr-defined]
    assert second.terminate() == 0


@pytest.mark.slow
def test_consumer_survives_a_broker_restart(
    start_consumer: Callable[..., ConsumerProcess], topic: str, consumer_dsn: str, kafka_broker: KafkaBroker,
) -> None:
    service = unique_service("broker")
    consumer = start_consumer()
    with _producer(kafka_broker.bootstrap) as producer:
        send_batches(producer, topic, _batches(service, 2, 10))
    wait_for(lambda: count_rows(consumer_dsn, service)[0] == 20, "records before the restart")

    kafka_broker.stop()
    kafka_broker.start()
    assert consumer.proc.poll() is None, "consumer died while the broker was down"
    with _producer(kafka_broker.bootstrap) as producer:
        send_batches(producer, topic, _batches(service + "-after", 2, 10))
    wait_for(lambda: count_rows(consumer_dsn, service + "-after")[0] == 20, "records after the restart")
    assert count_rows(consumer_dsn, service) == (20, 20)
    assert consumer.terminate() == 0


@contextmanager
def _producer(bootstrap: str) -> Iterator[KafkaProducer]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=10)
    try:
        yield producer
    finally:
        producer.close()
